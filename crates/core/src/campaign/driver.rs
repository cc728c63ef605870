//! The campaign driver: the one state machine that runs an outbound campaign (DESIGN §2.1,
//! §2.3). It owns which contacts are due and when they come due again (cadence), who holds them
//! (equal distribution, redistribution when an agent goes offline or stops heartbeating), when
//! and how many lines to dial (one per agent, or the predictive pacer), which agent an answered
//! call goes to, the 2-second grace and the identification message of an abandoned call,
//! answering machines, wrap-up and its limit, and what a disposition does to the contact's
//! attempts.
//!
//! It does no I/O and reads no clock: every input carries [`Now`] (business time for windows and
//! cadence, a monotonic reading for graces, wrap-up limits and calls per second), and every
//! decision comes back as [`Command`]s for an adapter to carry out. The server's engine executes
//! them with the store, the carrier and the agents' desktops; the scenario simulator executes
//! them on its virtual network and virtual clock. Both run this same type, so what the simulator
//! measures is what the server does.
//!
//! Two steps are confirmed by the adapter, because only it can tell whether they worked: a
//! [`Command::Dial`] is answered with [`Driver::dialled`] (with the call's id) or
//! [`Driver::dial_refused`] (DNC right before the dial, claim lost, carrier error), and a
//! [`Command::Connect`] with [`Driver::connected`] or, when the agent's leg cannot be reached,
//! [`Driver::agent_unreachable`].

use super::attempt::{CallOutcome, ContactAttempts, ContactStatus, Disposition, DispositionEffect};
use super::compliance::{check_dial, CpsLimiter, DialCheck, DialRefusal};
use super::distribution::{pick_agent_predictive, AgentLoad, Distribution, Move};
use super::pacing::{AgentActivity, Pacer, PacingInput, PacingStats};
use super::settings::{CampaignSettings, DialMode, MachineAction};
use super::window::{local_date, TimeZoneSource};
use crate::ids::{CallId, ContactId, UserId};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};

/// Milliseconds on a monotonic clock.
pub type Mono = i64;

/// A live-answered call with no agent within this long is abandoned (DESIGN §2.1).
pub const ABANDON_GRACE_MS: Mono = 2_000;

/// The instant of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Business time: calling windows, cadence, calls today.
    pub at: DateTime<Utc>,
    /// Monotonic milliseconds: the grace, wrap-up limits, calls per second.
    pub mono: Mono,
}

/// A contact handed to the driver (newly enrolled, or read again from storage).
#[derive(Debug, Clone)]
pub struct DueContact {
    pub id: ContactId,
    pub attempts: ContactAttempts,
    /// The zones its calling window is judged in.
    pub zones: TimeZoneSource,
    /// The zone its cadence days are counted in.
    pub tz: Tz,
}

/// Who answered a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Human,
    Machine,
    /// Not known (yet): with AMD on, the verdict follows; without AMD it is a person.
    Unknown,
}

/// How a line ended, in carrier terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnd {
    Completed,
    Busy,
    NoAnswer,
    Failed,
}

/// Why an agent stopped taking the campaign's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leave {
    /// Offline, standby, or no longer assigned.
    Offline,
    /// No heartbeat for the inactivity timeout.
    Inactive,
    /// Its leg could not be reached when work was offered.
    Unreachable,
}

/// Why a dial did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The number is on the do-not-call list (checked right before the dial).
    OnDnc,
    /// The contact could not be claimed (another node has it) or the carrier refused the call:
    /// the attempt is given back and the contact forgotten until it is read again.
    NotPlaced,
}

/// A decision for the adapter to carry out.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `contact` changed hands: `from` no longer holds it, `to` does (`None`: nobody).
    Hold {
        contact: ContactId,
        from: Option<UserId>,
        to: Option<UserId>,
        /// Moved because its holder went away (offline, inactive, unreachable).
        redistributed: bool,
    },
    /// Dial the contact, for `agent` (preview, progressive) or for whoever is free (predictive).
    /// Check DNC, claim it, place the call, then report [`Driver::dialled`] or
    /// [`Driver::dial_refused`].
    Dial {
        contact: ContactId,
        agent: Option<UserId>,
    },
    /// Show the agent the contact; it calls ([`Driver::preview_call`]) or skips.
    Preview { agent: UserId, contact: ContactId },
    /// The agent's preview was withdrawn (the agent left); the contact went to the others.
    PreviewWithdrawn { agent: UserId, contact: ContactId },
    /// Bridge `agent` into the answered call, then report [`Driver::connected`].
    Connect { call: CallId, agent: UserId },
    /// A person answered and no agent is free: they wait, at most the grace.
    Wait { call: CallId },
    /// A live-answered call got no agent: after the grace (`play_message`: play the campaign's
    /// identification message now, then hang up), or the person hung up first.
    Abandoned { call: CallId, play_message: bool },
    /// Answered, the answering-machine verdict still to come: nobody is connected.
    Detecting { call: CallId },
    /// Who answered is known (`human`, or a machine); what to do about it follows.
    Verdict { call: CallId, human: bool },
    /// A machine answered: hang up now (`hang_up`), or wait for the beep.
    Machine { call: CallId, hang_up: bool },
    /// The machine's greeting ended: leave the campaign's voicemail message and hang up.
    LeaveMessage { call: CallId },
    /// Hang the call up (a disposition was saved while it was up).
    HangUp { call: CallId },
    /// The line ended with this detailed outcome.
    Ended {
        call: CallId,
        contact: ContactId,
        outcome: CallOutcome,
        agent: Option<UserId>,
    },
    /// The agent's call ended: wrap-up until a disposition, at most until `until` (then the
    /// automatic disposition).
    WrapUp {
        agent: UserId,
        call: CallId,
        until: Mono,
    },
    /// The contact's attempt is over: its new attempts state, and the disposition that ended it.
    Completed {
        call: CallId,
        contact: ContactId,
        disposition: Disposition,
        attempts: ContactAttempts,
    },
    /// The agent is free again (`call`: the call it was busy with, cleared from the desktop).
    AgentFree { agent: UserId, call: Option<CallId> },
    /// The agent has not been heard from for the inactivity timeout: its contacts went to the
    /// others (the preceding `Hold`s) and it gets no work until it is ready again.
    AgentInactive { agent: UserId },
}

/// What an agent is doing for the campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    Idle,
    Previewing {
        contact: ContactId,
        clicked: bool,
    },
    /// A line is being placed for the agent.
    Dialling {
        contact: ContactId,
    },
    /// The agent's line rings.
    Reserved {
        call: CallId,
    },
    /// Being bridged into an answered call.
    Connecting {
        call: CallId,
    },
    OnCall {
        call: CallId,
        since: DateTime<Utc>,
    },
    WrapUp {
        call: CallId,
        contact: ContactId,
        until: Mono,
        until_at: DateTime<Utc>,
    },
}

