//! The discrete-event scenario simulator: the real core engine (attempts and cadence, calling
//! windows, distribution and redistribution, predictive pacing, compliance checks) driven on a
//! virtual clock against the virtual phone network of [`super::behaviour`] and simulated agents.
//! Time advances by popping a priority queue of timed events — nothing sleeps — and every fact is
//! appended to the event log that the auditor later judges.

use super::behaviour::Fate;
use super::log::{Event, Ms};
use super::report::{AgentReport, Report};
use super::scenario::Scenario;
use chrono::{DateTime, Duration, Utc};
use palera_core::campaign::compliance::{check_dial, CpsLimiter, DialCheck, DialRefusal};
use palera_core::campaign::distribution::Move;
use palera_core::campaign::pacing::AgentActivity;
use palera_core::campaign::settings::{DialMode, MachineAction};
use palera_core::campaign::{
    is_open_in_zone, pick_agent_predictive, AgentLoad, CallOutcome, ContactAttempts, ContactStatus,
    Disposition, DispositionEffect, Distribution, Pacer, PacingInput, PacingStats,
};
use palera_core::ids::{ContactId, UserId};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

const TICK_MS: Ms = 1_000;
const HEARTBEAT_MS: Ms = 30_000;
const DAY_MS: Ms = 86_400_000;
/// The identification message played on an abandoned call, and a voicemail message.
const MESSAGE_MS: Ms = 15_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Tick,
    EngineRun,
    RingEnd(u32),
    Grace(u32),
    HumanHangup(u32),
    TalkEnd(u32),
    WrapEnd(u32),
    Beep(u32),
    MessageEnd(u32),
    PreviewEnd(u32),
    AgentAway(u32),
    AgentBack(u32),
    DncJoin(u32),
}

struct Contact {
    zone: u16,
    attempts: ContactAttempts,
    on_dnc: bool,
}

