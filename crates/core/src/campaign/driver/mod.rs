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
//!
//! One `impl Driver` spans the files of this module, one per concern: this file holds the state
//! and the questions adapters ask; `types` the vocabulary both adapters import; `contacts` the
//! contacts and their calling windows; `agents` the agents; `dialing` the dialing decisions and
//! pacing; `calls` a call from its answer to its disposition; `tests` the behaviour end to end.

use super::attempt::ContactAttempts;
use super::compliance::CpsLimiter;
use super::distribution::Distribution;
use super::pacing::{Pacer, PacingStats};
use super::settings::{CampaignSettings, DialMode};
use super::window::TimeZoneSource;
use crate::ids::{CallId, ContactId, UserId};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};

mod agents;
mod calls;
mod contacts;
mod dialing;
#[cfg(test)]
mod tests;
mod types;

pub use types::{
    Activity, Answer, Command, DriverError, DueContact, Leave, LineEnd, Mono, Now, Phase, Refusal,
    ABANDON_DECIDE_MS, ABANDON_GRACE_MS,
};

/// Where a contact is in the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Not due yet (in its group's `pending`).
    Pending,
    /// Due, waiting in its group's queue (predictive pool, or its window is closed).
    Waiting,
    /// Due, in the distribution (preview, progressive).
    Held,
    /// Shown to an agent in preview mode.
    Previewed,
    /// A dial was asked of the adapter, not yet confirmed.
    Dialling,
    /// Its call is on the line.
    Calling(CallId),
}

/// A contact known to the driver.
#[derive(Debug, Clone)]
struct ContactSlot {
    /// Its calling-window group (index into `Driver::groups`).
    group: u32,
    /// The zone its cadence days are counted in.
    tz: Tz,
    attempts: ContactAttempts,
    place: Place,
}

/// The contacts whose calling window is judged in the same zones.
#[derive(Debug)]
struct Group {
    zones: TimeZoneSource,
    /// Whether their window is open (as of the last tick).
    open: bool,
    /// Contacts not due yet, by due instant (ms since the epoch).
    pending: BinaryHeap<Reverse<(i64, ContactId)>>,
    /// Due contacts queued: the predictive pool, or a closed window.
    waiting: VecDeque<ContactId>,
    /// Contacts of this group in the distribution.
    held: usize,
}

/// An agent known to the campaign.
#[derive(Debug, Clone)]
struct AgentSlot {
    /// Ready for the campaign's calls.
    ready: bool,
    /// Busy with another campaign's call: offered nothing here, holdings kept.
    elsewhere: bool,
    activity: Activity,
    idle_since: DateTime<Utc>,
    /// The last heartbeat from its desktop.
    last_seen: Mono,
    calls_today: DailyCalls,
}

/// An agent's calls of the day (UTC), for giving answered calls to the least-called agent.
#[derive(Debug, Clone, Copy)]
struct DailyCalls {
    day: NaiveDate,
    count: u32,
}

/// A dial asked of the adapter and not yet confirmed.
#[derive(Debug, Clone)]
struct PendingDial {
    /// The agent it is placed for (preview, progressive); `None` in predictive mode.
    agent: Option<UserId>,
    /// The contact's attempts before the dial, restored when it does not happen.
    before: ContactAttempts,
}

/// A call on the line.
#[derive(Debug, Clone)]
struct CallSlot {
    contact: ContactId,
    /// Its reserved or connected agent.
    agent: Option<UserId>,
    phase: Phase,
    dialled_at: Mono,
    /// A disposition was saved while it was up.
    disposed: bool,
}

/// One campaign's driver.
#[derive(Debug)]
pub struct Driver {
    settings: CampaignSettings,
    pacer: Pacer,
    stats: PacingStats,
    distribution: Distribution,
    groups: Vec<Group>,
    /// Each group's index by the zones it stands for.
    group_by_zones: HashMap<TimeZoneSource, u32>,
    contacts: HashMap<ContactId, ContactSlot>,
    agents: BTreeMap<UserId, AgentSlot>,
    calls: BTreeMap<CallId, CallSlot>,
    /// Dials asked for and not yet confirmed.
    dialling: BTreeMap<ContactId, PendingDial>,
    /// Answered calls whose person waits for an agent, first come first.
    waiting: VecDeque<CallId>,
    /// Lines ringing or awaiting the machine verdict.
    ringing: usize,
    /// When the next calls-per-second slot frees a dial that had to wait.
    cps_wake_at: Option<Mono>,
    /// The campaign's own calls-per-second limit, kept inside the client's shared one.
    own_cps: CpsLimiter,
    /// An input made dialing work: the adapter should poll (see [`Driver::wants_poll`]).
    poll_wanted: bool,
    /// The campaign stopped dialing.
    stopped: bool,
    /// Commands decided by the current input, handed out when it returns.
    commands: Vec<Command>,
}

impl Driver {
    pub fn new(settings: CampaignSettings) -> Self {
        Self::with_stats(settings, PacingStats::default())
    }

    /// A driver that starts from what an earlier run learnt.
    pub fn with_stats(settings: CampaignSettings, stats: PacingStats) -> Self {
        let pacer = Pacer {
            abandon_cap: settings.abandon_cap(),
            max_lines_per_agent: settings.max_lines_per_agent,
            wrap_up_seconds: f64::from(settings.wrap_up_seconds),
        };
        let own_cps = CpsLimiter::new(settings.calls_per_second);
        Self {
            settings,
            pacer,
            stats,
            distribution: Distribution::new(),
            groups: Vec::new(),
            group_by_zones: HashMap::new(),
            contacts: HashMap::new(),
            agents: BTreeMap::new(),
            calls: BTreeMap::new(),
            dialling: BTreeMap::new(),
            waiting: VecDeque::new(),
            ringing: 0,
            cps_wake_at: None,
            own_cps,
            poll_wanted: false,
            stopped: false,
            commands: Vec::new(),
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
        self.distribution.holder(contact)
    }

    pub fn held_by(&self, agent: UserId) -> Vec<ContactId> {
        self.distribution.held_by(agent)
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
        self.poll_wanted
    }

    /// The next monotonic instant the driver must be polled at without another input: a grace
    /// or a wrap-up limit running out, or the next calls-per-second slot when dials wait for it.
    pub fn next_deadline(&self) -> Option<Mono> {
        let graces = self
            .waiting
            .iter()
            .filter_map(|c| match self.calls[c].phase {
                Phase::Waiting { since } => Some(since + ABANDON_DECIDE_MS),
                _ => None,
            });
        let wraps = self.agents.values().filter_map(|a| match a.activity {
            Activity::WrapUp { until, .. } => Some(until + 1),
            _ => None,
        });
        graces.chain(wraps).chain(self.cps_wake_at).min()
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

    fn take(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.commands)
    }
}
