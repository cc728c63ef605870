//! The script JSON API, for supervisors and admins of the script's client (agents get 403, other
//! clients' scripts 404): list, create (also the JSON import), read, save a draft, publish,
//! delete, export, and the campaign's script. Every save is validated by the core (errors name
//! the step and the field) and against the client's property schema for write-back fields.

use crate::app::App;
use crate::http::auth::StaffClient;
use crate::http::error::{ApiError, ErrorBody, JsonBody};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use palera_core::contact::PropertySchema;
use palera_core::ids::{CampaignId, ClientId, ScriptId};
use palera_core::script::{ScriptBody, Step};
use palera_store::scripts::{Script, ScriptVersion};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    paths(
        list_scripts,
        create_script,
        get_script,
        save_script,
        delete_script,
        publish_script,
        export_script,
        set_campaign_script
    ),
    components(schemas(Script, ScriptVersion, ScriptBody, ScriptRequest, CampaignScript))
)]
pub struct ScriptApiDoc;

const BASE: &str = "/api/v1/clients/{client_id}/scripts";

pub fn routes() -> Router<App> {
    Router::new()
        .route(BASE, get(list_scripts).post(create_script))
        .route(
            &format!("{BASE}/{{script_id}}"),
            get(get_script).put(save_script).delete(delete_script),
        )
        .route(
            &format!("{BASE}/{{script_id}}/publish"),
            post(publish_script),
        )
        .route(&format!("{BASE}/{{script_id}}/export"), get(export_script))
        .route(
            "/api/v1/clients/{client_id}/campaigns/{campaign_id}/script",
            put(set_campaign_script),
        )
}

/// A script as saved and as imported or exported: a name and the steps.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScriptRequest {
    pub name: String,
    pub steps: Vec<Step>,
}

/// Which built script a campaign's calls run (`null`: none).
#[derive(Debug, Deserialize, ToSchema)]
pub struct CampaignScript {
    pub script_id: Option<ScriptId>,
}