/// Where a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Ringing,
    /// Answered; the machine verdict is still to come.
    Detecting,
    /// A person waits for an agent since `since`.
    Waiting {
        since: Mono,
    },
    /// An agent is being bridged in; the person answered at `answered`.
    Connecting {
        agent: UserId,
        answered: Mono,
    },
    Connected {
        since: Mono,
    },
    /// A machine: never given to an agent.
    Machine,
    /// Playing the identification message (abandoned) or the voicemail message (machine).
    Message {
        machine: bool,
    },
    /// The agent dropped the voicemail message and was released: it plays to the contact to
    /// its end, then the line ends as `voicemail_dropped`.
    Dropped,
}

/// Errors of agent requests (preview, disposition).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    #[error("you have no contact to preview")]
    NoPreview,
    #[error("the call is not connected to an agent")]
    NotConnected,
    #[error("the call is not known to the campaign")]
    UnknownCall,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Not due yet (in its group's `pending`).
    Pending,
    /// Due, waiting in its group's queue (predictive pool, or its window is closed).
    Waiting,
    /// Due, in the distribution (preview, progressive).
    Held,
    Previewed,
    Dialling,
    Calling(CallId),
}

#[derive(Debug, Clone)]
struct Slot {
    group: u32,
    tz: Tz,
    attempts: ContactAttempts,
    place: Place,
}

#[derive(Debug)]
struct Group {
    zones: TimeZoneSource,
    open: bool,
    /// Contacts not due yet, by due instant (ms since the epoch).
    pending: BinaryHeap<Reverse<(i64, ContactId)>>,
    waiting: VecDeque<ContactId>,
    /// Contacts of this group in the distribution.
    held: usize,
}

#[derive(Debug, Clone)]
struct AgentSlot {
    ready: bool,
    /// Busy with another campaign's call: offered nothing here, holdings kept.
    elsewhere: bool,
    activity: Activity,
    idle_since: DateTime<Utc>,
    last_seen: Mono,
    calls_today: (NaiveDate, u32),
}

#[derive(Debug, Clone)]
struct CallSlot {
    contact: ContactId,
    agent: Option<UserId>,
    phase: Phase,
    dialled: Mono,
    disposed: bool,
}

/// One campaign's driver.
#[derive(Debug)]
pub struct Driver {
    settings: CampaignSettings,
    pacer: Pacer,
    stats: PacingStats,
    dist: Distribution,
    groups: Vec<Group>,
    group_of: HashMap<TimeZoneSource, u32>,
    contacts: HashMap<ContactId, Slot>,
    agents: BTreeMap<UserId, AgentSlot>,
    calls: BTreeMap<CallId, CallSlot>,
    /// Dials asked for and not yet confirmed: (agent, attempts before the dial).
    dialling: BTreeMap<ContactId, (Option<UserId>, ContactAttempts)>,
    waiting: VecDeque<CallId>,
    ringing: usize,
    cps_wake: Option<Mono>,
    wanted: bool,
    stopped: bool,
    out: Vec<Command>,
}

fn system(outcome: CallOutcome) -> Disposition {
    let name = match outcome {
        CallOutcome::AbandonedNoAgent => "abandoned_no_agent",
        CallOutcome::NoAnswer => "no_answer",
        CallOutcome::Busy => "busy",
        CallOutcome::Failed => "failed",
        CallOutcome::Machine => "machine",
        CallOutcome::VoicemailDropped => "voicemail_dropped",
        _ => "system_retry",
    };
    Disposition {
        name: name.into(),
        effect: DispositionEffect::Retry,
    }
}

impl Driver {
    pub fn new(settings: CampaignSettings) -> Self {
        Self::with_stats(settings, PacingStats::default())
    }

    /// A driver that starts from what an earlier run learnt.
    pub fn with_stats(settings: CampaignSettings, stats: PacingStats) -> Self {
        let pacer = Pacer {
            cap: settings.abandon_cap(),
            max_lines_per_agent: settings.max_lines_per_agent,
            wrap_up_seconds: f64::from(settings.wrap_up_seconds),
        };
        Self {
            settings,
            pacer,
            stats,
            dist: Distribution::new(),
            groups: Vec::new(),
            group_of: HashMap::new(),
            contacts: HashMap::new(),
            agents: BTreeMap::new(),
            calls: BTreeMap::new(),
            dialling: BTreeMap::new(),
            waiting: VecDeque::new(),
            ringing: 0,
            cps_wake: None,
            wanted: false,
            stopped: false,
            out: Vec::new(),
        }
    }

    // ---- questions --------------------------------------------------------------------------

    pub fn settings(&self) -> &CampaignSettings {
        &self.settings
    }

    pub fn stats(&self) -> &PacingStats {
        &self.stats
    }

    fn predictive(&self) -> bool {
        self.settings.dial_mode == DialMode::Predictive
    }

    /// Whether the contact is known to the driver (due, pending, or being called).
    pub fn knows(&self, contact: ContactId) -> bool {
        self.contacts.contains_key(&contact)
    }

    /// The contact's attempts as the driver sees them.
    pub fn attempts(&self, contact: ContactId) -> Option<&ContactAttempts> {
        self.contacts.get(&contact).map(|s| &s.attempts)
    }

    /// Contacts due now that nobody is calling yet.
    pub fn due_count(&self) -> usize {
        self.contacts
            .values()
            .filter(|s| matches!(s.place, Place::Waiting | Place::Held | Place::Previewed))
            .count()
    }

    /// Whether some due contact is inside its window (agents have work).
    pub fn has_work(&self) -> bool {
        self.groups
            .iter()
            .any(|g| g.open && (g.held > 0 || !g.waiting.is_empty()))
    }

    /// No line rings and nobody waits for an agent.
    pub fn quiet(&self) -> bool {
        self.ringing == 0 && self.waiting.is_empty() && self.dialling.is_empty()
    }

    /// (lines ringing or being placed, people waiting for an agent).
    pub fn lines(&self) -> (usize, usize) {
        (self.ringing + self.dialling.len(), self.waiting.len())
    }

    pub fn holder(&self, contact: ContactId) -> Option<UserId> {
        self.dist.holder(contact)
    }

    pub fn held_by(&self, agent: UserId) -> Vec<ContactId> {
        self.dist.held_by(agent)
    }

    pub fn is_ready(&self, agent: UserId) -> bool {
        self.agents.get(&agent).is_some_and(|a| a.ready)
    }

    pub fn ready_agents(&self) -> Vec<UserId> {
        self.agents
            .iter()
            .filter(|(_, a)| a.ready)
            .map(|(u, _)| *u)
            .collect()
    }

    pub fn activity(&self, agent: UserId) -> Option<Activity> {
        self.agents.get(&agent).map(|a| a.activity)
    }

    pub fn phase(&self, call: CallId) -> Option<Phase> {
        self.calls.get(&call).map(|c| c.phase)
    }

