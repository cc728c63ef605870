//! The PostgreSQL batch writer: the same batch transaction as the SQLite one (claim the job,
//! insert the new numbers first, read back and lock the numbers the insert refused, apply
//! updates, record rejections, advance the job), but over the typed pool, so each statement binds one array per
//! column (`UNNEST`) instead of thousands of scalars. A batch is a handful of round trips and a
//! few small statements the server plans once, whatever the batch size.

use super::plan::{batch_phones, insert_candidates, not_inserted, plan_batch, Plan, Write};
use super::timings::{ImportTimings, Laps, Phase};
use super::{Attempt, ImportJob, ParsedRow, Progress};
use crate::contacts::{Change, Contact};
use crate::{Result, StoreError};
use palera_core::ids::{ClientId, ContactId, ListId};
use palera_core::import::BucketCounts;
use palera_core::phone::PhoneNumber;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};
use std::collections::{HashMap, HashSet};

type Tx<'c> = Transaction<'c, Postgres>;

pub(super) async fn try_batch(
    pool: &PgPool,
    job: &ImportJob,
    rows: &[ParsedRow],
    progress: Progress,
    now_ms: i64,
    timings: &mut ImportTimings,
) -> Result<Attempt> {
    let mut laps = Laps::start(timings);
    let first_line = rows.first().map_or(progress.last_line, |r| r.line) as i64;
    let mut tx = pool.begin().await?;
    let claimed = sqlx::query(
        "UPDATE import_jobs SET status = 'running', updated_at = $1 WHERE id = $2 AND last_line < $3",
    )
    .bind(now_ms)
    .bind(job.id)
    .bind(first_line.max(1))
    .execute(&mut *tx)
    .await?;
    if claimed.rows_affected() == 0 {
        return Ok(Attempt::Done(Default::default()));
    }
    let phones = batch_phones(rows);
    let dnc = dnc_among(&mut tx, job.client_id, &phones).await?;
    let candidates = insert_candidates(job, rows, &dnc);
    laps.lap(Phase::Classify);
    let inserted = insert_new(&mut tx, job, &candidates, now_ms).await?;
    laps.lap(Phase::Write);
    let rest = not_inserted(&phones, &inserted);
    let existing = existing_among(&mut tx, job.client_id, &rest).await?;
    let plan = plan_batch(job, rows, &dnc, &existing, &inserted);
    if plan.vanished {
        return Ok(Attempt::Raced);
    }
    laps.lap(Phase::Classify);
    write_updates(&mut tx, job, &plan, now_ms).await?;
    write_rejections(&mut tx, job.id, &plan).await?;
    write_warnings(&mut tx, job.id, &plan).await?;
    advance_job(&mut tx, job.id, &plan.counts, progress, now_ms).await?;
    laps.lap(Phase::Write);
    tx.commit().await?;
    laps.lap(Phase::Commit);
    Ok(Attempt::Done(plan.counts))
}

async fn dnc_among(
    tx: &mut Tx<'_>,
    client: ClientId,
    phones: &[String],
) -> Result<HashSet<String>> {
    if phones.is_empty() {
        return Ok(HashSet::new());
    }
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT number FROM dnc_numbers WHERE client_id = $1 AND number = ANY($2)")
            .bind(client.0)
            .bind(phones)
            .fetch_all(&mut **tx)
            .await?;
    Ok(rows.into_iter().map(|(n,)| n).collect())
}

/// The client's contacts with the batch's numbers, locked (in number order, as every batch
/// locks them) until the batch commits.
async fn existing_among(
    tx: &mut Tx<'_>,
    client: ClientId,
    phones: &[String],
) -> Result<HashMap<String, (Contact, Option<i64>)>> {
    let mut out = HashMap::new();
    if phones.is_empty() {
        return Ok(out);
    }
    let rows = sqlx::query(
        "SELECT id, client_id, phone, list_id, first_name, last_name, email, time_zone, properties, \
         created_at, updated_at, import_id FROM contacts WHERE client_id = $1 AND phone = ANY($2) \
         ORDER BY phone FOR UPDATE",
    )
    .bind(client.0)
    .bind(phones)
    .fetch_all(&mut **tx)
    .await?;
    for r in &rows {
        let c = contact_from_pg(r)?;
        out.insert(c.phone.as_str().to_string(), (c, r.try_get("import_id")?));
    }
    Ok(out)
}

