//! Webhook receipts and agent legs (the Twilio webhook idempotency store), on SQLite and
//! PostgreSQL.

use crate::common::client;
use palera_core::ids::ClientId;
use palera_store::twilio::NewReceipt;
use palera_store::{conformance, Store};

fn receipt(client: ClientId, key: &str, at: i64) -> NewReceipt<'_> {
    NewReceipt {
        client,
        event_key: key,
        kind: "status",
        call_sid: Some("CA1"),
        call_id: Some(7),
        summary: "call CA1 ringing",
        received_at: at,
        event: None,
    }
}

conformance!(
    a_webhook_event_is_recorded_once_and_a_repeat_is_recognised,
    |store: Store| async move {
        let c = client(&store, "Acme").await;
        assert!(store
            .record_webhook(&receipt(c, "status:CA1:ringing", 10))
            .await
            .unwrap());
        assert!(!store
            .record_webhook(&receipt(c, "status:CA1:ringing", 11))
            .await
            .unwrap());
        assert!(store
            .record_webhook(&receipt(c, "status:CA1:completed", 12))
            .await
            .unwrap());
        assert_eq!(store.webhook_count(c).await.unwrap(), 2);
        let recent = store.recent_webhooks(c, 10).await.unwrap();
        assert_eq!(recent.len(), 2);
        assert_eq!(recent[0].event_key, "status:CA1:completed");
        assert_eq!(recent[1].received_at, 10, "the repeat did not overwrite");
        assert_eq!(recent[1].call_id, Some(7));
    }
);

conformance!(
    webhook_receipts_are_kept_per_client,
    |store: Store| async move {
        let a = client(&store, "A").await;
        let b = client(&store, "B").await;
        assert!(store.record_webhook(&receipt(a, "k", 1)).await.unwrap());
        assert!(store.record_webhook(&receipt(b, "k", 1)).await.unwrap());
        assert_eq!(store.recent_webhooks(a, 10).await.unwrap().len(), 1);
        assert_eq!(store.recent_webhooks(b, 10).await.unwrap().len(), 1);
    }
);

conformance!(
    an_agent_leg_names_its_agent_and_the_first_answer_stays,
    |store: Store| async move {
        let c = client(&store, "Acme").await;
        let other = client(&store, "Other").await;
        assert_eq!(store.agent_of_leg(c, "CA2").await.unwrap(), None);
        store.remember_agent_leg(c, "CA2", 5, 42, 1).await.unwrap();
        store.remember_agent_leg(c, "CA2", 5, 43, 2).await.unwrap();
        assert_eq!(store.agent_of_leg(c, "CA2").await.unwrap(), Some(42));
        assert_eq!(store.agent_of_leg(other, "CA2").await.unwrap(), None);
    }
);

conformance!(
    a_received_event_stays_pending_until_applied_and_old_receipts_are_pruned,
    |store: Store| async move {
        let c = client(&store, "Acme").await;
        let event = r#"{"kind":"ringing","call_id":7,"sid":"CA1"}"#;
        let with = |key, at| NewReceipt {
            event: Some(event),
            ..receipt(c, key, at)
        };
        assert!(store
            .record_webhook(&with("status:CA1:ringing", 10))
            .await
            .unwrap());
        assert!(store
            .record_webhook(&with("status:CA1:in-progress", 20))
            .await
            .unwrap());
        assert!(store
            .record_webhook(&receipt(c, "conference:CF1:1", 15))
            .await
            .unwrap());
        let pending = store.unapplied_webhooks(10).await.unwrap();
        assert_eq!(
            pending
                .iter()
                .map(|p| p.event_key.as_str())
                .collect::<Vec<_>>(),
            ["status:CA1:ringing", "status:CA1:in-progress"],
            "events only, oldest first"
        );
        assert_eq!(pending[0].event, event);
        store
            .webhook_applied(c, "status:CA1:ringing", 30)
            .await
            .unwrap();
        let pending = store.unapplied_webhooks(10).await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(store.prune_webhooks(16).await.unwrap(), 2);
        assert_eq!(store.webhook_count(c).await.unwrap(), 1);
    }
);
