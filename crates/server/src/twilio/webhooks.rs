//! The Twilio webhook handlers (DESIGN §4): `/twilio/{client_id}/{voice,status,amd,conference,
//! recording,transcription}`. Each runs behind [`TwilioWebhook`] (signature checked), parses the
//! payload with the carrier crate's parsers, records a receipt keyed by a stable event key
//! (insert-if-absent: Twilio retries, and a repeat must change nothing) together with its
//! [`CarrierEvent`], and only for a first delivery hands the event to the engine, which marks it
//! applied; what a stopped process never applied is replayed when the engine starts. Handlers do one or two
//! small queries and answer at once; the engine does the work off the request path.

use super::inbound;
use super::signature::TwilioWebhook;
use crate::app::App;
use crate::http::error::ApiError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use palera_carrier::parse_agent_identity;
use palera_carrier::twilio::webhook::{self, ConferenceUpdate, Params, WebhookError, AGENT_LABEL};
use palera_store::twilio::NewReceipt;
use sha2::{Digest, Sha256};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/twilio/{client_id}/voice", post(inbound::voice))
        .route("/twilio/{client_id}/status", post(status))
        .route("/twilio/{client_id}/amd", post(amd))
        .route("/twilio/{client_id}/conference", post(conference))
        .route("/twilio/{client_id}/recording", post(recording))
        .route("/twilio/{client_id}/transcription", post(transcription))
}

/// A payload that is signed but not what Twilio sends: 422 naming the parameter.
pub fn bad_payload(e: WebhookError) -> ApiError {
    match e {
        WebhookError::Missing(field) => ApiError::invalid(field, "missing"),
        WebhookError::Invalid { field, value } => {
            ApiError::invalid(field, format!("unexpected value {value:?}"))
        }
    }
}

/// What one webhook delivery amounts to, before the receipt decides whether it is new.
pub struct Accepted<'a> {
    pub kind: &'static str,
    pub key: String,
    pub call_sid: Option<&'a str>,
    pub call_id: Option<i64>,
    pub summary: String,
    pub event: Option<crate::engine::WebhookEffect>,
}

/// Records the receipt with its event (one insert: the outbox) and, for a first delivery, hands
/// the event to the engine, which marks it applied once handled. `true` when first.
pub async fn accept(app: &App, hook: &TwilioWebhook, a: Accepted<'_>) -> Result<bool, ApiError> {
    let event_json = match &a.event {
        Some(e) => Some(serde_json::to_string(e).map_err(|e| ApiError::internal(&e))?),
        None => None,
    };
    let first = app
        .store
        .record_webhook(&NewReceipt {
            client: hook.client,
            event_key: &a.key,
            kind: a.kind,
            call_sid: a.call_sid,
            call_id: a.call_id,
            summary: &a.summary,
            received_at: app.now_ms(),
            event: event_json.as_deref(),
        })
        .await?;
    if !first {
        tracing::debug!(client = %hook.client, key = %a.key, "repeated Twilio webhook ignored");
        return Ok(false);
    }
    tracing::info!(client = %hook.client, kind = a.kind, call_id = a.call_id, summary = %a.summary, "Twilio webhook");
    if let Some(event) = a.event {
        app.engine.send(crate::engine::Request::Webhook {
            client: hook.client,
            event_key: a.key,
            event,
        });
    }
    Ok(true)
}

/// Receipts are kept this long: far past Twilio's retries (minutes), long enough for staff to
/// look at a week's webhooks on the client page.
pub const RECEIPTS_KEPT_MS: i64 = 7 * 24 * 3_600_000;

/// Deletes old webhook receipts every hour until `stop` flips.
pub async fn prune_loop(app: App, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {
                match app.store.prune_webhooks(app.now_ms() - RECEIPTS_KEPT_MS).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(pruned = n, "old webhook receipts deleted"),
                    Err(e) => tracing::error!(error = %e, "pruning webhook receipts failed"),
                }
            }
            _ = stop.changed() => break,
        }
    }
}

