//! The contacts part of the JSON API (issue 4), under `/api/v1/clients/{client_id}/…`: lists as
//! stages, contacts with their history, bulk moves, the property schema, the DNC list, CSV imports
//! as background jobs with progress, and streamed CSV exports. Every route is scoped to the
//! caller's clients (404 outside them); everything but reading and editing one contact is for
//! admins and supervisors (403 for agents).

use crate::app::App;
use crate::http::auth::ScopedClient;
use crate::http::error::{ApiError, ErrorBody, JsonBody};
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use futures::StreamExt;
use palera_core::contact::{ContactFields, PropertyDef, PropertyFields};
use palera_core::ids::{ClientId, ContactId, ListId};
use palera_core::import::{BucketCounts, ImportOptions, Rejection, RowWarning};
use palera_core::phone::PhoneNumber;
use palera_store::contacts::{Actor, Contact, ContactChange, ContactFilter, ContactSelection};
use palera_store::dnc::DncEntry;
use palera_store::import::{ImportJob, JobStatus};
use palera_store::lists::{list_name, ContactList, ListCount};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    paths(
        get_lists,
        create_list,
        update_list,
        delete_list,
        order_lists,
        get_contacts,
        create_contact,
        get_contact,
        update_contact,
        delete_contact,
        contact_history,
        move_contacts,
        get_properties,
        put_property,
        get_dnc,
        add_dnc,
        remove_dnc,
        import_dnc,
        start_import,
        preview_import,
        get_import,
        get_rejections,
        get_warnings,
        get_problems_csv,
        export_csv
    ),
    components(schemas(
        ContactList,
        ListCount,
        Contact,
        ContactChange,
        PropertyDef,
        PropertyFields,
        ContactFields,
        DncEntry,
        ImportJob,
        JobStatus,
        BucketCounts,
        ImportOptions,
        Rejection,
        ListCreate,
        ListOrder,
        MoveRequest,
        MoveResult,
        DncCreate,
        DncImportResult,
        ImportPreview,
        ContactPage
    ))
)]
pub struct ContactsDoc;

pub fn routes() -> Router<App> {
    let c = "/api/v1/clients/{client_id}";
    Router::new()
        .route(&format!("{c}/lists"), get(get_lists).post(create_list))
        .route(&format!("{c}/lists/order"), put(order_lists))
        .route(
            &format!("{c}/lists/{{list_id}}"),
            put(update_list).delete(delete_list),
        )
        .route(
            &format!("{c}/contacts"),
            get(get_contacts).post(create_contact),
        )
        .route(&format!("{c}/contacts/move"), post(move_contacts))
        .route(
            &format!("{c}/contacts/{{contact_id}}"),
            get(get_contact).put(update_contact).delete(delete_contact),
        )
        .route(
            &format!("{c}/contacts/{{contact_id}}/history"),
            get(contact_history),
        )
        .route(
            &format!("{c}/properties"),
            get(get_properties).put(put_property),
        )
        .route(&format!("{c}/dnc"), get(get_dnc).post(add_dnc))
        .route(
            &format!("{c}/dnc/{{number}}"),
            axum::routing::delete(remove_dnc),
        )
        .route(&format!("{c}/dnc/import"), post(import_dnc))
        .route(&format!("{c}/imports"), post(start_import))
        .route(&format!("{c}/imports/preview"), post(preview_import))
        .route(&format!("{c}/imports/{{job_id}}"), get(get_import))
        .route(
            &format!("{c}/imports/{{job_id}}/rejections"),
            get(get_rejections),
        )
        .route(
            &format!("{c}/imports/{{job_id}}/warnings"),
            get(get_warnings),
        )
        .route(
            &format!("{c}/imports/{{job_id}}/problems.csv"),
            get(get_problems_csv),
        )
        .route(&format!("{c}/exports"), get(export_csv))
}

/// A client the caller may see, and the caller is an admin or supervisor (403 for agents).
pub struct StaffClient {
    pub scoped: ScopedClient,
}

impl StaffClient {
    fn id(&self) -> ClientId {
        self.scoped.client
    }
    fn actor(&self) -> Actor {
        Actor::user(self.scoped.auth.user.id, "api")
    }
}

impl FromRequestParts<App> for StaffClient {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let scoped = ScopedClient::from_request_parts(parts, app).await?;
        scoped.auth.require_staff()?;
        Ok(StaffClient { scoped })
    }
}

