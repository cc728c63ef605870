//! Runs an import job over a file: a reader thread streams and parses records (CPU work: CSV
//! and phone-number parsing) while the async side writes the previous batch, with at most two
//! batches in flight, so memory stays flat whatever the file size. Resuming a job skips the
//! lines its committed batches already covered.

use super::reader::{CsvRecords, RawRecord};
use super::{ImportJob, ImportTimings, JobStatus, ParsedRow, Progress, BATCH_ROWS};
use crate::{Store, StoreError};
use palera_core::contact::PropertySchema;
use palera_core::import::{parse_row, BucketCounts, ColumnMapping, ImportSummary, Target};
use std::io::Read;
use std::time::{Duration, Instant};

/// Why an import stopped before the end of the file.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("reading the file failed: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the reader thread sends: a batch and how far it got, or a read error.
type Batch = Result<(Vec<ParsedRow>, Progress), std::io::Error>;

/// The header mapping of a file, for the import wizard's preview: the mapping and the first
/// `rows` records as text.
pub fn preview<R: Read>(
    src: R,
    overrides: &[Option<Target>],
    schema: &PropertySchema,
    rows: usize,
) -> std::io::Result<(ColumnMapping, Vec<Vec<String>>)> {
    let mut rec = CsvRecords::new(src)?;
    let headers = match rec.next_record()? {
        Some(RawRecord::Fields { fields, .. }) => fields.iter().map(|f| text(f)).collect(),
        _ => Vec::new(),
    };
    let mapping = ColumnMapping::new(headers, overrides, schema);
    let mut sample = Vec::new();
    while sample.len() < rows {
        match rec.next_record()? {
            Some(RawRecord::Fields { fields, .. }) => {
                sample.push(fields.iter().map(|f| text(f)).collect())
            }
            Some(RawRecord::TooLong { what, .. }) => sample.push(vec![format!("({what})")]),
            None => break,
        }
    }
    Ok((mapping, sample))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Turns one record into a parsed row (or its rejection).
fn parse_record(
    rec: RawRecord,
    mapping: &ColumnMapping,
    schema: &PropertySchema,
    country: Option<&str>,
) -> ParsedRow {
    let line = rec.line();
    let row = match rec {
        RawRecord::TooLong { what, .. } => Err(what.to_string()),
        RawRecord::Fields { fields, .. } => {
            let decoded: Result<Vec<&str>, usize> = fields
                .iter()
                .enumerate()
                .map(|(i, f)| std::str::from_utf8(f).map_err(|_| i + 1))
                .collect();
            match decoded {
                Err(col) => Err(format!("invalid UTF-8 in column {col}")),
                Ok(cells) => parse_row(mapping, &cells, schema, country),
            }
        }
    };
    ParsedRow::new(line, row)
}

/// Reads the file on this (blocking) thread and sends batches until the end or an error;
/// `busy` gets the time spent reading and parsing (not waiting for the writer).
fn read_batches<R: Read>(
    src: R,
    job: &ImportJob,
    schema: &PropertySchema,
    country: Option<&str>,
    tx: &tokio::sync::mpsc::Sender<Batch>,
    busy: &mut Duration,
) -> std::io::Result<()> {
    let mut since = Instant::now();
    let mut rec = CsvRecords::new(src)?;
    let headers: Vec<String> = match rec.next_record()? {
        Some(RawRecord::Fields { fields, .. }) => fields.iter().map(|f| text(f)).collect(),
        Some(RawRecord::TooLong { .. }) => vec!["(header too long)".into()],
        None => return Ok(()),
    };
    let mapping = ColumnMapping::new(headers, &job.mapping, schema);
    // Parsing (phone numbers above all) is the costly part: raw records are gathered for one
    // batch per worker, parsed on scoped threads, and sent in file order.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let mut pending: Vec<(Vec<RawRecord>, Progress)> = Vec::with_capacity(workers);
    let mut raw = Vec::with_capacity(BATCH_ROWS);
    let mut last_line = 0;
    let mut more = true;
    while more {
        match rec.next_record()? {
            Some(r) if (r.line() as i64) <= job.last_line => continue,
            Some(r) => {
                last_line = r.line();
                raw.push(r);
            }
            None => more = false,
        }
        if raw.len() == BATCH_ROWS || (!more && !raw.is_empty()) {
            let progress = Progress {
                last_line,
                processed_bytes: rec.bytes_consumed(),
            };
            pending.push((
                std::mem::replace(&mut raw, Vec::with_capacity(BATCH_ROWS)),
                progress,
            ));
        }
        if pending.len() == workers || (!more && !pending.is_empty()) {
            let parsed = parse_in_parallel(std::mem::take(&mut pending), &mapping, schema, country);
            *busy += since.elapsed();
            for batch in parsed {
                if tx.blocking_send(Ok(batch)).is_err() {
                    return Ok(());
                }
            }
            since = Instant::now();
        }
    }
    *busy += since.elapsed();
    Ok(())
}

/// Parses each raw batch on its own scoped thread; the result keeps the batches' order.
fn parse_in_parallel(
    batches: Vec<(Vec<RawRecord>, Progress)>,
    mapping: &ColumnMapping,
    schema: &PropertySchema,
    country: Option<&str>,
) -> Vec<(Vec<ParsedRow>, Progress)> {
    let parse = |(raw, progress): (Vec<RawRecord>, Progress)| {
        let rows = raw
            .into_iter()
            .map(|r| parse_record(r, mapping, schema, country))
            .collect();
        (rows, progress)
    };
    if batches.len() == 1 {
        return batches.into_iter().map(parse).collect();
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = batches
            .into_iter()
            .map(|b| s.spawn(move || parse(b)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a parser thread panicked"))
            .collect()
    })
}

/// Runs (or resumes) `job` over `src` to the end of the file and returns the job's summary
/// (all its batches, including those committed by an earlier run). On a read or store error the
/// job is marked failed; its committed batches stay, and running it again resumes after them.
#[tracing::instrument(skip(store, src, now_ms), fields(job = job.id))]
pub async fn run_import<R: Read + Send + 'static>(
    store: &Store,
    job: &ImportJob,
    src: R,
    now_ms: impl Fn() -> i64,
) -> Result<ImportSummary, ImportError> {
    Ok(run_import_timed(store, job, src, now_ms).await?.0)
}

/// [`run_import`], also returning where this run's time went.
pub async fn run_import_timed<R: Read + Send + 'static>(
    store: &Store,
    job: &ImportJob,
    src: R,
    now_ms: impl Fn() -> i64,
) -> Result<(ImportSummary, ImportTimings), ImportError> {
    let schema = store.property_schema(job.client_id).await?;
    let client = store.client(job.client_id).await?;
    store
        .set_import_status(job.id, JobStatus::Running, None, now_ms())
        .await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(2);
    let reader_job = job.clone();
    let country = client.default_country.clone();
    let reader = std::thread::spawn(move || {
        let country = Some(country.as_str()).filter(|c| !c.is_empty());
        let mut busy = Duration::ZERO;
        if let Err(e) = read_batches(src, &reader_job, &schema, country, &tx, &mut busy) {
            let _ = tx.blocking_send(Err(e));
        }
        busy
    });
    let mut timings = ImportTimings::default();
    let result = write_batches(store, job, &mut rx, &now_ms, &mut timings).await;
    drop(rx);
    timings.parse = reader.join().unwrap_or_default();
    match result {
        Ok(()) => {
            store
                .set_import_status(job.id, JobStatus::Done, None, now_ms())
                .await?;
            Ok((summary(store, job).await?, timings))
        }
        Err(e) => {
            tracing::warn!(error = %e, "import stopped");
            let _ = store
                .set_import_status(job.id, JobStatus::Failed, Some(&e.to_string()), now_ms())
                .await;
            Err(e)
        }
    }
}

