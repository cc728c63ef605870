//! Campaign pages for supervisors and admins: the list of the campaigns of their clients, the
//! create/edit form (every setting, errors naming the field), the disposition set, status
//! buttons, and the live page (agents and their state, lines in use, today's counts, the abandon
//! rate against the cap as a server-rendered SVG bar). Forms carry the session's CSRF token.

use crate::app::App;
use crate::auth::{self, Auth, PageAuth};
use crate::campaigns_api::{
    apply_action, check_dispositions, create_campaign_with_script, live_stats, save_campaign,
    CampaignBody, LiveStats,
};
use crate::error::ApiError;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use palera_core::ids::{CampaignId, ClientId, ListId, UserId};
use palera_core::user::Role;
use palera_store::campaigns::{Campaign, EffectKind, NewDisposition, StoredDisposition};
use palera_store::clients::Client;
use palera_store::users::User;

pub fn routes() -> Router<App> {
    let base = "/admin/clients/{client_id}/campaigns";
    Router::new()
        .route("/admin/campaigns", get(list_page))
        .route(&format!("{base}/new"), get(new_page).post(create))
        .route(
            &format!("{base}/{{campaign_id}}"),
            get(edit_page).post(update),
        )
        .route(
            &format!("{base}/{{campaign_id}}/status/{{action}}"),
            post(status),
        )
        .route(
            &format!("{base}/{{campaign_id}}/dispositions"),
            post(dispositions),
        )
        .route(&format!("{base}/{{campaign_id}}/live"), get(live_page))
        .route("/static/campaign.js", get(campaign_js))
}

async fn campaign_js() -> Response {
    crate::pages::javascript(include_str!("../static/campaign.js"))
}

struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &Bytes) -> Self {
        Form(url::form_urlencoded::parse(body).into_owned().collect())
    }
    fn get(&self, k: &str) -> String {
        self.0
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    }
    fn all(&self, k: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .collect()
    }
    fn opt(&self, k: &str) -> Option<String> {
        Some(self.get(k)).filter(|v| !v.is_empty())
    }
    fn num<T: std::str::FromStr>(&self, k: &str) -> Result<Option<T>, ApiError> {
        match self.opt(k) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::invalid(k, "must be a number")),
        }
    }
    fn csrf_ok(&self, auth: &Auth) -> bool {
        auth::same_token(&self.get("csrf"), &auth.csrf)
    }
    /// The campaign the form describes.
    fn body(&self) -> Result<CampaignBody, ApiError> {
        let words = |k: &str| -> Vec<String> {
            self.get(k)
                .split([',', ' ', '\n'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        };
        let retry: Option<u32> = self.num("retry_after")?;
        let hours = self.get("retry_unit") == "hours";
        let ids = |k: &str| -> Result<Vec<i64>, ApiError> {
            self.all(k)
                .iter()
                .flat_map(|v| v.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()))
                .map(|v| {
                    v.parse()
                        .map_err(|_| ApiError::invalid(k, format!("{v:?} is not an id")))
                })
                .collect()
        };
        Ok(CampaignBody {
            name: self.get("name"),
            caller_id: self.get("caller_id"),
            dial_mode: self.opt("dial_mode"),
            max_attempts: self.num("max_attempts")?,
            retry_after_days: retry.filter(|_| !hours),
            retry_after_hours: retry.filter(|_| hours),
            window_start: self.opt("window_start"),
            window_end: self.opt("window_end"),
            excluded_weekdays: self.all("excluded_weekdays"),
            excluded_dates: words("excluded_dates"),
            abandon_cap_pct: self.num("abandon_cap_pct")?,
            max_lines_per_agent: self.num("max_lines_per_agent")?,
            wrap_up_seconds: self.num("wrap_up_seconds")?,
            amd: Some(self.0.iter().any(|(k, _)| k == "amd")),
            machine_action: self.opt("machine_action"),
            calls_per_second: self.num("calls_per_second")?,
            inactivity_timeout_seconds: self.num("inactivity_timeout_seconds")?,
            ring_timeout_seconds: self.num("ring_timeout_seconds")?,
            voicemail_url: self.opt("voicemail_url"),
            hold_music_url: self.opt("hold_music_url"),
            script_text: Some(self.get("script_text")),
            script_url: self.opt("script_url"),
            recording: self.0.iter().any(|(k, _)| k == "recording"),
            transcription: self.0.iter().any(|(k, _)| k == "transcription"),
            lists: ids("lists")?.into_iter().map(ListId).collect(),
            agents: self
                .all("agents")
                .iter()
                .filter_map(|v| v.parse().ok())
                .map(UserId)
                .collect(),
        })
    }
}

