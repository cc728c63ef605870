//! Conformance of recordings and transcripts (issue 13) on SQLite and PostgreSQL: the pause
//! timeline, the fetch life with its retries, retention that deletes exactly the expired
//! recordings with their lines, transcripts kept in order, and search scoped to one client.

use palera_core::contact::{ContactFields, PropertySchema};
use palera_core::ids::{CallId, ClientId, UserId};
use palera_core::recording::{Pause, RecordingStatus, SearchQuery, Speaker, TranscriptLine};
use palera_core::tenant::ClientFields;
use palera_core::user::{Email, Role};
use palera_store::clients::SecretInput;
use palera_store::contacts::Actor;
use palera_store::recordings::{FetchFailure, RecordingSettings};
use palera_store::transcripts::TranscriptKind;
use palera_store::users::NewUser;
use palera_store::{conformance, Store, StoreError};

const DAY: i64 = 86_400_000;

async fn client(store: &Store, name: &str) -> ClientId {
    let settings = ClientFields {
        name: name.into(),
        ..Default::default()
    }
    .validate()
    .unwrap();
    store
        .create_client(&settings, &SecretInput::default(), &[], 1)
        .await
        .unwrap()
        .id
}

async fn agent(store: &Store, c: ClientId, phone: &str) -> UserId {
    let u = NewUser {
        email: Email::parse("email", &format!("a{}-{}@x.io", c.0, &phone[1..])).unwrap(),
        name: "Ann".into(),
        role: Role::Agent,
        password_hash: "hash".into(),
        voice_enabled: true,
        clients: vec![c],
    };
    store.create_user(&u, 1).await.unwrap().id
}

/// A manual call of a new contact of `c`, placed at `at`.
async fn call(store: &Store, c: ClientId, phone: &str, at: i64) -> CallId {
    let data = ContactFields {
        phone: phone.into(),
        first_name: Some("Carla".into()),
        last_name: Some("Diaz".into()),
        ..Default::default()
    }
    .validate(&PropertySchema::default(), None)
    .unwrap();
    let contact = store
        .create_contact(c, None, &data, &Actor::system("test"), at)
        .await
        .unwrap();
    let a = agent(store, c, phone).await;
    store
        .create_manual_call(c, contact.id, a, phone, at)
        .await
        .unwrap()
        .id
}

fn line(seq: u32, speaker: Speaker, text: &str) -> TranscriptLine {
    TranscriptLine {
        seq,
        speaker,
        start_ms: u64::from(seq) * 2000,
        end_ms: u64::from(seq) * 2000 + 1500,
        text: text.into(),
    }
}

conformance!(
    pause_and_resume_are_marked_on_the_recording_timeline,
    |store: Store| async move {
        let c = client(&store, "Acme").await;
        let k = call(&store, c, "+14155550100", 1_000).await;
        let rec = store.start_recording(k, None, true, 10_000).await.unwrap();
        assert_eq!(rec.status, RecordingStatus::Recording);
        let again = store.start_recording(k, None, true, 12_000).await.unwrap();
        assert_eq!(
            (again.id, again.started_at),
            (rec.id, 10_000),
            "starts once"
        );

        let r = store.mark_pause(rec.id, true, 15_000).await.unwrap();
        assert_eq!(
            r.pauses,
            [Pause {
                paused_ms: 5_000,
                resumed_ms: None
            }]
        );
        let twice = store.mark_pause(rec.id, true, 16_000).await.unwrap_err();
        assert!(matches!(twice, StoreError::Conflict { ref field, .. } if field == "recording"));
        store.mark_pause(rec.id, false, 21_000).await.unwrap();
        store.mark_pause(rec.id, true, 30_000).await.unwrap();
        // The call ends while paused: the open pause closes with the recording.
        let done = store
            .recording_ready(k, Some("RE1"), "https://carrier/RE1", 25, 35_000)
            .await
            .unwrap();
        assert_eq!(done.status, RecordingStatus::Pending);
        assert_eq!(
            done.pauses,
            [
                Pause {
                    paused_ms: 5_000,
                    resumed_ms: Some(11_000)
                },
                Pause {
                    paused_ms: 20_000,
                    resumed_ms: Some(25_000)
                }
            ]
        );
        let late = store.mark_pause(rec.id, false, 36_000).await.unwrap_err();
        assert!(matches!(late, StoreError::Conflict { .. }));
    }
);

