//! The clients API: an installation's tenants with their Twilio settings (secrets are write-only)
//! and phone numbers. Admins create clients; supervisors see and edit the clients they are
//! assigned to; anyone else's client answers 404.

use crate::app::App;
use crate::http::auth::{Admin, AdminClient, Auth, ScopedClient};
use crate::http::error::{ApiError, ErrorBody, JsonBody};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use palera_core::ids::{ClientId, NumberId};
use palera_core::phone::PhoneNumber;
use palera_core::tenant::{client_number, ClientFields};
use palera_store::campaigns::CampaignStatus;
use palera_store::clients::{Client, ClientNumber, SecretInput, SecretStatus};
use serde::Deserialize;
use utoipa::{OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    paths(
        list_clients,
        create_client,
        get_client,
        update_client,
        list_numbers,
        add_number,
        remove_number
    ),
    components(schemas(
        Client,
        SecretStatus,
        ClientNumber,
        ClientId,
        NumberId,
        ClientCreate,
        ClientUpdate,
        NumberCreate
    ))
)]
pub struct ClientsApiDoc;

pub fn routes() -> Router<App> {
    Router::new()
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
    c: AdminClient,
    JsonBody(req): JsonBody<ClientUpdate>,
) -> Result<Json<Client>, ApiError> {
    let settings = req.fields.validate()?;
    let secrets = SecretInput {
        auth_token: req.auth_token,
        api_key_secret: req.api_key_secret,
    };
    Ok(Json(
        save_client(&app, c.client, &settings, &secrets).await?,
    ))
}

/// Saves a client's settings (API and page alike): the carrier is rebuilt from them, and when
/// voice is switched off the client's running campaigns pause, so nothing more is dialled.
pub async fn save_client(
    app: &App,
    id: ClientId,
    settings: &palera_core::tenant::ClientSettings,
    secrets: &SecretInput,
) -> Result<Client, ApiError> {
    let client = app.store.update_client(id, settings, secrets).await?;
    app.carriers.invalidate(id);
    if !client.voice_enabled {
        for camp in app.store.campaigns(id).await? {
            if camp.status == CampaignStatus::Running {
                app.store
                    .set_campaign_status(id, camp.id, CampaignStatus::Paused, app.now_ms())
                    .await?;
                app.engine.send(crate::engine::Request::Reload(camp.id));
                tracing::info!(campaign = %camp.id, "campaign paused: the client's voice is off");
            }
        }
    }
    Ok(client)
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
    c: AdminClient,
    JsonBody(req): JsonBody<NumberCreate>,
) -> Result<(StatusCode, Json<ClientNumber>), ApiError> {
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