fn render(t: &impl Template, status: StatusCode) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => ApiError::internal(&e).into_response(),
    }
}

fn page_error(e: ApiError) -> Response {
    let msg = e
        .message
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    (
        e.status,
        Html(format!(
            "<!doctype html><title>{}</title><p>{msg}</p><p><a href=\"/admin/campaigns\">Back</a></p>",
            e.status
        )),
    )
        .into_response()
}

fn copy(e: &ApiError) -> ApiError {
    ApiError {
        status: e.status,
        code: e.code,
        message: e.message.clone(),
        field: e.field.clone(),
    }
}

fn forbidden_csrf() -> Response {
    (
        StatusCode::FORBIDDEN,
        "The form expired or came from another site. Reload the page and try again.",
    )
        .into_response()
}

/// Staff only; the client must be in the user's scope.
fn staff_for(auth: &Auth, client: ClientId) -> Result<(), ApiError> {
    auth.require_staff()?;
    auth.check_client(client)
}

struct Row {
    client: Client,
    campaign: Campaign,
}

#[derive(Template)]
#[template(path = "campaigns.html")]
struct ListPage {
    me: User,
    csrf: String,
    rows: Vec<Row>,
    clients: Vec<Client>,
}

async fn list_page(State(app): State<App>, PageAuth(auth): PageAuth) -> Response {
    if auth.user.role == Role::Agent {
        return Redirect::to("/desktop").into_response();
    }
    let loaded = async {
        let clients = app.store.clients(&auth.scope()).await?;
        let mut rows = Vec::new();
        for c in &clients {
            for campaign in app.store.campaigns(c.id).await? {
                rows.push(Row {
                    client: c.clone(),
                    campaign,
                });
            }
        }
        Ok::<_, ApiError>((clients, rows))
    }
    .await;
    match loaded {
        Ok((clients, rows)) => render(
            &ListPage {
                me: auth.user,
                csrf: auth.csrf,
                rows,
                clients,
            },
            StatusCode::OK,
        ),
        Err(e) => page_error(e),
    }
}

#[derive(Template)]
#[template(path = "campaign.html")]
struct EditPage {
    me: User,
    csrf: String,
    client: Client,
    campaign: Option<Campaign>,
    form: CampaignBody,
    numbers: Vec<String>,
    people: Vec<User>,
    lists: Vec<palera_store::lists::ContactList>,
    dispositions_text: String,
    error: Option<String>,
    error_field: String,
    notice: Option<String>,
}

