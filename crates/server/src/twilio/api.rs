//! The Twilio part of the JSON API: voice tokens, credential checks, pointing numbers at this
//! server, and the client's recent webhooks. Documented in the OpenAPI document through
//! [`TwilioApiDoc`], merged into the main one.

use super::account::{self, CredentialCheck, CredentialResult, NumberPlan, PointResult};
use super::voice_token::{self, VoiceToken};
use crate::app::App;
use crate::http::auth::{AdminClient, StaffClient};
use crate::http::error::{ApiError, ErrorBody};
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use palera_store::twilio::Receipt;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    paths(
        voice_token::voice_token,
        check_credentials,
        number_plan,
        point_numbers,
        recent_webhooks
    ),
    components(schemas(
        VoiceToken,
        CredentialCheck,
        CredentialResult,
        NumberPlan,
        PointResult,
        Receipt
    ))
)]
pub struct TwilioApiDoc;

pub fn routes() -> Router<App> {
    Router::new()
        .route(
            "/api/v1/clients/{client_id}/voice-token",
            get(voice_token::voice_token),
        )
        .route(
            "/api/v1/clients/{client_id}/twilio/check-credentials",
            post(check_credentials),
        )
        .route(
            "/api/v1/clients/{client_id}/twilio/numbers",
            get(number_plan),
        )
        .route(
            "/api/v1/clients/{client_id}/twilio/numbers/point",
            post(point_numbers),
        )
        .route(
            "/api/v1/clients/{client_id}/twilio/webhooks",
            get(recent_webhooks),
        )
}

#[utoipa::path(post, path = "/api/v1/clients/{client_id}/twilio/check-credentials", params(("client_id" = i64, Path)),
    responses((status = 200, body = CredentialCheck), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn check_credentials(
    State(app): State<App>,
    c: StaffClient,
) -> Result<Json<CredentialCheck>, ApiError> {
    Ok(Json(account::check_credentials(&app, c.client).await?))
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/twilio/numbers", params(("client_id" = i64, Path)),
    responses((status = 200, body = [NumberPlan]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn number_plan(
    State(app): State<App>,
    c: AdminClient,
) -> Result<Json<Vec<NumberPlan>>, ApiError> {
    Ok(Json(account::number_plan(&app, c.client).await?))
}

#[utoipa::path(post, path = "/api/v1/clients/{client_id}/twilio/numbers/point", params(("client_id" = i64, Path)),
    responses((status = 200, body = [PointResult]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn point_numbers(
    State(app): State<App>,
    c: AdminClient,
) -> Result<Json<Vec<PointResult>>, ApiError> {
    Ok(Json(account::point_numbers(&app, c.client).await?))
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/twilio/webhooks", params(("client_id" = i64, Path)),
    responses((status = 200, body = [Receipt]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn recent_webhooks(
    State(app): State<App>,
    c: StaffClient,
) -> Result<Json<Vec<Receipt>>, ApiError> {
    Ok(Json(app.store.recent_webhooks(c.client, 50).await?))
}
