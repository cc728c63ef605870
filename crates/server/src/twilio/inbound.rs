//! The voice webhook (`/twilio/{client_id}/voice`): TwiML for a new call to one of the client's
//! numbers, or for a call an agent's browser places through the client's TwiML App.
//!
//! - voice on: a greeting, then the client's Twilio queue `client-{id}` with hold music and the
//!   caller's position, and the engine is told of the arrival (the first delivery only), which
//!   routes it (DESIGN §2.5): when an agent accepts, the queued call is redirected into the
//!   call's conference (`Carrier::bridge_inbound`) and the agent joins it. After the client's
//!   maximum wait the caller leaves the queue for the voicemail; a caller who hangs up waiting
//!   is a missed call for the engine;
//! - voice off: a polite "cannot take calls" and a voicemail;
//! - a call an agent's browser places from the Voice SDK (`client:agent-{id}` calling `To`):
//!   the agent's manual call, through the same rules as the desktop's call button (may call,
//!   serves the client, voice on, do-not-call, calling window, the caller ID of the client). The
//!   browser's own leg hears whether it was placed and ends; the call then runs as every manual
//!   call does (the contact leg in its conference, the agent's browser rung in when they answer).
//!
//! Each new call is logged and kept as a webhook receipt (shown on the client page). The `step`
//! query parameter selects the follow-up documents Twilio fetches (`wait`, `queue-exit`,
//! `voicemail`).

use super::signature::TwilioWebhook;
use super::webhooks::{accept, bad_payload, Accepted};
use crate::app::App;
use crate::engine::{Arrival, WebhookEffect};
use crate::http::error::ApiError;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use palera_carrier::twilio::signature::webhook_url;
use palera_carrier::twilio::twiml::{self, Enqueue, Method, Play, Record, Say};
use palera_carrier::twilio::webhook::{self, Caller, Params};
use palera_store::clients::Client;
use palera_store::inbound::InboundSettings;

/// Longest voicemail we record.
const VOICEMAIL_SECONDS: u32 = 120;
/// Hold music while queued: the classical track Twilio itself plays by default.
pub const HOLD_MUSIC: &str = "https://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3";

fn xml(doc: twiml::Response) -> Response {
    (
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        doc.to_xml(),
    )
        .into_response()
}

#[tracing::instrument(skip_all, fields(client = %hook.client))]
pub async fn voice(State(app): State<App>, hook: TwilioWebhook) -> Result<Response, ApiError> {
    let client = app.store.client(hook.client).await?;
    let urls = Urls::new(&app, &client);
    let settings = app.store.inbound_settings(client.id).await?;
    let delivery = Delivery {
        app: &app,
        hook: &hook,
        client: &client,
        urls: &urls,
        settings: &settings,
    };
    let doc = match hook.query("step") {
        None => delivery.new_call().await?,
        Some("wait") => wait(&hook, &settings),
        Some("queue-exit") => delivery.queue_exit().await?,
        Some("voicemail") => {
            caller_left(&app, &hook, palera_carrier::LegEnd::Completed).await?;
            goodbye()
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "step",
                "is not a step of the voice webhook",
            ))
        }
    };
    Ok(xml(doc))
}

/// One delivery of the voice webhook, with what its steps read: the client it is for, the URLs
/// of the follow-up documents and the client's inbound settings.
#[derive(Clone, Copy)]
struct Delivery<'a> {
    app: &'a App,
    hook: &'a TwilioWebhook,
    client: &'a Client,
    urls: &'a Urls,
    settings: &'a InboundSettings,
}

/// The URLs of the follow-up documents, on our public base URL.
struct Urls {
    base: String,
}

impl Urls {
    fn new(app: &App, client: &Client) -> Self {
        let public = app.settings.public_url.as_deref().unwrap_or_default();
        Self {
            base: webhook_url(public, &format!("/twilio/{}", client.id)),
        }
    }
    fn voice(&self, step: &str) -> String {
        format!("{}/voice?step={step}", self.base)
    }
    fn voicemail_recording(&self) -> String {
        format!("{}/recording", self.base)
    }
}

