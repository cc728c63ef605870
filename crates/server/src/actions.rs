//! The admin action log (issue 19): who changed which client, user, campaign, number, DNC entry
//! or setting, and when. One middleware records every successful change (any method but GET)
//! that staff make to those objects, through the API or the pages alike, after the handler
//! succeeded; admins read the log at `/admin/actions` and `GET /api/v1/admin/actions`. Agents'
//! work (calls, contacts, their own state) is not in it: it has its own history.

use crate::app::App;
use crate::http::auth::{Admin, Auth, PageAuth};
use crate::http::error::ApiError;
use crate::http::pages::{client_time, page_error, render};
use askama::Template;
use axum::extract::{FromRequestParts, MatchedPath, Query, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use palera_core::ids::ClientId;
use palera_core::user::Role;
use palera_store::actions::{Action, NewAction};
use palera_store::users::User;
use serde::Deserialize;

#[derive(utoipa::OpenApi)]
#[openapi(paths(list), components(schemas(Action)))]
pub struct ActionsApiDoc;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/v1/admin/actions", get(list))
        .route("/admin/actions", get(page))
}

/// Route segments naming what a change is to, as the log calls it.
const OBJECTS: &[(&str, &str)] = &[
    ("clients", "client"),
    ("users", "user"),
    ("campaigns", "campaign"),
    ("dnc", "dnc"),
    ("numbers", "numbers"),
    ("twilio", "twilio"),
    ("scripts", "script"),
    ("lists", "list"),
    ("properties", "properties"),
    ("dispositions", "dispositions"),
    ("recording-settings", "recording settings"),
    ("recordings", "recording settings"),
    ("inbound-settings", "inbound settings"),
    ("inbound", "inbound settings"),
    ("imports", "import"),
    ("import", "import"),
];

/// Segments of agents' work and people's data: a route through one is not an admin action.
const NOT_ADMIN: &[&str] = &[
    "contacts",
    "calls",
    "me",
    "session",
    "login",
    "logout",
    "reports",
    "transcripts",
    "watch",
];

/// What a route template changes: (object, the template index of its id), or `None` when it
/// is not an admin object.
fn object_of(template: &str) -> Option<(&'static str, Option<usize>)> {
    let segs: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    let mut found = None;
    for (i, s) in segs.iter().enumerate() {
        if NOT_ADMIN.contains(s) {
            return None;
        }
        if let Some((_, name)) = OBJECTS.iter().find(|(seg, _)| seg == s) {
            let id = segs
                .get(i + 1)
                .filter(|n| n.starts_with('{'))
                .map(|_| i + 1);
            found = Some((*name, id));
        }
    }
    found
}

/// The client a route is about: its `{client_id}` (or the `{…}` right after `clients`).
fn client_of(template: &str, path: &str) -> Option<ClientId> {
    let t: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let at = t.iter().position(|s| *s == "{client_id}").or_else(|| {
        let c = t.iter().position(|s| *s == "clients")?;
        t.get(c + 1).filter(|n| n.starts_with('{')).map(|_| c + 1)
    })?;
    p.get(at)?.parse().ok().map(ClientId)
}

/// Records successful changes by staff to admin objects (see the module doc).
pub async fn record(State(app): State<App>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let Some(template) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
    else {
        return next.run(req).await;
    };
    let Some((object, id_at)) = object_of(&template) else {
        return next.run(req).await;
    };
    let (method, path) = (req.method().to_string(), req.uri().path().to_owned());
    // Who it is, read before the change (a password change may end the session).
    let (mut parts, body) = req.into_parts();
    let actor = Auth::from_request_parts(&mut parts, &app)
        .await
        .ok()
        .filter(|a| a.user.role != Role::Agent);
    let resp = next.run(Request::from_parts(parts, body)).await;
    let (Some(actor), true) = (
        actor,
        resp.status().is_success() || resp.status().is_redirection(),
    ) else {
        return resp;
    };
    let object_id = id_at.and_then(|i| path.trim_start_matches('/').split('/').nth(i));
    let action = NewAction {
        at: app.now_ms(),
        actor_id: Some(actor.user.id.0),
        actor_email: actor.user.email.as_str(),
        client: client_of(&template, &path),
        object,
        object_id,
        method: &method,
        route: &path,
        status: resp.status().as_u16(),
    };
    if let Err(e) = app.store.record_action(&action).await {
        tracing::error!(error = %e, route = %path, "recording an admin action failed");
    }
    resp
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ActionQuery {
    /// Only this client's actions.
    pub client_id: Option<i64>,
    /// Actions older than this id (the next page).
    pub before: Option<i64>,
    /// At most this many (default 100, at most 500).
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/admin/actions", params(ActionQuery),
    responses((status = 200, body = [Action]), (status = 401), (status = 403)))]
