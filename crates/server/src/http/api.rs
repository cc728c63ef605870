//! The JSON API under `/api/v1/` and its OpenAPI document at `/api/openapi.json`. Handlers parse
//! input into domain types, check the caller's role and client scope through the extractors of
//! [`crate::http::auth`], and leave storage rules to the store.

use crate::app::App;
use crate::http::auth::{self, Auth};
use crate::http::error::{ApiError, ErrorBody, JsonBody};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use palera_core::ids::{ClientId, UserId};
use palera_core::user::{Role, VoiceState};
use palera_store::users::User;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use utoipa::{OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "palera-voice API",
        description = "The Voice module's JSON API. Errors are `{\"error\": {\"code\", \"message\", \"field\"?}}`."
    ),
    paths(login, logout, me),
    components(schemas(
        ErrorBody,
        User,
        Role,
        VoiceState,
        UserId,
        ClientId,
        LoginRequest,
        LoginResponse
    ))
)]
pub struct ApiDoc;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/openapi.json", get(openapi))
        .route("/api/v1/session", axum::routing::post(login).delete(logout))
        .route("/api/v1/me", get(me))
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::clients::api::ClientsApiDoc::openapi());
    doc.merge(crate::users::api::UsersApiDoc::openapi());
    doc.merge(crate::contacts::api::ContactsDoc::openapi());
    doc.merge(crate::campaigns::api::CampaignApiDoc::openapi());
    doc.merge(crate::desk::calls::CallsApiDoc::openapi());
    doc.merge(crate::desk::api::DeskApiDoc::openapi());
    doc.merge(crate::twilio::api::TwilioApiDoc::openapi());
    doc.merge(crate::scripts::api::ScriptApiDoc::openapi());
    doc.merge(crate::scripts::run::ScriptRunDoc::openapi());
    doc.merge(crate::inbound::api::InboundApiDoc::openapi());
    doc.merge(crate::desk::today::AgentDeskDoc::openapi());
    doc.merge(crate::reports::api::ReportsApiDoc::openapi());
    doc.merge(crate::reports::wallboard::WallboardDoc::openapi());
    doc.merge(crate::recordings::api::RecordingsApiDoc::openapi());
    doc.merge(crate::actions::ActionsApiDoc::openapi());
    Json(doc)
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    pub user: User,
    /// Send back as the `csrf` field of HTML form posts.
    pub csrf_token: String,
}

/// Checks credentials under the rate limit and opens a session. Shared by the API and the page.
pub async fn open_session(
    app: &App,
    email: &str,
    password: &str,
    ip: std::net::IpAddr,
) -> Result<(User, String, String), ApiError> {
    let now = std::time::Instant::now();
    if let Some(wait) = app.limiter.blocked_for(email, ip, now) {
        app.metrics.login("throttled");
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!("too many failed logins; try again in {wait} seconds"),
        ));
    }
    let found = match app.store.user_for_login(email).await {
        Ok(f) => Some(f),
        Err(palera_store::StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let hash = found
        .as_ref()
        .map_or(auth::decoy_hash(), |(_, h)| h.as_str())
        .to_string();
    let ok = auth::hashing({
        let password = password.to_string();
        move || auth::verify_password(&password, &hash)
    })
    .await
    .unwrap_or(false);
    let Some((user, _)) = found.filter(|_| ok) else {
        app.limiter.record_failure(email, ip, now);
        app.metrics.login("failed");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "the e-mail or password is wrong",
        ));
    };
    app.limiter.clear(email, ip);
    let token = auth::random_token();
    let csrf = auth::random_token();
    let now_ms = app.now_ms();
    let ttl_ms = app.settings.session_hours as i64 * 3_600_000;
    app.store
        .create_session(
            &auth::token_hash(&token),
            user.id,
            &csrf,
            now_ms,
            now_ms + ttl_ms,
        )
        .await?;
    app.metrics.login("ok");
    tracing::info!(user = %user.id, "logged in");
    Ok((user, token, csrf))
}

/// The `Set-Cookie` header value for a new session.
pub fn session_cookie(app: &App, token: &str) -> String {
    auth::set_cookie(
        auth::SESSION_COOKIE,
        token,
        app.settings.session_hours as i64 * 3600,
        app.settings.secure_cookies(),
    )
}

#[utoipa::path(post, path = "/api/v1/session", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn login(
    State(app): State<App>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Response, ApiError> {
    let (user, token, csrf) = open_session(&app, &req.email, &req.password, addr.ip()).await?;
    Ok((
        [(header::SET_COOKIE, session_cookie(&app, &token))],
        Json(LoginResponse {
            user,
            csrf_token: csrf,
        }),
    )
        .into_response())
}

#[utoipa::path(delete, path = "/api/v1/session", responses((status = 204)))]
async fn logout(State(app): State<App>, auth: Auth) -> Result<Response, ApiError> {
    app.store.delete_session(&auth.token_hash).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(
            header::SET_COOKIE,
            auth::set_cookie(auth::SESSION_COOKIE, "", 0, app.settings.secure_cookies()),
        )],
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/me", responses((status = 200, body = User), (status = 401, body = ErrorBody)))]
async fn me(auth: Auth) -> Json<User> {
    Json(auth.user)
}
