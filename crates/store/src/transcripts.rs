//! Transcript lines (issue 13): the live lines of a call as they arrive (kept in order by their
//! sequence number; a repeated line is a no-op, as carriers retry), the post-call transcript
//! (replaced whole), its state on the recording (`pending` → `done`, or retried and `failed`),
//! and search across one client's transcripts with the database's own full-text index: FTS5 on
//! SQLite, a generated `tsvector` with a GIN index on PostgreSQL, both without stemming so a
//! query finds the same lines on either.

use crate::{Backend, Result, Store};
use palera_core::ids::{CallId, ClientId, ContactId, RecordingId};
use palera_core::recording::{SearchQuery, Speaker, TranscriptLine};
use serde::Serialize;
use sqlx::Row;

/// Which transcript of a call a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TranscriptKind {
    /// Streamed while the call ran.
    Live,
    /// Made from the stored recording after the call.
    Final,
}

impl TranscriptKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Final => "final",
        }
    }
}

/// A line that matched a search, with its call.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SearchHit {
    pub call_id: CallId,
    pub contact_id: Option<ContactId>,
    pub contact: Option<String>,
    pub placed_at: i64,
    pub line: TranscriptLine,
}

fn line_from_row(r: &sqlx::any::AnyRow) -> Result<TranscriptLine> {
    let speaker: String = r.try_get("speaker")?;
    Ok(TranscriptLine {
        seq: r.try_get::<i64, _>("seq")?.max(0) as u32,
        speaker: Speaker::parse(&speaker).unwrap_or(Speaker::Contact),
        start_ms: r.try_get::<i64, _>("start_ms")?.max(0) as u64,
        end_ms: r.try_get::<i64, _>("end_ms")?.max(0) as u64,
        text: r.try_get("text")?,
    })
}

const INSERT: &str = "INSERT INTO transcript_lines (client_id, call_id, kind, seq, speaker, start_ms, end_ms, text) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (call_id, kind, seq) DO NOTHING";

