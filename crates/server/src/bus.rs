//! The nodes' event bus (DESIGN §3, "Multi-node"): on PostgreSQL, events cross nodes with
//! LISTEN/NOTIFY on one channel; SQLite is single-node and has no bus (`App::bus`
//! is `None`, nothing below runs). Every message names the node that sent it, and a node ignores
//! its own. Two kinds cross:
//!
//! - Desktop messages: every event published on this node's `app.events` (the engine's, voice
//!   states, notes, transcript lines) is sent to the other nodes, which publish it to their own
//!   desktops marked [`DesktopEvent::relayed`] — a relayed event is never sent on again, so
//!   nothing loops. Relayed events reach this node's engine too, on purpose: another node's
//!   agent going Ready or Standby is a `State` message, and the engine reads users again at once
//!   (the store is told users changed elsewhere first) instead of waiting for its periodic
//!   re-read. That read is all the engine does with it, and a read is idempotent: nothing is
//!   applied twice.
//! - Webhooks for a call another node runs: the receiving engine does not apply the event nor
//!   mark the receipt; it sends only the receipt's key, the owner reads the event from the
//!   receipt, applies it and marks it. A node that does not own the call either ignores it (it
//!   is never forwarded twice), and after [`UNCLAIMED_AFTER`] the node that received it applies
//!   it itself if the receipt is still unapplied, as a single node does with an event for a call
//!   it does not know (nobody owned it, or the message was missed while a session was lost).
//!
//! A notification holds fewer than 8,000 bytes. Webhooks send keys, always small; a desktop
//! message too big for one (long notes, an inbound offer with a long history) is sent in parts
//! in one transaction — delivered together, in order — and put together again by the receivers.

use crate::app::App;
use crate::desk::ws::{DesktopEvent, DesktopMessage};
use crate::engine::{Request, WebhookEffect};
use palera_core::ids::{ClientId, UserId};
use palera_store::bus::{BusListener, Heard, PAYLOAD_MAX};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, watch};

/// The one channel every node listens on.
pub const CHANNEL: &str = "palera_events";
/// A forwarded webhook still unapplied this long after is applied by the node that received it.
pub const UNCLAIMED_AFTER: Duration = Duration::from_secs(5);
/// The bytes of a big message's text carried by one part: its JSON escaping at most doubles it,
/// leaving room for the envelope under [`PAYLOAD_MAX`].
const PART_BYTES: usize = 3_500;
/// Parts of a message still incomplete after this long are dropped (a part was missed).
const PARTS_KEPT: Duration = Duration::from_secs(30);
/// Pause before listening again after the listening session failed.
const RELISTEN_PAUSE: Duration = Duration::from_secs(1);
/// The most messages sent in one statement.
const MAX_BATCH: usize = 500;

/// This node's end of the bus.
pub struct Bus {
    node: String,
    seq: AtomicU64,
    out: mpsc::UnboundedSender<What>,
    out_rx: Mutex<Option<mpsc::UnboundedReceiver<What>>>,
    /// The listening session is up: the other nodes' messages are heard here, and a webhook
    /// forwarded now can be claimed. While it is down a node applies its webhooks itself.
    listening: AtomicBool,
}

/// One message on the channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Envelope {
    node: String,
    /// Numbers this node's messages: PostgreSQL folds identical payloads sent in one
    /// transaction into one, and the number keeps them apart (and names a big message's parts).
    seq: u64,
    #[serde(flatten)]
    what: What,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum What {
    Desktop {
        user: UserId,
        body: DesktopMessage,
    },
    Webhook {
        client: ClientId,
        key: String,
    },
    /// Part `index` of `count` of an envelope too big for one notification.
    Part {
        index: usize,
        count: usize,
        text: String,
    },
}

impl Bus {
    pub fn new(node: &str) -> Self {
        let (out, out_rx) = mpsc::unbounded_channel();
        Self {
            node: node.to_owned(),
            seq: AtomicU64::new(0),
            out,
            out_rx: Mutex::new(Some(out_rx)),
            listening: AtomicBool::new(false),
        }
    }

    /// Whether this node hears the other nodes now.
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    /// The payloads that carry `what`: one, or the parts of a message too big for one.
    fn encode(&self, what: What) -> Vec<String> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let whole = Envelope {
            node: self.node.clone(),
            seq,
            what,
        };
        let text = serde_json::to_string(&whole).expect("bus messages serialize");
        if text.len() <= PAYLOAD_MAX {
            return vec![text];
        }
        let pieces = split(&text, PART_BYTES);
        let count = pieces.len();
        pieces
            .into_iter()
            .enumerate()
            .map(|(index, piece)| {
                let part = Envelope {
                    node: self.node.clone(),
                    seq,
                    what: What::Part {
                        index,
                        count,
                        text: piece.to_owned(),
                    },
                };
                serde_json::to_string(&part).expect("bus messages serialize")
            })
            .collect()
    }
}

