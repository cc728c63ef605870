//! Clients (tenants): their settings, Twilio credentials and phone numbers, over the JSON API
//! ([`api`]) and the admin pages ([`pages`]).

pub mod api;
pub mod pages;

use crate::app::App;
use axum::Router;

pub fn routes() -> Router<App> {
    api::routes().merge(pages::routes())
}
