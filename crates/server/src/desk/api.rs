//! The agent desktop's JSON API (DESIGN §2.3) beyond call control: the contact card (details,
//! list, previous calls, the call's notes, the campaign's script and dispositions), call notes
//! saved with optimistic concurrency (a save wins only if it was written on the latest version;
//! otherwise 409 with both texts, nothing overwritten), inline edits of one contact field at a
//! time (validated by the core against the property schema, recorded in the contact's history
//! with the user as author), the contact's conversation (calls interleaved with property changes
//! and list moves, newest first), and manual calls to a typed number outside campaigns. Every
//! route is scoped to the caller's clients (404 outside them); a call's notes are for the call's
//! agent and for staff of its client.

use crate::app::App;
use crate::desk::ws::{DesktopEvent, DesktopMessage};
use crate::engine::{ManualDial, Request};
use crate::http::auth::{Auth, ScopedClient};
use crate::http::error::{ApiError, ErrorBody, ErrorDetail, JsonBody};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use palera_core::campaign::TimeZoneSource;
use palera_core::contact::{ContactFields, PropertyDef};
use palera_core::desk::{check_manual_dial, check_notes, ManualRefusal, Script};
use palera_core::ids::{CallId, CampaignId, ClientId, ContactId, UserId};
use palera_core::phone::PhoneNumber;
use palera_core::user::Role;
use palera_store::calls::Call;
use palera_store::campaigns::StoredDisposition;
use palera_store::contacts::{Actor, Contact, ContactChange};
use palera_store::desk::{CallNotes, ContactCall, NotesSave};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use utoipa::{IntoParams, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    paths(
        card,
        call_card,
        get_notes,
        put_notes,
        edit_field,
        conversation,
        manual_call
    ),
    components(schemas(
        ContactCard,
        ListRef,
        CallNotes,
        ContactCall,
        Script,
        NotesRequest,
        NotesConflict,
        FieldEdit,
        ConversationEntry,
        ManualCallRequest,
        ManualCallPlaced
    ))
)]
pub struct DeskApiDoc;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/v1/contacts/{contact_id}/card", get(card))
        .route("/api/v1/contacts/{contact_id}/field", post(edit_field))
        .route("/api/v1/calls/{call_id}/card", get(call_card))
        .route(
            "/api/v1/calls/{call_id}/notes",
            get(get_notes).put(put_notes),
        )
        .route(
            "/api/v1/clients/{client_id}/contacts/{contact_id}/conversation",
            get(conversation),
        )
        .route("/api/v1/me/manual-call", post(manual_call))
}

/// Previous calls shown on the card.
const CARD_CALLS: i64 = 20;

/// A list, by id and name.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListRef {
    pub id: i64,
    pub name: String,
}

/// Everything the desktop shows about the contact of an offered or connected call.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactCard {
    pub client_id: ClientId,
    pub contact: Contact,
    /// The list the contact is in now.
    pub list: Option<ListRef>,
    /// The client's property schema, in display order (for inline editing).
    pub properties: Vec<PropertyDef>,
    /// The contact's calls, newest first (the current one included).
    pub calls: Vec<ContactCall>,
    /// The notes of `call_id`, when one was asked for.
    pub notes: Option<CallNotes>,
    /// The script of `campaign_id`, when one was asked for.
    pub script: Option<Script>,
    /// The dispositions of `campaign_id`.
    pub dispositions: Vec<StoredDisposition>,
    /// The contact's conversation page.
    pub conversation_url: String,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CardQuery {
    /// The call in progress (its notes come with the card).
    pub call_id: Option<i64>,
    /// The campaign (its script and dispositions come with the card).
    pub campaign_id: Option<i64>,
}

/// The contact, if it is one of a client the caller may see.
async fn scoped_contact(app: &App, auth: &Auth, id: ContactId) -> Result<Contact, ApiError> {
    app.store
        .contact_in(&auth.scope(), id)
        .await
        .map_err(|_| ApiError::not_found())
}

/// The call, if the caller may work on it: its agent, or staff of its client.
pub(crate) async fn workable_call(app: &App, auth: &Auth, id: CallId) -> Result<Call, ApiError> {
    let call = app
        .store
        .call_in(&auth.scope(), id)
        .await
        .map_err(|_| ApiError::not_found())?;
    if auth.user.role == Role::Agent && call.agent_id != Some(auth.user.id) {
        return Err(ApiError::not_found());
    }
    Ok(call)
}

type Params = Path<HashMap<String, String>>;

