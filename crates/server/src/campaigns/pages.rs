//! Campaign pages for supervisors and admins: the list of the campaigns of their clients, the
//! create/edit form (every setting, errors naming the field), the disposition set, status
//! buttons, and the live page (agents and their state, lines in use, today's counts, the abandon
//! rate against the cap as a server-rendered SVG bar). Forms carry the session's CSRF token.

use crate::app::App;
use crate::campaigns::api::{
    apply_action, check_dispositions, create_campaign_with_script, live_stats, save_campaign,
    CampaignBody, LiveStats,
};
use crate::http::auth::{Auth, PageAuth};
use crate::http::error::ApiError;
use crate::http::pages::{page_error, render, render_loaded, saved_redirect};
use crate::http::pages::{FormData, FormError, PageForm, Saved, StaffPage};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
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
    crate::http::pages::javascript(include_str!("../../static/campaign.js"))
}

/// The campaign a posted form describes.
fn campaign_body(f: &FormData) -> Result<CampaignBody, ApiError> {
    {
        let opt = |k: &str| Some(f.text(k)).filter(|v| !v.is_empty());
        let words = |k: &str| -> Vec<String> {
            f.text(k)
                .split([',', ' ', '\n'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        };
        let retry: Option<u32> = f.num("retry_after")?;
        let hours = f.text("retry_unit") == "hours";
        let ids = |k: &str| -> Result<Vec<i64>, ApiError> {
            f.all(k)
                .iter()
                .flat_map(|v| v.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()))
                .map(|v| {
                    v.parse()
                        .map_err(|_| ApiError::invalid(k, format!("{v:?} is not an id")))
                })
                .collect()
        };
        Ok(CampaignBody {
            name: f.text("name"),
            caller_id: f.text("caller_id"),
            dial_mode: opt("dial_mode"),
            max_attempts: f.num("max_attempts")?,
            retry_after_days: retry.filter(|_| !hours),
            retry_after_hours: retry.filter(|_| hours),
            window_start: opt("window_start"),
            window_end: opt("window_end"),
            excluded_weekdays: f.all("excluded_weekdays"),
            excluded_dates: words("excluded_dates"),
            abandon_cap_pct: f.num("abandon_cap_pct")?,
            max_lines_per_agent: f.num("max_lines_per_agent")?,
            wrap_up_seconds: f.num("wrap_up_seconds")?,
            amd: Some(f.checked("amd")),
            machine_action: opt("machine_action"),
            calls_per_second: f.num("calls_per_second")?,
            inactivity_timeout_seconds: f.num("inactivity_timeout_seconds")?,
            ring_timeout_seconds: f.num("ring_timeout_seconds")?,
            voicemail_url: opt("voicemail_url"),
            hold_music_url: opt("hold_music_url"),
            script_text: Some(f.text("script_text")),
            script_url: opt("script_url"),
            recording: f.checked("recording"),
            transcription: f.checked("transcription"),
            lists: ids("lists")?.into_iter().map(ListId).collect(),
            agents: f
                .all("agents")
                .iter()
                .filter_map(|v| v.parse().ok())
                .map(UserId)
                .collect(),
        })
    }
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

/// The clients `auth` may see, and a row for each campaign of theirs.
async fn campaign_rows(app: &App, auth: &Auth) -> Result<(Vec<Client>, Vec<Row>), ApiError> {
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
    Ok((clients, rows))
}

async fn list_page(State(app): State<App>, PageAuth(auth): PageAuth) -> Response {
    if auth.user.role == Role::Agent {
        return Redirect::to("/desktop").into_response();
    }
    let loaded = campaign_rows(&app, &auth).await;
    render_loaded(loaded, StatusCode::OK, |(clients, rows)| ListPage {
        me: auth.user,
        csrf: auth.csrf,
        rows,
        clients,
    })
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
    disposition_rows: Vec<DispositionRow>,
    /// The editor row an error is about (0 = none), for the mark beside it.
    bad_row: usize,
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
    fn same(&self, a: impl AsRef<str>, b: impl AsRef<str>) -> bool {
        a.as_ref() == b.as_ref()
    }
    fn effects(&self) -> &'static [(&'static str, &'static str)] {
        EFFECTS
    }
    fn row_bad(&self, i: &usize) -> &'static str {
        if *i + 1 == self.bad_row {
            "bad"
        } else {
            ""
        }
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
    /// Warnings (not errors) about the saved campaign: it has no lists, or no agents.
    fn warnings(&self) -> Vec<(&'static str, &'static str)> {
        let Some(c) = &self.campaign else {
            return Vec::new();
        };
        let mut w = Vec::new();
        if c.lists.is_empty() {
            w.push((
                "no_lists",
                "The campaign has no contact lists: it has nobody to call until a list is added.",
            ));
        }
        if c.agents.is_empty() {
            w.push((
                "no_agents",
                "The campaign has no agents: nobody can take its calls until agents are added.",
            ));
        }
        w
    }
    fn action(&self) -> String {
        match &self.campaign {
            Some(c) => format!("/admin/clients/{}/campaigns/{}", self.client.id, c.id),
            None => format!("/admin/clients/{}/campaigns/new", self.client.id),
        }
    }
}

/// One row of the dispositions editor, as shown or as submitted.
#[derive(Debug, Clone, Default)]
struct DispositionRow {
    label: String,
    effect: String,
    list: String,
}

/// What each effect does, in the editor's words.
const EFFECTS: &[(&str, &str)] = &[
    ("final", "Done: never call again in this campaign"),
    ("retry", "Try again later (attempts and cadence)"),
    ("callback", "Call back at a time the agent picks"),
    ("dnc", "Do not call: add the number to the DNC list"),
    ("move_to_list", "Move the contact to a list"),
];

/// The stored set as editor rows, plus three blank rows to add to it.
fn disposition_rows(set: &[StoredDisposition]) -> Vec<DispositionRow> {
    let mut rows: Vec<DispositionRow> = set
        .iter()
        .map(|d| DispositionRow {
            label: d.label.clone(),
            effect: d.effect.as_str().to_string(),
            list: d.target_list.map(|l| l.0.to_string()).unwrap_or_default(),
        })
        .collect();
    rows.extend(std::iter::repeat_n(DispositionRow::default(), 3));
    rows
}

/// The editor's rows from the form (`d_label`, `d_effect`, `d_list` once per row, in order).
fn submitted_rows(f: &crate::http::pages::FormData) -> Vec<DispositionRow> {
    let (labels, effects, lists) = (f.all("d_label"), f.all("d_effect"), f.all("d_list"));
    labels
        .into_iter()
        .enumerate()
        .map(|(i, label)| DispositionRow {
            label,
            effect: effects.get(i).cloned().unwrap_or_default(),
            list: lists.get(i).cloned().unwrap_or_default(),
        })
        .collect()
}

/// Reads the filled rows (a row with no label is left out: that is how one is removed; a list
/// chosen on a row that does not move the contact is ignored). Returns the set and the editor
/// row (1-based) of each disposition in it.
fn parse_dispositions(
    rows: &[DispositionRow],
) -> Result<(Vec<NewDisposition>, Vec<usize>), (usize, ApiError)> {
    let mut out = Vec::new();
    let mut at = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let row = i + 1;
        if r.label.trim().is_empty() {
            continue;
        }
        let effect: EffectKind = r.effect.parse().map_err(|_| {
            (
                row,
                row_error(format!("Row {row}: choose what the disposition does")),
            )
        })?;
        let target_list = match r.list.trim() {
            _ if effect != EffectKind::MoveToList => None,
            "" => None,
            v => Some(ListId(v.parse().map_err(|_| {
                (
                    row,
                    row_error(format!("Row {row}: choose a list from the menu")),
                )
            })?)),
        };
        out.push(NewDisposition {
            label: r.label.trim().to_string(),
            effect,
            target_list,
        });
        at.push(row);
    }
    check_dispositions(&out).map_err(|e| in_words(e, &at))?;
    Ok((out, at))
}