fn contact_from_pg(r: &PgRow) -> Result<Contact> {
    let props: String = r.try_get("properties")?;
    let phone: String = r.try_get("phone")?;
    Ok(Contact {
        id: ContactId(r.try_get("id")?),
        client_id: ClientId(r.try_get("client_id")?),
        phone: PhoneNumber::parse_e164(&phone)
            .map_err(|e| StoreError::Database(sqlx::Error::Decode(e.into())))?,
        list_id: r.try_get::<Option<i64>, _>("list_id")?.map(ListId),
        first_name: r.try_get("first_name")?,
        last_name: r.try_get("last_name")?,
        email: r.try_get("email")?,
        time_zone: r.try_get("time_zone")?,
        properties: serde_json::from_str(&props).unwrap_or_default(),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// The columns of contact writes, one array each.
#[derive(Default)]
struct Columns {
    phone: Vec<String>,
    list: Vec<Option<i64>>,
    first: Vec<String>,
    last: Vec<String>,
    email: Vec<Option<String>>,
    zone: Vec<Option<String>>,
    props: Vec<String>,
}

impl Columns {
    fn of<'a>(writes: impl Iterator<Item = &'a Write>) -> Self {
        let mut c = Columns::default();
        for w in writes {
            c.phone.push(w.data.phone.as_str().to_string());
            c.list.push(w.list.map(|l| l.0));
            c.first.push(w.data.first_name.clone());
            c.last.push(w.data.last_name.clone());
            c.email
                .push(w.data.email.as_ref().map(|e| e.as_str().to_string()));
            c.zone.push(w.data.time_zone.map(|z| z.name().to_string()));
            c.props.push(super::plan::props_json(&w.data.properties));
        }
        c
    }

    fn bind<'q>(
        self,
        q: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
        q.bind(self.phone)
            .bind(self.list)
            .bind(self.first)
            .bind(self.last)
            .bind(self.email)
            .bind(self.zone)
            .bind(self.props)
    }
}

/// `SELECT` of the seven column arrays ($4…$10) as contact rows, after the shared values: $1
/// the client, $2 the job, $3 the time.
const UNNEST_CONTACTS: &str = "SELECT $1::BIGINT, t.phone, t.list_id, t.first_name, t.last_name, t.email, t.time_zone, \
     t.properties, $2::BIGINT, $3::BIGINT, $3::BIGINT \
     FROM UNNEST($4::TEXT[], $5::BIGINT[], $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::TEXT[]) \
     AS t(phone, list_id, first_name, last_name, email, time_zone, properties)";

/// Inserts the candidates (in number order) the unique index takes, each with the history row
/// of its first list, and returns their numbers. A number stored by anyone, or being inserted
/// by a transaction that then commits, is left alone (and read back by the caller).
async fn insert_new(
    tx: &mut Tx<'_>,
    job: &ImportJob,
    candidates: &[Write],
    now_ms: i64,
) -> Result<HashSet<String>> {
    if candidates.is_empty() {
        return Ok(HashSet::new());
    }
    let sql = format!(
        "WITH ins AS (INSERT INTO contacts ({cols}) {UNNEST_CONTACTS} \
         ON CONFLICT (client_id, phone) DO NOTHING RETURNING id, phone, list_id), \
         hist AS (INSERT INTO contact_history (client_id, contact_id, field, old_value, new_value, user_id, source, at) \
         SELECT $1, id, 'list', NULL, CAST(list_id AS TEXT), $11, $12, $3 FROM ins) \
         SELECT phone FROM ins",
        cols = super::INSERT_COLUMNS
    );
    let q = sqlx::query_scalar::<_, String>(&sql);
    let q = q.bind(job.client_id.0).bind(job.id).bind(now_ms);
    let got: Vec<String> = bind_columns_scalar(q, Columns::of(candidates.iter()))
        .bind(job.created_by.map(|u| u.0))
        .bind(format!("import:{}", job.id))
        .fetch_all(&mut **tx)
        .await?;
    Ok(got.into_iter().collect())
}

fn bind_columns_scalar<'q>(
    q: sqlx::query::QueryScalar<'q, Postgres, String, sqlx::postgres::PgArguments>,
    c: Columns,
) -> sqlx::query::QueryScalar<'q, Postgres, String, sqlx::postgres::PgArguments> {
    q.bind(c.phone)
        .bind(c.list)
        .bind(c.first)
        .bind(c.last)
        .bind(c.email)
        .bind(c.zone)
        .bind(c.props)
}

