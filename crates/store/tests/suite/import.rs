//! Import and export rules (issue 4) on SQLite and PostgreSQL: every row lands in exactly one
//! bucket even for hostile files, re-imports change nothing, a contact is never in two lists,
//! failed imports resume without partial batches, and exports guard against CSV injection.

use crate::common::new_client;
use palera_core::contact::PropertyFields;
use palera_core::ids::{ClientId, ListId};
use palera_core::import::{ImportOptions, ImportSummary};
use palera_core::phone::PhoneNumber;
use palera_store::contacts::ContactFilter;
use palera_store::import::{run_import, ImportError, JobStatus};
use palera_store::{conformance, Store};
use std::io::Read;

async fn import_with<R: Read + Send + 'static>(
    store: &Store,
    client: ClientId,
    list: ListId,
    src: R,
    options: ImportOptions,
) -> Result<ImportSummary, ImportError> {
    let job = store
        .create_import_job(client, list, "t.csv", 0, options, &[], None, 1)
        .await
        .unwrap();
    run_import(store, &job, src, || 1000).await
}

async fn import(store: &Store, client: ClientId, list: ListId, csv: &[u8]) -> ImportSummary {
    import_with(
        store,
        client,
        list,
        std::io::Cursor::new(csv.to_vec()),
        ImportOptions::default(),
    )
    .await
    .unwrap()
}

fn sum(s: &ImportSummary) -> u64 {
    s.imported
        + s.updated
        + s.moved_from_list
        + s.duplicates_in_file
        + s.on_dnc
        + s.rejected.len() as u64
}

fn check_sum(s: &ImportSummary, rows: u64) {
    assert_eq!(s.rows, rows, "{s:?}");
    assert_eq!(sum(s), rows, "{s:?}");
}

conformance!(
    bucket_sums_equal_the_row_count_on_hostile_files,
    |store: Store| async move {
        let c = new_client("A").country("US").create(&store).await;
        let l = store.create_list(c, "New", 1).await.unwrap();
        let cases: &[(&[u8], u64)] = &[
            (b"", 0),
            (b"\xEF\xBB\xBF", 0),
            (b"phone,first_name\n", 0),
            (
                b"phone,first_name\r\n+14155550100,Ann\r+14155550101,Bob\n+14155550102,Cy\r\n",
                3,
            ),
            (
                b"phone,first_name\n+14155550110,\xFF\xFE\n+14155550111,ok\n",
                2,
            ),
            (
                b"phone,email,Email\n+14155550120,a@b.io,c@d.io\n+14155550121,,\n",
                2,
            ),
            (b"name\nAnn\nBob\n", 2),
            (
                b"phone;first_name\n+14155550130;\"multi\nline\"\n4155550131;x;extra\n",
                2,
            ),
            (
                b"phone\tfirst_name\n+14155550140\t=cmd()\nnot-a-number\tx\n",
                2,
            ),
            (b"phone,first_name\n\"+14155550150\",\"unterminated\n", 1),
        ];
        for (csv, rows) in cases {
            let s = import(&store, c, l.id, csv).await;
            check_sum(&s, *rows);
        }
        // Duplicate headers reject every row, naming both columns.
        let s = import(
            &store,
            c,
            l.id,
            b"phone,email,Email\n+14155550160,a@b.io,a@b.io\n",
        )
        .await;
        assert!(s.rejected[0].reason.contains("both map to email"), "{s:?}");
        // Invalid UTF-8 rejects just that row, with its line.
        let s = import(
            &store,
            c,
            l.id,
            b"phone,first_name\n+14155550170,ok\n+14155550171,\xC3\x28\n",
        )
        .await;
        assert_eq!(s.imported, 1);
        assert_eq!(s.rejected.len(), 1);
        assert_eq!(s.rejected[0].line, 3);
        assert!(s.rejected[0].reason.contains("UTF-8"));
        // A national number uses the client's default country.
        let s = import(&store, c, l.id, b"Phone Number\n(415) 555-0180\n").await;
        assert_eq!(s.imported, 1);
        assert!(store
            .contact_by_phone(c, &PhoneNumber::parse_e164("+14155550180").unwrap())
            .await
            .unwrap()
            .is_some());
    }
);