fn path_id(params: &std::collections::HashMap<String, String>, key: &str) -> Result<i64, ApiError> {
    params
        .get(key)
        .and_then(|v| v.parse().ok())
        .ok_or_else(ApiError::not_found)
}

type Params = Path<std::collections::HashMap<String, String>>;

#[derive(Deserialize, ToSchema)]
pub struct ListCreate {
    pub name: String,
}

#[derive(Deserialize, ToSchema)]
pub struct ListOrder {
    /// Every list of the client, in the new pipeline order.
    pub order: Vec<ListId>,
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/lists", params(("client_id" = i64, Path)),
    responses((status = 200, body = [ListCount]), (status = 404, body = ErrorBody)))]
async fn get_lists(
    State(app): State<App>,
    c: StaffClient,
) -> Result<Json<Vec<ListCount>>, ApiError> {
    Ok(Json(app.store.list_counts(c.id()).await?))
}

#[utoipa::path(post, path = "/api/v1/clients/{client_id}/lists", params(("client_id" = i64, Path)), request_body = ListCreate,
    responses((status = 201, body = ContactList), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_list(
    State(app): State<App>,
    c: StaffClient,
    JsonBody(req): JsonBody<ListCreate>,
) -> Result<Response, ApiError> {
    let name = list_name("name", &req.name)?;
    let list = app.store.create_list(c.id(), &name, app.now_ms()).await?;
    Ok((StatusCode::CREATED, Json(list)).into_response())
}

#[utoipa::path(put, path = "/api/v1/clients/{client_id}/lists/{list_id}", params(("client_id" = i64, Path), ("list_id" = i64, Path)), request_body = ListCreate,
    responses((status = 200, body = ContactList), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_list(
    State(app): State<App>,
    c: StaffClient,
    Path(p): Params,
    JsonBody(req): JsonBody<ListCreate>,
) -> Result<Json<ContactList>, ApiError> {
    let id = ListId(path_id(&p, "list_id")?);
    let name = list_name("name", &req.name)?;
    Ok(Json(app.store.rename_list(c.id(), id, &name).await?))
}

#[utoipa::path(delete, path = "/api/v1/clients/{client_id}/lists/{list_id}", params(("client_id" = i64, Path), ("list_id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_list(
    State(app): State<App>,
    c: StaffClient,
    Path(p): Params,
) -> Result<StatusCode, ApiError> {
    let id = ListId(path_id(&p, "list_id")?);
    app.store.delete_list(c.id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/api/v1/clients/{client_id}/lists/order", params(("client_id" = i64, Path)), request_body = ListOrder,
    responses((status = 204), (status = 409, body = ErrorBody)))]
async fn order_lists(
    State(app): State<App>,
    c: StaffClient,
    JsonBody(req): JsonBody<ListOrder>,
) -> Result<StatusCode, ApiError> {
    app.store.reorder_lists(c.id(), &req.order).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Filter parameters shared by the contact list, bulk moves and exports.
#[derive(Debug, Default, Deserialize, IntoParams, ToSchema)]
pub struct FilterQuery {
    /// Only this list.
    pub list_id: Option<i64>,
    /// Only contacts in no list.
    #[serde(default)]
    pub no_list: bool,
    /// Prefix of the number, first/last name or e-mail.
    pub search: Option<String>,
    /// Only this IANA zone.
    pub time_zone: Option<String>,
    /// `name=value`: only contacts whose property `name` is `value`.
    pub property: Option<String>,
    /// Page after this contact id.
    pub after: Option<i64>,
    /// Page size (1–500, default 50).
    pub limit: Option<i64>,
}

impl FilterQuery {
    pub fn filter(&self) -> Result<ContactFilter, ApiError> {
        let property = match self.property.as_deref().filter(|p| !p.is_empty()) {
            None => None,
            Some(p) => {
                let (k, v) = p
                    .split_once('=')
                    .ok_or_else(|| ApiError::invalid("property", "must be name=value"))?;
                Some((k.trim().to_string(), v.trim().to_string()))
            }
        };
        Ok(ContactFilter {
            list: self.list_id.map(ListId),
            no_list: self.no_list,
            search: self.search.clone().filter(|s| !s.trim().is_empty()),
            time_zone: self.time_zone.clone().filter(|s| !s.trim().is_empty()),
            property,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct ContactPage {
    pub contacts: Vec<Contact>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/contacts", params(("client_id" = i64, Path), FilterQuery),
    responses((status = 200, body = ContactPage), (status = 404, body = ErrorBody)))]
async fn get_contacts(
    State(app): State<App>,
    c: StaffClient,
    Query(q): Query<FilterQuery>,
) -> Result<Json<ContactPage>, ApiError> {
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let contacts = app
        .store
        .search_contacts(c.id(), &q.filter()?, q.after.map(ContactId), limit)
        .await?;
    let next_after = (contacts.len() as i64 == limit)
        .then(|| contacts.last().map(|c| c.id.0))
        .flatten();
    Ok(Json(ContactPage {
        contacts,
        next_after,
    }))
}

/// A new contact: its fields, and the list to put it in.
#[derive(Deserialize, ToSchema)]
pub struct ContactCreate {
    #[serde(flatten)]
    pub fields: ContactFields,
    pub list_id: Option<ListId>,
}

async fn validate_contact(
    app: &App,
    client: ClientId,
    f: &ContactFields,
) -> Result<palera_core::contact::ContactData, ApiError> {
    let schema = app.store.property_schema(client).await?;
    let country = app.store.client(client).await?.default_country;
    Ok(f.validate(&schema, Some(country.as_str()).filter(|c| !c.is_empty()))?)
}

#[utoipa::path(post, path = "/api/v1/clients/{client_id}/contacts", params(("client_id" = i64, Path)), request_body = ContactFields,
    responses((status = 201, body = Contact), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_contact(
    State(app): State<App>,
    c: StaffClient,
    JsonBody(req): JsonBody<ContactCreate>,
) -> Result<Response, ApiError> {
    let data = validate_contact(&app, c.id(), &req.fields).await?;
    if let Some(l) = req.list_id {
        app.store
            .list(c.id(), l)
            .await
            .map_err(|_| ApiError::invalid("list_id", "is not a list of this client"))?;
    }
    let contact = app
        .store
        .create_contact(c.id(), req.list_id, &data, &c.actor(), app.now_ms())
        .await?;
    Ok((StatusCode::CREATED, Json(contact)).into_response())
}

fn contact_id(p: &std::collections::HashMap<String, String>) -> Result<ContactId, ApiError> {
    path_id(p, "contact_id").map(ContactId)
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/contacts/{contact_id}", params(("client_id" = i64, Path), ("contact_id" = i64, Path)),
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody)))]
async fn get_contact(
    State(app): State<App>,
    c: ScopedClient,
    Path(p): Params,
) -> Result<Json<Contact>, ApiError> {
    Ok(Json(app.store.contact(c.client, contact_id(&p)?).await?))
}

#[utoipa::path(put, path = "/api/v1/clients/{client_id}/contacts/{contact_id}", params(("client_id" = i64, Path), ("contact_id" = i64, Path)), request_body = ContactFields,
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_contact(
    State(app): State<App>,
    c: ScopedClient,
    Path(p): Params,
    JsonBody(req): JsonBody<ContactFields>,
) -> Result<Json<Contact>, ApiError> {
    let id = contact_id(&p)?;
    let old = app.store.contact(c.client, id).await?;
    let data = validate_contact(&app, c.client, &req).await?;
    if data.phone != old.phone {
        return Err(ApiError::invalid(
            "phone",
            "cannot change: a contact is identified by its number",
        ));
    }
    let actor = Actor::user(c.auth.user.id, "api");
    Ok(Json(
        app.store
            .update_contact(c.client, id, &data, &actor, app.now_ms())
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/clients/{client_id}/contacts/{contact_id}", params(("client_id" = i64, Path), ("contact_id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_contact(
    State(app): State<App>,
    c: StaffClient,
    Path(p): Params,
) -> Result<StatusCode, ApiError> {
    app.store.delete_contact(c.id(), contact_id(&p)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/contacts/{contact_id}/history", params(("client_id" = i64, Path), ("contact_id" = i64, Path)),
    responses((status = 200, body = [ContactChange]), (status = 404, body = ErrorBody)))]
async fn contact_history(
    State(app): State<App>,
    c: ScopedClient,
    Path(p): Params,
) -> Result<Json<Vec<ContactChange>>, ApiError> {
    let id = contact_id(&p)?;
    app.store.contact(c.client, id).await?;
    Ok(Json(app.store.contact_history(c.client, id).await?))
}

/// A bulk move: the contacts by id, or every contact matching the filter.
#[derive(Deserialize, ToSchema)]
pub struct MoveRequest {
    /// The list to move to; `null` takes the contacts out of every list.
    pub to_list_id: Option<ListId>,
    #[serde(default)]
    pub contact_ids: Option<Vec<ContactId>>,
    #[serde(default)]
    pub filter: Option<FilterQuery>,
}

#[derive(Serialize, ToSchema)]
pub struct MoveResult {
    pub moved: u64,
}

#[utoipa::path(post, path = "/api/v1/clients/{client_id}/contacts/move", params(("client_id" = i64, Path)), request_body = MoveRequest,
    responses((status = 200, body = MoveResult), (status = 422, body = ErrorBody)))]
async fn move_contacts(
    State(app): State<App>,
    c: StaffClient,
    JsonBody(req): JsonBody<MoveRequest>,
) -> Result<Json<MoveResult>, ApiError> {
    let selection = match (req.contact_ids, req.filter) {
        (Some(ids), None) => ContactSelection::Ids(ids),
        (None, Some(f)) => ContactSelection::Filter(f.filter()?),
        _ => {
            return Err(ApiError::invalid(
                "contact_ids",
                "give either contact_ids or filter",
            ))
        }
    };
    if let Some(l) = req.to_list_id {
        app.store
            .list(c.id(), l)
            .await
            .map_err(|_| ApiError::invalid("to_list_id", "is not a list of this client"))?;
    }
    let moved = app
        .store
        .move_contacts(c.id(), &selection, req.to_list_id, &c.actor(), app.now_ms())
        .await?;
    Ok(Json(MoveResult { moved }))
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/properties", params(("client_id" = i64, Path)),
    responses((status = 200, body = [PropertyDef])))]
async fn get_properties(
    State(app): State<App>,
    c: ScopedClient,
) -> Result<Json<Vec<PropertyDef>>, ApiError> {
    Ok(Json(app.store.property_schema(c.client).await?.properties))
}

#[utoipa::path(put, path = "/api/v1/clients/{client_id}/properties", params(("client_id" = i64, Path)), request_body = PropertyFields,
    responses((status = 200, body = [PropertyDef]), (status = 422, body = ErrorBody)))]
async fn put_property(
    State(app): State<App>,
    c: StaffClient,
    JsonBody(req): JsonBody<PropertyFields>,
) -> Result<Json<Vec<PropertyDef>>, ApiError> {
    let def = req.validate()?;
    app.store
        .define_property(c.id(), &def, app.now_ms())
        .await?;
    Ok(Json(app.store.property_schema(c.id()).await?.properties))
}

#[derive(Deserialize, IntoParams)]
pub struct DncQuery {
    /// Numbers starting with this.
    pub prefix: Option<String>,
    /// Page after this number.
    pub after: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct DncCreate {
    pub number: String,
    pub source: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/dnc", params(("client_id" = i64, Path), DncQuery),
    responses((status = 200, body = [DncEntry])))]
async fn get_dnc(
    State(app): State<App>,
    c: StaffClient,
    Query(q): Query<DncQuery>,
) -> Result<Json<Vec<DncEntry>>, ApiError> {
    Ok(Json(
        app.store
            .dnc_entries(c.id(), q.prefix.as_deref(), q.after.as_deref(), 500)
            .await?,
    ))
}

async fn client_country(app: &App, client: ClientId) -> Result<Option<String>, ApiError> {
    let c = app.store.client(client).await?.default_country;
    Ok(Some(c).filter(|c| !c.is_empty()))
}

#[utoipa::path(post, path = "/api/v1/clients/{client_id}/dnc", params(("client_id" = i64, Path)), request_body = DncCreate,
    responses((status = 201, body = DncEntry), (status = 422, body = ErrorBody)))]
