//! What the Twilio webhooks keep: a receipt per distinct event (so a retried webhook is
//! recognised and not processed twice, and recent webhooks can be shown to staff), and the agent
//! each agent-leg call belongs to (conference participant events name the call, not the agent).
//! Receipts are insert-if-absent on (client, event key): the database decides which delivery is
//! first, so two nodes receiving the same retry still process it once. A receipt also carries its
//! event until the engine applied it (an outbox): receipt and event are stored in one insert, so a
//! stop between the two cannot lose the event. Receipts are pruned after some days.

use crate::{Result, Store};
use palera_core::ids::ClientId;
use serde::Serialize;
use sqlx::Row;

/// One webhook event as received, for the insert-if-absent check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReceipt<'a> {
    pub client: ClientId,
    /// Stable across Twilio's retries of the same event (e.g. `status:CA…:ringing`).
    pub event_key: &'a str,
    /// `voice`, `status`, `amd`, `conference`, `recording` or `transcription`.
    pub kind: &'a str,
    pub call_sid: Option<&'a str>,
    pub call_id: Option<i64>,
    /// One line for people: what happened (no secrets, no personal data beyond numbers).
    pub summary: &'a str,
    pub received_at: i64,
    /// The event the delivery carries for the engine (JSON), kept until the engine applied it
    /// (the outbox: a process that stops in between replays it at start).
    pub event: Option<&'a str>,
}

/// A received event the engine has not applied yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingWebhook {
    pub client: ClientId,
    pub event_key: String,
    /// The event, as JSON.
    pub event: String,
    pub received_at: i64,
}

/// A stored receipt, newest first in listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Receipt {
    pub event_key: String,
    pub kind: String,
    pub call_sid: Option<String>,
    pub call_id: Option<i64>,
    pub summary: String,
    pub received_at: i64,
}

impl Store {
    /// Records a webhook event unless it was recorded before. `true` when this is the first
    /// delivery (the caller processes it), `false` for a repeat (the caller does nothing).
    pub async fn record_webhook(&self, r: &NewReceipt<'_>) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO webhook_receipts (client_id, event_key, kind, call_sid, call_id, summary, received_at, event) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (client_id, event_key) DO NOTHING",
        )
        .bind(r.client.0)
        .bind(r.event_key)
        .bind(r.kind)
        .bind(r.call_sid)
        .bind(r.call_id)
        .bind(r.summary)
        .bind(r.received_at)
        .bind(r.event)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The engine handled the event of receipt `(client, event_key)`.
    pub async fn webhook_applied(
        &self,
        client: ClientId,
        event_key: &str,
        at_ms: i64,
    ) -> Result<()> {
        applied_query(client, event_key, at_ms)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Events received but never applied, oldest first (what a stopped process left).
    pub async fn unapplied_webhooks(&self, limit: i64) -> Result<Vec<PendingWebhook>> {
        let rows = sqlx::query(
            "SELECT client_id, event_key, event, received_at FROM webhook_receipts \
             WHERE event IS NOT NULL AND applied_at IS NULL ORDER BY received_at, event_key LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PendingWebhook {
                    client: ClientId(r.try_get("client_id")?),
                    event_key: r.try_get("event_key")?,
                    event: r.try_get("event")?,
                    received_at: r.try_get("received_at")?,
                })
            })
            .collect()
    }

    /// The event of receipt `(client, event_key)` as JSON, while it is not applied (`None` once
    /// it is, or when there is no such receipt or it carries no event).
    pub async fn unapplied_webhook(
        &self,
        client: ClientId,
        event_key: &str,
    ) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT event FROM webhook_receipts WHERE client_id = $1 AND event_key = $2 \
             AND event IS NOT NULL AND applied_at IS NULL",
        )
        .bind(client.0)
        .bind(event_key)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| r.try_get("event").map_err(Into::into))
            .transpose()
    }

    /// Deletes receipts received before `before_ms` (past Twilio's retry horizon, shown no more).
    /// Returns how many.
    pub async fn prune_webhooks(&self, before_ms: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM webhook_receipts WHERE received_at < $1")
            .bind(before_ms)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// The latest `limit` webhook receipts of a client, newest first.
    pub async fn recent_webhooks(&self, client: ClientId, limit: i64) -> Result<Vec<Receipt>> {
        let rows = sqlx::query(
            "SELECT event_key, kind, call_sid, call_id, summary, received_at FROM webhook_receipts \
             WHERE client_id = $1 ORDER BY received_at DESC, event_key DESC LIMIT $2",
        )
        .bind(client.0)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Receipt {
                    event_key: r.try_get("event_key")?,
                    kind: r.try_get("kind")?,
                    call_sid: r.try_get("call_sid")?,
                    call_id: r.try_get("call_id")?,
                    summary: r.try_get("summary")?,
                    received_at: r.try_get("received_at")?,
                })
            })
            .collect()
    }

    /// How many webhook receipts a client has (tests and metrics).
    pub async fn webhook_count(&self, client: ClientId) -> Result<i64> {
        let r = sqlx::query("SELECT COUNT(*) AS n FROM webhook_receipts WHERE client_id = $1")
            .bind(client.0)
            .fetch_one(self.pool())
            .await?;
        Ok(r.try_get("n")?)
    }

    /// Remembers that agent-leg call `call_sid` of call `call_id` rings agent `agent_id`; a
    /// repeat keeps the first answer.
    pub async fn remember_agent_leg(
        &self,
        client: ClientId,
        call_sid: &str,
        call_id: i64,
        agent_id: i64,
        now_ms: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO twilio_agent_legs (client_id, call_sid, call_id, agent_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (client_id, call_sid) DO NOTHING",
        )
        .bind(client.0)
        .bind(call_sid)
        .bind(call_id)
        .bind(agent_id)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The agent of an agent-leg call, if one was remembered.
    pub async fn agent_of_leg(&self, client: ClientId, call_sid: &str) -> Result<Option<i64>> {
        let r = sqlx::query(
            "SELECT agent_id FROM twilio_agent_legs WHERE client_id = $1 AND call_sid = $2",
        )
        .bind(client.0)
        .bind(call_sid)
        .fetch_optional(self.pool())
        .await?;
        r.map(|r| r.try_get("agent_id").map_err(Into::into))
            .transpose()
    }
}

/// Marks a webhook event applied (also written with the call record that applies it:
/// [`crate::record::CallWrite::WebhookApplied`]).
pub(crate) fn applied_query<'q>(
    client: ClientId,
    event_key: &'q str,
    at_ms: i64,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    sqlx::query(
        "UPDATE webhook_receipts SET applied_at = $1 WHERE client_id = $2 AND event_key = $3 AND applied_at IS NULL",
    )
    .bind(at_ms)
    .bind(client.0)
    .bind(event_key)
}