fn done() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Call status callbacks: contact legs (`?call_id=N`), agent legs (`&leg=agent`), and inbound
/// calls' status (no `call_id`: the call is found by its SID and the event forwarded; an
/// unknown SID is recorded only).
#[tracing::instrument(skip_all, fields(client = %hook.client))]
async fn status(State(app): State<App>, hook: TwilioWebhook) -> Result<Response, ApiError> {
    let p = Params(&hook.params);
    let sid = p.get("CallSid").unwrap_or_default();
    let agent_leg = hook.query("leg") == Some("agent");
    // An inbound call's status names only its SID (the number's status callback).
    let leg_sid = (!agent_leg && !sid.is_empty()).then_some(sid);
    let call_id = match hook.owned_call_id(&app, leg_sid).await? {
        Some(id) => Some(id),
        None if !agent_leg && !sid.is_empty() => app
            .store
            .call_by_sid(hook.client, sid)
            .await?
            .map(|c| c.id.0),
        None => None,
    };
    // Parse first: a payload we cannot read is refused before anything is stored.
    let event = webhook::call_status(call_id.unwrap_or(0), p).map_err(bad_payload)?;
    let status = p.get("CallStatus").unwrap_or_default();
    let (event, summary) = match (agent_leg, call_id) {
        (true, Some(id)) => {
            remember_agent(&app, &hook, sid, id).await?;
            (None, format!("agent leg {sid} {status}"))
        }
        (false, Some(_)) => (event, format!("call {sid} {status}")),
        (_, None) => (None, format!("inbound call {sid} {status}")),
    };
    let leg = if agent_leg { "agent" } else { "contact" };
    accept(
        &app,
        &hook,
        Accepted {
            kind: "status",
            key: format!("status:{sid}:{leg}:{status}"),
            call_sid: Some(sid),
            call_id,
            summary,
            event: event.map(Into::into),
        },
    )
    .await?;
    Ok(done())
}

/// An agent leg's status callback names the agent in `To` (`client:agent-N`); conference
/// events later only name the leg's call SID, so the pair is stored.
async fn remember_agent(
    app: &App,
    hook: &TwilioWebhook,
    sid: &str,
    call_id: i64,
) -> Result<(), ApiError> {
    let p = Params(&hook.params);
    let agent = p
        .get("To")
        .and_then(|to| to.strip_prefix("client:"))
        .and_then(parse_agent_identity);
    if let Some(agent) = agent {
        app.store
            .remember_agent_leg(hook.client, sid, call_id, agent, app.now_ms())
            .await?;
    }
    Ok(())
}

/// The asynchronous answering-machine verdict.
#[tracing::instrument(skip_all, fields(client = %hook.client))]
async fn amd(State(app): State<App>, hook: TwilioWebhook) -> Result<Response, ApiError> {
    let p = Params(&hook.params);
    let call_id = hook
        .require_owned_call_id(&app, p.get("CallSid").filter(|s| !s.is_empty()))
        .await?;
    let event = webhook::amd_result(call_id, p).map_err(bad_payload)?;
    let sid = p.get("CallSid").unwrap_or_default();
    let verdict = p.get("AnsweredBy").unwrap_or_default();
    accept(
        &app,
        &hook,
        Accepted {
            kind: "amd",
            key: format!("amd:{sid}:{verdict}"),
            call_sid: Some(sid),
            call_id: Some(call_id),
            summary: format!("call {sid} answered by {verdict}"),
            event: Some(event.into()),
        },
    )
    .await?;
    Ok(done())
}

/// Conference and participant events. Only the agent's join is an engine event
/// ([`CarrierEvent::AgentConnected`]); the rest is recorded for people to see.
#[tracing::instrument(skip_all, fields(client = %hook.client))]
async fn conference(State(app): State<App>, hook: TwilioWebhook) -> Result<Response, ApiError> {
    let call_id = hook.require_owned_call_id(&app, None).await?;
    let p = Params(&hook.params);
    let cb = webhook::conference(p).map_err(bad_payload)?;
    let what = p.get("StatusCallbackEvent").unwrap_or_default();
    let sid = cb.call_sid.as_ref().map(|s| s.0.as_str());
    let key = match cb.sequence_number {
        Some(n) => format!("conference:{}:{n}", cb.conference_sid),
        None => format!(
            "conference:{}:{what}:{}",
            cb.conference_sid,
            sid.unwrap_or("-")
        ),
    };
    let agent_joined =
        cb.label.as_deref() == Some(AGENT_LABEL) && cb.update == ConferenceUpdate::Joined;
    let event = match sid {
        Some(leg) if agent_joined => agent_of(&app, &hook, leg)
            .await?
            .and_then(|agent| cb.agent_connected(call_id, agent)),
        _ => None,
    };
    let label = cb.label.as_deref().unwrap_or("-");
    accept(
        &app,
        &hook,
        Accepted {
            kind: "conference",
            key,
            call_sid: sid,
            call_id: Some(call_id),
            summary: format!("conference {} {what} ({label})", cb.conference_sid),
            event: event.map(Into::into),
        },
    )
    .await?;
    Ok(done())
}