async fn add_dnc(
    State(app): State<App>,
    c: StaffClient,
    JsonBody(req): JsonBody<DncCreate>,
) -> Result<Response, ApiError> {
    let country = client_country(&app, c.id()).await?;
    let number = PhoneNumber::parse_field("number", &req.number, country.as_deref())?;
    let source = req.source.as_deref().unwrap_or("api");
    let e = app
        .store
        .add_dnc(c.id(), &number, source, app.now_ms())
        .await?;
    Ok((StatusCode::CREATED, Json(e)).into_response())
}

#[utoipa::path(delete, path = "/api/v1/clients/{client_id}/dnc/{number}", params(("client_id" = i64, Path), ("number" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn remove_dnc(
    State(app): State<App>,
    c: StaffClient,
    Path(p): Params,
) -> Result<StatusCode, ApiError> {
    let raw = p.get("number").cloned().unwrap_or_default();
    let country = client_country(&app, c.id()).await?;
    let number = PhoneNumber::parse_field("number", &raw, country.as_deref())?;
    app.store.remove_dnc(c.id(), &number).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
pub struct ImportQuery {
    /// The target list by id…
    pub list_id: Option<i64>,
    /// …or by name (created when missing).
    pub list: Option<String>,
    /// Move contacts found in another list (default true).
    pub move_from_other_lists: Option<bool>,
    /// Skip numbers on DNC (default false: import them, counted as on_dnc).
    pub skip_dnc: Option<bool>,
    /// Column targets by index, comma-separated (`phone,,first_name,properties.plan`); empty
    /// entries are guessed from the header.
    pub mapping: Option<String>,
}

/// Where uploaded files wait for their job.
pub fn upload_dir() -> std::path::PathBuf {
    std::env::temp_dir().join("palera-imports")
}

/// Resolves the target list of an import: by id, or by name (created when missing).
pub async fn import_list(
    app: &App,
    client: ClientId,
    id: Option<i64>,
    name: Option<&str>,
) -> Result<ListId, ApiError> {
    match (id, name.map(str::trim).filter(|n| !n.is_empty())) {
        (Some(id), _) => Ok(app
            .store
            .list(client, ListId(id))
            .await
            .map_err(|_| ApiError::invalid("list_id", "is not a list of this client"))?
            .id),
        (None, Some(n)) => {
            let n = list_name("list", n)?;
            match app.store.list_by_name(client, &n).await {
                Ok(l) => Ok(l.id),
                Err(palera_store::StoreError::NotFound) => {
                    Ok(app.store.create_list(client, &n, app.now_ms()).await?.id)
                }
                Err(e) => Err(e.into()),
            }
        }
        (None, None) => Err(ApiError::invalid("list_id", "give list_id or list")),
    }
}

/// Parses a comma-separated column mapping against the client's schema.
pub fn parse_mapping(
    raw: Option<&str>,
    schema: &palera_core::contact::PropertySchema,
) -> Result<Vec<Option<palera_core::import::Target>>, ApiError> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .enumerate()
        .map(|(i, t)| {
            if t.trim().is_empty() {
                Ok(None)
            } else {
                palera_core::import::Target::parse(t, schema)
                    .map(Some)
                    .map_err(|r| ApiError::invalid(format!("mapping[{i}]"), r))
            }
        })
        .collect()
}