impl EditPage {
    fn has_agent(&self, id: &UserId) -> bool {
        self.form.agents.contains(id)
    }
    fn has_list(&self, id: &ListId) -> bool {
        self.form.lists.contains(id)
    }
    fn excluded(&self, day: &str) -> bool {
        self.form.excluded_weekdays.iter().any(|d| d == day)
    }
    fn retry_value(&self) -> String {
        self.form
            .retry_after_days
            .or(self.form.retry_after_hours)
            .map(|v| v.to_string())
            .unwrap_or_default()
    }
    fn bad(&self, field: &str) -> &'static str {
        if self.error_field == field {
            "bad"
        } else {
            ""
        }
    }
    fn is_caller(&self, n: &str) -> bool {
        self.form.caller_id == n
    }
    /// The form's value of an optional field, as the input shows it.
    fn v(&self, field: &str) -> String {
        fn s<T: ToString>(v: &Option<T>) -> String {
            v.as_ref().map(|v| v.to_string()).unwrap_or_default()
        }
        let f = &self.form;
        match field {
            "max_attempts" => s(&f.max_attempts),
            "window_start" => s(&f.window_start),
            "window_end" => s(&f.window_end),
            "abandon_cap_pct" => s(&f.abandon_cap_pct),
            "max_lines_per_agent" => s(&f.max_lines_per_agent),
            "wrap_up_seconds" => s(&f.wrap_up_seconds),
            "ring_timeout_seconds" => s(&f.ring_timeout_seconds),
            "calls_per_second" => s(&f.calls_per_second),
            "inactivity_timeout_seconds" => s(&f.inactivity_timeout_seconds),
            "voicemail_url" => s(&f.voicemail_url),
            "hold_music_url" => s(&f.hold_music_url),
            "script_text" => s(&f.script_text),
            "script_url" => s(&f.script_url),
            _ => String::new(),
        }
    }
    fn action(&self) -> String {
        match &self.campaign {
            Some(c) => format!("/admin/clients/{}/campaigns/{}", self.client.id, c.id),
            None => format!("/admin/clients/{}/campaigns/new", self.client.id),
        }
    }
}

