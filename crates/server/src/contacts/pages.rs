//! The contact pages of a client (issue 4), for admins and supervisors: the lists as a pipeline
//! with counts, a list's contacts with search, filters, keyset pagination and bulk moves, a
//! contact's details with its properties editor, list membership and history, the DNC list, and
//! the import wizard (upload, column mapping preview, progress bar; driven by `import.js` over
//! the JSON API). Every form post carries the session's CSRF token.

use crate::app::App;
use crate::http::auth::Auth;
use crate::http::error::ApiError;
use crate::http::pages::{notice_or_error, render_loaded, FormError};
use crate::http::pages::{saved_redirect, PageForm, Saved, StaffPage};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use palera_core::contact::{ContactFields, PropertyDef, PropertyKind};
use palera_core::ids::{ContactId, ListId};
use palera_core::phone::PhoneNumber;
use palera_store::clients::Client;
use palera_store::contacts::{Actor, Contact, ContactChange, ContactFilter, ContactSelection};
use palera_store::dnc::DncEntry;
use palera_store::lists::{list_name, ContactList, ListCount};
use palera_store::users::User;
use serde::Deserialize;
use serde_json::Value;

/// Contacts per page of a list.
const PAGE: i64 = 50;

pub fn routes() -> Router<App> {
    let c = "/admin/clients/{client_id}";
    Router::new()
        .route("/static/import.js", get(import_js))
        .route(&format!("{c}/lists"), get(lists_page).post(list_create))
        .route(&format!("{c}/lists/{{list_id}}/shift"), post(list_shift))
        .route(&format!("{c}/lists/{{list_id}}"), get(list_page))
        .route(&format!("{c}/lists/{{list_id}}/move"), post(list_move))
        .route(
            &format!("{c}/contacts/{{contact_id}}"),
            get(contact_page).post(contact_save),
        )
        .route(
            &format!("{c}/contacts/{{contact_id}}/list"),
            post(contact_list_set),
        )
        .route(&format!("{c}/dnc"), get(dnc_page).post(dnc_add))
        .route(&format!("{c}/dnc/remove"), post(dnc_remove))
        .route(&format!("{c}/import"), get(import_page))
}

async fn import_js() -> Response {
    crate::http::pages::javascript(include_str!("../../static/import.js"))
}

fn country(c: &Client) -> Option<&str> {
    Some(c.default_country.as_str()).filter(|c| !c.is_empty())
}

#[derive(Template)]
#[template(path = "contact_lists.html")]
struct ListsPage {
    me: User,
    csrf: String,
    client: Client,
    lists: Vec<ListCount>,
    unlisted: i64,
    error: Option<String>,
}

async fn lists_view(app: &App, auth: Auth, client: Client, error: Option<ApiError>) -> Response {
    let loaded = async {
        let lists = app.store.list_counts(client.id).await?;
        let unlisted = app
            .store
            .count_contacts(
                client.id,
                &ContactFilter {
                    no_list: true,
                    ..Default::default()
                },
            )
            .await?;
        Ok::<_, ApiError>((lists, unlisted))
    }
    .await;
    let error = FormError::from(error);
    render_loaded(loaded, error.status, |(lists, unlisted)| ListsPage {
        me: auth.user,
        csrf: auth.csrf,
        client,
        lists,
        unlisted,
        error: error.message,
    })
}

async fn lists_page(State(app): State<App>, StaffPage { auth, client }: StaffPage) -> Response {
    lists_view(&app, auth, client, None).await
}

async fn list_create(
    State(app): State<App>,
    StaffPage { auth, client }: StaffPage,
    PageForm { form: f, .. }: PageForm,
) -> Response {
    let id = client.id.0;
    let result = async {
        let name = list_name("name", &f.get("name"))?;
        Ok::<_, ApiError>(
            app.store
                .create_list(client.id, &name, app.now_ms())
                .await?,
        )
    }
    .await;
    match result {
        Ok(_) => Redirect::to(&format!("/admin/clients/{id}/lists")).into_response(),
        Err(e) => lists_view(&app, auth, client, Some(e)).await,
    }
}