fn path_id(p: &HashMap<String, String>, key: &str) -> Result<i64, ApiError> {
    p.get(key)
        .and_then(|v| v.parse().ok())
        .ok_or_else(ApiError::not_found)
}

fn conversation_url(client: ClientId, contact: ContactId) -> String {
    format!("/clients/{client}/contacts/{contact}/conversation")
}

#[utoipa::path(get, path = "/api/v1/contacts/{contact_id}/card",
    params(("contact_id" = i64, Path), CardQuery),
    responses((status = 200, body = ContactCard), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip(app, auth, q), fields(user = %auth.user.id))]
async fn card(
    State(app): State<App>,
    auth: Auth,
    Path(contact_id): Path<i64>,
    Query(q): Query<CardQuery>,
) -> Result<Json<ContactCard>, ApiError> {
    let contact = scoped_contact(&app, &auth, ContactId(contact_id)).await?;
    let client = contact.client_id;
    let list = match contact.list_id {
        Some(l) => app.store.list(client, l).await.ok().map(|l| ListRef {
            id: l.id.0,
            name: l.name,
        }),
        None => None,
    };
    let notes = match q.call_id.map(CallId) {
        Some(id) => {
            let call = workable_call(&app, &auth, id).await?;
            if call.contact_id != Some(contact.id) {
                return Err(ApiError::invalid(
                    "call_id",
                    "is not a call of this contact",
                ));
            }
            Some(app.store.call_notes(client, id).await?)
        }
        None => None,
    };
    let (script, dispositions) = match q.campaign_id.map(CampaignId) {
        Some(id) => {
            let c = app.store.campaign(client, id).await.map_err(|_| {
                ApiError::invalid("campaign_id", "is not a campaign of this client")
            })?;
            (Some(c.script), app.store.dispositions(client, id).await?)
        }
        None => (None, Vec::new()),
    };
    Ok(Json(ContactCard {
        client_id: client,
        list,
        properties: app.store.property_schema(client).await?.properties,
        calls: app
            .store
            .contact_calls(client, contact.id, CARD_CALLS)
            .await?,
        notes,
        script,
        dispositions,
        conversation_url: conversation_url(client, contact.id),
        contact,
    }))
}

#[utoipa::path(get, path = "/api/v1/calls/{call_id}/card", params(("call_id" = i64, Path)),
    responses((status = 200, body = ContactCard, description = "the card of the call's contact, with the call's notes and its campaign's script"), (status = 404, body = ErrorBody)))]
async fn call_card(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<Json<ContactCard>, ApiError> {
    let call = workable_call(&app, &auth, CallId(id)).await?;
    let contact = call.contact_id.ok_or_else(ApiError::not_found)?;
    let q = CardQuery {
        call_id: Some(id),
        campaign_id: call.campaign_id.map(|c| c.0),
    };
    card(State(app), auth, Path(contact.0), Query(q)).await
}

#[utoipa::path(get, path = "/api/v1/calls/{call_id}/notes", params(("call_id" = i64, Path)),
    responses((status = 200, body = CallNotes), (status = 404, body = ErrorBody)))]
async fn get_notes(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<Json<CallNotes>, ApiError> {
    let call = workable_call(&app, &auth, CallId(id)).await?;
    Ok(Json(app.store.call_notes(call.client_id, call.id).await?))
}

/// A notes save: the whole text, written on top of `base_version` (the version the writer last
/// saw; 0 before the first save).
#[derive(Debug, Deserialize, ToSchema)]
pub struct NotesRequest {
    pub text: String,
    pub base_version: i64,
}

/// 409: someone saved a newer version first. Nothing was overwritten: `current` is what is
/// stored, `yours` the text that was not saved. Save again with `base_version` =
/// `current.version` to replace it.
#[derive(Serialize, ToSchema)]
pub struct NotesConflict {
    pub error: ErrorDetail,
    pub current: CallNotes,
    pub yours: String,
}

#[utoipa::path(put, path = "/api/v1/calls/{call_id}/notes", params(("call_id" = i64, Path)), request_body = NotesRequest,
    responses((status = 200, body = CallNotes, description = "saved; `version` is the new version"),
        (status = 409, body = NotesConflict, description = "a newer version was saved first; nothing was written"),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip(app, auth, req), fields(user = %auth.user.id))]
