//! The recording pages: a call's recording — its status (fetching, stored, failed and why), the
//! player with the transcript beside it (the line being played is highlighted; clicking a line
//! plays from there), the pauses marked on its timeline — and search across a client's
//! transcripts (a word or phrase → the calls with the matching line). Scoped as the API is:
//! another client's call is 404, agents see only the calls they took.

use super::api::{recording_view, search_hits, visible_call, RecordingView};
use crate::app::App;
use crate::http::auth::PageAuth;
use crate::http::error::ApiError;
use crate::http::pages::{page_error, render};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use palera_core::ids::{CallId, ClientId};
use palera_store::calls::Call;
use palera_store::clients::Client;
use palera_store::transcripts::SearchHit;
use palera_store::users::User;
use serde::Deserialize;

pub fn routes() -> Router<App> {
    Router::new()
        .route(
            "/clients/{client_id}/calls/{call_id}/recording",
            get(recording_page),
        )
        .route("/clients/{client_id}/transcripts", get(search_page))
        .route(
            "/static/recording.js",
            get(|| async {
                crate::http::pages::javascript(include_str!("../../static/recording.js"))
            }),
        )
}

/// `m:ss` of milliseconds.
pub fn clock(ms: u64) -> String {
    let s = ms / 1000;
    format!("{}:{:02}", s / 60, s % 60)
}

#[derive(Template)]
#[template(path = "recording.html")]
struct RecordingPage {
    me: User,
    csrf: String,
    client: Client,
    call: Call,
    view: Option<RecordingView>,
}

impl RecordingPage {
    fn clock(&self, ms: &u64) -> String {
        clock(*ms)
    }
    fn seconds(&self, ms: &u64) -> String {
        seconds(*ms)
    }
}

/// Seconds of milliseconds, for the player's `currentTime`.
pub fn seconds(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

async fn recording_page(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path((client_id, call_id)): Path<(i64, i64)>,
) -> Response {
    let loaded = async {
        let client = ClientId(client_id);
        auth.check_client(client)?;
        let call = visible_call(&app, &auth, client, CallId(call_id)).await?;
        let view = match recording_view(&app, &call).await {
            Ok(v) => Some(v),
            Err(e) if e.status == StatusCode::NOT_FOUND => None,
            Err(e) => return Err(e),
        };
        Ok::<_, ApiError>((app.store.client(client).await?, call, view))
    }
    .await;
    match loaded {
        Ok((client, call, view)) => render(
            &RecordingPage {
                me: auth.user,
                csrf: auth.csrf,
                client,
                call,
                view,
            },
            StatusCode::OK,
        ),
        Err(e) => page_error(e),
    }
}

#[derive(Debug, Default, Deserialize)]
struct SearchForm {
    #[serde(default)]
    q: String,
}

#[derive(Template)]
#[template(path = "transcripts.html")]
struct SearchPage {
    me: User,
    csrf: String,
    client: Client,
    q: String,
    error: Option<String>,
    hits: Vec<SearchHit>,
}

impl SearchPage {
    fn clock(&self, ms: &u64) -> String {
        clock(*ms)
    }
    fn when(&self, ms: &i64) -> String {
        chrono::DateTime::from_timestamp_millis(*ms)
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default()
    }
}

async fn search_page(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path(client_id): Path<i64>,
    Query(f): Query<SearchForm>,
) -> Response {
    let client = ClientId(client_id);
    let loaded = async {
        auth.check_client(client)?;
        app.store.client(client).await.map_err(ApiError::from)
    }
    .await;
    let c = match loaded {
        Ok(c) => c,
        Err(e) => return page_error(e),
    };
    let (hits, error) = if f.q.trim().is_empty() {
        (Vec::new(), None)
    } else {
        match search_hits(&app, &auth, client, &f.q, Some(50)).await {
            Ok(h) => (h, None),
            Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => (Vec::new(), Some(e.message)),
            Err(e) => return page_error(e),
        }
    };
    render(
        &SearchPage {
            me: auth.user,
            csrf: auth.csrf,
            client: c,
            q: f.q,
            error,
            hits,
        },
        StatusCode::OK,
    )
}
