//! The report pages: an index per client, the call log (a GET form of filters, keyset pages, the
//! CSV link of the same filter), campaign performance (SVG charts beside their tables, contacts by
//! seed status), agent activity (the state timeline), the compliance report and the wallboard.
//! Everything is rendered on the server and reads without JavaScript; only the wallboard loads
//! `/static/wallboard.js` to follow live events.

use super::api::{self, CallLogQuery, CycleQuery, RangeQuery};
use super::build::{self, AgentActivity, CampaignReport, ComplianceReport};
use super::svg;
use super::wallboard::{self, Wallboard};
use crate::app::App;
use crate::http::auth::{PageAuth, ScopedClient};
use crate::http::error::ApiError;
use crate::http::pages::{page_error, render};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use palera_core::ids::ClientId;
use palera_core::user::Role;
use palera_store::campaigns::Campaign;
use palera_store::clients::Client;
use palera_store::reports::{CallLogRow, CycleContact};
use palera_store::users::User;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/reports", get(index))
        .route("/reports/{client_id}/calls", get(calls_page))
        .route(
            "/reports/{client_id}/campaigns/{campaign_id}",
            get(campaign_page),
        )
        .route(
            "/reports/{client_id}/campaigns/{campaign_id}/compliance",
            get(compliance_page),
        )
        .route("/reports/{client_id}/agents", get(team_page))
        .route("/reports/{client_id}/agents/{user_id}", get(agent_page))
        .route("/reports/{client_id}/wallboard", get(wallboard_page))
        .route(
            "/static/wallboard.js",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/javascript"),
                        (header::CACHE_CONTROL, "no-cache"),
                    ],
                    include_str!("../../static/wallboard.js"),
                )
                    .into_response()
            }),
        )
}

fn scoped(auth: crate::http::auth::Auth, client: i64) -> Result<ScopedClient, ApiError> {
    let client = ClientId(client);
    auth.check_client(client)?;
    Ok(ScopedClient { auth, client })
}

fn ms(v: Option<i64>) -> String {
    v.map(|m| format!("{:.0}", m as f64 / 1000.0))
        .unwrap_or_default()
}

fn when(ms: i64, tz: chrono_tz::Tz) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// One client the user may see, with its campaigns.
struct ClientReports {
    client: Client,
    campaigns: Vec<Campaign>,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct IndexPage {
    me: User,
    csrf: String,
    clients: Vec<ClientReports>,
}

async fn index(State(app): State<App>, PageAuth(auth): PageAuth) -> Response {
    let loaded = async {
        let mut clients = Vec::new();
        for c in app.store.clients(&auth.scope()).await? {
            let campaigns = if auth.user.role == Role::Agent {
                Vec::new()
            } else {
                app.store.campaigns(c.id).await?
            };
            clients.push(ClientReports {
                client: c,
                campaigns,
            });
        }
        Ok::<_, ApiError>(clients)
    }
    .await;
    match loaded {
        Ok(clients) => render(
            &IndexPage {
                me: auth.user,
                csrf: auth.csrf,
                clients,
            },
            StatusCode::OK,
        ),
        Err(e) => page_error(e),
    }
}

/// A call log line as shown.
struct LogLine {
    row: CallLogRow,
    placed: String,
    ring: String,
    talk: String,
    hold: String,
    wrap: String,
}

#[derive(Template)]
#[template(path = "report_calls.html")]
struct CallsPage {
    me: User,
    csrf: String,
    client: Client,
    q: CallLogQuery,
    lines: Vec<LogLine>,
    campaigns: Vec<Campaign>,
    agents: Vec<User>,
    next_query: Option<String>,
    csv_query: String,
    is_agent: bool,
}

impl CallsPage {
    fn campaign_picked(&self, id: &i64) -> bool {
        self.q.campaign_id == Some(*id)
    }
    fn agent_picked(&self, id: &i64) -> bool {
        self.q.agent_id == Some(*id)
    }
    fn status_picked(&self, s: &str) -> bool {
        self.q.status.as_deref() == Some(s)
    }
}

fn query_string(q: &CallLogQuery) -> String {
    serde_urlencoded_like(q)
}

/// The query string of a call log filter (empty values left out).
fn serde_urlencoded_like(q: &CallLogQuery) -> String {
    let mut parts = Vec::new();
    let mut add = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            parts.push(format!(
                "{k}={}",
                url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
            ));
        }
    };
    add("campaign_id", q.campaign_id.map(|v| v.to_string()));
    add("agent_id", q.agent_id.map(|v| v.to_string()));
    add("direction", q.direction.clone());
    add("status", q.status.clone());
    add("disposition", q.disposition.clone());
    add("from", q.from.clone());
    add("to", q.to.clone());
    add("sort", q.sort.clone());
    add("after", q.after.clone());
    parts.join("&")
}