/// Streams a request body to a file, so uploads of any size cost no memory.
pub async fn save_upload(body: Body, path: &std::path::Path) -> Result<i64, ApiError> {
    use tokio::io::AsyncWriteExt;
    let internal = |e: std::io::Error| ApiError::internal(&e);
    tokio::fs::create_dir_all(upload_dir())
        .await
        .map_err(internal)?;
    let mut f = tokio::fs::File::create(path).await.map_err(internal)?;
    let mut stream = body.into_data_stream();
    let mut total = 0i64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("upload failed: {e}"),
            )
        })?;
        total += chunk.len() as i64;
        f.write_all(&chunk).await.map_err(internal)?;
    }
    f.flush().await.map_err(internal)?;
    Ok(total)
}

/// An unfinished import whose job row no batch has touched for this long has lost its server
/// (a running import advances `updated_at` with every batch, each well under a second).
pub const IMPORT_STALE_MS: i64 = 60_000;
/// A stale job whose upload is on no server's disk is marked failed after this long: until
/// then another server (with its own upload folder) may still take it.
pub const IMPORT_LOST_MS: i64 = 10 * 60_000;

/// Resumes the API import jobs that a stopped server left unfinished, each from its saved
/// upload, after its last committed batch. Batches are idempotent, so a batch that was in flight
/// when the server stopped is applied once. Runs at start and then every half minute, so with
/// several servers on one database a job is taken over only once it is stale, and by one
/// server (a claim on `updated_at`). A stale job whose upload is on no disk fails with a reason
/// once it has been lost for [`IMPORT_LOST_MS`].
pub async fn resume_imports(app: &App) {
    let jobs = match app.store.unfinished_import_uploads().await {
        Ok(jobs) => jobs,
        Err(e) => {
            tracing::error!(error = %e, "cannot list unfinished imports");
            return;
        }
    };
    let now = app.now_ms();
    for (job, path) in jobs {
        let idle = now - job.updated_at;
        let running_here = app
            .running_imports
            .lock()
            .map_or(true, |r| r.contains(&job.id));
        if idle < IMPORT_STALE_MS || running_here {
            continue;
        }
        let path = std::path::PathBuf::from(path);
        let here = path.is_file();
        if !here && idle < IMPORT_LOST_MS {
            continue;
        }
        match app
            .store
            .claim_import_job(job.id, job.updated_at, now)
            .await
        {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(job = job.id, error = %e, "cannot claim an unfinished import");
                continue;
            }
        }
        if here {
            tracing::info!(job = job.id, last_line = job.last_line, "resuming import");
            spawn_import(app, job, path);
        } else {
            tracing::warn!(job = job.id, "the upload of an unfinished import is gone");
            let _ = app
                .store
                .set_import_status(
                    job.id,
                    JobStatus::Failed,
                    Some("the uploaded file is gone (server restarted); upload it again"),
                    now,
                )
                .await;
        }
    }
}