async fn put_notes(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<i64>,
    JsonBody(req): JsonBody<NotesRequest>,
) -> Result<Response, ApiError> {
    let call = workable_call(&app, &auth, CallId(id)).await?;
    check_notes(&req.text)?;
    if req.base_version < 0 {
        return Err(ApiError::invalid("base_version", "must be 0 or more"));
    }
    let saved = app
        .store
        .save_call_notes(
            call.client_id,
            call.id,
            &req.text,
            req.base_version,
            auth.user.id,
            app.now_ms(),
        )
        .await?;
    match saved {
        NotesSave::Saved(notes) => {
            let tell = |user: UserId| {
                let _ = app.events.send(DesktopEvent::new(
                    user,
                    DesktopMessage::NotesSaved {
                        call_id: call.id,
                        version: notes.version,
                        text: notes.text.clone(),
                    },
                ));
            };
            tell(auth.user.id);
            if let Some(agent) = call.agent_id.filter(|a| *a != auth.user.id) {
                tell(agent);
            }
            Ok(Json(notes).into_response())
        }
        NotesSave::Conflict(current) => {
            tracing::info!(call = %call.id, base = req.base_version, latest = current.version, "notes save conflict");
            let body = NotesConflict {
                error: ErrorDetail {
                    code: "notes_conflict".into(),
                    message: format!(
                        "these notes were saved elsewhere (version {}) after the version {} you edited; both texts are kept — choose which to keep",
                        current.version, req.base_version
                    ),
                    field: Some("base_version".into()),
                },
                current,
                yours: req.text,
            };
            Ok((StatusCode::CONFLICT, Json(body)).into_response())
        }
    }
}

/// One field of a contact set to a new value: `first_name`, `last_name`, `email`, `time_zone`
/// or `properties.<name>`. `null` or `""` clears it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct FieldEdit {
    pub field: String,
    #[schema(value_type = Object)]
    pub value: Value,
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[utoipa::path(post, path = "/api/v1/contacts/{contact_id}/field", params(("contact_id" = i64, Path)), request_body = FieldEdit,
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody, description = "the field and why")))]
#[tracing::instrument(skip(app, auth, req), fields(user = %auth.user.id, field = %req.field))]
async fn edit_field(
    State(app): State<App>,
    auth: Auth,
    Path(contact_id): Path<i64>,
    JsonBody(req): JsonBody<FieldEdit>,
) -> Result<Json<Contact>, ApiError> {
    let contact = ContactId(contact_id);
    Ok(Json(
        edit_contact_field(&app, &auth, contact, &req, "desktop").await?,
    ))
}

/// Sets one field of a contact the user may see, validated against the property schema and
/// recorded in the contact's history with the user as author (`source` says from where).
pub(crate) async fn edit_contact_field(
    app: &App,
    auth: &Auth,
    contact: ContactId,
    req: &FieldEdit,
    source: &str,
) -> Result<Contact, ApiError> {
    let old = scoped_contact(app, auth, contact).await?;
    let client = old.client_id;
    let schema = app.store.property_schema(client).await?;
    let mut f = ContactFields {
        phone: old.phone.as_str().to_string(),
        first_name: Some(old.first_name.clone()),
        last_name: Some(old.last_name.clone()),
        email: old.email.clone(),
        time_zone: old.time_zone.clone(),
        // Only properties of the schema are checked; values of removed definitions stay.
        properties: old
            .properties
            .iter()
            .filter(|(k, _)| schema.get(k).is_some())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    };
    match req.field.as_str() {
        "first_name" => f.first_name = text_of(&req.value),
        "last_name" => f.last_name = text_of(&req.value),
        "email" => f.email = text_of(&req.value),
        "time_zone" => f.time_zone = text_of(&req.value),
        "phone" => {
            return Err(ApiError::invalid(
                "phone",
                "cannot change: a contact is identified by its number",
            ))
        }
        other => {
            let Some(name) = other.strip_prefix("properties.") else {
                return Err(ApiError::invalid(
                    "field",
                    format!("{other:?} is not a contact field (first_name, last_name, email, time_zone, properties.<name>)"),
                ));
            };
            if schema.get(name).is_none() {
                return Err(ApiError::invalid(other, "is not a property of this client"));
            }
            match &req.value {
                Value::Null => {
                    f.properties.remove(name);
                }
                Value::String(s) if s.trim().is_empty() => {
                    f.properties.remove(name);
                }
                v => {
                    f.properties.insert(name.to_string(), v.clone());
                }
            }
        }
    }
    let country = app.store.client(client).await?.default_country;
    let mut data = f.validate(&schema, Some(country.as_str()).filter(|c| !c.is_empty()))?;
    for (k, v) in &old.properties {
        if schema.get(k).is_none() {
            data.properties.insert(k.clone(), v.clone());
        }
    }
    let actor = Actor::user(auth.user.id, source);
    Ok(app
        .store
        .update_contact(client, old.id, &data, &actor, app.now_ms())
        .await?)
}