async fn calls_page(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path(client): Path<i64>,
    Query(q): Query<CallLogQuery>,
) -> Response {
    let loaded = async {
        let c = scoped(auth, client)?;
        let page = api::load_call_log(&app, &c, &q).await?;
        let tz = build::client_zone(&app, c.client).await?;
        let is_agent = c.auth.user.role == Role::Agent;
        let (campaigns, agents) = if is_agent {
            (Vec::new(), Vec::new())
        } else {
            (
                app.store.campaigns(c.client).await?,
                app.store.users(Some(c.client)).await?,
            )
        };
        let lines = page
            .calls
            .into_iter()
            .map(|row| LogLine {
                placed: when(row.placed_at, tz),
                ring: ms(row.ring_ms),
                talk: ms(row.talk_ms),
                hold: ms(Some(row.hold_ms)),
                wrap: ms(row.wrap_up_ms),
                row,
            })
            .collect();
        let mut csv_q = q.clone();
        csv_q.after = None;
        let next_query = page.next.map(|n| {
            let mut nq = q.clone();
            nq.after = Some(n);
            query_string(&nq)
        });
        Ok::<_, ApiError>(CallsPage {
            client: app.store.client(c.client).await?,
            me: c.auth.user,
            csrf: c.auth.csrf,
            q: q.clone(),
            lines,
            campaigns,
            agents,
            next_query,
            csv_query: query_string(&csv_q),
            is_agent,
        })
    }
    .await;
    match loaded {
        Ok(p) => render(&p, StatusCode::OK),
        Err(e) => page_error(e),
    }
}

#[derive(Template)]
#[template(path = "report_campaign.html")]
struct CampaignPage {
    me: User,
    csrf: String,
    client: Client,
    r: CampaignReport,
    hourly_svg: String,
    outcomes_svg: String,
    abandon_svg: String,
    contacts: Vec<CycleContact>,
    seed_status: String,
}

async fn campaign_page(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path((client, campaign)): Path<(i64, i64)>,
    Query(q): Query<RangeQuery>,
    Query(cq): Query<CycleQuery>,
) -> Response {
    let loaded = async {
        let c = scoped(auth, client)?;
        let campaign = api::staff_campaign(&app, &c, campaign).await?;
        let range = q.range(&app, c.client).await?;
        let r = build::campaign_report(&app, &campaign, &range).await?;
        let hourly: Vec<(String, f64)> = r
            .calls_per_hour
            .iter()
            .enumerate()
            .map(|(h, n)| (format!("{h}"), *n as f64))
            .collect();
        let outcomes: Vec<(String, f64)> = r
            .period
            .outcomes
            .iter()
            .map(|(o, n)| (o.clone(), *n as f64))
            .collect();
        let abandon: Vec<(String, f64)> = r
            .days
            .iter()
            .map(|d| (d.day.format("%m-%d").to_string(), d.abandon_rate_pct))
            .collect();
        let contacts = api::cycle_contacts(&app, &campaign, &cq).await?;
        Ok::<_, ApiError>(CampaignPage {
            client: app.store.client(c.client).await?,
            me: c.auth.user,
            csrf: c.auth.csrf,
            hourly_svg: svg::bars("Calls per hour of the day", &hourly, None),
            outcomes_svg: svg::bars("Outcome mix", &outcomes, None),
            abandon_svg: svg::bars(
                "Abandon rate per day (%) against the cap",
                &abandon,
                Some(r.abandon_cap_pct),
            ),
            r,
            contacts,
            seed_status: cq.seed_status.unwrap_or_default(),
        })
    }
    .await;
    match loaded {
        Ok(p) => render(&p, StatusCode::OK),
        Err(e) => page_error(e),
    }
}

impl CampaignPage {
    fn seed_picked(&self, s: &str) -> bool {
        self.seed_status == s
    }
}

#[derive(Template)]
#[template(path = "report_compliance.html")]
struct CompliancePage {
    me: User,
    csrf: String,
    client: Client,
    r: ComplianceReport,
    svg: String,
}

async fn compliance_page(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path((client, campaign)): Path<(i64, i64)>,
    Query(q): Query<RangeQuery>,
) -> Response {
    let loaded = async {
        let c = scoped(auth, client)?;
        let campaign = api::staff_campaign(&app, &c, campaign).await?;
        let range = q.range(&app, c.client).await?;
        let r = build::compliance_report(&app, &campaign, &range).await?;
        let data: Vec<(String, f64)> = r
            .days
            .iter()
            .map(|d| (d.day.format("%m-%d").to_string(), d.rolling_30_days_pct))
            .collect();
        Ok::<_, ApiError>(CompliancePage {
            client: app.store.client(c.client).await?,
            me: c.auth.user,
            csrf: c.auth.csrf,
            svg: svg::bars(
                "Rolling 30-day abandon rate (%) against the cap",
                &data,
                Some(r.abandon_cap_pct),
            ),
            r,
        })
    }
    .await;
    match loaded {
        Ok(p) => render(&p, StatusCode::OK),
        Err(e) => page_error(e),
    }
}

