//! The running record of live calls: what the call engine writes several times a call (state
//! changes and the call's event log). The engine writes it behind its loop, in batches: one
//! transaction per batch, in the order given. On PostgreSQL through [`Store::relaxed`] (the
//! commit does not wait for the write-ahead log's flush).

use crate::calls::{outcome_str, status_str, CallUpdate};
use crate::{Backend, Result, Store};
use palera_core::ids::{CallId, ClientId};

/// One change to the running record of a live call.
#[derive(Debug, Clone)]
pub enum CallWrite {
    /// Moves the call on: a few columns and its detailed outcome; an ended call is never
    /// changed (carrier events repeat).
    Update(CallId, CallUpdate),
    /// Adds an event to the call's log.
    Event {
        call: CallId,
        kind: String,
        detail: String,
        at: i64,
    },
    /// Marks a webhook event applied ([`Store::webhook_applied`]); queued after its effect, it
    /// is stored with it or after it, never before.
    WebhookApplied {
        client: ClientId,
        event_key: String,
        at: i64,
    },
}

/// Rows per `INSERT` of events (four parameters each, well inside every backend's limit).
const EVENTS_PER_INSERT: usize = 200;

/// The update of one live call: ended calls are never changed (carrier events repeat).
pub(crate) fn update_query<'q>(
    id: CallId,
    u: &'q CallUpdate,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    sqlx::query("UPDATE calls SET outcome = COALESCE($1, outcome), status = COALESCE($2, status), carrier_sid = COALESCE($3, carrier_sid), answered_by = COALESCE($4, answered_by), answered_at = COALESCE(answered_at, $5), connected_at = COALESCE(connected_at, $6), agent_id = COALESCE($7, agent_id), ended_at = $8 WHERE id = $9 AND ended_at IS NULL")
        .bind(u.outcome.map(outcome_str))
        .bind(u.outcome.map(status_str))
        .bind(u.sid.as_deref())
        .bind(u.answered_by.as_deref())
        .bind(u.answered_at)
        .bind(u.connected_at)
        .bind(u.agent.map(|a| a.0))
        .bind(u.ended_at)
        .bind(id.0)
}

impl Store {
    /// Writes `writes` in one transaction: every update in order, then the events, many rows
    /// per statement, in order (their ids follow it). All or nothing. A batch of one statement
    /// (the common case when the engine is not busy) is sent alone, atomic as it is, one round
    /// trip instead of three.
    pub async fn write_call_record(&self, writes: &[CallWrite]) -> Result<()> {
        use sqlx::Connection;
        let mut conn = self.relaxed().acquire().await?;
        if statements(writes) <= 1 {
            return apply(&mut conn, writes).await;
        }
        let mut tx = match self.backend() {
            // Takes the write lock at once, as `write_tx` does.
            Backend::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => conn.begin().await?,
        };
        apply(&mut tx, writes).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// How many statements [`apply`] sends for `writes`.
fn statements(writes: &[CallWrite]) -> usize {
    let events = writes
        .iter()
        .filter(|w| matches!(w, CallWrite::Event { .. }))
        .count();
    writes.len() - events + events.div_ceil(EVENTS_PER_INSERT)
}

/// Sends `writes` on `conn`: the updates and webhook marks in order, then the events.
async fn apply(conn: &mut sqlx::AnyConnection, writes: &[CallWrite]) -> Result<()> {
    let mut events = Vec::new();
    for w in writes {
        match w {
            CallWrite::Update(id, u) => {
                update_query(*id, u).execute(&mut *conn).await?;
            }
            CallWrite::Event {
                call,
                kind,
                detail,
                at,
            } => events.push((*call, kind.as_str(), detail.as_str(), *at)),
            CallWrite::WebhookApplied {
                client,
                event_key,
                at,
            } => {
                crate::twilio::applied_query(*client, event_key, *at)
                    .execute(&mut *conn)
                    .await?;
            }
        }
    }
    for chunk in events.chunks(EVENTS_PER_INSERT) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| {
                let p = i * 4;
                format!("(${},${},${},${})", p + 1, p + 2, p + 3, p + 4)
            })
            .collect();
        let sql = format!(
            "INSERT INTO call_events (call_id, kind, detail, at) VALUES {}",
            rows.join(",")
        );
        let mut q = sqlx::query(&sql);
        for (call, kind, detail, at) in chunk {
            q = q.bind(call.0).bind(*kind).bind(*detail).bind(*at);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}
