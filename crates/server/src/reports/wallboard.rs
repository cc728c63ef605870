//! The live wallboard for supervisors: every voice agent of the client with their state and
//! current call, and today's figures of each campaign (the client's date). The page is rendered
//! with a snapshot; `/static/wallboard.js` then listens to server-sent events: the server sends a
//! fresh snapshot whenever a desktop event happens (a state change, a call offered, connected,
//! ended) and, for dials that no desktop hears of, at most every few seconds when something
//! changed. The browser never polls. Queue sizes and longest wait are empty until inbound
//! calls land (issue 16).

use super::build;
use crate::app::App;
use crate::http::auth::{ScopedClient, StaffClient};
use crate::http::error::{ApiError, ErrorBody};
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::{Json, Router};
use futures::Stream;
use palera_core::campaign::window::{local_date, start_of_local_day};
use palera_core::ids::{CallId, CampaignId, ClientId, UserId};
use palera_store::reports::{CallFilter, Tally};
use serde::Serialize;
use std::convert::Infallible;
use std::time::Duration;
use utoipa::{OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(paths(snapshot), components(schemas(Wallboard)))]
pub struct WallboardDoc;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/v1/clients/{client_id}/wallboard", get(snapshot))
        .route("/api/v1/clients/{client_id}/wallboard/events", get(events))
}

/// An agent on the wallboard.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BoardAgent {
    pub id: UserId,
    pub name: String,
    pub state: String,
    pub since: i64,
    pub call: Option<BoardCall>,
}

/// An agent's current call.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BoardCall {
    pub id: CallId,
    pub phone: String,
    pub outcome: String,
    pub campaign_id: Option<CampaignId>,
}

/// A campaign's figures today.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BoardCampaign {
    pub id: CampaignId,
    pub name: String,
    pub status: String,
    pub abandon_cap_pct: f64,
    pub abandon_rate_pct: f64,
    pub today: Tally,
}

/// What the wallboard shows.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Wallboard {
    pub agents: Vec<BoardAgent>,
    pub campaigns: Vec<BoardCampaign>,
    /// The client's inbound queue: callers waiting now and today's inbound figures.
    pub queues: Vec<BoardQueue>,
}

/// An inbound queue on the wallboard.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BoardQueue {
    pub name: String,
    /// Callers not yet connected to an agent (waiting, or ringing at an agent's desktop).
    pub waiting: i64,
    /// When the caller waiting longest rang (ms since the epoch); the page counts the wait from it.
    pub longest_waiting_since: Option<i64>,
    /// That caller's wait so far, in seconds, when the board was made.
    pub longest_wait_seconds: i64,
    /// Today's inbound calls (from the client's midnight).
    pub today: Tally,
}

impl BoardQueue {
    /// Today's callers who hung up before an agent answered.
    pub fn missed(&self) -> i64 {
        self.today.outcomes.get("missed").copied().unwrap_or(0)
    }

    /// Today's callers who left a voicemail.
    pub fn voicemails(&self) -> i64 {
        self.today.outcomes.get("voicemail").copied().unwrap_or(0)
    }
}

/// The wallboard of `client` now.
pub async fn load(app: &App, client: ClientId) -> Result<Wallboard, ApiError> {
    let open = app.store.open_calls(client).await?;
    let mut agents = Vec::new();
    for u in app.store.users(Some(client)).await? {
        if !u.voice_enabled {
            continue;
        }
        let call = open
            .iter()
            .filter(|c| c.agent_id == Some(u.id))
            .max_by_key(|c| c.id)
            .map(|c| BoardCall {
                id: c.id,
                phone: c.phone.clone(),
                outcome: c.outcome.clone(),
                campaign_id: c.campaign_id,
            });
        agents.push(BoardAgent {
            id: u.id,
            name: u.name,
            state: u.voice_state.as_str().to_string(),
            since: u.voice_state_since,
            call,
        });
    }
    let tz = build::client_zone(app, client).await?;
    let now = chrono::DateTime::from_timestamp_millis(app.now_ms()).unwrap_or_default();
    let today = start_of_local_day(tz, local_date(tz, now)).timestamp_millis();
    let mut campaigns = Vec::new();
    for c in app.store.campaigns(client).await? {
        let filter = CallFilter {
            campaign: Some(c.id),
            from_ms: Some(today),
            ..Default::default()
        };
        let t = app.store.tally(client, &filter).await?;
        campaigns.push(BoardCampaign {
            id: c.id,
            name: c.name,
            status: c.status.as_str().to_string(),
            abandon_cap_pct: c.settings.abandon_cap_pct,
            abandon_rate_pct: (t.abandon_rate_pct() * 100.0).round() / 100.0,
            today: t,
        });
    }
    let waiting: Vec<i64> = open
        .iter()
        .filter(|c| c.direction == "inbound" && c.connected_at.is_none())
        .map(|c| c.placed_at)
        .collect();
    let oldest = waiting.iter().copied().min();
    let inbound_today = CallFilter {
        direction: Some("inbound".into()),
        from_ms: Some(today),
        ..Default::default()
    };
    let queue = BoardQueue {
        name: "Inbound".into(),
        waiting: waiting.len() as i64,
        longest_waiting_since: oldest,
        longest_wait_seconds: oldest.map_or(0, |t| (app.now_ms() - t).max(0) / 1000),
        today: app.store.tally(client, &inbound_today).await?,
    };
    Ok(Wallboard {
        agents,
        campaigns,
        queues: vec![queue],
    })
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/wallboard",
    params(("client_id" = i64, Path)),
    responses((status = 200, body = Wallboard), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn snapshot(State(app): State<App>, c: ScopedClient) -> Result<Json<Wallboard>, ApiError> {
    c.auth.require_staff()?;
    Ok(Json(load(&app, c.client).await?))
}

/// How often the server looks for changes no desktop event announced (dials ringing out).
const SWEEP: Duration = Duration::from_secs(3);

/// The wallboard as server-sent events: a `wallboard` event with the whole board whenever it
/// changes.
async fn events(
    State(app): State<App>,
    c: StaffClient,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let client = c.client;
    let first = load(&app, client).await?;
    let rx = app.events.subscribe();
    let stopping = app.shutting_down.subscribe();
    let state = (app, rx, stopping, None::<Wallboard>, Some(first));
    let stream = futures::stream::unfold(
        state,
        move |(app, mut rx, mut stopping, last, pending)| async move {
            let mut next = pending;
            while next.is_none() {
                tokio::select! {
                    r = rx.recv() => {
                        if let Err(tokio::sync::broadcast::error::RecvError::Closed) = r {
                            return None;
                        }
                    }
                    // The server is shutting down: end the stream (the browser reconnects elsewhere).
                    _ = stopping.wait_for(|s| *s) => return None,
                    _ = tokio::time::sleep(SWEEP) => {}
                }
                match load(&app, client).await {
                    Ok(b) if Some(&b) != last.as_ref() => next = Some(b),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = ?e, "wallboard refresh failed"),
                }
            }
            let board = next?;
            let ev = Event::default()
                .event("wallboard")
                .json_data(&board)
                .unwrap_or_else(|_| Event::default().comment("unserialisable"));
            Some((Ok(ev), (app, rx, stopping, Some(board), None)))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
