//! The result of a simulation run, serialised with exactly the keys of
//! `shared/scenarios/README.md` (new keys may be added; none removed or renamed).

use serde::Serialize;

/// Rule breaks counted by the auditor; all must be zero.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Violations {
    pub outside_window: u64,
    pub dnc_dialled: u64,
    pub over_max_attempts: u64,
    pub concurrent_dials_same_contact: u64,
    pub cps_exceeded: u64,
    pub ring_under_15s: u64,
    pub message_after_2s: u64,
    pub contact_held_by_inactive_agent: u64,
    /// Inbound calls offered to an agent who was not Ready, or was busy (DESIGN §2.5).
    pub inbound_offered_to_ineligible_agent: u64,
}

impl Violations {
    pub fn total(&self) -> u64 {
        self.outside_window
            + self.dnc_dialled
            + self.over_max_attempts
            + self.concurrent_dials_same_contact
            + self.cps_exceeded
            + self.ring_under_15s
            + self.message_after_2s
            + self.contact_held_by_inactive_agent
            + self.inbound_offered_to_ineligible_agent
    }
}

/// One simulated agent's totals.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AgentReport {
    pub agent: u32,
    pub calls: u64,
    pub talk_seconds: u64,
    pub contacts_assigned: u64,
}

/// The metrics of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub dials: u64,
    pub answered_human: u64,
    pub answered_machine: u64,
    pub no_answer: u64,
    pub busy: u64,
    pub failed: u64,
    pub connected_to_agent: u64,
    pub abandoned: u64,
    pub abandon_rate_pct: f64,
    pub voicemails_left: u64,
    pub agent_occupancy_pct: f64,
    pub talk_minutes_per_agent_hour: f64,
    pub contacts_total: u64,
    pub contacts_completed: u64,
    pub contacts_exhausted: u64,
    /// Contacts (not on DNC) never dialled during the run.
    pub contacts_not_called: u64,
    pub redistributed_contacts: u64,
    pub violations: Violations,
    /// Inbound figures, when the scenario has inbound calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbound: Option<InboundReport>,
    pub agents: Vec<AgentReport>,
    pub simulated_seconds: u64,
    pub wall_seconds: f64,
}

/// The inbound side of a run (scenarios with an `[inbound]` section).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct InboundReport {
    /// Callers who rang during the run.
    pub calls: u64,
    pub answered: u64,
    /// Answered within 20 s of ringing in, over all calls that ended (service level).
    pub service_level_pct: f64,
    /// Average wait of answered calls, from ringing in to the agent's answer.
    pub average_wait_seconds: f64,
    /// Longest wait of any caller (answered, abandoned or sent to voicemail).
    pub longest_wait_seconds: f64,
    /// Repeat callers answered by the agent they last spoke to, over repeat callers answered.
    pub affinity_hit_rate_pct: f64,
    /// Callers who hung up while waiting (the seed's "Abandoned"; stored as `missed`).
    pub abandoned_in_queue: u64,
    pub voicemails: u64,
}
