//! Webhook handling latency: starts the real server on a loopback port over a fresh database,
//! fires N signed Twilio status callbacks (each a new event, so each is verified, recorded and
//! handed to the call engine) from C concurrent senders, and prints p50/p90/p99/max round-trip times.
//!
//! ```sh
//! cargo run --release -p palera-voice --example webhook_bench -- [N] [C] [sqlite|postgres]
//! ```
//! Defaults: 2000 requests, 4 senders, SQLite. PostgreSQL uses `TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), as the tests do.

use palera_carrier::twilio::signature::compute_signature;
use palera_core::ids::ClientId;
use palera_core::tenant::ClientFields;
use palera_server::config::{CarrierMode, Settings};
use palera_store::clients::SecretInput;
use palera_store::{Backend, Store};
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-auth-token";
const PUBLIC: &str = "https://voice.example.com";

#[tokio::main]
async fn main() {
    let (n, senders, backend) = parse_args();
    let db = palera_store::testing::fresh(backend)
        .await
        .expect("a database for the benchmark");
    let client = create_client(&db.store).await;
    let settings = Settings {
        database_url: Some(db.url.clone()),
        public_url: Some(PUBLIC.into()),
        carrier: CarrierMode::Simulated,
        ..Settings::default()
    };
    let app = palera_server::App::new(db.store.clone(), settings);
    // The bench takes the engine's inputs itself (so the engine does not run) and counts the
    // webhook events handed to it.
    let _carrier_events = app.carriers.take_events().unwrap();
    let mut requests = app.engine.take().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(palera_server::serve(app, listener, async {
        let _ = stopped.await;
    }));

    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut all = send_all(&http, &base, client, n, senders).await;
    let wall = started.elapsed();
    all.sort();
    report(backend, n, senders, &all, wall);
    // Handlers forward before they answer, so every event is already waiting.
    let mut forwarded = 0usize;
    while let Ok(request) = requests.try_recv() {
        if matches!(request, palera_server::engine::Request::Webhook { .. }) {
            forwarded += 1;
        }
    }
    let _ = stop.send(());
    let _ = server.await;
    println!("events forwarded: {forwarded}");
    assert_eq!(forwarded, n);
}

/// The command line: `[N] [C] [sqlite|postgres]`; a missing or unreadable number takes its
/// default (2000 requests, 4 senders, at least 1), anything but `postgres` is SQLite.
fn parse_args() -> (usize, usize, Backend) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let senders: usize = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(4).max(1);
    let backend = match args.get(2).map(String::as_str) {
        Some("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    (n, senders, backend)
}

/// The benchmark's client: a Twilio account whose auth token signs the webhooks.
async fn create_client(store: &Store) -> ClientId {
    let fields = ClientFields {
        name: "Bench".into(),
        account_sid: Some("AC0123456789abcdef0123456789abcdef".into()),
        ..Default::default()
    };
    let secrets = SecretInput {
        auth_token: Some(TOKEN.into()),
        api_key_secret: None,
    };
    store
        .create_client(&fields.validate().unwrap(), &secrets, &[], 1)
        .await
        .unwrap()
        .id
}

/// Fires webhooks 0..n from `senders` concurrent senders (sender s sends every
/// `senders`-th one from s) and returns every round-trip time, unsorted.
async fn send_all(
    http: &reqwest::Client,
    base: &str,
    client: ClientId,
    n: usize,
    senders: usize,
) -> Vec<Duration> {
    let mut tasks = Vec::new();
    for s in 0..senders {
        let http = http.clone();
        let base = base.to_string();
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            for i in (s..n).step_by(senders) {
                times.push(send_one(&http, &base, client, i).await);
            }
            times
        }));
    }
    let mut all: Vec<Duration> = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

/// Sends webhook `i`: a signed `ringing` status callback of its own call (a new event), and
/// returns its round-trip time; anything but 204 stops the benchmark.
async fn send_one(http: &reqwest::Client, base: &str, client: ClientId, i: usize) -> Duration {
    let path = format!("/twilio/{client}/status?call_id={i}");
    let sid = format!("CA{i:032x}");
    let params = vec![
        ("CallSid".to_string(), sid),
        ("CallStatus".to_string(), "ringing".to_string()),
        ("SequenceNumber".to_string(), "1".to_string()),
    ];
    let sig = compute_signature(TOKEN, &format!("{PUBLIC}{path}"), &params);
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    let t0 = Instant::now();
    let r = http
        .post(format!("{base}{path}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "webhook {i} refused");
    t0.elapsed()
}

/// Prints the rate over the `wall` time and the round-trip percentiles (`all` sorted).
fn report(backend: Backend, n: usize, senders: usize, all: &[Duration], wall: Duration) {
    let pct = |p: f64| all[((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1];
    println!(
        "{backend:?}: {n} signed status webhooks, {senders} senders, {:.0} req/s",
        n as f64 / wall.as_secs_f64()
    );
    println!(
        "p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.90).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        all[all.len() - 1].as_secs_f64() * 1e3
    );
}