/// Moves a list one place earlier or later in the pipeline.
async fn list_shift(
    State(app): State<App>,
    StaffPage { auth, client }: StaffPage,
    Path((_, list_id)): Path<(i64, i64)>,
    PageForm { form: f, .. }: PageForm,
) -> Response {
    let id = client.id.0;
    let result = async {
        let mut order: Vec<ListId> = app
            .store
            .lists(client.id)
            .await?
            .into_iter()
            .map(|l| l.id)
            .collect();
        let i = order
            .iter()
            .position(|l| l.0 == list_id)
            .ok_or_else(ApiError::not_found)?;
        let j = if f.get("dir") == "up" {
            i.saturating_sub(1)
        } else {
            (i + 1).min(order.len() - 1)
        };
        order.swap(i, j);
        Ok::<_, ApiError>(app.store.reorder_lists(client.id, &order).await?)
    }
    .await;
    match result {
        Ok(()) => Redirect::to(&format!("/admin/clients/{id}/lists")).into_response(),
        Err(e) => lists_view(&app, auth, client, Some(e)).await,
    }
}

/// The filter fields of the list page.
#[derive(Debug, Default, Deserialize, Clone)]
pub struct ListQuery {
    #[serde(default)]
    pub search: String,
    #[serde(default)]
    pub time_zone: String,
    #[serde(default)]
    pub property: String,
    #[serde(default)]
    pub value: String,
    pub after: Option<i64>,
}

impl ListQuery {
    fn filter(&self, list: ListId) -> ContactFilter {
        let nonempty = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        ContactFilter {
            list: Some(list),
            search: nonempty(&self.search),
            time_zone: nonempty(&self.time_zone),
            property: nonempty(&self.property).map(|p| (p, self.value.trim().to_string())),
            ..Default::default()
        }
    }
    /// The query string of the current filter (without the page position).
    fn keep(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("search", &self.search)
            .append_pair("time_zone", &self.time_zone)
            .append_pair("property", &self.property)
            .append_pair("value", &self.value)
            .finish()
    }
}

#[derive(Template)]
#[template(path = "contact_list.html")]
struct ListPage {
    me: User,
    csrf: String,
    client: Client,
    list: ContactList,
    lists: Vec<ContactList>,
    properties: Vec<PropertyDef>,
    contacts: Vec<Contact>,
    q: ListQuery,
    keep: String,
    next_after: Option<i64>,
    filtered: bool,
    notice: Option<String>,
}

async fn list_view(
    app: &App,
    auth: Auth,
    client: Client,
    list_id: i64,
    q: ListQuery,
    notice: Option<String>,
) -> Response {
    let loaded = async {
        // No counts here: counting a million-contact list costs more than the page itself
        // (the pipeline page shows them).
        let lists = app.store.lists(client.id).await?;
        let list = lists
            .iter()
            .find(|l| l.id.0 == list_id)
            .cloned()
            .ok_or_else(ApiError::not_found)?;
        let filter = q.filter(list.id);
        let contacts = app
            .store
            .search_contacts(client.id, &filter, q.after.map(ContactId), PAGE)
            .await?;
        let properties = app.store.property_schema(client.id).await?.properties;
        Ok::<_, ApiError>((lists, list, contacts, properties, filter))
    }
    .await;
    render_loaded(
        loaded,
        StatusCode::OK,
        |(lists, list, contacts, properties, filter)| ListPage {
            next_after: (contacts.len() as i64 == PAGE)
                .then(|| contacts.last().map(|c| c.id.0))
                .flatten(),
            filtered: filter.search.is_some()
                || filter.time_zone.is_some()
                || filter.property.is_some(),
            keep: q.keep(),
            me: auth.user,
            csrf: auth.csrf,
            client,
            list,
            lists,
            properties,
            contacts,
            q,
            notice,
        },
    )
}

async fn list_page(
    State(app): State<App>,
    StaffPage { auth, client }: StaffPage,
    Path((_, list_id)): Path<(i64, i64)>,
    Query(q): Query<ListQuery>,
) -> Response {
    list_view(&app, auth, client, list_id, q, None).await
}

