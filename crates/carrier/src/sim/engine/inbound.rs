//! Inbound calls in the scenario simulator (`[inbound]`): callers ring in as a Poisson process
//! whose rate follows the hour of the day, and are routed to the same agents the campaign uses by
//! the core's inbound routing ([`palera_core::routing::Roster`], the code the server runs).
//! Inbound comes first: an agent offered or taking an inbound call is busy elsewhere for the
//! campaign's driver. A waiting caller hangs up after their patience (abandoned in the queue), or
//! is sent to the voicemail after the maximum wait; an offered agent answers after the scenario's
//! answer time. Repeat callers come back to the agent they last spoke to (affinity).

use super::{agent_id, Doing, Ev, Sim};
use crate::sim::log::{Event, Ms};
use crate::sim::report::InboundReport;
use crate::sim::scenario::InboundScenario;
use chrono::{Duration, Timelike};
use palera_core::ids::{CallId, UserId};
use palera_core::routing::{AgentStatus, Roster, Route, WaitingCall};
use palera_core::user::VoiceState;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};
use std::collections::BTreeSet;

/// What happens to inbound calls, on the simulator's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum InEv {
    /// The next caller may ring in (thinning of the busiest hour's rate).
    Arrive,
    /// A wait for a busy affinity agent ran out: route again.
    Route,
    /// The offered agent answers.
    Answered(u32),
    /// The waiting caller's patience ran out.
    GiveUp(u32),
    /// The caller reached the maximum wait: voicemail.
    MaxWait(u32),
    TalkEnd(u32),
    /// The agent (not the call) finishes the inbound call's wrap-up.
    WrapEnd(u32),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Waiting,
    Offered(u32),
    Connected(u32),
    Over,
}

struct InCall {
    arrived: Ms,
    /// The repeat caller's last agent and when they spoke.
    last_agent: Option<(u32, Ms)>,
    tried: Vec<UserId>,
    state: State,
    talk: f64,
}

#[derive(Default)]
struct Counts {
    calls: u64,
    answered: u64,
    within_20s: u64,
    ended: u64,
    wait_answered_ms: i64,
    longest_wait_ms: i64,
    repeat_answered: u64,
    affinity_hits: u64,
    abandoned: u64,
    voicemails: u64,
}

/// The inbound side of the world.
pub(super) struct Inbound {
    s: InboundScenario,
    rng: ChaCha8Rng,
    busiest: f64,
    calls: Vec<InCall>,
    /// Earlier conversations (agent, when), one per caller who may ring again.
    spoken: Vec<(u32, Ms)>,
    /// Route passes already scheduled.
    route_at: BTreeSet<Ms>,
    /// Per agent: inbound calls answered today (routing's tie-break), and busy with inbound.
    calls_today: Vec<u32>,
    busy: Vec<bool>,
    /// Calls waiting, ringing or talking.
    open: u64,
    /// Calls waiting to be offered, oldest first.
    waiting: BTreeSet<u32>,
    counts: Counts,
}

/// Service level threshold.
const ANSWER_WITHIN_MS: Ms = 20_000;

impl Inbound {
    pub fn new(s: &InboundScenario, seed: u64, agents: u32) -> Self {
        let busiest = s.arrivals_per_hour.iter().copied().fold(0.0, f64::max);
        Self {
            s: s.clone(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x1b0a_d5ee_d000_0001),
            busiest,
            calls: Vec::new(),
            spoken: Vec::new(),
            route_at: BTreeSet::new(),
            calls_today: vec![0; agents as usize + 1],
            busy: vec![false; agents as usize + 1],
            open: 0,
            waiting: BTreeSet::new(),
            counts: Counts::default(),
        }
    }

    /// Callers ring in this hour, or some are still waiting or talking: agents are needed.
    pub fn needs_agents(&self, hour_rate: f64) -> bool {
        hour_rate > 0.0 || self.open > 0
    }

    pub fn busy(&self, agent: u32) -> bool {
        self.busy[agent as usize]
    }

