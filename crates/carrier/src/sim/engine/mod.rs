//! The discrete-event scenario simulator: the campaign [`Driver`] of the core — the same type the
//! server's engine runs — executed on a virtual clock against the virtual phone network of
//! [`super::behaviour`] and simulated agents. This file is only the adapter: it owns the world
//! (who answers and when, agents logging in, going away and coming back, heartbeats, the DNC list)
//! and carries out the driver's commands on it; every campaign decision is the driver's. Time
//! advances by popping a priority queue of timed events — nothing sleeps — and every fact is
//! appended to the event log that the auditor later judges.

mod inbound;

use super::behaviour::Fate;
use super::log::{Event, Ms};
use super::report::{AgentReport, Report};
use super::scenario::Scenario;
use chrono::Duration;
use palera_core::campaign::driver::{Answer, Command, Driver, DueContact, LineEnd, Now, Refusal};
use palera_core::campaign::{
    CallOutcome, ContactAttempts, ContactStatus, CpsLimiter, Disposition, DispositionEffect,
    TimeZoneSource,
};
use palera_core::ids::{CallId, ContactId, UserId};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet, VecDeque};

const TICK_MS: Ms = 1_000;
const HEARTBEAT_MS: Ms = 30_000;
const DAY_MS: Ms = 86_400_000;
/// The identification message played on an abandoned call, and a voicemail message.
const MESSAGE_MS: Ms = 15_000;
/// Commands one input may cascade into before the adapter stops (a safety net, never reached).
const MAX_POLLS_PER_EVENT: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Tick,
    /// The driver's next deadline (a grace, a wrap-up limit, a calls-per-second slot).
    Wake,
    RingEnd(u32),
    HumanHangup(u32),
    TalkEnd(u32),
    /// The agent finishes wrap-up and saves the disposition of the call.
    WrapEnd(u32, u32),
    Beep(u32),
    MessageEnd(u32),
    PreviewEnd(u32),
    AgentAway(u32),
    AgentBack(u32),
    DncJoin(u32),
    /// Inbound calls (`[inbound]`).
    In(inbound::InEv),
}

struct Contact {
    /// The attempts as last reported by the driver (for the report).
    attempts: ContactAttempts,
    on_dnc: bool,
}

/// What a simulated agent is doing in the world.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Doing {
    Idle,
    Previewing,
    /// Its line rings, it talks, or it wraps up.
    Busy,
}

struct Agent {
    logged_in: bool,
    login_at: Ms,
    logged_ms: Ms,
    away: bool,
    leaving: bool,
    last_heartbeat: Ms,
    doing: Doing,
    on_call_since: Ms,
    calls: u64,
    talk_ms: Ms,
    busy_ms: Ms,
    assigned: HashSet<u32>,
    /// Since when the agent has been free (routing's longest-idle order).
    idle_since: Ms,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Ringing,
    Waiting,
    Connected,
    Message,
    Over,
}

struct Call {
    fate: Fate,
    phase: Phase,
}

#[derive(Default)]
struct Counts {
    dials: u64,
    answered_human: u64,
    answered_machine: u64,
    no_answer: u64,
    busy: u64,
    failed: u64,
    connected: u64,
    abandoned: u64,
    voicemails: u64,
    redistributed: u64,
}

struct Sim<'a> {
    scenario: &'a Scenario,
    now: Ms,
    end: Ms,
    seq: u64,
    queue: BinaryHeap<Reverse<(Ms, u64, Ev)>>,
    contacts: Vec<Contact>,
    agents: Vec<Agent>,
    calls: Vec<Call>,
    driver: Driver,
    cps: CpsLimiter,
    wake_at: Option<Ms>,
    counts: Counts,
    log: Vec<Event>,
    inbound: Option<inbound::Inbound>,
}

/// Runs a parsed scenario to completion and returns its report (violations from the auditor).
pub fn simulate(s: &Scenario) -> Report {
    let wall = std::time::Instant::now();
    let mut sim = Sim::new(s);
    sim.run();
    let mut report = sim.report();
    report.violations = super::audit::audit(s, &sim.log);
    report.wall_seconds = wall.elapsed().as_secs_f64();
    report
}