async fn write_updates(tx: &mut Tx<'_>, job: &ImportJob, plan: &Plan, now_ms: i64) -> Result<()> {
    if !plan.marks.is_empty() {
        let ids: Vec<i64> = plan.marks.iter().map(|i| i.0).collect();
        sqlx::query("UPDATE contacts SET import_id = $1 WHERE id = ANY($2)")
            .bind(job.id)
            .bind(ids)
            .execute(&mut **tx)
            .await?;
    }
    if plan.updates.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO contacts ({cols}) {UNNEST_CONTACTS} \
         ON CONFLICT (client_id, phone) DO UPDATE SET \
         list_id = excluded.list_id, first_name = excluded.first_name, last_name = excluded.last_name, \
         email = excluded.email, time_zone = excluded.time_zone, properties = excluded.properties, \
         import_id = excluded.import_id, updated_at = excluded.updated_at",
        cols = super::INSERT_COLUMNS
    );
    let q = sqlx::query(&sql)
        .bind(job.client_id.0)
        .bind(job.id)
        .bind(now_ms);
    Columns::of(plan.updates.iter().map(|(_, w, _)| w))
        .bind(q)
        .execute(&mut **tx)
        .await?;
    let history: Vec<(ContactId, &Change)> = plan
        .updates
        .iter()
        .flat_map(|(id, _, ch)| ch.iter().map(move |c| (*id, c)))
        .collect();
    sqlx::query(
        "INSERT INTO contact_history (client_id, contact_id, field, old_value, new_value, user_id, source, at) \
         SELECT $1, t.contact_id, t.field, t.old_value, t.new_value, $2, $3, $4 \
         FROM UNNEST($5::BIGINT[], $6::TEXT[], $7::TEXT[], $8::TEXT[]) AS t(contact_id, field, old_value, new_value)",
    )
    .bind(job.client_id.0)
    .bind(job.created_by.map(|u| u.0))
    .bind(format!("import:{}", job.id))
    .bind(now_ms)
    .bind(history.iter().map(|(id, _)| id.0).collect::<Vec<i64>>())
    .bind(history.iter().map(|(_, c)| c.field.clone()).collect::<Vec<String>>())
    .bind(history.iter().map(|(_, c)| c.old.clone()).collect::<Vec<Option<String>>>())
    .bind(history.iter().map(|(_, c)| c.new.clone()).collect::<Vec<Option<String>>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn write_warnings(tx: &mut Tx<'_>, job: i64, plan: &Plan) -> Result<()> {
    if plan.warnings.is_empty() {
        return Ok(());
    }
    let w = &plan.warnings;
    sqlx::query(
        "INSERT INTO import_warnings (job_id, line, field, reason) \
         SELECT $1, t.line, t.field, t.reason FROM UNNEST($2::BIGINT[], $3::TEXT[], $4::TEXT[]) AS t(line, field, reason) \
         ON CONFLICT (job_id, line, field) DO NOTHING",
    )
    .bind(job)
    .bind(w.iter().map(|r| r.line as i64).collect::<Vec<i64>>())
    .bind(w.iter().map(|r| r.field.clone()).collect::<Vec<String>>())
    .bind(w.iter().map(|r| r.reason.clone()).collect::<Vec<String>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn write_rejections(tx: &mut Tx<'_>, job: i64, plan: &Plan) -> Result<()> {
    if plan.rejections.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO import_rejections (job_id, line, reason) \
         SELECT $1, t.line, t.reason FROM UNNEST($2::BIGINT[], $3::TEXT[]) AS t(line, reason) \
         ON CONFLICT (job_id, line) DO NOTHING",
    )
    .bind(job)
    .bind(
        plan.rejections
            .iter()
            .map(|r| r.line as i64)
            .collect::<Vec<i64>>(),
    )
    .bind(
        plan.rejections
            .iter()
            .map(|r| r.reason.clone())
            .collect::<Vec<String>>(),
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn advance_job(
    tx: &mut Tx<'_>,
    job: i64,
    c: &BucketCounts,
    p: Progress,
    now_ms: i64,
) -> Result<()> {
    let mut q = sqlx::query(super::ADVANCE_JOB);
    for v in super::advance_values(job, c, p, now_ms) {
        q = q.bind(v);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}
