//! The agent desktop's live channel: a WebSocket per open desktop that carries voice-state changes
//! both ways and heartbeats from the page. A presence loop sets an agent offline when their
//! desktops stop sending heartbeats for the configured timeout (closed tab, lost network).

use crate::app::App;
use crate::engine::ContactSummary;
use crate::http::auth::Auth;
use crate::http::error::ApiError;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use palera_core::ids::{CallId, ClientId, ContactId, UserId};
use palera_core::user::VoiceState;
use palera_store::campaigns::StoredDisposition;
use palera_store::users::User;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Something a user's open desktops should know.
#[derive(Debug, Clone, Serialize)]
pub struct DesktopEvent {
    #[serde(skip)]
    pub user: UserId,
    #[serde(flatten)]
    pub body: DesktopMessage,
    /// Published by another node and relayed here by the bus ([`crate::bus`]): sent to this
    /// node's desktops, never sent on to the other nodes again.
    #[serde(skip)]
    pub relayed: bool,
}

impl DesktopEvent {
    /// An event published on this node (the bus tells the other nodes on PostgreSQL).
    pub fn new(user: UserId, body: DesktopMessage) -> Self {
        Self {
            user,
            body,
            relayed: false,
        }
    }
}

/// Messages from the server to a desktop. They read back from their JSON too: that is how they
/// cross nodes ([`crate::bus`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DesktopMessage {
    State {
        state: VoiceState,
        #[serde(deserialize_with = "voice_state_label")]
        label: StateLabel,
        since: i64,
    },
    Error {
        field: Option<String>,
        message: String,
    },
    /// A campaign call for this agent: a contact to preview (`preview`, no call yet) or a call
    /// being dialled for them.
    CallOffered {
        call_id: Option<CallId>,
        preview: bool,
        contact: ContactSummary,
    },
    /// The contact answered and is bridged to the agent; `contact` names them for campaign calls
    /// (a predictive call reaches the agent only now, with no offer before it).
    CallConnected {
        call_id: CallId,
        contact: Option<ContactSummary>,
    },
    /// The call ended: the agent is in wrap-up until a disposition is saved.
    CallEnded {
        call_id: CallId,
        wrap_up_seconds: u32,
        dispositions: Vec<StoredDisposition>,
    },
    /// The contact was put on hold (`on_hold`) or taken off hold.
    CallHold { call_id: CallId, on_hold: bool },
    /// What the contact of a call the agent was released from hears (voicemail drop): the
    /// message playing, then the end of the call. The softphone panel shows it.
    CallAudio { call_id: CallId, audio: CallAudio },
    /// Nothing is offered any more (disposition saved, machine answered, preview withdrawn).
    CallCleared { call_id: Option<CallId> },
    /// A manual call the agent placed outside campaigns is being dialled.
    ManualCall {
        call_id: CallId,
        client_id: ClientId,
        contact_id: ContactId,
        name: String,
        phone: String,
    },
    /// An inbound call rings at this agent's desktop: who calls (the card), until when.
    InboundOffer {
        call_id: CallId,
        client_id: ClientId,
        contact_id: ContactId,
        name: String,
        phone: String,
        list: Option<String>,
        /// The caller's last calls: (when, agent, disposition, notes).
        last_calls: Vec<InboundPastCall>,
        ring_timeout_seconds: u32,
        /// This agent spoke to the caller last (affinity).
        affinity: bool,
    },
    /// The offer is no longer this agent's (declined, rang out, taken, or the caller hung up).
    InboundWithdrawn { call_id: CallId, reason: String },
    /// The agent took an inbound call: it is theirs now (the call panel shows it).
    InboundCall {
        call_id: CallId,
        client_id: ClientId,
        contact_id: ContactId,
        name: String,
        phone: String,
    },
    /// A call's notes were saved (by this tab, another tab, or a supervisor).
    NotesSaved {
        call_id: CallId,
        version: i64,
        text: String,
    },
    /// A line of the live transcript of a call this user takes or watches, in order.
    TranscriptLine {
        call_id: CallId,
        line: palera_core::recording::TranscriptLine,
    },
    /// The recording of the agent's call was paused (`paused`) or resumed.
    RecordingPaused { call_id: CallId, paused: bool },
}

/// One earlier call of an inbound caller, as the offer shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InboundPastCall {
    pub at: i64,
    pub agent: Option<String>,
    pub disposition: Option<String>,
    pub notes: String,
}