fn dispositions_text(set: &[StoredDisposition]) -> String {
    set.iter()
        .map(|d| match d.target_list {
            Some(l) => format!("{} | {} | {}", d.label, d.effect.as_str(), l),
            None => format!("{} | {}", d.label, d.effect.as_str()),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads "Label | effect | list id" lines.
fn parse_dispositions(text: &str) -> Result<Vec<NewDisposition>, ApiError> {
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let parts: Vec<&str> = line.split('|').map(str::trim).collect();
        let field = format!("dispositions[{i}]");
        let effect: EffectKind = parts
            .get(1)
            .ok_or_else(|| ApiError::invalid(&field, "write it as: Label | effect"))?
            .parse()
            .map_err(|r: String| ApiError::invalid(format!("{field}.effect"), r))?;
        let target_list = match parts.get(2) {
            Some(v) => Some(ListId(v.parse().map_err(|_| {
                ApiError::invalid(format!("{field}.target_list"), "must be a list id")
            })?)),
            None => None,
        };
        out.push(NewDisposition {
            label: parts[0].to_string(),
            effect,
            target_list,
        });
    }
    check_dispositions(&out)?;
    Ok(out)
}

struct EditState {
    campaign: Option<Campaign>,
    form: Option<CampaignBody>,
    dispositions_text: Option<String>,
    error: Option<ApiError>,
    notice: Option<String>,
}

async fn edit_view(app: &App, auth: Auth, client: ClientId, st: EditState) -> Response {
    if let Err(e) = staff_for(&auth, client) {
        return page_error(e);
    }
    let loaded = async {
        let c = app.store.client(client).await?;
        let numbers = app.store.numbers(client).await?;
        let people = app.store.users(Some(client)).await?;
        let lists = app.store.lists(client).await?;
        let dispositions = match &st.campaign {
            Some(camp) => app.store.dispositions(camp.id).await?,
            None => Vec::new(),
        };
        Ok::<_, ApiError>((c, numbers, people, lists, dispositions))
    }
    .await;
    let (c, numbers, people, lists, dispositions) = match loaded {
        Ok(v) => v,
        Err(e) => return page_error(e),
    };
    let form = st.form.unwrap_or_else(|| match &st.campaign {
        Some(camp) => CampaignBody::from_campaign(camp),
        None => CampaignBody {
            caller_id: numbers
                .first()
                .map(|n| n.number.clone())
                .unwrap_or_default(),
            ..CampaignBody::from_campaign(&placeholder(client))
        },
    });
    let status = st.error.as_ref().map_or(StatusCode::OK, |e| e.status);
    render(
        &EditPage {
            me: auth.user,
            csrf: auth.csrf,
            client: c,
            form,
            numbers: numbers.into_iter().map(|n| n.number).collect(),
            people,
            lists,
            dispositions_text: st
                .dispositions_text
                .unwrap_or_else(|| dispositions_text(&dispositions)),
            campaign: st.campaign,
            error_field: st
                .error
                .as_ref()
                .and_then(|e| e.field.clone())
                .unwrap_or_default(),
            error: st.error.map(|e| e.message),
            notice: st.notice,
        },
        status,
    )
}

/// A blank campaign with default settings (the new-campaign form).
fn placeholder(client: ClientId) -> Campaign {
    Campaign {
        id: CampaignId(0),
        client_id: client,
        name: String::new(),
        status: palera_store::campaigns::CampaignStatus::Draft,
        settings: Default::default(),
        caller_id: String::new(),
        voicemail_url: None,
        hold_music_url: None,
        recording: false,
        transcription: false,
        lists: Vec::new(),
        agents: Vec::new(),
        script: Default::default(),
        script_id: None,
        created_at: 0,
        updated_at: 0,
    }
}

fn state(campaign: Option<Campaign>) -> EditState {
    EditState {
        campaign,
        form: None,
        dispositions_text: None,
        error: None,
        notice: None,
    }
}

async fn new_page(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path(client): Path<i64>,
) -> Response {
    edit_view(&app, auth, ClientId(client), state(None)).await
}

async fn create(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path(client): Path<i64>,
    body: Bytes,
) -> Response {
    let client = ClientId(client);
    let f = Form::parse(&body);
    if !f.csrf_ok(&auth) {
        return forbidden_csrf();
    }
    if let Err(e) = staff_for(&auth, client) {
        return page_error(e);
    }
    let form = f.body();
    let result = match &form {
        Ok(b) => create_campaign_with_script(&app, client, b).await,
        Err(e) => Err(copy(e)),
    };
    match result {
        Ok(c) => {
            Redirect::to(&format!("/admin/clients/{client}/campaigns/{}", c.id)).into_response()
        }
        Err(e) => {
            let st = EditState {
                form: form.ok(),
                error: Some(e),
                ..state(None)
            };
            edit_view(&app, auth, client, st).await
        }
    }
}

async fn load(app: &App, auth: &Auth, client: i64, id: i64) -> Result<Campaign, ApiError> {
    staff_for(auth, ClientId(client))?;
    Ok(app.store.campaign(ClientId(client), CampaignId(id)).await?)
}

async fn edit_page(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path((client, id)): Path<(i64, i64)>,
) -> Response {
    match load(&app, &auth, client, id).await {
        Ok(c) => edit_view(&app, auth, ClientId(client), state(Some(c))).await,
        Err(e) => page_error(e),
    }
}

async fn update(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path((client, id)): Path<(i64, i64)>,
    body: Bytes,
) -> Response {
    let f = Form::parse(&body);
    if !f.csrf_ok(&auth) {
        return forbidden_csrf();
    }
    let camp = match load(&app, &auth, client, id).await {
        Ok(c) => c,
        Err(e) => return page_error(e),
    };
    let form = f.body();
    let saved = match &form {
        Ok(b) => save_campaign(&app, camp.client_id, camp.id, b).await,
        Err(e) => Err(copy(e)),
    };
    let st = match saved {
        Ok(c) => EditState {
            notice: Some("Campaign saved.".into()),
            ..state(Some(c))
        },
        Err(e) => EditState {
            form: form.ok(),
            error: Some(e),
            ..state(Some(camp))
        },
    };
    edit_view(&app, auth, ClientId(client), st).await
}

async fn status(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path((client, id, action)): Path<(i64, i64, String)>,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    if !form.csrf_ok(&auth) {
        return forbidden_csrf();
    }
    let camp = match load(&app, &auth, client, id).await {
        Ok(c) => c,
        Err(e) => return page_error(e),
    };
    let result = apply_action(&app, &camp, &action).await;
    // From the live page, back to it (POST-redirect-GET): it shows the new status.
    if result.is_ok() && form.get("back") == "live" {
        let to = format!("/admin/clients/{client}/campaigns/{id}/live");
        return axum::response::Redirect::to(&to).into_response();
    }
    let st = match result {
        Ok(c) => EditState {
            notice: Some(format!("Campaign is {}.", c.status.as_str())),
            ..state(Some(c))
        },
        Err(e) => EditState {
            error: Some(e),
            ..state(Some(camp))
        },
    };
    edit_view(&app, auth, ClientId(client), st).await
}

async fn dispositions(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path((client, id)): Path<(i64, i64)>,
    body: Bytes,
) -> Response {
    let f = Form::parse(&body);
    if !f.csrf_ok(&auth) {
        return forbidden_csrf();
    }
    let camp = match load(&app, &auth, client, id).await {
        Ok(c) => c,
        Err(e) => return page_error(e),
    };
    let text = f.get("dispositions");
    let result = async {
        let set = parse_dispositions(&text)?;
        crate::campaigns_api::check_targets(&app, camp.client_id, &set).await?;
        app.store.replace_dispositions(camp.id, &set).await?;
        app.engine.send(crate::engine::Command::Reload(camp.id));
        Ok::<_, ApiError>(())
    }
    .await;
    let st = match result {
        Ok(()) => EditState {
            notice: Some("Dispositions saved.".into()),
            ..state(Some(camp))
        },
        Err(e) => EditState {
            dispositions_text: Some(text),
            error: Some(e),
            ..state(Some(camp))
        },
    };
    edit_view(&app, auth, ClientId(client), st).await
}

#[derive(Template)]
#[template(path = "campaign_live.html")]
struct LivePage {
    me: User,
    csrf: String,
    client: Client,
    s: LiveStats,
}

/// One abandon-rate bar of the live page.
struct RateBar {
    label: &'static str,
    pct: String,
    width: String,
    over: bool,
}

impl LivePage {
    fn rates(&self) -> Vec<RateBar> {
        [
            ("Today", self.s.abandon_rate_today_pct),
            ("Campaign life", self.s.abandon_rate_life_pct),
        ]
        .into_iter()
        .map(|(label, pct)| RateBar {
            label,
            pct: self.fmt(pct),
            width: self.bar(pct),
            over: self.over(pct),
        })
        .collect()
    }
    /// Width (of 300) of the abandon-rate bar; the scale ends at twice the cap.
    fn bar(&self, pct: f64) -> String {
        let full = (self.s.abandon_cap_pct * 2.0).max(1.0);
        format!("{:.0}", (pct / full).clamp(0.0, 1.0) * 300.0)
    }
    fn cap_text(&self) -> String {
        self.fmt(self.s.abandon_cap_pct)
    }
    fn cap_x(&self) -> String {
        let full = (self.s.abandon_cap_pct * 2.0).max(1.0);
        format!("{:.0}", (self.s.abandon_cap_pct / full) * 300.0)
    }
    fn over(&self, pct: f64) -> bool {
        pct > self.s.abandon_cap_pct
    }
    fn fmt(&self, pct: f64) -> String {
        format!("{pct:.1}")
    }
}

async fn live_page(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path((client, id)): Path<(i64, i64)>,
) -> Response {
    let loaded = async {
        let camp = load(&app, &auth, client, id).await?;
        let c = app.store.client(camp.client_id).await?;
        Ok::<_, ApiError>((c, live_stats(&app, camp).await?))
    }
    .await;
    match loaded {
        Ok((client, s)) => render(
            &LivePage {
                me: auth.user,
                csrf: auth.csrf,
                client,
                s,
            },
            StatusCode::OK,
        ),
        Err(e) => page_error(e),
    }
}
