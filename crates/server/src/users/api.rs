//! The users API: accounts with their role, voice enablement and client assignments, and voice
//! states (the caller's own, a supervisor setting an agent's, and the history of changes).
//! Supervisors see only users who share one of their clients, and only those clients.

use crate::app::App;
use crate::desk::ws::change_voice_state;
use crate::http::auth::{self, Admin, Auth};
use crate::http::error::{ApiError, ErrorBody, JsonBody};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use palera_core::ids::{ClientId, UserId};
use palera_core::user::{check_password, Email, Role, VoiceState};
use palera_store::users::{NewUser, User, VoiceStateChange};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    paths(
        list_users,
        create_user,
        get_user,
        update_user,
        get_my_state,
        set_my_state,
        set_user_state,
        state_history
    ),
    components(schemas(
        User,
        VoiceStateChange,
        Role,
        VoiceState,
        UserId,
        UserCreate,
        UserUpdate,
        StateRequest,
        StateResponse
    ))
)]
pub struct UsersApiDoc;

pub fn routes() -> Router<App> {
    Router::new()
        .route(
            "/api/v1/me/voice-state",
            get(get_my_state).put(set_my_state),
        )
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/users/{user_id}", get(get_user).put(update_user))
        .route("/api/v1/users/{user_id}/voice-state", put(set_user_state))
        .route(
            "/api/v1/users/{user_id}/voice-state-history",
            get(state_history),
        )
}

