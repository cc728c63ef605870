//! Import benchmark: generates a CSV of `--rows` contacts, times reading and parsing it alone on
//! one thread (the CPU share of an import), imports it into a fresh database and prints rows/s
//! and the process's peak memory (VmHWM), then times the list-page queries (first page of a
//! list, a search, a property filter, a zone filter) and the pipeline counts at that size.
//!
//! cargo run --release -p palera-store --example import_bench -- --rows 1000000 --db sqlite
//! cargo run --release -p palera-store --example import_bench -- --rows 1000000 --db postgres
//!
//! PostgreSQL comes from TEST_DATABASE_URL (default: the local server), as in the tests.

use palera_core::contact::PropertyFields;
use palera_core::import::ImportOptions;
use palera_core::tenant::ClientFields;
use palera_store::clients::SecretInput;
use palera_store::contacts::ContactFilter;
use palera_store::import::run_import;
use palera_store::{testing, Backend};
use std::io::Write;
use std::time::Instant;

const AREAS: [u32; 10] = [212, 415, 312, 617, 713, 206, 305, 404, 503, 602];
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

fn generate(path: &std::path::Path, rows: u64) -> std::io::Result<u64> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(f, "phone,first_name,last_name,email,city")?;
    for i in 0..rows {
        let area = AREAS[(i % 10) as usize];
        let exchange = 201 + (i / 10 / 10_000) % 98;
        let line = (i / 10) % 10_000;
        writeln!(
            f,
            "+1{area}{exchange}{line:04},First{i},Last{},person{i}@example.com,{}",
            i % 1000,
            CITIES[(i % 5) as usize]
        )?;
    }
    f.flush()?;
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

#[tokio::main]
async fn main() {
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
    let dir = std::env::temp_dir().join(format!("palera_bench_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("contacts.csv");
    let bytes = generate(&path, rows).unwrap();
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
    let t = Instant::now();
    let parsed = parse_only(&path);
    let parse_secs = t.elapsed().as_secs_f64();
    println!(
        "read+parse only, one thread: {parsed} rows in {parse_secs:.2} s = {:.0} rows/s",
        parsed as f64 / parse_secs
    );
    let rss_before = peak_rss_mb();
    let start = Instant::now();
    let file = std::fs::File::open(&path).unwrap();
    let summary = run_import(&store, &job, file, || 1).await.unwrap();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "backend={backend:?} rows={} imported={} rejected={} file_mb={:.1} seconds={secs:.2} rows_per_s={:.0} peak_rss_mb={:.1} (before import {:.1})",
        summary.rows,
        summary.imported,
        summary.rejected.len(),
        bytes as f64 / 1e6,
        summary.rows as f64 / secs,
        peak_rss_mb(),
        rss_before
    );
    if backend == Backend::Postgres {
        sqlx::query("ANALYZE contacts")
            .execute(store.pool())
            .await
            .unwrap();
    } else {
        sqlx::query("ANALYZE").execute(store.pool()).await.unwrap();
    }
    let in_list = ContactFilter {
        list: Some(list.id),
        ..Default::default()
    };
    let filters = [
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
    ];
    for (name, f) in &filters {
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
    std::fs::remove_dir_all(&dir).ok();
}