conformance!(
    a_fetch_that_fails_is_retried_and_then_shown_as_failed,
    |store: Store| async move {
        let c = client(&store, "Acme").await;
        let k = call(&store, c, "+14155550100", 1_000).await;
        store.start_recording(k, None, false, 2_000).await.unwrap();
        store
            .recording_ready(k, Some("RE1"), "https://carrier/RE1", 30, 40_000)
            .await
            .unwrap();
        assert!(store
            .claim_due_fetches(39_999, 10)
            .await
            .unwrap()
            .is_empty());
        let got = store.claim_due_fetches(40_000, 10).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].status, got[0].attempts),
            (RecordingStatus::Fetching, 1)
        );
        assert!(
            store
                .claim_due_fetches(40_000, 10)
                .await
                .unwrap()
                .is_empty(),
            "a claimed fetch is not claimed twice"
        );
        let failure = FetchFailure {
            error: "carrier unreachable",
            retry_at_ms: Some(55_000),
        };
        let r = store
            .recording_fetch_failed(got[0].id, &failure)
            .await
            .unwrap();
        assert_eq!(r.status, RecordingStatus::Pending);
        assert_eq!(r.last_error.as_deref(), Some("carrier unreachable"));
        assert!(store
            .claim_due_fetches(54_000, 10)
            .await
            .unwrap()
            .is_empty());
        let again = store.claim_due_fetches(55_000, 10).await.unwrap();
        assert_eq!(again[0].attempts, 2);
        let last = FetchFailure {
            error: "disk full",
            retry_at_ms: None,
        };
        let r = store
            .recording_fetch_failed(again[0].id, &last)
            .await
            .unwrap();
        assert_eq!(r.status, RecordingStatus::Failed);
        assert_eq!(r.last_error.as_deref(), Some("disk full"));
        assert!(store
            .claim_due_fetches(i64::MAX, 10)
            .await
            .unwrap()
            .is_empty());
        // Storing later clears the error.
        let r = store
            .recording_stored(r.id, "k/1.wav", "audio/wav", 44, 60_000)
            .await
            .unwrap();
        assert_eq!((r.status, r.last_error), (RecordingStatus::Stored, None));
    }
);