fn agent_id(a: u32) -> UserId {
    UserId(i64::from(a))
}

fn agent_index(id: UserId) -> u32 {
    id.0 as u32
}

fn contact_id(c: u32) -> ContactId {
    ContactId(i64::from(c))
}

fn contact_index(id: ContactId) -> u32 {
    id.0 as u32
}

fn call_index(id: CallId) -> u32 {
    id.0 as u32
}

impl<'a> Sim<'a> {
    fn new(s: &'a Scenario) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
        let end = i64::from(s.days) * DAY_MS;
        let agents = (0..=s.agents).map(|_| Agent::new()).collect();
        let mut sim = Sim {
            scenario: s,
            now: 0,
            end,
            seq: 0,
            queue: BinaryHeap::new(),
            contacts: Vec::with_capacity(s.contacts as usize),
            agents,
            calls: Vec::new(),
            driver: Driver::new(s.campaign.clone()),
            cps: CpsLimiter::new(s.campaign.calls_per_second),
            wake_at: None,
            counts: Counts::default(),
            log: Vec::new(),
            inbound: s
                .inbound
                .as_ref()
                .map(|i| inbound::Inbound::new(i, s.seed, s.agents)),
        };
        sim.import(&mut rng);
        sim.schedule_world();
        sim
    }

    fn clock(&self) -> Now {
        Now {
            at: self.scenario.start + Duration::milliseconds(self.now),
            mono: self.now,
        }
    }

    /// Imports the contacts; numbers already on the DNC list are refused at import (DESIGN §2.1).
    fn import(&mut self, rng: &mut ChaCha8Rng) {
        let start = self.scenario.start;
        let mut due = Vec::with_capacity(self.scenario.contacts as usize);
        for c in 0..self.scenario.contacts {
            let zone = rng.gen_range(0..self.scenario.time_zones.len()) as u16;
            let on_dnc = rng.gen_range(0.0..100.0) < self.scenario.dnc_pct;
            let joins_later = on_dnc && rng.gen_bool(0.25);
            let mut attempts = ContactAttempts::new(start);
            self.log.push(Event::Imported { contact: c, zone });
            if joins_later {
                let at = rng.gen_range(0..self.end);
                self.push(at, Ev::DncJoin(c));
            } else if on_dnc {
                attempts.mark_dnc();
                self.log.push(Event::DncAdded { t: 0, contact: c });
            }
            if attempts.status == ContactStatus::Active {
                let tz = self.scenario.time_zones[usize::from(zone)];
                due.push(DueContact {
                    id: contact_id(c),
                    attempts: attempts.clone(),
                    zones: TimeZoneSource::Contact(tz),
                    tz,
                });
            }
            self.contacts.push(Contact {
                attempts,
                on_dnc: on_dnc && !joins_later,
            });
        }
        let cmds = self.driver.add_contacts(self.clock(), due);
        self.execute(cmds);
    }

    fn schedule_world(&mut self) {
        self.push(0, Ev::Tick);
        if self.inbound.is_some() {
            self.schedule_arrival();
        }
        for i in self.scenario.inactive.clone() {
            self.push((i.at_minute * 60_000.0) as Ms, Ev::AgentAway(i.agent));
            if let Some(b) = i.back_at_minute {
                self.push((b * 60_000.0) as Ms, Ev::AgentBack(i.agent));
            }
        }
    }

