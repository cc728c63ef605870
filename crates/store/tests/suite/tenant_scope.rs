//! Conformance of client scope on SQLite and PostgreSQL (issue 19): every store function a
//! request handler reads or changes a client's rows through takes the client (or the caller's
//! scope of clients) and filters by it in SQL. Another client's id answers exactly what an
//! unknown id answers — `NotFound` for one row, nothing for a list — and a write to it is
//! `NotFound` and changes nothing, so no client can learn that another's ids exist.

use crate::common::new_client;
use palera_core::campaign::CampaignSettings;
use palera_core::ids::{
    CallId, CampaignId, ClientId, ContactId, RecordingId, ScriptId, ScriptVersionId, UserId,
};
use palera_core::recording::{Speaker, TranscriptLine};
use palera_core::script::{Run, ScriptBody, Step};
use palera_store::callbacks::NewCallback;
use palera_store::calls::{Claim, Enrolment};
use palera_store::campaigns::{CampaignInput, EffectKind, NewDisposition};
use palera_store::clients::Scope;
use palera_store::desk::NotesSave;
use palera_store::recordings::Recording;
use palera_store::reports::CycleDates;
use palera_store::scripts::Script;
use palera_store::transcripts::TranscriptKind;
use palera_store::{conformance, Store, StoreError};

/// An id no row has.
const UNKNOWN: i64 = 999_999;

/// Client `a` with one of everything a handler reads by id (a contact in a campaign, the
/// campaign's call with notes, recording, transcript and script run, dispositions, audio), and
/// client `b` with nothing.
struct World {
    a: ClientId,
    b: ClientId,
    user: UserId,
    contact: ContactId,
    campaign: CampaignId,
    call: CallId,
    recording: Recording,
    script: Script,
}

fn body() -> ScriptBody {
    ScriptBody {
        steps: vec![Step {
            key: "one".into(),
            title: "One".into(),
            text: "Hello".into(),
            ..Default::default()
        }],
    }
}

fn line(seq: u32) -> TranscriptLine {
    TranscriptLine {
        seq,
        speaker: Speaker::Agent,
        start_ms: 0,
        end_ms: 1_000,
        text: "hello".into(),
    }
}

fn dispositions(label: &str) -> Vec<NewDisposition> {
    vec![NewDisposition {
        label: label.into(),
        effect: EffectKind::Final,
        target_list: None,
    }]
}

/// Client `a`'s campaign of two contacts, enrolled; returns the first (the second stays due).
async fn campaign(store: &Store, a: ClientId) -> (ContactId, CampaignId) {
    let list = store.create_list(a, "Leads", 1).await.unwrap().id;
    let mut enrolments = Vec::new();
    for phone in ["+14155550111", "+14155550112"] {
        let contact = crate::campaigns::contact(store, a, list, phone).await;
        enrolments.push(Enrolment {
            contact_id: contact,
            phone: phone.into(),
            time_zone: Some("America/New_York".into()),
            name: "Ann".into(),
        });
    }
    let input = CampaignInput {
        name: "Spring".into(),
        settings: CampaignSettings::default(),
        caller_id: "+14155550100".into(),
        voicemail_url: None,
        hold_music_url: None,
        recording: true,
        transcription: true,
        lists: vec![list],
        agents: vec![],
    };
    let campaign = store.create_campaign(a, &input, 10).await.unwrap().id;
    store
        .enrol_contacts(campaign, a, &enrolments, 10)
        .await
        .unwrap();
    (enrolments[0].contact_id, campaign)
}

/// The campaign's call, with its notes, recording, transcript and dispositions.
async fn call(store: &Store, a: ClientId, contact: ContactId, campaign: CampaignId) -> CallId {
    let claim = Claim {
        campaign,
        client: a,
        contact,
        agent: None,
        phone: "+14155550111".into(),
        max_attempts: 2,
        now_ms: 20,
        cycle: "2026-03-02".into(),
    };
    let call = store.claim_contact(&claim).await.unwrap().unwrap().id;
    store
        .add_transcript_line(a, call, TranscriptKind::Live, &line(0))
        .await
        .unwrap();
    store
        .replace_dispositions(a, campaign, &dispositions("Sale"))
        .await
        .unwrap();
    store
        .put_campaign_audio(a, campaign, "voicemail", "audio/wav", b"RIFF")
        .await
        .unwrap();
    call
}