#[utoipa::path(get, path = "/api/v1/users", responses((status = 200, body = [User]), (status = 403, body = ErrorBody)))]
async fn list_users(State(app): State<App>, auth: Auth) -> Result<Json<Vec<User>>, ApiError> {
    auth.require_staff()?;
    let users = app.store.users(None).await?;
    let scope = auth.scope();
    Ok(Json(
        users
            .into_iter()
            .filter(|u| auth.user.role == Role::Admin || u.clients.iter().any(|c| scope.allows(*c)))
            .map(|mut u| {
                // A user shared with other tenants shows only the clients the caller may see.
                u.clients.retain(|c| scope.allows(*c));
                u
            })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct UserCreate {
    pub email: String,
    #[serde(default)]
    pub name: String,
    pub role: Role,
    pub password: String,
    #[serde(default = "yes")]
    pub voice_enabled: bool,
    #[serde(default)]
    pub clients: Vec<ClientId>,
}

fn yes() -> bool {
    true
}

/// Validates a new user's fields and hashes the password.
pub async fn new_user(req: UserCreate) -> Result<NewUser, ApiError> {
    let email = Email::parse("email", &req.email)?;
    check_password("password", &req.password)?;
    if req.name.chars().count() > 120 {
        return Err(ApiError::invalid("name", "must be at most 120 characters"));
    }
    let password = req.password;
    let password_hash = auth::hash_new_password(password).await?;
    let name = if req.name.trim().is_empty() {
        email
            .as_str()
            .split('@')
            .next()
            .unwrap_or_default()
            .to_string()
    } else {
        req.name.trim().to_string()
    };
    Ok(NewUser {
        email,
        name,
        role: req.role,
        password_hash,
        voice_enabled: req.voice_enabled,
        clients: req.clients,
    })
}

#[utoipa::path(post, path = "/api/v1/users", request_body = UserCreate,
    responses((status = 201, body = User), (status = 422, body = ErrorBody), (status = 409, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_user(
    State(app): State<App>,
    Admin(_admin): Admin,
    JsonBody(req): JsonBody<UserCreate>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let new = new_user(req).await?;
    let user = app.store.create_user(&new, app.now_ms()).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Loads a user the caller may see: themselves, anyone for admins, users sharing a client for
/// supervisors. Others are 404.
async fn visible_user(app: &App, auth: &Auth, id: UserId) -> Result<User, ApiError> {
    let mut user = app.store.user(id).await?;
    let visible = auth.user.id == id
        || auth.user.role == Role::Admin
        || (auth.user.role == Role::Supervisor
            && user.clients.iter().any(|c| auth.user.clients.contains(c)));
    if visible {
        // Only the clients the caller may see (another tenant's ids are not theirs to know).
        let scope = auth.scope();
        user.clients.retain(|c| scope.allows(*c));
        Ok(user)
    } else {
        Err(ApiError::not_found())
    }
}

#[utoipa::path(get, path = "/api/v1/users/{user_id}", params(("user_id" = i64, Path)),
    responses((status = 200, body = User), (status = 404, body = ErrorBody)))]
async fn get_user(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(visible_user(&app, &auth, UserId(id)).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct UserUpdate {
    pub name: String,
    pub role: Role,
    pub voice_enabled: bool,
    pub clients: Vec<ClientId>,
    /// A new password; left out keeps the current one.
    pub password: Option<String>,
}

#[utoipa::path(put, path = "/api/v1/users/{user_id}", params(("user_id" = i64, Path)), request_body = UserUpdate,
    responses((status = 200, body = User), (status = 422, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_user(
    State(app): State<App>,
    Admin(admin): Admin,
    Path(id): Path<i64>,
    JsonBody(req): JsonBody<UserUpdate>,
) -> Result<Json<User>, ApiError> {
    let id = UserId(id);
    if req.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "is required"));
    }
    let hash = match req.password.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => {
            check_password("password", p)?;
            Some(auth::hash_new_password(p.to_string()).await?)
        }
        None => None,
    };
    let user = app
        .store
        .update_user_access(id, &req.name, req.role, req.voice_enabled, &req.clients)
        .await?;
    if let Some(h) = hash {
        // The admin's own session survives a change of their own password; all others end.
        let keep = (admin.user.id == id).then_some(admin.token_hash.as_str());
        app.store.set_password_hash(id, &h, keep).await?;
    }
    Ok(Json(user))
}

#[derive(Deserialize, ToSchema)]
pub struct StateRequest {
    /// `ready`, `standby` or `offline`.
    pub state: String,
}

#[derive(Serialize, ToSchema)]
pub struct StateResponse {
    pub state: VoiceState,
    pub label: String,
    pub since: i64,
}

fn state_response(u: &User) -> Json<StateResponse> {
    Json(StateResponse {
        state: u.voice_state,
        label: u.voice_state.label().into(),
        since: u.voice_state_since,
    })
}

fn parse_state(s: &str) -> Result<VoiceState, ApiError> {
    s.parse().map_err(|r: String| ApiError::invalid("state", r))
}

#[utoipa::path(get, path = "/api/v1/me/voice-state", responses((status = 200, body = StateResponse)))]
async fn get_my_state(auth: Auth) -> Json<StateResponse> {
    state_response(&auth.user)
}

#[utoipa::path(put, path = "/api/v1/me/voice-state", request_body = StateRequest,
    responses((status = 200, body = StateResponse), (status = 422, body = ErrorBody)))]
async fn set_my_state(
    State(app): State<App>,
    auth: Auth,
    JsonBody(req): JsonBody<StateRequest>,
) -> Result<Json<StateResponse>, ApiError> {
    let state = parse_state(&req.state)?;
    let user = change_voice_state(&app, &auth.user, state, "api").await?;
    Ok(state_response(&user))
}

#[utoipa::path(put, path = "/api/v1/users/{user_id}/voice-state", params(("user_id" = i64, Path)), request_body = StateRequest,
    responses((status = 200, body = StateResponse), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn set_user_state(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<i64>,
    JsonBody(req): JsonBody<StateRequest>,
) -> Result<Json<StateResponse>, ApiError> {
    let target = visible_user(&app, &auth, UserId(id)).await?;
    if target.id != auth.user.id {
        auth.require_staff()?;
    }
    let state = parse_state(&req.state)?;
    let user = change_voice_state(&app, &target, state, "supervisor").await?;
    Ok(state_response(&user))
}

#[utoipa::path(get, path = "/api/v1/users/{user_id}/voice-state-history", params(("user_id" = i64, Path)),
    responses((status = 200, body = [VoiceStateChange]), (status = 404, body = ErrorBody)))]
async fn state_history(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<Json<Vec<VoiceStateChange>>, ApiError> {
    let user = visible_user(&app, &auth, UserId(id)).await?;
    Ok(Json(app.store.voice_state_history(user.id).await?))
}
