//! Contacts, lists, properties and the do-not-call list of a client: the JSON API ([`api`]: CRUD,
//! CSV imports with their progress, exports), the admin pages ([`pages`]) and the `contacts`
//! command line ([`cli`]).

pub mod api;
pub mod cli;
pub mod pages;
pub mod properties;

use crate::app::App;
use axum::Router;

pub fn routes() -> Router<App> {
    api::routes()
        .merge(pages::routes())
        .merge(properties::routes())
}