async fn world(store: &Store) -> World {
    let a = new_client("A")
        .numbers(&["+14155550100"])
        .create(store)
        .await;
    let b = new_client("B")
        .numbers(&["+14155550101"])
        .create(store)
        .await;
    let user = crate::scripts::author(store, a).await;
    let (contact, campaign) = campaign(store, a).await;
    let call = call(store, a, contact, campaign).await;
    let saved = store
        .save_call_notes(a, call, "first", 0, user, 30)
        .await
        .unwrap();
    assert!(matches!(saved, NotesSave::Saved(_)));
    let recording = store.start_recording(call, None, true, 30).await.unwrap();
    let script = store
        .create_script(a, "Sales", &body(), user, 30)
        .await
        .unwrap();
    let script = store.publish_script(a, script.id, 31).await.unwrap();
    let version = script.published.clone().unwrap().id;
    store
        .set_campaign_builder_script(a, campaign, Some(script.id))
        .await
        .unwrap();
    store
        .save_script_run(a, call, version, &Run::start(&body()), 32)
        .await
        .unwrap();
    World {
        a,
        b,
        user,
        contact,
        campaign,
        call,
        recording,
        script,
    }
}

/// `NotFound`, or the test fails naming what answered otherwise.
fn not_found<T: std::fmt::Debug>(what: &str, r: Result<T, StoreError>) {
    assert!(
        matches!(r, Err(StoreError::NotFound)),
        "{what}: expected NotFound, got {r:?}"
    );
}

conformance!(
    a_client_scoped_read_of_another_clients_row_is_not_found,
    |store: Store| async move {
        let w = world(&store).await;
        let (a, b) = (w.a, w.b);
        let version = w.script.published.clone().unwrap();
        // Client `a` reads its own rows.
        assert_eq!(store.call(a, w.call).await.unwrap().id, w.call);
        assert_eq!(store.campaign(a, w.campaign).await.unwrap().id, w.campaign);
        assert_eq!(store.call_notes(a, w.call).await.unwrap().text, "first");
        assert_eq!(
            store.recording(a, w.recording.id).await.unwrap(),
            w.recording
        );
        assert_eq!(store.script_version(a, version.id).await.unwrap(), version);
        assert_eq!(
            store.campaign_builder_script(a, w.campaign).await.unwrap(),
            Some(w.script.id)
        );
        // Another client's id, and an id nobody has, answer alike.
        let theirs = (b, w.call, w.campaign, w.recording.id, version.id);
        let unknown = (
            a,
            CallId(UNKNOWN),
            CampaignId(UNKNOWN),
            RecordingId(UNKNOWN),
            ScriptVersionId(UNKNOWN),
        );
        for (c, call, campaign, rec, v) in [theirs, unknown] {
            not_found("call", store.call(c, call).await);
            not_found("campaign", store.campaign(c, campaign).await);
            not_found("call_notes", store.call_notes(c, call).await);
            not_found("recording", store.recording(c, rec).await);
            not_found("script_version", store.script_version(c, v).await);
            not_found(
                "campaign_builder_script",
                store.campaign_builder_script(c, campaign).await,
            );
        }
    }
);

conformance!(
    a_client_scoped_list_of_another_clients_rows_is_what_an_unknown_id_lists,
    |store: Store| async move {
        let w = world(&store).await;
        let today = CycleDates {
            default: "2026-03-02".into(),
            by_zone: vec![],
        };
        // For each: (client `a`'s own answer is not empty, `b`'s answer equals the answer for
        // an unknown campaign or call).
        for (c, campaign, call) in [
            (w.a, w.campaign, w.call),
            (w.b, w.campaign, w.call),
            (w.a, CampaignId(UNKNOWN), CallId(UNKNOWN)),
        ] {
            let own = c == w.a && campaign == w.campaign;
            let check = |what: &str, empty: bool| {
                assert_eq!(empty, !own, "{what} for client {c}, campaign {campaign}")
            };
            let rec = store.recording_for_call(c, call).await.unwrap();
            check("recording_for_call", rec.is_none());
            let run = store.script_run(c, call).await.unwrap();
            check("script_run", run.is_none());
            let lines = store.transcript(c, call, TranscriptKind::Live).await;
            check("transcript", lines.unwrap().is_empty());
            let set = store.dispositions(c, campaign).await.unwrap();
            check("dispositions", set.is_empty());
            let counts = store.call_counts(c, campaign, 0).await.unwrap();
            check("call_counts", counts == Default::default());
            let due = store.due_contacts(c, campaign, 1_000_000, 5, 10).await;
            check("due_contacts", due.unwrap().is_empty());
            let zones = store.campaign_time_zones(c, campaign).await.unwrap();
            check("campaign_time_zones", zones.is_empty());
            let figures = store.campaign_contact_figures(c, campaign, &today).await;
            check("campaign_contact_figures", figures.unwrap().1.is_empty());
            let page = store
                .campaign_cycle_contacts(c, campaign, &today, None, 0, 10)
                .await;
            check("campaign_cycle_contacts", page.unwrap().is_empty());
            let facts = store.campaign_dial_facts(c, campaign, 0, 1_000).await;
            check("campaign_dial_facts", facts.unwrap().is_empty());
        }
    }
);