    fn push(&mut self, at: Ms, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, ev)));
    }

    fn run(&mut self) {
        while let Some(Reverse((t, _, ev))) = self.queue.pop() {
            if t >= self.end {
                break;
            }
            self.now = t;
            self.handle(ev);
            self.settle();
        }
        self.now = self.end;
        for a in 1..=self.scenario.agents as usize {
            if self.agents[a].logged_in {
                self.agents[a].logged_ms += self.end - self.agents[a].login_at;
            }
        }
    }

    /// After an input: the driver dials if it has work, and is woken at its next deadline.
    fn settle(&mut self) {
        for _ in 0..MAX_POLLS_PER_EVENT {
            if !self.driver.wants_poll() {
                break;
            }
            self.poll();
        }
        if let Some(d) = self.driver.next_deadline() {
            if self.wake_at.is_none_or(|w| d < w) {
                self.wake_at = Some(d);
                self.push(d.max(self.now), Ev::Wake);
            }
        }
    }

    fn poll(&mut self) {
        let now = self.clock();
        let cmds = self.driver.poll(now, &mut self.cps);
        self.execute(cmds);
    }

    fn handle(&mut self, ev: Ev) {
        let now = self.clock();
        match ev {
            Ev::Tick => self.tick(),
            Ev::Wake => {
                if self.wake_at.is_some_and(|w| w <= self.now) {
                    self.wake_at = None;
                }
                self.poll();
            }
            Ev::RingEnd(c) => self.ring_end(c),
            Ev::HumanHangup(c) => {
                if self.calls[c as usize].phase == Phase::Waiting {
                    let cmds = self
                        .driver
                        .ended(now, CallId(i64::from(c)), LineEnd::Completed);
                    self.execute(cmds);
                }
            }
            Ev::TalkEnd(c) | Ev::MessageEnd(c) => {
                let cmds = self
                    .driver
                    .ended(now, CallId(i64::from(c)), LineEnd::Completed);
                self.execute(cmds);
            }
            Ev::WrapEnd(a, c) => {
                let done = Disposition {
                    name: "completed".into(),
                    effect: DispositionEffect::Final,
                };
                // Inbound first: with callers waiting, the campaign may not hand this agent a
                // person waiting on its side as the wrap-up ends; routing decides.
                let kept = self.keep_for_inbound(a);
                if let Ok(cmds) = self.driver.disposed(now, CallId(i64::from(c)), done) {
                    self.execute(cmds);
                }
                if kept {
                    self.release_for_inbound(a);
                }
            }
            Ev::Beep(c) => {
                let cmds = self.driver.beep(now, CallId(i64::from(c)));
                self.execute(cmds);
            }
            Ev::PreviewEnd(a) => {
                // Nobody is there to click Call when the agent is away.
                if !self.agents[a as usize].away
                    && self.agents[a as usize].doing == Doing::Previewing
                {
                    let _ = self.driver.preview_call(agent_id(a));
                }
            }
            Ev::AgentAway(a) => self.agent_away(a),
            Ev::AgentBack(a) => self.agent_back(a),
            Ev::In(e) => self.inbound_event(e),
            Ev::DncJoin(c) => {
                self.contacts[c as usize].on_dnc = true;
                self.log.push(Event::DncAdded {
                    t: self.now,
                    contact: c,
                });
            }
        }
    }

    // ---- the periodic tick: heartbeats, the driver's tick, staffing, dialing -----------------

    fn tick(&mut self) {
        self.push(self.now + TICK_MS, Ev::Tick);
        // Desktops heartbeat every 30 s, more often under a short inactivity timeout.
        let timeout = i64::from(self.scenario.campaign.inactivity_timeout_seconds) * 1000;
        let every = HEARTBEAT_MS
            .min(timeout / 2 / TICK_MS * TICK_MS)
            .max(TICK_MS);
        if self.now % every == 0 {
            for a in 1..=self.scenario.agents {
                let ag = &mut self.agents[a as usize];
                if ag.logged_in && !ag.away {
                    ag.last_heartbeat = self.now;
                    self.driver.agent_seen(agent_id(a), self.now);
                }
            }
        }
        let cmds = self.driver.tick(self.clock());
        self.execute(cmds);
        self.staff();
        self.poll();
    }

    /// Agents are logged in whenever a due contact is inside its window (scenarios README).
    fn staff(&mut self) {
        let callers = self
            .inbound
            .as_ref()
            .is_some_and(|i| i.needs_agents(self.inbound_rate_now()));
        let staffed = self.driver.has_work() || callers;
        // Agents stay while lines still ring or people wait: logging out then would abandon them.
        let quiet = self.driver.quiet();
        let mut joined = Vec::new();
        for a in 1..=self.scenario.agents {
            let ag = &self.agents[a as usize];
            if staffed && !ag.logged_in && !ag.away {
                self.login(a);
                joined.push(agent_id(a));
            } else if !staffed && quiet && ag.logged_in && ag.doing == Doing::Idle {
                self.logout(a);
            }
        }
        if !joined.is_empty() {
            let cmds = self.driver.agents_ready(self.clock(), joined);
            self.execute(cmds);
            self.route_inbound();
        }
    }

    fn login(&mut self, a: u32) {
        let now = self.now;
        let ag = &mut self.agents[a as usize];
        ag.logged_in = true;
        ag.login_at = now;
        ag.last_heartbeat = now;
        ag.doing = Doing::Idle;
        ag.idle_since = now;
        self.log_state(a);
    }

    /// Ready for work: logged in, its desktop there, not on its way out.
    fn ready(&self, a: u32) -> bool {
        let ag = &self.agents[a as usize];
        ag.logged_in && !ag.away && !ag.leaving
    }

    /// Sets what the agent is doing (its free time starts when it becomes idle).
    fn set_doing(&mut self, a: u32, doing: Doing) {
        let ag = &mut self.agents[a as usize];
        if doing == Doing::Idle && ag.doing != Doing::Idle {
            ag.idle_since = self.now;
        }
        ag.doing = doing;
        self.log_state(a);
    }

    /// Logs the agent's availability for the auditor's inbound check (inbound scenarios only).
    fn log_state(&mut self, a: u32) {
        if self.inbound.is_none() {
            return;
        }
        let busy = self.agents[a as usize].doing != Doing::Idle
            || self.inbound.as_ref().is_some_and(|i| i.busy(a));
        self.log.push(Event::AgentState {
            t: self.now,
            agent: a,
            ready: self.ready(a),
            busy,
        });
    }

    fn logout(&mut self, a: u32) {
        let ag = &mut self.agents[a as usize];
        ag.logged_in = false;
        ag.logged_ms += self.now - ag.login_at;
        self.log_state(a);
        let cmds = self.driver.agent_left(self.clock(), agent_id(a));
        self.execute(cmds);
    }

    // ---- agents' absences -------------------------------------------------------------------

    fn agent_away(&mut self, a: u32) {
        let ag = &mut self.agents[a as usize];
        if ag.logged_in && ag.doing == Doing::Busy {
            ag.leaving = true; // finishes the work in hand first
            self.log_state(a);
        } else {
            self.go_away(a);
        }
    }

    /// The agent's browser is gone: no more heartbeats; the driver finds out by itself.
    fn go_away(&mut self, a: u32) {
        let now = self.now;
        let ag = &mut self.agents[a as usize];
        ag.leaving = false;
        ag.away = true;
        if ag.logged_in {
            ag.logged_in = false;
            ag.logged_ms += now - ag.login_at;
        }
        ag.doing = Doing::Idle;
        let last = ag.last_heartbeat;
        self.log.push(Event::HeartbeatsStopped {
            t: now,
            agent: a,
            last,
        });
        self.log_state(a);
    }

    fn agent_back(&mut self, a: u32) {
        let ag = &mut self.agents[a as usize];
        ag.leaving = false;
        if ag.away {
            ag.away = false;
            self.log.push(Event::HeartbeatsResumed {
                t: self.now,
                agent: a,
            });
        }
        self.log_state(a);
    }

    /// Whether work offered to the agent reaches it (its browser is there).
    fn reachable(&self, a: u32) -> bool {
        self.agents[a as usize].logged_in
    }

    // ---- carrying out the driver's commands -------------------------------------------------

    fn execute(&mut self, cmds: Vec<Command>) {
        let mut todo: VecDeque<Command> = cmds.into();
        while let Some(cmd) = todo.pop_front() {
            todo.extend(self.carry_out(cmd));
        }
    }

    /// Does what one command says in the world; returns the driver's answer to what happened.
    fn carry_out(&mut self, cmd: Command) -> Vec<Command> {
        let now = self.clock();
        match cmd {
            Command::Hold {
                contact,
                from,
                to,
                redistributed,
            } => {
                self.hold(contact, from, to, redistributed);
                Vec::new()
            }
            Command::Dial { contact, agent } => self.dial(contact, agent),
            Command::Preview { agent, .. } => self.preview(agent),
            Command::PreviewWithdrawn { agent, .. } => {
                self.set_doing(agent_index(agent), Doing::Idle);
                Vec::new()
            }
            Command::Connect { call, agent } => self.connect(call, agent),
            Command::Wait { call } => {
                self.wait(call_index(call));
                Vec::new()
            }
            Command::Abandoned { call, play_message } => {
                self.abandoned(call_index(call), play_message);
                Vec::new()
            }
            Command::Detecting { .. } | Command::Verdict { .. } => Vec::new(),
            Command::Machine { call, hang_up } => self.machine(call, hang_up),
            Command::LeaveMessage { call } => {
                self.counts.voicemails += 1;
                self.play_message(call_index(call));
                Vec::new()
            }
            Command::HangUp { call } => self.driver.ended(now, call, LineEnd::Completed),
            Command::Ended { call, outcome, .. } => {
                self.line_ended(call_index(call), outcome);
                Vec::new()
            }
            Command::WrapUp { agent, call, until } => {
                self.wrap_up(agent_index(agent), call_index(call), until);
                Vec::new()
            }
            Command::Completed {
                contact, attempts, ..
            } => {
                self.contacts[contact_index(contact) as usize].attempts = attempts;
                Vec::new()
            }
            Command::AgentFree { agent, .. } => {
                self.agent_free(agent_index(agent));
                Vec::new()
            }
            Command::AgentInactive { .. } => Vec::new(),
        }
    }

    /// `contact` changed hands: logged for the auditor, and the new holder's set updated.
    fn hold(
        &mut self,
        contact: ContactId,
        from: Option<UserId>,
        to: Option<UserId>,
        redistributed: bool,
    ) {
        let c = contact_index(contact);
        if let Some(from) = from {
            self.log.push(Event::Unassigned {
                t: self.now,
                contact: c,
                agent: agent_index(from),
            });
        }
        if let Some(to) = to {
            let to = agent_index(to);
            self.agents[to as usize].assigned.insert(c);
            self.log.push(Event::Assigned {
                t: self.now,
                contact: c,
                agent: to,
            });
            self.counts.redistributed += u64::from(redistributed);
        }
    }

    /// The agent looks at the previewed contact for the scenario's preview time, then clicks Call.
    fn preview(&mut self, agent: UserId) -> Vec<Command> {
        let a = agent_index(agent);
        if !self.reachable(a) {
            return self.driver.agent_unreachable(self.clock(), agent);
        }
        self.set_doing(a, Doing::Previewing);
        let at = self.now + (self.scenario.preview_seconds * 1000.0) as Ms;
        self.push(at, Ev::PreviewEnd(a));
        Vec::new()
    }

    /// A person waits for an agent: they hang up after the scenario's patience.
    fn wait(&mut self, call: u32) {
        self.calls[call as usize].phase = Phase::Waiting;
        let hangup = (self.scenario.behaviour.human_hangup_if_waiting_seconds * 1000.0) as Ms;
        self.push(self.now + hangup, Ev::HumanHangup(call));
    }

    /// A live-answered call got no agent; at the grace the identification message plays.
    fn abandoned(&mut self, call: u32, play_message: bool) {
        self.counts.abandoned += 1;
        if play_message {
            self.log.push(Event::Abandoned { t: self.now, call });
            self.play_message(call);
        }
    }

    /// A machine answered: hang up now, or wait for the beep after its greeting.
    fn machine(&mut self, call: CallId, hang_up: bool) -> Vec<Command> {
        if hang_up {
            return self.driver.ended(self.clock(), call, LineEnd::Completed);
        }
        let c = call_index(call);
        self.calls[c as usize].phase = Phase::Message;
        let greeting = match self.calls[c as usize].fate {
            Fate::Machine { greeting, .. } => greeting,
            _ => 0.0,
        };
        self.push(self.now + (greeting * 1000.0) as Ms, Ev::Beep(c));
        Vec::new()
    }

    /// The line ended: counted by outcome and logged.
    fn line_ended(&mut self, call: u32, outcome: CallOutcome) {
        self.calls[call as usize].phase = Phase::Over;
        match outcome {
            CallOutcome::Busy => self.counts.busy += 1,
            CallOutcome::Failed => self.counts.failed += 1,
            CallOutcome::NoAnswer => self.counts.no_answer += 1,
            _ => {}
        }
        self.log.push(Event::Ended {
            t: self.now,
            call,
            outcome,
        });
    }

    /// The agent's call ended: its talk and busy time grow; the wrap-up ends at `until`.
    fn wrap_up(&mut self, agent: u32, call: u32, until: Ms) {
        let ag = &mut self.agents[agent as usize];
        let talk = self.now - ag.on_call_since;
        ag.talk_ms += talk;
        ag.busy_ms += talk + (until - self.now);
        self.push(until, Ev::WrapEnd(agent, call));
    }

    /// The agent is free: idle, or gone when it was on its way out.
    fn agent_free(&mut self, agent: u32) {
        if self.agents[agent as usize].leaving {
            self.go_away(agent);
        } else if !self.inbound.as_ref().is_some_and(|i| i.busy(agent)) {
            self.set_doing(agent, Doing::Idle);
            self.route_inbound();
        }
    }

    /// Places a dial the driver asked for: the agent must be there, the number not on DNC.
    fn dial(&mut self, contact: ContactId, agent: Option<UserId>) -> Vec<Command> {
        let now = self.clock();
        if let Some(a) = agent {
            if !self.reachable(agent_index(a)) {
                return self.driver.agent_unreachable(now, a);
            }
        }
        let c = contact_index(contact);
        if self.contacts[c as usize].on_dnc {
            self.contacts[c as usize].attempts.mark_dnc();
            return self.driver.dial_refused(now, contact, Refusal::OnDnc);
        }
        let attempts = self
            .driver
            .attempts(contact)
            .cloned()
            .expect("the driver knows the contact it dials");
        let fate =
            self.scenario
                .behaviour
                .fate(self.scenario.seed, u64::from(c), attempts.attempts);
        self.contacts[c as usize].attempts = attempts;
        let call = self.calls.len() as u32;
        let ring_timeout_s = self.scenario.campaign.ring_timeout_seconds;
        self.calls.push(Call {
            fate,
            phase: Phase::Ringing,
        });
        self.log.push(Event::Dial {
            t: self.now,
            call,
            contact: c,
            agent: agent.map(agent_index),
            ring_timeout_s,
        });
        self.counts.dials += 1;
        if let Some(a) = agent {
            self.set_doing(agent_index(a), Doing::Busy);
        }
        let timeout = f64::from(ring_timeout_s);
        let after = match fate {
            Fate::Human { ring, .. } | Fate::Machine { ring, .. } => ring.min(timeout),
            Fate::Busy { after } | Fate::Failed { after } => after,
            Fate::NoAnswer => timeout,
        };
        self.push(self.now + (after * 1000.0) as Ms, Ev::RingEnd(call));
        self.driver.dialled(now, contact, CallId(i64::from(call)))
    }

    fn connect(&mut self, call: CallId, agent: UserId) -> Vec<Command> {
        let now = self.clock();
        let a = agent_index(agent);
        if !self.reachable(a) {
            return self.driver.agent_unreachable(now, agent);
        }
        let c = call_index(call);
        let talk = match self.calls[c as usize].fate {
            Fate::Human { talk, .. } => talk,
            _ => 0.0,
        };
        self.calls[c as usize].phase = Phase::Connected;
        self.set_doing(a, Doing::Busy);
        let ag = &mut self.agents[a as usize];
        ag.on_call_since = self.now;
        ag.calls += 1;
        self.counts.connected += 1;
        self.log.push(Event::AgentConnected {
            t: self.now,
            call: c,
            agent: a,
        });
        self.push(self.now + (talk * 1000.0) as Ms, Ev::TalkEnd(c));
        self.driver.connected(now, call)
    }

    fn play_message(&mut self, call: u32) {
        self.calls[call as usize].phase = Phase::Message;
        self.log.push(Event::MessagePlayed { t: self.now, call });
        self.push(self.now + MESSAGE_MS, Ev::MessageEnd(call));
    }

    // ---- the network's answers --------------------------------------------------------------

    fn ring_end(&mut self, call: u32) {
        let now = self.clock();
        let timeout = f64::from(self.scenario.campaign.ring_timeout_seconds);
        let id = CallId(i64::from(call));
        let cmds = match self.calls[call as usize].fate {
            Fate::Human { ring: r, .. } if r < timeout => {
                self.counts.answered_human += 1;
                self.log.push(Event::Answered {
                    t: self.now,
                    call,
                    human: true,
                });
                self.driver.answered(now, id, Answer::Human)
            }
            Fate::Machine { ring: r, .. } if r < timeout => {
                self.counts.answered_machine += 1;
                self.log.push(Event::Answered {
                    t: self.now,
                    call,
                    human: false,
                });
                self.driver.answered(now, id, Answer::Machine)
            }
            Fate::Busy { .. } => self.driver.ended(now, id, LineEnd::Busy),
            Fate::Failed { .. } => self.driver.ended(now, id, LineEnd::Failed),
            _ => self.driver.ended(now, id, LineEnd::NoAnswer),
        };
        self.execute(cmds);
    }

    fn report(&self) -> Report {
        let agents: Vec<AgentReport> = (1..=self.scenario.agents)
            .map(|a| {
                let ag = &self.agents[a as usize];
                AgentReport {
                    agent: a,
                    calls: ag.calls,
                    talk_seconds: (ag.talk_ms / 1000) as u64,
                    contacts_assigned: ag.assigned.len() as u64,
                }
            })
            .collect();
        let logged: Ms = self.agents.iter().map(|a| a.logged_ms).sum();
        let busy: Ms = self.agents.iter().map(|a| a.busy_ms).sum();
        let talk: Ms = self.agents.iter().map(|a| a.talk_ms).sum();
        let count = |st: ContactStatus| {
            self.contacts
                .iter()
                .filter(|c| c.attempts.status == st)
                .count() as u64
        };
        let not_called = self
            .contacts
            .iter()
            .filter(|c| {
                c.attempts.attempts == 0 && !c.on_dnc && c.attempts.status == ContactStatus::Active
            })
            .count() as u64;
        Report {
            dials: self.counts.dials,
            answered_human: self.counts.answered_human,
            answered_machine: self.counts.answered_machine,
            no_answer: self.counts.no_answer,
            busy: self.counts.busy,
            failed: self.counts.failed,
            connected_to_agent: self.counts.connected,
            abandoned: self.counts.abandoned,
            abandon_rate_pct: round2(pct(
                self.counts.abandoned as f64,
                self.counts.answered_human as f64,
            )),
            voicemails_left: self.counts.voicemails,
            agent_occupancy_pct: round2(pct(busy as f64, logged as f64)),
            talk_minutes_per_agent_hour: round2(if logged > 0 {
                (talk as f64 / 60_000.0) / (logged as f64 / 3_600_000.0)
            } else {
                0.0
            }),
            contacts_total: self.contacts.len() as u64,
            contacts_completed: count(ContactStatus::Completed),
            contacts_exhausted: count(ContactStatus::Exhausted),
            contacts_not_called: not_called,
            redistributed_contacts: self.counts.redistributed,
            violations: Default::default(),
            inbound: self.inbound.as_ref().map(inbound::Inbound::report),
            agents,
            simulated_seconds: (self.end / 1000) as u64,
            wall_seconds: 0.0,
        }
    }
}

impl Agent {
    fn new() -> Self {
        Agent {
            logged_in: false,
            login_at: 0,
            logged_ms: 0,
            away: false,
            leaving: false,
            last_heartbeat: 0,
            doing: Doing::Idle,
            on_call_since: 0,
            calls: 0,
            talk_ms: 0,
            busy_ms: 0,
            assigned: Default::default(),
            idle_since: 0,
        }
    }
}

fn pct(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b * 100.0
    } else {
        0.0
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
