//! The report JSON API, scoped to the clients the user may see (another client's answers 404):
//! the call log and its streamed CSV export, campaign performance and a campaign's contacts by
//! seed status, agent activity (agents read only their own; the team for supervisors), and the
//! compliance report (JSON and CSV). Agents see only their own calls in the call log.

use super::build::{self, AgentActivity, CampaignReport, ComplianceReport, Range};
use crate::app::App;
use crate::http::auth::{Auth, ScopedClient, StaffClient};
use crate::http::error::{ApiError, ErrorBody};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::NaiveDate;
use chrono_tz::Tz;
use futures::StreamExt;
use palera_core::campaign::window::start_of_local_day;
use palera_core::ids::{CampaignId, ClientId, UserId};
use palera_core::user::Role;
use palera_store::campaigns::Campaign;
use palera_store::reports::{CallCursor, CallFilter, CallLogRow, CallSort, CycleContact};
use palera_store::users::User;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    paths(
        call_log,
        call_log_csv,
        campaign_report,
        campaign_contacts,
        team_activity,
        agent_activity,
        compliance,
        compliance_csv
    ),
    components(schemas(
        CallLogPage,
        CallLogRow,
        CampaignReport,
        AgentActivity,
        ComplianceReport,
        CycleContact,
        TeamActivity
    ))
)]
pub struct ReportsApiDoc;

const BASE: &str = "/api/v1/clients/{client_id}/reports";

pub fn routes() -> Router<App> {
    Router::new()
        .route(&format!("{BASE}/calls"), get(call_log))
        .route(&format!("{BASE}/calls.csv"), get(call_log_csv))
        .route(
            &format!("{BASE}/campaigns/{{campaign_id}}"),
            get(campaign_report),
        )
        .route(
            &format!("{BASE}/campaigns/{{campaign_id}}/contacts"),
            get(campaign_contacts),
        )
        .route(
            &format!("{BASE}/campaigns/{{campaign_id}}/compliance"),
            get(compliance),
        )
        .route(
            &format!("{BASE}/campaigns/{{campaign_id}}/compliance.csv"),
            get(compliance_csv),
        )
        .route(&format!("{BASE}/agents"), get(team_activity))
        .route(&format!("{BASE}/agents/{{user_id}}"), get(agent_activity))
}

/// The call log's filter, sort and page, as query parameters. Dates are the client's.
#[derive(Debug, Clone, Default, Deserialize, Serialize, IntoParams)]
pub struct CallLogQuery {
    #[serde(default, deserialize_with = "blank_or_id")]
    pub campaign_id: Option<i64>,
    #[serde(default, deserialize_with = "blank_or_id")]
    pub agent_id: Option<i64>,
    /// outbound or inbound.
    pub direction: Option<String>,
    /// The seed status: not_called, outbound, answered, abandoned.
    pub status: Option<String>,
    pub disposition: Option<String>,
    /// First day, `YYYY-MM-DD` in the client's zone.
    pub from: Option<String>,
    /// Last day (inclusive), `YYYY-MM-DD` in the client's zone.
    pub to: Option<String>,
    /// newest_first (default) or oldest_first.
    pub sort: Option<String>,
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// Rows per page, 1 to 500 (default 50).
    pub limit: Option<i64>,
}