    /// The agent of a call (reserved or connected).
    pub fn call_agent(&self, call: CallId) -> Option<UserId> {
        self.calls.get(&call).and_then(|c| c.agent)
    }

    /// Whether [`Driver::poll`] has dialing work now (an agent became free, a preview was
    /// clicked, a dial was refused).
    pub fn wants_poll(&self) -> bool {
        self.wanted
    }

    /// The next monotonic instant the driver must be polled at without another input: a grace
    /// or a wrap-up limit running out, or the next calls-per-second slot when dials wait for it.
    pub fn next_deadline(&self) -> Option<Mono> {
        let graces = self
            .waiting
            .iter()
            .filter_map(|c| match self.calls[c].phase {
                Phase::Waiting { since } => Some(since + ABANDON_GRACE_MS),
                _ => None,
            });
        let wraps = self.agents.values().filter_map(|a| match a.activity {
            Activity::WrapUp { until, .. } => Some(until + 1),
            _ => None,
        });
        graces.chain(wraps).chain(self.cps_wake).min()
    }

    /// Whether the driver still has work in hand: calls, dials being placed, agents in wrap-up.
    pub fn busy(&self) -> bool {
        !self.calls.is_empty()
            || !self.dialling.is_empty()
            || self
                .agents
                .values()
                .any(|a| matches!(a.activity, Activity::WrapUp { .. }))
    }

    /// Whether `call` is this driver's (on the line, or its agent wrapping up).
    pub fn owns_call(&self, call: CallId) -> bool {
        self.calls.contains_key(&call)
            || self
                .agents
                .values()
                .any(|a| matches!(a.activity, Activity::WrapUp { call: c, .. } if c == call))
    }

    /// The campaign stops dialing (paused, stopped, edited): previews are withdrawn, nobody holds
    /// a contact, no line is added; calls in hand finish normally.
    pub fn stop(&mut self, now: Now) -> Vec<Command> {
        let ready = self.ready_agents();
        for a in ready {
            self.leave(a, Leave::Offline, now);
        }
        self.stopped = true;
        self.take()
    }

    // ---- contacts ---------------------------------------------------------------------------

    fn group(&mut self, zones: TimeZoneSource, now: Now) -> u32 {
        if let Some(g) = self.group_of.get(&zones) {
            return *g;
        }
        let g = self.groups.len() as u32;
        let open = zones.window_open(&self.settings.window, now.at);
        self.groups.push(Group {
            zones: zones.clone(),
            open,
            pending: BinaryHeap::new(),
            waiting: VecDeque::new(),
            held: 0,
        });
        self.group_of.insert(zones, g);
        g
    }

    /// Contacts enrolled or read again; those already known are left alone. Each is due now,
    /// later (its cadence), or never (not active).
    pub fn add_contacts(
        &mut self,
        now: Now,
        contacts: impl IntoIterator<Item = DueContact>,
    ) -> Vec<Command> {
        let mut due = Vec::new();
        for c in contacts {
            if self.contacts.contains_key(&c.id) || c.attempts.status != ContactStatus::Active {
                continue;
            }
            if c.attempts.in_flight || c.attempts.attempts >= self.settings.max_attempts {
                continue;
            }
            let group = self.group(c.zones, now);
            let at = c.attempts.next_due;
            self.contacts.insert(
                c.id,
                Slot {
                    group,
                    tz: c.tz,
                    attempts: c.attempts,
                    place: Place::Pending,
                },
            );
            if at <= now.at {
                due.push(c.id);
            } else {
                self.groups[group as usize]
                    .pending
                    .push(Reverse((at.timestamp_millis(), c.id)));
            }
        }
        self.enter(due, false);
        self.take()
    }

    /// Due contacts enter: shared among the agents when their window is open (preview,
    /// progressive), else queued in their group.
    fn enter(&mut self, due: Vec<ContactId>, redistributed: bool) {
        let predictive = self.predictive();
        let mut hand = Vec::new();
        for c in due {
            let Some(s) = self.contacts.get_mut(&c) else {
                continue;
            };
            let g = &mut self.groups[s.group as usize];
            if !predictive {
                s.place = Place::Held;
                g.held += 1;
                hand.push(c);
            } else {
                s.place = Place::Waiting;
                g.waiting.push_back(c);
            }
        }
        if !hand.is_empty() {
            let moves = self.dist.add_contacts(hand);
            self.apply(&moves, redistributed);
        }
    }

    /// A contact stopped being due (left the lists, joined DNC): nobody holds it any more. A
    /// contact being called is left to its call.
    pub fn contact_gone(&mut self, now: Now, contact: ContactId) -> Vec<Command> {
        let Some(s) = self.contacts.get(&contact) else {
            return Vec::new();
        };
        match s.place {
            Place::Dialling | Place::Calling(_) => return Vec::new(),
            Place::Held => {
                let g = s.group as usize;
                let holder = self.dist.holder(contact);
                let (_, moves) = self.dist.release(contact);
                self.groups[g].held -= 1;
                self.out.push(Command::Hold {
                    contact,
                    from: holder,
                    to: None,
                    redistributed: false,
                });
                self.apply(&moves, false);
            }
            Place::Previewed => {
                let agent = self.agents.iter().find_map(|(u, a)| {
                    matches!(a.activity, Activity::Previewing { contact: c, .. } if c == contact)
                        .then_some(*u)
                });
                if let Some(a) = agent {
                    self.set_idle(a, now);
                    self.out.push(Command::AgentFree {
                        agent: a,
                        call: None,
                    });
                }
            }
            Place::Pending | Place::Waiting => {} // their queue entries are skipped later
        }
        self.contacts.remove(&contact);
        self.take()
    }

    fn apply(&mut self, moves: &[Move], redistributed: bool) {
        for m in moves.iter().filter(|m| m.from.is_some() || m.to.is_some()) {
            self.out.push(Command::Hold {
                contact: m.contact,
                from: m.from,
                to: m.to,
                redistributed,
            });
        }
    }

    // ---- the periodic tick ------------------------------------------------------------------

    /// Windows opening and closing, contacts coming due, agents gone silent.
    pub fn tick(&mut self, now: Now) -> Vec<Command> {
        self.update_windows(now);
        self.release_due(now);
        self.detect_inactivity(now);
        self.take()
    }

    fn update_windows(&mut self, now: Now) {
        for g in 0..self.groups.len() {
            let open = self.groups[g]
                .zones
                .window_open(&self.settings.window, now.at);
            if open == self.groups[g].open {
                continue;
            }
            self.groups[g].open = open;
            if self.predictive() {
                continue;
            }
            if open {
                let waiting: Vec<ContactId> = self.groups[g].waiting.drain(..).collect();
                let waiting = waiting
                    .into_iter()
                    .filter(|c| {
                        self.contacts
                            .get(c)
                            .is_some_and(|s| s.place == Place::Waiting)
                    })
                    .collect();
                self.enter(waiting, false);
            }
        }
        if self.groups.iter().any(|g| g.open) {
            self.wanted = true;
        }
    }