/// Looks for imports to take over every 30 seconds until `stop`.
pub async fn import_resume_loop(app: App, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => resume_imports(&app).await,
            _ = stop.changed() => return,
        }
    }
}

/// Starts an import job over a saved file in the background; the file is removed when done.
pub fn spawn_import(app: &App, job: ImportJob, path: std::path::PathBuf) {
    let fresh = app
        .running_imports
        .lock()
        .is_ok_and(|mut r| r.insert(job.id));
    if !fresh {
        return;
    }
    let app = app.clone();
    tokio::spawn(async move {
        match std::fs::File::open(&path) {
            Ok(file) => {
                let clock = app.clone();
                let run = palera_store::import::run_import(&app.store, &job, file, move || {
                    clock.now_ms()
                });
                if let Err(e) = run.await {
                    tracing::error!(job = job.id, error = %e, "import failed");
                }
                let _ = std::fs::remove_file(&path);
            }
            Err(e) => tracing::error!(job = job.id, error = %e, "import file vanished"),
        }
        if let Ok(mut r) = app.running_imports.lock() {
            r.remove(&job.id);
        }
    });
}

#[utoipa::path(post, path = "/api/v1/clients/{client_id}/imports", params(("client_id" = i64, Path), ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 202, body = ImportJob), (status = 422, body = ErrorBody)))]
async fn start_import(
    State(app): State<App>,
    c: StaffClient,
    Query(q): Query<ImportQuery>,
    body: Body,
) -> Result<Response, ApiError> {
    let list = import_list(&app, c.id(), q.list_id, q.list.as_deref()).await?;
    let schema = app.store.property_schema(c.id()).await?;
    let mapping = parse_mapping(q.mapping.as_deref(), &schema)?;
    let options = ImportOptions {
        move_from_other_lists: q.move_from_other_lists.unwrap_or(true),
        skip_dnc: q.skip_dnc.unwrap_or(false),
    };
    let path = upload_dir().join(format!("upload-{}.csv", crate::http::auth::random_token()));
    let bytes = save_upload(body, &path).await?;
    let job = app
        .store
        .create_import_job(
            c.id(),
            list,
            "upload.csv",
            bytes,
            options,
            &mapping,
            Some(c.scoped.auth.user.id),
            app.now_ms(),
        )
        .await?;
    app.store
        .set_import_upload(job.id, &path.to_string_lossy())
        .await?;
    spawn_import(&app, job.clone(), path);
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/imports/{job_id}", params(("client_id" = i64, Path), ("job_id" = i64, Path)),
    responses((status = 200, body = ImportJob), (status = 404, body = ErrorBody)))]
