//! The palera-voice server: HTTP API, Twilio webhooks, agent desktops over WebSocket, pages, the
//! background loops, and the command line. `main.rs` only parses arguments and calls [`cli::run`];
//! tests start the server with [`app::serve`] on a listener bound to port 0.

pub mod agent_desk;
pub mod api;
pub mod app;
pub mod auth;
pub mod calls_api;
pub mod campaigns_api;
pub mod campaigns_pages;
pub mod carriers;
pub mod cli;
pub mod config;
pub mod contacts_api;
pub mod contacts_cli;
pub mod contacts_pages;
pub mod demo;
pub mod desk_api;
pub mod desk_pages;
pub mod desktop;
pub mod engine;
pub mod error;
pub mod http_headers;
pub mod inbound;
pub mod pages;
pub mod recordings;
pub mod reports;
pub mod scripts;
pub mod softphone;
pub mod twilio;

pub use app::{run, serve, App};