    fn release_due(&mut self, now: Now) {
        let now_ms = now.at.timestamp_millis();
        for g in 0..self.groups.len() {
            let mut due = Vec::new();
            while let Some(Reverse((t, c))) = self.groups[g].pending.peek().copied() {
                if t > now_ms {
                    break;
                }
                self.groups[g].pending.pop();
                let current = self.contacts.get(&c).is_some_and(|s| {
                    s.place == Place::Pending && s.attempts.next_due.timestamp_millis() == t
                });
                if current {
                    due.push(c);
                }
            }
            if !due.is_empty() {
                self.wanted = true;
                self.enter(due, false);
            }
        }
    }

    fn detect_inactivity(&mut self, now: Now) {
        let timeout = i64::from(self.settings.inactivity_timeout_seconds) * 1000;
        let silent: Vec<UserId> = self
            .agents
            .iter()
            .filter(|(_, a)| a.ready && now.mono - a.last_seen >= timeout)
            .map(|(u, _)| *u)
            .collect();
        for a in silent {
            self.leave(a, Leave::Inactive, now);
            self.out.push(Command::AgentInactive { agent: a });
        }
    }

    // ---- agents -----------------------------------------------------------------------------

    fn agent_slot(&mut self, agent: UserId, now: Now) -> &mut AgentSlot {
        self.agents.entry(agent).or_insert_with(|| AgentSlot {
            ready: false,
            elsewhere: false,
            activity: Activity::Idle,
            idle_since: now.at,
            last_seen: now.mono,
            calls_today: (local_date(chrono_tz::UTC, now.at), 0),
        })
    }

    /// Agents became ready for the campaign (and are heard from now): they take their equal
    /// share of the due contacts.
    pub fn agents_ready(
        &mut self,
        now: Now,
        agents: impl IntoIterator<Item = UserId>,
    ) -> Vec<Command> {
        let mut joined = Vec::new();
        if self.stopped {
            return Vec::new();
        }
        for a in agents {
            let slot = self.agent_slot(a, now);
            slot.last_seen = now.mono;
            if slot.ready {
                continue;
            }
            slot.ready = true;
            if slot.activity == Activity::Idle {
                slot.idle_since = now.at;
            }
            joined.push(a);
        }
        if !joined.is_empty() {
            self.wanted = true;
            if !self.predictive() {
                let moves = self.dist.add_agents(joined);
                self.apply(&moves, false);
            }
        }
        self.take()
    }

    /// The agent's desktop was heard from at `seen` (a heartbeat).
    pub fn agent_seen(&mut self, agent: UserId, seen: Mono) {
        if let Some(a) = self.agents.get_mut(&agent) {
            a.last_seen = a.last_seen.max(seen);
        }
    }

    /// The agent is busy with another campaign (or not): it is offered nothing here meanwhile.
    pub fn set_elsewhere(&mut self, agent: UserId, busy: bool) {
        if let Some(a) = self.agents.get_mut(&agent) {
            if a.elsewhere && !busy {
                self.wanted = true;
            }
            a.elsewhere = busy;
        }
    }

    /// The agent stopped being ready (offline, standby, unassigned): its contacts not yet called
    /// go equally to the others. A call in hand is finished normally.
    pub fn agent_left(&mut self, now: Now, agent: UserId) -> Vec<Command> {
        self.leave(agent, Leave::Offline, now);
        self.take()
    }

    /// Work offered to the agent could not reach it (its browser is gone): it stops being
    /// offered calls at once, its contacts go to the others, and the offer is taken back — a
    /// preview returns to the others, a dial asked for it is not placed, a call being bridged
    /// to it goes to another agent or waits.
    pub fn agent_unreachable(&mut self, now: Now, agent: UserId) -> Vec<Command> {
        self.leave(agent, Leave::Unreachable, now);
        self.take()
    }

    fn leave(&mut self, agent: UserId, why: Leave, now: Now) {
        let Some(slot) = self.agents.get_mut(&agent) else {
            return;
        };
        let was_ready = slot.ready;
        slot.ready = false;
        let activity = slot.activity;
        let redistributed = why != Leave::Offline;
        if was_ready {
            let moves = self.dist.remove_agent(agent);
            self.apply(&moves, redistributed);
        }
        match activity {
            Activity::Previewing { contact, .. } => {
                self.set_idle(agent, now);
                self.out.push(Command::PreviewWithdrawn { agent, contact });
                self.enter(vec![contact], true);
            }
            Activity::Dialling { contact } if why == Leave::Unreachable => {
                self.set_idle(agent, now);
                if let Some((_, before)) = self.dialling.remove(&contact) {
                    if let Some(s) = self.contacts.get_mut(&contact) {
                        s.attempts = before;
                    }
                    self.enter(vec![contact], true);
                }
                self.wanted = true;
            }
            Activity::Connecting { call } if why == Leave::Unreachable => {
                self.set_idle(agent, now);
                if let Some(c) = self.calls.get_mut(&call) {
                    c.agent = None;
                    if let Phase::Connecting { answered, .. } = c.phase {
                        self.place_human(call, answered, now);
                    }
                }
            }
            _ => {}
        }
    }

    fn set_idle(&mut self, agent: UserId, now: Now) {
        if let Some(a) = self.agents.get_mut(&agent) {
            a.activity = Activity::Idle;
            a.idle_since = now.at;
        }
    }

    /// The agent's work is done: it is idle and may be offered the next call.
    fn free_agent(&mut self, agent: UserId, call: Option<CallId>, now: Now) {
        self.set_idle(agent, now);
        self.wanted = true;
        self.out.push(Command::AgentFree { agent, call });
    }

    // ---- dialing ----------------------------------------------------------------------------

    /// Graces and wrap-up limits that ran out, then the dialing decisions of the campaign's mode.
    /// `cps` is the client's calls-per-second limiter (shared by its campaigns).
    pub fn poll(&mut self, now: Now, cps: &mut CpsLimiter) -> Vec<Command> {
        self.wanted = false;
        if self.cps_wake.is_some_and(|w| w <= now.mono) {
            self.cps_wake = None;
        }
        self.expire(now);
        self.serve_waiting(now);
        if self.stopped {
            return self.take();
        }
        if self.predictive() {
            self.pace(now, cps);
        } else {
            self.dial_for_agents(now, cps);
        }
        self.take()
    }

    fn cps_free(&mut self, now: Now, cps: &CpsLimiter) -> bool {
        let slot = cps.next_slot(now.mono);
        if slot > now.mono {
            self.cps_wake = Some(self.cps_wake.map_or(slot, |w| w.min(slot)));
            return false;
        }
        true
    }