/// Moves the selected contacts, or every contact matching the filter, to another list.
async fn list_move(
    State(app): State<App>,
    StaffPage { auth, client }: StaffPage,
    Path((_, list_id)): Path<(i64, i64)>,
    PageForm { form: f, .. }: PageForm,
) -> Response {
    let q = ListQuery {
        search: f.get("search"),
        time_zone: f.get("time_zone"),
        property: f.get("property"),
        value: f.get("value"),
        after: None,
    };
    let result = async {
        let from = app.store.list(client.id, ListId(list_id)).await?;
        let to = f
            .get("to")
            .parse::<i64>()
            .map_err(|_| ApiError::invalid("to", "choose a list"))?;
        let to = app
            .store
            .list(client.id, ListId(to))
            .await
            .map_err(|_| ApiError::invalid("to", "is not a list of this client"))?;
        let selection = if f.get("scope") == "all" {
            ContactSelection::Filter(q.filter(from.id))
        } else {
            let ids: Vec<ContactId> = f
                .all("contact")
                .iter()
                .filter_map(|v| v.parse().ok())
                .map(ContactId)
                .collect();
            if ids.is_empty() {
                return Err(ApiError::invalid("contact", "select at least one contact"));
            }
            ContactSelection::Ids(ids)
        };
        let actor = Actor::user(auth.user.id, "page");
        let moved = app
            .store
            .move_contacts(client.id, &selection, Some(to.id), &actor, app.now_ms())
            .await?;
        Ok::<_, ApiError>(format!("Moved {moved} contacts to {}.", to.name))
    }
    .await;
    let notice = match result {
        Ok(n) => n,
        Err(e) => e.message,
    };
    list_view(&app, auth, client, list_id, q, Some(notice)).await
}

/// One property row of the contact editor.
struct PropertyRow {
    def: PropertyDef,
    value: String,
}

impl PropertyRow {
    fn input_type(&self) -> &'static str {
        match self.def.kind {
            PropertyKind::Number => "number",
            PropertyKind::Date => "date",
            PropertyKind::Email => "email",
            PropertyKind::Phone => "tel",
            _ => "text",
        }
    }
    fn is(&self, kind: &str) -> bool {
        self.def.kind.as_str() == kind
    }
}

#[derive(Template)]
#[template(path = "contact.html")]
struct ContactPage {
    me: User,
    csrf: String,
    client: Client,
    contact: Contact,
    lists: Vec<ListCount>,
    properties: Vec<PropertyRow>,
    history: Vec<ContactChange>,
    /// Names of the people in the history, by user id.
    names: std::collections::HashMap<i64, String>,
    error: Option<String>,
    error_field: String,
    notice: Option<String>,
}

impl ContactPage {
    fn list_name(&self, id: &Option<String>) -> String {
        let Some(id) = id else {
            return "—".into();
        };
        self.lists
            .iter()
            .find(|l| l.list.id.0.to_string() == *id)
            .map(|l| l.list.name.clone())
            .unwrap_or_else(|| format!("list {id}"))
    }
    fn when(&self, at: &i64) -> String {
        crate::http::pages::client_time(*at, &self.client.time_zone)
    }
    fn field(&self, field: &str) -> String {
        let defs: Vec<PropertyDef> = self.properties.iter().map(|p| p.def.clone()).collect();
        crate::http::words::field(field, &defs)
    }
    fn value(&self, v: &Option<String>) -> String {
        v.as_deref()
            .map(crate::http::words::value)
            .unwrap_or_default()
    }
    /// Who made a change: the person's name and where, or where alone.
    fn by(&self, h: &ContactChange) -> String {
        let from = crate::http::words::source(&h.source);
        match h.user_id.and_then(|u| self.names.get(&u.0)) {
            Some(name) => format!("{name} ({from})"),
            None => from,
        }
    }
    fn in_list(&self, id: &ListId) -> bool {
        self.contact.list_id == Some(*id)
    }
}

fn value_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

