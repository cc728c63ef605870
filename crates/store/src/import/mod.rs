//! Contact CSV imports: the job record (status, counts per bucket, progress, last committed line)
//! and the batch writer. A file is read as a stream ([`reader`]), rows are parsed and classified
//! by the pure rules in `palera_core::import`, and each batch is applied in one transaction that
//! also advances the job's counters and `last_line`. So a failure part-way leaves whole batches
//! only, and a resumed job starts after the last committed line with its counts intact.
//!
//! Each batch is classified insert-first ([`plan`]): the first row of each number that may be
//! new is inserted with `ON CONFLICT DO NOTHING … RETURNING`, and only the numbers the database
//! refused are read back (`FOR UPDATE` on PostgreSQL) and classified against what is stored.
//! Concurrency: on SQLite the batch's first statement writes the job row, so the batch holds
//! the write lock and nothing can race it. On PostgreSQL an insert that meets another
//! transaction's uncommitted row of the same number waits for it; once that commits, the number
//! is read back as stored (moved or skipped, never counted new twice), so two imports of one
//! number into two lists leave it in exactly one. New numbers are inserted in number order in
//! every batch, so two batches take the index's keys in one order.
//!
//! The writers are per backend: [`sqlite`] with prepared statements of a fixed number of rows,
//! [`pg`] with array binds over its typed pool. Either way each new contact gets the history
//! row of the list it came into, and the `list_counts` triggers count it in that same
//! transaction.

mod pg;
mod plan;
pub mod reader;
mod runner;
mod sqlite;
mod timings;

pub use runner::{preview, run_import, run_import_timed, summary, ImportError};
pub use timings::ImportTimings;

use crate::{Backend, Result, Store, StoreError};
use palera_core::contact::derive_time_zone;
use palera_core::ids::{ClientId, ListId, UserId};
use palera_core::import::{BucketCounts, ImportOptions, Rejection, RowData, RowWarning, Target};
use serde::Serialize;
use sqlx::{AnyConnection, Row};

/// Rows per batch transaction (each insert binds 11 values per row; both backends take it).
pub const BATCH_ROWS: usize = 2000;

/// The page cache of an import's SQLite connection, in KiB. Random numbers insert all over the
/// phone index, but measured on 1,000,000 random numbers a 64 MiB cache was no faster than
/// SQLite's default 2 MiB (the misses are served by the OS page cache; the batch writer is
/// bound by CPU) and cost 70 MB of memory, so it stays at the default size.
pub const IMPORT_CACHE_KIB: u32 = 2 * 1024;

/// The state of an import job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Pending,
    Running,
    Done,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "running" => JobStatus::Running,
            "done" => JobStatus::Done,
            "failed" => JobStatus::Failed,
            _ => JobStatus::Pending,
        }
    }
}

/// A stored import job: what it imports into, how far it got and its counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportJob {
    pub id: i64,
    pub client_id: ClientId,
    pub list_id: ListId,
    pub status: JobStatus,
    pub file_name: String,
    pub options: ImportOptions,
    /// Column targets chosen by the user (by column index); `None` columns are guessed.
    pub mapping: Vec<Option<Target>>,
    pub total_bytes: i64,
    pub processed_bytes: i64,
    pub counts: BucketCounts,
    /// The last file line whose batch is committed; a resumed job starts after it.
    pub last_line: i64,
    pub error: Option<String>,
    pub created_by: Option<UserId>,
    pub created_at: i64,
    pub updated_at: i64,
}

const JOB_COLUMNS: &str = "id, client_id, list_id, status, file_name, options, total_bytes, processed_bytes, row_count, imported, updated, moved_from_list, duplicates_in_file, on_dnc, rejected, last_line, error, created_by, created_at, updated_at";

