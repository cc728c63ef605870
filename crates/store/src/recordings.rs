//! Recordings (issue 13, DESIGN §2.6): each client's recording settings (retention in days, and
//! whether the carrier's copy is deleted once ours is stored), one recording per call with its
//! pause timeline, and the life of its stored copy — `recording` while the call runs, `pending`
//! once the carrier has the file, `fetching` while one node copies it (claimed by a conditional
//! update, so two loops never fetch the same file), then `stored`, or back to `pending` with the
//! next attempt's time, or `failed` with the last error. Retention deletes a recording's row, its
//! pauses and its transcript lines — never the call.

use crate::{flag, Result, Store, StoreError};
use palera_core::ids::{CallId, ClientId, RecordingId};
use palera_core::recording::{check_pause, Pause, RecordingStatus};
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// A client's recording settings (the defaults until saved).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordingSettings {
    /// Recordings older than this many days are deleted; `None` keeps them.
    pub retention_days: Option<u32>,
    /// Delete the carrier's copy once ours is stored.
    pub delete_at_carrier: bool,
    /// Record manual calls (agents' calls outside campaigns), as campaigns' "Record calls" does.
    #[serde(default)]
    pub record_manual_calls: bool,
    /// Transcribe manual calls live and after the call.
    #[serde(default)]
    pub transcribe_manual_calls: bool,
    /// The client's Twilio Conversational Intelligence service (`GA…`): when set, post-call
    /// transcripts of Twilio recordings are made by it; otherwise they are the real-time
    /// transcript's final lines.
    #[serde(default)]
    pub intelligence_service_sid: Option<String>,
}

/// One call's recording.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Recording {
    pub id: RecordingId,
    pub client_id: ClientId,
    pub call_id: CallId,
    /// The carrier's id of the recording.
    pub carrier_sid: Option<String>,
    /// Where the carrier serves the file (never shown to users).
    #[serde(skip)]
    pub source_url: Option<String>,
    pub status: RecordingStatus,
    /// Fetch attempts made so far.
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<i64>,
    /// The file's key in the product's storage.
    #[serde(skip)]
    pub storage_key: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Option<i64>,
    pub channels: u32,
    pub duration_seconds: Option<u32>,
    /// A transcript was asked for.
    pub transcription: bool,
    /// `none`, `pending`, `done` or `failed`.
    pub transcript_status: String,
    pub transcript_attempts: u32,
    pub transcript_error: Option<String>,
    /// The post-call transcript job asked of the carrier (Twilio: `GT…`), while it runs and after.
    pub transcript_job: Option<String>,
    #[serde(skip)]
    pub transcript_job_at: Option<i64>,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub stored_at: Option<i64>,
    pub carrier_deleted_at: Option<i64>,
    /// Pauses, in milliseconds from `started_at`.
    pub pauses: Vec<Pause>,
}

const COLUMNS: &str = "id, client_id, call_id, carrier_sid, source_url, status, attempts, last_error, next_attempt_at, storage_key, content_type, bytes, channels, duration_seconds, transcription, transcript_status, transcript_attempts, transcript_error, transcript_job, transcript_job_at, started_at, ended_at, stored_at, carrier_deleted_at";

fn small(r: &sqlx::any::AnyRow, c: &str) -> Result<u32> {
    Ok(r.try_get::<i64, _>(c)?.clamp(0, u32::MAX as i64) as u32)
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<Recording> {
    let status: String = r.try_get("status")?;
    Ok(Recording {
        id: RecordingId(r.try_get("id")?),
        client_id: ClientId(r.try_get("client_id")?),
        call_id: CallId(r.try_get("call_id")?),
        carrier_sid: r.try_get("carrier_sid")?,
        source_url: r.try_get("source_url")?,
        status: RecordingStatus::parse(&status).ok_or_else(|| {
            StoreError::Database(sqlx::Error::Decode(
                format!("unknown recording status {status:?}").into(),
            ))
        })?,
        attempts: small(r, "attempts")?,
        last_error: r.try_get("last_error")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        storage_key: r.try_get("storage_key")?,
        content_type: r.try_get("content_type")?,
        bytes: r.try_get("bytes")?,
        channels: small(r, "channels")?,
        duration_seconds: r
            .try_get::<Option<i64>, _>("duration_seconds")?
            .map(|d| d.clamp(0, u32::MAX as i64) as u32),
        transcription: flag(r, "transcription")?,
        transcript_status: r.try_get("transcript_status")?,
        transcript_attempts: small(r, "transcript_attempts")?,
        transcript_error: r.try_get("transcript_error")?,
        transcript_job: r.try_get("transcript_job")?,
        transcript_job_at: r.try_get("transcript_job_at")?,
        started_at: r.try_get("started_at")?,
        ended_at: r.try_get("ended_at")?,
        stored_at: r.try_get("stored_at")?,
        carrier_deleted_at: r.try_get("carrier_deleted_at")?,
        pauses: Vec::new(),
    })
}

/// A fetch that failed: when to try again, or `None` when the recording has failed for good.
#[derive(Debug, Clone)]
pub struct FetchFailure<'a> {
    pub error: &'a str,
    pub retry_at_ms: Option<i64>,
}

