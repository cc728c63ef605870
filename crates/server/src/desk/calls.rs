//! Call control over the API: the agent connected to a campaign call puts the contact on hold
//! (with the campaign's hold music), resumes, hangs up, or drops the campaign's voicemail message
//! (the agent is free at once; the message plays to its end, then the call ends). Anyone else — another agent, a call
//! of a client the user may not see, a call that is not live — gets 404. The engine does the
//! work ([`crate::engine::CallAction`]); ending the call leads to wrap-up as any end does.

use crate::app::App;
use crate::engine::{CallAction, Request};
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ErrorBody};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use palera_core::ids::CallId;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(hold, resume, hang_up, voicemail_drop))]
pub struct CallsApiDoc;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/v1/calls/{call_id}/hold", post(hold))
        .route("/api/v1/calls/{call_id}/resume", post(resume))
        .route("/api/v1/calls/{call_id}/hangup", post(hang_up))
        .route(
            "/api/v1/calls/{call_id}/voicemail-drop",
            post(voicemail_drop),
        )
}

/// Asks the engine to carry out the call's agent's `action` (hold, resume, hang-up, voicemail
/// drop, recording pause/resume); another client's call is 404.
#[tracing::instrument(skip(app, auth), fields(user = %auth.user.id))]
pub(crate) async fn control(
    app: &App,
    auth: &Auth,
    call: CallId,
    action: CallAction,
) -> Result<StatusCode, ApiError> {
    app.store
        .call_in(&auth.scope(), call)
        .await
        .map_err(|_| ApiError::not_found())?;
    let agent = auth.user.id;
    app.engine
        .ask(|reply| Request::Control {
            call,
            agent,
            action,
            reply,
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/calls/{call_id}/hold", params(("call_id" = i64, Path)),
    responses((status = 204, description = "the contact hears the campaign's hold music"), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn hold(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    control(&app, &auth, CallId(id), CallAction::Hold).await
}

#[utoipa::path(post, path = "/api/v1/calls/{call_id}/resume", params(("call_id" = i64, Path)),
    responses((status = 204, description = "the contact is off hold"), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn resume(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    control(&app, &auth, CallId(id), CallAction::Resume).await
}

#[utoipa::path(post, path = "/api/v1/calls/{call_id}/hangup", params(("call_id" = i64, Path)),
    responses((status = 204, description = "the call is being ended; wrap-up follows"), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn hang_up(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    control(&app, &auth, CallId(id), CallAction::HangUp).await
}

#[utoipa::path(post, path = "/api/v1/calls/{call_id}/voicemail-drop", params(("call_id" = i64, Path)),
    responses((status = 204, description = "the agent is released; the campaign's voicemail message plays to the contact to its end, then the call ends with outcome voicemail_dropped"), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn voicemail_drop(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    control(&app, &auth, CallId(id), CallAction::VoicemailDrop).await
}
