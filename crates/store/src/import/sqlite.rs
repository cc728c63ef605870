//! The SQLite batch writer. One transaction per batch: claim the job (its first statement
//! writes, so the batch holds SQLite's write lock throughout and no other writer can race it),
//! read the batch's DNC numbers (when the client has any), insert the new contacts first
//! (`ON CONFLICT DO NOTHING`), read back only the chunks the index refused rows of, then apply
//! updates, record rejections and advance the job.
//!
//! Statements with many rows are cut into chunks of a fixed number of rows and kept prepared
//! on the connection (only the last, shorter chunk of a batch is prepared for one use): SQLite
//! compiles a multi-row statement in time proportional to its rows, so compiling one per batch
//! cost about as much as running it. Chunks are large because every statement is a round trip
//! to sqlx's SQLite worker thread, which on a busy machine costs more than the statement.

use super::plan::{batch_phones, insert_candidates, plan_batch, props_json, Plan, Write};
use super::timings::{ImportTimings, Laps, Phase};
use super::{advance_values, Attempt, ImportJob, ParsedRow, Progress, ADVANCE_JOB, INSERT_COLUMNS};
use crate::contacts::{contact_from_row, Change, Contact, CONTACT_COLUMNS};
use crate::Result;
use palera_core::ids::{ClientId, ContactId};
use palera_core::import::{BucketCounts, Rejection, RowWarning};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Connection, Row, Transaction};
use std::collections::{HashMap, HashSet};

type Tx<'c> = Transaction<'c, Any>;
type AnyQuery<'q> = Query<'q, Any, AnyArguments<'q>>;
/// Stored contacts by number, with the import that last wrote each.
type Stored = HashMap<String, (Contact, Option<i64>)>;

/// Rows per prepared chunk of a write (11 values a row for contacts), and numbers per chunk of
/// a lookup: a chunk the index refused some rows of is read back with one lookup chunk.
const CHUNK: usize = 500;

pub(super) async fn try_batch(
    conn: &mut AnyConnection,
    job: &ImportJob,
    rows: &[ParsedRow],
    progress: Progress,
    now_ms: i64,
    timings: &mut ImportTimings,
) -> Result<Attempt> {
    let mut laps = Laps::start(timings);
    let mut tx = conn.begin().await?;
    if !claim(&mut tx, job, rows, progress, now_ms).await? {
        return Ok(Attempt::Done(BucketCounts::default()));
    }
    let phones = batch_phones(rows);
    let dnc = dnc_among(&mut tx, job.client_id, &phones).await?;
    let candidates = insert_candidates(job, rows, &dnc);
    laps.lap(Phase::Classify);
    let (before, mut existing) = insert_new(&mut tx, job, &candidates, now_ms).await?;
    laps.lap(Phase::Write);
    // The numbers not tried (DNC numbers the job skips) may be stored too.
    let tried: HashSet<&str> = candidates.iter().map(|w| w.data.phone.as_str()).collect();
    let untried: Vec<String> = phones
        .iter()
        .filter(|p| !tried.contains(p.as_str()))
        .cloned()
        .collect();
    existing.extend(existing_among(&mut tx, job.client_id, &untried, before).await?);
    let inserted: HashSet<String> = tried
        .into_iter()
        .filter(|p| !existing.contains_key(*p))
        .map(str::to_string)
        .collect();
    let plan = plan_batch(job, rows, &dnc, &existing, &inserted);
    if plan.vanished {
        return Ok(Attempt::Raced);
    }
    laps.lap(Phase::Classify);
    write_updates(&mut tx, job, &plan, now_ms).await?;
    write_rejections(&mut tx, job.id, &plan.rejections).await?;
    write_warnings(&mut tx, job.id, &plan.warnings).await?;
    let mut q = sqlx::query(ADVANCE_JOB);
    for v in advance_values(job.id, &plan.counts, progress, now_ms) {
        q = q.bind(v);
    }
    q.execute(&mut *tx).await?;
    laps.lap(Phase::Write);
    tx.commit().await?;
    laps.lap(Phase::Commit);
    Ok(Attempt::Done(plan.counts))
}

/// Marks the job running, unless the batch's lines are already committed (a resumed job):
/// false then, and the batch is skipped.
async fn claim(
    tx: &mut Tx<'_>,
    job: &ImportJob,
    rows: &[ParsedRow],
    progress: Progress,
    now_ms: i64,
) -> Result<bool> {
    let first_line = rows.first().map_or(progress.last_line, |r| r.line) as i64;
    let claimed = sqlx::query(
        "UPDATE import_jobs SET status = 'running', updated_at = $1 WHERE id = $2 AND last_line < $3",
    )
    .bind(now_ms)
    .bind(job.id)
    .bind(first_line.max(1))
    .execute(&mut **tx)
    .await?;
    Ok(claimed.rows_affected() > 0)
}

