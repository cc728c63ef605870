//! The server side of Twilio: the signed webhooks of DESIGN §4 ([`signature`] extractor,
//! [`webhooks`] handlers, [`inbound`] TwiML), Voice SDK access tokens for agents
//! ([`voice_token`]), and the client's Twilio account checks and number set-up ([`account`],
//! reached from the [`api`] and the client settings [`pages`]).

pub mod account;
pub mod api;
pub mod inbound;
pub mod pages;
pub mod signature;
pub mod voice_token;
pub mod webhooks;

pub use signature::TwilioWebhook;

use crate::app::App;
use axum::Router;

/// Every Twilio route: webhooks, API and pages.
pub fn routes() -> Router<App> {
    Router::new()
        .merge(webhooks::routes())
        .merge(api::routes())
        .merge(pages::routes())
}
