//! The campaign JSON API: campaigns of a client (settings, lists, agents, caller ID, messages,
//! recording and transcription switches), their status (start, pause, resume, stop), the
//! disposition set, uploaded audio, the live statistics, and the agent's side — preview
//! call/skip and the disposition of a call. Campaign management is for supervisors and admins
//! (agents get 403); another client's campaign is 404.

use super::idle::{idle_reason, IdleReason};
use super::media::{audio_token, AudioKind};
use crate::app::App;
use crate::engine::{LiveSnapshot, Request};
use crate::http::auth::{Auth, ScopedClient, StaffClient};
use crate::http::error::{ApiError, ErrorBody, JsonBody};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc, Weekday};
use palera_core::campaign::{CampaignSettings, DialMode, MachineAction, RetryAfter};
use palera_core::desk::Script;
use palera_core::ids::{CallId, CampaignId, ClientId, ListId, UserId};
use palera_core::phone::PhoneNumber;
use palera_core::user::VoiceState;
use palera_store::calls::CallCounts;
use palera_store::campaigns::{
    Campaign, CampaignInput, CampaignStatus, EffectKind, NewDisposition, StoredDisposition,
};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    paths(
        list_campaigns,
        create_campaign,
        get_campaign,
        update_campaign,
        change_status,
        get_dispositions,
        put_dispositions,
        live,
        put_audio,
        dispose,
        preview_call,
        preview_skip
    ),
    components(schemas(
        Campaign,
        CampaignBody,
        CampaignStatus,
        StoredDisposition,
        NewDisposition,
        EffectKind,
        LiveStats,
        LiveSnapshot,
        IdleReason,
        CallCounts,
        DispositionRequest,
        PreviewCalled
    ))
)]
pub struct CampaignApiDoc;

pub fn routes() -> Router<App> {
    let base = "/api/v1/clients/{client_id}/campaigns";
    Router::new()
        .route(base, get(list_campaigns).post(create_campaign))
        .route(
            &format!("{base}/{{campaign_id}}"),
            get(get_campaign).put(update_campaign),
        )
        .route(
            &format!("{base}/{{campaign_id}}/status/{{action}}"),
            post(change_status),
        )
        .route(
            &format!("{base}/{{campaign_id}}/dispositions"),
            get(get_dispositions).put(put_dispositions),
        )
        .route(&format!("{base}/{{campaign_id}}/live"), get(live))
        .route(
            &format!("{base}/{{campaign_id}}/audio/{{kind}}"),
            put(put_audio),
        )
        .route("/api/v1/calls/{call_id}/disposition", post(dispose))
        .route("/api/v1/me/preview/call", post(preview_call))
        .route("/api/v1/me/preview/skip", post(preview_skip))
}

/// A campaign as written by a supervisor. Left-out settings take their defaults.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(default)]
pub struct CampaignBody {
    pub name: String,
    /// One of the client's numbers, E.164.
    pub caller_id: String,
    /// preview, progressive or predictive.
    pub dial_mode: Option<String>,
    pub max_attempts: Option<u32>,
    pub retry_after_days: Option<u32>,
    pub retry_after_hours: Option<u32>,
    /// HH:MM in the contact's local time.
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    /// Mon, Tue, …
    pub excluded_weekdays: Vec<String>,
    /// YYYY-MM-DD
    pub excluded_dates: Vec<String>,
    pub abandon_cap_pct: Option<f64>,
    pub max_lines_per_agent: Option<f64>,
    pub wrap_up_seconds: Option<u32>,
    pub amd: Option<bool>,
    /// leave_message or hang_up
    pub machine_action: Option<String>,
    pub calls_per_second: Option<f64>,
    pub inactivity_timeout_seconds: Option<u32>,
    pub ring_timeout_seconds: Option<u32>,
    /// Played to answering machines and, on abandoned calls, as the identification message.
    pub voicemail_url: Option<String>,
    pub hold_music_url: Option<String>,
    /// The internal script text the agent reads during a call.
    pub script_text: Option<String>,
    /// An external script (https web page or PDF); it takes priority over the text.
    pub script_url: Option<String>,
    pub recording: bool,
    pub transcription: bool,
    pub lists: Vec<ListId>,
    pub agents: Vec<UserId>,
}

