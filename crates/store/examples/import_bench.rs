//! Import benchmark: generates a CSV of `--rows` random US numbers in mixed spellings and random
//! order (some invalid, some repeated in another spelling), times reading and parsing it alone on
//! one thread (the CPU share of an import), loads the same rows with the database's own bulk
//! loader (`sqlite3 .import` into a table with a unique phone index, or `psql \copy` into a copy
//! of `contacts` with its constraints, indexes and foreign keys), imports it into a fresh
//! database and prints both rates, their ratio, the CPU seconds of the import and of the tool,
//! where the import's time went (parse, wait, classify, write, commit) and its peak memory
//! (VmHWM, reset after generating the file), then times the list-page queries and the pipeline
//! counts at that size.
//! The tools come from the `sqlite3` and `postgresql-client` Debian packages.
//!
//! cargo run --release -p palera-store --example import_bench -- --rows 1000000 --db sqlite
//! cargo run --release -p palera-store --example import_bench -- --rows 1000000 --db postgres
//!
//! PostgreSQL comes from TEST_DATABASE_URL (default: the local server), as in the tests.

use palera_core::contact::PropertyFields;
use palera_core::ids::{ClientId, ListId};
use palera_core::import::{ImportOptions, ImportSummary};
use palera_core::tenant::ClientFields;
use palera_store::clients::SecretInput;
use palera_store::contacts::ContactFilter;
use palera_store::import::{run_import_timed, ImportJob, ImportTimings};
use palera_store::{testing, Backend, Store};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Assigned US area codes (numbers under them are valid for libphonenumber).
const AREAS: [u32; 24] = [
    212, 415, 312, 617, 713, 206, 305, 404, 503, 602, 202, 213, 303, 214, 702, 801, 919, 704, 615,
    512, 973, 614, 317, 816,
];
const CITIES: [&str; 5] = ["Austin", "Boston", "Denver", "Miami", "Seattle"];

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// CPU seconds (user + system) used so far by this process (`own`) and by its waited-for
/// children (`children`, the bulk-load tools), from `/proc/self/stat`: on a machine shared
/// with other work, CPU time says more about cost than wall time.
fn cpu_secs() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    let tick = 100.0; // USER_HZ on Linux
    let at = |n: usize| f.get(n - 3).copied().unwrap_or(0.0) / tick;
    (at(14) + at(15), at(16) + at(17))
}

/// Resets the peak-RSS mark, so that the import's peak is not the generator's.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// A random US number (area, exchange, line) as one integer; exchanges avoid N11.
fn random_number(rng: &mut impl Rng) -> u64 {
    let area = AREAS[rng.gen_range(0..AREAS.len())] as u64;
    let exchange = loop {
        let e = rng.gen_range(200..1000u64);
        if e % 100 != 11 {
            break e;
        }
    };
    area * 10_000_000 + exchange * 10_000 + rng.gen_range(0..10_000u64)
}

/// The number spelled in format `f`: E.164, `(AAA) EEE-LLLL`, `AAA.EEE.LLLL`, `1-AAA-EEE-LLLL`
/// or `AAA EEE LLLL`. Different formats of one number are different text.
fn spell(n: u64, f: u32) -> String {
    let (a, e, l) = (n / 10_000_000, n / 10_000 % 1000, n % 10_000);
    match f {
        0 => format!("+1{a}{e}{l:04}"),
        1 => format!("({a}) {e}-{l:04}"),
        2 => format!("{a}.{e}.{l:04}"),
        3 => format!("1-{a}-{e}-{l:04}"),
        _ => format!("{a} {e} {l:04}"),
    }
}