/// An id from a form field, where an empty field (the "All" choice) means none.
fn blank_or_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v: Option<String> = Option::deserialize(d)?;
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not an id"))),
    }
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl CallLogQuery {
    /// The store filter, for `auth` (an agent sees only their own calls).
    pub fn filter(&self, tz: Tz, auth: &Auth) -> Result<CallFilter, ApiError> {
        let day = |field: &str, v: &str| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map_err(|_| ApiError::invalid(field, format!("{v:?} is not a date (YYYY-MM-DD)")))
        };
        let one_of = |field: &str, v: Option<&str>, allowed: &[&str]| match v {
            Some(s) if !allowed.contains(&s) => Err(ApiError::invalid(
                field,
                format!("{s:?} is not one of {}", allowed.join(", ")),
            )),
            other => Ok(other.map(String::from)),
        };
        let from_ms = match nonempty(&self.from) {
            Some(v) => Some(start_of_local_day(tz, day("from", v)?).timestamp_millis()),
            None => None,
        };
        let to_ms = match nonempty(&self.to) {
            Some(v) => {
                let d = day("to", v)? + chrono::Duration::days(1);
                Some(start_of_local_day(tz, d).timestamp_millis())
            }
            None => None,
        };
        let mut agent = self.agent_id.map(UserId);
        if auth.user.role == Role::Agent {
            agent = Some(auth.user.id);
        }
        Ok(CallFilter {
            campaign: self.campaign_id.map(CampaignId),
            agent,
            direction: one_of(
                "direction",
                nonempty(&self.direction),
                &["outbound", "inbound"],
            )?,
            status: one_of(
                "status",
                nonempty(&self.status),
                &["not_called", "outbound", "answered", "abandoned"],
            )?,
            disposition: nonempty(&self.disposition).map(String::from),
            from_ms,
            to_ms,
        })
    }

    pub fn sort(&self) -> Result<CallSort, ApiError> {
        match nonempty(&self.sort) {
            None | Some("newest_first") => Ok(CallSort::NewestFirst),
            Some("oldest_first") => Ok(CallSort::OldestFirst),
            Some(s) => Err(ApiError::invalid(
                "sort",
                format!("{s:?} is not newest_first or oldest_first"),
            )),
        }
    }

    pub fn cursor(&self) -> Result<Option<CallCursor>, ApiError> {
        match nonempty(&self.after) {
            None => Ok(None),
            Some(s) => CallCursor::decode(s)
                .map(Some)
                .ok_or_else(|| ApiError::invalid("after", "not a page cursor from `next`")),
        }
    }
}

/// One page of the call log.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallLogPage {
    pub calls: Vec<CallLogRow>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

/// Loads one page of the call log for the pages and the API.
pub async fn load_call_log(
    app: &App,
    c: &ScopedClient,
    q: &CallLogQuery,
) -> Result<CallLogPage, ApiError> {
    let tz = build::client_zone(app, c.client).await?;
    let filter = q.filter(tz, &c.auth)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be 1 to 500"));
    }
    let (calls, next) = app
        .store
        .call_log(c.client, &filter, q.sort()?, q.cursor()?, limit)
        .await?;
    Ok(CallLogPage {
        calls,
        next: next.map(|n| n.encode()),
    })
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/reports/calls",
    params(("client_id" = i64, Path), CallLogQuery),
    responses((status = 200, body = CallLogPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn call_log(
    State(app): State<App>,
    c: ScopedClient,
    Query(q): Query<CallLogQuery>,
) -> Result<Json<CallLogPage>, ApiError> {
    Ok(Json(load_call_log(&app, &c, &q).await?))
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/reports/calls.csv",
    params(("client_id" = i64, Path), CallLogQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = ErrorBody)))]
async fn call_log_csv(
    State(app): State<App>,
    c: ScopedClient,
    Query(q): Query<CallLogQuery>,
) -> Result<Response, ApiError> {
    let tz = build::client_zone(&app, c.client).await?;
    let filter = q.filter(tz, &c.auth)?;
    let sort = q.sort()?;
    let client = c.client;
    let store = app.store.clone();
    let chunks = futures::stream::unfold(Some(None), move |state: Option<Option<CallCursor>>| {
        let store = store.clone();
        let filter = filter.clone();
        async move {
            let after = state?;
            match store.call_log_chunk(client, &filter, sort, after).await {
                Ok((bytes, next)) => Some((Ok::<_, std::io::Error>(bytes), next.map(Some))),
                Err(e) => {
                    tracing::error!(error = %e, "call log export stopped");
                    Some((Err(std::io::Error::other("export failed")), None))
                }
            }
        }
    });
    let header_line = palera_store::reports::call_csv_header();
    let body = futures::stream::once(async move { Ok(header_line) }).chain(chunks);
    Ok(csv_response("calls.csv", Body::from_stream(body)))
}