async fn contact_view(
    app: &App,
    auth: Auth,
    client: Client,
    contact_id: i64,
    error: Option<ApiError>,
    notice: Option<String>,
) -> Response {
    let loaded = async {
        let contact = app.store.contact(client.id, ContactId(contact_id)).await?;
        let lists = app.store.list_counts(client.id).await?;
        let schema = app.store.property_schema(client.id).await?;
        let history = app.store.contact_history(client.id, contact.id).await?;
        let mut names = std::collections::HashMap::new();
        for id in history.iter().filter_map(|h| h.user_id) {
            if let std::collections::hash_map::Entry::Vacant(e) = names.entry(id.0) {
                if let Ok(u) = app.store.user(id).await {
                    e.insert(u.name);
                }
            }
        }
        Ok::<_, ApiError>((contact, lists, schema, history, names))
    }
    .await;
    let error = FormError::from(error);
    render_loaded(
        loaded,
        error.status,
        |(contact, lists, schema, history, names)| ContactPage {
            properties: schema
                .properties
                .into_iter()
                .map(|def| PropertyRow {
                    value: value_text(contact.properties.get(&def.name)),
                    def,
                })
                .collect(),
            error: error.message,
            error_field: error.field,
            me: auth.user,
            csrf: auth.csrf,
            client,
            contact,
            lists,
            history,
            names,
            notice,
        },
    )
}

async fn contact_page(
    State(app): State<App>,
    StaffPage { auth, client }: StaffPage,
    Path((_, contact_id)): Path<(i64, i64)>,
    Query(saved): Query<Saved>,
) -> Response {
    let notice = saved.notice(&[("contact", "Saved.")]);
    contact_view(&app, auth, client, contact_id, None, notice).await
}

/// Saves the details and properties form; every change lands in the history.
async fn contact_save(
    State(app): State<App>,
    StaffPage { auth, client }: StaffPage,
    Path((_, contact_id)): Path<(i64, i64)>,
    PageForm { form: f, .. }: PageForm,
) -> Response {
    let result = async {
        let contact = app.store.contact(client.id, ContactId(contact_id)).await?;
        let schema = app.store.property_schema(client.id).await?;
        let mut fields = ContactFields {
            phone: contact.phone.to_string(),
            first_name: Some(f.get("first_name")),
            last_name: Some(f.get("last_name")),
            email: Some(f.get("email")),
            time_zone: Some(f.get("time_zone")),
            properties: Default::default(),
        };
        for def in &schema.properties {
            let key = format!("p_{}", def.name);
            let raw = if def.kind == PropertyKind::Boolean {
                if f.checked(&key) { "true" } else { "false" }.to_string()
            } else {
                f.get(&key)
            };
            fields
                .properties
                .insert(def.name.clone(), Value::String(raw));
        }
        let data = fields.validate(&schema, country(&client))?;
        let actor = Actor::user(auth.user.id, "page");
        Ok::<_, ApiError>(
            app.store
                .update_contact(client.id, contact.id, &data, &actor, app.now_ms())
                .await?,
        )
    }
    .await;
    match result {
        Ok(_) => saved_redirect(
            &format!("/admin/clients/{}/contacts/{contact_id}", client.id),
            "contact",
        ),
        Err(e) => contact_view(&app, auth, client, contact_id, Some(e), None).await,
    }
}

/// Moves one contact to a list (or out of every list).
async fn contact_list_set(
    State(app): State<App>,
    StaffPage { auth, client }: StaffPage,
    Path((_, contact_id)): Path<(i64, i64)>,
    PageForm { form: f, .. }: PageForm,
) -> Response {
    let chosen = f.get("list").parse::<i64>().ok();
    let result = async {
        let contact = app.store.contact(client.id, ContactId(contact_id)).await?;
        let to = match chosen {
            Some(l) => Some(app.store.list(client.id, ListId(l)).await?.id),
            None => None,
        };
        let actor = Actor::user(auth.user.id, "page");
        app.store
            .move_contacts(
                client.id,
                &ContactSelection::Ids(vec![contact.id]),
                to,
                &actor,
                app.now_ms(),
            )
            .await?;
        Ok::<_, ApiError>("List changed.".to_string())
    }
    .await;
    let (error, notice) = notice_or_error(result);
    contact_view(&app, auth, client, contact_id, error, notice).await
}

