//! The SQL of the nodes' event bus (PostgreSQL only; SQLite is single-node and has none): one
//! listening session per process on one channel (`LISTEN`), and `pg_notify` through the typed
//! pool to speak on it. What the messages mean is the server's business; this module moves text.
//! A message is at most [`PAYLOAD_MAX`] bytes (PostgreSQL's limit); the caller keeps to it.

use crate::{Result, Store};
use sqlx::postgres::{PgListener, PgPoolOptions};

/// The longest payload PostgreSQL accepts in one notification (it must be shorter than 8,000
/// bytes with the default configuration).
pub const PAYLOAD_MAX: usize = 7_999;

/// The listening end: one session of its own, reconnected by sqlx when it is lost (the
/// `LISTEN` is issued again; what was sent meanwhile is not heard).
pub struct BusListener {
    listener: PgListener,
}

/// What the listening session heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// One notification's payload.
    Message(String),
    /// The session was lost and sqlx opened a new one, listening again: what was sent in
    /// between is missed.
    Lost,
}

impl Store {
    /// Starts listening on `channel` in a session of its own (`None` on SQLite: no bus).
    pub async fn bus_listen(&self, channel: &str) -> Result<Option<BusListener>> {
        let Some(pg) = self.pg() else {
            return Ok(None);
        };
        // A pool of one that never recycles its session: sqlx's listener takes its connection
        // (and its reconnections) from it, outside the pools the queries use.
        let session = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_lazy_with((*pg.connect_options()).clone());
        let mut listener = PgListener::connect_with(&session).await?;
        listener.listen(channel).await?;
        Ok(Some(BusListener { listener }))
    }

    /// Sends `payloads` on `channel`, in order, in one statement (one transaction: a listener
    /// receives them together). Nothing on SQLite.
    pub async fn bus_notify(&self, channel: &str, payloads: &[String]) -> Result<()> {
        let Some(pg) = self.pg() else {
            return Ok(());
        };
        if payloads.is_empty() {
            return Ok(());
        }
        // The aggregate runs `pg_notify` once per element, in the array's order.
        sqlx::query("SELECT COUNT(pg_notify($1, p)) FROM unnest($2::text[]) AS p")
            .bind(channel)
            .bind(payloads)
            .execute(pg)
            .await?;
        Ok(())
    }

    /// Another node changed users (a voice state): the engine's next look at users reads them
    /// again at once, as after a change made here.
    pub fn users_changed_elsewhere(&self) {
        self.users_touched();
    }
}

impl BusListener {
    /// The next notification, or [`Heard::Lost`] when the session went and was opened again. An
    /// error (the session could not be opened again, or failed otherwise) leaves this listener
    /// unusable: the caller waits and starts another with [`Store::bus_listen`].
    pub async fn next(&mut self) -> Result<Heard> {
        Ok(match self.listener.try_recv().await? {
            Some(n) => Heard::Message(n.payload().to_owned()),
            None => Heard::Lost,
        })
    }
}
