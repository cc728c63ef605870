//! The running record of live calls, written behind the engine's loop. The loop hands each
//! state change and call event to the journal and goes on; one writer task stores what is queued,
//! in order: on SQLite in one transaction per batch, on PostgreSQL one statement at a time (see
//! [`store_batch`]). What the loop says to the outside after a write (a
//! desktop message, the answer to an API request) goes through the journal too and is delivered
//! once everything queued before it is stored: a desktop or API caller never sees a state the
//! store does not have yet, and the loop never waits for a commit (it waits, with
//! [`Journal::flush`], only where it reads a call's row back).

use palera_core::ids::{CallId, ClientId};
use palera_store::calls::CallUpdate;
use palera_store::record::CallWrite;
use palera_store::{Store, StoreError};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// What the loop queues: a write, or something to do once the writes before it are stored.
enum Entry {
    Write(CallWrite),
    Then(Box<dyn FnOnce() + Send>),
}

/// The loop's side of the journal (cheap to clone).
#[derive(Clone)]
pub(crate) struct Journal {
    tx: mpsc::UnboundedSender<Entry>,
}

/// The most entries taken from the queue at once (stored in one transaction on SQLite).
const MAX_BATCH: usize = 1_000;
/// A batch whose commit takes longer than this is logged.
const SLOW_BATCH: Duration = Duration::from_millis(250);
/// Attempts at storing a batch (or one write), and the pause after the first failure.
const ATTEMPTS: u32 = 2;
const RETRY_PAUSE: Duration = Duration::from_millis(200);

impl Journal {
    /// Starts the writer; it ends once every `Journal` is dropped and the queue is stored.
    pub(crate) fn start(store: Store) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, tokio::spawn(writer(store, rx)))
    }

    pub(crate) fn update(&self, call: CallId, u: CallUpdate) {
        self.push(Entry::Write(CallWrite::Update(call, u)));
    }

    pub(crate) fn event(&self, call: CallId, kind: &str, detail: &str, at: i64) {
        self.push(Entry::Write(CallWrite::Event {
            call,
            kind: kind.to_string(),
            detail: detail.to_string(),
            at,
        }));
    }

    /// Marks a webhook event applied, with the writes queued before it (its effect).
    pub(crate) fn applied(&self, client: ClientId, event_key: &str, at: i64) {
        self.push(Entry::Write(CallWrite::WebhookApplied {
            client,
            event_key: event_key.to_string(),
            at,
        }));
    }

    /// Runs `f` once everything queued before it is stored (or given up).
    pub(crate) fn then(&self, f: impl FnOnce() + Send + 'static) {
        self.push(Entry::Then(Box::new(f)));
    }

    /// Waits until everything queued so far is stored.
    pub(crate) async fn flush(&self) {
        let (done, stored) = oneshot::channel();
        self.then(move || {
            let _ = done.send(());
        });
        let _ = stored.await;
    }

    fn push(&self, e: Entry) {
        if let Err(mpsc::error::SendError(e)) = self.tx.send(e) {
            // The writer is gone only while the server stops: what was to follow still happens.
            tracing::warn!("the call record writer has stopped; a write is lost");
            if let Entry::Then(f) = e {
                f();
            }
        }
    }
}

/// Stores each batch the queue holds, then does what waited for it.
async fn writer(store: Store, mut rx: mpsc::UnboundedReceiver<Entry>) {
    let mut writes = Vec::new();
    let mut after = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(e) = next.take() {
            match e {
                Entry::Write(w) => writes.push(w),
                Entry::Then(f) => after.push(f),
            }
            if writes.len() + after.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !writes.is_empty() {
            store_batch(&store, &writes).await;
            writes.clear();
        }
        for f in after.drain(..) {
            f();
        }
    }
}

/// Stores one batch, trying again once (a busy database). A batch that still fails is stored
/// one write at a time, so one write that cannot be stored (its call deleted meanwhile, say)
/// costs only itself: it is logged and given up, and the calls' next events or the restart's
/// reconcile correct the record.
///
/// On PostgreSQL each write is its own statement, committed alone (in order, so the rules above
/// hold): a write to `calls` also adds to the `call_hours` rollup, whose rows every call of the
/// hour shares, and one statement takes them in key order, but a transaction of several
/// statements takes them statement by statement. Such a batch and a single statement writing
/// a call beside it (a disposition, a claim) then each held a rollup row the other wanted: a
/// deadlock, which PostgreSQL breaks after a second by failing one of them (seen in the
/// 200-agent soak: the engine's loop stalled for that second and a disposition was lost).
/// Statements sent alone cost no more round trips than the batch's BEGIN and COMMIT saved
/// (the record's commits do not wait for the disk: [`Store::relaxed`]).
async fn store_batch(store: &Store, writes: &[CallWrite]) {
    if store.backend() == palera_store::Backend::Postgres {
        for w in writes {
            store_together(store, std::slice::from_ref(w)).await;
        }
    } else {
        store_together(store, writes).await;
    }
}