    /// Right before a dial: the compliance checks, the calls-per-second slot, the attempt.
    fn dial(
        &mut self,
        now: Now,
        c: ContactId,
        agent: Option<UserId>,
        cps: &mut CpsLimiter,
    ) -> bool {
        let Some(s) = self.contacts.get(&c) else {
            return false;
        };
        let g = s.group as usize;
        let check = DialCheck {
            contact: &s.attempts,
            on_dnc: false, // the adapter looks DNC up right before placing the call
            window_open: self.groups[g]
                .zones
                .window_open(&self.settings.window, now.at),
            max_attempts: self.settings.max_attempts,
            now: now.at,
        };
        match check_dial(check) {
            Ok(()) => {}
            Err(DialRefusal::OutsideWindow) => {
                self.contacts.get_mut(&c).expect("slot").place = Place::Waiting;
                self.groups[g].waiting.push_back(c);
                return false;
            }
            Err(_) => {
                self.contacts.remove(&c);
                return false;
            }
        }
        if !cps.try_acquire(now.mono) {
            self.enter(vec![c], false);
            return false;
        }
        let max = self.settings.max_attempts;
        let s = self.contacts.get_mut(&c).expect("slot");
        let before = s.attempts.clone();
        if s.attempts.start(now.at, s.tz, max).is_err() {
            return false;
        }
        s.place = Place::Dialling;
        self.dialling.insert(c, (agent, before));
        if let Some(a) = agent {
            if let Some(slot) = self.agents.get_mut(&a) {
                slot.activity = Activity::Dialling { contact: c };
            }
        }
        self.out.push(Command::Dial { contact: c, agent });
        true
    }

    fn available(&self, a: &AgentSlot) -> bool {
        a.ready && !a.elsewhere
    }

    /// Preview/progressive: each ready agent asking for work gets its next held contact; a
    /// clicked preview is dialled.
    fn dial_for_agents(&mut self, now: Now, cps: &mut CpsLimiter) {
        let mut idle: Vec<(DateTime<Utc>, UserId)> = self
            .agents
            .iter()
            .filter(|(_, a)| self.available(a))
            .filter_map(|(u, a)| match a.activity {
                Activity::Idle => Some((a.idle_since, *u)),
                Activity::Previewing { clicked: true, .. } => Some((DateTime::<Utc>::MIN_UTC, *u)),
                _ => None,
            })
            .collect();
        idle.sort_unstable();
        let preview = self.settings.dial_mode == DialMode::Preview;
        for (_, a) in idle {
            if let Some(Activity::Previewing {
                contact,
                clicked: true,
            }) = self.activity(a)
            {
                if !self.cps_free(now, cps) {
                    return;
                }
                if !self.dial(now, contact, Some(a), cps) {
                    self.free_agent(a, None, now);
                }
                continue;
            }
            if !preview && !self.cps_free(now, cps) {
                return;
            }
            self.next_contact_for(a, preview, now, cps);
        }
    }

    /// The agent's next held contact whose window is open: offered (preview) or dialled.
    fn next_contact_for(&mut self, a: UserId, preview: bool, now: Now, cps: &mut CpsLimiter) {
        loop {
            let (groups, contacts) = (&self.groups, &self.contacts);
            let taken = self.dist.take_next(a, |c| {
                contacts
                    .get(&c)
                    .is_some_and(|s| groups[s.group as usize].open)
            });
            let Some((c, moves)) = taken else {
                return;
            };
            if let Some(s) = self.contacts.get_mut(&c) {
                s.place = Place::Previewed;
                self.groups[s.group as usize].held -= 1;
            }
            self.out.push(Command::Hold {
                contact: c,
                from: Some(a),
                to: None,
                redistributed: false,
            });
            self.apply(&moves, false);
            if preview {
                if let Some(slot) = self.agents.get_mut(&a) {
                    slot.activity = Activity::Previewing {
                        contact: c,
                        clicked: false,
                    };
                }
                self.out.push(Command::Preview {
                    agent: a,
                    contact: c,
                });
                return;
            }
            if self.dial(now, c, Some(a), cps) {
                return;
            }
        }
    }

    /// Predictive: the pacer says how many lines to add; contacts come from the open groups.
    fn pace(&mut self, now: Now, cps: &mut CpsLimiter) {
        let activity: Vec<AgentActivity> = self
            .agents
            .values()
            .filter(|a| self.available(a))
            .filter_map(|a| match a.activity {
                Activity::Idle => Some(AgentActivity::Idle),
                Activity::OnCall { since, .. } => Some(AgentActivity::OnCall { since }),
                Activity::Connecting { .. } => Some(AgentActivity::OnCall { since: now.at }),
                Activity::WrapUp { until_at, .. } => {
                    Some(AgentActivity::WrapUp { until: until_at })
                }
                _ => None,
            })
            .collect();
        let (lines_in_flight, humans_waiting) = self.lines();
        let input = PacingInput {
            agents: &activity,
            lines_in_flight,
            humans_waiting,
            now: now.at,
        };
        let mut lines = self.pacer.decide(&self.stats, input).new_lines;
        while lines > 0 && self.cps_free(now, cps) {
            let Some(c) = self.next_pool_contact() else {
                return;
            };
            if self.dial(now, c, None, cps) {
                lines -= 1;
            }
        }
    }

    /// The next due contact of an open group, taking groups in turn (longest queue first).
    fn next_pool_contact(&mut self) -> Option<ContactId> {
        loop {
            let g = (0..self.groups.len())
                .filter(|g| self.groups[*g].open && !self.groups[*g].waiting.is_empty())
                .max_by_key(|g| (self.groups[*g].waiting.len(), Reverse(*g)))?;
            let c = self.groups[g].waiting.pop_front()?;
            if self
                .contacts
                .get(&c)
                .is_some_and(|s| s.place == Place::Waiting)
            {
                return Some(c);
            }
        }
    }

    /// The adapter placed the dial asked for `contact`: it is call `call` now, ringing.
    pub fn dialled(&mut self, now: Now, contact: ContactId, call: CallId) -> Vec<Command> {
        let Some((agent, _)) = self.dialling.remove(&contact) else {
            return Vec::new();
        };
        if let Some(s) = self.contacts.get_mut(&contact) {
            s.place = Place::Calling(call);
        }
        self.calls.insert(
            call,
            CallSlot {
                contact,
                agent,
                phase: Phase::Ringing,
                dialled: now.mono,
                disposed: false,
            },
        );
        self.ringing += 1;
        if let Some(a) = agent {
            if let Some(slot) = self.agents.get_mut(&a) {
                if slot.activity == (Activity::Dialling { contact }) {
                    slot.activity = Activity::Reserved { call };
                }
            }
        }
        self.take()
    }

