//! The agent desktop: the page ([`pages`]), its live WebSocket and presence ([`ws`]), the card,
//! notes, fields, conversation and manual calls ([`api`]), call control during a call ([`calls`]),
//! the softphone panel ([`softphone`]), and the agent's own callbacks and today's figures
//! ([`today`], with the callback-time rules in [`callback`]).

pub mod api;
pub mod callback;
pub mod calls;
pub mod pages;
pub mod softphone;
pub mod today;
pub mod ws;

use crate::app::App;
use axum::Router;

pub fn routes() -> Router<App> {
    api::routes()
        .merge(calls::routes())
        .merge(pages::routes())
        .merge(softphone::routes())
        .merge(today::routes())
        .merge(ws::routes())
}