impl Store {
    /// Adds one line of a call's transcript; false when that line was already there.
    pub async fn add_transcript_line(
        &self,
        client: ClientId,
        call: CallId,
        kind: TranscriptKind,
        line: &TranscriptLine,
    ) -> Result<bool> {
        let done = sqlx::query(INSERT)
            .bind(client.0)
            .bind(call.0)
            .bind(kind.as_str())
            .bind(i64::from(line.seq))
            .bind(line.speaker.as_str())
            .bind(line.start_ms as i64)
            .bind(line.end_ms as i64)
            .bind(&line.text)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Adds many lines of one call in one transaction (imports, benchmarks).
    pub async fn add_transcript_lines(
        &self,
        client: ClientId,
        call: CallId,
        kind: TranscriptKind,
        lines: &[TranscriptLine],
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        for line in lines {
            sqlx::query(INSERT)
                .bind(client.0)
                .bind(call.0)
                .bind(kind.as_str())
                .bind(i64::from(line.seq))
                .bind(line.speaker.as_str())
                .bind(line.start_ms as i64)
                .bind(line.end_ms as i64)
                .bind(&line.text)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The transcript of `kind` of a call of `client`, in order (no lines for another client's
    /// call, as for an unknown one).
    pub async fn transcript(
        &self,
        client: ClientId,
        call: CallId,
        kind: TranscriptKind,
    ) -> Result<Vec<TranscriptLine>> {
        let rows = sqlx::query("SELECT seq, speaker, start_ms, end_ms, text FROM transcript_lines WHERE call_id = $1 AND kind = $2 AND client_id = $3 ORDER BY seq")
            .bind(call.0)
            .bind(kind.as_str())
            .bind(client.0)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(line_from_row).collect()
    }

    /// Stores a recording's post-call transcript (replacing any earlier one) and marks it done;
    /// nothing when the recording was deleted meanwhile (retention).
    pub async fn save_final_transcript(
        &self,
        rec: RecordingId,
        lines: &[TranscriptLine],
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        // The recording's row is locked, so retention cannot delete it (and its lines) while
        // these lines go in; a recording deleted already gets no lines.
        let Some(row) = sqlx::query(&format!(
            "SELECT client_id, call_id FROM recordings WHERE id = $1{}",
            self.for_update()
        ))
        .bind(rec.0)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(());
        };
        let (client, call): (i64, i64) = (row.try_get("client_id")?, row.try_get("call_id")?);
        sqlx::query("DELETE FROM transcript_lines WHERE call_id = $1 AND kind = 'final'")
            .bind(call)
            .execute(&mut *tx)
            .await?;
        for line in lines {
            sqlx::query(INSERT)
                .bind(client)
                .bind(call)
                .bind(TranscriptKind::Final.as_str())
                .bind(i64::from(line.seq))
                .bind(line.speaker.as_str())
                .bind(line.start_ms as i64)
                .bind(line.end_ms as i64)
                .bind(&line.text)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE recordings SET transcript_status = 'done', transcript_error = NULL, transcript_next_at = NULL WHERE id = $1")
            .bind(rec.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Claims stored recordings whose post-call transcript is due (one more attempt counted).
    pub async fn claim_due_transcripts(
        &self,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<crate::recordings::Recording>> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM recordings WHERE status = 'stored' AND transcript_status = 'pending' AND transcript_next_at <= $1 ORDER BY transcript_next_at, id LIMIT $2")
            .bind(now_ms)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        let mut claimed = Vec::new();
        for id in ids {
            let done = sqlx::query("UPDATE recordings SET transcript_status = 'working', transcript_attempts = transcript_attempts + 1 WHERE id = $1 AND transcript_status = 'pending'")
                .bind(id)
                .execute(self.pool())
                .await?;
            if done.rows_affected() == 1 {
                claimed.push(self.recording_unscoped(RecordingId(id)).await?);
            }
        }
        Ok(claimed)
    }

    /// A claimed post-call transcript waits on the carrier's job `job` (asked at `now_ms` if it is
    /// new): it is looked at again at `check_at_ms`. Waiting is not a failed attempt, so the
    /// claim's count is taken back.
    pub async fn transcript_waiting(
        &self,
        rec: RecordingId,
        job: &str,
        now_ms: i64,
        check_at_ms: i64,
    ) -> Result<()> {
        sqlx::query("UPDATE recordings SET transcript_job_at = CASE WHEN transcript_job = $1 THEN transcript_job_at ELSE $2 END, transcript_job = $1, transcript_status = 'pending', transcript_next_at = $3, transcript_attempts = CASE WHEN transcript_attempts > 0 THEN transcript_attempts - 1 ELSE 0 END WHERE id = $4 AND transcript_status = 'working'")
            .bind(job)
            .bind(now_ms)
            .bind(check_at_ms)
            .bind(rec.0)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// A post-call transcription failed: retried at `retry_at_ms`, or `failed` for good.
    pub async fn transcript_failed(
        &self,
        rec: RecordingId,
        error: &str,
        retry_at_ms: Option<i64>,
    ) -> Result<()> {
        let status = if retry_at_ms.is_some() {
            "pending"
        } else {
            "failed"
        };
        sqlx::query("UPDATE recordings SET transcript_status = $1, transcript_error = $2, transcript_next_at = $3, transcript_job = NULL, transcript_job_at = NULL WHERE id = $4")
            .bind(status)
            .bind(error)
            .bind(retry_at_ms)
            .bind(rec.0)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Lines of `client`'s transcripts that hold the query's words in order, newest first, at
    /// most one line per call and `limit` calls.
    pub async fn search_transcripts(
        &self,
        client: ClientId,
        q: &SearchQuery,
        limit: i64,
    ) -> Result<Vec<SearchHit>> {
        // Several lines of one call may match: lines are read newest first, a page at a time,
        // keeping the first (newest) line of each call; each next page continues below the last
        // line read and leaves out the calls already found, until `limit` calls are found.
        let page = (limit * 4).clamp(50, 1000);
        let mut hits: Vec<SearchHit> = Vec::new();
        let mut before = i64::MAX;
        loop {
            // Call ids are integers from the database, so listing them inline is safe.
            let found = match hits.is_empty() {
                true => String::new(),
                false => format!(
                    " AND t.call_id NOT IN ({})",
                    hits.iter()
                        .map(|h| h.call_id.0.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            };
            let rows = match self.backend() {
                // `+t.client_id` keeps SQLite from driving the search by the client's lines and
                // probing the full-text index once per line (seconds for a frequent word).
                Backend::Sqlite => {
                    let sql = format!("SELECT t.id AS line_id, t.call_id, t.seq, t.speaker, t.start_ms, t.end_ms, t.text, c.contact_id, c.placed_at, TRIM(k.first_name || ' ' || k.last_name) AS contact_name FROM transcript_fts f JOIN transcript_lines t ON t.id = f.rowid JOIN calls c ON c.id = t.call_id LEFT JOIN contacts k ON k.id = c.contact_id WHERE transcript_fts MATCH $1 AND +t.client_id = $2 AND f.rowid < $4{found} ORDER BY f.rowid DESC LIMIT $3");
                    sqlx::query(&sql)
                        .bind(q.fts5())
                        .bind(client.0)
                        .bind(page)
                        .bind(before)
                        .fetch_all(self.pool())
                        .await?
                }
                Backend::Postgres => {
                    self.search_postgres(client, q, page, before, &found)
                        .await?
                }
            };
            for r in &rows {
                let call = CallId(r.try_get("call_id")?);
                if hits.iter().any(|h| h.call_id == call) {
                    continue;
                }
                hits.push(SearchHit {
                    call_id: call,
                    contact_id: r.try_get::<Option<i64>, _>("contact_id")?.map(ContactId),
                    contact: r.try_get("contact_name")?,
                    placed_at: r.try_get("placed_at")?,
                    line: line_from_row(r)?,
                });
                if hits.len() as i64 >= limit {
                    return Ok(hits);
                }
            }
            match rows.last() {
                Some(last) if rows.len() as i64 == page => before = last.try_get("line_id")?,
                _ => return Ok(hits),
            }
        }
    }
}

/// How many of a client's newest lines the first PostgreSQL search step reads.
const NEWEST_WINDOW: i64 = 20_000;

impl Store {
    /// PostgreSQL search in two steps, so neither plan runs where it is slow: the client's newest
    /// lines are read in id order and matched (a frequent word fills the page at once), and only
    /// when they hold fewer matches than asked is the GIN index used over all lines (then the
    /// word is rare, so its matches are few to sort). The result is the same either way: the
    /// newest matches first.
    async fn search_postgres(
        &self,
        client: ClientId,
        q: &SearchQuery,
        want: i64,
        before: i64,
        found: &str,
    ) -> Result<Vec<sqlx::any::AnyRow>> {
        const COLUMNS: &str = "t.id AS line_id, t.call_id, t.seq, t.speaker, t.start_ms, t.end_ms, t.text, c.contact_id, c.placed_at, TRIM(k.first_name || ' ' || k.last_name) AS contact_name";
        const JOINS: &str =
            "JOIN calls c ON c.id = t.call_id LEFT JOIN contacts k ON k.id = c.contact_id";
        let newest = format!(
            "SELECT {COLUMNS} FROM (SELECT * FROM transcript_lines WHERE client_id = $2 AND id < $4 ORDER BY id DESC LIMIT {NEWEST_WINDOW}) t {JOINS} \
             WHERE t.tsv @@ phraseto_tsquery('simple', $1){found} ORDER BY t.id DESC LIMIT $3"
        );
        let rows = sqlx::query(&newest)
            .bind(q.phrase())
            .bind(client.0)
            .bind(want)
            .bind(before)
            .fetch_all(self.pool())
            .await?;
        if rows.len() as i64 >= want {
            return Ok(rows);
        }
        // `id + 0` keeps the planner off the id index (walking it is what is slow for a rare word).
        let all = format!(
            "SELECT {COLUMNS} FROM transcript_lines t {JOINS} \
             WHERE t.tsv @@ phraseto_tsquery('simple', $1) AND t.client_id = $2 AND t.id < $4{found} ORDER BY t.id + 0 DESC LIMIT $3"
        );
        Ok(sqlx::query(&all)
            .bind(q.phrase())
            .bind(client.0)
            .bind(want)
            .bind(before)
            .fetch_all(self.pool())
            .await?)
    }
}