/// The audio of a call after the agent left it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CallAudio {
    /// The campaign's voicemail message plays to the contact.
    MessagePlaying,
    /// The call is over.
    Ended,
}

/// A voice state's label. Named so serde does not take the field for text borrowed from the
/// input: it is read back by [`voice_state_label`].
type StateLabel = &'static str;

/// A voice state's label read back: one of the labels the server gives (they are `'static`).
fn voice_state_label<'de, D: serde::Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let text = String::deserialize(d)?;
    [VoiceState::Ready, VoiceState::Standby, VoiceState::Offline]
        .into_iter()
        .map(VoiceState::label)
        .find(|l| *l == text)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown voice state label {text:?}")))
}

/// Messages from a desktop to the server.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum FromDesktop {
    Heartbeat,
    SetState { state: String },
}

#[derive(Debug)]
struct Seen {
    connections: u32,
    last_seen: Instant,
}

/// Which agents have a live desktop, and when each last sent a heartbeat.
#[derive(Default)]
pub struct Presence {
    seen: Mutex<HashMap<UserId, Seen>>,
}

impl Presence {
    fn connect(&self, user: UserId) {
        let mut m = self.seen.lock().expect("presence lock");
        let e = m.entry(user).or_insert(Seen {
            connections: 0,
            last_seen: Instant::now(),
        });
        e.connections += 1;
        e.last_seen = Instant::now();
    }
    fn disconnect(&self, user: UserId) {
        if let Some(e) = self.seen.lock().expect("presence lock").get_mut(&user) {
            e.connections = e.connections.saturating_sub(1);
        }
    }
    fn beat(&self, user: UserId) {
        if let Some(e) = self.seen.lock().expect("presence lock").get_mut(&user) {
            e.last_seen = Instant::now();
        }
    }
    /// Whether `user` was heard from within `timeout`; first sightings start the clock.
    fn alive(&self, user: UserId, timeout: Duration, now: Instant) -> bool {
        let mut m = self.seen.lock().expect("presence lock");
        let e = m.entry(user).or_insert(Seen {
            connections: 0,
            last_seen: now,
        });
        now.duration_since(e.last_seen) < timeout
    }
    /// Whether `user` was heard from within `timeout` (a user never seen counts as active: the
    /// presence loop starts their clock).
    pub fn active_within(&self, user: UserId, timeout: Duration) -> bool {
        self.seen
            .lock()
            .expect("presence lock")
            .get(&user)
            .is_none_or(|e| e.last_seen.elapsed() < timeout)
    }

    /// When `user`'s desktop was last heard from (`None`: never seen by this node).
    pub fn last_seen(&self, user: UserId) -> Option<Instant> {
        self.seen
            .lock()
            .expect("presence lock")
            .get(&user)
            .map(|e| e.last_seen)
    }

    /// Number of open desktops of `user`.
    pub fn connections(&self, user: UserId) -> u32 {
        self.seen
            .lock()
            .expect("presence lock")
            .get(&user)
            .map_or(0, |e| e.connections)
    }
}

/// Changes a user's voice state, stores it with its source, and tells their desktops.
pub async fn change_voice_state(
    app: &App,
    user: &User,
    state: VoiceState,
    source: &str,
) -> Result<User, crate::engine::EngineError> {
    if state == VoiceState::Ready && !user.voice_enabled {
        return Err(crate::engine::EngineError::invalid(
            "state",
            "voice is not enabled for this user; an admin can enable it",
        ));
    }
    let changed = app
        .store
        .set_voice_state(user.id, state, source, app.now_ms())
        .await?;
    let user = app.store.user(user.id).await?;
    if changed {
        tracing::info!(user = %user.id, state = state.as_str(), source, "voice state changed");
        let _ = app
            .events
            .send(DesktopEvent::new(user.id, state_message(&user)));
    }
    Ok(user)
}

fn state_message(user: &User) -> DesktopMessage {
    DesktopMessage::State {
        state: user.voice_state,
        label: user.voice_state.label(),
        since: user.voice_state_since,
    }
}

pub fn routes() -> Router<App> {
    Router::new().route("/ws/desktop", get(upgrade))
}

async fn upgrade(State(app): State<App>, auth: Auth, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| session(app, auth.user.id, socket))
}

