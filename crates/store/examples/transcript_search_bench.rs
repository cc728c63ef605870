//! Transcript search benchmark (issue 13): stores `--lines` transcript lines (default 1,000,000)
//! of calls spread over two clients — sentences drawn from a call-center vocabulary with a Zipf-like
//! word frequency, a few rare words, in random order — then times `Store::search_transcripts`
//! (one client, newest first, one hit per call) for a common word, a mid-frequency word, a rare
//! word and a two-word phrase, and beside each the bare full-text query underneath on the same
//! database in the same run (FTS5 `MATCH` / `tsvector @@` alone, no client scope, no join).
//!
//! cargo run --release -p palera-store --example transcript_search_bench -- --lines 1000000 --db sqlite
//! cargo run --release -p palera-store --example transcript_search_bench -- --lines 1000000 --db postgres
//!
//! PostgreSQL comes from TEST_DATABASE_URL (default: the local server), as in the tests.

use palera_core::ids::{CallId, ClientId};
use palera_core::recording::SearchQuery;
use palera_core::tenant::ClientFields;
use palera_store::clients::SecretInput;
use palera_store::{testing, Backend, Store};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::{Duration, Instant};

const WORDS: &[&str] = &[
    "the",
    "you",
    "i",
    "to",
    "a",
    "and",
    "is",
    "it",
    "that",
    "for",
    "your",
    "we",
    "can",
    "this",
    "of",
    "on",
    "with",
    "have",
    "be",
    "what",
    "account",
    "plan",
    "call",
    "today",
    "number",
    "please",
    "thank",
    "help",
    "price",
    "order",
    "service",
    "payment",
    "invoice",
    "renewal",
    "upgrade",
    "seats",
    "month",
    "email",
    "quote",
    "support",
    "card",
    "address",
    "delivery",
    "refund",
    "schedule",
    "manager",
    "contract",
    "discount",
    "premium",
    "trial",
    "cancel",
    "billing",
    "password",
    "appointment",
    "tuesday",
    "friday",
    "morning",
    "afternoon",
    "warranty",
    "shipment",
    "balance",
    "statement",
    "upgrade",
    "license",
    "feedback",
];
const RARE: &[&str] = &["zeppelin", "quixotic", "marzipan", "obsidian"];
const PER_CALL: usize = 40;
const BATCH: usize = 400;

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

/// A sentence of 6–16 words, frequent words far more often than rare ones.
fn sentence(rng: &mut ChaCha8Rng) -> String {
    let n = rng.gen_range(6..=16);
    let mut words = Vec::with_capacity(n);
    for _ in 0..n {
        if rng.gen_ratio(1, 20_000) {
            words.push(RARE[rng.gen_range(0..RARE.len())]);
            continue;
        }
        // Zipf-like: index ~ 1/(rank).
        let u: f64 = rng.gen();
        let i = ((WORDS.len() as f64).powf(u) - 1.0) as usize;
        words.push(WORDS[i.min(WORDS.len() - 1)]);
    }
    let mut s = words.join(" ");
    s.push('.');
    s
}

async fn client(store: &Store, name: &str) -> ClientId {
    let f = ClientFields {
        name: name.into(),
        ..Default::default()
    }
    .validate()
    .unwrap();
    store
        .create_client(&f, &SecretInput::default(), &[], 1)
        .await
        .unwrap()
        .id
}

