//! Pages of the agent desktop beyond the desktop itself: the conversation view of a contact (its
//! calls — direction, agent, status, duration, disposition, notes — interleaved with property
//! changes and list moves, newest first), open to every user who may see the contact's client,
//! and the desktop's card/notes/script script (`/static/desk.js`).

use crate::app::App;
use crate::desk::api::{conversation_entries, ConversationEntry};
use crate::http::auth::PageAuth;
use crate::http::error::ApiError;
use crate::http::pages::{page_error, render};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use palera_core::ids::{ClientId, ContactId};
use palera_store::clients::Client;
use palera_store::contacts::Contact;
use palera_store::users::User;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/desktop", get(desktop_page))
        .route("/static/desk.js", get(desk_js))
        .route(
            "/clients/{client_id}/contacts/{contact_id}/conversation",
            get(conversation_page),
        )
}

async fn desk_js() -> Response {
    crate::http::pages::javascript(include_str!("../../static/desk.js"))
}

#[derive(Template)]
#[template(path = "conversation.html")]
struct ConversationPage {
    me: User,
    csrf: String,
    client: Client,
    contact: Contact,
    entries: Vec<ConversationEntry>,
    staff: bool,
    /// The script run of each call that had one, by call id.
    runs: std::collections::HashMap<i64, RunSummary>,
    /// The recording (player and transcript) of each recorded call the user may hear.
    recordings: std::collections::HashMap<i64, crate::recordings::api::RecordingView>,
    /// The client's properties (their labels name changed fields).
    properties: Vec<palera_core::contact::PropertyDef>,
}

/// A call's script run as the conversation shows it.
struct RunSummary {
    script: String,
    version: i64,
    finished: bool,
    answers: Vec<(String, String)>,
    /// Each acknowledged disclosure's text and when.
    acknowledged: Vec<(String, String)>,
}

async fn run_summaries(
    app: &App,
    client: ClientId,
    entries: &[ConversationEntry],
) -> Result<std::collections::HashMap<i64, RunSummary>, ApiError> {
    let mut out = std::collections::HashMap::new();
    for c in entries.iter().filter_map(|e| e.call.as_ref()) {
        let Some(r) = app.store.script_run(client, c.id).await? else {
            continue;
        };
        let body = &r.version.body;
        let acknowledged = body
            .steps
            .iter()
            .flat_map(|s| &s.disclosures)
            .filter_map(|d| {
                r.run.acknowledged.get(&d.key).map(|t| {
                    (
                        d.text.clone(),
                        t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                    )
                })
            })
            .collect();
        let answers = crate::scripts::run::labelled_answers(body, &r.run)
            .into_iter()
            .map(|(k, v)| (k, palera_core::script::answer_text(&v)))
            .collect();
        out.insert(
            c.id.0,
            RunSummary {
                script: r.script_name,
                version: r.version.version,
                finished: r.run.finished,
                answers,
                acknowledged,
            },
        );
    }
    Ok(out)
}

impl ConversationPage {
    fn field(&self, f: &str) -> String {
        crate::http::words::field(f, &self.properties)
    }
    fn value(&self, v: &Option<String>) -> String {
        v.as_deref()
            .map(crate::http::words::value)
            .unwrap_or_default()
    }
    fn source(&self, s: &str) -> String {
        crate::http::words::source(s)
    }
    fn run(&self, call: &palera_core::ids::CallId) -> Option<&RunSummary> {
        self.runs.get(&call.0)
    }
    fn recording(
        &self,
        call: &palera_core::ids::CallId,
    ) -> Option<&crate::recordings::api::RecordingView> {
        self.recordings.get(&call.0)
    }
    fn clock(&self, ms: &u64) -> String {
        crate::recordings::pages::clock(*ms)
    }
    fn seconds(&self, ms: &u64) -> String {
        crate::recordings::pages::seconds(*ms)
    }
    fn when(&self, at: &i64) -> String {
        crate::http::pages::client_time(*at, &self.client.time_zone)
    }
    fn duration(&self, s: &Option<i64>) -> String {
        match s {
            Some(s) => format!("{}:{:02}", s / 60, s % 60),
            None => "—".into(),
        }
    }
}

async fn conversation_page(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path((client, contact)): Path<(i64, i64)>,
) -> Response {
    let (client, contact) = (ClientId(client), ContactId(contact));
    let loaded = async {
        auth.check_client(client)?;
        let c = app.store.client(client).await?;
        let x = app.store.contact(client, contact).await?;
        let entries = conversation_entries(&app, client, contact).await?;
        let runs = run_summaries(&app, client, &entries).await?;
        let calls: Vec<_> = entries
            .iter()
            .filter_map(|e| e.call.as_ref())
            .map(|c| c.id)
            .collect();
        let recordings = crate::recordings::api::views_of(&app, &auth, client, &calls).await?;
        let properties = app.store.property_schema(client).await?.properties;
        Ok::<_, ApiError>((c, x, entries, runs, recordings, properties))
    }
    .await;
    match loaded {
        Ok((c, x, entries, runs, recordings, properties)) => render(
            &ConversationPage {
                staff: auth.user.role != palera_core::user::Role::Agent,
                me: auth.user,
                csrf: auth.csrf,
                client: c,
                contact: x,
                entries,
                runs,
                recordings,
                properties,
            },
            StatusCode::OK,
        ),
        Err(e) => page_error(e),
    }
}

#[derive(Template)]
#[template(path = "desktop.html")]
struct DesktopPage {
    me: User,
    csrf: String,
    clients: Vec<Client>,
    heartbeat_ms: u64,
    /// Clients whose Twilio voice token the page keeps fresh (Twilio mode only), space-separated.
    voice_token_clients: String,
    /// The phone panel (templates/softphone.html).
    softphone: crate::desk::softphone::SoftphoneView,
}

async fn desktop_page(State(app): State<App>, PageAuth(auth): PageAuth) -> Response {
    let scope = palera_store::clients::Scope::Only(auth.user.clients.clone());
    match app.store.clients(&scope).await {
        Ok(clients) => render(
            &DesktopPage {
                softphone: crate::desk::softphone::view(
                    &app,
                    &crate::twilio::voice_token::desktop_clients(&app, &auth.user, &clients),
                ),
                voice_token_clients: crate::twilio::voice_token::desktop_clients(
                    &app, &auth.user, &clients,
                ),
                heartbeat_ms: (app.settings.heartbeat_timeout_seconds * 1000 / 3).max(500),
                me: auth.user,
                csrf: auth.csrf,
                clients,
            },
            StatusCode::OK,
        ),
        Err(e) => page_error(e.into()),
    }
}