    /// The dial asked for `contact` did not happen. On DNC the contact stops being due; otherwise
    /// the attempt is given back and the contact forgotten until it is added again.
    pub fn dial_refused(&mut self, now: Now, contact: ContactId, why: Refusal) -> Vec<Command> {
        let Some((agent, before)) = self.dialling.remove(&contact) else {
            return Vec::new();
        };
        if let Some(mut s) = self.contacts.remove(&contact) {
            if why == Refusal::OnDnc {
                s.attempts = before;
                s.attempts.mark_dnc();
            }
        }
        if let Some(a) = agent {
            if self.activity(a) == Some(Activity::Dialling { contact }) {
                self.free_agent(a, None, now);
            }
        }
        self.wanted = true;
        self.take()
    }

    // ---- agents' requests -------------------------------------------------------------------

    /// The previewing agent clicks Call: the contact is dialled at the next poll (at once when
    /// the calls-per-second limit allows).
    pub fn preview_call(&mut self, agent: UserId) -> Result<ContactId, DriverError> {
        let slot = self.agents.get_mut(&agent).ok_or(DriverError::NoPreview)?;
        let Activity::Previewing { contact, .. } = slot.activity else {
            return Err(DriverError::NoPreview);
        };
        slot.activity = Activity::Previewing {
            contact,
            clicked: true,
        };
        self.wanted = true;
        Ok(contact)
    }

    /// The previewing agent skips: the contact goes back to the others, the agent is free.
    pub fn preview_skip(&mut self, now: Now, agent: UserId) -> Result<Vec<Command>, DriverError> {
        let Some(Activity::Previewing { contact, .. }) = self.activity(agent) else {
            return Err(DriverError::NoPreview);
        };
        self.free_agent(agent, None, now);
        self.enter(vec![contact], false);
        Ok(self.take())
    }

    /// A disposition for `call`: its effect on the contact's attempts now; the agent is free at
    /// once when in wrap-up, or when the call (hung up now) ends.
    pub fn disposed(
        &mut self,
        now: Now,
        call: CallId,
        disposition: Disposition,
    ) -> Result<Vec<Command>, DriverError> {
        if let Some(c) = self.calls.get_mut(&call) {
            if !matches!(c.phase, Phase::Connected { .. }) || c.disposed {
                return Err(DriverError::NotConnected);
            }
            c.disposed = true;
            let contact = c.contact;
            self.complete(now, call, contact, disposition);
            self.out.push(Command::HangUp { call });
            return Ok(self.take());
        }
        let wrapping = self.agents.iter().find_map(|(u, a)| match a.activity {
            Activity::WrapUp {
                call: c, contact, ..
            } if c == call => Some((*u, contact)),
            _ => None,
        });
        let Some((agent, contact)) = wrapping else {
            return Err(DriverError::UnknownCall);
        };
        self.complete(now, call, contact, disposition);
        self.free_agent(agent, Some(call), now);
        Ok(self.take())
    }

    /// The attempt on `contact` ends with `disposition`; a contact still due waits for its next
    /// cycle.
    fn complete(&mut self, now: Now, call: CallId, contact: ContactId, disposition: Disposition) {
        let Some(s) = self.contacts.get_mut(&contact) else {
            return;
        };
        if s.place != Place::Calling(call) {
            return;
        }
        s.attempts
            .complete(&disposition, &self.settings, s.tz, now.at);
        let attempts = s.attempts.clone();
        if attempts.status == ContactStatus::Active
            && attempts.attempts < self.settings.max_attempts
        {
            s.place = Place::Pending;
            let g = s.group as usize;
            self.groups[g]
                .pending
                .push(Reverse((attempts.next_due.timestamp_millis(), contact)));
        } else {
            self.contacts.remove(&contact);
        }
        self.out.push(Command::Completed {
            call,
            contact,
            disposition,
            attempts,
        });
    }

    // ---- the network's answers --------------------------------------------------------------

    /// The line was answered (`by` as far as known).
    pub fn answered(&mut self, now: Now, call: CallId, by: Answer) -> Vec<Command> {
        let Some(c) = self.calls.get_mut(&call) else {
            return Vec::new();
        };
        let first = match c.phase {
            Phase::Ringing => true,
            Phase::Detecting => false,
            _ => return Vec::new(), // a repeated event
        };
        if first && by == Answer::Unknown && self.settings.amd {
            c.phase = Phase::Detecting;
            self.out.push(Command::Detecting { call });
            return self.take();
        }
        self.verdict(now, call, by != Answer::Machine);
        self.take()
    }

    /// Who answered is known: a person reaches an agent, a machine never does.
    fn verdict(&mut self, now: Now, call: CallId, human: bool) {
        let ring = (now.mono - self.calls[&call].dialled) as f64 / 1000.0;
        self.ringing -= 1;
        self.stats.record_dial(human, human.then_some(ring));
        self.out.push(Command::Verdict { call, human });
        if human {
            self.place_human(call, now.mono, now);
            return;
        }
        let c = self.calls.get_mut(&call).expect("live call");
        c.phase = Phase::Machine;
        let agent = c.agent.take();
        self.out.push(Command::Machine {
            call,
            hang_up: self.settings.machine_action == MachineAction::HangUp,
        });
        if let Some(a) = agent {
            if self.activity(a) == Some(Activity::Reserved { call }) {
                self.free_agent(a, Some(call), now);
            }
        }
    }

    /// A person answered at `answered`: the call's reserved agent takes it (preview,
    /// progressive), else the free agent with the fewest calls today; with nobody free the
    /// person waits, at most the grace.
    fn place_human(&mut self, call: CallId, answered: Mono, now: Now) {
        let reserved = self.calls[&call].agent;
        let agent = reserved.or_else(|| self.pick_free(now));
        match agent {
            Some(a) => self.connect(call, a, answered),
            None => {
                let c = self.calls.get_mut(&call).expect("live call");
                c.phase = Phase::Waiting { since: answered };
                self.waiting.push_back(call);
                self.out.push(Command::Wait { call });
            }
        }
    }

    /// The ready idle agent with the fewest calls today, then idle longest.
    fn pick_free(&self, now: Now) -> Option<UserId> {
        let today = local_date(chrono_tz::UTC, now.at);
        let loads: Vec<AgentLoad> = self
            .agents
            .iter()
            .filter(|(_, a)| self.available(a) && a.activity == Activity::Idle)
            .map(|(u, a)| AgentLoad {
                agent: *u,
                calls_today: if a.calls_today.0 == today {
                    a.calls_today.1
                } else {
                    0
                },
                idle_since: a.idle_since,
            })
            .collect();
        pick_agent_predictive(&loads)
    }

    fn connect(&mut self, call: CallId, agent: UserId, answered: Mono) {
        let c = self.calls.get_mut(&call).expect("live call");
        c.agent = Some(agent);
        c.phase = Phase::Connecting { agent, answered };
        if let Some(slot) = self.agents.get_mut(&agent) {
            slot.activity = Activity::Connecting { call };
        }
        self.out.push(Command::Connect { call, agent });
    }