/// Calls for the lines (one contact-less call each), then the lines in multi-row inserts.
async fn load(store: &Store, clients: [ClientId; 2], lines: usize, rng: &mut ChaCha8Rng) {
    let calls = lines.div_ceil(PER_CALL);
    let mut ids = Vec::with_capacity(calls);
    for i in 0..calls {
        let c = clients[i % 2];
        let id: i64 = sqlx::query_scalar("INSERT INTO calls (client_id, direction, phone, status, outcome, placed_at, notes) VALUES ($1, 'outbound', '+12125550100', 'answered', 'completed', $2, '') RETURNING id")
            .bind(c.0)
            .bind(i as i64 * 1000)
            .fetch_one(store.pool())
            .await
            .unwrap();
        ids.push((c, CallId(id)));
    }
    let mut order: Vec<usize> = (0..lines).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.gen_range(0..=i));
    }
    for chunk in order.chunks(BATCH) {
        let mut sql = String::from("INSERT INTO transcript_lines (client_id, call_id, kind, seq, speaker, start_ms, end_ms, text) VALUES ");
        let mut texts = Vec::with_capacity(chunk.len());
        for (k, &n) in chunk.iter().enumerate() {
            let (c, call) = ids[n / PER_CALL];
            let seq = n % PER_CALL;
            let speaker = if seq.is_multiple_of(2) {
                "agent"
            } else {
                "contact"
            };
            if k > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "({}, {}, 'final', {seq}, '{speaker}', {}, {}, ${})",
                c.0,
                call.0,
                seq * 3000,
                seq * 3000 + 2500,
                k + 1
            ));
            texts.push(sentence(rng));
        }
        let mut q = sqlx::query(&sql);
        for t in &texts {
            q = q.bind(t);
        }
        q.execute(store.pool()).await.unwrap();
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn time<F, Fut>(runs: usize, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        std::hint::black_box(f().await);
        times.push(t.elapsed());
    }
    median(times)
}

/// The bare full-text query: matching line ids, newest first, the same page size.
async fn bare(store: &Store, q: &SearchQuery) -> usize {
    let (sql, arg) = match store.backend() {
        Backend::Sqlite => (
            "SELECT rowid FROM transcript_fts WHERE transcript_fts MATCH $1 ORDER BY rowid DESC LIMIT 80",
            q.fts5(),
        ),
        Backend::Postgres => (
            "SELECT id FROM transcript_lines WHERE tsv @@ phraseto_tsquery('simple', $1) ORDER BY id DESC LIMIT 80",
            q.phrase(),
        ),
    };
    sqlx::query(sql)
        .bind(arg)
        .fetch_all(store.pool())
        .await
        .unwrap()
        .len()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let lines: usize = arg("--lines", "1000000")
        .parse()
        .expect("--lines is a number");
    let backend = match arg("--db", "sqlite").as_str() {
        "postgres" => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    let db = testing::fresh(backend)
        .await
        .expect("PostgreSQL is reachable (TEST_DATABASE_URL)");
    let store = db.store.clone();
    let clients = [client(&store, "A").await, client(&store, "B").await];
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let t = Instant::now();
    load(&store, clients, lines, &mut rng).await;
    let loaded = t.elapsed();
    if backend == Backend::Postgres {
        sqlx::query("ANALYZE transcript_lines")
            .execute(store.pool())
            .await
            .unwrap();
    }
    println!(
        "{backend:?}: {lines} lines loaded in {:.1} s",
        loaded.as_secs_f64()
    );
    println!(
        "{:<22} {:>8} {:>12} {:>12} {:>7}",
        "query", "hits", "search ms", "bare ms", "ratio"
    );
    for text in [
        "premium",
        "warranty",
        "zeppelin",
        "premium plan",
        "card number",
    ] {
        let q = SearchQuery::parse(text).unwrap();
        let hits = store
            .search_transcripts(clients[0], &q, 20)
            .await
            .unwrap()
            .len();
        let search = time(9, || async {
            store
                .search_transcripts(clients[0], &q, 20)
                .await
                .unwrap()
                .len()
        })
        .await;
        let raw = time(9, || bare(&store, &q)).await;
        println!(
            "{:<22} {:>8} {:>12.2} {:>12.2} {:>7.2}",
            format!("{text:?}"),
            hits,
            search.as_secs_f64() * 1000.0,
            raw.as_secs_f64() * 1000.0,
            search.as_secs_f64() / raw.as_secs_f64().max(1e-9)
        );
    }
}
