//! The carrier crate's integration tests, in one binary (one link instead of one per file keeps
//! CI fast); `cargo test -p palera-carrier --test suite AREA::` runs one area.

mod common;
mod fuzz;
mod inbound_simulation;
mod scenarios;
mod signature_properties;
mod simulator_properties;
mod twilio_carrier;
mod twilio_contract;
mod twilio_rest;
