//! The webhook outbox (issue 19): a Twilio webhook's receipt and its event are stored in one
//! insert; the engine applies the event, then marks the receipt applied (queued on the
//! journal after the call record the event wrote, so the mark is never stored before it: in the
//! same transaction when both fall in one batch, else after). A process that stops in
//! between leaves the event pending, and the next engine replays it at start, after reconciling
//! the calls left in flight — so a crash either redelivers (Twilio retries a webhook that got no
//! answer; the receipt makes the retry a no-op) or has the event applied, never neither. Events
//! are idempotent for the engine (DESIGN §3), so one applied twice changes nothing; so is a new
//! inbound caller (a second arrival of one call SID finds the call already recorded). On
//! PostgreSQL an event about a call another node runs is neither applied nor marked here: it is
//! forwarded ([`crate::bus`]), and the engine that runs the call applies it and marks it, the
//! same way.

use super::{Arrival, Engine};
use palera_carrier::CarrierEvent;
use palera_core::ids::ClientId;
use serde::{Deserialize, Serialize};

/// What a webhook asks of the engine, as its receipt keeps it: a carrier event, or a new inbound
/// caller to record and route (the voice webhook). Stored as JSON: a carrier event as itself
/// (receipts written before arrivals were kept read the same), an arrival as `{"inbound": …}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WebhookEffect {
    Carrier(CarrierEvent),
    Inbound { inbound: Arrival },
}

impl From<CarrierEvent> for WebhookEffect {
    fn from(e: CarrierEvent) -> Self {
        WebhookEffect::Carrier(e)
    }
}

/// Pending events older than this at start are marked applied without replay: the calls they
/// are about were reconciled long ago.
const REPLAY_WITHIN_MS: i64 = 10 * 60 * 1000;
/// Pending events read at start.
const REPLAY_LIMIT: i64 = 10_000;

impl Engine {
    /// Applies a webhook's event, then marks its receipt applied; on PostgreSQL an event about a
    /// call another node runs is forwarded to it instead, unapplied and unmarked ([`crate::bus`]).
    pub(super) async fn apply_webhook(
        &mut self,
        client: ClientId,
        event_key: &str,
        event: WebhookEffect,
    ) {
        if let WebhookEffect::Carrier(ev) = &event {
            if !self.owns(ev) && crate::bus::forward_webhook(&self.app, client, event_key, &event) {
                return;
            }
        }
        self.apply_here(client, event_key, event).await
    }

    /// Another node's webhook (see [`super::Request::Forwarded`]).
    pub(super) async fn apply_forwarded(
        &mut self,
        client: ClientId,
        event_key: &str,
        event: WebhookEffect,
        last_resort: bool,
    ) {
        let ours = match &event {
            WebhookEffect::Carrier(ev) => self.owns(ev),
            WebhookEffect::Inbound { .. } => false, // never forwarded
        };
        if ours || last_resort {
            self.apply_here(client, event_key, event).await
        } else {
            tracing::debug!(%client, key = event_key, "a forwarded webhook is about a call another node runs");
        }
    }

    /// Whether the carrier event is about a call this engine runs: a campaign call of its
    /// lanes, a manual call, an inbound call, or a dial being placed. A finished recording is
    /// everyone's (stored by whichever node hears it, as a single node does).
    fn owns(&self, ev: &CarrierEvent) -> bool {
        if matches!(ev, CarrierEvent::RecordingReady { .. }) {
            return true;
        }
        let call = super::manual::event_call(ev);
        self.placing.contains_key(&call)
            || self.calls.contains_key(&call)
            || self.manual.contains_key(&call)
            || self.inbound.contains_key(&call)
    }

    /// Applies a webhook's event here, then marks its receipt applied.
    async fn apply_here(&mut self, client: ClientId, event_key: &str, event: WebhookEffect) {
        let done = match event {
            WebhookEffect::Carrier(event) => self.on_carrier(event).await,
            WebhookEffect::Inbound { inbound } => self.inbound_arrived(inbound).await.map(drop),
        };
        if let Err(e) = done {
            tracing::error!(%client, key = event_key, error = %e, "webhook event failed");
        }
        // Marked applied after the call record the event wrote (the journal keeps the order):
        // a crash never leaves the mark without the effect; the replay finds the event unapplied.
        self.journal.applied(client, event_key, self.app.now_ms());
    }

    /// Replays the events a stopped process received but never applied, oldest first.
    pub(super) async fn replay_webhooks(&mut self) {
        let pending = match self.app.store.unapplied_webhooks(REPLAY_LIMIT).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "reading unapplied webhook events failed");
                return;
            }
        };
        let now = self.app.now_ms();
        let (mut replayed, mut stale) = (0, 0);
        for p in pending {
            match serde_json::from_str::<WebhookEffect>(&p.event) {
                Ok(event) if now - p.received_at <= REPLAY_WITHIN_MS => {
                    self.apply_webhook(p.client, &p.event_key, event).await;
                    replayed += 1;
                }
                other => {
                    if let Err(e) = other {
                        tracing::error!(key = %p.event_key, error = %e, "an unreadable webhook event is dropped");
                    }
                    stale += 1;
                    let _ = self
                        .app
                        .store
                        .webhook_applied(p.client, &p.event_key, now)
                        .await;
                }
            }
        }
        if replayed + stale > 0 {
            tracing::info!(replayed, stale, "webhook events left by a stopped process");
        }
    }
}