conformance!(
    rejected_rows_carry_their_line_and_reason_and_bad_optional_fields_are_warnings,
    |store: Store| async move {
        let c = new_client("A").country("US").create(&store).await;
        let age = PropertyFields {
            name: "age".into(),
            kind: "number".into(),
            ..Default::default()
        }
        .validate()
        .unwrap();
        store.define_property(c, &age, 1).await.unwrap();
        let l = store.create_list(c, "New", 1).await.unwrap();
        let s = import(
            &store,
            c,
            l.id,
            b"phone,email,age\n12,,\n+14155550100,bad,\n+14155550101,,old\n+14155550102,,1,2\n+14155550103,x@y.io,7\n",
        )
        .await;
        check_sum(&s, 5);
        assert_eq!(
            s.imported, 3,
            "a bad e-mail or optional property keeps the contact"
        );
        let got: Vec<(u64, &str)> = s
            .rejected
            .iter()
            .map(|r| (r.line, r.reason.split(':').next().unwrap()))
            .collect();
        assert_eq!(got, [(2, "bad number"), (5, "wrong column count")]);
        let warned: Vec<(u64, &str)> = s
            .warnings
            .iter()
            .map(|w| (w.line, w.field.as_str()))
            .collect();
        assert_eq!(warned, [(3, "email"), (4, "properties.age")]);
    }
);

conformance!(
    reimporting_the_same_file_changes_nothing_and_reports_every_row_as_updated_or_duplicate,
    |store: Store| async move {
        let c = new_client("A").country("US").create(&store).await;
        let l = store.create_list(c, "New", 1).await.unwrap();
        let mut csv = b"phone,first_name,last_name\n".to_vec();
        for i in 0..4500 {
            csv.extend(format!("+1415555{:04},F{i},L{i}\n", i % 4000).as_bytes());
        }
        let first = import(&store, c, l.id, &csv).await;
        check_sum(&first, 4500);
        assert_eq!((first.imported, first.duplicates_in_file), (4000, 500));
        let filter = ContactFilter::default();
        let before = store
            .search_contacts(c, &filter, None, 10_000)
            .await
            .unwrap();
        let again = import(&store, c, l.id, &csv).await;
        check_sum(&again, 4500);
        assert_eq!((again.updated, again.duplicates_in_file), (4000, 500));
        let after = store
            .search_contacts(c, &filter, None, 10_000)
            .await
            .unwrap();
        assert_eq!(before, after);
        // The only history is the list each contact came into with the first import.
        for contact in after.iter().take(20) {
            let h = store.contact_history(c, contact.id).await.unwrap();
            assert_eq!(h.len(), 1, "{h:?}");
            assert_eq!(
                (
                    h[0].field.as_str(),
                    h[0].old_value.clone(),
                    h[0].new_value.clone()
                ),
                ("list", None, Some(l.id.0.to_string()))
            );
        }
    }
);

conformance!(
    an_import_updates_changed_fields_records_history_and_keeps_what_the_file_leaves_empty,
    |store: Store| async move {
        let c = new_client("A").country("US").create(&store).await;
        let l = store.create_list(c, "New", 1).await.unwrap();
        import(
            &store,
            c,
            l.id,
            b"phone,first_name,email\n+14155550100,Ann,ann@x.io\n",
        )
        .await;
        let s = import(
            &store,
            c,
            l.id,
            b"phone,first_name,email\n+14155550100,Anna,\n",
        )
        .await;
        assert_eq!(s.updated, 1);
        let got = store
            .contact_by_phone(c, &PhoneNumber::parse_e164("+14155550100").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (got.first_name.as_str(), got.email.as_deref()),
            ("Anna", Some("ann@x.io"))
        );
        let h = store.contact_history(c, got.id).await.unwrap();
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!(h[0].field, "list");
        assert_eq!(h[1].field, "first_name");
        assert!(h[1].source.starts_with("import:"));
        assert_ne!(h[0].source, h[1].source, "two imports, two sources");
    }
);

