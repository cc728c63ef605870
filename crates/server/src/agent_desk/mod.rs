//! The agent's own desk (issue 20): the callbacks they promised, read in the contact's local
//! time and labelled with its zone (`GET /api/v1/me/callbacks`), today's own figures (`GET
//! /api/v1/me/today`), and what wrap-up needs to set a callback (`GET
//! /api/v1/calls/{id}/wrap-up`: the contact's zone and the calling window). A callback time typed
//! in the contact's local time is turned into an instant here and checked against the calling
//! window (the campaign's, or the manual-call window) before the disposition reaches the engine.

pub mod api;
pub mod callback;

use crate::app::App;
use axum::Router;

pub fn routes() -> Router<App> {
    api::routes()
}