    /// People waiting for an agent go to agents who became free.
    fn serve_waiting(&mut self, now: Now) {
        while let Some(&call) = self.waiting.front() {
            let Some(a) = self.pick_free(now) else {
                return;
            };
            self.waiting.pop_front();
            let since = match self.calls[&call].phase {
                Phase::Waiting { since } => since,
                _ => now.mono,
            };
            self.connect(call, a, since);
        }
    }

    /// The agent's leg joined the call.
    pub fn connected(&mut self, now: Now, call: CallId) -> Vec<Command> {
        let Some(c) = self.calls.get_mut(&call) else {
            return Vec::new();
        };
        let Phase::Connecting { agent, .. } = c.phase else {
            return Vec::new();
        };
        c.phase = Phase::Connected { since: now.mono };
        self.stats.record_live_answer(now.at, false);
        let today = local_date(chrono_tz::UTC, now.at);
        if let Some(a) = self.agents.get_mut(&agent) {
            a.activity = Activity::OnCall {
                call,
                since: now.at,
            };
            if a.calls_today.0 != today {
                a.calls_today = (today, 0);
            }
            a.calls_today.1 += 1;
        }
        self.take()
    }

    /// The machine's greeting ended (the beep): leave the message, by campaign setting.
    pub fn beep(&mut self, now: Now, call: CallId) -> Vec<Command> {
        if self.phase(call) == Some(Phase::Detecting) {
            self.verdict(now, call, false); // the beep is the verdict
        }
        let leave = self.settings.machine_action == MachineAction::LeaveMessage;
        if let Some(c) = self.calls.get_mut(&call) {
            if c.phase == Phase::Machine && leave {
                c.phase = Phase::Message { machine: true };
                self.out.push(Command::LeaveMessage { call });
            }
        }
        self.take()
    }

    /// Graces and wrap-up limits that ran out.
    fn expire(&mut self, now: Now) {
        while let Some(&call) = self.waiting.front() {
            let Phase::Waiting { since } = self.calls[&call].phase else {
                self.waiting.pop_front();
                continue;
            };
            if now.mono - since < ABANDON_GRACE_MS {
                break;
            }
            self.waiting.pop_front();
            self.calls.get_mut(&call).expect("live call").phase = Phase::Message { machine: false };
            self.stats.record_live_answer(now.at, true);
            self.out.push(Command::Abandoned {
                call,
                play_message: true,
            });
        }
        let expired: Vec<(UserId, CallId)> = self
            .agents
            .iter()
            .filter_map(|(u, a)| match a.activity {
                Activity::WrapUp { call, until, .. } if now.mono > until => Some((*u, call)),
                _ => None,
            })
            .collect();
        for (agent, call) in expired {
            let auto = Disposition {
                name: "wrap_up_limit".into(),
                effect: DispositionEffect::Retry,
            };
            let _ = self.disposed(now, call, auto).map(|c| self.out.extend(c));
            if self.activity(agent) != Some(Activity::Idle) {
                self.free_agent(agent, Some(call), now);
            }
        }
    }

    /// The agent on `call` dropped the voicemail message (DESIGN §2.3): the agent is free at
    /// once, and the call stays up without them until the message has played and the line ends.
    pub fn voicemail_dropped(
        &mut self,
        now: Now,
        call: CallId,
    ) -> Result<Vec<Command>, DriverError> {
        let Some(c) = self.calls.get_mut(&call) else {
            return Err(DriverError::NotConnected);
        };
        let (Phase::Connected { since }, Some(agent)) = (c.phase, c.agent) else {
            return Err(DriverError::NotConnected);
        };
        c.phase = Phase::Dropped;
        c.agent = None;
        self.stats.record_talk((now.mono - since) as f64 / 1000.0);
        self.free_agent(agent, Some(call), now);
        Ok(self.take())
    }

    /// The line ended.
    pub fn ended(&mut self, now: Now, call: CallId, end: LineEnd) -> Vec<Command> {
        let Some(c) = self.calls.remove(&call) else {
            return Vec::new(); // repeated
        };
        let outcome = match c.phase {
            Phase::Connected { .. } => CallOutcome::Completed,
            Phase::Waiting { .. }
            | Phase::Connecting { .. }
            | Phase::Detecting
            | Phase::Message { machine: false } => CallOutcome::AbandonedNoAgent,
            Phase::Machine | Phase::Message { machine: true } => CallOutcome::Machine,
            Phase::Dropped => CallOutcome::VoicemailDropped,
            Phase::Ringing => match end {
                LineEnd::Busy => CallOutcome::Busy,
                LineEnd::NoAnswer | LineEnd::Completed => CallOutcome::NoAnswer,
                LineEnd::Failed => CallOutcome::Failed,
            },
        };
        match c.phase {
            Phase::Ringing => {
                self.ringing -= 1;
                self.stats.record_dial(false, None);
            }
            Phase::Detecting => self.ringing -= 1,
            Phase::Waiting { .. } | Phase::Connecting { .. } => {
                // The person hung up before an agent came: an abandoned live answer.
                self.waiting.retain(|w| *w != call);
                self.stats.record_live_answer(now.at, true);
                self.out.push(Command::Abandoned {
                    call,
                    play_message: false,
                });
            }
            Phase::Connected { since } => {
                self.stats.record_talk((now.mono - since) as f64 / 1000.0)
            }
            _ => {}
        }
        self.out.push(Command::Ended {
            call,
            contact: c.contact,
            outcome,
            agent: c.agent,
        });
        match (c.phase, c.agent) {
            (Phase::Connected { .. }, Some(a)) if !c.disposed => {
                let until = now.mono + i64::from(self.settings.wrap_up_seconds) * 1000;
                let until_at = now.at + Duration::seconds(i64::from(self.settings.wrap_up_seconds));
                if let Some(slot) = self.agents.get_mut(&a) {
                    slot.activity = Activity::WrapUp {
                        call,
                        contact: c.contact,
                        until,
                        until_at,
                    };
                }
                self.out.push(Command::WrapUp {
                    agent: a,
                    call,
                    until,
                });
            }
            (Phase::Connected { .. }, agent) => {
                if let Some(a) = agent {
                    self.free_agent(a, Some(call), now);
                }
            }
            (_, agent) => {
                self.complete(now, call, c.contact, system(outcome));
                if let Some(a) = agent {
                    let busy_with_it = matches!(
                        self.activity(a),
                        Some(Activity::Reserved { call: x } | Activity::Connecting { call: x }) if x == call
                    );
                    if busy_with_it {
                        self.free_agent(a, Some(call), now);
                    }
                }
            }
        }
        self.take()
    }