impl Delivery<'_> {
    /// The first document of a call: a call from an agent's browser is placed as their manual
    /// call; a caller on the phone is queued (voice on) or sent to the voicemail (voice off).
    async fn new_call(self) -> Result<twiml::Response, ApiError> {
        let call = webhook::incoming_call(Params(&self.hook.params)).map_err(bad_payload)?;
        let from = match &call.from {
            Caller::Client(identity) => {
                return browser_call(self.app, self.hook, self.client, identity, &call).await
            }
            Caller::Phone(from) => from,
        };
        let (summary, doc) = if self.client.voice_enabled {
            (
                format!("inbound call from {from} to {} queued", call.to),
                queue(self.client, self.urls, self.settings),
            )
        } else {
            (
                format!(
                    "inbound call from {from} to {} sent to voicemail (voice off)",
                    call.to
                ),
                voicemail(
                    &format!("Sorry, {} cannot take calls right now.", self.client.name),
                    self.urls,
                    self.settings,
                ),
            )
        };
        // A retried voice webhook gets the same document again; only the first is recorded, and
        // only the first reaches the engine (as an inbound arrival to route), through the outbox:
        // the arrival is kept with the receipt, so a process that stops before routing it replays
        // it at start.
        let arrival = match palera_core::phone::PhoneNumber::parse_e164(from) {
            Ok(from) if self.client.voice_enabled => Some(Arrival {
                client: self.client.id,
                from,
                sid: Some(call.sid.clone()),
                patience_seconds: 0.0,
                talk_seconds: 0.0,
            }),
            Ok(_) => None,
            // Withheld numbers wait in the queue and reach the voicemail; no agent is offered a call
            // without a number to put on its card (noticed, not built).
            Err(e) => {
                tracing::info!(from = %from, error = %e, "inbound caller without a usable number stays queued");
                None
            }
        };
        let event = arrival.map(|inbound| WebhookEffect::Inbound { inbound });
        accept_voice(self.app, self.hook, &call, summary, event).await?;
        Ok(doc)
    }
}

/// Records a delivery of the voice webhook of `call` (keyed by the call's SID, so a retry is
/// known as one) with its summary and what the engine is to do. `true` when first.
async fn accept_voice(
    app: &App,
    hook: &TwilioWebhook,
    call: &webhook::IncomingCall,
    summary: String,
    event: Option<WebhookEffect>,
) -> Result<bool, ApiError> {
    let accepted = Accepted {
        kind: "voice",
        key: format!("voice:{}", call.sid.0),
        call_sid: Some(&call.sid.0),
        call_id: None,
        summary,
        event,
    };
    accept(app, hook, accepted).await
}

/// A call placed from an agent's browser through the client's TwiML App: placed as the agent's
/// manual call on the first delivery of the webhook (a retry is only told it is under way).
async fn browser_call(
    app: &App,
    hook: &TwilioWebhook,
    client: &Client,
    identity: &str,
    call: &webhook::IncomingCall,
) -> Result<twiml::Response, ApiError> {
    let summary = format!("browser call from {identity} to {}", call.to);
    let first = accept_voice(app, hook, call, summary, None).await?;
    let said = if !first {
        "Your call is being placed.".to_owned()
    } else {
        match place_browser_call(app, client, identity, &call.to).await {
            Ok(placed) => {
                tracing::info!(call = %placed.call_id, %identity, "browser call placed as a manual call");
                format!(
                    "Calling {}. Your browser rings when they answer.",
                    placed.phone
                )
            }
            Err(e) => {
                tracing::info!(%identity, to = %call.to, error = %e.message, "browser call refused");
                let reason = match &e.field {
                    Some(f) => e
                        .message
                        .strip_prefix(&format!("{f}: "))
                        .unwrap_or(&e.message),
                    None => &e.message,
                };
                format!("The call was not placed: {reason}.")
            }
        }
    };
    Ok(twiml::Response::new().say(Say::new(&said)).hangup())
}

/// The agent behind a browser identity (`agent-{id}`), who must serve the client, places the
/// call as a manual call.
async fn place_browser_call(
    app: &App,
    client: &Client,
    identity: &str,
    to: &str,
) -> Result<crate::desk::api::ManualCallPlaced, ApiError> {
    let not_agent = || ApiError::invalid("From", "this browser is not an agent's softphone");
    let id = identity
        .strip_prefix("agent-")
        .and_then(|n| n.parse::<i64>().ok())
        .ok_or_else(not_agent)?;
    let me = app
        .store
        .user(palera_core::ids::UserId(id))
        .await
        .map_err(|_| not_agent())?;
    if me.role != palera_core::user::Role::Admin && !me.clients.contains(&client.id) {
        return Err(ApiError::invalid("From", "you do not work for this client"));
    }
    crate::desk::api::place_manual_call(app, &me, client.id, to).await
}

