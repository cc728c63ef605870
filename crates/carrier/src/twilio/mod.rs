//! The Twilio adapter: everything palera-voice needs to run calls on Twilio Programmable Voice.
//! Pure parts — webhook [`signature`] validation, [`twiml`] building, browser access [`token`]s
//! and [`webhook`] payload parsing — are separate from the I/O parts: the typed REST [`client`]
//! and [`TwilioCarrier`], which implements [`crate::Carrier`] with one conference per call.
//!
//! What the server calls:
//! - webhooks: [`signature::webhook_url`] + [`signature::validate_request`] in the
//!   `TwilioSignature` extractor (403 on `Err`), then [`signature::parse_form`] and the
//!   [`webhook`] parsers with the `call_id` from the query;
//! - browser tokens: [`token::mint`];
//! - per client: [`TwilioCarrier::new`] with a [`TwilioConfig`]; [`TwilioCarrier::rest`] for
//!   recordings, transcription and credential checks ([`RestClient::fetch_account`]);
//! - inbound TwiML: the [`twiml`] builder.

mod carrier;
pub mod client;
pub mod limiter;
pub mod resources;
pub mod signature;
pub mod token;
pub mod twiml;
pub mod webhook;

pub use carrier::{lines_of, TwilioCarrier, TwilioConfig, AGENT_CHANNEL, CONTACT_CHANNEL};
pub use client::{Credentials, RestClient, RestConfig, RetryPolicy};