conformance!(
    a_client_scoped_write_to_another_clients_row_is_not_found_and_changes_nothing,
    |store: Store| async move {
        let w = world(&store).await;
        let (a, b) = (w.a, w.b);
        let notes = store.call_notes(a, w.call).await.unwrap();
        not_found(
            "save_call_notes",
            store
                .save_call_notes(b, w.call, "theirs", 1, w.user, 40)
                .await,
        );
        assert_eq!(store.call_notes(a, w.call).await.unwrap(), notes);

        let set = store.dispositions(a, w.campaign).await.unwrap();
        not_found(
            "replace_dispositions",
            store
                .replace_dispositions(b, w.campaign, &dispositions("Theirs"))
                .await,
        );
        assert_eq!(store.dispositions(a, w.campaign).await.unwrap(), set);

        not_found(
            "put_campaign_audio",
            store
                .put_campaign_audio(b, w.campaign, "voicemail", "audio/mpeg", b"ID3")
                .await,
        );
        let audio = store.campaign_audio_unscoped(w.campaign, "voicemail").await;
        assert_eq!(audio.unwrap(), ("audio/wav".into(), b"RIFF".to_vec()));

        let run = store.script_run(a, w.call).await.unwrap();
        let version = w.script.published.clone().unwrap().id;
        let mut changed = Run::start(&body());
        changed.finished = true;
        not_found(
            "save_script_run",
            store
                .save_script_run(b, w.call, version, &changed, 41)
                .await,
        );
        // Nor may a client's call run another client's script version.
        let theirs = store
            .create_script(
                b,
                "Theirs",
                &body(),
                crate::scripts::author(&store, b).await,
                41,
            )
            .await
            .unwrap();
        let theirs = store.publish_script(b, theirs.id, 42).await.unwrap();
        let their_version = theirs.published.unwrap().id;
        not_found(
            "save_script_run with another client's version",
            store
                .save_script_run(a, w.call, their_version, &changed, 43)
                .await,
        );
        assert_eq!(store.script_run(a, w.call).await.unwrap(), run);

        // A script calls ran is `NotFound` to another client, not "kept for their record".
        not_found("delete_script", store.delete_script(b, w.script.id).await);
        not_found(
            "delete_script of an unknown id",
            store.delete_script(b, ScriptId(UNKNOWN)).await,
        );
        assert_eq!(store.script(a, w.script.id).await.unwrap().id, w.script.id);
    }
);

conformance!(
    a_scope_of_clients_finds_only_their_calls_contacts_and_callbacks,
    |store: Store| async move {
        let w = world(&store).await;
        let callback = NewCallback {
            call: w.call,
            agent: w.user,
            client: w.a,
            contact: w.contact,
            campaign: Some(w.campaign),
            due_at: 100,
            time_zone: "America/New_York".into(),
        };
        store.add_agent_callback(&callback, 50).await.unwrap();
        for scope in [Scope::All, Scope::Only(vec![w.b, w.a])] {
            assert_eq!(store.call_in(&scope, w.call).await.unwrap().id, w.call);
            let contact = store.contact_in(&scope, w.contact).await.unwrap();
            assert_eq!(contact.id, w.contact);
            let callbacks = store.agent_callbacks(&scope, w.user, 0).await.unwrap();
            assert_eq!(callbacks.len(), 1);
        }
        for scope in [Scope::Only(vec![w.b]), Scope::Only(vec![])] {
            not_found("call_in", store.call_in(&scope, w.call).await);
            not_found("contact_in", store.contact_in(&scope, w.contact).await);
            let callbacks = store.agent_callbacks(&scope, w.user, 0).await.unwrap();
            assert!(callbacks.is_empty(), "{callbacks:?}");
        }
        not_found(
            "call_in of an unknown id",
            store.call_in(&Scope::All, CallId(UNKNOWN)).await,
        );
        assert_eq!(
            store.call_unscoped(w.call).await.unwrap(),
            store.call(w.a, w.call).await.unwrap()
        );
    }
);