fn job_from_row(r: &sqlx::any::AnyRow) -> Result<ImportJob> {
    let n = |c: &str| -> Result<u64> { Ok(r.try_get::<i64, _>(c)?.max(0) as u64) };
    let options: String = r.try_get("options")?;
    let options: StoredOptions = serde_json::from_str(&options).unwrap_or_default();
    let status: String = r.try_get("status")?;
    Ok(ImportJob {
        id: r.try_get("id")?,
        client_id: ClientId(r.try_get("client_id")?),
        list_id: ListId(r.try_get("list_id")?),
        status: JobStatus::parse(&status),
        file_name: r.try_get("file_name")?,
        options: options.options,
        mapping: options.mapping,
        total_bytes: r.try_get("total_bytes")?,
        processed_bytes: r.try_get("processed_bytes")?,
        counts: BucketCounts {
            rows: n("row_count")?,
            imported: n("imported")?,
            updated: n("updated")?,
            moved_from_list: n("moved_from_list")?,
            duplicates_in_file: n("duplicates_in_file")?,
            on_dnc: n("on_dnc")?,
            rejected: n("rejected")?,
        },
        last_line: r.try_get("last_line")?,
        error: r.try_get("error")?,
        created_by: r.try_get::<Option<i64>, _>("created_by")?.map(UserId),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// The `options` column: the import options and the column mapping.
#[derive(Debug, Default, serde::Deserialize, Serialize)]
struct StoredOptions {
    #[serde(flatten)]
    options: ImportOptions,
    #[serde(default)]
    mapping: Vec<Option<Target>>,
}

/// One parsed row of a file: its line and its data, or the rejection reason.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRow {
    pub line: u64,
    pub row: std::result::Result<RowData, String>,
    /// The time zone the number alone determines, which a new contact takes when its row names
    /// none. Worked out with the parse ([`ParsedRow::new`]), on the reader's threads, because
    /// looking it up costs about as much as writing the row.
    pub zone: Option<chrono_tz::Tz>,
}

impl ParsedRow {
    pub fn new(line: u64, row: std::result::Result<RowData, String>) -> Self {
        let zone = match &row {
            Ok(r) if r.time_zone.is_none() => derive_time_zone(&r.phone),
            _ => None,
        };
        Self { line, row, zone }
    }
}

/// How far the file has been read when a batch ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub last_line: u64,
    pub processed_bytes: u64,
}

/// Why a batch must be classified again.
enum Attempt {
    Done(BucketCounts),
    Raced,
}

impl Store {
    /// Records a new import job into `list` (which must be the client's).
    // Each argument is one column of the job; a struct would only restate them.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_import_job(
        &self,
        client: ClientId,
        list: ListId,
        file_name: &str,
        total_bytes: i64,
        options: ImportOptions,
        mapping: &[Option<Target>],
        user: Option<UserId>,
        now_ms: i64,
    ) -> Result<ImportJob> {
        self.list(client, list).await?;
        let stored = StoredOptions {
            options,
            mapping: mapping.to_vec(),
        };
        let r = sqlx::query(&format!(
            "INSERT INTO import_jobs (client_id, list_id, status, file_name, options, total_bytes, created_by, created_at, updated_at) \
             VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8) RETURNING {JOB_COLUMNS}"
        ))
        .bind(client.0)
        .bind(list.0)
        .bind(file_name)
        .bind(serde_json::to_string(&stored).unwrap_or_else(|_| "{}".into()))
        .bind(total_bytes)
        .bind(user.map(|u| u.0))
        .bind(now_ms)
        .bind(now_ms)
        .fetch_one(self.pool())
        .await?;
        job_from_row(&r)
    }

    /// One import job of the client (another client's is `NotFound`).
    pub async fn import_job(&self, client: ClientId, id: i64) -> Result<ImportJob> {
        let r = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM import_jobs WHERE id = $1 AND client_id = $2"
        ))
        .bind(id)
        .bind(client.0)
        .fetch_one(self.pool())
        .await?;
        job_from_row(&r)
    }

    /// The client's most recent import jobs, newest first.
    pub async fn import_jobs(&self, client: ClientId, limit: i64) -> Result<Vec<ImportJob>> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM import_jobs WHERE client_id = $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(client.0)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Records where the uploaded file of an API import job waits, so that a server that
    /// stopped part-way can resume the job from it at its next start.
    pub async fn set_import_upload(&self, job: i64, path: &str) -> Result<()> {
        sqlx::query("UPDATE import_jobs SET upload_path = $1 WHERE id = $2")
            .bind(path)
            .bind(job)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Unfinished jobs that have a saved upload (API imports), with its path: what a server
    /// resumes at start. Jobs of the command line have none; re-running the command resumes
    /// them.
    pub async fn unfinished_import_uploads(&self) -> Result<Vec<(ImportJob, String)>> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS}, upload_path FROM import_jobs \
             WHERE status IN ('pending', 'running') AND upload_path IS NOT NULL ORDER BY id"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((job_from_row(r)?, r.try_get("upload_path")?)))
            .collect()
    }

    /// Takes an unfinished job for this process, if no other process has touched it since
    /// `seen_updated_at` (what [`Store::unfinished_import_uploads`] read): a compare-and-set on
    /// `updated_at`, which every batch also advances. Of several servers that see the same
    /// stale job, exactly one gets `true`.
    pub async fn claim_import_job(
        &self,
        job: i64,
        seen_updated_at: i64,
        now_ms: i64,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE import_jobs SET updated_at = $1 \
             WHERE id = $2 AND updated_at = $3 AND status IN ('pending', 'running')",
        )
        .bind(now_ms)
        .bind(job)
        .bind(seen_updated_at)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Jobs left `running` or `pending` (by a stopped process), to resume at start.
    pub async fn unfinished_import_jobs(&self) -> Result<Vec<ImportJob>> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM import_jobs WHERE status IN ('pending', 'running') ORDER BY id"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// The warned rows of a job (optional fields left empty) in line order, after line `after`.
    pub async fn import_warnings(
        &self,
        client: ClientId,
        job: i64,
        after: u64,
        limit: i64,
    ) -> Result<Vec<RowWarning>> {
        let rows = sqlx::query(
            "SELECT w.line, w.field, w.reason FROM import_warnings w JOIN import_jobs j ON j.id = w.job_id \
             WHERE w.job_id = $1 AND j.client_id = $2 AND w.line > $3 ORDER BY w.line, w.field LIMIT $4",
        )
        .bind(job)
        .bind(client.0)
        .bind(after as i64)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RowWarning {
                    line: r.try_get::<i64, _>("line")? as u64,
                    field: r.try_get("field")?,
                    reason: r.try_get("reason")?,
                })
            })
            .collect()
    }

    /// The rejected rows of a job in line order, after line `after`.
    pub async fn import_rejections(
        &self,
        client: ClientId,
        job: i64,
        after: u64,
        limit: i64,
    ) -> Result<Vec<Rejection>> {
        let rows = sqlx::query(
            "SELECT r.line, r.reason FROM import_rejections r JOIN import_jobs j ON j.id = r.job_id \
             WHERE r.job_id = $1 AND j.client_id = $2 AND r.line > $3 ORDER BY r.line LIMIT $4",
        )
        .bind(job)
        .bind(client.0)
        .bind(after as i64)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Rejection {
                    line: r.try_get::<i64, _>("line")? as u64,
                    reason: r.try_get("reason")?,
                })
            })
            .collect()
    }

    /// Sets a job's status (and error text).
    pub async fn set_import_status(
        &self,
        job: i64,
        status: JobStatus,
        error: Option<&str>,
        now_ms: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE import_jobs SET status = $1, error = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(status.as_str())
        .bind(error)
        .bind(now_ms)
        .bind(job)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Applies one batch of rows to the job's list in one transaction, together with the job's
    /// counters and progress. A batch whose lines are already committed is skipped (resume).
    pub async fn apply_import_batch(
        &self,
        job: &ImportJob,
        rows: &[ParsedRow],
        progress: Progress,
        now_ms: i64,
    ) -> Result<BucketCounts> {
        let mut timings = ImportTimings::default();
        self.apply_import_batch_on(None, job, rows, progress, now_ms, &mut timings)
            .await
    }

    /// [`Store::apply_import_batch`] on a given SQLite connection (an import's own, whose page
    /// cache is sized for the indexes it writes) or, with `None`, on one from the pool; the
    /// time of each phase is added to `timings`.
    #[tracing::instrument(skip(self, conn, job, rows, timings), fields(job = job.id, rows = rows.len()))]
    pub(crate) async fn apply_import_batch_on(
        &self,
        mut conn: Option<&mut AnyConnection>,
        job: &ImportJob,
        rows: &[ParsedRow],
        progress: Progress,
        now_ms: i64,
        timings: &mut ImportTimings,
    ) -> Result<BucketCounts> {
        let mut last_err = None;
        for _ in 0..20 {
            let attempt = self
                .try_batch(conn.as_deref_mut(), job, rows, progress, now_ms, timings)
                .await;
            match attempt {
                Ok(Attempt::Done(c)) => return Ok(c),
                Ok(Attempt::Raced) => continue,
                Err(StoreError::Database(e)) if is_retryable(&e) => {
                    last_err = Some(StoreError::Database(e));
                    backoff().await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| {
            StoreError::conflict("batch", "concurrent imports kept racing; try again")
        }))
    }

    /// A connection of its own for an import on SQLite, with a page cache of
    /// [`IMPORT_CACHE_KIB`], used by every batch of the import (so the cache stays warm) and
    /// closed (its cache freed) when dropped. `None` on PostgreSQL, whose batches go through the typed pool.
    pub(crate) async fn import_connection(&self) -> Result<Option<AnyConnection>> {
        if self.pg().is_some() {
            return Ok(None);
        }
        let mut conn = self.pool().acquire().await?.detach();
        sqlx::query(&format!("PRAGMA cache_size = -{IMPORT_CACHE_KIB}"))
            .execute(&mut conn)
            .await?;
        Ok(Some(conn))
    }

    async fn try_batch(
        &self,
        conn: Option<&mut AnyConnection>,
        job: &ImportJob,
        rows: &[ParsedRow],
        progress: Progress,
        now_ms: i64,
        timings: &mut ImportTimings,
    ) -> Result<Attempt> {
        if let Some(pg) = self.pg() {
            return pg::try_batch(pg, job, rows, progress, now_ms, timings).await;
        }
        match conn {
            Some(c) => sqlite::try_batch(c, job, rows, progress, now_ms, timings).await,
            None => {
                let mut c = self.pool().acquire().await?;
                sqlite::try_batch(&mut c, job, rows, progress, now_ms, timings).await
            }
        }
    }
}

/// Deadlocks, serialization failures and a busy SQLite database are worth another try.
fn is_retryable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            matches!(db.code().as_deref(), Some("40001" | "40P01" | "5" | "6"))
                || db.message().contains("database is locked")
        }
        _ => false,
    }
}