    pub fn report(&self) -> InboundReport {
        let c = &self.counts;
        let pct = |a: u64, b: u64| {
            if b == 0 {
                0.0
            } else {
                round2(a as f64 * 100.0 / b as f64)
            }
        };
        InboundReport {
            calls: c.calls,
            answered: c.answered,
            service_level_pct: pct(c.within_20s, c.ended),
            average_wait_seconds: if c.answered == 0 {
                0.0
            } else {
                round2(c.wait_answered_ms as f64 / c.answered as f64 / 1000.0)
            },
            longest_wait_seconds: round2(c.longest_wait_ms as f64 / 1000.0),
            affinity_hit_rate_pct: pct(c.affinity_hits, c.repeat_answered),
            abandoned_in_queue: c.abandoned,
            voicemails: c.voicemails,
        }
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// A draw from an exponential distribution of mean `mean` seconds, in milliseconds.
fn exp_ms(rng: &mut ChaCha8Rng, mean: f64) -> Ms {
    let d = Exp::new(1.0 / mean).expect("a positive mean");
    (d.sample(rng) * 1000.0).round() as Ms
}

impl Sim<'_> {
    fn ib(&mut self) -> &mut Inbound {
        self.inbound
            .as_mut()
            .expect("the scenario has inbound calls")
    }

    /// The arrival rate of the hour the clock is in (the scenario's zone).
    pub(super) fn inbound_rate_now(&self) -> f64 {
        let Some(ib) = &self.inbound else {
            return 0.0;
        };
        let at =
            (self.scenario.start + Duration::milliseconds(self.now)).with_timezone(&ib.s.time_zone);
        ib.s.arrivals_per_hour[at.hour() as usize]
    }

    /// Schedules the next candidate arrival (at the busiest hour's rate; thinned on arrival).
    pub(super) fn schedule_arrival(&mut self) {
        let busiest = self.ib().busiest;
        if busiest <= 0.0 {
            return;
        }
        let mean = 3600.0 / busiest;
        let gap = exp_ms(&mut self.ib().rng, mean);
        self.push(self.now + gap, Ev::In(InEv::Arrive));
    }

    pub(super) fn inbound_event(&mut self, e: InEv) {
        match e {
            InEv::Arrive => self.arrive(),
            InEv::Route => {
                let now = self.now;
                self.ib().route_at.retain(|t| *t > now);
            }
            InEv::Answered(c) => self.inbound_answered(c),
            InEv::GiveUp(c) => self.caller_left(c, false),
            InEv::MaxWait(c) => self.caller_left(c, true),
            InEv::TalkEnd(c) => self.inbound_talk_end(c),
            InEv::WrapEnd(c) => self.inbound_wrap_end(c),
        }
        self.route_inbound();
    }

    /// A candidate arrival: kept with the probability of this hour's rate over the busiest's.
    fn arrive(&mut self) {
        self.schedule_arrival();
        let rate = self.inbound_rate_now();
        let now = self.now;
        let ib = self.ib();
        if ib.rng.gen_range(0.0..ib.busiest) >= rate {
            return;
        }
        let repeat =
            ib.rng.gen_range(0.0..100.0) < ib.s.repeat_callers_pct && !ib.spoken.is_empty();
        let last_agent = repeat.then(|| ib.spoken[ib.rng.gen_range(0..ib.spoken.len())]);
        let talk = ib.s.talk_seconds;
        let patience = ib.s.patience_seconds.map(|m| exp_ms(&mut ib.rng, m));
        let max_wait = ib.s.max_wait_seconds;
        let call = ib.calls.len() as u32;
        let talk = match talk {
            Some(mean) => exp_ms(&mut ib.rng, mean) as f64 / 1000.0,
            None => self
                .scenario
                .behaviour
                .talk_sample(self.scenario.seed, u64::from(call)),
        };
        let ib = self.ib();
        ib.counts.calls += 1;
        ib.open += 1;
        ib.waiting.insert(call);
        ib.calls.push(InCall {
            arrived: now,
            last_agent,
            tried: Vec::new(),
            state: State::Waiting,
            talk,
        });
        if let Some(p) = patience {
            self.push(now + p, Ev::In(InEv::GiveUp(call)));
        }
        if let Some(w) = max_wait {
            self.push(now + (w * 1000.0) as Ms, Ev::In(InEv::MaxWait(call)));
        }
    }

    /// The roster as routing sees it now: agents Ready when logged in with their desktop there,
    /// busy when the campaign or an inbound call has them.
    fn roster(&self) -> Roster {
        let mut r = Roster::new();
        let ib = self.inbound.as_ref().expect("inbound");
        for a in 1..=self.scenario.agents {
            let ag = &self.agents[a as usize];
            r.upsert(AgentStatus {
                id: agent_id(a),
                state: if self.ready(a) {
                    VoiceState::Ready
                } else {
                    VoiceState::Offline
                },
                voice_enabled: true,
                assigned: true,
                busy: ag.doing != Doing::Idle || ib.busy[a as usize],
                idle_since: self.scenario.start + Duration::milliseconds(ag.idle_since),
                calls_today: ib.calls_today[a as usize],
            });
        }
        r
    }

    /// Offers waiting callers to free agents (oldest first), as the server's engine does.
    pub(super) fn route_inbound(&mut self) {
        let Some(ib) = &self.inbound else {
            return;
        };
        let now_at = self.scenario.start + Duration::milliseconds(self.now);
        if ib.waiting.is_empty() {
            return;
        }
        let queue: Vec<WaitingCall> = ib
            .waiting
            .iter()
            .map(|&i| (i, &ib.calls[i as usize]))
            .map(|(i, c)| WaitingCall {
                id: CallId(i64::from(i)),
                arrived: self.scenario.start + Duration::milliseconds(c.arrived),
                last_agent: c.last_agent.map(|(a, at)| {
                    (
                        agent_id(a),
                        self.scenario.start + Duration::milliseconds(at),
                    )
                }),
                tried: c.tried.clone(),
            })
            .collect();
        if queue.is_empty() {
            return;
        }
        let routes = self.roster().serve_queue(&queue, &ib.s.routing, now_at);
        for (call, route) in routes {
            match route {
                Route::Offer(agent) => self.offer(call.0 as u32, agent.0 as u32),
                Route::WaitFor { until, .. } => {
                    let at = (until - self.scenario.start).num_milliseconds();
                    if self.ib().route_at.insert(at) {
                        self.push(at, Ev::In(InEv::Route));
                    }
                }
                Route::Queue => {}
            }
        }
    }

    /// Keeps `agent` from the campaign while callers wait (the server's "kept for inbound"):
    /// returns whether it did.
    pub(super) fn keep_for_inbound(&mut self, agent: u32) -> bool {
        let waiting = self.inbound.as_ref().is_some_and(|i| !i.waiting.is_empty());
        if waiting {
            self.driver.set_elsewhere(agent_id(agent), true);
        }
        waiting
    }

    /// Gives a kept agent back to the campaign unless routing offered it a call meanwhile.
    pub(super) fn release_for_inbound(&mut self, agent: u32) {
        if !self.ib().busy[agent as usize] {
            self.driver.set_elsewhere(agent_id(agent), false);
        }
    }

    /// The call rings at the agent's desktop: busy for the campaign from now.
    fn offer(&mut self, call: u32, agent: u32) {
        self.log.push(Event::InboundOffered {
            t: self.now,
            call,
            agent,
        });
        let answer = (self.ib().s.answer_seconds * 1000.0) as Ms;
        let ib = self.ib();
        ib.calls[call as usize].state = State::Offered(agent);
        ib.waiting.remove(&call);
        ib.busy[agent as usize] = true;
        self.driver.set_elsewhere(agent_id(agent), true);
        self.set_doing(agent, Doing::Busy);
        self.push(self.now + answer, Ev::In(InEv::Answered(call)));
    }

    fn inbound_answered(&mut self, call: u32) {
        let now = self.now;
        let c = &self.ib().calls[call as usize];
        let State::Offered(agent) = c.state else {
            return; // the caller left while it rang; the agent was freed then
        };
        let (wait, talk, last) = (now - c.arrived, c.talk, c.last_agent);
        let ib = self.ib();
        ib.calls[call as usize].state = State::Connected(agent);
        ib.calls_today[agent as usize] += 1;
        let k = &mut ib.counts;
        k.answered += 1;
        k.ended += 1;
        k.within_20s += u64::from(wait <= ANSWER_WITHIN_MS);
        k.wait_answered_ms += wait;
        k.longest_wait_ms = k.longest_wait_ms.max(wait);
        if let Some((a, _)) = last {
            k.repeat_answered += 1;
            k.affinity_hits += u64::from(a == agent);
        }
        let ag = &mut self.agents[agent as usize];
        ag.on_call_since = now;
        ag.calls += 1;
        self.push(now + (talk * 1000.0) as Ms, Ev::In(InEv::TalkEnd(call)));
    }

    /// The caller hangs up waiting (`voicemail`: sent to the voicemail at the maximum wait).
    fn caller_left(&mut self, call: u32, voicemail: bool) {
        let now = self.now;
        let c = &self.ib().calls[call as usize];
        let agent = match c.state {
            State::Waiting => None,
            // An offer still ringing is withdrawn when the caller hangs up.
            State::Offered(a) if !voicemail => Some(a),
            _ => return,
        };
        let wait = now - c.arrived;
        let ib = self.ib();
        ib.calls[call as usize].state = State::Over;
        ib.waiting.remove(&call);
        ib.open -= 1;
        let k = &mut ib.counts;
        k.ended += 1;
        k.longest_wait_ms = k.longest_wait_ms.max(wait);
        if voicemail {
            k.voicemails += 1;
        } else {
            k.abandoned += 1;
        }
        if let Some(a) = agent {
            self.inbound_agent_free(a);
        }
    }

    fn inbound_talk_end(&mut self, call: u32) {
        let now = self.now;
        let State::Connected(agent) = self.ib().calls[call as usize].state else {
            return;
        };
        let wrap = (self.ib().s.wrap_up_seconds * 1000.0) as Ms;
        let ib = self.ib();
        ib.calls[call as usize].state = State::Over;
        ib.open -= 1;
        ib.spoken.push((agent, now));
        let ag = &mut self.agents[agent as usize];
        let talk = now - ag.on_call_since;
        ag.talk_ms += talk;
        ag.busy_ms += talk + wrap;
        self.push(now + wrap, Ev::In(InEv::WrapEnd(agent)));
    }

    fn inbound_wrap_end(&mut self, agent: u32) {
        self.inbound_agent_free(agent);
    }

    /// The agent is done with inbound: free for both sides again (or gone, when leaving).
    fn inbound_agent_free(&mut self, agent: u32) {
        self.ib().busy[agent as usize] = false;
        self.driver.set_elsewhere(agent_id(agent), false);
        self.agent_free(agent);
    }
}