impl CampaignBody {
    /// The body of a stored campaign (for edit forms).
    pub fn from_campaign(c: &Campaign) -> Self {
        let s = &c.settings;
        let (days, hours) = match s.retry_after {
            RetryAfter::Days(d) => (Some(d), None),
            RetryAfter::Hours(h) => (None, Some(h)),
        };
        Self {
            name: c.name.clone(),
            caller_id: c.caller_id.clone(),
            dial_mode: Some(
                match s.dial_mode {
                    DialMode::Preview => "preview",
                    DialMode::Progressive => "progressive",
                    DialMode::Predictive => "predictive",
                }
                .into(),
            ),
            max_attempts: Some(s.max_attempts),
            retry_after_days: days,
            retry_after_hours: hours,
            window_start: Some(s.window.start.format("%H:%M").to_string()),
            window_end: Some(s.window.end.format("%H:%M").to_string()),
            excluded_weekdays: s
                .window
                .excluded_weekdays
                .iter()
                .map(|d| d.to_string())
                .collect(),
            excluded_dates: s
                .window
                .excluded_dates
                .iter()
                .map(|d| d.to_string())
                .collect(),
            abandon_cap_pct: Some(s.abandon_cap_pct),
            max_lines_per_agent: Some(s.max_lines_per_agent),
            wrap_up_seconds: Some(s.wrap_up_seconds),
            amd: Some(s.amd),
            machine_action: Some(
                match s.machine_action {
                    MachineAction::LeaveMessage => "leave_message",
                    MachineAction::HangUp => "hang_up",
                }
                .into(),
            ),
            calls_per_second: Some(s.calls_per_second),
            inactivity_timeout_seconds: Some(s.inactivity_timeout_seconds),
            ring_timeout_seconds: Some(s.ring_timeout_seconds),
            voicemail_url: c.voicemail_url.clone(),
            hold_music_url: c.hold_music_url.clone(),
            script_text: Some(c.script.text.clone()),
            script_url: c.script.url.clone(),
            recording: c.recording,
            transcription: c.transcription,
            lists: c.lists.clone(),
            agents: c.agents.clone(),
        }
    }

    /// The script the body gives (blank fields: none).
    pub fn script(&self) -> Result<Script, ApiError> {
        Ok(Script::parse(
            self.script_text.as_deref(),
            self.script_url.as_deref(),
        )?)
    }

