//! The inbound JSON API: a client's inbound settings (staff of the client), the agent's accept or
//! decline of the call ringing at their desktop, and the tray of missed calls and voicemails of
//! the agent's clients (whoever handles an entry marks it done for everyone).

use crate::app::App;
use crate::engine::Request;
use crate::http::auth::{Auth, StaffClient};
use crate::http::error::{ApiError, ErrorBody, JsonBody};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use palera_core::ids::{CallId, ClientId};
use palera_store::inbound::{InboundSettings, TrayEntry};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    paths(get_settings, put_settings, accept, decline, tray, handled),
    components(schemas(InboundSettings, TrayEntry))
)]
pub struct InboundApiDoc;

pub fn routes() -> Router<App> {
    Router::new()
        .route(
            "/api/v1/clients/{client_id}/inbound-settings",
            get(get_settings).put(put_settings),
        )
        .route("/api/v1/calls/{call_id}/inbound/accept", post(accept))
        .route("/api/v1/calls/{call_id}/inbound/decline", post(decline))
        .route("/api/v1/calls/{call_id}/inbound/handled", post(handled))
        .route("/api/v1/me/inbound-tray", get(tray))
}

fn in_range(field: &str, v: u32, lo: u32, hi: u32, unit: &str) -> Result<(), ApiError> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            format!("must be between {lo} and {hi} {unit}"),
        ))
    }
}

/// Checks settings as typed by a supervisor (fields named, nothing stored on error).
pub async fn validate(app: &App, client: ClientId, s: &InboundSettings) -> Result<(), ApiError> {
    in_range("max_wait_seconds", s.max_wait_seconds, 10, 3600, "seconds")?;
    in_range(
        "affinity_window_days",
        s.affinity_window_days,
        0,
        365,
        "days",
    )?;
    in_range(
        "affinity_wait_seconds",
        s.affinity_wait_seconds,
        0,
        300,
        "seconds",
    )?;
    in_range(
        "ring_timeout_seconds",
        s.ring_timeout_seconds,
        5,
        120,
        "seconds",
    )?;
    for (field, text) in [
        ("greeting", &s.greeting),
        ("voicemail_prompt", &s.voicemail_prompt),
    ] {
        if text.chars().count() > 500 {
            return Err(ApiError::invalid(field, "is longer than 500 characters"));
        }
    }
    if let Some(u) = s.hold_music_url.as_deref().filter(|u| !u.is_empty()) {
        if !u.starts_with("https://") || u.len() > 2048 {
            return Err(ApiError::invalid(
                "hold_music_url",
                "must be an https:// URL",
            ));
        }
    }
    if let Some(id) = s.script_id {
        let script = app
            .store
            .script(client, id)
            .await
            .map_err(|_| ApiError::invalid("script_id", "is not a script of this client"))?;
        if script.published.is_none() {
            return Err(ApiError::invalid("script_id", "publish the script first"));
        }
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/inbound-settings", params(("client_id" = i64, Path)),
    responses((status = 200, body = InboundSettings), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_settings(
    State(app): State<App>,
    c: StaffClient,
) -> Result<Json<InboundSettings>, ApiError> {
    Ok(Json(app.store.inbound_settings(c.client).await?))
}

#[utoipa::path(put, path = "/api/v1/clients/{client_id}/inbound-settings", params(("client_id" = i64, Path)),
    request_body = InboundSettings,
    responses((status = 200, body = InboundSettings), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody, description = "the field and why")))]
async fn put_settings(
    State(app): State<App>,
    c: StaffClient,
    JsonBody(mut s): JsonBody<InboundSettings>,
) -> Result<Json<InboundSettings>, ApiError> {
    s.hold_music_url = s.hold_music_url.filter(|u| !u.trim().is_empty());
    validate(&app, c.client, &s).await?;
    Ok(Json(
        app.store
            .save_inbound_settings(c.client, &s, app.now_ms())
            .await?,
    ))
}

async fn answer(app: &App, auth: &Auth, call: i64, accept: bool) -> Result<StatusCode, ApiError> {
    let agent = auth.user.id;
    let call = CallId(call);
    app.engine
        .ask(|reply| Request::InboundAnswer {
            call,
            agent,
            accept,
            reply,
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/calls/{call_id}/inbound/accept", params(("call_id" = i64, Path)),
    responses((status = 204, description = "the caller is bridged to you"), (status = 404, body = ErrorBody, description = "the call is not ringing at your desktop (any more)")))]
async fn accept(
    State(app): State<App>,
    auth: Auth,
    Path(call): Path<i64>,
) -> Result<StatusCode, ApiError> {
    answer(&app, &auth, call, true).await
}

#[utoipa::path(post, path = "/api/v1/calls/{call_id}/inbound/decline", params(("call_id" = i64, Path)),
    responses((status = 204, description = "the next agent gets it"), (status = 404, body = ErrorBody)))]
async fn decline(
    State(app): State<App>,
    auth: Auth,
    Path(call): Path<i64>,
) -> Result<StatusCode, ApiError> {
    answer(&app, &auth, call, false).await
}

#[utoipa::path(get, path = "/api/v1/me/inbound-tray",
    responses((status = 200, body = [TrayEntry], description = "missed calls and voicemails of your clients nobody handled yet, newest first")))]
async fn tray(State(app): State<App>, auth: Auth) -> Result<Json<Vec<TrayEntry>>, ApiError> {
    let clients: Vec<ClientId> = app
        .store
        .clients(&auth.scope())
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    Ok(Json(app.store.inbound_tray(&clients).await?))
}

#[utoipa::path(post, path = "/api/v1/calls/{call_id}/inbound/handled", params(("call_id" = i64, Path)),
    responses((status = 204, description = "done, for everyone"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "someone handled it first")))]
async fn handled(
    State(app): State<App>,
    auth: Auth,
    Path(call): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let c = app
        .store
        .call_in(&auth.scope(), CallId(call))
        .await
        .map_err(|_| ApiError::not_found())?;
    let first = app
        .store
        .mark_inbound_handled(c.client_id, c.id, auth.user.id, app.now_ms())
        .await?;
    if first {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_handled",
            "someone already handled this call",
        ))
    }
}