/// One entry of a contact's conversation: a call, or a recorded change (`property` for fields
/// and properties, `list` for a list move).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationEntry {
    /// `call`, `property` or `list`.
    pub kind: String,
    pub at: i64,
    pub call: Option<ContactCall>,
    /// The field or property changed (`first_name`, `properties.plan`, `list`).
    pub field: Option<String>,
    /// Before and after (list names for list moves).
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    /// Who made the change (a user's name), or where it came from.
    pub by: Option<String>,
    pub source: Option<String>,
}

/// The contact's timeline, newest first.
pub async fn conversation_entries(
    app: &App,
    client: ClientId,
    contact: ContactId,
) -> Result<Vec<ConversationEntry>, ApiError> {
    let calls = app.store.contact_calls(client, contact, 10_000).await?;
    let history = app.store.contact_history(client, contact).await?;
    let lists: HashMap<String, String> = app
        .store
        .lists(client)
        .await?
        .into_iter()
        .map(|l| (l.id.0.to_string(), l.name))
        .collect();
    let mut names: HashMap<UserId, String> = HashMap::new();
    let mut out: Vec<ConversationEntry> = calls
        .into_iter()
        .map(|c| ConversationEntry {
            kind: "call".into(),
            at: c.placed_at,
            field: None,
            old_value: None,
            new_value: None,
            by: c.agent.clone(),
            source: None,
            call: Some(c),
        })
        .collect();
    for h in history {
        out.push(change_entry(app, h, &lists, &mut names).await);
    }
    // Newest first; at the same instant the later-recorded entry first.
    out.sort_by_key(|e| std::cmp::Reverse(e.at));
    Ok(out)
}

async fn change_entry(
    app: &App,
    h: ContactChange,
    lists: &HashMap<String, String>,
    names: &mut HashMap<UserId, String>,
) -> ConversationEntry {
    let is_list = h.field == "list";
    let list_name = |v: Option<String>| {
        v.map(|id| {
            lists
                .get(&id)
                .cloned()
                .unwrap_or_else(|| format!("list {id}"))
        })
    };
    let by = match h.user_id {
        Some(u) => {
            if let Some(n) = names.get(&u) {
                Some(n.clone())
            } else {
                let n = app
                    .store
                    .user(u)
                    .await
                    .map_or_else(|_| format!("user {u}"), |x| x.name);
                names.insert(u, n.clone());
                Some(n)
            }
        }
        None => None,
    };
    ConversationEntry {
        kind: if is_list { "list" } else { "property" }.into(),
        at: h.at,
        call: None,
        old_value: if is_list {
            list_name(h.old_value)
        } else {
            h.old_value
        },
        new_value: if is_list {
            list_name(h.new_value)
        } else {
            h.new_value
        },
        field: Some(h.field),
        by,
        source: Some(h.source),
    }
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/contacts/{contact_id}/conversation",
    params(("client_id" = i64, Path), ("contact_id" = i64, Path)),
    responses((status = 200, body = [ConversationEntry]), (status = 404, body = ErrorBody)))]
async fn conversation(
    State(app): State<App>,
    c: ScopedClient,
    Path(p): Params,
) -> Result<Json<Vec<ConversationEntry>>, ApiError> {
    let id = ContactId(path_id(&p, "contact_id")?);
    app.store.contact(c.client, id).await?;
    Ok(Json(conversation_entries(&app, c.client, id).await?))
}

/// A number to call outside campaigns: E.164, or national for the client's default country.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ManualCallRequest {
    pub number: String,
    /// Needed when the agent works for more than one client.
    pub client_id: Option<ClientId>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ManualCallPlaced {
    pub call_id: CallId,
    pub contact_id: ContactId,
    pub client_id: ClientId,
    /// The number dialled, E.164.
    pub phone: String,
    /// True when no contact had this number and one was created (in no list).
    pub contact_created: bool,
}

#[utoipa::path(post, path = "/api/v1/me/manual-call", request_body = ManualCallRequest,
    responses((status = 201, body = ManualCallPlaced),
        (status = 422, body = ErrorBody, description = "bad number, do-not-call, outside the calling window, or the agent is busy"),
        (status = 429, body = ErrorBody), (status = 502, body = ErrorBody)))]
