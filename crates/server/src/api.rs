//! The JSON API under `/api/v1/` and its OpenAPI document at `/api/openapi.json`. Handlers parse
//! input into domain types, check the caller's role and client scope through the extractors of
//! [`crate::auth`], and leave storage rules to the store.

use crate::app::App;
use crate::auth::{self, Admin, Auth, ScopedClient};
use crate::desktop::change_voice_state;
use crate::error::{ApiError, ErrorBody, JsonBody};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use palera_core::ids::{ClientId, NumberId, UserId};
use palera_core::phone::PhoneNumber;
use palera_core::tenant::{client_number, ClientFields};
use palera_core::user::{check_password, Email, Role, VoiceState};
use palera_store::clients::{Client, ClientNumber, SecretInput, SecretStatus};
use palera_store::users::{NewUser, User, VoiceStateChange};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use utoipa::{OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "palera-voice API",
        description = "The Voice module's JSON API. Errors are `{\"error\": {\"code\", \"message\", \"field\"?}}`."
    ),
    paths(
        login,
        logout,
        me,
        list_clients,
        create_client,
        get_client,
        update_client,
        list_numbers,
        add_number,
        remove_number,
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
        ErrorBody,
        Client,
        SecretStatus,
        ClientNumber,
        User,
        VoiceStateChange,
        Role,
        VoiceState,
        ClientId,
        UserId,
        NumberId,
        LoginRequest,
        LoginResponse,
        ClientCreate,
        ClientUpdate,
        NumberCreate,
        UserCreate,
        UserUpdate,
        StateRequest,
        StateResponse
    ))
)]
pub struct ApiDoc;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/openapi.json", get(openapi))
        .route("/api/v1/session", axum::routing::post(login).delete(logout))
        .route("/api/v1/me", get(me))
        .route(
            "/api/v1/me/voice-state",
            get(get_my_state).put(set_my_state),
        )
        .route("/api/v1/clients", get(list_clients).post(create_client))
        .route(
            "/api/v1/clients/{client_id}",
            get(get_client).put(update_client),
        )
        .route(
            "/api/v1/clients/{client_id}/numbers",
            get(list_numbers).post(add_number),
        )
        .route(
            "/api/v1/clients/{client_id}/numbers/{number_id}",
            delete(remove_number),
        )
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/users/{user_id}", get(get_user).put(update_user))
        .route("/api/v1/users/{user_id}/voice-state", put(set_user_state))
        .route(
            "/api/v1/users/{user_id}/voice-state-history",
            get(state_history),
        )
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::contacts_api::ContactsDoc::openapi());
    doc.merge(crate::campaigns_api::CampaignApiDoc::openapi());
    doc.merge(crate::calls_api::CallsApiDoc::openapi());
    doc.merge(crate::desk_api::DeskApiDoc::openapi());
    doc.merge(crate::twilio::api::TwilioApiDoc::openapi());
    doc.merge(crate::scripts::api::ScriptApiDoc::openapi());
    doc.merge(crate::scripts::run::ScriptRunDoc::openapi());
    doc.merge(crate::inbound::api::InboundApiDoc::openapi());
    doc.merge(crate::agent_desk::api::AgentDeskDoc::openapi());
    doc.merge(crate::reports::api::ReportsApiDoc::openapi());
    doc.merge(crate::reports::wallboard::WallboardDoc::openapi());
    doc.merge(crate::recordings::api::RecordingsApiDoc::openapi());
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
        app.metrics.logins_throttled.fetch_add(1, Ordering::Relaxed);
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
    let ok = tokio::task::spawn_blocking({
        let password = password.to_string();
        move || auth::verify_password(&password, &hash)
    })
    .await
    .unwrap_or(false);
    let Some((user, _)) = found.filter(|_| ok) else {
        app.limiter.record_failure(email, ip, now);
        app.metrics.logins_failed.fetch_add(1, Ordering::Relaxed);
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
    app.metrics.logins_ok.fetch_add(1, Ordering::Relaxed);
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

#[utoipa::path(get, path = "/api/v1/clients", responses((status = 200, body = [Client])))]
async fn list_clients(State(app): State<App>, auth: Auth) -> Result<Json<Vec<Client>>, ApiError> {
    Ok(Json(app.store.clients(&auth.scope()).await?))
}

/// A new client: its settings, secrets and numbers.
#[derive(Deserialize, ToSchema, Default)]
pub struct ClientCreate {
    #[serde(flatten)]
    pub fields: ClientFields,
    pub auth_token: Option<String>,
    pub api_key_secret: Option<String>,
    #[serde(default)]
    pub numbers: Vec<String>,
}

/// New settings for a client. Secrets left out are kept; an empty string clears them.
#[derive(Deserialize, ToSchema)]
pub struct ClientUpdate {
    #[serde(flatten)]
    pub fields: ClientFields,
    pub auth_token: Option<String>,
    pub api_key_secret: Option<String>,
}

/// Parses the numbers of a new client; duplicates inside the request name the later one.
pub fn parse_numbers(numbers: &[String]) -> Result<Vec<PhoneNumber>, ApiError> {
    let mut out: Vec<PhoneNumber> = Vec::new();
    for (i, n) in numbers.iter().enumerate() {
        let field = format!("numbers[{i}]");
        let parsed = client_number(&field, n)?;
        if out.contains(&parsed) {
            return Err(ApiError::invalid(field, "this number is listed twice"));
        }
        out.push(parsed);
    }
    Ok(out)
}

#[utoipa::path(post, path = "/api/v1/clients", request_body = ClientCreate,
    responses((status = 201, body = Client), (status = 422, body = ErrorBody), (status = 409, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_client(
    State(app): State<App>,
    Admin(_admin): Admin,
    JsonBody(req): JsonBody<ClientCreate>,
) -> Result<(StatusCode, Json<Client>), ApiError> {
    let settings = req.fields.validate()?;
    let numbers = parse_numbers(&req.numbers)?;
    let secrets = SecretInput {
        auth_token: req.auth_token,
        api_key_secret: req.api_key_secret,
    };
    let client = app
        .store
        .create_client(&settings, &secrets, &numbers, app.now_ms())
        .await?;
    tracing::info!(client = %client.id, "client created");
    Ok((StatusCode::CREATED, Json(client)))
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}", params(("client_id" = i64, Path)),
    responses((status = 200, body = Client), (status = 404, body = ErrorBody)))]
async fn get_client(State(app): State<App>, c: ScopedClient) -> Result<Json<Client>, ApiError> {
    Ok(Json(app.store.client(c.client).await?))
}

#[utoipa::path(put, path = "/api/v1/clients/{client_id}", params(("client_id" = i64, Path)), request_body = ClientUpdate,
    responses((status = 200, body = Client), (status = 422, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_client(
    State(app): State<App>,
    c: ScopedClient,
    JsonBody(req): JsonBody<ClientUpdate>,
) -> Result<Json<Client>, ApiError> {
    c.auth.require_admin()?;
    let settings = req.fields.validate()?;
    let secrets = SecretInput {
        auth_token: req.auth_token,
        api_key_secret: req.api_key_secret,
    };
    let client = app
        .store
        .update_client(c.client, &settings, &secrets)
        .await?;
    app.carriers.invalidate(c.client);
    Ok(Json(client))
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/numbers", params(("client_id" = i64, Path)),
    responses((status = 200, body = [ClientNumber]), (status = 404, body = ErrorBody)))]
async fn list_numbers(
    State(app): State<App>,
    c: ScopedClient,
) -> Result<Json<Vec<ClientNumber>>, ApiError> {
    Ok(Json(app.store.numbers(c.client).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct NumberCreate {
    pub number: String,
    #[serde(default)]
    pub label: String,
}

#[utoipa::path(post, path = "/api/v1/clients/{client_id}/numbers", params(("client_id" = i64, Path)), request_body = NumberCreate,
    responses((status = 201, body = ClientNumber), (status = 422, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn add_number(
    State(app): State<App>,
    c: ScopedClient,
    JsonBody(req): JsonBody<NumberCreate>,
) -> Result<(StatusCode, Json<ClientNumber>), ApiError> {
    c.auth.require_admin()?;
    let number = client_number("number", &req.number)?;
    let n = app
        .store
        .add_number(c.client, &number, &req.label, app.now_ms())
        .await?;
    Ok((StatusCode::CREATED, Json(n)))
}

#[utoipa::path(delete, path = "/api/v1/clients/{client_id}/numbers/{number_id}", params(("client_id" = i64, Path), ("number_id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn remove_number(
    State(app): State<App>,
    c: ScopedClient,
    Path(ids): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    let number_id = ids.1;
    c.auth.require_admin()?;
    app.store
        .remove_number(c.client, NumberId(number_id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
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
    let password_hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| ApiError::internal(&e))?;
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
            let p = p.to_string();
            Some(
                tokio::task::spawn_blocking(move || auth::hash_password(&p))
                    .await
                    .map_err(|e| ApiError::internal(&e))?,
            )
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
