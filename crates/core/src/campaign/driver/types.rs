//! The driver's vocabulary shared with its adapters (the server's engine and the scenario
//! simulator): the instant of an input, the contacts and network events handed in, the
//! [`Command`]s handed out, and what an agent or a call is doing.

use crate::campaign::attempt::{CallOutcome, ContactAttempts, Disposition};
use crate::campaign::window::TimeZoneSource;
use crate::ids::{CallId, ContactId, UserId};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// Milliseconds on a monotonic clock.
pub type Mono = i64;

/// A live-answered call with no agent within this long is abandoned (DESIGN §2.1): its
/// identification message must have started by then.
pub const ABANDON_GRACE_MS: Mono = 2_000;

/// When the driver gives up waiting for an agent, after the answer: early enough that the
/// carrier request for the message (a loop turn, a REST call) still starts it within
/// [`ABANDON_GRACE_MS`]. Deciding at the full grace made every abandoned message late on a real
/// network (the soak measured 2,001 ms before the carrier was even asked).
pub const ABANDON_DECIDE_MS: Mono = 1_700;

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