#[derive(Template)]
#[template(path = "dnc.html")]
struct DncPage {
    me: User,
    csrf: String,
    client: Client,
    entries: Vec<DncEntry>,
    total: i64,
    prefix: String,
    next_after: Option<String>,
    error: Option<String>,
    notice: Option<String>,
}

impl DncPage {
    fn when(&self, at: &i64) -> String {
        crate::http::pages::client_time(*at, &self.client.time_zone)
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct DncQuery {
    #[serde(default)]
    pub prefix: String,
    pub after: Option<String>,
}

async fn dnc_view(
    app: &App,
    auth: Auth,
    client: Client,
    q: DncQuery,
    error: Option<ApiError>,
    notice: Option<String>,
) -> Response {
    let loaded = async {
        let entries = app
            .store
            .dnc_entries(client.id, Some(&q.prefix), q.after.as_deref(), PAGE)
            .await?;
        let total = app.store.dnc_count(client.id).await?;
        Ok::<_, ApiError>((entries, total))
    }
    .await;
    let error = FormError::from(error);
    render_loaded(loaded, error.status, |(entries, total)| DncPage {
        next_after: (entries.len() as i64 == PAGE)
            .then(|| entries.last().map(|e| e.number.clone()))
            .flatten(),
        me: auth.user,
        csrf: auth.csrf,
        client,
        entries,
        total,
        prefix: q.prefix,
        error: error.message,
        notice,
    })
}

async fn dnc_page(
    State(app): State<App>,
    StaffPage { auth, client }: StaffPage,
    Query(q): Query<DncQuery>,
) -> Response {
    dnc_view(&app, auth, client, q, None, None).await
}

/// Adds the numbers typed in the form (one per line or comma-separated).
async fn dnc_add(
    State(app): State<App>,
    StaffPage { auth, client }: StaffPage,
    PageForm { form: f, .. }: PageForm,
) -> Response {
    let result = async {
        let raw = f.get("numbers");
        let numbers: Vec<PhoneNumber> = raw
            .split(['\n', ','])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|n| PhoneNumber::parse_field("numbers", n, country(&client)))
            .collect::<Result<_, _>>()?;
        if numbers.is_empty() {
            return Err(ApiError::invalid("numbers", "give at least one number"));
        }
        for n in &numbers {
            app.store
                .add_dnc(client.id, n, "page", app.now_ms())
                .await?;
        }
        Ok::<_, ApiError>(match numbers.len() {
            1 => "Added 1 number.".to_string(),
            n => format!("Added {n} numbers."),
        })
    }
    .await;
    let (error, notice) = notice_or_error(result);
    dnc_view(&app, auth, client, DncQuery::default(), error, notice).await
}

async fn dnc_remove(
    State(app): State<App>,
    StaffPage { auth, client }: StaffPage,
    PageForm { form: f, .. }: PageForm,
) -> Response {
    let result = async {
        let n = PhoneNumber::parse_field("number", &f.get("number"), None)?;
        app.store.remove_dnc(client.id, &n).await?;
        Ok::<_, ApiError>(format!("Removed {n}."))
    }
    .await;
    let (error, notice) = notice_or_error(result);
    dnc_view(&app, auth, client, DncQuery::default(), error, notice).await
}

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    me: User,
    csrf: String,
    client: Client,
    lists: Vec<ListCount>,
    properties: Vec<PropertyDef>,
}

async fn import_page(State(app): State<App>, StaffPage { auth, client }: StaffPage) -> Response {
    let loaded = async {
        let lists = app.store.list_counts(client.id).await?;
        let properties = app.store.property_schema(client.id).await?.properties;
        Ok::<_, ApiError>((lists, properties))
    }
    .await;
    render_loaded(loaded, StatusCode::OK, |(lists, properties)| ImportPage {
        me: auth.user,
        csrf: auth.csrf,
        client,
        lists,
        properties,
    })
}