/// `text` cut into pieces of at most `max` bytes, on character boundaries.
fn split(text: &str, max: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(max);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (piece, tail) = rest.split_at(end);
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

/// Asks the other nodes to apply webhook `(client, key)`, whose call this node does not run.
/// `false` when the bus is not listening (no bus, or its session is down): the caller applies
/// the event itself, as a single node does. Otherwise the receipt is looked at again after
/// [`UNCLAIMED_AFTER`] and, if nobody applied it, handed back to this engine to apply.
pub fn forward_webhook(app: &App, client: ClientId, key: &str, event: &WebhookEffect) -> bool {
    let Some(bus) = app.bus.as_ref().filter(|b| b.is_listening()) else {
        return false;
    };
    let what = What::Webhook {
        client,
        key: key.to_owned(),
    };
    if bus.out.send(what).is_err() {
        return false;
    }
    tracing::debug!(%client, key, "webhook forwarded to the node that runs its call");
    let (app, key, event) = (app.clone(), key.to_owned(), event.clone());
    tokio::spawn(async move {
        tokio::time::sleep(UNCLAIMED_AFTER).await;
        match app.store.unapplied_webhook(client, &key).await {
            Ok(Some(_)) => {
                tracing::info!(%client, key, "no node claimed a forwarded webhook; applied here");
                app.engine.send(Request::Forwarded {
                    client,
                    event_key: key,
                    event,
                    last_resort: true,
                });
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(%client, key, error = %e, "reading a forwarded webhook failed")
            }
        }
    });
    true
}

/// Starts the bus of a PostgreSQL node: listens on the channel (before this returns, so a node
/// hears the others once it serves), then runs the listening and sending loops until `stop`
/// flips. No tasks on SQLite.
pub async fn start(app: &App, stop: watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
    let Some(bus) = &app.bus else {
        return Vec::new();
    };
    let Some(out) = bus.out_rx.lock().expect("bus lock").take() else {
        tracing::warn!("the bus is already running");
        return Vec::new();
    };
    let listener = listen(app).await;
    vec![
        tokio::spawn(hear_loop(app.clone(), listener, stop.clone())),
        tokio::spawn(speak_loop(app.clone(), out, stop)),
    ]
}

/// Opens the listening session (`None` when that failed: the loop tries again).
async fn listen(app: &App) -> Option<BusListener> {
    let bus = app.bus.as_ref()?;
    match app.store.bus_listen(CHANNEL).await {
        Ok(Some(l)) => {
            bus.listening.store(true, Ordering::Release);
            tracing::info!(node = %bus.node, channel = CHANNEL, "listening to the other nodes");
            Some(l)
        }
        Ok(None) => None,
        Err(e) => {
            tracing::error!(error = %e, "listening to the other nodes failed; trying again");
            None
        }
    }
}

/// Hears the other nodes until `stop` flips; a failed session is opened again after a pause.
async fn hear_loop(app: App, mut listener: Option<BusListener>, mut stop: watch::Receiver<bool>) {
    let mut parts = Parts::default();
    loop {
        let Some(l) = listener.as_mut() else {
            tokio::select! {
                _ = tokio::time::sleep(RELISTEN_PAUSE) => listener = listen(&app).await,
                _ = stop.changed() => break,
            }
            continue;
        };
        tokio::select! {
            heard = l.next() => match heard {
                Ok(Heard::Message(payload)) => hear(&app, &mut parts, &payload).await,
                Ok(Heard::Lost) => tracing::warn!(
                    "the bus session was lost and is listening again; messages sent meanwhile are missed"
                ),
                Err(e) => {
                    tracing::error!(error = %e, "the bus session failed; listening again shortly");
                    if let Some(bus) = &app.bus {
                        bus.listening.store(false, Ordering::Release);
                    }
                    listener = None;
                }
            },
            _ = stop.changed() => break,
        }
    }
    if let Some(bus) = &app.bus {
        bus.listening.store(false, Ordering::Release);
    }
}

/// Big messages' parts heard so far, by sending node and message number.
#[derive(Default)]
struct Parts {
    open: HashMap<(String, u64), Assembling>,
}

/// When a big message's first part came, and its parts so far.
type Assembling = (Instant, Vec<Option<String>>);

impl Parts {
    /// Keeps a part; the whole envelope's text once every part is in.
    fn add(
        &mut self,
        node: String,
        seq: u64,
        index: usize,
        count: usize,
        text: String,
    ) -> Option<String> {
        self.open
            .retain(|_, (since, _)| since.elapsed() < PARTS_KEPT);
        if index >= count {
            return None;
        }
        let (_, slots) = self
            .open
            .entry((node.clone(), seq))
            .or_insert_with(|| (Instant::now(), vec![None; count]));
        if slots.len() != count {
            return None;
        }
        slots[index] = Some(text);
        if slots.iter().any(Option::is_none) {
            return None;
        }
        let (_, slots) = self.open.remove(&(node, seq))?;
        Some(slots.into_iter().flatten().collect())
    }
}

/// Handles one payload from the channel.
async fn hear(app: &App, parts: &mut Parts, payload: &str) {
    let Some(bus) = &app.bus else { return };
    let env: Envelope = match serde_json::from_str(payload) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "an unreadable bus message is ignored");
            return;
        }
    };
    if env.node == bus.node {
        return; // our own
    }
    let env = match env.what {
        What::Part { index, count, text } => {
            let Some(whole) = parts.add(env.node, env.seq, index, count, text) else {
                return;
            };
            match serde_json::from_str::<Envelope>(&whole) {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(error = %e, "an unreadable big bus message is ignored");
                    return;
                }
            }
        }
        _ => env,
    };
    match env.what {
        What::Desktop { user, body } => relay(app, user, body),
        What::Webhook { client, key } => claim(app, client, key).await,
        What::Part { .. } => tracing::warn!("a part inside a part is ignored"),
    }
}

