//! Issue 13 end to end in Twilio mode, through the fake Twilio: a recorded, transcribed campaign
//! call starts its dual-channel recording and real-time transcription over the REST API once the
//! agent is connected; the transcription webhooks become live lines on the agent's desktop, in
//! order; the agent pauses and resumes the recording; after the hang-up the recording callback
//! is followed by the download (both channels) into the product's storage, the carrier's copy is
//! deleted as the client asked, and the post-call transcript is stored and searchable. On SQLite
//! and PostgreSQL.

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
        let rec = store.recording_for_call(call).await.unwrap().unwrap();
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

    let lines = store.transcript(call, TranscriptKind::Final).await.unwrap();
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
