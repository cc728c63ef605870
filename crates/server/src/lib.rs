//! The palera-voice server: HTTP API, Twilio webhooks, agent desktops over WebSocket, pages, the
//! background loops, and the command line. `main.rs` only parses arguments and calls [`cli::run`];
//! tests start the server with [`app::serve`] on a listener bound to port 0.

pub mod api;
pub mod app;
pub mod auth;
pub mod carriers;
pub mod cli;
pub mod config;
pub mod demo;
pub mod desktop;
pub mod error;
pub mod pages;
pub mod twilio;

pub use app::{run, serve, App};
