//! The agent's own desk API: their upcoming callbacks (contact, campaign, time in the contact's
//! zone), today's figures, and a call's wrap-up facts (the zone callback times are typed in and
//! the calling window they must fall in). Every route is the caller's own.

use super::callback::call_zone;
use crate::app::App;
use crate::desk::api::workable_call;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ErrorBody};
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use palera_core::ids::{CallId, ClientId, ContactId};
use palera_store::callbacks::AgentFigures;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    paths(my_callbacks, my_today, wrap_up_facts),
    components(schemas(CallbackEntry, AgentFigures, WrapUpFacts))
)]
pub struct AgentDeskDoc;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/v1/me/callbacks", get(my_callbacks))
        .route("/api/v1/me/today", get(my_today))
        .route("/api/v1/calls/{call_id}/wrap-up", get(wrap_up_facts))
}

/// One upcoming callback of the agent.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallbackEntry {
    pub call_id: CallId,
    pub contact_id: ContactId,
    pub client_id: ClientId,
    /// The contact's name ("" when unknown).
    pub name: String,
    pub phone: String,
    /// The campaign's name; `None` for a manual call.
    pub campaign: Option<String>,
    /// When, as an instant (RFC 3339, UTC).
    #[schema(value_type = String)]
    pub due_at: DateTime<Utc>,
    /// When, in the contact's local time, e.g. "Fri 5 Dec 10:00".
    pub local_time: String,
    /// The zone of `local_time` (IANA name).
    pub time_zone: String,
}

#[utoipa::path(get, path = "/api/v1/me/callbacks", responses((status = 200, body = [CallbackEntry])))]
async fn my_callbacks(
    State(app): State<App>,
    auth: Auth,
) -> Result<Json<Vec<CallbackEntry>>, ApiError> {
    let rows = app
        .store
        .agent_callbacks(&auth.scope(), auth.user.id, app.now_ms())
        .await?;
    let out = rows
        .into_iter()
        .map(|r| {
            let at = DateTime::from_timestamp_millis(r.due_at).unwrap_or_default();
            let tz: Tz = r.time_zone.parse().unwrap_or(chrono_tz::UTC);
            CallbackEntry {
                call_id: r.call_id,
                contact_id: r.contact_id,
                client_id: r.client_id,
                name: r.name,
                phone: r.phone,
                campaign: r.campaign,
                due_at: at,
                local_time: at.with_timezone(&tz).format("%a %-d %b %H:%M").to_string(),
                time_zone: tz.name().to_string(),
            }
        })
        .collect();
    Ok(Json(out))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct TodayQuery {
    /// Where "today" starts (Unix ms; the desktop sends its local midnight). Default: the last
    /// 24 hours.
    pub since: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/me/today", params(TodayQuery), responses((status = 200, body = AgentFigures)))]
async fn my_today(
    State(app): State<App>,
    auth: Auth,
    Query(q): Query<TodayQuery>,
) -> Result<Json<AgentFigures>, ApiError> {
    let now = app.now_ms();
    let since = q.since.unwrap_or(now - 86_400_000);
    if since > now {
        return Err(ApiError::invalid("since", "must not be in the future"));
    }
    Ok(Json(
        app.store.agent_figures(auth.user.id, since, now).await?,
    ))
}

/// What wrap-up needs to set a callback.
#[derive(Debug, Serialize, ToSchema)]
pub struct WrapUpFacts {
    pub call_id: CallId,
    /// The zone callback times are typed in (the contact's, else the one of their number).
    pub time_zone: String,
    /// The calling window in that zone, "HH:MM".
    pub window_start: String,
    pub window_end: String,
    /// The contact's local time now, for a sensible default ("YYYY-MM-DDTHH:MM").
    pub local_now: String,
}

#[utoipa::path(get, path = "/api/v1/calls/{call_id}/wrap-up", params(("call_id" = i64, Path)),
    responses((status = 200, body = WrapUpFacts), (status = 404, body = ErrorBody)))]
async fn wrap_up_facts(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<Json<WrapUpFacts>, ApiError> {
    let call = workable_call(&app, &auth, CallId(id)).await?;
    let z = call_zone(&app, &call).await?;
    Ok(Json(WrapUpFacts {
        call_id: call.id,
        time_zone: z.shown.name().to_string(),
        window_start: z.window.start.format("%H:%M").to_string(),
        window_end: z.window.end.format("%H:%M").to_string(),
        local_now: app
            .clock
            .now()
            .with_timezone(&z.shown)
            .format("%Y-%m-%dT%H:%M")
            .to_string(),
    }))
}
