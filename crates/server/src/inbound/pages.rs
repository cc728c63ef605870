//! The client's inbound settings page (staff of the client): greeting, hold music, position
//! announcements, maximum wait, voicemail and its prompt, recording and transcription, the
//! script inbound calls run, and the routing times (affinity window and wait, ring timeout).
//! Saving posts the form, checks it (errors name the field, nothing stored on error) and
//! redirects back (POST-redirect-GET).

use super::api::validate;
use crate::app::App;
use crate::http::error::ApiError;
use crate::http::pages::{page_error, render, FormData};
use crate::http::pages::{PageForm, StaffPage};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use palera_core::ids::ScriptId;
use palera_store::clients::Client;
use palera_store::inbound::InboundSettings;
use palera_store::scripts::Script;
use palera_store::users::User;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/admin/clients/{client_id}/inbound", get(page).post(save))
        .route("/static/inbound.js", get(inbound_js))
}

async fn inbound_js() -> Response {
    crate::http::pages::javascript(include_str!("../../static/inbound.js"))
}

#[derive(Template)]
#[template(path = "inbound_settings.html")]
struct SettingsPage {
    me: User,
    csrf: String,
    client: Client,
    s: InboundSettings,
    scripts: Vec<Script>,
    error: Option<ApiError>,
    saved: bool,
}

impl SettingsPage {
    fn bad(&self, field: &str) -> &'static str {
        match &self.error {
            Some(e) if e.field.as_deref() == Some(field) => "bad",
            _ => "",
        }
    }
    fn picked(&self, id: &ScriptId) -> bool {
        self.s.script_id == Some(*id)
    }
}

async fn view(
    app: &App,
    StaffPage { auth, client: c }: StaffPage,
    s: Option<InboundSettings>,
    error: Option<ApiError>,
    saved: bool,
) -> Response {
    let client = c.id;
    let loaded = async {
        let s = match s {
            Some(s) => s,
            None => app.store.inbound_settings(client).await?,
        };
        let scripts = app.store.scripts(client).await?;
        Ok::<_, ApiError>((s, scripts))
    }
    .await;
    match loaded {
        Ok((s, scripts)) => {
            let status = if error.is_some() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            render(
                &SettingsPage {
                    me: auth.user,
                    csrf: auth.csrf,
                    client: c,
                    s,
                    scripts,
                    error,
                    saved,
                },
                status,
            )
        }
        Err(e) => page_error(e),
    }
}

async fn page(
    State(app): State<App>,
    page: StaffPage,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    view(&app, page, None, None, q.contains_key("saved")).await
}

fn number(f: &FormData, field: &str) -> Result<u32, ApiError> {
    f.get(field)
        .trim()
        .parse()
        .map_err(|_| ApiError::invalid(field, "must be a whole number"))
}

fn parse(f: &FormData) -> Result<InboundSettings, ApiError> {
    let script_id = match f.get("script_id").trim() {
        "" => None,
        v => {
            Some(ScriptId(v.parse().map_err(|_| {
                ApiError::invalid("script_id", "is not a script")
            })?))
        }
    };
    Ok(InboundSettings {
        greeting: f.get("greeting").trim().to_string(),
        hold_music_url: Some(f.get("hold_music_url").trim().to_string()).filter(|u| !u.is_empty()),
        announce_position: f.opt("announce_position").is_some(),
        max_wait_seconds: number(f, "max_wait_seconds")?,
        voicemail: f.opt("voicemail").is_some(),
        voicemail_prompt: f.get("voicemail_prompt").trim().to_string(),
        recording: f.opt("recording").is_some(),
        transcription: f.opt("transcription").is_some(),
        script_id,
        affinity_window_days: number(f, "affinity_window_days")?,
        affinity_wait_seconds: number(f, "affinity_wait_seconds")?,
        ring_timeout_seconds: number(f, "ring_timeout_seconds")?,
    })
}

async fn save(
    State(app): State<App>,
    page: StaffPage,
    PageForm { form: f, .. }: PageForm,
) -> Response {
    let client = page.client.id;
    let s = match parse(&f) {
        Ok(s) => s,
        Err(e) => return view(&app, page, None, Some(e), false).await,
    };
    if let Err(e) = validate(&app, client, &s).await {
        return view(&app, page, Some(s), Some(e), false).await;
    }
    match app
        .store
        .save_inbound_settings(client, &s, app.now_ms())
        .await
    {
        Ok(_) => Redirect::to(&format!("/admin/clients/{client}/inbound?saved")).into_response(),
        Err(e) => view(&app, page, Some(s), Some(e.into()), false).await,
    }
}
