//! The simulated carrier: a virtual phone network and the scenario simulator.
//!
//! - [`behaviour`] — what the network does with a dial (who answers, when, for how long),
//!   deterministic from a seed; shared by the discrete-event simulator and a real-time carrier.
//! - [`scenario`] — scenario TOML parsing and [`scenario::run`], the function behind
//!   `palera-voice simulate --scenario FILE --json`: it returns a [`report::Report`] (serialise it
//!   with serde_json for `--json`) or a [`scenario::ScenarioError`] whose `field()` names the bad
//!   key (exit status 2).
//! - `engine` — the discrete-event loop running the core campaign driver (the same
//!   `palera_core::campaign::driver::Driver` the server runs) on a virtual clock.
//! - [`realtime`] — [`realtime::SimCarrier`], the same network in real time behind the `Carrier` trait.
//! - [`recording`] — the conversation the network "hears" on a call and the dual-channel WAV
//!   made from it (recordings and transcripts in demo mode).
//! - [`log`] and [`audit`] — the event log and the independent auditor that fills `violations`.

pub mod audit;
pub mod behaviour;
mod engine;
pub mod log;
pub mod realtime;
pub mod recording;
pub mod report;
pub mod scenario;

pub use engine::simulate;
pub use report::Report;
pub use scenario::{run, Scenario, ScenarioError};