impl Store {
    /// The client's recording settings (the defaults until saved).
    pub async fn recording_settings(&self, client: ClientId) -> Result<RecordingSettings> {
        let row = sqlx::query(
            "SELECT retention_days, delete_at_carrier, record_manual_calls, transcribe_manual_calls, intelligence_service_sid FROM recording_settings WHERE client_id = $1",
        )
        .bind(client.0)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else {
            return Ok(RecordingSettings::default());
        };
        Ok(RecordingSettings {
            retention_days: r
                .try_get::<Option<i64>, _>("retention_days")?
                .map(|d| d.clamp(0, u32::MAX as i64) as u32),
            delete_at_carrier: flag(&r, "delete_at_carrier")?,
            record_manual_calls: flag(&r, "record_manual_calls")?,
            transcribe_manual_calls: flag(&r, "transcribe_manual_calls")?,
            intelligence_service_sid: r.try_get("intelligence_service_sid")?,
        })
    }

    /// Saves the client's recording settings (validated by the caller).
    pub async fn save_recording_settings(
        &self,
        client: ClientId,
        s: &RecordingSettings,
        now_ms: i64,
    ) -> Result<RecordingSettings> {
        sqlx::query("INSERT INTO recording_settings (client_id, retention_days, delete_at_carrier, record_manual_calls, transcribe_manual_calls, intelligence_service_sid, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (client_id) DO UPDATE SET retention_days = excluded.retention_days, delete_at_carrier = excluded.delete_at_carrier, record_manual_calls = excluded.record_manual_calls, transcribe_manual_calls = excluded.transcribe_manual_calls, intelligence_service_sid = excluded.intelligence_service_sid, updated_at = excluded.updated_at")
            .bind(client.0)
            .bind(s.retention_days.map(i64::from))
            .bind(s.delete_at_carrier)
            .bind(s.record_manual_calls)
            .bind(s.transcribe_manual_calls)
            .bind(s.intelligence_service_sid.as_deref())
            .bind(now_ms)
            .execute(self.pool())
            .await?;
        self.recording_settings(client).await
    }