    fn settings(&self) -> Result<CampaignSettings, ApiError> {
        let mut s = CampaignSettings::default();
        if let Some(m) = self.dial_mode.as_deref().filter(|m| !m.is_empty()) {
            s.dial_mode = m
                .parse()
                .map_err(|r: String| ApiError::invalid("dial_mode", r))?;
        }
        s.retry_after = match (self.retry_after_days, self.retry_after_hours) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    "retry_after_hours",
                    "give retry_after_days or retry_after_hours, not both",
                ))
            }
            (Some(d), None) => RetryAfter::Days(d),
            (None, Some(h)) => RetryAfter::Hours(h),
            (None, None) => s.retry_after,
        };
        let time = |field: &str, v: &Option<String>, default: NaiveTime| match v
            .as_deref()
            .filter(|v| !v.is_empty())
        {
            None => Ok(default),
            Some(v) => NaiveTime::parse_from_str(v, "%H:%M")
                .map_err(|_| ApiError::invalid(field, "must be a time like 08:00")),
        };
        s.window.start = time("window.start", &self.window_start, s.window.start)?;
        s.window.end = time("window.end", &self.window_end, s.window.end)?;
        s.window.excluded_weekdays = self
            .excluded_weekdays
            .iter()
            .map(|d| {
                d.parse::<Weekday>().map_err(|_| {
                    ApiError::invalid(
                        "window.excluded_weekdays",
                        format!("{d:?} is not a weekday"),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        s.window.excluded_dates = self
            .excluded_dates
            .iter()
            .map(|d| {
                d.parse::<NaiveDate>().map_err(|_| {
                    ApiError::invalid(
                        "window.excluded_dates",
                        format!("{d:?} is not a date (YYYY-MM-DD)"),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        if let Some(m) = self.machine_action.as_deref().filter(|m| !m.is_empty()) {
            s.machine_action = match m {
                "leave_message" => MachineAction::LeaveMessage,
                "hang_up" => MachineAction::HangUp,
                _ => {
                    return Err(ApiError::invalid(
                        "machine_action",
                        "must be leave_message or hang_up",
                    ))
                }
            };
        }
        macro_rules! take {
            ($($f:ident),*) => {$( if let Some(v) = self.$f { s.$f = v; } )*};
        }
        take!(
            max_attempts,
            abandon_cap_pct,
            max_lines_per_agent,
            wrap_up_seconds,
            amd,
            calls_per_second,
            inactivity_timeout_seconds,
            ring_timeout_seconds
        );
        s.validate()?;
        Ok(s)
    }

    /// Checks every field against the rules and the client's numbers and people.
    pub async fn validate(&self, app: &App, client: ClientId) -> Result<CampaignInput, ApiError> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(ApiError::invalid("name", "is required"));
        }
        if name.chars().count() > 120 {
            return Err(ApiError::invalid("name", "must be at most 120 characters"));
        }
        let caller = PhoneNumber::parse_field("caller_id", &self.caller_id, None)?;
        let numbers = app.store.numbers(client).await?;
        if !numbers.iter().any(|n| n.number == caller.as_str()) {
            return Err(ApiError::invalid(
                "caller_id",
                "must be one of the client's phone numbers",
            ));
        }
        let settings = self.settings()?;
        let voicemail_url = audio_url("voicemail_url", &self.voicemail_url)?;
        let hold_music_url = audio_url("hold_music_url", &self.hold_music_url)?;
        if settings.dial_mode == DialMode::Predictive && voicemail_url.is_none() {
            return Err(ApiError::invalid(
                "voicemail_url",
                "is required in predictive mode: abandoned calls play it as the identification message",
            ));
        }
        for l in &self.lists {
            if app.store.list(client, *l).await.is_err() {
                return Err(ApiError::invalid(
                    "lists",
                    format!("list {l} is not a list of this client"),
                ));
            }
        }
        let people = app.store.users(Some(client)).await?;
        for a in &self.agents {
            if !people.iter().any(|u| u.id == *a) {
                return Err(ApiError::invalid(
                    "agents",
                    format!("user {a} is not assigned to this client"),
                ));
            }
        }
        Ok(CampaignInput {
            name: name.to_string(),
            settings,
            caller_id: caller.as_str().to_string(),
            voicemail_url,
            hold_music_url,
            recording: self.recording,
            transcription: self.transcription,
            lists: self.lists.clone(),
            agents: self.agents.clone(),
        })
    }
}

fn audio_url(field: &str, v: &Option<String>) -> Result<Option<String>, ApiError> {
    let Some(v) = v.as_deref().map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    match url::Url::parse(v) {
        Ok(u) if u.scheme() == "https" || u.scheme() == "http" => Ok(Some(v.to_string())),
        _ => Err(ApiError::invalid(field, "must be an http(s) URL")),
    }
}

/// A campaign of the scoped client for staff (agents 403, other clients 404).
pub async fn staff_campaign(app: &App, c: &ScopedClient, id: i64) -> Result<Campaign, ApiError> {
    c.auth.require_staff()?;
    Ok(app.store.campaign(c.client, CampaignId(id)).await?)
}

fn campaign_id(params: &std::collections::HashMap<String, String>) -> Result<i64, ApiError> {
    params
        .get("campaign_id")
        .and_then(|v| v.parse().ok())
        .ok_or_else(ApiError::not_found)
}

type Params = Path<std::collections::HashMap<String, String>>;

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/campaigns", params(("client_id" = i64, Path)),
    responses((status = 200, body = [Campaign]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_campaigns(
    State(app): State<App>,
    c: StaffClient,
) -> Result<Json<Vec<Campaign>>, ApiError> {
    Ok(Json(app.store.campaigns(c.client).await?))
}

#[utoipa::path(post, path = "/api/v1/clients/{client_id}/campaigns", params(("client_id" = i64, Path)), request_body = CampaignBody,
    responses((status = 201, body = Campaign), (status = 422, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_campaign(
    State(app): State<App>,
    c: StaffClient,
    JsonBody(body): JsonBody<CampaignBody>,
) -> Result<(StatusCode, Json<Campaign>), ApiError> {
    let camp = create_campaign_with_script(&app, c.client, &body).await?;
    Ok((StatusCode::CREATED, Json(camp)))
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/campaigns/{campaign_id}", params(("client_id" = i64, Path), ("campaign_id" = i64, Path)),
    responses((status = 200, body = Campaign), (status = 404, body = ErrorBody)))]
async fn get_campaign(
    State(app): State<App>,
    c: ScopedClient,
    Path(p): Params,
) -> Result<Json<Campaign>, ApiError> {
    Ok(Json(staff_campaign(&app, &c, campaign_id(&p)?).await?))
}

#[utoipa::path(put, path = "/api/v1/clients/{client_id}/campaigns/{campaign_id}", params(("client_id" = i64, Path), ("campaign_id" = i64, Path)), request_body = CampaignBody,
    responses((status = 200, body = Campaign), (status = 422, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_campaign(
    State(app): State<App>,
    c: StaffClient,
    Path(p): Params,
    JsonBody(body): JsonBody<CampaignBody>,
) -> Result<Json<Campaign>, ApiError> {
    let camp = staff_campaign(&app, &c.scoped(), campaign_id(&p)?).await?;
    Ok(Json(save_campaign(&app, c.client, camp.id, &body).await?))
}

/// Validates and stores a campaign edit; a running campaign's runner picks it up at once.
pub async fn save_campaign(
    app: &App,
    client: ClientId,
    id: CampaignId,
    body: &CampaignBody,
) -> Result<Campaign, ApiError> {
    let input = body.validate(app, client).await?;
    let script = body.script()?;
    app.store
        .update_campaign(client, id, &input, app.now_ms())
        .await?;
    app.store
        .set_campaign_script(client, id, &script, app.now_ms())
        .await?;
    app.engine.send(Request::Reload(id));
    Ok(app.store.campaign(client, id).await?)
}

/// Validates a new campaign (settings and script) before anything is stored, then creates it.
pub async fn create_campaign_with_script(
    app: &App,
    client: ClientId,
    body: &CampaignBody,
) -> Result<Campaign, ApiError> {
    let input = body.validate(app, client).await?;
    let script = body.script()?;
    let camp = app
        .store
        .create_campaign(client, &input, app.now_ms())
        .await?;
    app.store
        .set_campaign_script(client, camp.id, &script, app.now_ms())
        .await?;
    Ok(app.store.campaign(client, camp.id).await?)
}

/// Moves a campaign to a new status by action name (start, pause, resume, stop).
pub async fn apply_action(app: &App, camp: &Campaign, action: &str) -> Result<Campaign, ApiError> {
    if !["start", "pause", "resume", "stop"].contains(&action) {
        return Err(ApiError::not_found());
    }
    let Some(to) = camp.status.after(action) else {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            code: "conflict",
            message: format!(
                "status: a {} campaign cannot {action}",
                camp.status.as_str()
            ),
            field: Some("status".into()),
        });
    };
    if to == CampaignStatus::Running {
        if camp.agents.is_empty() {
            return Err(ApiError::invalid(
                "agents",
                "assign at least one agent first",
            ));
        }
        if camp.lists.is_empty() {
            return Err(ApiError::invalid("lists", "choose at least one list first"));
        }
        if !app.store.client(camp.client_id).await?.voice_enabled {
            return Err(ApiError {
                status: StatusCode::CONFLICT,
                code: "conflict",
                message: "voice_enabled: voice is switched off for this client; an admin can switch it on".into(),
                field: Some("voice_enabled".into()),
            });
        }
    }
    let updated = app
        .store
        .set_campaign_status(camp.client_id, camp.id, to, app.now_ms())
        .await?;
    app.engine.send(Request::Reload(camp.id));
    Ok(updated)
}

#[utoipa::path(post, path = "/api/v1/clients/{client_id}/campaigns/{campaign_id}/status/{action}",
    params(("client_id" = i64, Path), ("campaign_id" = i64, Path), ("action" = String, Path, description = "start, pause, resume or stop")),
    responses((status = 200, body = Campaign), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn change_status(
    State(app): State<App>,
    c: ScopedClient,
    Path(p): Params,
) -> Result<Json<Campaign>, ApiError> {
    let camp = staff_campaign(&app, &c, campaign_id(&p)?).await?;
    let action = p.get("action").map(String::as_str).unwrap_or_default();
    Ok(Json(apply_action(&app, &camp, action).await?))
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/campaigns/{campaign_id}/dispositions", params(("client_id" = i64, Path), ("campaign_id" = i64, Path)),
    responses((status = 200, body = [StoredDisposition]), (status = 404, body = ErrorBody)))]
async fn get_dispositions(
    State(app): State<App>,
    c: ScopedClient,
    Path(p): Params,
) -> Result<Json<Vec<StoredDisposition>>, ApiError> {
    let camp = staff_campaign(&app, &c, campaign_id(&p)?).await?;
    Ok(Json(app.store.dispositions(camp.client_id, camp.id).await?))
}

/// Checks a disposition set: labels present and unique, move-to-list with a target list.
pub fn check_dispositions(set: &[NewDisposition]) -> Result<(), ApiError> {
    if set.len() > 50 {
        return Err(ApiError::invalid("dispositions", "at most 50"));
    }
    for (i, d) in set.iter().enumerate() {
        let label = d.label.trim();
        if label.is_empty() || label.chars().count() > 60 {
            return Err(ApiError::invalid(
                format!("dispositions[{i}].label"),
                "is required, at most 60 characters",
            ));
        }
        if set[..i]
            .iter()
            .any(|o| o.label.trim().eq_ignore_ascii_case(label))
        {
            return Err(ApiError::invalid(
                format!("dispositions[{i}].label"),
                "is listed twice",
            ));
        }
        match (d.effect, d.target_list) {
            (EffectKind::MoveToList, None) => {
                return Err(ApiError::invalid(
                    format!("dispositions[{i}].target_list"),
                    "is required for move_to_list",
                ))
            }
            (EffectKind::MoveToList, Some(_)) | (_, None) => {}
            (_, Some(_)) => {
                return Err(ApiError::invalid(
                    format!("dispositions[{i}].target_list"),
                    "only move_to_list takes a target list",
                ))
            }
        }
    }
    Ok(())
}

/// Every target list of a disposition set is a list of the client.
pub async fn check_targets(
    app: &App,
    client: ClientId,
    set: &[NewDisposition],
) -> Result<(), ApiError> {
    for (i, d) in set.iter().enumerate() {
        if let Some(l) = d.target_list {
            if app.store.list(client, l).await.is_err() {
                return Err(ApiError::invalid(
                    format!("dispositions[{i}].target_list"),
                    format!("list {l} is not a list of this client"),
                ));
            }
        }
    }
    Ok(())
}

#[utoipa::path(put, path = "/api/v1/clients/{client_id}/campaigns/{campaign_id}/dispositions", params(("client_id" = i64, Path), ("campaign_id" = i64, Path)),
    request_body = [NewDisposition], responses((status = 200, body = [StoredDisposition]), (status = 422, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn put_dispositions(
    State(app): State<App>,
    c: StaffClient,
    Path(p): Params,
    JsonBody(set): JsonBody<Vec<NewDisposition>>,
) -> Result<Json<Vec<StoredDisposition>>, ApiError> {
    let camp = staff_campaign(&app, &c.scoped(), campaign_id(&p)?).await?;
    check_dispositions(&set)?;
    check_targets(&app, c.client, &set).await?;
    let stored = app
        .store
        .replace_dispositions(camp.client_id, camp.id, &set)
        .await?;
    app.engine.send(Request::Reload(camp.id));
    Ok(Json(stored))
}

/// The live numbers of a campaign.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LiveStats {
    pub campaign: Campaign,
    pub engine: LiveSnapshot,
    /// Calls placed since the start of today in the client's time zone.
    pub today: CallCounts,
    pub life: CallCounts,
    /// Abandoned / live-answered, percent.
    pub abandon_rate_today_pct: f64,
    pub abandon_rate_life_pct: f64,
    pub abandon_cap_pct: f64,
    /// Why nothing is being dialled now, when nothing is.
    pub idle: Option<IdleReason>,
}

fn rate(c: &CallCounts) -> f64 {
    if c.live_answered == 0 {
        0.0
    } else {
        c.abandoned_no_agent as f64 * 100.0 / c.live_answered as f64
    }
}

/// Gathers the live statistics of a campaign.
pub async fn live_stats(app: &App, camp: Campaign) -> Result<LiveStats, ApiError> {
    let client = app.store.client(camp.client_id).await?;
    let tz: chrono_tz::Tz = client.time_zone.parse().unwrap_or(chrono_tz::UTC);
    let now = app.clock.now();
    let start =
        palera_core::campaign::start_of_local_day(tz, palera_core::campaign::local_date(tz, now));
    let today = app
        .store
        .call_counts(camp.client_id, camp.id, start.timestamp_millis())
        .await?;
    let life = app.store.call_counts(camp.client_id, camp.id, 0).await?;
    let id = camp.id;
    let engine = app
        .engine
        .ask(|reply| Request::Snapshot {
            campaign: id,
            reply,
        })
        .await?;
    let idle = idle_reason(app, &camp, &engine, client.calls_per_second).await?;
    Ok(LiveStats {
        idle,
        abandon_rate_today_pct: rate(&today),
        abandon_rate_life_pct: rate(&life),
        abandon_cap_pct: camp.settings.abandon_cap_pct,
        campaign: camp,
        engine,
        today,
        life,
    })
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/campaigns/{campaign_id}/live", params(("client_id" = i64, Path), ("campaign_id" = i64, Path)),
    responses((status = 200, body = LiveStats), (status = 404, body = ErrorBody)))]
async fn live(
    State(app): State<App>,
    c: ScopedClient,
    Path(p): Params,
) -> Result<Json<LiveStats>, ApiError> {
    let camp = staff_campaign(&app, &c, campaign_id(&p)?).await?;
    Ok(Json(live_stats(&app, camp).await?))
}

/// Stores uploaded audio and points the campaign at its public URL.
pub async fn store_audio(
    app: &App,
    camp: &Campaign,
    kind: &str,
    content_type: &str,
    data: &[u8],
) -> Result<Campaign, ApiError> {
    let field = match kind {
        "voicemail" => "voicemail_url",
        "hold_music" => "hold_music_url",
        _ => return Err(ApiError::not_found()),
    };
    let _ = content_type; // never trusted: the type comes from the file's own bytes
    let Some(audio) = AudioKind::sniff(data) else {
        return Err(ApiError::invalid(
            field,
            "upload an MP3 or WAV audio file (its content is not MP3 or WAV audio)",
        ));
    };
    if data.is_empty() || data.len() > 10 * 1024 * 1024 {
        return Err(ApiError::invalid(
            field,
            "the file must be between 1 byte and 10 MB",
        ));
    }
    app.store
        .put_campaign_audio(camp.client_id, camp.id, kind, audio.content_type(), data)
        .await?;
    let base = app.settings.public_url.clone().unwrap_or_default();
    let token = audio_token(&app.settings, camp.id, kind, data);
    let url = format!(
        "{}/media/campaigns/{}/{kind}/{token}",
        base.trim_end_matches('/'),
        camp.id
    );
    let mut body = CampaignBody::from_campaign(camp);
    match kind {
        "voicemail" => body.voicemail_url = Some(url),
        _ => body.hold_music_url = Some(url),
    }
    save_campaign(app, camp.client_id, camp.id, &body).await
}

#[utoipa::path(put, path = "/api/v1/clients/{client_id}/campaigns/{campaign_id}/audio/{kind}",
    params(("client_id" = i64, Path), ("campaign_id" = i64, Path), ("kind" = String, Path, description = "voicemail or hold_music")),
    request_body(content = Vec<u8>, content_type = "audio/mpeg"),
    responses((status = 200, body = Campaign), (status = 422, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn put_audio(
    State(app): State<App>,
    c: StaffClient,
    Path(p): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Campaign>, ApiError> {
    let camp = staff_campaign(&app, &c.scoped(), campaign_id(&p)?).await?;
    let kind = p.get("kind").map(String::as_str).unwrap_or_default();
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    Ok(Json(store_audio(&app, &camp, kind, ct, &body).await?))
}

/// The disposition of a call.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DispositionRequest {
    pub disposition_id: i64,
    #[serde(default)]
    pub notes: String,
    /// Required for a callback disposition: when to call again (RFC 3339), unless
    /// `callback_local` is given.
    #[schema(value_type = Option<String>)]
    pub callback_at: Option<DateTime<Utc>>,
    /// The callback time in the contact's local time ("YYYY-MM-DDTHH:MM"; see `GET
    /// /api/v1/calls/{id}/wrap-up` for the zone). Either must be inside the calling window.
    #[schema(value_type = Option<String>)]
    pub callback_local: Option<chrono::NaiveDateTime>,
    /// Go to Standby once this disposition is saved ("pause after this call").
    #[serde(default)]
    pub pause_after: bool,
}

/// Saves a call's disposition through the engine (it owns the agent's wrap-up).
pub async fn save_disposition(
    app: &App,
    auth: &Auth,
    call: CallId,
    req: DispositionRequest,
) -> Result<(), ApiError> {
    let row = app.store.call_in(&auth.scope(), call).await?;
    if req.notes.chars().count() > 10_000 {
        return Err(ApiError::invalid(
            "notes",
            "must be at most 10 000 characters",
        ));
    }
    let staff = auth.user.role != palera_core::user::Role::Agent;
    let by = auth.user.id;
    let planned =
        crate::desk::callback::plan(app, &row, req.callback_local, req.callback_at).await?;
    if req.pause_after {
        // Before the disposition frees the agent, so no call is offered in between.
        crate::desk::ws::change_voice_state(app, &auth.user, VoiceState::Standby, "pause_after")
            .await?;
    }
    let disposition = req.disposition_id;
    app.engine
        .ask(|reply| Request::Dispose {
            call,
            by,
            staff,
            disposition,
            notes: req.notes,
            callback_at: planned.map(|(at, _)| at),
            reply,
        })
        .await??;
    crate::desk::callback::record(app, &row, disposition, planned).await
}

#[utoipa::path(post, path = "/api/v1/calls/{call_id}/disposition", params(("call_id" = i64, Path)), request_body = DispositionRequest,
    responses((status = 204), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn dispose(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<i64>,
    JsonBody(req): JsonBody<DispositionRequest>,
) -> Result<StatusCode, ApiError> {
    save_disposition(&app, &auth, CallId(id), req).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewCalled {
    pub call_id: CallId,
}

#[utoipa::path(post, path = "/api/v1/me/preview/call", responses((status = 200, body = PreviewCalled), (status = 422, body = ErrorBody)))]
async fn preview_call(State(app): State<App>, auth: Auth) -> Result<Json<PreviewCalled>, ApiError> {
    let agent = auth.user.id;
    let call_id = app
        .engine
        .ask(|reply| Request::PreviewCall { agent, reply })
        .await??;
    Ok(Json(PreviewCalled { call_id }))
}

#[utoipa::path(post, path = "/api/v1/me/preview/skip", responses((status = 204), (status = 422, body = ErrorBody)))]
async fn preview_skip(State(app): State<App>, auth: Auth) -> Result<StatusCode, ApiError> {
    let agent = auth.user.id;
    app.engine
        .ask(|reply| Request::PreviewSkip { agent, reply })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}
