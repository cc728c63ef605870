//! Inbound calls (DESIGN §2.5, issue 17), one folder: the client's inbound settings (API and
//! page), the agent's answer to an offer ringing at their desktop, the missed-and-voicemail tray,
//! and the simulated network's callers for the demo. Routing itself is pure
//! (`palera_core::routing`); the engine carries it out (`engine/inbound.rs`).

pub mod api;
pub mod pages;
pub mod sim;

use crate::app::App;
use axum::Router;

pub fn routes() -> Router<App> {
    Router::new().merge(api::routes()).merge(pages::routes())
}