async fn get_import(
    State(app): State<App>,
    c: StaffClient,
    Path(p): Params,
) -> Result<Json<ImportJob>, ApiError> {
    Ok(Json(
        app.store.import_job(c.id(), path_id(&p, "job_id")?).await?,
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct AfterLine {
    /// Rejections after this line.
    pub after: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/imports/{job_id}/rejections", params(("client_id" = i64, Path), ("job_id" = i64, Path), AfterLine),
    responses((status = 200, body = [Rejection]), (status = 404, body = ErrorBody)))]
async fn get_rejections(
    State(app): State<App>,
    c: StaffClient,
    Path(p): Params,
    Query(q): Query<AfterLine>,
) -> Result<Json<Vec<Rejection>>, ApiError> {
    let job = app.store.import_job(c.id(), path_id(&p, "job_id")?).await?;
    Ok(Json(
        app.store
            .import_rejections(c.id(), job.id, q.after.unwrap_or(0), 1000)
            .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/imports/{job_id}/warnings", params(("client_id" = i64, Path), ("job_id" = i64, Path), AfterLine),
    responses((status = 200, body = [RowWarning]), (status = 404, body = ErrorBody)))]
async fn get_warnings(
    State(app): State<App>,
    c: StaffClient,
    Path(p): Params,
    Query(q): Query<AfterLine>,
) -> Result<Json<Vec<RowWarning>>, ApiError> {
    let job = app.store.import_job(c.id(), path_id(&p, "job_id")?).await?;
    Ok(Json(
        app.store
            .import_warnings(c.id(), job.id, q.after.unwrap_or(0), 1000)
            .await?,
    ))
}

/// The rows of an import that need a look, as CSV in line order: each rejected row with its
/// reasons, and each optional field left empty with why (`line,problem,field,reason`).
#[utoipa::path(get, path = "/api/v1/clients/{client_id}/imports/{job_id}/problems.csv", params(("client_id" = i64, Path), ("job_id" = i64, Path)),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = ErrorBody)))]
async fn get_problems_csv(
    State(app): State<App>,
    c: StaffClient,
    Path(p): Params,
) -> Result<Response, ApiError> {
    let job = app.store.import_job(c.id(), path_id(&p, "job_id")?).await?;
    let summary = palera_store::import::summary(&app.store, &job)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let mut lines: Vec<(u64, [String; 3])> = summary
        .rejected
        .into_iter()
        .map(|r| (r.line, ["rejected".into(), String::new(), r.reason]))
        .chain(
            summary
                .warnings
                .into_iter()
                .map(|w| (w.line, ["kept, field left empty".into(), w.field, w.reason])),
        )
        .collect();
    lines.sort_by_key(|(line, _)| *line);
    let mut w = csv::Writer::from_writer(Vec::new());
    let write = |w: &mut csv::Writer<Vec<u8>>, row: &[&str]| {
        w.write_record(row).map_err(|e| ApiError::internal(&e))
    };
    write(&mut w, &["line", "problem", "field", "reason"])?;
    for (line, [problem, field, reason]) in &lines {
        write(&mut w, &[&line.to_string(), problem, field, reason])?;
    }
    let body = w.into_inner().map_err(|e| ApiError::internal(&e))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"import-{}-problems.csv\"", job.id),
            ),
        ],
        body,
    )
        .into_response())
}