/// The agent of an agent-leg call: remembered from its status callbacks, else asked of Twilio
/// (the join can overtake the leg's first status callback).
async fn agent_of(app: &App, hook: &TwilioWebhook, leg: &str) -> Result<Option<i64>, ApiError> {
    if let Some(agent) = app.store.agent_of_leg(hook.client, leg).await? {
        return Ok(Some(agent));
    }
    let fetched = match app.carriers.build_twilio(&app.store, hook.client).await {
        Ok(carrier) => carrier
            .rest()
            .fetch_call(&palera_carrier::CallSid(leg.to_owned()))
            .await
            .ok(),
        Err(_) => None,
    };
    let agent = fetched
        .and_then(|call| call.to)
        .and_then(|to| to.strip_prefix("client:").and_then(parse_agent_identity));
    if agent.is_none() {
        tracing::warn!(client = %hook.client, leg, "agent joined but the agent leg is unknown");
    }
    Ok(agent)
}

/// Recording status: a completed recording is ready to fetch. Inbound voicemails (no
/// `call_id`) are recorded only.
#[tracing::instrument(skip_all, fields(client = %hook.client))]
async fn recording(State(app): State<App>, hook: TwilioWebhook) -> Result<Response, ApiError> {
    let call_id = hook.owned_call_id(&app, None).await?;
    let p = Params(&hook.params);
    let event = webhook::recording_status(call_id.unwrap_or(0), p).map_err(bad_payload)?;
    let rec = p
        .get("RecordingSid")
        .ok_or_else(|| ApiError::invalid("RecordingSid", "missing"))?;
    let status = p.get("RecordingStatus").unwrap_or_default();
    let what = if call_id.is_some() {
        "recording"
    } else {
        "inbound voicemail"
    };
    accept(
        &app,
        &hook,
        Accepted {
            kind: "recording",
            key: format!("recording:{rec}:{status}"),
            call_sid: p.get("CallSid"),
            call_id,
            summary: format!("{what} {rec} {status}"),
            event: event.filter(|_| call_id.is_some()).map(Into::into),
        },
    )
    .await?;
    Ok(done())
}

/// Real-time transcription events; only `transcription-content` carries a transcript line.
#[tracing::instrument(skip_all, fields(client = %hook.client))]
async fn transcription(State(app): State<App>, hook: TwilioWebhook) -> Result<Response, ApiError> {
    let call_id = hook.require_owned_call_id(&app, None).await?;
    let p = Params(&hook.params);
    let event = webhook::transcription(call_id, p).map_err(bad_payload)?;
    let what = p.get("TranscriptionEvent").unwrap_or_default();
    let key = match (p.get("TranscriptionSid"), p.get("SequenceId")) {
        (Some(t), Some(n)) => format!("transcription:{t}:{n}"),
        _ => format!("transcription:h:{}", params_digest(&hook.params)),
    };
    accept(
        &app,
        &hook,
        Accepted {
            kind: "transcription",
            key,
            call_sid: p.get("CallSid"),
            call_id: Some(call_id),
            summary: format!("transcription {what}"),
            event: event.map(Into::into),
        },
    )
    .await?;
    Ok(done())
}

/// A digest of the sorted parameters: the same delivery retried gives the same key.
fn params_digest(params: &[(String, String)]) -> String {
    let mut sorted: Vec<_> = params.iter().collect();
    sorted.sort();
    let mut h = Sha256::new();
    for (k, v) in sorted {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}