struct Zone {
    tz: chrono_tz::Tz,
    open: bool,
    /// Contacts not yet due, by due time.
    pending: BinaryHeap<Reverse<(Ms, u32)>>,
    /// Due contacts not held by an agent (predictive pool, or waiting for the window).
    ready: VecDeque<u32>,
    /// Due contacts in the distribution: held by agents or pooled for them (preview/progressive).
    held: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum AgentState {
    Idle,
    Previewing { contact: u32, clicked: bool },
    Reserved { call: u32 },
    OnCall { call: u32, since: Ms },
    WrapUp { until: Ms },
}

struct Agent {
    // World truth.
    logged_in: bool,
    login_at: Ms,
    logged_ms: Ms,
    away: bool,
    leaving: bool,
    last_heartbeat: Ms,
    // Engine view.
    engine_ready: bool,
    state: AgentState,
    idle_since: Ms,
    calls_today: u32,
    // Totals.
    calls: u64,
    talk_ms: Ms,
    busy_ms: Ms,
    assigned: std::collections::HashSet<u32>,
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
    contact: u32,
    agent: Option<u32>,
    fate: Fate,
    dialled: Ms,
    answered: Ms,
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
    s: &'a Scenario,
    now: Ms,
    end: Ms,
    seq: u64,
    queue: BinaryHeap<Reverse<(Ms, u64, Ev)>>,
    contacts: Vec<Contact>,
    zones: Vec<Zone>,
    agents: Vec<Agent>,
    calls: Vec<Call>,
    dist: Distribution,
    cps: CpsLimiter,
    pacer: Pacer,
    stats: PacingStats,
    waiting: VecDeque<u32>,
    ringing: usize,
    run_at: Option<Ms>,
    day: i64,
    n: Counts,
    log: Vec<Event>,
}

/// Runs a parsed scenario to completion and returns its report (violations from the auditor).
pub(crate) fn simulate(s: &Scenario) -> Report {
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

impl<'a> Sim<'a> {
    fn new(s: &'a Scenario) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
        let end = i64::from(s.days) * DAY_MS;
        let zones = s
            .time_zones
            .iter()
            .map(|tz| Zone {
                tz: *tz,
                open: false,
                pending: BinaryHeap::new(),
                ready: VecDeque::new(),
                held: 0,
            })
            .collect();
        let agents = (0..=s.agents).map(|_| Agent::new()).collect();
        let mut sim = Sim {
            s,
            now: 0,
            end,
            seq: 0,
            queue: BinaryHeap::new(),
            contacts: Vec::with_capacity(s.contacts as usize),
            zones,
            agents,
            calls: Vec::new(),
            dist: Distribution::new(),
            cps: CpsLimiter::new(s.campaign.calls_per_second),
            pacer: Pacer {
                cap: s.campaign.abandon_cap(),
                max_lines_per_agent: s.campaign.max_lines_per_agent,
                wrap_up_seconds: f64::from(s.campaign.wrap_up_seconds),
            },
            stats: PacingStats::default(),
            waiting: VecDeque::new(),
            ringing: 0,
            run_at: None,
            day: 0,
            n: Counts::default(),
            log: Vec::new(),
        };
        sim.import(&mut rng);
        sim.schedule_world(&mut rng);
        sim
    }

    /// Imports the contacts; numbers already on the DNC list are refused at import (DESIGN §2.1).
    fn import(&mut self, rng: &mut ChaCha8Rng) {
        let start = self.s.start;
        for c in 0..self.s.contacts {
            let zone = rng.gen_range(0..self.zones.len()) as u16;
            let on_dnc = rng.gen_range(0.0..100.0) < self.s.dnc_pct;
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
                self.zones[usize::from(zone)].pending.push(Reverse((0, c)));
            }
            self.contacts.push(Contact {
                zone,
                attempts,
                on_dnc: on_dnc && !joins_later,
            });
        }
    }

    fn schedule_world(&mut self, _rng: &mut ChaCha8Rng) {
        self.push(0, Ev::Tick);
        for i in self.s.inactive.clone() {
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

    fn at(&self, ms: Ms) -> DateTime<Utc> {
        self.s.start + Duration::milliseconds(ms)
    }

    fn run(&mut self) {
        while let Some(Reverse((t, _, ev))) = self.queue.pop() {
            if t >= self.end {
                break;
            }
            self.now = t;
            self.handle(ev);
        }
        self.now = self.end;
        for a in 1..=self.s.agents as usize {
            if self.agents[a].logged_in {
                self.agents[a].logged_ms += self.end - self.agents[a].login_at;
            }
        }
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Tick => self.tick(),
            Ev::EngineRun => {
                if self.run_at == Some(self.now) {
                    self.run_at = None;
                }
                self.engine_run();
            }
            Ev::RingEnd(c) => self.ring_end(c),
            Ev::Grace(c) => self.grace_over(c),
            Ev::HumanHangup(c) => self.human_hangs_up(c),
            Ev::TalkEnd(c) => self.talk_end(c),
            Ev::WrapEnd(a) => self.wrap_end(a),
            Ev::Beep(c) => self.play_message(c, true),
            Ev::MessageEnd(c) => self.message_end(c),
            Ev::PreviewEnd(a) => self.preview_end(a),
            Ev::AgentAway(a) => self.agent_away(a),
            Ev::AgentBack(a) => self.agent_back(a),
            Ev::DncJoin(c) => {
                self.contacts[c as usize].on_dnc = true;
                self.log.push(Event::DncAdded {
                    t: self.now,
                    contact: c,
                });
            }
        }
    }

    fn schedule_run(&mut self, at: Ms) {
        if self.run_at.is_none_or(|r| r > at) {
            self.run_at = Some(at);
            self.push(at, Ev::EngineRun);
        }
    }

    fn predictive(&self) -> bool {
        self.s.campaign.dial_mode == DialMode::Predictive
    }

    // ---- the periodic tick: windows, cadence, staffing, inactivity --------------------------

    fn tick(&mut self) {
        self.push(self.now + TICK_MS, Ev::Tick);
        let day = self.now / DAY_MS;
        if day != self.day {
            self.day = day;
            self.agents.iter_mut().for_each(|a| a.calls_today = 0);
        }
        self.update_windows();
        self.release_due_contacts();
        self.detect_inactivity();
        self.staff();
        self.engine_run();
    }

    fn update_windows(&mut self) {
        let now = self.at(self.now);
        for z in 0..self.zones.len() {
            let open = is_open_in_zone(&self.s.campaign.window, self.zones[z].tz, now);
            if open == self.zones[z].open {
                continue;
            }
            self.zones[z].open = open;
            if self.predictive() {
                continue;
            }
            if open {
                let ready: Vec<u32> = self.zones[z].ready.drain(..).collect();
                self.hand_out(ready);
            } else {
                self.take_back_zone(z as u16);
            }
        }
    }

    /// Preview/progressive: due contacts whose window is open are shared among the ready agents.
    fn hand_out(&mut self, contacts: Vec<u32>) {
        let moves = self
            .dist
            .add_contacts(contacts.iter().map(|c| ContactId(i64::from(*c))));
        self.apply_moves(&moves, false);
    }

    /// The window closed for a zone: its held contacts go back to wait for the next opening.
    fn take_back_zone(&mut self, zone: u16) {
        let held: Vec<u32> = (1..=self.s.agents)
            .flat_map(|a| self.dist.held_by(agent_id(a)))
            .chain(self.dist.pooled())
            .map(|c| c.0 as u32)
            .filter(|c| self.contacts[*c as usize].zone == zone)
            .collect();
        for c in held {
            let holder = self.dist.holder(ContactId(i64::from(c)));
            let (_, moves) = self.dist.release(ContactId(i64::from(c)));
            self.zones[usize::from(zone)].held -= 1;
            if let Some(a) = holder {
                self.unassigned(c, agent_index(a));
            }
            self.apply_moves(&moves, false);
            self.zones[usize::from(zone)].ready.push_back(c);
        }
    }

    fn apply_moves(&mut self, moves: &[Move], redistribution: bool) {
        for m in moves {
            let c = m.contact.0 as u32;
            if let Some(from) = m.from {
                self.unassigned(c, agent_index(from));
            }
            if m.entering {
                self.zones[usize::from(self.contacts[c as usize].zone)].held += 1;
            }
            if let Some(to) = m.to {
                let to = agent_index(to);
                self.agents[to as usize].assigned.insert(c);
                self.log.push(Event::Assigned {
                    t: self.now,
                    contact: c,
                    agent: to,
                });
            }
        }
        if redistribution {
            self.n.redistributed += moves.iter().filter(|m| m.to.is_some()).count() as u64;
        }
    }

    fn unassigned(&mut self, c: u32, agent: u32) {
        self.log.push(Event::Unassigned {
            t: self.now,
            contact: c,
            agent,
        });
    }

    fn release_due_contacts(&mut self) {
        for z in 0..self.zones.len() {
            let mut due = Vec::new();
            while let Some(Reverse((t, c))) = self.zones[z].pending.peek().copied() {
                if t > self.now {
                    break;
                }
                self.zones[z].pending.pop();
                due.push(c);
            }
            if !self.predictive() && self.zones[z].open {
                self.hand_out(due);
            } else {
                self.zones[z].ready.extend(due);
            }
        }
    }

    /// The engine notices agents whose desktop has been silent for the inactivity timeout.
    fn detect_inactivity(&mut self) {
        let timeout = i64::from(self.s.campaign.inactivity_timeout_seconds) * 1000;
        for a in 1..=self.s.agents {
            let ag = &self.agents[a as usize];
            if ag.engine_ready && ag.away && self.now - ag.last_heartbeat >= timeout {
                self.engine_drop_agent(a, true);
            }
        }
    }

    fn engine_drop_agent(&mut self, a: u32, redistribution: bool) {
        self.agents[a as usize].engine_ready = false;
        let moves = self.dist.remove_agent(agent_id(a));
        self.apply_moves(&moves, redistribution);
        if let AgentState::Previewing { contact, .. } = self.agents[a as usize].state {
            // The preview was never acted on: the contact goes back to the others.
            self.agents[a as usize].state = AgentState::Idle;
            self.hand_out(vec![contact]);
            self.n.redistributed += 1;
        }
    }

    /// Agents are logged in whenever a due contact is inside its window (scenarios README).
    fn staff(&mut self) {
        let staffed = self
            .zones
            .iter()
            .any(|z| z.open && (z.held > 0 || !z.ready.is_empty()));
        // Agents stay while lines still ring or people wait: logging out then would abandon them.
        let quiet = self.ringing == 0 && self.waiting.is_empty();
        let mut joined = Vec::new();
        for a in 1..=self.s.agents {
            let ag = &self.agents[a as usize];
            if staffed && !ag.logged_in && !ag.away {
                if self.login(a) {
                    joined.push(agent_id(a));
                }
            } else if !staffed && quiet && ag.logged_in && ag.state == AgentState::Idle {
                self.logout(a);
            }
        }
        if !joined.is_empty() && !self.predictive() {
            let moves = self.dist.add_agents(joined);
            self.apply_moves(&moves, false);
        }
    }

    /// Logs an agent in; `true` when the engine newly counts it as ready.
    fn login(&mut self, a: u32) -> bool {
        let now = self.now;
        let ag = &mut self.agents[a as usize];
        ag.logged_in = true;
        ag.login_at = now;
        ag.state = AgentState::Idle;
        ag.idle_since = now;
        let newly = !ag.engine_ready;
        ag.engine_ready = true;
        newly
    }

    fn logout(&mut self, a: u32) {
        let ag = &mut self.agents[a as usize];
        ag.logged_in = false;
        ag.logged_ms += self.now - ag.login_at;
        self.engine_drop_agent(a, false);
    }

    // ---- agents' absences -------------------------------------------------------------------

    fn agent_away(&mut self, a: u32) {
        let ag = &mut self.agents[a as usize];
        if ag.logged_in && ag.state != AgentState::Idle {
            ag.leaving = true; // finishes the work in hand first
        } else {
            self.go_away(a);
        }
    }

    fn go_away(&mut self, a: u32) {
        let now = self.now;
        let ag = &mut self.agents[a as usize];
        ag.leaving = false;
        ag.away = true;
        ag.last_heartbeat = now - now.rem_euclid(HEARTBEAT_MS);
        if ag.logged_in {
            ag.logged_in = false;
            ag.logged_ms += now - ag.login_at;
        }
        ag.state = AgentState::Idle;
        let last = ag.last_heartbeat;
        self.log.push(Event::HeartbeatsStopped {
            t: now,
            agent: a,
            last,
        });
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
    }

    /// The engine offered work to an agent whose browser is gone: the agent leg fails, and the
    /// engine stops offering it calls at once.
    fn agent_leg_fails(&mut self, a: u32) -> bool {
        let gone = !self.agents[a as usize].logged_in;
        if gone && self.agents[a as usize].engine_ready {
            self.engine_drop_agent(a, true);
        }
        gone
    }

    // ---- dialling ---------------------------------------------------------------------------

    fn engine_run(&mut self) {
        if self.predictive() {
            self.serve_waiting();
            self.pace();
        } else {
            self.dial_for_agents();
        }
    }

    fn cps_free(&mut self) -> bool {
        let now = self.at(self.now);
        let slot = self.cps.next_slot(now);
        if slot > now {
            let at = (slot - self.s.start).num_milliseconds();
            self.schedule_run(at);
            return false;
        }
        true
    }

    /// Right before a dial: the compliance checks, then the call. `false` when refused.
    fn dial(&mut self, c: u32, agent: Option<u32>) -> Option<u32> {
        let now = self.at(self.now);
        let contact = &self.contacts[c as usize];
        let tz = self.zones[usize::from(contact.zone)].tz;
        let check = DialCheck {
            contact: &contact.attempts,
            on_dnc: contact.on_dnc,
            window_open: is_open_in_zone(&self.s.campaign.window, tz, now),
            max_attempts: self.s.campaign.max_attempts,
            now,
        };
        match check_dial(check) {
            Ok(()) => {}
            Err(DialRefusal::OnDnc) => {
                self.contacts[c as usize].attempts.mark_dnc();
                return None;
            }
            Err(DialRefusal::OutsideWindow) => {
                self.zones[usize::from(contact.zone)].ready.push_back(c);
                return None;
            }
            Err(_) => return None,
        }
        if !self.cps.try_acquire(now) {
            return None;
        }
        let contact = &mut self.contacts[c as usize];
        contact
            .attempts
            .start(now, tz, self.s.campaign.max_attempts)
            .ok()?;
        let fate = self
            .s
            .behaviour
            .fate(self.s.seed, u64::from(c), contact.attempts.attempts);
        let call = self.calls.len() as u32;
        let ring_timeout_s = self.s.campaign.ring_timeout_seconds;
        self.calls.push(Call {
            contact: c,
            agent,
            fate,
            dialled: self.now,
            answered: 0,
            phase: Phase::Ringing,
        });
        self.log.push(Event::Dial {
            t: self.now,
            call,
            contact: c,
            agent,
            ring_timeout_s,
        });
        self.n.dials += 1;
        self.ringing += 1;
        let timeout = f64::from(ring_timeout_s);
        let after = match fate {
            Fate::Human { ring, .. } | Fate::Machine { ring, .. } => ring.min(timeout),
            Fate::Busy { after } | Fate::Failed { after } => after,
            Fate::NoAnswer => timeout,
        };
        self.push(self.now + (after * 1000.0) as Ms, Ev::RingEnd(call));
        Some(call)
    }

    /// Preview/progressive: each ready agent asking for work gets its next held contact.
    fn dial_for_agents(&mut self) {
        let mut idle: Vec<(Ms, u32)> = (1..=self.s.agents)
            .filter(|a| self.agents[*a as usize].engine_ready)
            .filter_map(|a| match self.agents[a as usize].state {
                AgentState::Idle => Some((self.agents[a as usize].idle_since, a)),
                AgentState::Previewing { clicked: true, .. } => Some((Ms::MIN, a)),
                _ => None,
            })
            .collect();
        idle.sort_unstable();
        for (_, a) in idle {
            if let AgentState::Previewing {
                contact,
                clicked: true,
            } = self.agents[a as usize].state
            {
                if !self.cps_free() {
                    return;
                }
                self.dial_reserved(a, contact);
                continue;
            }
            // The desktop must acknowledge the offer before a line is dialled for it; a silent
            // desktop means the agent is gone, and its contacts go to the others now.
            if self.agent_leg_fails(a) {
                continue;
            }
            let preview = self.s.campaign.dial_mode == DialMode::Preview;
            if !preview && !self.cps_free() {
                return;
            }
            self.next_contact_for(a, preview);
        }
    }

    fn next_contact_for(&mut self, a: u32, preview: bool) {
        let zones: Vec<bool> = self.zones.iter().map(|z| z.open).collect();
        let contacts = &self.contacts;
        let taken = self.dist.take_next(agent_id(a), |c| {
            zones[usize::from(contacts[c.0 as usize].zone)]
        });
        let Some((c, moves)) = taken else {
            return;
        };
        let c = c.0 as u32;
        self.zones[usize::from(self.contacts[c as usize].zone)].held -= 1;
        self.unassigned(c, a);
        self.apply_moves(&moves, false);
        if preview {
            self.agents[a as usize].state = AgentState::Previewing {
                contact: c,
                clicked: false,
            };
            let at = self.now + (self.s.preview_seconds * 1000.0) as Ms;
            self.push(at, Ev::PreviewEnd(a));
        } else {
            self.dial_reserved(a, c);
        }
    }

    fn dial_reserved(&mut self, a: u32, c: u32) {
        match self.dial(c, Some(a)) {
            Some(call) => self.agents[a as usize].state = AgentState::Reserved { call },
            None => {
                self.agents[a as usize].state = AgentState::Idle;
                self.schedule_run(self.now);
            }
        }
    }

    fn preview_end(&mut self, a: u32) {
        if self.agents[a as usize].away {
            return; // nobody is there to click Call
        }
        if let AgentState::Previewing { contact, .. } = self.agents[a as usize].state {
            self.agents[a as usize].state = AgentState::Previewing {
                contact,
                clicked: true,
            };
            self.schedule_run(self.now);
        }
    }

    /// Predictive: the pacer says how many lines to add; contacts come from the open zones' pools.
    fn pace(&mut self) {
        let now = self.at(self.now);
        let activity: Vec<AgentActivity> = (1..=self.s.agents)
            .filter(|a| self.agents[*a as usize].engine_ready)
            .map(|a| match self.agents[a as usize].state {
                AgentState::OnCall { since, .. } => AgentActivity::OnCall {
                    since: self.at(since),
                },
                AgentState::WrapUp { until } => AgentActivity::WrapUp {
                    until: self.at(until),
                },
                _ => AgentActivity::Idle,
            })
            .collect();
        let input = PacingInput {
            agents: &activity,
            lines_in_flight: self.ringing,
            humans_waiting: self.waiting.len(),
            now,
        };
        let mut lines = self.pacer.decide(&self.stats, input).new_lines;
        while lines > 0 && self.cps_free() {
            let Some(c) = self.next_pool_contact() else {
                return;
            };
            if self.dial(c, None).is_some() {
                lines -= 1;
            }
        }
    }

    /// The next due contact of an open zone, taking zones in turn (oldest queue first).
    fn next_pool_contact(&mut self) -> Option<u32> {
        let z = (0..self.zones.len())
            .filter(|z| self.zones[*z].open && !self.zones[*z].ready.is_empty())
            .max_by_key(|z| (self.zones[*z].ready.len(), Reverse(*z)))?;
        self.zones[z].ready.pop_front()
    }

    // ---- the network's answers --------------------------------------------------------------

    fn ring_end(&mut self, call: u32) {
        self.ringing -= 1;
        let timeout = f64::from(self.s.campaign.ring_timeout_seconds);
        let fate = self.calls[call as usize].fate;
        let ring = (self.now - self.calls[call as usize].dialled) as f64 / 1000.0;
        match fate {
            Fate::Human { ring: r, .. } if r < timeout => {
                self.stats.record_dial(true, Some(ring));
                self.human_answered(call);
            }
            Fate::Machine { ring: r, greeting } if r < timeout => {
                self.stats.record_dial(false, None);
                self.machine_answered(call, greeting);
            }
            Fate::Busy { .. } => self.unanswered(call, CallOutcome::Busy),
            Fate::Failed { .. } => self.unanswered(call, CallOutcome::Failed),
            _ => self.unanswered(call, CallOutcome::NoAnswer),
        }
    }

    fn unanswered(&mut self, call: u32, outcome: CallOutcome) {
        self.stats.record_dial(false, None);
        match outcome {
            CallOutcome::Busy => self.n.busy += 1,
            CallOutcome::Failed => self.n.failed += 1,
            _ => self.n.no_answer += 1,
        }
        self.release_reserved_agent(call);
        self.end_call(call, outcome);
    }

    /// A progressive/preview agent whose line did not reach a person asks for the next contact.
    fn release_reserved_agent(&mut self, call: u32) {
        if let Some(a) = self.calls[call as usize].agent {
            if self.agents[a as usize].state == (AgentState::Reserved { call }) {
                self.agent_free(a);
            }
        }
    }

    fn machine_answered(&mut self, call: u32, greeting: f64) {
        self.n.answered_machine += 1;
        self.log.push(Event::Answered {
            t: self.now,
            call,
            human: false,
        });
        self.release_reserved_agent(call);
        if self.s.campaign.machine_action == MachineAction::LeaveMessage {
            self.calls[call as usize].phase = Phase::Message;
            self.push(self.now + (greeting * 1000.0) as Ms, Ev::Beep(call));
        } else {
            self.end_call(call, CallOutcome::Machine);
        }
    }

    fn human_answered(&mut self, call: u32) {
        self.n.answered_human += 1;
        self.log.push(Event::Answered {
            t: self.now,
            call,
            human: true,
        });
        self.calls[call as usize].answered = self.now;
        if let Some(a) = self.calls[call as usize].agent {
            if !self.agent_leg_fails(a) {
                return self.connect(call, a);
            }
        }
        if let Some(a) = self.best_idle_agent() {
            return self.connect(call, a);
        }
        self.calls[call as usize].phase = Phase::Waiting;
        self.waiting.push_back(call);
        self.push(self.now + super::audit::ABANDON_GRACE_MS, Ev::Grace(call));
        let hangup = (self.s.behaviour.human_hangup_if_waiting_seconds * 1000.0) as Ms;
        self.push(self.now + hangup, Ev::HumanHangup(call));
    }

    /// The ready idle agent a connected call goes to (predictive rule), skipping agents whose
    /// leg fails.
    fn best_idle_agent(&mut self) -> Option<u32> {
        loop {
            let loads: Vec<AgentLoad> = (1..=self.s.agents)
                .filter(|a| {
                    let ag = &self.agents[*a as usize];
                    ag.engine_ready && ag.state == AgentState::Idle
                })
                .map(|a| AgentLoad {
                    agent: agent_id(a),
                    calls_today: self.agents[a as usize].calls_today,
                    idle_since: self.at(self.agents[a as usize].idle_since),
                })
                .collect();
            let a = agent_index(pick_agent_predictive(&loads)?);
            if !self.agent_leg_fails(a) {
                return Some(a);
            }
        }
    }

    fn connect(&mut self, call: u32, a: u32) {
        self.stats.record_live_answer(self.at(self.now), false);
        self.n.connected += 1;
        let talk = match self.calls[call as usize].fate {
            Fate::Human { talk, .. } => talk,
            _ => 0.0,
        };
        self.calls[call as usize].phase = Phase::Connected;
        self.calls[call as usize].agent = Some(a);
        let ag = &mut self.agents[a as usize];
        ag.state = AgentState::OnCall {
            call,
            since: self.now,
        };
        ag.calls_today += 1;
        ag.calls += 1;
        self.log.push(Event::AgentConnected {
            t: self.now,
            call,
            agent: a,
        });
        self.push(self.now + (talk * 1000.0) as Ms, Ev::TalkEnd(call));
    }

    fn serve_waiting(&mut self) {
        while let Some(&call) = self.waiting.front() {
            let Some(a) = self.best_idle_agent() else {
                return;
            };
            self.waiting.pop_front();
            self.connect(call, a);
        }
    }

    fn grace_over(&mut self, call: u32) {
        if self.calls[call as usize].phase != Phase::Waiting {
            return;
        }
        self.waiting.retain(|c| *c != call);
        self.n.abandoned += 1;
        self.stats.record_live_answer(self.at(self.now), true);
        self.log.push(Event::Abandoned { t: self.now, call });
        self.play_message(call, false);
    }

    /// The contact hung up before the grace ran out (only when they wait less than 2 s).
    fn human_hangs_up(&mut self, call: u32) {
        if self.calls[call as usize].phase != Phase::Waiting {
            return;
        }
        self.waiting.retain(|c| *c != call);
        self.n.abandoned += 1;
        self.stats.record_live_answer(self.at(self.now), true);
        self.end_call(call, CallOutcome::AbandonedNoAgent);
    }

    fn play_message(&mut self, call: u32, voicemail: bool) {
        if voicemail {
            self.n.voicemails += 1;
        }
        self.calls[call as usize].phase = Phase::Message;
        self.log.push(Event::MessagePlayed { t: self.now, call });
        self.push(self.now + MESSAGE_MS, Ev::MessageEnd(call));
    }

    fn message_end(&mut self, call: u32) {
        let outcome = match self.calls[call as usize].fate {
            Fate::Machine { .. } => CallOutcome::Machine,
            _ => CallOutcome::AbandonedNoAgent,
        };
        self.end_call(call, outcome);
    }

    fn talk_end(&mut self, call: u32) {
        let Some(a) = self.calls[call as usize].agent else {
            return;
        };
        let started = match self.agents[a as usize].state {
            AgentState::OnCall { since, .. } => since,
            _ => self.now,
        };
        let talk = self.now - started;
        self.stats.record_talk(talk as f64 / 1000.0);
        let wrap = i64::from(self.s.campaign.wrap_up_seconds) * 1000;
        let ag = &mut self.agents[a as usize];
        ag.talk_ms += talk;
        ag.busy_ms += talk + wrap;
        ag.state = AgentState::WrapUp {
            until: self.now + wrap,
        };
        self.push(self.now + wrap, Ev::WrapEnd(a));
        self.end_call(call, CallOutcome::Completed);
    }

    fn wrap_end(&mut self, a: u32) {
        self.agent_free(a);
    }

    /// The agent finished its work: it leaves if it meant to, else it is idle and asks for more.
    fn agent_free(&mut self, a: u32) {
        if self.agents[a as usize].leaving {
            return self.go_away(a);
        }
        let ag = &mut self.agents[a as usize];
        ag.state = AgentState::Idle;
        ag.idle_since = self.now;
        self.schedule_run(self.now);
    }

    /// The attempt is over: the contact gets its disposition and, if still due, its next cycle.
    fn end_call(&mut self, call: u32, outcome: CallOutcome) {
        self.calls[call as usize].phase = Phase::Over;
        self.log.push(Event::Ended {
            t: self.now,
            call,
            outcome,
        });
        let c = self.calls[call as usize].contact;
        let effect = if outcome == CallOutcome::Completed {
            DispositionEffect::Final
        } else {
            DispositionEffect::Retry
        };
        let disposition = Disposition {
            name: format!("{outcome:?}"),
            effect,
        };
        let now = self.at(self.now);
        let contact = &mut self.contacts[c as usize];
        let tz = self.zones[usize::from(contact.zone)].tz;
        contact
            .attempts
            .complete(&disposition, &self.s.campaign, tz, now);
        if contact.attempts.status == ContactStatus::Active {
            let due = (contact.attempts.next_due - self.s.start).num_milliseconds();
            self.zones[usize::from(contact.zone)]
                .pending
                .push(Reverse((due, c)));
        }
    }

    fn report(&self) -> Report {
        let agents: Vec<AgentReport> = (1..=self.s.agents)
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
            dials: self.n.dials,
            answered_human: self.n.answered_human,
            answered_machine: self.n.answered_machine,
            no_answer: self.n.no_answer,
            busy: self.n.busy,
            failed: self.n.failed,
            connected_to_agent: self.n.connected,
            abandoned: self.n.abandoned,
            abandon_rate_pct: round2(pct(self.n.abandoned as f64, self.n.answered_human as f64)),
            voicemails_left: self.n.voicemails,
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
            redistributed_contacts: self.n.redistributed,
            violations: Default::default(),
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
            engine_ready: false,
            state: AgentState::Idle,
            idle_since: 0,
            calls_today: 0,
            calls: 0,
            talk_ms: 0,
            busy_ms: 0,
            assigned: Default::default(),
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