/// Streams an export as `text/csv`, chunk by chunk.
pub async fn export_response(
    app: &App,
    client: ClientId,
    filter: ContactFilter,
) -> Result<Response, ApiError> {
    let schema = app.store.property_schema(client).await?;
    let header_bytes = palera_store::export::export_header_bytes(&schema);
    let store = app.store.clone();
    let chunks = futures::stream::unfold(Some(None), move |state: Option<Option<ContactId>>| {
        let store = store.clone();
        let filter = filter.clone();
        let schema = schema.clone();
        async move {
            let after = state?;
            match store.export_chunk(client, &filter, &schema, after).await {
                Ok((bytes, next)) => Some((Ok::<_, std::io::Error>(bytes), next.map(Some))),
                Err(e) => {
                    tracing::error!(error = %e, "export stopped");
                    Some((Err(std::io::Error::other("export failed")), None))
                }
            }
        }
    });
    let body = futures::stream::once(async move { Ok(header_bytes) }).chain(chunks);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"contacts.csv\"",
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/exports", params(("client_id" = i64, Path), FilterQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = ErrorBody)))]
async fn export_csv(
    State(app): State<App>,
    c: StaffClient,
    Query(q): Query<FilterQuery>,
) -> Result<Response, ApiError> {
    let filter = q.filter()?;
    if let Some(l) = filter.list {
        app.store.list(c.id(), l).await?;
    }
    export_response(&app, c.id(), filter).await
}

#[derive(Serialize, ToSchema)]
pub struct DncImportResult {
    pub added: u64,
    pub already_listed: u64,
    pub rejected: Vec<Rejection>,
}

/// Reads the numbers of a DNC file: the column named number or phone, else the first; a first
/// row that is not a number is taken as the header.
fn read_dnc_file(
    path: &std::path::Path,
    country: Option<&str>,
) -> std::io::Result<(Vec<PhoneNumber>, Vec<Rejection>)> {
    use palera_store::import::reader::{CsvRecords, RawRecord};
    let mut rec = CsvRecords::new(std::fs::File::open(path)?)?;
    let mut numbers = Vec::new();
    let mut rejected = Vec::new();
    let mut column = 0;
    let mut first = true;
    while let Some(r) = rec.next_record()? {
        let line = r.line();
        let RawRecord::Fields { fields, .. } = r else {
            rejected.push(Rejection {
                line,
                reason: "row longer than 1 MiB".into(),
            });
            continue;
        };
        let cells: Vec<String> = fields
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        if first {
            first = false;
            if let Some(i) = cells.iter().position(|c| {
                let c = c.trim().trim_start_matches('\u{feff}').to_lowercase();
                c == "number" || c == "phone"
            }) {
                column = i;
                continue;
            }
            if cells
                .first()
                .is_some_and(|c| PhoneNumber::parse(c, country).is_err())
            {
                continue;
            }
        }
        match cells.get(column).map(|c| PhoneNumber::parse(c, country)) {
            Some(Ok(n)) => numbers.push(n),
            Some(Err(reason)) => rejected.push(Rejection {
                line,
                reason: format!("bad number: {reason}"),
            }),
            None => rejected.push(Rejection {
                line,
                reason: "missing number column".into(),
            }),
        }
    }
    Ok((numbers, rejected))
}

#[utoipa::path(post, path = "/api/v1/clients/{client_id}/dnc/import", params(("client_id" = i64, Path)),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = DncImportResult), (status = 404, body = ErrorBody)))]
async fn import_dnc(
    State(app): State<App>,
    c: StaffClient,
    body: Body,
) -> Result<Json<DncImportResult>, ApiError> {
    let country = client_country(&app, c.id()).await?;
    let path = upload_dir().join(format!("dnc-{}.csv", crate::http::auth::random_token()));
    save_upload(body, &path).await?;
    let read_path = path.clone();
    let read = tokio::task::spawn_blocking(move || read_dnc_file(&read_path, country.as_deref()))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let _ = std::fs::remove_file(&path);
    let (numbers, rejected) =
        read.map_err(|e| ApiError::invalid("body", format!("cannot read the file: {e}")))?;
    let added = app
        .store
        .add_dnc_many(c.id(), &numbers, "csv", app.now_ms())
        .await?;
    Ok(Json(DncImportResult {
        added,
        already_listed: numbers.len() as u64 - added,
        rejected,
    }))
}

/// The wizard's preview: the header, the column targets guessed, and the first rows.
#[derive(Serialize, ToSchema)]
pub struct ImportPreview {
    pub headers: Vec<String>,
    /// One per column: `phone`, `first_name`, `last_name`, `email`, `time_zone`,
    /// `properties.<name>` or `ignore`.
    pub targets: Vec<String>,
    /// Why no row could be imported with this mapping, if so.
    pub problem: Option<String>,
    pub sample: Vec<Vec<String>>,
}

#[utoipa::path(post, path = "/api/v1/clients/{client_id}/imports/preview", params(("client_id" = i64, Path)),
    request_body(content = String, content_type = "text/csv", description = "the start of the file (64 KB is plenty)"),
    responses((status = 200, body = ImportPreview)))]
async fn preview_import(
    State(app): State<App>,
    c: StaffClient,
    body: axum::body::Bytes,
) -> Result<Json<ImportPreview>, ApiError> {
    let schema = app.store.property_schema(c.id()).await?;
    let (mapping, sample) = palera_store::import::preview(&body[..], &[], &schema, 10)
        .map_err(|e| ApiError::invalid("body", format!("cannot read the file: {e}")))?;
    let targets = mapping
        .targets
        .iter()
        .map(|t| match t {
            palera_core::import::Target::Ignore => "ignore".to_string(),
            other => other.label(),
        })
        .collect();
    Ok(Json(ImportPreview {
        headers: mapping.headers,
        targets,
        problem: mapping.problem,
        sample,
    }))
}