    fn take(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::RetryAfter;

    fn t0() -> DateTime<Utc> {
        "2026-03-02T15:00:00Z".parse().unwrap() // 10:00 in New York
    }

    fn at(secs: i64) -> Now {
        Now {
            at: t0() + Duration::seconds(secs),
            mono: secs * 1000,
        }
    }

    fn contact(id: i64) -> DueContact {
        DueContact {
            id: ContactId(id),
            attempts: ContactAttempts::new(t0()),
            zones: TimeZoneSource::Contact(chrono_tz::America::New_York),
            tz: chrono_tz::America::New_York,
        }
    }

    fn driver(mode: DialMode) -> Driver {
        Driver::new(CampaignSettings {
            dial_mode: mode,
            retry_after: RetryAfter::Hours(1),
            calls_per_second: 100.0,
            ..Default::default()
        })
    }

    fn dials(cmds: &[Command]) -> Vec<(ContactId, Option<UserId>)> {
        cmds.iter()
            .filter_map(|c| match c {
                Command::Dial { contact, agent } => Some((*contact, *agent)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn progressive_dials_one_line_per_ready_agent_and_never_abandons() {
        let mut d = driver(DialMode::Progressive);
        let mut cps = CpsLimiter::new(100.0);
        d.add_contacts(at(0), (0..6).map(contact));
        d.agents_ready(at(0), [UserId(1), UserId(2)]);
        // Calls per second: one dial now, the next one a slot later.
        let mut placed = dials(&d.poll(at(0), &mut cps));
        assert_eq!(placed.len(), 1);
        assert_eq!(d.next_deadline(), Some(10));
        placed.extend(dials(&d.poll(at(1), &mut cps)));
        assert_eq!(placed.len(), 2);
        for (i, (c, a)) in placed.iter().enumerate() {
            assert!(a.is_some());
            d.dialled(at(0), *c, CallId(i as i64));
        }
        // Agent 2's line is answered by a person: it goes to agent 2 and nobody else.
        let agent = placed[1].1.unwrap();
        let cmds = d.answered(at(8), CallId(1), Answer::Human);
        assert_eq!(
            cmds,
            vec![
                Command::Verdict {
                    call: CallId(1),
                    human: true
                },
                Command::Connect {
                    call: CallId(1),
                    agent
                }
            ]
        );
        d.connected(at(8), CallId(1));
        assert!(dials(&d.poll(at(8), &mut cps)).is_empty(), "no second line");
        let cmds = d.ended(at(60), CallId(1), LineEnd::Completed);
        assert!(cmds.iter().any(|c| matches!(c, Command::WrapUp { .. })));
        let cmds = d
            .disposed(
                at(70),
                CallId(1),
                Disposition {
                    name: "sale".into(),
                    effect: DispositionEffect::Final,
                },
            )
            .unwrap();
        assert!(cmds.iter().any(|c| matches!(c,
            Command::Completed { attempts, .. } if attempts.status == ContactStatus::Completed)));
        assert_eq!(
            dials(&d.poll(at(70), &mut cps)).len(),
            1,
            "the agent's next contact"
        );
    }

    #[test]
    fn an_agent_gone_silent_loses_its_contacts_to_the_others() {
        let mut d = driver(DialMode::Preview);
        d.add_contacts(at(0), (0..10).map(contact));
        d.agents_ready(at(0), [UserId(1), UserId(2)]);
        let held = d.held_by(UserId(1)).len();
        assert_eq!(held, 5);
        d.agent_seen(UserId(2), 299_000);
        let cmds = d.tick(at(300));
        assert!(cmds.contains(&Command::AgentInactive { agent: UserId(1) }));
        let moved = cmds
            .iter()
            .filter(|c| {
                matches!(
                    c,
                    Command::Hold {
                        to: Some(UserId(2)),
                        redistributed: true,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(moved, held);
        assert_eq!(d.held_by(UserId(1)).len(), 0);
        assert_eq!(d.held_by(UserId(2)).len(), 10);
    }

    #[test]
    fn an_abandoned_call_plays_the_identification_message_at_the_grace() {
        let mut d = driver(DialMode::Predictive);
        let mut cps = CpsLimiter::new(100.0);
        d.add_contacts(at(0), (0..3).map(contact));
        d.agents_ready(at(0), [UserId(1)]);
        let placed = dials(&d.poll(at(0), &mut cps));
        assert_eq!(placed, vec![(ContactId(0), None)]);
        d.dialled(at(0), ContactId(0), CallId(7));
        // The agent leaves while the line rings; the person who answers waits.
        d.agent_left(at(1), UserId(1));
        let cmds = d.answered(at(5), CallId(7), Answer::Human);
        assert_eq!(cmds.last(), Some(&Command::Wait { call: CallId(7) }));
        assert_eq!(d.next_deadline(), Some(7_000));
        assert!(d.poll(at(6), &mut cps).is_empty());
        let cmds = d.poll(at(7), &mut cps);
        assert!(cmds.contains(&Command::Abandoned {
            call: CallId(7),
            play_message: true
        }));
        let cmds = d.ended(at(20), CallId(7), LineEnd::Completed);
        assert!(cmds.iter().any(|c| matches!(
            c,
            Command::Ended {
                outcome: CallOutcome::AbandonedNoAgent,
                ..
            }
        )));
        assert!(d.stats().life_rate() > 0.99);
    }

    #[test]
    fn a_machine_never_reaches_an_agent() {
        let mut d = driver(DialMode::Progressive);
        let mut cps = CpsLimiter::new(100.0);
        d.add_contacts(at(0), (0..2).map(contact));
        d.agents_ready(at(0), [UserId(1)]);
        let placed = dials(&d.poll(at(0), &mut cps));
        d.dialled(at(0), placed[0].0, CallId(1));
        assert_eq!(
            d.answered(at(4), CallId(1), Answer::Unknown),
            vec![Command::Detecting { call: CallId(1) }]
        );
        let cmds = d.beep(at(9), CallId(1));
        assert!(cmds.contains(&Command::LeaveMessage { call: CallId(1) }));
        assert!(cmds.contains(&Command::AgentFree {
            agent: UserId(1),
            call: Some(CallId(1))
        }));
        assert!(!cmds.iter().any(|c| matches!(c, Command::Connect { .. })));
    }

    #[test]
    fn an_unreachable_agent_gives_its_dial_back() {
        let mut d = driver(DialMode::Progressive);
        let mut cps = CpsLimiter::new(100.0);
        d.add_contacts(at(0), (0..4).map(contact));
        d.agents_ready(at(0), [UserId(1), UserId(2)]);
        let mut placed = dials(&d.poll(at(0), &mut cps));
        placed.extend(dials(&d.poll(at(1), &mut cps)));
        let (c1, _) = *placed.iter().find(|(_, a)| *a == Some(UserId(1))).unwrap();
        let cmds = d.agent_unreachable(at(0), UserId(1));
        assert!(cmds.iter().any(
            |c| matches!(c, Command::Hold { contact, to: Some(UserId(2)), .. } if *contact == c1)
        ));
        assert_eq!(
            d.attempts(c1).unwrap().attempts,
            0,
            "the attempt is given back"
        );
        assert!(!d.is_ready(UserId(1)));
    }
}
