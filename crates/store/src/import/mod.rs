//! Contact CSV imports: the job record (status, counts per bucket, progress, last committed line)
//! and the batch writer. A file is read as a stream ([`reader`]), rows are parsed and classified
//! by the pure rules in `palera_core::import`, and each batch is applied in one transaction that
//! also advances the job's counters and `last_line`. So a failure part-way leaves whole batches
//! only, and a resumed job starts after the last committed line with its counts intact.
//!
//! Concurrency: the batch transaction first writes the job row (on SQLite that takes the write
//! lock), then reads the existing contacts of the batch's numbers (`FOR UPDATE` on PostgreSQL),
//! and inserts new numbers with `ON CONFLICT DO NOTHING`. If another import inserted one of those
//! numbers meanwhile, fewer rows come back than expected and the batch is rolled back and
//! classified again, so two imports of one number into two lists cannot both count it as new,
//! and the contact ends up in exactly one list.
//!
//! The statements here are the SQLite ones; PostgreSQL runs the same batch transaction with
//! array binds over its typed pool ([`pg`]). Either way each new contact gets the history row of
//! the list it came into, and the `list_counts` triggers count it in that same transaction.

mod pg;
pub mod reader;
mod runner;

pub use runner::{preview, run_import, summary, ImportError};

use crate::contacts::{contact_from_row, diff, Change, Contact, CONTACT_COLUMNS};
use crate::{Backend, Result, Store, StoreError};
use palera_core::contact::{derive_time_zone, ContactData};
use palera_core::ids::{ClientId, ContactId, ListId, UserId};
use palera_core::import::{
    classify, stores, Action, Bucket, BucketCounts, Existing, ImportOptions, Rejection, RowData,
    Target,
};
use serde::Serialize;
use serde_json::Value;
use sqlx::AnyConnection;
use sqlx::{Any, Connection, Row, Transaction};
use std::collections::{HashMap, HashSet};

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
        self.apply_import_batch_on(None, job, rows, progress, now_ms)
            .await
    }

    /// [`Store::apply_import_batch`] on a given SQLite connection (an import's own, whose page
    /// cache is sized for the indexes it writes) or, with `None`, on one from the pool.
    #[tracing::instrument(skip(self, conn, job, rows), fields(job = job.id, rows = rows.len()))]
    pub(crate) async fn apply_import_batch_on(
        &self,
        mut conn: Option<&mut AnyConnection>,
        job: &ImportJob,
        rows: &[ParsedRow],
        progress: Progress,
        now_ms: i64,
    ) -> Result<BucketCounts> {
        let mut last_err = None;
        for _ in 0..20 {
            let attempt = self
                .try_batch(conn.as_deref_mut(), job, rows, progress, now_ms)
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
    ) -> Result<Attempt> {
        if let Some(pg) = self.pg() {
            return pg::try_batch(pg, job, rows, progress, now_ms).await;
        }
        let first_line = rows.first().map_or(progress.last_line, |r| r.line) as i64;
        let mut tx = match conn {
            Some(c) => c.begin().await?,
            None => self.pool().begin().await?,
        };
        // The first statement writes, so SQLite holds the write lock for the whole batch.
        let claimed = sqlx::query(
            "UPDATE import_jobs SET status = 'running', updated_at = $1 WHERE id = $2 AND last_line < $3",
        )
        .bind(now_ms)
        .bind(job.id)
        .bind(first_line.max(1))
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            return Ok(Attempt::Done(BucketCounts::default()));
        }
        let phones: Vec<String> = {
            let mut set: Vec<String> = rows
                .iter()
                .filter_map(|r| r.row.as_ref().ok().map(|d| d.phone.as_str().to_string()))
                .collect();
            set.sort();
            set.dedup();
            set
        };
        let dnc = self.dnc_among(&mut tx, job.client_id, &phones).await?;
        let existing = self.existing_among(&mut tx, job.client_id, &phones).await?;
        let plan = plan_batch(job, rows, &dnc, &existing, now_ms);
        let backend = self.backend();
        if !insert_new(&mut tx, backend, job, &plan.inserts, now_ms).await? {
            return Ok(Attempt::Raced);
        }
        write_updates(&mut tx, backend, job, &plan, now_ms).await?;
        write_rejections(&mut tx, backend, job.id, &plan.rejections).await?;
        advance_job(&mut tx, job.id, &plan.counts, progress, now_ms).await?;
        tx.commit().await?;
        Ok(Attempt::Done(plan.counts))
    }

    async fn dnc_among(
        &self,
        tx: &mut Transaction<'_, Any>,
        client: ClientId,
        phones: &[String],
    ) -> Result<HashSet<String>> {
        let mut out = HashSet::new();
        if phones.is_empty() {
            return Ok(out);
        }
        let sql = format!(
            "SELECT number FROM dnc_numbers WHERE client_id = {} AND number IN ({})",
            placeholders(self.backend(), 1, 1),
            placeholders(self.backend(), 2, phones.len())
        );
        let mut q = sqlx::query(&sql).persistent(false).bind(client.0);
        for p in phones {
            q = q.bind(p.as_str());
        }
        for r in q.fetch_all(&mut **tx).await? {
            out.insert(r.try_get::<String, _>("number")?);
        }
        Ok(out)
    }

    async fn existing_among(
        &self,
        tx: &mut Transaction<'_, Any>,
        client: ClientId,
        phones: &[String],
    ) -> Result<HashMap<String, (Contact, Option<i64>)>> {
        let mut out = HashMap::new();
        if phones.is_empty() {
            return Ok(out);
        }
        // SQLite only (PostgreSQL batches go through `pg`): the batch holds the write lock, so
        // no row locks are needed.
        let sql = format!(
            "SELECT {CONTACT_COLUMNS}, import_id FROM contacts WHERE client_id = {} AND phone IN ({})",
            placeholders(self.backend(), 1, 1),
            placeholders(self.backend(), 2, phones.len())
        );
        let mut q = sqlx::query(&sql).persistent(false).bind(client.0);
        for p in phones {
            q = q.bind(p.as_str());
        }
        for r in q.fetch_all(&mut **tx).await? {
            let c = contact_from_row(&r)?;
            let import: Option<i64> = r.try_get("import_id")?;
            out.insert(c.phone.as_str().to_string(), (c, import));
        }
        Ok(out)
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

/// A contact write of the batch: the full row to store.
struct Write {
    data: ContactData,
    list: Option<ListId>,
}

/// What a batch will do, decided in memory before anything is written.
struct Plan {
    counts: BucketCounts,
    inserts: Vec<Write>,
    /// Existing contacts whose stored row changes, with the history of each.
    updates: Vec<(ContactId, Write, Vec<Change>)>,
    /// Existing contacts that only take this job's marker.
    marks: Vec<ContactId>,
    rejections: Vec<Rejection>,
}

fn plan_batch(
    job: &ImportJob,
    rows: &[ParsedRow],
    dnc: &HashSet<String>,
    existing: &HashMap<String, (Contact, Option<i64>)>,
    _now_ms: i64,
) -> Plan {
    let mut plan = Plan {
        counts: BucketCounts::default(),
        inserts: Vec::new(),
        updates: Vec::new(),
        marks: Vec::new(),
        rejections: Vec::new(),
    };
    let mut stored: HashSet<&str> = HashSet::new();
    for r in rows {
        let row = match &r.row {
            Ok(row) => row,
            Err(reason) => {
                plan.counts.add(Bucket::Rejected);
                plan.rejections.push(Rejection {
                    line: r.line,
                    reason: reason.clone(),
                });
                continue;
            }
        };
        let phone = row.phone.as_str();
        let found = existing.get(phone);
        let state = if stored.contains(phone) {
            Existing::StoredByThisImport
        } else {
            match found {
                None => Existing::None,
                Some((_, Some(j))) if *j == job.id => Existing::StoredByThisImport,
                Some((c, _)) => match c.list_id {
                    None => Existing::InNoList,
                    Some(l) if l == job.list_id => Existing::InTargetList,
                    Some(_) => Existing::InOtherList,
                },
            }
        };
        let (bucket, action) = classify(state, dnc.contains(phone), job.options);
        plan.counts.add(bucket);
        if stores(action) {
            stored.insert(phone);
        }
        match (action, found) {
            (Action::Insert, _) => plan.inserts.push(Write {
                data: new_contact(row),
                list: Some(job.list_id),
            }),
            (Action::Update | Action::MoveIn, Some((c, _))) => {
                let list = if action == Action::MoveIn {
                    Some(job.list_id)
                } else {
                    c.list_id
                };
                let data = merged(c, row);
                let mut changes = diff(c, &data);
                if list != c.list_id {
                    changes.push(Change {
                        field: "list".into(),
                        old: c.list_id.map(|l| l.0.to_string()),
                        new: list.map(|l| l.0.to_string()),
                    });
                }
                if changes.is_empty() {
                    plan.marks.push(c.id);
                } else {
                    plan.updates.push((c.id, Write { data, list }, changes));
                }
            }
            _ => {}
        }
    }
    plan
}

fn new_contact(row: &RowData) -> ContactData {
    ContactData {
        phone: row.phone.clone(),
        first_name: row.first_name.clone().unwrap_or_default(),
        last_name: row.last_name.clone().unwrap_or_default(),
        email: row.email.clone(),
        time_zone: row.time_zone.or_else(|| derive_time_zone(&row.phone)),
        properties: row.properties.clone(),
    }
}

/// The stored contact with the row's values laid over it: cells the file left empty keep what
/// is stored, so an import never erases data.
fn merged(c: &Contact, row: &RowData) -> ContactData {
    let mut properties = c.properties.clone();
    for (k, v) in &row.properties {
        properties.insert(k.clone(), v.clone());
    }
    ContactData {
        phone: c.phone.clone(),
        first_name: row
            .first_name
            .clone()
            .unwrap_or_else(|| c.first_name.clone()),
        last_name: row.last_name.clone().unwrap_or_else(|| c.last_name.clone()),
        email: row.email.clone().or_else(|| {
            c.email
                .as_deref()
                .and_then(|e| palera_core::user::Email::parse("email", e).ok())
        }),
        time_zone: row
            .time_zone
            .or_else(|| c.time_zone.as_deref().and_then(|z| z.parse().ok())),
        properties,
    }
}

const INSERT_COLUMNS: &str = "client_id, phone, list_id, first_name, last_name, email, time_zone, properties, import_id, created_at, updated_at";

fn bind_write<'q>(
    q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    job: &ImportJob,
    w: &'q Write,
    now_ms: i64,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    q.bind(job.client_id.0)
        .bind(w.data.phone.as_str())
        .bind(w.list.map(|l| l.0))
        .bind(w.data.first_name.as_str())
        .bind(w.data.last_name.as_str())
        .bind(w.data.email.as_ref().map(|e| e.as_str().to_string()))
        .bind(w.data.time_zone.map(|z| z.name().to_string()))
        .bind(Value::Object(w.data.properties.clone()).to_string())
        .bind(job.id)
        .bind(now_ms)
        .bind(now_ms)
}