async fn list(
    State(app): State<App>,
    _admin: Admin,
    Query(q): Query<ActionQuery>,
) -> Result<Json<Vec<Action>>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let client = q.client_id.map(ClientId);
    Ok(Json(app.store.actions(client, q.before, limit).await?))
}

/// One row of the page.
struct Row {
    when: String,
    who: String,
    client: String,
    what: String,
    request: String,
}

#[derive(Template)]
#[template(path = "actions.html")]
struct ActionsPage {
    me: User,
    /// The page's CSRF token (the layout's logout form).
    csrf: String,
    rows: Vec<Row>,
    next: Option<i64>,
}

const PAGE: i64 = 100;

async fn page(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Query(q): Query<ActionQuery>,
) -> Response {
    if let Err(e) = auth.require_admin() {
        return page_error(e);
    }
    let loaded = async {
        let actions = app.store.actions(None, q.before, PAGE).await?;
        let clients = app.store.clients(&auth.scope()).await?;
        Ok::<_, ApiError>((actions, clients))
    }
    .await;
    let (actions, clients) = match loaded {
        Ok(x) => x,
        Err(e) => return page_error(e),
    };
    let next = (actions.len() as i64 == PAGE)
        .then(|| actions.last().map(|a| a.id))
        .flatten();
    let rows = actions
        .into_iter()
        .map(|a| {
            let client = clients.iter().find(|c| Some(c.id.0) == a.client_id);
            Row {
                when: client_time(a.at, client.map_or("UTC", |c| c.time_zone.as_str())),
                who: a.actor_email,
                client: client.map_or_else(|| "—".into(), |c| c.name.clone()),
                what: match a.object_id {
                    Some(id) => format!("{} {id}", a.object),
                    None => a.object,
                },
                request: format!("{} {}", a.method, a.route),
            }
        })
        .collect();
    render(
        &ActionsPage {
            me: auth.user,
            csrf: auth.csrf,
            rows,
            next,
        },
        StatusCode::OK,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_of_admin_objects_are_classified_and_agents_work_is_not() {
        assert_eq!(
            object_of("/api/v1/clients/{client_id}/campaigns/{id}/status/start"),
            Some(("campaign", Some(5)))
        );
        assert_eq!(
            object_of("/api/v1/clients/{client_id}/dnc"),
            Some(("dnc", None))
        );
        assert_eq!(
            object_of("/api/v1/users/{user_id}"),
            Some(("user", Some(3)))
        );
        assert_eq!(
            object_of("/admin/clients/{client_id}"),
            Some(("client", Some(2)))
        );
        assert_eq!(
            object_of("/api/v1/clients/{client_id}/contacts/{contact_id}"),
            None
        );
        assert_eq!(object_of("/api/v1/calls/{call_id}/hold"), None);
        assert_eq!(object_of("/api/v1/me/voice-state"), None);
        assert_eq!(
            client_of("/api/v1/clients/{client_id}/dnc", "/api/v1/clients/7/dnc"),
            Some(ClientId(7))
        );
        assert_eq!(
            client_of("/api/v1/users/{user_id}", "/api/v1/users/3"),
            None
        );
    }
}