/// A short pause before another try, so the other transaction can finish.
async fn backoff() {
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
}

/// `n` bind placeholders numbered from `start`: `$start, $start+1, …` on PostgreSQL, and plain
/// `?` on SQLite, where binding looks each numbered name up in a list (quadratic in a statement
/// with thousands of values) while anonymous ones bind by position. A statement uses one style
/// throughout and binds in order.
pub(crate) fn placeholders(backend: Backend, start: usize, n: usize) -> String {
    let mut s = String::with_capacity(n * 6);
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        match backend {
            Backend::Sqlite => s.push('?'),
            Backend::Postgres => {
                s.push('$');
                s.push_str(&(start + i).to_string());
            }
        }
    }
    s
}

const INSERT_COLUMNS: &str = "client_id, phone, list_id, first_name, last_name, email, time_zone, properties, import_id, created_at, updated_at";

const ADVANCE_JOB: &str = "UPDATE import_jobs SET row_count = row_count + $1, imported = imported + $2, updated = updated + $3, \
     moved_from_list = moved_from_list + $4, duplicates_in_file = duplicates_in_file + $5, on_dnc = on_dnc + $6, \
     rejected = rejected + $7, last_line = $8, processed_bytes = $9, updated_at = $10 WHERE id = $11";

/// The values bound to [`ADVANCE_JOB`], in order: the batch's counts, its progress, the time
/// and the job. Both backends bind exactly these.
fn advance_values(job: i64, c: &BucketCounts, p: Progress, now_ms: i64) -> [i64; 11] {
    [
        c.rows as i64,
        c.imported as i64,
        c.updated as i64,
        c.moved_from_list as i64,
        c.duplicates_in_file as i64,
        c.on_dnc as i64,
        c.rejected as i64,
        p.last_line as i64,
        p.processed_bytes as i64,
        now_ms,
        job,
    ]
}