fn csv_response(name: &str, body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// A report's range: `YYYY-MM-DD` days in the client's zone (default: the last 7 days).
#[derive(Debug, Clone, Default, Deserialize, Serialize, IntoParams)]
pub struct RangeQuery {
    pub from: Option<String>,
    pub to: Option<String>,
}

impl RangeQuery {
    pub async fn range(&self, app: &App, client: ClientId) -> Result<Range, ApiError> {
        let tz = build::client_zone(app, client).await?;
        Range::parse(
            tz,
            self.from.as_deref(),
            self.to.as_deref(),
            app.now_ms(),
            7,
        )
    }
}

/// The campaign of the path, for supervisors and admins of its client.
pub use crate::campaigns::api::staff_campaign;

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/reports/campaigns/{campaign_id}",
    params(("client_id" = i64, Path), ("campaign_id" = i64, Path), RangeQuery),
    responses((status = 200, body = CampaignReport), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn campaign_report(
    State(app): State<App>,
    c: ScopedClient,
    Path(path): Path<(i64, i64)>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<CampaignReport>, ApiError> {
    let campaign = staff_campaign(&app, &c, path.1).await?;
    let range = q.range(&app, c.client).await?;
    Ok(Json(build::campaign_report(&app, &campaign, &range).await?))
}

/// Which of a campaign's contacts to list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
pub struct CycleQuery {
    /// not_called, outbound, answered or abandoned (all when absent).
    pub seed_status: Option<String>,
    /// The last contact id of the previous page.
    pub after: Option<i64>,
    /// 1 to 1000 (default 100).
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/reports/campaigns/{campaign_id}/contacts",
    params(("client_id" = i64, Path), ("campaign_id" = i64, Path), CycleQuery),
    responses((status = 200, body = Vec<CycleContact>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn campaign_contacts(
    State(app): State<App>,
    c: ScopedClient,
    Path(path): Path<(i64, i64)>,
    Query(q): Query<CycleQuery>,
) -> Result<Json<Vec<CycleContact>>, ApiError> {
    let campaign = staff_campaign(&app, &c, path.1).await?;
    Ok(Json(cycle_contacts(&app, &campaign, &q).await?))
}

/// A campaign's contacts with their seed status in today's cycle (the client's date).
pub async fn cycle_contacts(
    app: &App,
    campaign: &Campaign,
    q: &CycleQuery,
) -> Result<Vec<CycleContact>, ApiError> {
    let status = nonempty(&q.seed_status);
    if let Some(s) = status {
        if !["not_called", "outbound", "answered", "abandoned"].contains(&s) {
            return Err(ApiError::invalid(
                "seed_status",
                format!("{s:?} is not not_called, outbound, answered or abandoned"),
            ));
        }
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be 1 to 1000"));
    }
    let tz = build::client_zone(app, campaign.client_id).await?;
    let today = build::cycle_dates(app, campaign, tz).await?;
    let after = q.after.unwrap_or(0);
    Ok(app
        .store
        .campaign_cycle_contacts(
            campaign.client_id,
            campaign.id,
            &today,
            status,
            after,
            limit,
        )
        .await?)
}

/// The agent of the path: the user themself, or for staff any agent of the client (404 when
/// the user is not of this client; 403 when an agent asks for someone else).
pub async fn readable_agent(app: &App, c: &ScopedClient, user: i64) -> Result<User, ApiError> {
    let id = UserId(user);
    if c.auth.user.role == Role::Agent && c.auth.user.id != id {
        return Err(ApiError::forbidden());
    }
    let u = app.store.user(id).await?;
    if !u.clients.contains(&c.client) {
        return Err(ApiError::not_found());
    }
    Ok(u)
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/reports/agents/{user_id}",
    params(("client_id" = i64, Path), ("user_id" = i64, Path), RangeQuery),
    responses((status = 200, body = AgentActivity), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn agent_activity(
    State(app): State<App>,
    c: ScopedClient,
    Path(path): Path<(i64, i64)>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<AgentActivity>, ApiError> {
    let agent = readable_agent(&app, &c, path.1).await?;
    let range = q.range(&app, c.client).await?;
    Ok(Json(
        build::agent_activity(&app, c.client, &agent, &range).await?,
    ))
}

/// The team's activity: every voice user of the client.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamActivity {
    pub agents: Vec<AgentActivity>,
    /// The team's figures over the range: the agents' added up, averages over the sums.
    pub total: build::AgentFigures,
    /// The team's figures day by day (the client's dates).
    pub days: Vec<build::AgentDay>,
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/reports/agents",
    params(("client_id" = i64, Path), RangeQuery),
    responses((status = 200, body = TeamActivity), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn team_activity(
    State(app): State<App>,
    c: StaffClient,
    Query(q): Query<RangeQuery>,
) -> Result<Json<TeamActivity>, ApiError> {
    let range = q.range(&app, c.client).await?;
    Ok(Json(team(&app, c.client, &range).await?))
}

/// Builds every voice user's activity of the client.
pub async fn team(app: &App, client: ClientId, range: &Range) -> Result<TeamActivity, ApiError> {
    let mut agents = Vec::new();
    for u in app.store.users(Some(client)).await? {
        if u.voice_enabled {
            agents.push(build::agent_activity(app, client, &u, range).await?);
        }
    }
    let total = build::AgentFigures::team(agents.iter().map(|a| &a.total));
    let days = range
        .each_day()
        .into_iter()
        .enumerate()
        .map(|(i, (day, _, _))| build::AgentDay {
            day,
            figures: build::AgentFigures::team(
                agents
                    .iter()
                    .filter_map(|a| a.days.get(i).map(|d| &d.figures)),
            ),
        })
        .collect();
    Ok(TeamActivity {
        agents,
        total,
        days,
    })
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/reports/campaigns/{campaign_id}/compliance",
    params(("client_id" = i64, Path), ("campaign_id" = i64, Path), RangeQuery),
    responses((status = 200, body = ComplianceReport), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn compliance(
    State(app): State<App>,
    c: ScopedClient,
    Path(path): Path<(i64, i64)>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<ComplianceReport>, ApiError> {
    let campaign = staff_campaign(&app, &c, path.1).await?;
    let range = q.range(&app, c.client).await?;
    Ok(Json(
        build::compliance_report(&app, &campaign, &range).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/reports/campaigns/{campaign_id}/compliance.csv",
    params(("client_id" = i64, Path), ("campaign_id" = i64, Path), RangeQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn compliance_csv(
    State(app): State<App>,
    c: ScopedClient,
    Path(path): Path<(i64, i64)>,
    Query(q): Query<RangeQuery>,
) -> Result<Response, ApiError> {
    let campaign = staff_campaign(&app, &c, path.1).await?;
    let range = q.range(&app, c.client).await?;
    let r = build::compliance_report(&app, &campaign, &range).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "campaign",
        "day",
        "dials",
        "live_answered",
        "abandoned",
        "abandon_rate_pct",
        "rolling_30_days_pct",
        "abandon_cap_pct",
        "over_cap",
        "outside_window",
        "dnc_dials",
        "identified_within_2s",
        "identification_late_or_missing",
    ]);
    for d in &r.days {
        let _ = w.write_record([
            palera_core::contact::escape_formula(&r.campaign).to_string(),
            d.day.to_string(),
            d.dials.to_string(),
            d.live_answered.to_string(),
            d.abandoned.to_string(),
            format!("{:.2}", d.abandon_rate_pct),
            format!("{:.2}", d.rolling_30_days_pct),
            format!("{:.2}", r.abandon_cap_pct),
            d.over_cap.to_string(),
            d.outside_window.to_string(),
            d.dnc_dials.to_string(),
            d.identified_within_2s.to_string(),
            d.identification_late_or_missing.to_string(),
        ]);
    }
    let bytes = w.into_inner().unwrap_or_default();
    Ok(csv_response("compliance.csv", Body::from(bytes)))
}