/// An API error about `dispositions[i].field` (i over the filled rows) said as the editor shows
/// it: the row's number and what to do.
fn in_words(e: ApiError, at: &[usize]) -> (usize, ApiError) {
    let field = e.field.clone().unwrap_or_default();
    let row = field
        .strip_prefix("dispositions[")
        .and_then(|f| f.split(']').next())
        .and_then(|i| i.parse::<usize>().ok())
        .and_then(|i| at.get(i).copied());
    let Some(row) = row else { return (0, e) };
    let what = if field.ends_with(".target_list") && e.message.contains("required") {
        "choose the list to move the contact to".to_string()
    } else if field.ends_with(".target_list") {
        format!("the list {}", e.message)
    } else if e.message.contains("twice") {
        "another row already has this label".to_string()
    } else {
        format!("the label {}", e.message)
    };
    (row, row_error(format!("Row {row}: {what}")))
}

/// An error of the dispositions editor, said in the page's words (no field name in front).
fn row_error(text: String) -> ApiError {
    let mut e = ApiError::invalid("dispositions", text.clone());
    e.message = text;
    e
}

struct EditState {
    campaign: Option<Campaign>,
    form: Option<CampaignBody>,
    disposition_rows: Option<(Vec<DispositionRow>, usize)>,
    error: Option<ApiError>,
    notice: Option<String>,
}