/// A voice state's time as shown.
struct StateLine {
    state: String,
    minutes: String,
}

#[derive(Template)]
#[template(path = "report_agent.html")]
struct AgentPage {
    me: User,
    csrf: String,
    client: Client,
    a: AgentActivity,
    states: Vec<StateLine>,
    timeline_svg: String,
}

fn minutes(ms: i64) -> String {
    format!("{:.1}", ms as f64 / 60_000.0)
}

async fn agent_page(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path((client, user)): Path<(i64, i64)>,
    Query(q): Query<RangeQuery>,
) -> Response {
    let loaded = async {
        let c = scoped(auth, client)?;
        let agent = api::readable_agent(&app, &c, user).await?;
        let range = q.range(&app, c.client).await?;
        let a = build::agent_activity(&app, c.client, &agent, &range).await?;
        let states = a
            .total
            .states_ms
            .iter()
            .map(|(s, v)| StateLine {
                state: s.clone(),
                minutes: minutes(*v),
            })
            .collect();
        Ok::<_, ApiError>(AgentPage {
            client: app.store.client(c.client).await?,
            me: c.auth.user,
            csrf: c.auth.csrf,
            timeline_svg: svg::timeline(&a.spans, range.from_ms, range.to_ms.min(app.now_ms())),
            states,
            a,
        })
    }
    .await;
    match loaded {
        Ok(p) => render(&p, StatusCode::OK),
        Err(e) => page_error(e),
    }
}

#[derive(Template)]
#[template(path = "report_wallboard.html")]
struct WallboardPage {
    me: User,
    csrf: String,
    client: Client,
    b: Wallboard,
}

async fn wallboard_page(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path(client): Path<i64>,
) -> Response {
    let loaded = async {
        let c = scoped(auth, client)?;
        c.auth.require_staff()?;
        Ok::<_, ApiError>(WallboardPage {
            b: wallboard::load(&app, c.client).await?,
            client: app.store.client(c.client).await?,
            me: c.auth.user,
            csrf: c.auth.csrf,
        })
    }
    .await;
    match loaded {
        Ok(p) => render(&p, StatusCode::OK),
        Err(e) => page_error(e),
    }
}

impl CampaignPage {
    /// Milliseconds as minutes, for the template.
    fn m(&self, ms: &i64) -> String {
        minutes(*ms)
    }
}

#[derive(Template)]
#[template(path = "report_team.html")]
struct TeamPage {
    me: User,
    csrf: String,
    client: Client,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    team: api::TeamActivity,
    occupancy_svg: String,
    talk_svg: String,
}

/// The team's activity: each voice agent's figures beside the others, the team's total, and
/// charts of occupancy and time on calls per agent.
async fn team_page(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path(client): Path<i64>,
    Query(q): Query<RangeQuery>,
) -> Response {
    let loaded = async {
        let c = scoped(auth, client)?;
        c.auth.require_staff()?;
        let range = q.range(&app, c.client).await?;
        let team = api::team(&app, c.client, &range).await?;
        let per = |f: &dyn Fn(&build::AgentFigures) -> f64| -> Vec<(String, f64)> {
            team.agents
                .iter()
                .map(|a| (a.agent.clone(), f(&a.total)))
                .collect()
        };
        Ok::<_, ApiError>(TeamPage {
            client: app.store.client(c.client).await?,
            me: c.auth.user,
            csrf: c.auth.csrf,
            from: range.from,
            to: range.to,
            occupancy_svg: svg::bars("Occupancy % per agent", &per(&|f| f.occupancy_pct), None),
            talk_svg: svg::bars(
                "Minutes on calls per agent",
                &per(&|f| (f.on_call_ms as f64 / 6_000.0).round() / 10.0),
                None,
            ),
            team,
        })
    }
    .await;
    match loaded {
        Ok(p) => render(&p, StatusCode::OK),
        Err(e) => page_error(e),
    }
}

impl TeamPage {
    /// Milliseconds as minutes, for the template.
    fn m(&self, ms: &i64) -> String {
        minutes(*ms)
    }
    /// Milliseconds as whole seconds, for the template.
    fn sec(&self, ms: &i64) -> String {
        format!("{:.0}", *ms as f64 / 1000.0)
    }
    /// Minutes in a voice state.
    fn state(&self, f: &build::AgentFigures, state: &str) -> String {
        minutes(f.states_ms.get(state).copied().unwrap_or(0))
    }
}

impl AgentPage {
    /// Milliseconds as minutes, for the template.
    fn m(&self, ms: &i64) -> String {
        minutes(*ms)
    }
    /// Milliseconds as whole seconds, for the template.
    fn sec(&self, ms: &i64) -> String {
        format!("{:.0}", *ms as f64 / 1000.0)
    }
}