/// `n` anonymous placeholders in parentheses: `(?,?,…)`.
fn row_of(n: usize) -> String {
    format!("({})", vec!["?"; n].join(","))
}

/// A statement over `rows` rows, kept prepared when it is a whole chunk of `whole` rows.
fn chunk_query(sql: &str, rows: usize, whole: usize) -> AnyQuery<'_> {
    sqlx::query(sql).persistent(rows == whole)
}

/// The rows of `select` (ending `WHERE … AND {column}`, its placeholders bound to `leading`)
/// with `IN (…)` over `values`, in chunks.
async fn select_in(
    tx: &mut Tx<'_>,
    select: &str,
    leading: &[i64],
    values: &[String],
) -> Result<Vec<sqlx::any::AnyRow>> {
    let mut out = Vec::new();
    for chunk in values.chunks(CHUNK) {
        let sql = format!("{select} IN {}", row_of(chunk.len()));
        let mut q = chunk_query(&sql, chunk.len(), CHUNK);
        for v in leading {
            q = q.bind(*v);
        }
        for v in chunk {
            q = q.bind(v.as_str());
        }
        out.extend(q.fetch_all(&mut **tx).await?);
    }
    Ok(out)
}

/// The batch's numbers on the client's DNC list (none read when the list is empty).
async fn dnc_among(
    tx: &mut Tx<'_>,
    client: ClientId,
    phones: &[String],
) -> Result<HashSet<String>> {
    let any: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT 1 FROM dnc_numbers WHERE client_id = $1 LIMIT 1)",
    )
    .bind(client.0)
    .fetch_one(&mut **tx)
    .await?;
    if any == 0 {
        return Ok(HashSet::new());
    }
    let select = "SELECT number FROM dnc_numbers WHERE client_id = ? AND number";
    select_in(tx, select, &[client.0], phones)
        .await?
        .iter()
        .map(|r| Ok(r.try_get::<String, _>("number")?))
        .collect()
}

/// The client's contacts with these numbers stored before this batch (ids up to `before`),
/// with the import that last wrote each.
async fn existing_among(
    tx: &mut Tx<'_>,
    client: ClientId,
    phones: &[String],
    before: i64,
) -> Result<Stored> {
    let select = format!(
        "SELECT {CONTACT_COLUMNS}, import_id FROM contacts WHERE id <= ? AND client_id = ? AND phone"
    );
    let mut out = HashMap::new();
    for r in select_in(tx, &select, &[before, client.0], phones).await? {
        let c = contact_from_row(&r)?;
        let import: Option<i64> = r.try_get("import_id")?;
        out.insert(c.phone.as_str().to_string(), (c, import));
    }
    Ok(out)
}

fn bind_write<'q>(q: AnyQuery<'q>, job: &ImportJob, w: &'q Write, now_ms: i64) -> AnyQuery<'q> {
    q.bind(job.client_id.0)
        .bind(w.data.phone.as_str())
        .bind(w.list.map(|l| l.0))
        .bind(w.data.first_name.as_str())
        .bind(w.data.last_name.as_str())
        .bind(w.data.email.as_ref().map(|e| e.as_str()))
        .bind(w.data.time_zone.map(|z| z.name()))
        .bind(props_json(&w.data.properties))
        .bind(job.id)
        .bind(now_ms)
        .bind(now_ms)
}