async fn write_batches(
    store: &Store,
    job: &ImportJob,
    rx: &mut tokio::sync::mpsc::Receiver<Batch>,
    now_ms: &impl Fn() -> i64,
    timings: &mut ImportTimings,
) -> Result<(), ImportError> {
    let mut counts = BucketCounts::default();
    let mut conn = store.import_connection().await?;
    loop {
        let waited = Instant::now();
        let Some(batch) = rx.recv().await else { break };
        timings.wait += waited.elapsed();
        let (rows, progress) = batch?;
        let c = store
            .apply_import_batch_on(conn.as_mut(), job, &rows, progress, now_ms(), timings)
            .await?;
        counts.merge(&c);
    }
    tracing::info!(
        rows = counts.rows,
        imported = counts.imported,
        "import batches written"
    );
    Ok(())
}

/// The DESIGN §4 summary of a job, from its stored counters and rejections.
pub async fn summary(store: &Store, job: &ImportJob) -> Result<ImportSummary, ImportError> {
    let stored = store.import_job(job.client_id, job.id).await?;
    let mut rejected = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .import_rejections(job.client_id, job.id, after, 10_000)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.line;
        rejected.extend(page);
    }
    // Warnings page by line; a line has at most a few (one per field), so a page ends on a whole
    // line when it is shorter than the limit, and otherwise the next page starts after its line.
    let mut warnings = Vec::new();
    let mut after = 0;
    loop {
        let mut page = store
            .import_warnings(job.client_id, job.id, after, 10_000)
            .await?;
        let full = page.len() == 10_000;
        let Some(last) = page.last().map(|w| w.line) else {
            break;
        };
        if full {
            page.retain(|w| w.line < last);
            after = last - 1;
            if page.is_empty() {
                break;
            }
        } else {
            after = last;
        }
        warnings.extend(page);
        if !full {
            break;
        }
    }
    Ok(ImportSummary::new(stored.counts, rejected, warnings))
}