async fn session(app: App, user_id: UserId, mut socket: WebSocket) {
    let mut events = app.events.subscribe();
    app.presence.connect(user_id);
    app.metrics.desktop_connections.inc();
    let _ = catch_up(&app, user_id, &mut socket).await;
    loop {
        tokio::select! {
            msg = socket.recv() => {
                let Some(Ok(msg)) = msg else { break };
                app.presence.beat(user_id);
                if let Message::Text(text) = msg {
                    if let Some(reply) = handle(&app, user_id, text.as_str()).await {
                        if send(&mut socket, &reply).await.is_err() { break; }
                    }
                }
            }
            ev = events.recv() => match ev {
                Ok(ev) if ev.user == user_id => {
                    if send(&mut socket, &ev.body).await.is_err() { break; }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    // Missed events: resend the state and the call in progress, as at connect,
                    // so the page is right again.
                    tracing::warn!(user = %user_id, missed, "a desktop fell behind its events; resynchronised");
                    if catch_up(&app, user_id, &mut socket).await.is_err() { break; }
                }
                Err(_) => break,
            },
        }
    }
    app.presence.disconnect(user_id);
    app.metrics.desktop_connections.dec();
}

/// Sends the agent's voice state and call in progress (at connect, and after missed events).
async fn catch_up(app: &App, user_id: UserId, socket: &mut WebSocket) -> Result<(), axum::Error> {
    if let Ok(u) = app.store.user(user_id).await {
        send(socket, &state_message(&u)).await?;
    }
    for msg in current_call(app, user_id).await {
        send(socket, &msg).await?;
    }
    Ok(())
}

/// The agent's call in progress, from the engine (nothing if it does not answer promptly).
async fn current_call(app: &App, agent: UserId) -> Vec<DesktopMessage> {
    let asked = app
        .engine
        .ask(|reply| crate::engine::Request::CurrentCall { agent, reply });
    match tokio::time::timeout(Duration::from_secs(2), asked).await {
        Ok(Ok(msgs)) => msgs,
        _ => Vec::new(),
    }
}

async fn send(socket: &mut WebSocket, msg: &DesktopMessage) -> Result<(), axum::Error> {
    let text = serde_json::to_string(msg).expect("desktop messages serialize");
    socket.send(Message::Text(text.into())).await
}

async fn handle(app: &App, user_id: UserId, text: &str) -> Option<DesktopMessage> {
    let msg: FromDesktop = match serde_json::from_str(text) {
        Ok(m) => m,
        Err(e) => {
            return Some(DesktopMessage::Error {
                field: None,
                message: format!("unreadable message: {e}"),
            })
        }
    };
    match msg {
        FromDesktop::Heartbeat => None,
        FromDesktop::SetState { state } => {
            let state: VoiceState = match state.parse() {
                Ok(s) => s,
                Err(reason) => {
                    return Some(DesktopMessage::Error {
                        field: Some("state".into()),
                        message: reason,
                    })
                }
            };
            let user = app.store.user(user_id).await.ok()?;
            match change_voice_state(app, &user, state, "desktop").await {
                Ok(_) => None, // the broadcast carries the new state to every tab
                Err(e) => {
                    let e = ApiError::from(e);
                    Some(DesktopMessage::Error {
                        field: e.field,
                        message: e.message,
                    })
                }
            }
        }
    }
}

/// Every tick, sets offline the agents who are not offline and whose desktops went silent.
pub async fn presence_loop(app: App, mut stop: watch::Receiver<bool>) {
    let timeout = Duration::from_secs(app.settings.heartbeat_timeout_seconds.max(1));
    let mut tick = tokio::time::interval(
        (timeout / 4).clamp(Duration::from_millis(250), Duration::from_secs(5)),
    );
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = sweep(&app, timeout).await {
                    tracing::error!(error = %e.message, "presence sweep failed");
                }
            }
            _ = stop.changed() => break,
        }
    }
}

async fn sweep(app: &App, timeout: Duration) -> Result<(), ApiError> {
    let now = Instant::now();
    for user in app.store.users(None).await? {
        if user.voice_state != VoiceState::Offline && !app.presence.alive(user.id, timeout, now) {
            change_voice_state(app, &user, VoiceState::Offline, "heartbeat_timeout").await?;
            app.metrics.agents_timed_out.inc();
        }
    }
    Ok(())
}
