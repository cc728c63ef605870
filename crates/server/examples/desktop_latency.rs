//! Desktop latency: the time from a carrier event — the contact answering, which connects the call
//! to its agent — to the agent's desktop WebSocket receiving `call_connected`. Starts the real
//! server on a loopback port over a fresh database and the simulated network (sped up), opens a
//! desktop WebSocket for each of D agents, runs a progressive campaign until N calls reached
//! their desktops (each desktop gives every ended call a disposition over the API, as an agent
//! would), and prints p50/p90/p99/max. The carrier side is timed on the simulated network's tap,
//! the desktop side when the socket message is parsed: one process, one monotonic clock.
//!
//! ```sh
//! cargo run --release -p palera-voice --example desktop_latency -- [N] [D] [sqlite|postgres]
//! ```
//! Defaults: 1,000 calls, 50 desktops, SQLite. PostgreSQL uses `TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), as the tests do.

use futures::{SinkExt, StreamExt};
use palera_carrier::sim::behaviour::{Behaviour, Seconds};
use palera_carrier::sim::realtime::Observation;
use palera_carrier::CarrierEvent;
use palera_core::campaign::{CampaignSettings, DialMode};
use palera_core::contact::ContactData;
use palera_core::ids::{CampaignId, ClientId, ListId, UserId};
use palera_core::phone::PhoneNumber;
use palera_core::tenant::ClientFields;
use palera_core::user::{Email, Role};
use palera_server::app::SystemClock;
use palera_server::config::{CarrierMode, Settings};
use palera_server::engine::carriers::CarrierHub;
use palera_server::engine::directory::StoreDirectory;
use palera_server::App;
use palera_store::campaigns::{CampaignInput, CampaignStatus, EffectKind, NewDisposition};
use palera_store::clients::SecretInput;
use palera_store::contacts::Actor;
use palera_store::users::NewUser;
use palera_store::{Backend, Store};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const PASSWORD: &str = "bench-password";

fn fixed(s: f64) -> Seconds {
    Seconds {
        mean: s,
        sd: 0.0,
        min: 0.05,
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let db = palera_store::testing::fresh(args.backend)
        .await
        .expect("a database for the benchmark");
    let store = db.store.clone();
    let seeded = seed(&store, args.calls, args.desktops).await;
    let (app, base, shutdown, tap) = start_server(&db.url, &store).await;
    let (answered, tapping) = record_answers(tap);
    let seen = open_desktops(&base, args.desktops, seeded.disposition).await;
    store
        .set_campaign_status(seeded.client, seeded.campaign, CampaignStatus::Running, 1)
        .await
        .unwrap();
    app.engine
        .send(palera_server::engine::Request::Reload(seeded.campaign));

    let started = Instant::now();
    let connected = collect(seen, args.calls).await;
    let wall = started.elapsed();
    let _ = shutdown.stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), shutdown.server).await;
    tapping.abort();
    let answered = answered.lock().unwrap().clone();
    let mut latencies: Vec<Duration> = connected
        .iter()
        .filter_map(|(id, got)| answered.get(id).map(|a| got.saturating_duration_since(*a)))
        .collect();
    latencies.sort();
    report(&args, &latencies, wall);
}

/// The command line: `[N] [D] [sqlite|postgres]`.
struct Args {
    /// Calls to connect (N).
    calls: usize,
    /// Desktops, one an agent (D, at least 1).
    desktops: usize,
    backend: Backend,
}

impl Args {
    /// Reads the command line; a missing or unreadable number takes its default (1,000 calls,
    /// 50 desktops), anything but `postgres` is SQLite.
    fn parse() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let calls: usize = args.first().and_then(|v| v.parse().ok()).unwrap_or(1000);
        let desktops: usize = args
            .get(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(50)
            .max(1);
        let backend = match args.get(2).map(String::as_str) {
            Some("postgres") => Backend::Postgres,
            _ => Backend::Sqlite,
        };
        Args {
            calls,
            desktops,
            backend,
        }
    }
}

/// What `seed` stored that the run needs.
struct Seeded {
    client: ClientId,
    campaign: CampaignId,
    /// The campaign's one disposition ("Done", final).
    disposition: i64,
}

/// A client, `desktops` agents, a list with one contact per call, and a progressive campaign
/// over them (not running yet).
async fn seed(store: &Store, calls: usize, desktops: usize) -> Seeded {
    let caller = PhoneNumber::parse_e164("+14155550100").unwrap();
    let client = create_client(store, &caller).await;
    let agents = create_agents(store, client, desktops).await;
    let list = store.create_list(client, "Bench", 1).await.unwrap().id;
    create_contacts(store, client, list, calls).await;
    let (campaign, disposition) = create_campaign(store, client, &caller, list, agents).await;
    Seeded {
        client,
        campaign,
        disposition,
    }
}

