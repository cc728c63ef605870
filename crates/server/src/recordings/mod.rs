//! Recordings and transcripts (issue 13, DESIGN §2.6), one folder: where recording files are
//! kept ([`storage`]: a folder or an S3-compatible bucket; downloads go through links signed with
//! [`crate::http::signed`] for a few minutes), the [`transcriber::Transcriber`] interface with
//! the demo's and Twilio's transcribers, the recording and live transcript of calls in progress
//! as the engine runs them ([`live`]), the background [`worker`] that copies finished
//! recordings from the carrier, makes post-call transcripts and applies each client's retention,
//! and the JSON [`api`] and [`pages`] (player with the transcript beside it, transcript search).

pub mod api;
pub mod live;
pub mod pages;
pub mod storage;
pub mod transcriber;
pub mod worker;

pub use storage::{MediaStore, StorageSettings};
pub use worker::Recordings;

/// The recordings routes.
pub fn routes() -> axum::Router<crate::app::App> {
    axum::Router::new()
        .merge(api::routes())
        .merge(pages::routes())
}
