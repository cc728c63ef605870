//! The recordings worker: one background loop (DESIGN §6.8) that, on each tick, copies finished
//! recordings from the carrier into the product's storage, makes post-call transcripts of stored
//! ones (here, or by the client's Twilio Conversational Intelligence service from Twilio's copy,
//! which is then kept at Twilio until the transcript is in), and deletes recordings past their
//! client's retention. Every failure — the carrier
//! unreachable, a full disk, a transcription error — is kept on the recording with the next
//! attempt's time (backing off), and after the last attempt the recording says it failed; nothing
//! is dropped silently. Work is claimed in the store first, so two nodes never do the same item.

use super::storage::{recording_key, MediaStore, StorageError};
use super::transcriber::{RealtimeTranscriber, SimTranscriber, Transcriber};
use crate::app::App;
use crate::config::{CarrierMode, Settings};
use crate::engine::carriers::CarrierHub;
use chrono::{DateTime, Utc};
use palera_carrier::Carrier;
use palera_core::recording::{FetchPolicy, TranscriptLine};
use palera_store::recordings::{FetchFailure, Recording, RecordingSettings};
use palera_store::transcripts::TranscriptKind;
use palera_store::{millis, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// How often the worker looks for work.
pub const TICK: Duration = Duration::from_secs(2);
/// Items of each kind handled per tick.
const BATCH: i64 = 8;

/// What the recordings feature needs at run time.
#[derive(Clone)]
pub struct Recordings {
    pub media: MediaStore,
    pub transcriber: Arc<dyn Transcriber>,
    pub policy: FetchPolicy,
    /// How often a transcript job at the carrier is looked at while it runs.
    pub transcript_poll: Duration,
}

impl Recordings {
    /// The storage the settings name and the transcriber of the network: the simulated one's in
    /// demo, Twilio's real-time transcription otherwise.
    pub fn for_settings(settings: &Settings, mode: CarrierMode) -> Self {
        let media = MediaStore::from_settings(settings)
            .expect("recording storage settings are checked when the settings are loaded");
        let transcriber: Arc<dyn Transcriber> = match mode {
            CarrierMode::Simulated => Arc::new(SimTranscriber),
            CarrierMode::Twilio => Arc::new(RealtimeTranscriber),
        };
        Self {
            media,
            transcriber,
            policy: FetchPolicy::default(),
            transcript_poll: Duration::from_secs(15),
        }
    }
}

/// The carrier's id of a recording: given when it started, else the last segment of its URL.
fn recording_sid(rec: &Recording) -> Option<String> {
    rec.carrier_sid.clone().or_else(|| {
        let url = rec.source_url.as_deref()?;
        let last = url.rsplit('/').next()?;
        let sid = last.split(['.', '?']).next()?;
        (!sid.is_empty()).then(|| sid.to_string())
    })
}

/// Copies one claimed recording into storage; the error says what failed.
async fn copy_one(
    store: &Store,
    carriers: &CarrierHub,
    media: &MediaStore,
    rec: &Recording,
    now: DateTime<Utc>,
) -> Result<Recording, String> {
    let sid = recording_sid(rec).ok_or("the carrier gave no recording id")?;
    let carrier = carriers
        .for_client(store, rec.client_id)
        .await
        .map_err(|e| e.to_string())?;
    let url = rec.source_url.clone().unwrap_or_default();
    let file = carrier
        .download_recording(&sid, &url)
        .await
        .map_err(|e| format!("download failed: {e}"))?;
    let key = recording_key(rec.client_id, rec.id, &file.content_type);
    let bytes = file.bytes.len() as i64;
    media
        .put(&key, file.bytes)
        .await
        .map_err(|e: StorageError| e.to_string())?;
    let stored = store
        .recording_stored(rec.id, &key, &file.content_type, bytes, millis(now))
        .await
        .map_err(|e| e.to_string())?;
    let settings = store
        .recording_settings(rec.client_id)
        .await
        .map_err(|e| e.to_string())?;
    // Twilio's post-call transcript is made from Twilio's copy: that copy goes once it is done.
    let transcribed_there =
        rec.transcription && intelligence_service(carriers, &settings).is_some();
    if settings.delete_at_carrier && !transcribed_there {
        delete_carrier_copy(store, carrier.as_ref(), rec, &sid, now).await?;
    }
    Ok(stored)
}

/// Deletes the carrier's copy of a stored recording. Ours is kept; a failed delete at the carrier
/// is logged and does not undo that.
async fn delete_carrier_copy(
    store: &Store,
    carrier: &dyn Carrier,
    rec: &Recording,
    sid: &str,
    now: DateTime<Utc>,
) -> Result<(), String> {
    match carrier.delete_recording(sid).await {
        Ok(()) => store
            .recording_deleted_at_carrier(rec.id, millis(now))
            .await
            .map_err(|e| e.to_string()),
        Err(e) => {
            tracing::warn!(recording = %rec.id, error = %e, "deleting the carrier's copy failed");
            Ok(())
        }
    }
}

/// The client's Conversational Intelligence service, when its post-call transcripts are made
/// there (Twilio mode only: the simulated network has no such service).
fn intelligence_service(carriers: &CarrierHub, s: &RecordingSettings) -> Option<String> {
    (carriers.mode() == CarrierMode::Twilio)
        .then(|| s.intelligence_service_sid.clone())
        .flatten()
}

/// Copies due recordings into storage. Returns how many were stored.
pub async fn fetch_due(
    store: &Store,
    carriers: &CarrierHub,
    r: &Recordings,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut stored = 0;
    for rec in store.claim_due_fetches(millis(now), BATCH).await? {
        match copy_one(store, carriers, &r.media, &rec, now).await {
            Ok(_) => stored += 1,
            Err(error) => {
                let retry = r.policy.retry_at(rec.attempts, now).map(millis);
                tracing::warn!(recording = %rec.id, attempts = rec.attempts, %error, retry = ?retry, "recording fetch failed");
                let f = FetchFailure {
                    error: &error,
                    retry_at_ms: retry,
                };
                store.recording_fetch_failed(rec.id, &f).await?;
            }
        }
    }
    Ok(stored)
}

/// What one pass did for a post-call transcript.
enum Made {
    Lines(Vec<TranscriptLine>),
    /// The carrier's job is still running.
    Waiting(String),
}

/// The transcript made here: the transcriber reads the stored file and the live lines.
async fn transcribe_here(store: &Store, r: &Recordings, rec: &Recording) -> Result<Made, String> {
    let key = rec
        .storage_key
        .as_deref()
        .ok_or("the recording has no file")?;
    let audio = r.media.get(key).await.map_err(|e| e.to_string())?;
    let live = store
        .transcript(rec.client_id, rec.call_id, TranscriptKind::Live)
        .await
        .map_err(|e| e.to_string())?;
    r.transcriber
        .post_call(rec, &audio, &live)
        .await
        .map(Made::Lines)
        .map_err(|e| e.to_string())
}

/// The transcript made by the client's Intelligence service from Twilio's copy: the first pass
/// asks for it, later passes look at the job until it is done (or given up).
async fn transcribe_at_twilio(
    carrier: &dyn Carrier,
    service: &str,
    rec: &Recording,
    now: DateTime<Utc>,
) -> Result<Made, String> {
    let Some(job) = &rec.transcript_job else {
        if rec.carrier_deleted_at.is_some() {
            return Err("the copy at Twilio was deleted, so Twilio cannot transcribe it".into());
        }
        let sid = recording_sid(rec).ok_or("the carrier gave no recording id")?;
        return carrier
            .request_transcript(service, &sid, rec.call_id.0)
            .await
            .map(Made::Waiting)
            .map_err(|e| format!("asking Twilio for the transcript failed: {e}"));
    };
    match carrier.transcript_result(job).await {
        Ok(Some(lines)) => Ok(Made::Lines(lines)),
        Ok(None)
            if rec
                .transcript_job_at
                .is_some_and(|at| millis(now) - at > MAX_JOB_MS) =>
        {
            Err(format!(
                "Twilio's transcript {job} did not finish within {} hours",
                MAX_JOB_MS / 3_600_000
            ))
        }
        Ok(None) => Ok(Made::Waiting(job.clone())),
        Err(e) => Err(format!("Twilio's transcript {job} failed: {e}")),
    }
}

/// Longest wait for a carrier's transcript job before it is asked again.
const MAX_JOB_MS: i64 = 2 * 3_600_000;

/// Once a transcript made at Twilio is kept (or has failed for good) and the client asked for
/// Twilio's copies to go: Twilio's transcript and recording are deleted.
async fn clean_up_at_twilio(
    store: &Store,
    carrier: &dyn Carrier,
    rec: &Recording,
    job: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), String> {
    if let Some(job) = job {
        if let Err(e) = carrier.delete_transcript(job).await {
            tracing::warn!(recording = %rec.id, error = %e, "deleting Twilio's transcript failed");
        }
    }
    match (rec.carrier_deleted_at, recording_sid(rec)) {
        (None, Some(sid)) => delete_carrier_copy(store, carrier, rec, &sid, now).await,
        _ => Ok(()),
    }
}

/// One claimed recording's pass: made here or at Twilio, per the client's settings.
async fn transcribe_one(
    store: &Store,
    carriers: &CarrierHub,
    r: &Recordings,
    rec: &Recording,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let settings = store.recording_settings(rec.client_id).await?;
    let at_twilio = match intelligence_service(carriers, &settings) {
        Some(service) => match carriers.for_client(store, rec.client_id).await {
            Ok(carrier) => Some((carrier, service)),
            Err(e) => {
                let error = e.to_string();
                return fail_transcript(store, r, rec, &error, now).await.map(drop);
            }
        },
        None => None,
    };
    let made = match &at_twilio {
        Some((carrier, service)) => transcribe_at_twilio(carrier.as_ref(), service, rec, now).await,
        None => transcribe_here(store, r, rec).await,
    };
    let finished = match made {
        Ok(Made::Lines(lines)) => {
            store.save_final_transcript(rec.id, &lines).await?;
            true
        }
        Ok(Made::Waiting(job)) => {
            let check = now + chrono::Duration::from_std(r.transcript_poll).unwrap_or_default();
            store
                .transcript_waiting(rec.id, &job, millis(now), millis(check))
                .await?;
            false
        }
        Err(error) => fail_transcript(store, r, rec, &error, now).await?,
    };
    if let (true, Some((carrier, _))) = (finished && settings.delete_at_carrier, &at_twilio) {
        if let Err(e) = clean_up_at_twilio(
            store,
            carrier.as_ref(),
            rec,
            rec.transcript_job.as_deref(),
            now,
        )
        .await
        {
            tracing::warn!(recording = %rec.id, error = %e, "cleaning up at Twilio failed");
        }
    }
    Ok(())
}

/// Keeps a failed transcription's error; returns whether it has failed for good.
async fn fail_transcript(
    store: &Store,
    r: &Recordings,
    rec: &Recording,
    error: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let retry = r.policy.retry_at(rec.transcript_attempts, now).map(millis);
    tracing::warn!(recording = %rec.id, %error, retry = ?retry, "post-call transcription failed");
    store.transcript_failed(rec.id, error, retry).await?;
    Ok(retry.is_none())
}

/// Makes the post-call transcripts that are due (or looks at the ones Twilio is making).
/// Returns how many were claimed.
pub async fn transcribe_due(
    store: &Store,
    carriers: &CarrierHub,
    r: &Recordings,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let claimed = store.claim_due_transcripts(millis(now), BATCH).await?;
    for rec in &claimed {
        transcribe_one(store, carriers, r, rec, now).await?;
    }
    Ok(claimed.len())
}

/// Deletes the files and rows of recordings past their client's retention. Returns how many.
pub async fn retention_sweep(
    store: &Store,
    media: &MediaStore,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut deleted = 0;
    for rec in store.expired_recordings(millis(now), 100).await? {
        if let Some(key) = &rec.storage_key {
            if let Err(e) = media.delete(key).await {
                // The row stays so the next sweep tries again: no file is orphaned.
                tracing::warn!(recording = %rec.id, error = %e, "deleting an expired recording's file failed");
                continue;
            }
        }
        store.delete_recording(rec.id).await?;
        deleted += 1;
    }
    if deleted > 0 {
        tracing::info!(deleted, "expired recordings deleted");
    }
    Ok(deleted)
}

/// One pass of every job; errors are logged and the loop goes on.
pub async fn work_once(store: &Store, carriers: &CarrierHub, r: &Recordings, now: DateTime<Utc>) {
    if let Err(e) = fetch_due(store, carriers, r, now).await {
        tracing::error!(error = %e, "recording fetches failed");
    }
    if let Err(e) = transcribe_due(store, carriers, r, now).await {
        tracing::error!(error = %e, "post-call transcripts failed");
    }
    if let Err(e) = retention_sweep(store, &r.media, now).await {
        tracing::error!(error = %e, "recording retention failed");
    }
}

/// Runs the worker until `stop` flips: fetches left half-done by a stopped process are released
/// first, then every [`TICK`] one pass of each job.
pub async fn worker_loop(app: App, mut stop: tokio::sync::watch::Receiver<bool>) {
    match app.store.release_stale_fetches().await {
        Ok(n) if n > 0 => tracing::info!(released = n, "recording fetches resumed"),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "releasing stale recording fetches failed"),
    }
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let now = app.clock.now();
                work_once(&app.store, &app.carriers, &app.recordings, now).await;
            }
            _ = stop.changed() => break,
        }
    }
}