/// The benchmark's client: voice on, 100 calls per second, `caller` its number.
async fn create_client(store: &Store, caller: &PhoneNumber) -> ClientId {
    let fields = ClientFields {
        name: "Bench".into(),
        voice_enabled: Some(true),
        calls_per_second: Some(100.0),
        ..Default::default()
    };
    store
        .create_client(
            &fields.validate().unwrap(),
            &SecretInput::default(),
            std::slice::from_ref(caller),
            1,
        )
        .await
        .unwrap()
        .id
}

/// `count` voice agents of the client, `agent{i}@bench.test`, all with the benchmark's password.
async fn create_agents(store: &Store, client: ClientId, count: usize) -> Vec<UserId> {
    let hash = palera_server::http::auth::hash_password(PASSWORD);
    let mut agents = Vec::new();
    for i in 0..count {
        let u = store
            .create_user(
                &NewUser {
                    email: Email::parse("email", &format!("agent{i}@bench.test")).unwrap(),
                    name: format!("Agent {i}"),
                    role: Role::Agent,
                    password_hash: hash.clone(),
                    voice_enabled: true,
                    clients: vec![client],
                },
                1,
            )
            .await
            .unwrap();
        agents.push(u.id);
    }
    agents
}

/// `count` contacts in the list, each with its own New York number.
async fn create_contacts(store: &Store, client: ClientId, list: ListId, count: usize) {
    for i in 0..count {
        let data = ContactData {
            phone: PhoneNumber::parse_e164(&format!("+1{}555{:04}", 212 + i / 10_000, i % 10_000))
                .unwrap(),
            first_name: format!("C{i}"),
            last_name: String::new(),
            email: None,
            time_zone: Some(chrono_tz::America::New_York),
            properties: Default::default(),
        };
        store
            .create_contact(client, Some(list), &data, &Actor::system("bench"), 1)
            .await
            .unwrap();
    }
}

/// A progressive campaign over the list with the agents, 100 calls per second, no answering
/// machine detection, dialing all day; and its one final disposition "Done". Returns both.
async fn create_campaign(
    store: &Store,
    client: ClientId,
    caller: &PhoneNumber,
    list: ListId,
    agents: Vec<UserId>,
) -> (CampaignId, i64) {
    let mut settings = CampaignSettings {
        dial_mode: DialMode::Progressive,
        calls_per_second: 100.0,
        amd: false,
        ..Default::default()
    };
    settings.window.start = chrono::NaiveTime::from_hms_opt(0, 0, 0).unwrap();
    settings.window.end = chrono::NaiveTime::from_hms_opt(23, 59, 59).unwrap();
    let input = CampaignInput {
        name: "Bench".into(),
        settings,
        caller_id: caller.as_str().into(),
        voicemail_url: None,
        hold_music_url: None,
        recording: false,
        transcription: false,
        lists: vec![list],
        agents,
    };
    let campaign = store.create_campaign(client, &input, 1).await.unwrap().id;
    let done = NewDisposition {
        label: "Done".into(),
        effect: EffectKind::Final,
        target_list: None,
    };
    let disposition = store
        .replace_dispositions(client, campaign, &[done])
        .await
        .unwrap()[0]
        .id;
    (campaign, disposition)
}

/// When each call was answered on the simulated network, by call id.
type Answers = Arc<Mutex<HashMap<i64, Instant>>>;

/// The simulated network's tap: everything it observed, with when.
type Tap = tokio::sync::broadcast::Receiver<palera_carrier::sim::realtime::Observed>;

