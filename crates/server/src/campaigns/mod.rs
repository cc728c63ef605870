//! Outbound campaigns: the JSON API ([`api`]: settings, lists, agents, dispositions, start / pause /
//! stop, audio uploads) and the admin pages ([`pages`]: the list, the editor and the live page).
//! [`idle`] says in words why a campaign places no calls now; [`media`] serves the uploaded audio
//! to the carrier. The dialing itself is the engine's ([`crate::engine`]).

pub mod api;
pub mod idle;
pub mod media;
pub mod pages;

use crate::app::App;
use axum::Router;

pub fn routes() -> Router<App> {
    api::routes().merge(media::routes()).merge(pages::routes())
}
