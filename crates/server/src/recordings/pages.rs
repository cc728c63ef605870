//! The recording pages: a call's recording — its status (fetching, stored, failed and why), the
//! player with the transcript beside it (the line being played is highlighted; clicking a line
//! plays from there), the pauses marked on its timeline — and search across a client's
//! transcripts (a word or phrase → the calls with the matching line), and the client's
//! recording settings (retention, deleting Twilio's copy) for staff. Scoped as the API is:
//! another client's call is 404, agents see only the calls they took.

use super::api::{recording_view, search_hits, visible_call, RecordingView};
use crate::app::App;
use crate::http::auth::{Auth, PageAuth};
use crate::http::error::ApiError;
use crate::http::pages::{page_error, render, render_loaded};
use crate::http::pages::{FormData, PageForm, StaffPage};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use palera_core::ids::{CallId, ClientId};
use palera_core::recording::{check_intelligence_service, check_retention_days};
use palera_store::calls::Call;
use palera_store::clients::Client;
use palera_store::recordings::RecordingSettings;
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
            "/clients/{client_id}/calls/{call_id}/watch",
            get(watch_page),
        )
        .route(
            "/static/watch.js",
            get(|| async { crate::http::pages::javascript(include_str!("../../static/watch.js")) }),
        )
        .route(
            "/admin/clients/{client_id}/recordings",
            get(settings_page).post(save_settings),
        )
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

/// The client and the call of a call's page (`(client_id, call_id)` of the path), checked as the
/// API checks them: another client's call is 404, and so is a call an agent did not take.
/// `staff_only` refuses agents (403) once the client is known to be theirs.
async fn client_and_call(
    app: &App,
    auth: &Auth,
    (client_id, call_id): (i64, i64),
    staff_only: bool,
) -> Result<(Client, Call), ApiError> {
    let client = ClientId(client_id);
    auth.check_client(client)?;
    if staff_only {
        auth.require_staff()?;
    }
    let call = visible_call(app, auth, client, CallId(call_id)).await?;
    Ok((app.store.client(client).await?, call))
}

async fn recording_page(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path(ids): Path<(i64, i64)>,
) -> Response {
    let loaded = async {
        let (client, call) = client_and_call(&app, &auth, ids, false).await?;
        let view = match recording_view(&app, &call).await {
            Ok(v) => Some(v),
            Err(e) if e.status == StatusCode::NOT_FOUND => None,
            Err(e) => return Err(e),
        };
        Ok::<_, ApiError>((client, call, view))
    }
    .await;
    render_loaded(loaded, StatusCode::OK, |(client, call, view)| {
        RecordingPage {
            me: auth.user,
            csrf: auth.csrf,
            client,
            call,
            view,
        }
    })
}

#[derive(Template)]
#[template(path = "watch.html")]
struct WatchPage {
    me: User,
    csrf: String,
    client: Client,
    call: Call,
    agent: Option<String>,
}

/// A supervisor watches a call in progress: who is on it, and its live transcript as it comes
/// (the lines so far, then each new line over the desktop channel). Staff only.
async fn watch_page(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path(ids): Path<(i64, i64)>,
) -> Response {
    let loaded = async {
        let (client, call) = client_and_call(&app, &auth, ids, true).await?;
        let agent = match call.agent_id {
            Some(a) => app.store.user(a).await.ok().map(|u| u.name),
            None => None,
        };
        Ok::<_, ApiError>((client, call, agent))
    }
    .await;
    render_loaded(loaded, StatusCode::OK, |(client, call, agent)| WatchPage {
        me: auth.user,
        csrf: auth.csrf,
        client,
        call,
        agent,
    })
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
        crate::http::pages::client_time(*ms, &self.client.time_zone)
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

#[derive(Template)]
#[template(path = "recording_settings.html")]
struct SettingsPage {
    me: User,
    csrf: String,
    client: Client,
    retention: String,
    delete_at_carrier: bool,
    record_manual_calls: bool,
    transcribe_manual_calls: bool,
    intelligence: String,
    error: Option<ApiError>,
    saved: bool,
}

fn settings_view(
    page: StaffPage,
    s: &RecordingSettings,
    retention: Option<String>,
    error: Option<ApiError>,
    saved: bool,
) -> Response {
    let status = match &error {
        Some(_) => StatusCode::UNPROCESSABLE_ENTITY,
        None => StatusCode::OK,
    };
    render(
        &SettingsPage {
            me: page.auth.user,
            csrf: page.auth.csrf,
            client: page.client,
            retention: retention
                .unwrap_or_else(|| s.retention_days.map(|d| d.to_string()).unwrap_or_default()),
            delete_at_carrier: s.delete_at_carrier,
            record_manual_calls: s.record_manual_calls,
            transcribe_manual_calls: s.transcribe_manual_calls,
            intelligence: s.intelligence_service_sid.clone().unwrap_or_default(),
            error,
            saved,
        },
        status,
    )
}

async fn settings_page(
    State(app): State<App>,
    page: StaffPage,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    match app.store.recording_settings(page.client.id).await {
        Ok(s) => settings_view(page, &s, None, None, q.contains_key("saved")),
        Err(e) => page_error(e.into()),
    }
}

/// Reads the form: an empty retention keeps recordings for ever.
fn parse_settings(f: &FormData) -> Result<RecordingSettings, ApiError> {
    let retention_days = match f.get("retention_days").trim() {
        "" => None,
        v => Some(v.parse().map_err(|_| {
            ApiError::invalid("retention_days", "must be a whole number of days, or empty")
        })?),
    };
    check_retention_days(retention_days)?;
    let mut s = switches(f);
    check_intelligence_service(s.intelligence_service_sid.as_deref())?;
    s.retention_days = retention_days;
    Ok(s)
}

/// The form's settings other than the retention, as typed.
fn switches(f: &FormData) -> RecordingSettings {
    let service = f.get("intelligence_service_sid").trim().to_owned();
    RecordingSettings {
        retention_days: None,
        delete_at_carrier: f.checked("delete_at_carrier"),
        record_manual_calls: f.checked("record_manual_calls"),
        transcribe_manual_calls: f.checked("transcribe_manual_calls"),
        intelligence_service_sid: (!service.is_empty()).then_some(service),
    }
}

async fn save_settings(
    State(app): State<App>,
    page: StaffPage,
    PageForm { form: f, .. }: PageForm,
) -> Response {
    let client = page.client.id;
    let s = match parse_settings(&f) {
        Ok(s) => s,
        Err(e) => {
            let shown = switches(&f);
            return settings_view(page, &shown, Some(f.get("retention_days")), Some(e), false);
        }
    };
    match app
        .store
        .save_recording_settings(client, &s, app.now_ms())
        .await
    {
        Ok(_) => Redirect::to(&format!("/admin/clients/{client}/recordings?saved")).into_response(),
        Err(e) => settings_view(page, &s, None, Some(e.into()), false),
    }
}
