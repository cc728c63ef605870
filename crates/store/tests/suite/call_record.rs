//! The running record of live calls, written by the engine in batches
//! (`Store::write_call_record`), on SQLite and PostgreSQL: one transaction per batch, in order,
//! with the webhook event it applies; a batch that cannot be stored stores nothing.

use crate::common::client;
use palera_core::campaign::CallOutcome;
use palera_core::ids::{CallId, ClientId};
use palera_store::calls::CallUpdate;
use palera_store::record::CallWrite;
use palera_store::twilio::NewReceipt;
use palera_store::{conformance, Store};

async fn call(store: &Store, c: ClientId) -> CallId {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO calls (client_id, direction, phone, status, outcome, placed_at, notes) \
         VALUES ($1, 'outbound', '+14155550123', 'outbound', 'queued', 1, '') RETURNING id",
    )
    .bind(c.0)
    .fetch_one(store.pool())
    .await
    .unwrap();
    CallId(id)
}

fn event(call: CallId, kind: &str, at: i64) -> CallWrite {
    CallWrite::Event {
        call,
        kind: kind.into(),
        detail: String::new(),
        at,
    }
}

conformance!(
    a_batch_of_the_call_record_is_stored_in_order_with_the_webhook_it_applies,
    |store: Store| async move {
        let c = client(&store, "Acme").await;
        let (one, two) = (call(&store, c).await, call(&store, c).await);
        let receipt = NewReceipt {
            client: c,
            event_key: "status:CA1:in-progress",
            kind: "status",
            call_sid: Some("CA1"),
            call_id: Some(one.0),
            summary: "answered",
            received_at: 5,
            event: Some(r#"{"kind":"answered"}"#),
        };
        assert!(store.record_webhook(&receipt).await.unwrap());
        // More events than one INSERT carries, so the chunks' order shows too.
        let mut writes = vec![CallWrite::Update(
            one,
            CallUpdate {
                outcome: Some(CallOutcome::Ringing),
                sid: Some("CA1".into()),
                ..Default::default()
            },
        )];
        writes.extend(
            (0..450).map(|i| event(if i % 2 == 0 { one } else { two }, &format!("e{i}"), i)),
        );
        writes.push(CallWrite::Update(
            one,
            CallUpdate {
                outcome: Some(CallOutcome::InProgress),
                answered_at: Some(7),
                ..Default::default()
            },
        ));
        writes.push(CallWrite::WebhookApplied {
            client: c,
            event_key: receipt.event_key.into(),
            at: 8,
        });
        store.write_call_record(&writes).await.unwrap();
        let row = store.call(c, one).await.unwrap();
        assert_eq!(row.carrier_sid.as_deref(), Some("CA1"));
        assert_eq!(row.answered_at, Some(7));
        assert_eq!(row.outcome, "in_progress");
        let kinds = store.call_event_kinds(one).await.unwrap();
        let expected: Vec<String> = (0..450).step_by(2).map(|i| format!("e{i}")).collect();
        assert_eq!(kinds, expected);
        assert_eq!(store.call_event_kinds(two).await.unwrap().len(), 225);
        assert!(store.unapplied_webhooks(10).await.unwrap().is_empty());
    }
);

conformance!(
    a_batch_of_the_call_record_that_cannot_be_stored_stores_nothing,
    |store: Store| async move {
        let c = client(&store, "Acme").await;
        let one = call(&store, c).await;
        let writes = [
            CallWrite::Update(
                one,
                CallUpdate {
                    outcome: Some(CallOutcome::Ringing),
                    ..Default::default()
                },
            ),
            event(one, "ringing", 1),
            // No such call: the event's foreign key fails the batch.
            event(CallId(one.0 + 1_000), "lost", 2),
        ];
        assert!(store.write_call_record(&writes).await.is_err());
        assert!(store.call_event_kinds(one).await.unwrap().is_empty());
        assert_eq!(store.call(c, one).await.unwrap().outcome, "queued");
    }
);
