//! The server's integration tests, in one binary (one link instead of one per file keeps CI
//! fast). Each module is one area; `cargo test -p palera-voice --test suite AREA::` runs one.
//! The shared harness is in `common`.

#[macro_use]
mod common;
mod auth_matrix;
mod browser;
mod campaign_api;
mod campaign_browser;
mod campaign_due;
mod campaign_rules;
mod cli;
mod contacts;
mod desk;
mod desk_bar_browser;
mod desk_browser;
mod desktop_ws;
mod foundation;
mod inbound;
mod inbound_browser;
mod kill;
mod kill_campaign;
mod recordings;
mod recordings_browser;
mod recordings_e2e;
mod recordings_storage;
mod reports;
mod reports_browser;
mod scripts;
mod scripts_browser;
mod soak;
mod softphone_browser;
mod softphone_page;
mod tenant_scope;
mod twilio_account;
mod twilio_campaign_e2e;
mod twilio_e2e;
mod twilio_restart;
mod twilio_webhooks;