conformance!(
    retention_deletes_expired_recordings_and_their_lines_and_nothing_else,
    |store: Store| async move {
        let a = client(&store, "Acme").await;
        let b = client(&store, "Bolt").await;
        let now = 100 * DAY;
        let old_a = call(&store, a, "+14155550100", now - 40 * DAY).await;
        let new_a = call(&store, a, "+14155550101", now - 5 * DAY).await;
        let old_b = call(&store, b, "+14155550102", now - 40 * DAY).await;
        for (k, client, at) in [
            (old_a, a, now - 40 * DAY),
            (new_a, a, now - 5 * DAY),
            (old_b, b, now - 40 * DAY),
        ] {
            store.start_recording(k, None, true, at).await.unwrap();
            store
                .recording_ready(k, None, "u", 10, at + 1)
                .await
                .unwrap();
            store
                .add_transcript_line(
                    client,
                    k,
                    TranscriptKind::Live,
                    &line(0, Speaker::Agent, "hello there"),
                )
                .await
                .unwrap();
        }
        assert!(
            store.expired_recordings(now, 100).await.unwrap().is_empty(),
            "no retention set: kept"
        );
        let s = RecordingSettings {
            retention_days: Some(30),
            delete_at_carrier: true,
            ..Default::default()
        };
        assert_eq!(store.save_recording_settings(a, &s, now).await.unwrap(), s);
        let expired = store.expired_recordings(now, 100).await.unwrap();
        assert_eq!(
            expired.iter().map(|r| r.call_id).collect::<Vec<_>>(),
            [old_a]
        );
        store.delete_recording(expired[0].id).await.unwrap();
        assert!(store.recording_for_call(a, old_a).await.unwrap().is_none());
        assert!(store
            .transcript(a, old_a, TranscriptKind::Live)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            store.call(a, old_a).await.unwrap().id,
            old_a,
            "the call stays"
        );
        assert!(store.recording_for_call(a, new_a).await.unwrap().is_some());
        assert_eq!(
            store
                .transcript(a, new_a, TranscriptKind::Live)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(
            store.recording_for_call(b, old_b).await.unwrap().is_some(),
            "another client's retention"
        );
        assert_eq!(
            store
                .transcript(b, old_b, TranscriptKind::Live)
                .await
                .unwrap()
                .len(),
            1
        );
        let q = SearchQuery::parse("hello").unwrap();
        assert_eq!(
            store.search_transcripts(a, &q, 10).await.unwrap().len(),
            1,
            "the deleted line is out of the index"
        );
        assert!(store.expired_recordings(now, 100).await.unwrap().is_empty());
    }
);

conformance!(
    live_lines_are_kept_in_order_once_and_a_post_call_transcript_replaces_the_last,
    |store: Store| async move {
        let c = client(&store, "Acme").await;
        let k = call(&store, c, "+14155550100", 1_000).await;
        for l in [
            line(1, Speaker::Contact, "second"),
            line(0, Speaker::Agent, "first"),
        ] {
            assert!(store
                .add_transcript_line(c, k, TranscriptKind::Live, &l)
                .await
                .unwrap());
        }
        assert!(!store
            .add_transcript_line(
                c,
                k,
                TranscriptKind::Live,
                &line(1, Speaker::Contact, "again")
            )
            .await
            .unwrap());
        let live = store.transcript(c, k, TranscriptKind::Live).await.unwrap();
        assert_eq!(
            live.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
            ["first", "second"]
        );

        let rec = store.start_recording(k, None, true, 2_000).await.unwrap();
        store
            .recording_ready(k, None, "u", 10, 3_000)
            .await
            .unwrap();
        let r = store
            .recording_stored(rec.id, "k", "audio/wav", 1, 4_000)
            .await
            .unwrap();
        assert_eq!(r.transcript_status, "pending");
        let due = store.claim_due_transcripts(4_000, 10).await.unwrap();
        assert_eq!((due.len(), due[0].transcript_attempts), (1, 1));
        store
            .transcript_failed(rec.id, "engine busy", Some(5_000))
            .await
            .unwrap();
        assert_eq!(
            store
                .recording(c, rec.id)
                .await
                .unwrap()
                .transcript_error
                .as_deref(),
            Some("engine busy")
        );
        let due = store.claim_due_transcripts(5_000, 10).await.unwrap();
        assert_eq!(due[0].transcript_attempts, 2);
        // Waiting on a carrier's job is no attempt; the job keeps the time it was first asked.
        store
            .transcript_waiting(rec.id, "GT1", 5_000, 6_000)
            .await
            .unwrap();
        assert!(store
            .claim_due_transcripts(5_999, 10)
            .await
            .unwrap()
            .is_empty());
        let due = store.claim_due_transcripts(6_000, 10).await.unwrap();
        assert_eq!(due[0].transcript_attempts, 2);
        assert_eq!(
            (due[0].transcript_job.as_deref(), due[0].transcript_job_at),
            (Some("GT1"), Some(5_000))
        );
        store
            .transcript_waiting(rec.id, "GT1", 6_000, 7_000)
            .await
            .unwrap();
        let due = store.claim_due_transcripts(7_000, 10).await.unwrap();
        assert_eq!(due[0].transcript_job_at, Some(5_000), "the same job");
        // A process that stops mid-transcript leaves it `working`: the start releases it.
        assert_eq!(store.release_stale_fetches().await.unwrap(), 1);
        let due = store.claim_due_transcripts(7_000, 10).await.unwrap();
        assert_eq!(due.len(), 1, "claimed again after the release");
        // A failure forgets the job, so the next attempt asks for a new one.
        store
            .transcript_failed(
                rec.id,
                "Twilio's transcript GT1 ended as failed",
                Some(7_000),
            )
            .await
            .unwrap();
        let due = store.claim_due_transcripts(7_000, 10).await.unwrap();
        assert_eq!(
            (due[0].transcript_job.as_deref(), due[0].transcript_attempts),
            (None, 4)
        );
        store
            .save_final_transcript(rec.id, &[line(0, Speaker::Agent, "old text")])
            .await
            .unwrap();
        let final_lines = [
            line(0, Speaker::Agent, "Thanks for calling"),
            line(1, Speaker::Contact, "My card number is private"),
        ];
        store
            .save_final_transcript(rec.id, &final_lines)
            .await
            .unwrap();
        assert_eq!(
            store.transcript(c, k, TranscriptKind::Final).await.unwrap(),
            final_lines
        );
        let r = store.recording(c, rec.id).await.unwrap();
        assert_eq!(
            (r.transcript_status.as_str(), r.transcript_error),
            ("done", None)
        );
    }
);

conformance!(
    a_post_call_transcript_is_found_by_search_only_in_its_clients_transcripts,
    |store: Store| async move {
        let a = client(&store, "Acme").await;
        let b = client(&store, "Bolt").await;
        let ka = call(&store, a, "+14155550100", 1_000).await;
        let kb = call(&store, b, "+14155550101", 1_000).await;
        let ra = store.start_recording(ka, None, true, 2_000).await.unwrap();
        let rb = store.start_recording(kb, None, true, 2_000).await.unwrap();
        let lines = [
            line(
                0,
                Speaker::Agent,
                "Hello, this is Palera calling about your renewal.",
            ),
            line(
                1,
                Speaker::Contact,
                "Yes, the premium plan renewal, please.",
            ),
        ];
        store.save_final_transcript(ra.id, &lines).await.unwrap();
        store.save_final_transcript(rb.id, &lines).await.unwrap();

        let hits = store
            .search_transcripts(a, &SearchQuery::parse("premium PLAN").unwrap(), 10)
            .await
            .unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!((hits[0].call_id, hits[0].line.seq), (ka, 1));
        assert_eq!(hits[0].contact.as_deref(), Some("Carla Diaz"));
        assert_eq!(hits[0].line.speaker, Speaker::Contact);
        // One hit per call, the newest line first.
        let renewal = store
            .search_transcripts(a, &SearchQuery::parse("renewal").unwrap(), 10)
            .await
            .unwrap();
        assert_eq!(renewal.len(), 1);
        assert_eq!(renewal[0].line.seq, 1);
        // Words out of order are not the phrase.
        assert!(store
            .search_transcripts(a, &SearchQuery::parse("plan premium").unwrap(), 10)
            .await
            .unwrap()
            .is_empty());
        let theirs = store
            .search_transcripts(b, &SearchQuery::parse("premium plan").unwrap(), 10)
            .await
            .unwrap();
        assert_eq!(theirs.iter().map(|h| h.call_id).collect::<Vec<_>>(), [kb]);
    }
);

conformance!(
    another_clients_recording_is_not_found,
    |store: Store| async move {
        let a = client(&store, "Acme").await;
        let b = client(&store, "Bolt").await;
        let k = call(&store, a, "+14155550100", 1_000).await;
        let rec = store.start_recording(k, None, false, 2_000).await.unwrap();
        assert_eq!(store.recording(a, rec.id).await.unwrap().call_id, k);
        assert!(matches!(
            store.recording(b, rec.id).await,
            Err(StoreError::NotFound)
        ));
    }
);

conformance!(
    search_finds_the_newest_matches_first_for_frequent_and_rare_words_beyond_the_newest_lines,
    |store: Store| async move {
        let a = client(&store, "Acme").await;
        let b = client(&store, "Bolt").await;
        // The oldest call holds the rare word; 21,000 newer lines (more than the 20,000 the
        // PostgreSQL search reads in id order first) hold a frequent one.
        let old = call(&store, a, "+14155550000", 1_000).await;
        let rare: Vec<TranscriptLine> = (0..3)
            .map(|i| line(i, Speaker::Contact, "the zeppelin plan"))
            .collect();
        store
            .add_transcript_lines(a, old, TranscriptKind::Final, &rare)
            .await
            .unwrap();
        let theirs = call(&store, b, "+14155559999", 1_000).await;
        store
            .add_transcript_lines(b, theirs, TranscriptKind::Final, &rare)
            .await
            .unwrap();
        let mut calls = Vec::new();
        for i in 1..=42u32 {
            let k = call(&store, a, &format!("+1415555{i:04}"), 1_000 + i64::from(i)).await;
            let lines: Vec<TranscriptLine> = (0..500)
                .map(|s| line(s, Speaker::Agent, "your plan renews today"))
                .collect();
            store
                .add_transcript_lines(a, k, TranscriptKind::Final, &lines)
                .await
                .unwrap();
            calls.push(k);
        }
        let found = |text: &str, limit: i64| {
            let store = store.clone();
            let q = SearchQuery::parse(text).unwrap();
            async move { store.search_transcripts(a, &q, limit).await.unwrap() }
        };
        // Frequent: the five newest calls, each by its newest line.
        let plan = found("plan", 5).await;
        let newest: Vec<CallId> = calls.iter().rev().take(5).copied().collect();
        assert_eq!(plan.iter().map(|h| h.call_id).collect::<Vec<_>>(), newest);
        assert!(
            plan.iter().all(|h| h.line.seq == 499),
            "the newest line of each call"
        );
        // Rare, and only in the oldest call: still found, and not the other client's.
        let zeppelin = found("zeppelin", 5).await;
        assert_eq!(
            zeppelin.iter().map(|h| h.call_id).collect::<Vec<_>>(),
            [old]
        );
        assert_eq!(zeppelin[0].line.seq, 2);
        assert_eq!(
            found("zeppelin plan", 5).await.len(),
            1,
            "a phrase beyond the newest lines"
        );
    }
);
