//! Reports (DESIGN §2.7, issue 15), one folder: the call log with its streamed CSV export,
//! campaign performance (by day and overall, by list, contacts by seed status in the current
//! cycle), agent activity (one agent or the team), the compliance report per campaign and the
//! live wallboard. `build` turns the store's queries (`palera_store::reports`) into the reports;
//! `api` serves them as JSON (scoped to the user's clients, agents to their own activity),
//! `pages` as server-rendered pages with SVG charts from `svg`, and `wallboard` pushes the
//! wallboard over server-sent events.

pub mod api;
pub mod build;
pub mod pages;
pub mod svg;
pub mod wallboard;

use crate::app::App;
use axum::Router;

pub fn routes() -> Router<App> {
    Router::new()
        .merge(api::routes())
        .merge(pages::routes())
        .merge(wallboard::routes())
}