/// The engine is told a queued caller's line ended (hung up waiting, or after the voicemail).
async fn caller_left(
    app: &App,
    hook: &TwilioWebhook,
    end: palera_carrier::LegEnd,
) -> Result<(), ApiError> {
    let Some(sid) = Params(&hook.params).get("CallSid") else {
        return Ok(());
    };
    let Some(call) = app.store.call_by_sid(hook.client, sid).await? else {
        return Ok(());
    };
    let event = palera_carrier::CarrierEvent::Ended {
        call_id: call.id.0,
        sid: palera_carrier::CallSid(sid.to_string()),
        end,
        duration_seconds: 0,
    };
    let status = match end {
        palera_carrier::LegEnd::Completed => "voicemail",
        _ => "hangup",
    };
    accept(
        app,
        hook,
        Accepted {
            kind: "queue",
            key: format!("queue-exit:{sid}:{status}"),
            call_sid: Some(sid),
            call_id: Some(call.id.0),
            summary: format!("inbound caller {sid} left the queue ({status})"),
            event: Some(event.into()),
        },
    )
    .await?;
    Ok(())
}

/// The queue name of a client's inbound callers.
pub fn queue_name(client: &Client) -> String {
    format!("client-{}", client.id)
}

fn queue(client: &Client, urls: &Urls, settings: &InboundSettings) -> twiml::Response {
    let greeting = match settings.greeting.trim() {
        "" => format!(
            "Thank you for calling {}. Please hold for the next available agent.",
            client.name
        ),
        g => g.to_string(),
    };
    twiml::Response::new().say(Say::new(greeting)).enqueue(
        Enqueue::new(queue_name(client))
            .wait_url(urls.voice("wait"), Method::Post)
            .action(urls.voice("queue-exit"), Method::Post),
    )
}

/// The wait document Twilio loops while the caller is queued: the position (when the client
/// announces it), the client's hold music, and after the client's maximum wait, out of the queue.
fn wait(hook: &TwilioWebhook, settings: &InboundSettings) -> twiml::Response {
    let p = Params(&hook.params);
    let waited: u32 = p.get("QueueTime").and_then(|v| v.parse().ok()).unwrap_or(0);
    if waited >= settings.max_wait_seconds {
        return twiml::Response::new().leave();
    }
    let mut doc = twiml::Response::new();
    if let Some(pos) = p
        .get("QueuePosition")
        .filter(|_| settings.announce_position)
    {
        doc = doc.say(Say::new(format!("You are number {pos} in line.")));
    }
    doc.play(Play::new(
        settings.hold_music_url.as_deref().unwrap_or(HOLD_MUSIC),
    ))
}

impl Delivery<'_> {
    /// After the queue: a caller taken to an agent (redirected into the call's conference) needs
    /// nothing here; a caller who hung up is a missed call for the engine; anyone else (the
    /// maximum wait) may leave a voicemail.
    async fn queue_exit(self) -> Result<twiml::Response, ApiError> {
        Ok(match Params(&self.hook.params).get("QueueResult") {
            Some("redirected") => twiml::Response::new(),
            Some("hangup") => {
                caller_left(self.app, self.hook, palera_carrier::LegEnd::Canceled).await?;
                twiml::Response::new().hangup()
            }
            Some("bridged") => twiml::Response::new().hangup(),
            // The maximum wait with voicemail off: the call ends, a missed call for the engine.
            _ if !self.settings.voicemail => {
                caller_left(self.app, self.hook, palera_carrier::LegEnd::Canceled).await?;
                twiml::Response::new()
                    .say(Say::new(format!(
                        "Sorry, nobody at {} can take your call right now. Please call again later. Goodbye.",
                        self.client.name
                    )))
                    .hangup()
            }
            _ => voicemail(
                &format!(
                    "Sorry, nobody at {} can take your call right now.",
                    self.client.name
                ),
                self.urls,
                self.settings,
            ),
        })
    }
}

fn voicemail(apology: &str, urls: &Urls, settings: &InboundSettings) -> twiml::Response {
    let prompt = match settings.voicemail_prompt.trim() {
        "" => format!(
            "{apology} Please leave a message after the tone, and press the pound key when you are done."
        ),
        p => p.to_string(),
    };
    twiml::Response::new()
        .say(Say::new(prompt))
        .record(
            Record::new()
                .max_length(VOICEMAIL_SECONDS)
                .play_beep(true)
                .finish_on_key("#")
                // Without an action Twilio would fetch this document again and loop.
                .action(urls.voice("voicemail"), Method::Post)
                .recording_status_callback(urls.voicemail_recording()),
        )
        .say(Say::new("We did not get a message. Goodbye."))
        .hangup()
}

fn goodbye() -> twiml::Response {
    twiml::Response::new()
        .say(Say::new("Thank you. Goodbye."))
        .hangup()
}
