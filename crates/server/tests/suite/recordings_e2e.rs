//! Issue 13 end to end in Twilio mode, through the fake Twilio: a recorded, transcribed campaign
//! call starts its dual-channel recording and real-time transcription over the REST API once the
//! agent is connected; the transcription webhooks become live lines on the agent's desktop, in
//! order; the agent pauses and resumes the recording; after the hang-up the recording callback
//! is followed by the download (both channels) into the product's storage, the carrier's copy is
//! deleted as the client asked, and the post-call transcript is stored and searchable. With the
//! client's Conversational Intelligence service set, the post-call transcript is Twilio's, made
//! from Twilio's copy, which is deleted (with Twilio's transcript) only once ours is stored. On
//! SQLite and PostgreSQL.

use crate::common;
use crate::common::fake_twilio::Outcome;
use crate::twilio_campaign_e2e::{rig, until, PUBLIC};
use palera_core::ids::CallId;
use palera_core::recording::{RecordingStatus, Speaker};
use palera_store::recordings::RecordingSettings;
use palera_store::transcripts::TranscriptKind;
use palera_store::Backend;
use serde_json::json;
use std::time::Duration;

async fn a_recorded_transcribed_campaign_call_ends_with_its_recording_in_storage(b: Backend) {
    let Some(r) = rig(b, Outcome::Human, false).await else {
        return;
    };
    let store = r.db.store.clone();
    sqlx::query("UPDATE campaigns SET recording = $1, transcription = $2 WHERE id = $3")
        .bind(true)
        .bind(true)
        .bind(r.campaign.0)
        .execute(store.pool())
        .await
        .unwrap();
    let keep = RecordingSettings {
        retention_days: None,
        delete_at_carrier: true,
        ..Default::default()
    };
    store
        .save_recording_settings(r.client, &keep, 1)
        .await
        .unwrap();
    let (http, mut ws) = r.ready_desktop().await;
    r.start().await;

    let (connected, _) = until(&mut ws, "call_connected").await;
    let call = CallId(connected["call_id"].as_i64().unwrap());
    // The transcription's lines reach the desktop in order, speaker-labelled.
    let (first, _) = until(&mut ws, "transcript_line").await;
    let (second, _) = until(&mut ws, "transcript_line").await;
    assert_eq!(first["call_id"], json!(call.0));
    assert_eq!(first["line"]["seq"], 0);
    assert_eq!(first["line"]["speaker"], "agent");
    assert_eq!(
        first["line"]["text"],
        "Hello, this is Ann calling about your renewal."
    );
    assert_eq!(
        (
            second["line"]["seq"].clone(),
            second["line"]["speaker"].clone()
        ),
        (json!(1), json!("contact"))
    );

    let sid = r.fake.call_to(crate::twilio_campaign_e2e::CONTACT).unwrap();
    let started = r
        .fake
        .requests_to("POST", &format!("/Calls/{sid}/Recordings.json"));
    assert_eq!(started.len(), 1, "{started:#?}");
    assert_eq!(started[0].get("RecordingChannels"), Some("dual"));
    let callback = format!("{PUBLIC}/twilio/{}/recording?call_id={}", r.client, call.0);
    assert_eq!(
        started[0].get("RecordingStatusCallback"),
        Some(callback.as_str())
    );
    let transcribing = r
        .fake
        .requests_to("POST", &format!("/Calls/{sid}/Transcriptions.json"));
    assert_eq!(transcribing.len(), 1);
    assert_eq!(transcribing[0].get("Track"), Some("both_tracks"));

    for action in ["pause", "resume"] {
        let resp = http
            .post(r.url(&format!("/api/v1/calls/{}/recording/{action}", call.0)))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 204, "{action}");
    }
    assert_eq!(r.fake.recordings()[0].controls, ["paused", "in-progress"]);
    let (s, body) =
        common::json(http.post(r.url(&format!("/api/v1/calls/{}/hangup", call.0)))).await;
    assert_eq!(s, 204, "{body}");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let rec = loop {
        let rec = store
            .recording_for_call(r.client, call)
            .await
            .unwrap()
            .unwrap();
        if rec.status == RecordingStatus::Stored
            && rec.transcript_status == "done"
            && rec.carrier_deleted_at.is_some()
        {
            break rec;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not stored in time: {rec:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let fake_rec = &r.fake.recordings()[0];
    assert_eq!(rec.carrier_sid.as_deref(), Some(fake_rec.sid.as_str()));
    assert!(fake_rec.deleted, "the copy at Twilio was deleted");
    let downloads = r
        .fake
        .requests_to("GET", &format!("/Recordings/{}.wav", fake_rec.sid));
    assert_eq!(downloads.len(), 1);
    let bytes = r
        .app
        .recordings
        .media
        .get(rec.storage_key.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(bytes.len(), 44 + 8_000 * 4, "the harness's WAV, whole");
    assert_eq!(rec.bytes, Some(bytes.len() as i64));
    assert_eq!(rec.pauses.len(), 1, "{:?}", rec.pauses);

    let lines = store
        .transcript(r.client, call, TranscriptKind::Final)
        .await
        .unwrap();
    assert_eq!(
        lines.iter().map(|l| l.speaker).collect::<Vec<_>>(),
        [Speaker::Agent, Speaker::Contact]
    );
    assert_eq!(lines[1].text, "Yes, I would like the premium plan.");
    let (s, hits) = common::json(http.get(r.url(&format!(
        "/api/v1/clients/{}/transcripts/search?q=premium%20plan",
        r.client
    ))))
    .await;
    assert_eq!(s, 200, "{hits}");
    assert_eq!(hits[0]["call_id"], json!(call.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_transcribed_campaign_call_ends_with_its_recording_in_storage_sqlite() {
    a_recorded_transcribed_campaign_call_ends_with_its_recording_in_storage(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_transcribed_campaign_call_ends_with_its_recording_in_storage_postgres() {
    a_recorded_transcribed_campaign_call_ends_with_its_recording_in_storage(Backend::Postgres)
        .await;
}

const SERVICE: &str = "GA0123456789abcdef0123456789abcdef";

/// Waits until the call's recording satisfies `done`.
async fn recording_when(
    store: &palera_store::Store,
    call: CallId,
    done: impl Fn(&palera_store::recordings::Recording) -> bool,
) -> palera_store::recordings::Recording {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let client = store.call_unscoped(call).await.unwrap().client_id;
    loop {
        let rec = store.recording_for_call(client, call).await.unwrap();
        if let Some(rec) = rec.as_ref().filter(|r| done(r)) {
            return rec.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not in time: {rec:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_post_call_transcript_comes_from_the_clients_intelligence_service(b: Backend) {
    let Some(r) = rig(b, Outcome::Human, false).await else {
        return;
    };
    let store = r.db.store.clone();
    sqlx::query("UPDATE campaigns SET recording = $1, transcription = $2 WHERE id = $3")
        .bind(true)
        .bind(true)
        .bind(r.campaign.0)
        .execute(store.pool())
        .await
        .unwrap();
    let (http, mut ws) = r.ready_desktop().await;
    let (boss, _) = r.login("boss@x.io").await;
    // Set through the API, as an admin's page would.
    let settings = json!({"retention_days": null, "delete_at_carrier": true,
        "intelligence_service_sid": SERVICE});
    let (s, body) = common::json(
        boss.put(r.url(&format!("/api/v1/clients/{}/recording-settings", r.client)))
            .json(&settings),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let bad = json!({"delete_at_carrier": true, "intelligence_service_sid": "GT123"});
    let (s, body) = common::json(
        boss.put(r.url(&format!("/api/v1/clients/{}/recording-settings", r.client)))
            .json(&bad),
    )
    .await;
    assert_eq!(
        (s, body["error"]["field"].clone()),
        (422, json!("intelligence_service_sid")),
        "{body}"
    );
    r.start().await;

    let (connected, _) = until(&mut ws, "call_connected").await;
    let call = CallId(connected["call_id"].as_i64().unwrap());
    until(&mut ws, "transcript_line").await;
    let (s, body) =
        common::json(http.post(r.url(&format!("/api/v1/calls/{}/hangup", call.0)))).await;
    assert_eq!(s, 204, "{body}");

    // Stored first; Twilio's copy is kept while Twilio transcribes it.
    let stored = recording_when(&store, call, |rec| rec.transcript_job.is_some()).await;
    assert_eq!(stored.status, RecordingStatus::Stored);
    assert_eq!(
        stored.carrier_deleted_at, None,
        "kept at Twilio for its transcript"
    );
    let rec = recording_when(&store, call, |rec| rec.transcript_status == "done").await;
    let asked = r.fake.requests_to("POST", "/v2/Transcripts");
    assert_eq!(asked.len(), 1, "one transcript asked for: {asked:#?}");
    let made = r.fake.intelligence_transcripts();
    assert_eq!(made[0].service_sid, SERVICE);
    assert_eq!(
        made[0].channel["media_properties"]["source_sid"],
        json!(rec.carrier_sid.clone().unwrap())
    );
    assert_eq!(rec.transcript_job.as_deref(), Some(made[0].sid.as_str()));
    assert_eq!(
        rec.transcript_attempts, 1,
        "three passes (ask, in progress, completed): only the last counts as an attempt"
    );

    let lines = store
        .transcript(r.client, call, TranscriptKind::Final)
        .await
        .unwrap();
    let got: Vec<_> = lines
        .iter()
        .map(|l| (l.speaker, l.start_ms, l.text.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (Speaker::Agent, 400, "Good morning, Ann speaking."),
            (
                Speaker::Contact,
                2_100,
                "Morning. I'd like to renew for two years."
            )
        ],
        "Twilio's sentences, not the live lines"
    );
    // Twilio's transcript and recording go once ours is in.
    let rec = recording_when(&store, call, |rec| rec.carrier_deleted_at.is_some()).await;
    assert!(r.fake.recordings()[0].deleted);
    assert!(r.fake.intelligence_transcripts()[0].deleted);
    assert_eq!(rec.transcript_status, "done");
    let (s, hits) = common::json(http.get(r.url(&format!(
        "/api/v1/clients/{}/transcripts/search?q=renew%20for%20two%20years",
        r.client
    ))))
    .await;
    assert_eq!(s, 200, "{hits}");
    assert_eq!(hits[0]["call_id"], json!(call.0));
}

twins!(a_post_call_transcript_comes_from_the_clients_intelligence_service);

async fn a_failed_intelligence_transcript_is_asked_again_then_shown(b: Backend) {
    let Some(r) = rig(b, Outcome::Human, false).await else {
        return;
    };
    let store = r.db.store.clone();
    sqlx::query("UPDATE campaigns SET recording = $1, transcription = $2 WHERE id = $3")
        .bind(true)
        .bind(true)
        .bind(r.campaign.0)
        .execute(store.pool())
        .await
        .unwrap();
    let settings = RecordingSettings {
        delete_at_carrier: true,
        intelligence_service_sid: Some(SERVICE.into()),
        ..Default::default()
    };
    store
        .save_recording_settings(r.client, &settings, 1)
        .await
        .unwrap();
    r.fake.fail_transcripts();
    let (http, mut ws) = r.ready_desktop().await;
    r.start().await;
    let (connected, _) = until(&mut ws, "call_connected").await;
    let call = CallId(connected["call_id"].as_i64().unwrap());
    until(&mut ws, "transcript_line").await;
    let (s, body) =
        common::json(http.post(r.url(&format!("/api/v1/calls/{}/hangup", call.0)))).await;
    assert_eq!(s, 204, "{body}");

    let rec = recording_when(&store, call, |rec| rec.transcript_status == "failed").await;
    // The rig allows three attempts: each failed job is replaced by a new one.
    assert_eq!(r.fake.intelligence_transcripts().len(), 3);
    assert_eq!(rec.transcript_attempts, 3);
    let error = rec.transcript_error.clone().unwrap_or_default();
    assert!(error.contains("ended as failed"), "{error}");
    // The call's recording says so to its agent.
    let path = format!("/api/v1/clients/{}/calls/{}/recording", r.client, call.0);
    let (s, view) = common::json(http.get(r.url(&path))).await;
    assert_eq!(s, 200, "{view}");
    assert_eq!(view["recording"]["transcript_status"], "failed", "{view}");
    assert_eq!(view["recording"]["transcript_error"], json!(error));
    // Given up: Twilio's copy goes as the client asked, ours stays.
    let rec = recording_when(&store, call, |rec| rec.carrier_deleted_at.is_some()).await;
    assert_eq!(rec.status, RecordingStatus::Stored);
    assert!(r.fake.recordings()[0].deleted);
}

twins!(a_failed_intelligence_transcript_is_asked_again_then_shown);