/// Publishes another node's desktop message to this node's desktops (and engine).
fn relay(app: &App, user: UserId, body: DesktopMessage) {
    if matches!(body, DesktopMessage::State { .. }) {
        // Before the event: the engine that hears it reads users again at once.
        app.store.users_changed_elsewhere();
    }
    let _ = app.events.send(DesktopEvent {
        user,
        body,
        relayed: true,
    });
}

/// Another node received a webhook it does not run the call of: the event is read from its
/// receipt and offered to this engine, which applies it only if the call is its own.
async fn claim(app: &App, client: ClientId, key: String) {
    let json = match app.store.unapplied_webhook(client, &key).await {
        Ok(Some(json)) => json,
        Ok(None) => return, // applied already
        Err(e) => {
            tracing::error!(%client, key, error = %e, "reading a forwarded webhook failed");
            return;
        }
    };
    match serde_json::from_str::<WebhookEffect>(&json) {
        Ok(event) => app.engine.send(Request::Forwarded {
            client,
            event_key: key,
            event,
            last_resort: false,
        }),
        Err(e) => {
            tracing::warn!(%client, key, error = %e, "an unreadable forwarded webhook is ignored")
        }
    }
}

/// Sends this node's desktop events and forwarded webhooks, a batch per statement, until `stop`
/// flips. A batch that cannot be sent is logged and dropped (desktops catch up when they
/// reconnect; a forwarded webhook is applied by its receiver after [`UNCLAIMED_AFTER`]).
async fn speak_loop(
    app: App,
    mut out: mpsc::UnboundedReceiver<What>,
    mut stop: watch::Receiver<bool>,
) {
    let Some(bus) = &app.bus else { return };
    let mut events = app.events.subscribe();
    loop {
        let mut batch = Vec::new();
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(ev) => batch.extend(local(ev)),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "the bus fell behind this node's desktop events; some were not sent to the other nodes");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            Some(w) = out.recv() => batch.push(w),
            _ = stop.changed() => break,
        }
        while batch.len() < MAX_BATCH {
            if let Ok(ev) = events.try_recv() {
                batch.extend(local(ev));
            } else if let Ok(w) = out.try_recv() {
                batch.push(w);
            } else {
                break;
            }
        }
        if batch.is_empty() {
            continue;
        }
        let payloads: Vec<String> = batch.into_iter().flat_map(|w| bus.encode(w)).collect();
        if let Err(e) = app.store.bus_notify(CHANNEL, &payloads).await {
            tracing::error!(error = %e, messages = payloads.len(), "sending to the other nodes failed; messages dropped");
        }
    }
}

/// A desktop event published here, as a bus message (none for one relayed from another node).
fn local(ev: DesktopEvent) -> Option<What> {
    (!ev.relayed).then_some(What::Desktop {
        user: ev.user,
        body: ev.body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use palera_core::ids::CallId;

    /// A desktop message too big for one notification crosses in parts, each small enough, and
    /// reads back whole.
    #[test]
    fn a_big_desktop_message_crosses_in_parts_that_fit() {
        let bus = Bus::new("a");
        let text: String = "notes \"quoted\" é\n".repeat(1_000);
        let body = DesktopMessage::NotesSaved {
            call_id: CallId(7),
            version: 3,
            text,
        };
        let payloads = bus.encode(What::Desktop {
            user: UserId(5),
            body: body.clone(),
        });
        assert!(payloads.len() > 1);
        assert!(payloads.iter().all(|p| p.len() <= PAYLOAD_MAX));
        let mut parts = Parts::default();
        let mut whole = None;
        for p in payloads.iter().rev() {
            let env: Envelope = serde_json::from_str(p).unwrap();
            let What::Part { index, count, text } = env.what else {
                panic!("not a part: {p}")
            };
            whole = parts.add(env.node, env.seq, index, count, text);
        }
        let env: Envelope = serde_json::from_str(&whole.expect("complete")).unwrap();
        match env.what {
            What::Desktop { user, body: b } => {
                assert_eq!(user, UserId(5));
                assert_eq!(b, body);
            }
            other => panic!("{other:?}"),
        }
    }

    /// Messages read back as they were sent, the voice state's label included.
    #[test]
    fn desktop_messages_read_back_from_their_json() {
        let body = DesktopMessage::State {
            state: palera_core::user::VoiceState::Standby,
            label: palera_core::user::VoiceState::Standby.label(),
            since: 12,
        };
        let text = serde_json::to_string(&body).unwrap();
        assert_eq!(serde_json::from_str::<DesktopMessage>(&text).unwrap(), body);
    }
}
