//! The simulator's event log: every fact the engine and the virtual network produced, in time
//! order. The auditor judges the run from this log alone, so it carries what the rules need
//! (zones, DNC changes, dials, answers, connections, messages, holdings, heartbeats) and nothing
//! of the engine's own bookkeeping.

/// Milliseconds since the scenario start.
pub type Ms = i64;

/// One logged fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A contact imported into the campaign, in zone `zone` (index into the scenario's zones).
    Imported {
        contact: u32,
        zone: u16,
    },
    /// The number joined the client's DNC list.
    DncAdded {
        t: Ms,
        contact: u32,
    },
    /// A call was placed; `agent` when dialled for one agent (preview/progressive).
    Dial {
        t: Ms,
        call: u32,
        contact: u32,
        agent: Option<u32>,
        ring_timeout_s: u32,
    },
    /// The call was answered (`human` or machine).
    Answered {
        t: Ms,
        call: u32,
        human: bool,
    },
    /// An agent was bridged in.
    AgentConnected {
        t: Ms,
        call: u32,
        agent: u32,
    },
    /// The identification / voicemail message started playing.
    MessagePlayed {
        t: Ms,
        call: u32,
    },
    /// A live-answered call had no agent in time.
    Abandoned {
        t: Ms,
        call: u32,
    },
    /// The call ended with a detailed outcome.
    Ended {
        t: Ms,
        call: u32,
        outcome: palera_core::campaign::CallOutcome,
    },
    /// An agent now holds a contact (preview/progressive).
    Assigned {
        t: Ms,
        contact: u32,
        agent: u32,
    },
    /// An agent no longer holds a contact (it is being called, or moved, or released).
    Unassigned {
        t: Ms,
        contact: u32,
        agent: u32,
    },
    /// The agent's desktop stopped heartbeating; its last heartbeat was at `last`.
    HeartbeatsStopped {
        t: Ms,
        agent: u32,
        last: Ms,
    },
    HeartbeatsResumed {
        t: Ms,
        agent: u32,
    },
    /// An agent's availability changed (logged when the scenario has inbound calls): `ready` —
    /// logged in and Ready; `busy` — ringing, previewing, on a call or wrapping up.
    AgentState {
        t: Ms,
        agent: u32,
        ready: bool,
        busy: bool,
    },
    /// An inbound call rang at an agent's desktop.
    InboundOffered {
        t: Ms,
        call: u32,
        agent: u32,
    },
}

impl Event {
    pub fn time(&self) -> Ms {
        match *self {
            Event::Imported { .. } => 0,
            Event::DncAdded { t, .. }
            | Event::Dial { t, .. }
            | Event::Answered { t, .. }
            | Event::AgentConnected { t, .. }
            | Event::MessagePlayed { t, .. }
            | Event::Abandoned { t, .. }
            | Event::Ended { t, .. }
            | Event::Assigned { t, .. }
            | Event::Unassigned { t, .. }
            | Event::HeartbeatsStopped { t, .. }
            | Event::HeartbeatsResumed { t, .. }
            | Event::AgentState { t, .. }
            | Event::InboundOffered { t, .. } => t,
        }
    }
}