/// Validates a script as saved: the name, the core rules, and write-back fields against the
/// client's property schema (the property exists and has the field's type).
pub fn validate(req: &ScriptRequest, schema: &PropertySchema) -> Result<ScriptBody, ApiError> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid(
            "name",
            "give the script a name (1 to 100 characters)",
        ));
    }
    let body = ScriptBody {
        steps: req.steps.clone(),
    };
    body.validate()?;
    for (i, s) in body.steps.iter().enumerate() {
        for (j, f) in s.fields.iter().enumerate() {
            let Some(p) = f.property.as_deref() else {
                continue;
            };
            let at = format!("steps[{i}].fields[{j}].property");
            match schema.get(p) {
                None => {
                    return Err(ApiError::invalid(
                        at,
                        format!(
                            "step {} ({:?}): {p:?} is not a property of this client",
                            i + 1,
                            s.title
                        ),
                    ))
                }
                Some(def) if def.kind != f.kind => {
                    return Err(ApiError::invalid(
                        at,
                        format!(
                            "step {} ({:?}): the field is {} but the property {:?} is {}",
                            i + 1,
                            s.title,
                            f.kind,
                            p,
                            def.kind
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
    }
    Ok(body)
}

fn script_id(p: &std::collections::HashMap<String, String>) -> Result<ScriptId, ApiError> {
    p.get("script_id")
        .and_then(|v| v.parse().ok())
        .map(ScriptId)
        .ok_or_else(ApiError::not_found)
}

type Params = Path<std::collections::HashMap<String, String>>;

async fn checked(app: &App, client: ClientId, req: &ScriptRequest) -> Result<ScriptBody, ApiError> {
    validate(req, &app.store.property_schema(client).await?)
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/scripts", params(("client_id" = i64, Path)),
    responses((status = 200, body = [Script]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_scripts(
    State(app): State<App>,
    c: StaffClient,
) -> Result<Json<Vec<Script>>, ApiError> {
    Ok(Json(app.store.scripts(c.client).await?))
}

#[utoipa::path(post, path = "/api/v1/clients/{client_id}/scripts", params(("client_id" = i64, Path)),
    request_body = ScriptRequest,
    responses((status = 201, body = Script, description = "created as a draft (also the JSON import)"),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody, description = "names the step and the field")))]
async fn create_script(
    State(app): State<App>,
    c: StaffClient,
    JsonBody(req): JsonBody<ScriptRequest>,
) -> Result<(StatusCode, Json<Script>), ApiError> {
    let body = checked(&app, c.client, &req).await?;
    let s = app
        .store
        .create_script(c.client, &req.name, &body, c.auth.user.id, app.now_ms())
        .await?;
    Ok((StatusCode::CREATED, Json(s)))
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/scripts/{script_id}",
    params(("client_id" = i64, Path), ("script_id" = i64, Path)),
    responses((status = 200, body = Script), (status = 404, body = ErrorBody)))]
async fn get_script(
    State(app): State<App>,
    c: StaffClient,
    Path(p): Params,
) -> Result<Json<Script>, ApiError> {
    Ok(Json(app.store.script(c.client, script_id(&p)?).await?))
}

#[utoipa::path(put, path = "/api/v1/clients/{client_id}/scripts/{script_id}",
    params(("client_id" = i64, Path), ("script_id" = i64, Path)), request_body = ScriptRequest,
    responses((status = 200, body = Script, description = "saved as the draft; published versions never change"),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn save_script(
    State(app): State<App>,
    c: StaffClient,
    Path(p): Params,
    JsonBody(req): JsonBody<ScriptRequest>,
) -> Result<Json<Script>, ApiError> {
    let id = script_id(&p)?;
    let body = checked(&app, c.client, &req).await?;
    let s = app
        .store
        .save_script_draft(c.client, id, &req.name, &body, c.auth.user.id, app.now_ms())
        .await?;
    Ok(Json(s))
}

#[utoipa::path(delete, path = "/api/v1/clients/{client_id}/scripts/{script_id}",
    params(("client_id" = i64, Path), ("script_id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "calls ran it")))]
async fn delete_script(
    State(app): State<App>,
    c: StaffClient,
    Path(p): Params,
) -> Result<StatusCode, ApiError> {
    app.store.delete_script(c.client, script_id(&p)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/clients/{client_id}/scripts/{script_id}/publish",
    params(("client_id" = i64, Path), ("script_id" = i64, Path)),
    responses((status = 200, body = Script, description = "the latest draft is published: new calls run it"), (status = 404, body = ErrorBody)))]
async fn publish_script(
    State(app): State<App>,
    c: StaffClient,
    Path(p): Params,
) -> Result<Json<Script>, ApiError> {
    let id = script_id(&p)?;
    Ok(Json(
        app.store.publish_script(c.client, id, app.now_ms()).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/scripts/{script_id}/export",
    params(("client_id" = i64, Path), ("script_id" = i64, Path)),
    responses((status = 200, body = ScriptRequest, description = "the latest version as a JSON file to import elsewhere"), (status = 404, body = ErrorBody)))]
async fn export_script(
    State(app): State<App>,
    c: StaffClient,
    Path(p): Params,
) -> Result<Response, ApiError> {
    let s = app.store.script(c.client, script_id(&p)?).await?;
    let out = ScriptRequest {
        name: s.name.clone(),
        steps: s.latest.body.steps,
    };
    let file: String = s
        .name
        .chars()
        .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' })
        .collect();
    Ok((
        [(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"script-{file}.json\""),
        )],
        Json(out),
    )
        .into_response())
}

#[utoipa::path(put, path = "/api/v1/clients/{client_id}/campaigns/{campaign_id}/script",
    params(("client_id" = i64, Path), ("campaign_id" = i64, Path)), request_body = CampaignScript,
    responses((status = 204, description = "the campaign's calls run the script's published version"),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_campaign_script(
    State(app): State<App>,
    c: StaffClient,
    Path(p): Params,
    JsonBody(req): JsonBody<CampaignScript>,
) -> Result<StatusCode, ApiError> {
    let campaign = p
        .get("campaign_id")
        .and_then(|v| v.parse().ok())
        .map(CampaignId)
        .ok_or_else(ApiError::not_found)?;
    pick_campaign_script(&app, c.client, campaign, req.script_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Points a campaign at a script of its client; the script must have a published version.
pub async fn pick_campaign_script(
    app: &App,
    client: ClientId,
    campaign: CampaignId,
    script: Option<ScriptId>,
) -> Result<(), ApiError> {
    app.store.campaign(client, campaign).await?;
    if let Some(s) = script {
        let found = app
            .store
            .script(client, s)
            .await
            .map_err(|_| ApiError::invalid("script_id", "is not a script of this client"))?;
        if found.published.is_none() {
            return Err(ApiError::invalid(
                "script_id",
                format!(
                    "publish {:?} first: calls run a published version",
                    found.name
                ),
            ));
        }
    }
    app.store
        .set_campaign_builder_script(client, campaign, script)
        .await?;
    Ok(())
}
