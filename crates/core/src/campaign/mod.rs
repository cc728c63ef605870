//! The outbound campaign engine (DESIGN §2.1, §2.2): settings and their validation, the
//! per-contact attempt state machine and cadence, calling windows in the contact's own time zone,
//! equal distribution of contacts to agents, predictive pacing and the compliance checks made
//! right before each dial. Everything here is pure: `now` is passed in and every decision comes
//! back as data for a driver (the server's engine loop, or the scenario simulator) to carry out.

pub mod attempt;
pub mod compliance;
pub mod distribution;
pub mod driver;
pub mod pacing;
pub mod settings;
pub mod window;

pub use attempt::{
    CallOutcome, ContactAttempts, ContactStatus, CycleStatus, Disposition, DispositionEffect,
    SeedStatus,
};
pub use compliance::{check_dial, CpsLimiter, DialCheck, DialRefusal};
pub use distribution::{pick_agent_predictive, AgentLoad, Distribution, Move};
pub use pacing::{AgentActivity, Pacer, PacingDecision, PacingInput, PacingMode, PacingStats};
pub use settings::{CallingWindow, CampaignSettings, DialMode, MachineAction, RetryAfter};
pub use window::{
    is_open_in_zone, local_date, start_of_local_day, zones_for_number, TimeZoneSource,
};