conformance!(
    a_number_in_another_list_is_moved_or_skipped_as_the_option_says,
    |store: Store| async move {
        let c = new_client("A").country("US").create(&store).await;
        let a = store.create_list(c, "A", 1).await.unwrap();
        let b = store.create_list(c, "B", 1).await.unwrap();
        let csv = b"phone\n+14155550100\n+14155550101\n";
        import(&store, c, a.id, csv).await;
        let keep = ImportOptions {
            move_from_other_lists: false,
            skip_dnc: false,
        };
        let s = import_with(&store, c, b.id, std::io::Cursor::new(csv.to_vec()), keep)
            .await
            .unwrap();
        assert_eq!(s.moved_from_list, 2);
        let counts: Vec<i64> = store
            .list_counts(c)
            .await
            .unwrap()
            .iter()
            .map(|l| l.contacts)
            .collect();
        assert_eq!(counts, [2, 0]);
        let s = import(&store, c, b.id, csv).await;
        assert_eq!(s.moved_from_list, 2);
        let counts: Vec<i64> = store
            .list_counts(c)
            .await
            .unwrap()
            .iter()
            .map(|l| l.contacts)
            .collect();
        assert_eq!(counts, [0, 2]);
        let id = store
            .contact_by_phone(c, &PhoneNumber::parse_e164("+14155550100").unwrap())
            .await
            .unwrap()
            .unwrap()
            .id;
        let moves = store.contact_history(c, id).await.unwrap();
        assert_eq!(moves.len(), 2, "{moves:?}");
        assert_eq!(
            (moves[0].old_value.clone(), moves[0].new_value.clone()),
            (None, Some(a.id.0.to_string())),
            "the import into A is where it came from"
        );
        assert_eq!(
            (moves[1].old_value.clone(), moves[1].new_value.clone()),
            (Some(a.id.0.to_string()), Some(b.id.0.to_string()))
        );
    }
);

conformance!(
    numbers_on_dnc_are_imported_flagged_or_skipped_by_option,
    |store: Store| async move {
        let c = new_client("A").country("US").create(&store).await;
        let l = store.create_list(c, "New", 1).await.unwrap();
        let dnc = PhoneNumber::parse_e164("+14155550100").unwrap();
        store.add_dnc(c, &dnc, "api", 1).await.unwrap();
        let skip = ImportOptions {
            move_from_other_lists: true,
            skip_dnc: true,
        };
        let csv = b"phone\n+14155550100\n+14155550101\n";
        let s = import_with(&store, c, l.id, std::io::Cursor::new(csv.to_vec()), skip)
            .await
            .unwrap();
        assert_eq!((s.on_dnc, s.imported), (1, 1));
        assert!(store.contact_by_phone(c, &dnc).await.unwrap().is_none());
        let s = import(&store, c, l.id, csv).await;
        assert_eq!((s.on_dnc, s.updated), (1, 1));
        assert!(store.contact_by_phone(c, &dnc).await.unwrap().is_some());
    }
);

conformance!(
    concurrent_imports_of_one_number_into_two_lists_leave_it_in_exactly_one,
    |store: Store| async move {
        let c = new_client("A").country("US").create(&store).await;
        let a = store.create_list(c, "A", 1).await.unwrap();
        let b = store.create_list(c, "B", 1).await.unwrap();
        for round in 0..2 {
            let mut csv = b"phone\n".to_vec();
            for i in 0..2500 {
                csv.extend(format!("+1415{}55{i:04}\n", round + 2).as_bytes());
            }
            let keep = ImportOptions {
                move_from_other_lists: false,
                skip_dnc: false,
            };
            let (sa, sb) = tokio::join!(
                import_with(&store, c, a.id, std::io::Cursor::new(csv.clone()), keep),
                import_with(&store, c, b.id, std::io::Cursor::new(csv.clone()), keep),
            );
            let (sa, sb) = (sa.unwrap(), sb.unwrap());
            check_sum(&sa, 2500);
            check_sum(&sb, 2500);
            // Each number was new to exactly one import; the other found it in the first list.
            assert_eq!(sa.imported + sb.imported, 2500, "{sa:?} {sb:?}");
            assert_eq!(
                sa.moved_from_list + sb.moved_from_list,
                2500,
                "{sa:?} {sb:?}"
            );
            let counts: Vec<i64> = store
                .list_counts(c)
                .await
                .unwrap()
                .iter()
                .map(|l| l.contacts)
                .collect();
            assert_eq!(counts.iter().sum::<i64>(), 2500 * (round + 1));
        }
    }
);

/// A reader that fails after `limit` bytes, as a killed process or a full disk would.
struct FailAfter {
    data: std::io::Cursor<Vec<u8>>,
    limit: u64,
}