#[tracing::instrument(skip(app, auth, req), fields(user = %auth.user.id))]
async fn manual_call(
    State(app): State<App>,
    auth: Auth,
    JsonBody(req): JsonBody<ManualCallRequest>,
) -> Result<Response, ApiError> {
    let client = manual_client(&auth, req.client_id)?;
    let placed = place_manual_call(&app, &auth.user, client, &req.number).await?;
    Ok((StatusCode::CREATED, Json(placed)).into_response())
}

/// Places `me`'s manual call to `number` for `client` (which `me` serves) through the manual-call
/// rules: the agent may call, the client's voice is on, the number parses (national numbers in
/// the client's default country), is not on the do-not-call list and is inside its calling
/// window; a number no contact has becomes a contact in no list. The desktop's call button and
/// calls placed from the Voice SDK through the client's TwiML App both come here.
pub async fn place_manual_call(
    app: &App,
    me: &palera_store::users::User,
    client: ClientId,
    number: &str,
) -> Result<ManualCallPlaced, ApiError> {
    check_may_call(me)?;
    let c = app.store.client(client).await?;
    if !c.voice_enabled {
        return Err(ApiError::invalid(
            "client_id",
            "voice is turned off for this client",
        ));
    }
    let country = Some(c.default_country.as_str()).filter(|s| !s.is_empty());
    let phone = PhoneNumber::parse_field("number", number, country)?;
    let existing = app.store.contact_by_phone(client, &phone).await?;
    check_manual_rules(app, client, &phone, existing.as_ref()).await?;
    let (contact, created) = match existing {
        Some(x) => (x, false),
        None => {
            let data = ContactFields {
                phone: phone.as_str().to_string(),
                ..Default::default()
            }
            .validate(&Default::default(), country)?;
            let actor = Actor::user(me.id, "manual_call");
            let x = app
                .store
                .create_contact(client, None, &data, &actor, app.now_ms())
                .await?;
            (x, true)
        }
    };
    let name = format!("{} {}", contact.first_name, contact.last_name)
        .trim()
        .to_string();
    let dial = ManualDial {
        agent: me.id,
        client,
        contact: contact.id,
        name,
        phone: phone.clone(),
    };
    let call = app
        .engine
        .ask(|reply| Request::ManualDial { dial, reply })
        .await??;
    Ok(ManualCallPlaced {
        call_id: call,
        contact_id: contact.id,
        client_id: client,
        phone: phone.as_str().to_string(),
        contact_created: created,
    })
}

/// Only a voice-enabled agent who is not Offline for Voice places calls.
fn check_may_call(me: &palera_store::users::User) -> Result<(), ApiError> {
    if !me.voice_enabled {
        return Err(ApiError::invalid(
            "number",
            "voice is not enabled for you; an admin can enable it",
        ));
    }
    if me.voice_state == palera_core::user::VoiceState::Offline {
        return Err(ApiError::invalid(
            "number",
            "you are Offline for Voice: go Ready or Standby to place a call",
        ));
    }
    Ok(())
}

/// The client a manual call is for: the one asked (if the agent serves it), or the agent's only
/// client.
fn manual_client(auth: &Auth, asked: Option<ClientId>) -> Result<ClientId, ApiError> {
    match (asked, auth.user.clients.as_slice()) {
        (Some(c), _) => {
            auth.check_client(c)
                .map_err(|_| ApiError::invalid("client_id", "is not one of your clients"))?;
            Ok(c)
        }
        (None, [one]) => Ok(*one),
        (None, []) => Err(ApiError::invalid(
            "client_id",
            "you are not assigned to a client",
        )),
        (None, _) => Err(ApiError::invalid(
            "client_id",
            "choose the client to call for",
        )),
    }
}

/// The do-not-call list and the calling window, in the contact's zone (or the number's).
async fn check_manual_rules(
    app: &App,
    client: ClientId,
    phone: &PhoneNumber,
    existing: Option<&Contact>,
) -> Result<(), ApiError> {
    let on_dnc = app.contacts.is_on_dnc(client, phone).await?;
    let zone = existing
        .and_then(|x| x.time_zone.as_deref())
        .and_then(|z| z.parse().ok());
    let zones = TimeZoneSource::resolve(zone, phone);
    match check_manual_dial(phone.as_str(), on_dnc, &zones, app.clock.now()) {
        Ok(()) => Ok(()),
        Err(refusal) => {
            tracing::info!(%refusal, "manual call refused");
            let code = match refusal {
                ManualRefusal::OnDnc(_) => "do_not_call",
                _ => "outside_calling_window",
            };
            Err(ApiError {
                code,
                ..ApiError::invalid("number", refusal.to_string())
            })
        }
    }
}