/// Writes the CSV the import reads: `rows` random US numbers in random order and mixed
/// formats; 3 % are invalid (too short, or a 555-01xx fiction number spelled with letters) and
/// 3 % repeat an earlier number of the file in another format. No two rows carry the same
/// text, so the databases' own bulk loads take every row into a unique phone index. Also
/// writes `copy_path`, the same rows as the `contacts` table's columns, for `psql \copy`.
fn generate(path: &Path, copy_path: &Path, rows: u64) -> std::io::Result<u64> {
    let mut rng = ChaCha8Rng::seed_from_u64(18);
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut copy = std::io::BufWriter::new(std::fs::File::create(copy_path)?);
    writeln!(f, "phone,first_name,last_name,email,city")?;
    let mut seen = std::collections::HashSet::with_capacity(rows as usize);
    let mut recent: Vec<(u64, u32)> = Vec::with_capacity(4096);
    for i in 0..rows {
        let roll = rng.gen_range(0..100u32);
        let phone = if roll < 3 {
            // Invalid: too few digits, unique by the row number.
            format!("{}-{:04}", 200 + i / 10_000 % 800, i % 10_000)
        } else if roll < 6 && !recent.is_empty() {
            let (n, fmt) = recent.swap_remove(rng.gen_range(0..recent.len()));
            spell(n, (fmt + 1 + rng.gen_range(0..4)) % 5)
        } else {
            let n = loop {
                let n = random_number(&mut rng);
                if seen.insert(n) {
                    break n;
                }
            };
            let fmt = rng.gen_range(0..5);
            if recent.len() < 4096 {
                recent.push((n, fmt));
            } else {
                recent[rng.gen_range(0..4096)] = (n, fmt);
            }
            spell(n, fmt)
        };
        let city = CITIES[rng.gen_range(0..CITIES.len())];
        let (first, last, email) = (
            format!("First{i}"),
            format!("Last{}", i % 1000),
            format!("person{i}@example.com"),
        );
        writeln!(f, "{phone},{first},{last},{email},{city}")?;
        writeln!(
            copy,
            "{phone},{first},{last},{email},\"{{\"\"city\"\":\"\"{city}\"\"}}\""
        )?;
    }
    f.flush()?;
    copy.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// Reads and parses the file as an import does, on this thread, without storing anything.
fn parse_only(path: &std::path::Path) -> u64 {
    use palera_core::contact::{PropertyDef, PropertyKind, PropertySchema};
    use palera_core::import::{parse_row, ColumnMapping};
    use palera_store::import::reader::{CsvRecords, RawRecord};
    let schema = PropertySchema {
        properties: vec![PropertyDef {
            name: "city".into(),
            label: "city".into(),
            kind: PropertyKind::Text,
            choices: vec![],
            required: false,
        }],
    };
    let mut rec = CsvRecords::new(std::fs::File::open(path).unwrap()).unwrap();
    let headers = match rec.next_record().unwrap() {
        Some(RawRecord::Fields { fields, .. }) => fields
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect(),
        _ => Vec::new(),
    };
    let mapping = ColumnMapping::new(headers, &[], &schema);
    let mut ok = 0;
    while let Some(r) = rec.next_record().unwrap() {
        if let RawRecord::Fields { fields, .. } = r {
            let cells: Vec<&str> = fields
                .iter()
                .map(|f| std::str::from_utf8(f).unwrap())
                .collect();
            if parse_row(&mapping, &cells, &schema, Some("US")).is_ok() {
                ok += 1;
            }
        }
    }
    ok
}

fn median_ms(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Runs a command and returns its wall time in seconds; a missing or failing tool stops the
/// benchmark with the way to install it.
fn timed(cmd: &mut Command, tool: &str, install: &str) -> f64 {
    let t = Instant::now();
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{tool} did not start ({e}); {install}"));
    let secs = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    secs
}

/// `sqlite3`'s own `.import` of the file into a table with a unique phone index, in a fresh
/// database file: the storage's bulk-load ceiling.
fn sqlite_bulk_load(dir: &Path, csv: &Path) -> f64 {
    let db = dir.join("bulk.sqlite");
    let schema = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
        CREATE TABLE t (phone TEXT NOT NULL, first_name TEXT, last_name TEXT, email TEXT, city TEXT); \
        CREATE UNIQUE INDEX t_phone ON t(phone);";
    let install = "install it with `apt-get install sqlite3`";
    timed(
        Command::new("sqlite3").arg(&db).arg(schema),
        "sqlite3",
        install,
    );
    let import = format!(".import --csv --skip 1 {} t", csv.display());
    timed(
        Command::new("sqlite3").arg(&db).arg(import),
        "sqlite3",
        install,
    )
}

/// `psql \copy` of the same rows into a copy of `contacts` with its constraints, indexes and
/// foreign keys (the client and list columns default to the import's).
fn postgres_bulk_load(url: &str, copy_csv: &Path, client: i64, list: i64) -> f64 {
    let setup = format!(
        "CREATE TABLE bench_copy (LIKE contacts INCLUDING ALL); \
         ALTER TABLE bench_copy ADD FOREIGN KEY (client_id) REFERENCES clients(id) ON DELETE CASCADE, \
         ADD FOREIGN KEY (list_id) REFERENCES lists(id) ON DELETE SET NULL, \
         ALTER client_id SET DEFAULT {client}, ALTER list_id SET DEFAULT {list}, \
         ALTER created_at SET DEFAULT 0, ALTER updated_at SET DEFAULT 0;"
    );
    let install = "install it with `apt-get install postgresql-client`";
    let psql = |sql: &str| {
        let mut c = Command::new("psql");
        c.args(["-v", "ON_ERROR_STOP=1", "-q", "-d", url, "-c", sql]);
        c
    };
    timed(&mut psql(&setup), "psql", install);
    let copy = format!(
        "\\copy bench_copy (phone, first_name, last_name, email, properties) FROM '{}' CSV",
        copy_csv.display()
    );
    let secs = timed(&mut psql(&copy), "psql", install);
    timed(&mut psql("DROP TABLE bench_copy"), "psql", install);
    secs
}

/// A fresh database with a client (default country US), its `city` property and a list, and
/// an import job of `bytes` into that list.
async fn setup(backend: Backend, bytes: u64) -> (testing::TestDb, ImportJob) {
    let db = testing::fresh(backend)
        .await
        .expect("PostgreSQL reachable (TEST_DATABASE_URL)");
    let store = db.store.clone();
    let settings = ClientFields {
        name: "Bench".into(),
        default_country: Some("US".into()),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let client = store
        .create_client(&settings, &SecretInput::default(), &[], 1)
        .await
        .unwrap()
        .id;
    let city = PropertyFields {
        name: "city".into(),
        kind: "text".into(),
        ..Default::default()
    }
    .validate()
    .unwrap();
    store.define_property(client, &city, 1).await.unwrap();
    let list = store.create_list(client, "New leads", 1).await.unwrap();
    let job = store
        .create_import_job(
            client,
            list.id,
            "bench.csv",
            bytes as i64,
            ImportOptions::default(),
            &[],
            None,
            1,
        )
        .await
        .unwrap();
    (db, job)
}

#[tokio::main]
async fn main() {
    let (rows, backend) = parse_args();
    let dir = std::env::temp_dir().join(format!("palera_bench_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("contacts.csv");
    let copy_path = dir.join("contacts_copy.csv");
    let bytes = generate(&path, &copy_path, rows).unwrap();
    let (db, job) = setup(backend, bytes).await;
    let store = db.store.clone();
    let (client, list) = (job.client_id, job.list_id);
    time_parse_only(&path);
    let (_, tool_cpu_before) = cpu_secs();
    let bulk_secs = match backend {
        Backend::Sqlite => sqlite_bulk_load(&dir, &path),
        Backend::Postgres => postgres_bulk_load(&db.url, &copy_path, client.0, list.0),
    };
    let bulk_name = match backend {
        Backend::Sqlite => "sqlite3 .import (unique phone index)",
        Backend::Postgres => "psql \\copy (copy of contacts, same constraints and indexes)",
    };
    println!(
        "{bulk_name}: {rows} rows in {bulk_secs:.2} s = {:.0} rows/s",
        rows as f64 / bulk_secs
    );
    let tool_cpu = cpu_secs().1 - tool_cpu_before;
    let import = ImportRun::time(&store, &job, &path).await;
    import.report(backend, bytes, bulk_secs, tool_cpu);
    analyze(&store, backend).await;
    time_list_pages(&store, client, list).await;
    time_list_counts(&store, client).await;
    std::fs::remove_dir_all(&dir).ok();
}

/// The command line: `--rows` (default 1,000,000) and `--db` (`postgres`, else SQLite).
fn parse_args() -> (u64, Backend) {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let rows: u64 = arg("--rows")
        .and_then(|r| r.parse().ok())
        .unwrap_or(1_000_000);
    let backend = match arg("--db").as_deref() {
        Some("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    (rows, backend)
}

/// Times reading and parsing the file alone on this thread, and prints the rate.
fn time_parse_only(path: &Path) {
    let t = Instant::now();
    let parsed = parse_only(path);
    let parse_secs = t.elapsed().as_secs_f64();
    println!(
        "read+parse only, one thread: {parsed} rows in {parse_secs:.2} s = {:.0} rows/s",
        parsed as f64 / parse_secs
    );
}

/// One timed import of the file, and what it cost.
struct ImportRun {
    summary: ImportSummary,
    phases: ImportTimings,
    /// Wall time and CPU time (all threads), seconds.
    secs: f64,
    cpu: f64,
    /// Peak RSS just after the mark was reset, and after the import, MB.
    rss_before: f64,
    rss_peak: f64,
}

impl ImportRun {
    /// Imports the file into the job's list, timed, with the peak-RSS mark reset first (so
    /// that the peak is the import's, not the generator's).
    async fn time(store: &Store, job: &ImportJob, path: &Path) -> Self {
        reset_peak_rss();
        let rss_before = peak_rss_mb();
        let (cpu_before, _) = cpu_secs();
        let start = Instant::now();
        let file = std::fs::File::open(path).unwrap();
        let (summary, phases) = run_import_timed(store, job, file, || 1).await.unwrap();
        let secs = start.elapsed().as_secs_f64();
        let cpu = cpu_secs().0 - cpu_before;
        ImportRun {
            summary,
            phases,
            secs,
            cpu,
            rss_before,
            rss_peak: peak_rss_mb(),
        }
    }

    /// Prints the import's figures, its rate against the bulk load's (`bulk_secs`), its CPU
    /// against the tool's (`tool_cpu`) and where its time went.
    fn report(&self, backend: Backend, bytes: u64, bulk_secs: f64, tool_cpu: f64) {
        let (summary, phases, secs, cpu) = (&self.summary, &self.phases, self.secs, self.cpu);
        println!(
            "backend={backend:?} rows={} imported={} duplicates_in_file={} rejected={} file_mb={:.1} seconds={secs:.2} rows_per_s={:.0} peak_rss_mb={:.1} (at start {:.1})",
            summary.rows,
            summary.imported,
            summary.duplicates_in_file,
            summary.rejected.len(),
            bytes as f64 / 1e6,
            summary.rows as f64 / secs,
            self.rss_peak,
            self.rss_before
        );
        println!(
            "import / bulk load = {:.0} % (of the tool's rows/s, same file, same run)",
            100.0 * bulk_secs / secs
        );
        if backend == Backend::Sqlite {
            println!(
                "CPU: import {cpu:.2} s (all threads) vs sqlite3 .import {tool_cpu:.2} s = {:.0} %",
                100.0 * tool_cpu / cpu
            );
        } else {
            println!(
                "CPU of this process: import {cpu:.2} s (psql {tool_cpu:.2} s; the server's own work is not counted)"
            );
        }
        println!(
            "import phases (s): parse {:.2} (reader threads, beside the writer) | writer: waiting for rows {:.2}, classify {:.2}, write {:.2}, commit {:.2}",
            phases.parse.as_secs_f64(),
            phases.wait.as_secs_f64(),
            phases.classify.as_secs_f64(),
            phases.write.as_secs_f64(),
            phases.commit.as_secs_f64()
        );
    }
}

/// Refreshes the planner's statistics after the import (`contacts` on PostgreSQL, everything
/// on SQLite).
async fn analyze(store: &Store, backend: Backend) {
    if backend == Backend::Postgres {
        sqlx::query("ANALYZE contacts")
            .execute(store.pool())
            .await
            .unwrap();
    } else {
        sqlx::query("ANALYZE").execute(store.pool()).await.unwrap();
    }
}

/// The list-page queries the benchmark times, with their names: the list's first page, a
/// search, a property and a time zone, each inside the list.
fn list_filters(list: ListId) -> [(&'static str, ContactFilter); 4] {
    let in_list = ContactFilter {
        list: Some(list),
        ..Default::default()
    };
    [
        ("first page of the list", in_list.clone()),
        (
            "search 'last99' in the list",
            ContactFilter {
                search: Some("Last99".into()),
                ..in_list.clone()
            },
        ),
        (
            "property city=Miami in the list",
            ContactFilter {
                property: Some(("city".into(), "Miami".into())),
                ..in_list.clone()
            },
        ),
        (
            "zone America/Chicago in the list",
            ContactFilter {
                time_zone: Some("America/Chicago".into()),
                ..in_list.clone()
            },
        ),
    ]
}

/// Times each list-page query (50 rows) five times and prints its median.
async fn time_list_pages(store: &Store, client: ClientId, list: ListId) {
    for (name, f) in &list_filters(list) {
        let mut times = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let page = store.search_contacts(client, f, None, 50).await.unwrap();
            assert!(!page.is_empty());
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        println!(
            "list page ({name}), 50 rows: median {:.1} ms",
            median_ms(times)
        );
    }
}

/// Times the pipeline view's list counts five times and prints the median.
async fn time_list_counts(store: &Store, client: ClientId) {
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        store.list_counts(client).await.unwrap();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "list counts (pipeline view): median {:.1} ms",
        median_ms(times)
    );
}