impl Read for FailAfter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.limit.saturating_sub(self.data.position());
        if left == 0 {
            return Err(std::io::Error::other("disk went away"));
        }
        let n = buf.len().min(left as usize);
        self.data.read(&mut buf[..n])
    }
}

conformance!(
    a_failed_import_keeps_whole_batches_only_and_resumes_after_the_last_committed_line,
    |store: Store| async move {
        let c = new_client("A").country("US").create(&store).await;
        let l = store.create_list(c, "New", 1).await.unwrap();
        let mut csv = b"phone,first_name\n".to_vec();
        for i in 0..9000 {
            csv.extend(format!("+1415555{i:04},Name{i}\n").as_bytes());
        }
        let job = store
            .create_import_job(
                c,
                l.id,
                "t.csv",
                csv.len() as i64,
                ImportOptions::default(),
                &[],
                None,
                1,
            )
            .await
            .unwrap();
        let failing = FailAfter {
            data: std::io::Cursor::new(csv.clone()),
            limit: (csv.len() / 2) as u64,
        };
        assert!(run_import(&store, &job, failing, || 5).await.is_err());
        let stopped = store.import_job(c, job.id).await.unwrap();
        assert_eq!(stopped.status, JobStatus::Failed);
        let stored = store
            .count_contacts(c, &ContactFilter::default())
            .await
            .unwrap();
        assert_eq!(stored as u64, stopped.counts.rows);
        assert_eq!(stored % 2000, 0, "only whole batches are committed");
        assert_eq!(stopped.last_line as u64, stopped.counts.rows + 1);
        let s = run_import(&store, &stopped, std::io::Cursor::new(csv.clone()), || 6)
            .await
            .unwrap();
        check_sum(&s, 9000);
        assert_eq!(s.imported, 9000);
        assert_eq!(
            store.import_job(c, job.id).await.unwrap().status,
            JobStatus::Done
        );
    }
);

conformance!(
    exports_guard_formulas_and_import_back_unchanged,
    |store: Store| async move {
        let c = new_client("A").country("US").create(&store).await;
        let l = store.create_list(c, "New", 1).await.unwrap();
        let s = import(
            &store,
            c,
            l.id,
            b"phone,first_name,last_name\n+14155550100,=cmd(),\"a,b\"\n+14155550101,@x,\"multi\nline\"\n",
        )
        .await;
        assert_eq!(s.imported, 2);
        let filter = ContactFilter {
            list: Some(l.id),
            ..Default::default()
        };
        let mut out = Vec::new();
        store.export_contacts(c, &filter, &mut out).await.unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.contains("'=cmd()"), "{text}");
        assert!(text.contains("'@x"), "{text}");
        assert!(text.contains("+14155550100,"), "{text}");
        let before = store.search_contacts(c, &filter, None, 10).await.unwrap();
        let again = import(&store, c, l.id, &out).await;
        assert_eq!(again.updated, 2);
        assert_eq!(
            store.search_contacts(c, &filter, None, 10).await.unwrap(),
            before
        );
    }
);

conformance!(
    an_imported_contact_has_a_history_row_for_the_list_it_came_into,
    |store: Store| async move {
        let c = new_client("A").country("US").create(&store).await;
        let l = store.create_list(c, "New", 1).await.unwrap();
        let mut csv = b"phone\n".to_vec();
        for i in 0..2500 {
            csv.extend(format!("+1415555{i:04}\n").as_bytes());
        }
        let job = store
            .create_import_job(c, l.id, "t.csv", 0, ImportOptions::default(), &[], None, 1)
            .await
            .unwrap();
        run_import(&store, &job, std::io::Cursor::new(csv), || 77)
            .await
            .unwrap();
        let all = store
            .search_contacts(c, &ContactFilter::default(), None, 3000)
            .await
            .unwrap();
        assert_eq!(all.len(), 2500);
        for contact in [&all[0], &all[1999], &all[2000], &all[2499]] {
            let h = store.contact_history(c, contact.id).await.unwrap();
            assert_eq!(h.len(), 1, "{h:?}");
            assert_eq!(h[0].field, "list");
            assert_eq!(h[0].old_value, None);
            assert_eq!(h[0].new_value, Some(l.id.0.to_string()));
            assert_eq!(h[0].source, format!("import:{}", job.id));
            assert_eq!(h[0].at, 77);
        }
    }
);
