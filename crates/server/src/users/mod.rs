//! Users: accounts, roles, voice enablement, client assignments and voice states, over the JSON
//! API ([`api`]) and the admin pages ([`pages`]).

pub mod api;
pub mod pages;

use crate::app::App;
use axum::Router;

pub fn routes() -> Router<App> {
    api::routes().merge(pages::routes())
}