/// What stops the server.
struct Shutdown {
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Starts the server over `store` on a loopback port, on the simulated network: every contact
/// a person who answers after 1 s and talks 2 s, 20 times faster than real time. Returns the
/// app, `http://` and its address, what stops it, and the network's tap.
async fn start_server(db_url: &str, store: &Store) -> (App, String, Shutdown, Tap) {
    let settings = Settings {
        database_url: Some(db_url.to_string()),
        public_url: Some("https://voice.example.com".into()),
        carrier: CarrierMode::Simulated,
        heartbeat_timeout_seconds: 3600,
        ..Settings::default()
    };
    let behaviour = Behaviour {
        human_pct: 100.0,
        machine_pct: 0.0,
        busy_pct: 0.0,
        failed_pct: 0.0,
        ring_seconds: fixed(1.0),
        talk_seconds: fixed(2.0),
        human_hangup_if_waiting_seconds: 30.0,
    };
    let clock = Arc::new(SystemClock);
    let hub = CarrierHub::simulated(&settings, behaviour, 1, 20.0);
    let dir = Arc::new(StoreDirectory::new(store.clone(), clock.clone()));
    let app = App::with_parts(store.clone(), settings, clock, hub, dir);
    let tap = app.carriers.sim().expect("simulated").tap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(palera_server::serve(app.clone(), listener, async {
        let _ = stopped.await;
    }));
    (app, base, Shutdown { stop, server }, tap)
}

/// Records, from the simulated network's tap, when each call was answered (the carrier side
/// of the latency), until the tap closes or the returned task is aborted.
fn record_answers(mut tap: Tap) -> (Answers, tokio::task::JoinHandle<()>) {
    let answered: Answers = Arc::default();
    let record = answered.clone();
    let tapping = tokio::spawn(async move {
        loop {
            match tap.recv().await {
                Ok(o) => {
                    if let Observation::Event(CarrierEvent::Answered { call_id, .. }) = o.what {
                        record.lock().unwrap().entry(call_id).or_insert(o.at);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    eprintln!("the tap missed {n} observations");
                }
                Err(_) => break,
            }
        }
    });
    (answered, tapping)
}

/// Opens the desktops one after the other: logged in, Ready, reporting when each call reached
/// them. The returned channel closes when every desktop's socket has closed.
async fn open_desktops(
    base: &str,
    desktops: usize,
    disposition: i64,
) -> mpsc::UnboundedReceiver<(i64, Instant)> {
    let (seen_tx, seen_rx) = mpsc::unbounded_channel::<(i64, Instant)>();
    for i in 0..desktops {
        let (http, ws) = sign_in(base, i).await;
        tokio::spawn(desktop(
            ws,
            http,
            base.to_string(),
            disposition,
            seen_tx.clone(),
        ));
    }
    seen_rx
}

/// A desktop's WebSocket to the server.
type Desktop =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Signs agent `i` in over the API, opens its desktop WebSocket with the session's cookie and
/// goes Ready.
async fn sign_in(base: &str, i: usize) -> (reqwest::Client, Desktop) {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let r = http
        .post(format!("{base}/api/v1/session"))
        .json(&json!({"email": format!("agent{i}@bench.test"), "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "login");
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let mut req = format!("{}/ws/desktop", base.replace("http", "ws"))
        .into_client_request()
        .unwrap();
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    ws.send(Message::Text(
        json!({"type": "set_state", "state": "ready"})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    (http, ws)
}

/// One desktop at work until its socket closes: reports each `call_connected` with when it was
/// parsed, and gives each ended call the disposition over the API.
async fn desktop(
    mut ws: Desktop,
    http: reqwest::Client,
    base: String,
    disposition: i64,
    seen: mpsc::UnboundedSender<(i64, Instant)>,
) {
    while let Some(Ok(m)) = ws.next().await {
        let got = Instant::now();
        let Ok(text) = m.into_text() else { continue };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        match v["type"].as_str() {
            Some("call_connected") => {
                let _ = seen.send((v["call_id"].as_i64().unwrap_or(0), got));
            }
            Some("call_ended") => {
                let id = v["call_id"].as_i64().unwrap_or(0);
                let _ = http
                    .post(format!("{base}/api/v1/calls/{id}/disposition"))
                    .json(&json!({"disposition_id": disposition}))
                    .send()
                    .await;
            }
            _ => {}
        }
    }
}

/// The calls that reached a desktop, with when, until `calls` did or none arrived for 30 s.
async fn collect(
    mut seen: mpsc::UnboundedReceiver<(i64, Instant)>,
    calls: usize,
) -> Vec<(i64, Instant)> {
    let mut connected: Vec<(i64, Instant)> = Vec::with_capacity(calls);
    while connected.len() < calls {
        match tokio::time::timeout(Duration::from_secs(30), seen.recv()).await {
            Ok(Some(c)) => connected.push(c),
            _ => break,
        }
    }
    connected
}

/// Prints the calls connected in the `wall` time and the latencies' percentiles (`latencies`
/// sorted); exits 1 when fewer calls than asked reached a desktop.
fn report(args: &Args, latencies: &[Duration], wall: Duration) {
    let (backend, desktops, calls) = (args.backend, args.desktops, args.calls);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "desktop latency ({backend:?}, {desktops} desktops): {} calls connected in {:.1} s",
        latencies.len(),
        wall.as_secs_f64()
    );
    println!(
        "carrier answer -> desktop call_connected: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0)
    );
    if latencies.len() < calls {
        println!(
            "only {} of {calls} calls reached a desktop",
            latencies.len()
        );
        std::process::exit(1);
    }
}