    /// Starts the recording of a call (both parties are connected). Starting again returns the
    /// recording already started (carriers and desktops repeat themselves).
    pub async fn start_recording(
        &self,
        call: CallId,
        carrier_sid: Option<&str>,
        transcription: bool,
        now_ms: i64,
    ) -> Result<Recording> {
        sqlx::query("INSERT INTO recordings (client_id, call_id, carrier_sid, status, transcription, started_at) SELECT client_id, id, $2, 'recording', $3, $4 FROM calls WHERE id = $1 ON CONFLICT (call_id) DO NOTHING")
            .bind(call.0)
            .bind(carrier_sid)
            .bind(transcription)
            .bind(now_ms)
            .execute(self.pool())
            .await?;
        self.recording_of_call(None, call)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The carrier's id of a recording, once the carrier gave it.
    pub async fn set_recording_sid(&self, id: RecordingId, sid: &str) -> Result<()> {
        sqlx::query("UPDATE recordings SET carrier_sid = $1 WHERE id = $2")
            .bind(sid)
            .bind(id.0)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// A recording of `client`, with its pauses (another client's is `NotFound`, as an unknown
    /// id is).
    pub async fn recording(&self, client: ClientId, id: RecordingId) -> Result<Recording> {
        self.recording_where("id", id.0, Some(client))
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// A recording by its id alone, whichever client's it is. Only for the call engine and the
    /// recordings worker (they work on every client's recordings); request handlers use
    /// [`Store::recording`].
    pub async fn recording_unscoped(&self, id: RecordingId) -> Result<Recording> {
        self.recording_where("id", id.0, None)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The recording of a call of `client`, if it was recorded (`None` for another client's
    /// call, as for an unknown one).
    pub async fn recording_for_call(
        &self,
        client: ClientId,
        call: CallId,
    ) -> Result<Option<Recording>> {
        self.recording_of_call(Some(client), call).await
    }

    /// The call's recording, of `client` when one is given.
    async fn recording_of_call(
        &self,
        client: Option<ClientId>,
        call: CallId,
    ) -> Result<Option<Recording>> {
        self.recording_where("call_id", call.0, client).await
    }

    /// The recording whose `key` column (`id` or `call_id`) is `value`, of `client` when one is
    /// given, with its pauses.
    async fn recording_where(
        &self,
        key: &str,
        value: i64,
        client: Option<ClientId>,
    ) -> Result<Option<Recording>> {
        let sql = format!("SELECT {COLUMNS} FROM recordings WHERE {key} = $1");
        let scoped = format!("{sql} AND client_id = $2");
        let row = match client {
            Some(c) => sqlx::query(&scoped).bind(value).bind(c.0),
            None => sqlx::query(&sql).bind(value),
        }
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(r) => Ok(Some(self.with_pauses(from_row(&r)?).await?)),
            None => Ok(None),
        }
    }

    async fn with_pauses(&self, mut rec: Recording) -> Result<Recording> {
        let rows = sqlx::query("SELECT paused_ms, resumed_ms FROM recording_pauses WHERE recording_id = $1 ORDER BY paused_ms")
            .bind(rec.id.0)
            .fetch_all(self.pool())
            .await?;
        rec.pauses = rows
            .iter()
            .map(|r| {
                Ok(Pause {
                    paused_ms: r.try_get::<i64, _>("paused_ms")?.max(0) as u64,
                    resumed_ms: r
                        .try_get::<Option<i64>, _>("resumed_ms")?
                        .map(|v| v.max(0) as u64),
                })
            })
            .collect::<Result<_>>()?;
        Ok(rec)
    }

    /// Marks a pause (`pausing`) or the resume of the open one on the recording's timeline, at
    /// `now_ms`. A second pause while paused, or a resume while running, is a conflict.
    pub async fn mark_pause(
        &self,
        id: RecordingId,
        pausing: bool,
        now_ms: i64,
    ) -> Result<Recording> {
        let rec = self.recording_unscoped(id).await?;
        if rec.status != RecordingStatus::Recording {
            return Err(StoreError::conflict(
                "recording",
                "the call is no longer being recorded",
            ));
        }
        check_pause(&rec.pauses, pausing).map_err(|e| StoreError::conflict(&e.field, &e.reason))?;
        let at = (now_ms - rec.started_at).max(0);
        let q = if pausing {
            "INSERT INTO recording_pauses (recording_id, paused_ms) VALUES ($1, $2)"
        } else {
            "UPDATE recording_pauses SET resumed_ms = $2 WHERE recording_id = $1 AND resumed_ms IS NULL"
        };
        sqlx::query(q)
            .bind(id.0)
            .bind(at)
            .execute(self.pool())
            .await?;
        self.recording_unscoped(id).await
    }

    /// The carrier has the call's file: the recording waits to be fetched. Repeated reports, and
    /// reports for a recording already stored, change nothing. A recording never started (the
    /// carrier recorded on its own) is created here.
    pub async fn recording_ready(
        &self,
        call: CallId,
        carrier_sid: Option<&str>,
        source_url: &str,
        duration_seconds: u32,
        now_ms: i64,
    ) -> Result<Recording> {
        let rec = match self.recording_of_call(None, call).await? {
            Some(r) => r,
            None => {
                self.start_recording(call, carrier_sid, false, now_ms)
                    .await?
            }
        };
        sqlx::query("UPDATE recordings SET status = 'pending', source_url = $1, carrier_sid = COALESCE($2, carrier_sid), duration_seconds = $3, ended_at = COALESCE(ended_at, $4), next_attempt_at = $4 WHERE id = $5 AND status = 'recording'")
            .bind(source_url)
            .bind(carrier_sid)
            .bind(i64::from(duration_seconds))
            .bind(now_ms)
            .bind(rec.id.0)
            .execute(self.pool())
            .await?;
        // An open pause ends with the recording.
        sqlx::query("UPDATE recording_pauses SET resumed_ms = $1 WHERE recording_id = $2 AND resumed_ms IS NULL")
            .bind((now_ms - rec.started_at).max(0))
            .bind(rec.id.0)
            .execute(self.pool())
            .await?;
        self.recording_unscoped(rec.id).await
    }

    /// Claims up to `limit` recordings due for a fetch (`pending`, next attempt reached): each
    /// becomes `fetching` with one more attempt counted. Recordings another loop claimed first
    /// are left out.
    pub async fn claim_due_fetches(&self, now_ms: i64, limit: i64) -> Result<Vec<Recording>> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM recordings WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2")
            .bind(now_ms)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        let mut claimed = Vec::new();
        for id in ids {
            let done = sqlx::query("UPDATE recordings SET status = 'fetching', attempts = attempts + 1 WHERE id = $1 AND status = 'pending'")
                .bind(id)
                .execute(self.pool())
                .await?;
            if done.rows_affected() == 1 {
                claimed.push(self.recording_unscoped(RecordingId(id)).await?);
            }
        }
        Ok(claimed)
    }

    /// Fetches left `fetching` and post-call transcripts left `working` by a process that stopped
    /// go back to `pending` (on start). Returns how many.
    pub async fn release_stale_fetches(&self) -> Result<u64> {
        let done =
            sqlx::query("UPDATE recordings SET status = 'pending' WHERE status = 'fetching'")
                .execute(self.pool())
                .await?;
        // A post-call transcript left half-made is asked for again (its job, if any, is kept).
        let transcripts = sqlx::query(
            "UPDATE recordings SET transcript_status = 'pending' WHERE transcript_status = 'working'",
        )
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() + transcripts.rows_affected())
    }

    /// The file is in storage under `key`.
    pub async fn recording_stored(
        &self,
        id: RecordingId,
        key: &str,
        content_type: &str,
        bytes: i64,
        now_ms: i64,
    ) -> Result<Recording> {
        sqlx::query("UPDATE recordings SET status = 'stored', storage_key = $1, content_type = $2, bytes = $3, stored_at = $4, last_error = NULL, next_attempt_at = NULL, transcript_status = CASE WHEN transcription THEN 'pending' ELSE transcript_status END, transcript_next_at = CASE WHEN transcription THEN $4 ELSE transcript_next_at END WHERE id = $5")
            .bind(key)
            .bind(content_type)
            .bind(bytes)
            .bind(now_ms)
            .bind(id.0)
            .execute(self.pool())
            .await?;
        self.recording_unscoped(id).await
    }

    /// A fetch failed: the error is kept, and the recording waits for its next attempt or, with
    /// none left, is `failed`.
    pub async fn recording_fetch_failed(
        &self,
        id: RecordingId,
        f: &FetchFailure<'_>,
    ) -> Result<Recording> {
        let status = match f.retry_at_ms {
            Some(_) => "pending",
            None => "failed",
        };
        sqlx::query("UPDATE recordings SET status = $1, last_error = $2, next_attempt_at = $3 WHERE id = $4")
            .bind(status)
            .bind(f.error)
            .bind(f.retry_at_ms)
            .bind(id.0)
            .execute(self.pool())
            .await?;
        self.recording_unscoped(id).await
    }

    /// The carrier's copy was deleted.
    pub async fn recording_deleted_at_carrier(&self, id: RecordingId, now_ms: i64) -> Result<()> {
        sqlx::query("UPDATE recordings SET carrier_deleted_at = $1 WHERE id = $2")
            .bind(now_ms)
            .bind(id.0)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Recordings (with their storage keys) started before their client's retention allows, up
    /// to `limit`. Clients without a retention keep theirs.
    pub async fn expired_recordings(&self, now_ms: i64, limit: i64) -> Result<Vec<Recording>> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM recordings r JOIN recording_settings s ON s.client_id = r.client_id WHERE s.retention_days IS NOT NULL AND r.started_at < $1 - s.retention_days * 86400000 AND r.status <> 'recording' AND r.status <> 'fetching' ORDER BY r.started_at LIMIT $2",
            COLUMNS
                .split(", ")
                .map(|c| format!("r.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .bind(now_ms)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Deletes a recording's row, its pauses and its call's transcript lines (the call stays).
    pub async fn delete_recording(&self, id: RecordingId) -> Result<()> {
        let mut tx = self.write_tx().await?;
        // Locked first: a post-call transcript being saved finishes before its lines go.
        let call: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT call_id FROM recordings WHERE id = $1{}",
            self.for_update()
        ))
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(call) = call else {
            return Ok(());
        };
        sqlx::query("DELETE FROM transcript_lines WHERE call_id = $1")
            .bind(call)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM recording_pauses WHERE recording_id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM recordings WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