/// Inserts the candidates the unique index takes, leaving numbers already stored alone, and
/// gives each new contact the history row of the list it came into, as for one added by hand.
/// Returns the largest contact id before the batch (the new contacts' ids are all above it)
/// and the stored contacts of the numbers the index refused.
///
/// Nothing comes back row by row for the rows taken: a chunk is one statement, and only a
/// chunk of which the index refused some rows is read back, right away, while the index pages
/// it just searched are still in the page cache.
async fn insert_new(
    tx: &mut Tx<'_>,
    job: &ImportJob,
    candidates: &[Write],
    now_ms: i64,
) -> Result<(i64, Stored)> {
    // AUTOINCREMENT ids only grow and this transaction holds the write lock, so the contacts
    // with ids above the largest one now are exactly the ones this batch inserts.
    let before: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM contacts")
        .fetch_one(&mut **tx)
        .await?;
    let mut existing = Stored::new();
    for chunk in candidates.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO contacts ({INSERT_COLUMNS}) VALUES {} ON CONFLICT (client_id, phone) DO NOTHING",
            vec![row_of(11); chunk.len()].join(",")
        );
        let mut q = chunk_query(&sql, chunk.len(), CHUNK);
        for w in chunk {
            q = bind_write(q, job, w, now_ms);
        }
        if (q.execute(&mut **tx).await?.rows_affected() as usize) < chunk.len() {
            let phones: Vec<String> = chunk
                .iter()
                .map(|w| w.data.phone.as_str().to_string())
                .collect();
            existing.extend(existing_among(tx, job.client_id, &phones, before).await?);
        }
    }
    sqlx::query(
        "INSERT INTO contact_history (client_id, contact_id, field, old_value, new_value, user_id, source, at) \
         SELECT client_id, id, 'list', NULL, CAST(list_id AS TEXT), $1, $2, $3 FROM contacts \
         WHERE id > $4 ORDER BY id",
    )
    .bind(job.created_by.map(|u| u.0))
    .bind(format!("import:{}", job.id))
    .bind(now_ms)
    .bind(before)
    .execute(&mut **tx)
    .await?;
    Ok((before, existing))
}

/// Writes the existing contacts the batch changes (and their history) or only marks.
async fn write_updates(tx: &mut Tx<'_>, job: &ImportJob, plan: &Plan, now_ms: i64) -> Result<()> {
    for chunk in plan.marks.chunks(CHUNK) {
        let sql = format!(
            "UPDATE contacts SET import_id = ? WHERE id IN {}",
            row_of(chunk.len())
        );
        let mut q = chunk_query(&sql, chunk.len(), CHUNK).bind(job.id);
        for id in chunk {
            q = q.bind(id.0);
        }
        q.execute(&mut **tx).await?;
    }
    for chunk in plan.updates.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO contacts ({INSERT_COLUMNS}) VALUES {} ON CONFLICT (client_id, phone) DO UPDATE SET \
             list_id = excluded.list_id, first_name = excluded.first_name, last_name = excluded.last_name, \
             email = excluded.email, time_zone = excluded.time_zone, properties = excluded.properties, \
             import_id = excluded.import_id, updated_at = excluded.updated_at",
            vec![row_of(11); chunk.len()].join(",")
        );
        let mut q = chunk_query(&sql, chunk.len(), CHUNK);
        for (_, w, _) in chunk {
            q = bind_write(q, job, w, now_ms);
        }
        q.execute(&mut **tx).await?;
    }
    let history: Vec<(ContactId, &Change)> = plan
        .updates
        .iter()
        .flat_map(|(id, _, ch)| ch.iter().map(move |c| (*id, c)))
        .collect();
    write_history(tx, job, &history, now_ms).await
}

async fn write_history(
    tx: &mut Tx<'_>,
    job: &ImportJob,
    history: &[(ContactId, &Change)],
    now_ms: i64,
) -> Result<()> {
    let source = format!("import:{}", job.id);
    for chunk in history.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO contact_history (client_id, contact_id, field, old_value, new_value, user_id, source, at) VALUES {}",
            vec![row_of(8); chunk.len()].join(",")
        );
        let mut q = chunk_query(&sql, chunk.len(), CHUNK);
        for (id, c) in chunk {
            q = q
                .bind(job.client_id.0)
                .bind(id.0)
                .bind(c.field.as_str())
                .bind(c.old.as_deref())
                .bind(c.new.as_deref())
                .bind(job.created_by.map(|u| u.0))
                .bind(source.as_str())
                .bind(now_ms);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

async fn write_warnings(tx: &mut Tx<'_>, job: i64, warnings: &[RowWarning]) -> Result<()> {
    for chunk in warnings.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO import_warnings (job_id, line, field, reason) VALUES {} ON CONFLICT (job_id, line, field) DO NOTHING",
            vec![row_of(4); chunk.len()].join(",")
        );
        let mut q = sqlx::query(&sql);
        for w in chunk {
            q = q
                .bind(job)
                .bind(w.line as i64)
                .bind(w.field.as_str())
                .bind(w.reason.as_str());
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

async fn write_rejections(tx: &mut Tx<'_>, job: i64, rejections: &[Rejection]) -> Result<()> {
    for chunk in rejections.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO import_rejections (job_id, line, reason) VALUES {} ON CONFLICT (job_id, line) DO NOTHING",
            vec![row_of(3); chunk.len()].join(",")
        );
        let mut q = chunk_query(&sql, chunk.len(), CHUNK);
        for r in chunk {
            q = q.bind(job).bind(r.line as i64).bind(r.reason.as_str());
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}
