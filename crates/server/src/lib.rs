//! The palera-voice server: HTTP API, Twilio webhooks, agent desktops over WebSocket, pages, the
//! background loops, and the command line. `main.rs` only parses arguments and calls [`cli::run`];
//! tests start the server with [`app::serve`] on a listener bound to port 0.

pub mod actions;
pub mod app;
pub mod bus;
pub mod campaigns;
pub mod cli;
pub mod clients;
pub mod config;
pub mod contacts;
pub mod desk;
pub mod engine;
pub mod http;
pub mod inbound;
pub mod metrics;
pub mod recordings;
pub mod reports;
pub mod scripts;
pub mod twilio;
pub mod users;

pub use app::{run, serve, App};