/// Stores `writes` in one transaction (one write: one statement), as [`store_batch`] says.
async fn store_together(store: &Store, writes: &[CallWrite]) {
    let started = Instant::now();
    let failed = match store_with_retry(store, writes).await {
        Ok(()) => {
            let took = started.elapsed();
            if took > SLOW_BATCH {
                tracing::warn!(
                    writes = writes.len(),
                    ms = took.as_millis() as u64,
                    "slow call record batch"
                );
            }
            return;
        }
        Err(e) => e,
    };
    if let [w] = writes {
        tracing::error!(write = ?w, error = %failed, "a call record write failed; given up");
        return;
    }
    for w in writes {
        if let Err(e) = store_with_retry(store, std::slice::from_ref(w)).await {
            tracing::error!(write = ?w, error = %e, "a call record write failed; given up");
        }
    }
}

async fn store_with_retry(store: &Store, writes: &[CallWrite]) -> Result<(), StoreError> {
    let mut attempt = 1;
    loop {
        match store.write_call_record(writes).await {
            Err(e) if attempt < ATTEMPTS => {
                tracing::warn!(error = %e, attempt, writes = writes.len(), "storing the call record failed; trying again");
                tokio::time::sleep(RETRY_PAUSE * attempt).await;
                attempt += 1;
            }
            done => return done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palera_core::campaign::CallOutcome;
    use palera_core::tenant::ClientFields;
    use palera_store::clients::SecretInput;

    async fn store_with_a_call() -> (palera_store::testing::TestDb, CallId) {
        let db = palera_store::testing::fresh(palera_store::Backend::Sqlite)
            .await
            .expect("a SQLite database");
        let fields = ClientFields {
            name: "Acme".into(),
            ..Default::default()
        }
        .validate()
        .unwrap();
        let client = db
            .store
            .create_client(&fields, &SecretInput::default(), &[], 1)
            .await
            .unwrap()
            .id;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO calls (client_id, direction, phone, status, outcome, placed_at, notes) \
             VALUES ($1, 'outbound', '+14155550123', 'outbound', 'queued', 1, '') RETURNING id",
        )
        .bind(client.0)
        .fetch_one(db.store.pool())
        .await
        .unwrap();
        (db, CallId(id))
    }

    /// What waits for the writes (a desktop message, an API answer) runs once they are stored.
    #[tokio::test]
    async fn what_follows_a_write_runs_once_the_write_is_stored() {
        let (db, call) = store_with_a_call().await;
        let (journal, writer) = Journal::start(db.store.clone());
        let (told, heard) = oneshot::channel();
        journal.event(call, "answered", "", 5);
        journal.then(move || {
            let _ = told.send(());
        });
        heard.await.unwrap();
        // Read at once, with nothing else awaited: the event was stored before the message.
        let kinds = db.store.call_event_kinds(call).await.unwrap();
        assert_eq!(kinds, ["answered"]);
        drop(journal);
        writer.await.unwrap();
    }

    /// One write that cannot be stored (its call is gone) costs only itself, not its batch.
    #[tokio::test]
    async fn a_write_that_cannot_be_stored_costs_only_itself() {
        let (db, call) = store_with_a_call().await;
        let (journal, writer) = Journal::start(db.store.clone());
        // Queued before the writer runs (this test's runtime has one thread): one batch.
        journal.event(call, "ringing", "", 1);
        journal.event(CallId(call.0 + 1_000), "lost", "", 2);
        journal.update(
            call,
            CallUpdate {
                outcome: Some(CallOutcome::InProgress),
                ..Default::default()
            },
        );
        journal.event(call, "answered", "", 3);
        journal.flush().await;
        assert_eq!(
            db.store.call_event_kinds(call).await.unwrap(),
            ["ringing", "answered"]
        );
        let outcome: String = sqlx::query_scalar("SELECT outcome FROM calls WHERE id = $1")
            .bind(call.0)
            .fetch_one(db.store.pool())
            .await
            .unwrap();
        assert_eq!(outcome, "in_progress");
        drop(journal);
        writer.await.unwrap();
    }
}