fn values_rows(backend: Backend, n: usize, cols: usize) -> String {
    (0..n)
        .map(|i| format!("({})", placeholders(backend, i * cols + 1, cols)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Inserts the new contacts; false when another transaction inserted one of them first.
async fn insert_new(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    job: &ImportJob,
    inserts: &[Write],
    now_ms: i64,
) -> Result<bool> {
    if inserts.is_empty() {
        return Ok(true);
    }
    let mut sorted: Vec<&Write> = inserts.iter().collect();
    sorted.sort_by(|a, b| a.data.phone.cmp(&b.data.phone));
    let sql = format!(
        "INSERT INTO contacts ({INSERT_COLUMNS}) VALUES {} ON CONFLICT (client_id, phone) DO NOTHING RETURNING id",
        values_rows(backend, sorted.len(), 11)
    );
    let mut q = sqlx::query(&sql).persistent(false);
    for w in sorted {
        q = bind_write(q, job, w, now_ms);
    }
    let got = q.fetch_all(&mut **tx).await?;
    if got.len() != inserts.len() {
        return Ok(false);
    }
    // Each new contact's history starts with the list it came into, as for one added by hand.
    // AUTOINCREMENT ids only grow and this transaction holds SQLite's write lock, so the ids
    // between the smallest and largest returned are exactly the rows just inserted.
    let ids: Vec<i64> = got
        .iter()
        .map(|r| r.try_get::<i64, _>("id"))
        .collect::<std::result::Result<_, _>>()?;
    let (min, max) = (ids.iter().min(), ids.iter().max());
    if let (Some(min), Some(max)) = (min, max) {
        sqlx::query(
            "INSERT INTO contact_history (client_id, contact_id, field, old_value, new_value, user_id, source, at) \
             SELECT client_id, id, 'list', NULL, CAST(list_id AS TEXT), $1, $2, $3 FROM contacts \
             WHERE id >= $4 AND id <= $5 AND import_id = $6 ORDER BY id",
        )
        .bind(job.created_by.map(|u| u.0))
        .bind(format!("import:{}", job.id))
        .bind(now_ms)
        .bind(*min)
        .bind(*max)
        .bind(job.id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(true)
}

async fn write_updates(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    job: &ImportJob,
    plan: &Plan,
    now_ms: i64,
) -> Result<()> {
    if !plan.marks.is_empty() {
        let ids: Vec<String> = plan.marks.iter().map(|i| i.0.to_string()).collect();
        sqlx::query(&format!(
            "UPDATE contacts SET import_id = $1 WHERE id IN ({})",
            ids.join(",")
        ))
        .persistent(false)
        .bind(job.id)
        .execute(&mut **tx)
        .await?;
    }
    if plan.updates.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO contacts ({INSERT_COLUMNS}) VALUES {} ON CONFLICT (client_id, phone) DO UPDATE SET \
         list_id = excluded.list_id, first_name = excluded.first_name, last_name = excluded.last_name, \
         email = excluded.email, time_zone = excluded.time_zone, properties = excluded.properties, \
         import_id = excluded.import_id, updated_at = excluded.updated_at",
        values_rows(backend, plan.updates.len(), 11)
    );
    let mut q = sqlx::query(&sql).persistent(false);
    for (_, w, _) in &plan.updates {
        q = bind_write(q, job, w, now_ms);
    }
    q.execute(&mut **tx).await?;
    let history: Vec<(ContactId, &Change)> = plan
        .updates
        .iter()
        .flat_map(|(id, _, ch)| ch.iter().map(move |c| (*id, c)))
        .collect();
    let source = format!("import:{}", job.id);
    for chunk in history.chunks(2000) {
        let sql = format!(
            "INSERT INTO contact_history (client_id, contact_id, field, old_value, new_value, user_id, source, at) VALUES {}",
            values_rows(backend, chunk.len(), 8)
        );
        let mut q = sqlx::query(&sql).persistent(false);
        for (id, c) in chunk {
            q = q
                .bind(job.client_id.0)
                .bind(id.0)
                .bind(c.field.as_str())
                .bind(c.old.clone())
                .bind(c.new.clone())
                .bind(job.created_by.map(|u| u.0))
                .bind(source.as_str())
                .bind(now_ms);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

async fn write_rejections(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    job: i64,
    rejections: &[Rejection],
) -> Result<()> {
    for chunk in rejections.chunks(5000) {
        let sql = format!(
            "INSERT INTO import_rejections (job_id, line, reason) VALUES {} ON CONFLICT (job_id, line) DO NOTHING",
            values_rows(backend, chunk.len(), 3)
        );
        let mut q = sqlx::query(&sql).persistent(false);
        for r in chunk {
            q = q.bind(job).bind(r.line as i64).bind(r.reason.as_str());
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

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

async fn advance_job(
    tx: &mut Transaction<'_, Any>,
    job: i64,
    c: &BucketCounts,
    p: Progress,
    now_ms: i64,
) -> Result<()> {
    let mut q = sqlx::query(ADVANCE_JOB);
    for v in advance_values(job, c, p, now_ms) {
        q = q.bind(v);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}