impl EditState {
    /// The editor of `campaign` (`None`: a new one) with its stored values.
    fn of(campaign: Option<Campaign>) -> Self {
        EditState {
            campaign,
            form: None,
            disposition_rows: None,
            error: None,
            notice: None,
        }
    }
    /// The editor of `campaign` again, after `error` refused one of its forms.
    fn refused(campaign: Option<Campaign>, error: ApiError) -> Self {
        EditState {
            error: Some(error),
            ..EditState::of(campaign)
        }
    }
}

async fn edit_view(app: &App, StaffPage { auth, client: c }: StaffPage, st: EditState) -> Response {
    let client = c.id;
    let loaded = async {
        let numbers = app.store.numbers(client).await?;
        let people = app.store.users(Some(client)).await?;
        let lists = app.store.lists(client).await?;
        let dispositions = match &st.campaign {
            Some(camp) => app.store.dispositions(client, camp.id).await?,
            None => Vec::new(),
        };
        Ok::<_, ApiError>((numbers, people, lists, dispositions))
    }
    .await;
    let (numbers, people, lists, dispositions) = match loaded {
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
    let error = FormError::from(st.error);
    render(
        &EditPage {
            me: auth.user,
            csrf: auth.csrf,
            client: c,
            form,
            numbers: numbers.into_iter().map(|n| n.number).collect(),
            people,
            lists,
            bad_row: st.disposition_rows.as_ref().map_or(0, |(_, r)| *r),
            disposition_rows: st
                .disposition_rows
                .map(|(rows, _)| rows)
                .unwrap_or_else(|| disposition_rows(&dispositions)),
            campaign: st.campaign,
            error_field: error.field,
            error: error.message,
            notice: st.notice,
        },
        error.status,
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

async fn new_page(State(app): State<App>, page: StaffPage) -> Response {
    edit_view(&app, page, EditState::of(None)).await
}

async fn create(
    State(app): State<App>,
    page: StaffPage,
    PageForm { form: f, .. }: PageForm,
) -> Response {
    let client = page.client.id;
    let form = campaign_body(&f);
    let result = match &form {
        Ok(b) => create_campaign_with_script(&app, client, b).await,
        Err(e) => Err(e.clone()),
    };
    match result {
        Ok(c) => {
            Redirect::to(&format!("/admin/clients/{client}/campaigns/{}", c.id)).into_response()
        }
        Err(e) => {
            let st = EditState {
                form: form.ok(),
                ..EditState::refused(None, e)
            };
            edit_view(&app, page, st).await
        }
    }
}

/// The campaign named by the path, of the page's client (404 otherwise).
async fn load(app: &App, page: &StaffPage, id: i64) -> Result<Campaign, Response> {
    app.store
        .campaign(page.client.id, CampaignId(id))
        .await
        .map_err(|e| page_error(e.into()))
}

async fn edit_page(
    State(app): State<App>,
    page: StaffPage,
    Path((_, id)): Path<(i64, i64)>,
    Query(saved): Query<Saved>,
) -> Result<Response, Response> {
    let c = load(&app, &page, id).await?;
    let status = format!("Campaign is {}.", c.status.as_str());
    let notice = saved.notice(&[
        ("campaign", "Campaign saved."),
        ("dispositions", "Dispositions saved."),
        ("status", &status),
    ]);
    let st = EditState {
        notice,
        ..EditState::of(Some(c))
    };
    Ok(edit_view(&app, page, st).await)
}

/// The campaign's edit page, after a saved form (POST-redirect-GET).
fn back_to_edit(c: &Campaign, what: &str) -> Response {
    saved_redirect(
        &format!("/admin/clients/{}/campaigns/{}", c.client_id, c.id),
        what,
    )
}

async fn update(
    State(app): State<App>,
    page: StaffPage,
    Path((_, id)): Path<(i64, i64)>,
    PageForm { form: f, .. }: PageForm,
) -> Result<Response, Response> {
    let form = campaign_body(&f);
    let camp = load(&app, &page, id).await?;
    let saved = match &form {
        Ok(b) => save_campaign(&app, camp.client_id, camp.id, b).await,
        Err(e) => Err(e.clone()),
    };
    Ok(match saved {
        Ok(c) => back_to_edit(&c, "campaign"),
        Err(e) => {
            let st = EditState {
                form: form.ok(),
                ..EditState::refused(Some(camp), e)
            };
            edit_view(&app, page, st).await
        }
    })
}

async fn status(
    State(app): State<App>,
    page: StaffPage,
    Path((client, id, action)): Path<(i64, i64, String)>,
    PageForm { form, .. }: PageForm,
) -> Result<Response, Response> {
    let camp = load(&app, &page, id).await?;
    let result = apply_action(&app, &camp, &action).await;
    // From the live page, back to it (POST-redirect-GET): it shows the new status.
    if result.is_ok() && form.get("back") == "live" {
        let to = format!("/admin/clients/{client}/campaigns/{id}/live");
        return Ok(axum::response::Redirect::to(&to).into_response());
    }
    Ok(match result {
        Ok(c) => back_to_edit(&c, "status"),
        Err(e) => edit_view(&app, page, EditState::refused(Some(camp), e)).await,
    })
}

async fn dispositions(
    State(app): State<App>,
    page: StaffPage,
    Path((_, id)): Path<(i64, i64)>,
    PageForm { form: f, .. }: PageForm,
) -> Result<Response, Response> {
    let rows = submitted_rows(&f);
    let camp = load(&app, &page, id).await?;
    let result = async {
        let (set, at) = parse_dispositions(&rows)?;
        crate::campaigns::api::check_targets(&app, camp.client_id, &set)
            .await
            .map_err(|e| in_words(e, &at))?;
        app.store
            .replace_dispositions(camp.client_id, camp.id, &set)
            .await
            .map_err(|e| (0, ApiError::from(e)))?;
        app.engine.send(crate::engine::Request::Reload(camp.id));
        Ok::<_, (usize, ApiError)>(())
    }
    .await;
    Ok(match result {
        Ok(()) => back_to_edit(&camp, "dispositions"),
        Err((row, e)) => {
            let st = EditState {
                disposition_rows: Some((rows, row)),
                ..EditState::refused(Some(camp), e)
            };
            edit_view(&app, page, st).await
        }
    })
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
    page: StaffPage,
    Path((_, id)): Path<(i64, i64)>,
) -> Result<Response, Response> {
    let camp = load(&app, &page, id).await?;
    let stats = live_stats(&app, camp).await;
    Ok(render_loaded(stats, StatusCode::OK, |s| LivePage {
        me: page.auth.user,
        csrf: page.auth.csrf,
        client: page.client,
        s,
    }))
}
