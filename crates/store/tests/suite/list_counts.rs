//! Lists show counts (issue 4) read from `list_counts`, which the database keeps in the same
//! transaction as every contact write. On SQLite and PostgreSQL: after imports (new, updated,
//! moved, skipped), moves by selection and by filter, single adds and deletes, deleting a list
//! and two concurrent imports of the same numbers into two lists, the stored counts equal a
//! fresh count of the contacts.

use crate::common::new_client;
use palera_core::contact::{ContactFields, PropertySchema};
use palera_core::ids::{ClientId, ListId};
use palera_core::import::{ImportOptions, ImportSummary};
use palera_store::contacts::{Actor, ContactFilter, ContactSelection};
use palera_store::import::run_import;
use palera_store::{conformance, Store};

/// Rows `from..to` as a CSV of distinct numbers.
fn csv(from: u32, to: u32) -> Vec<u8> {
    let mut out = b"phone,first_name\n".to_vec();
    for i in from..to {
        out.extend(format!("+1415555{i:04},N{i}\n").as_bytes());
    }
    out
}

async fn import(
    store: &Store,
    c: ClientId,
    l: ListId,
    data: Vec<u8>,
    options: ImportOptions,
) -> ImportSummary {
    let job = store
        .create_import_job(c, l, "t.csv", 0, options, &[], None, 1)
        .await
        .unwrap();
    run_import(store, &job, std::io::Cursor::new(data), || 10)
        .await
        .unwrap()
}

/// The stored counts, checked against a recount; returns them in pipeline order.
async fn exact(store: &Store, c: ClientId, step: &str) -> Vec<i64> {
    let stored: Vec<(ListId, i64)> = store
        .list_counts(c)
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.list.id, l.contacts))
        .collect();
    let counted = store.list_counts_recounted(c).await.unwrap();
    assert_eq!(stored, counted, "after {step}");
    stored.into_iter().map(|(_, n)| n).collect()
}

fn actor() -> Actor {
    Actor::system("test")
}

conformance!(
    list_counts_stay_exact_after_imports_moves_deletes_and_concurrent_imports,
    |store: Store| async move {
        let c = new_client("Counts").country("US").create(&store).await;
        let a = store.create_list(c, "New leads", 1).await.unwrap().id;
        let b = store.create_list(c, "Follow-ups", 1).await.unwrap().id;
        let d = store.create_list(c, "Won", 1).await.unwrap().id;
        assert_eq!(exact(&store, c, "creating lists").await, [0, 0, 0]);

        import(&store, c, a, csv(0, 3000), ImportOptions::default()).await;
        assert_eq!(exact(&store, c, "an import").await, [3000, 0, 0]);

        // 1,000 new, 1,000 moved in from A.
        let s = import(&store, c, b, csv(2000, 4000), ImportOptions::default()).await;
        assert_eq!((s.imported, s.moved_from_list), (1000, 1000));
        assert_eq!(
            exact(&store, c, "an import that moves").await,
            [2000, 2000, 0]
        );

        // Re-importing updates in place; without moving, numbers of other lists stay.
        let keep = ImportOptions {
            move_from_other_lists: false,
            ..Default::default()
        };
        import(&store, c, b, csv(1500, 4000), keep).await;
        assert_eq!(exact(&store, c, "updates and skips").await, [2000, 2000, 0]);

        let in_b = ContactFilter {
            list: Some(b),
            search: Some("N30".into()),
            ..Default::default()
        };
        let moved = store
            .move_contacts(c, &ContactSelection::Filter(in_b), Some(d), &actor(), 20)
            .await
            .unwrap();
        assert_eq!(moved, 100);
        assert_eq!(
            exact(&store, c, "a move by filter").await,
            [2000, 1900, 100]
        );

        let some: Vec<_> = store
            .search_contacts(
                c,
                &ContactFilter {
                    list: Some(a),
                    ..Default::default()
                },
                None,
                10,
            )
            .await
            .unwrap()
            .into_iter()
            .map(|x| x.id)
            .collect();
        store
            .move_contacts(
                c,
                &ContactSelection::Ids(some[..5].to_vec()),
                None,
                &actor(),
                21,
            )
            .await
            .unwrap();
        store.delete_contact(c, some[5]).await.unwrap();
        let data = ContactFields {
            phone: "+12125550100".into(),
            first_name: Some("Hand".into()),
            ..Default::default()
        }
        .validate(&PropertySchema::default(), None)
        .unwrap();
        let hand = store
            .create_contact(c, Some(d), &data, &actor(), 22)
            .await
            .unwrap();
        store
            .update_contact(c, hand.id, &data, &actor(), 23)
            .await
            .unwrap();
        assert_eq!(
            exact(&store, c, "moves out, a delete, an add").await,
            [1994, 1900, 101]
        );

        store.delete_list(c, d).await.unwrap();
        assert_eq!(exact(&store, c, "deleting a list").await, [1994, 1900]);

        // Two imports of the same 4,000 fresh numbers into A and B at once: each number ends up
        // in one list, and the counts follow whichever won each batch.
        let (x, y) = tokio::join!(
            import(&store, c, a, csv(5000, 9000), ImportOptions::default()),
            import(&store, c, b, csv(5000, 9000), ImportOptions::default()),
        );
        assert_eq!(x.rows + y.rows, 8000);
        let after = exact(&store, c, "concurrent imports").await;
        assert_eq!(after.iter().sum::<i64>(), 1994 + 1900 + 4000);
    }
);
