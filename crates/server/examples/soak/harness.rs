//! The soak through the real server (issue 16): the whole server — HTTP, WebSocket desktops,
//! the call engine, the store — on the simulated network in real time, with virtual agents that
//! work as people do over the desktop's own protocol and API: log in, go Ready, take the call
//! the campaign connects, talk for a drawn time, hang up, wrap up, save a disposition. A
//! predictive campaign from a simulation scenario runs for a fixed wall time; then the
//! simulator's independent auditor replays the stored calls (all its checks, calls per second
//! included), and the figures are measured: dials, occupancy, abandon rate, the engine loop's
//! lag, carrier answer → desktop `call_connected`, peak RSS and CPU.
//!
//! Used by `cargo run --release -p palera-voice --example soak` and by the suite's short soak.

use futures::{SinkExt, StreamExt};
use palera_carrier::sim::audit::audit;
use palera_carrier::sim::behaviour::Seconds;
use palera_carrier::sim::log::Event;
use palera_carrier::sim::realtime::Observation;
use palera_carrier::sim::report::Violations;
use palera_carrier::sim::scenario::Scenario;
use palera_carrier::CarrierEvent;
use palera_core::campaign::CallOutcome;
use palera_core::ids::{CallId, CampaignId, ClientId, ContactId, ListId, UserId};
use palera_core::phone::PhoneNumber;
use palera_core::tenant::ClientFields;
use palera_core::user::{Email, Role};
use palera_server::app::Clock;
use palera_server::config::{CarrierMode, Settings};
use palera_server::engine::carriers::CarrierHub;
use palera_server::engine::directory::StoreDirectory;
use palera_server::App;
use palera_store::calls::outcome_str;
use palera_store::campaigns::{CampaignInput, CampaignStatus, EffectKind, NewDisposition};
use palera_store::clients::SecretInput;
use palera_store::contacts::ContactRef;
use palera_store::users::NewUser;
use palera_store::{Backend, Store};
use rand::SeedableRng;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const PASSWORD: &str = "soak-password";

/// What to run.
pub struct Config {
    /// The campaign (settings, network behaviour, time zones, DNC share) and the comparison run.
    pub scenario: Scenario,
    pub agents: u32,
    pub contacts: u32,
    /// Wall time the campaign dials for.
    pub seconds: u64,
    pub backend: Backend,
}

/// What was measured.
#[derive(Debug)]
pub struct Outcome {
    pub backend: Backend,
    pub agents: u32,
    pub contacts: u32,
    pub seconds: u64,
    pub dials: usize,
    pub answered_human: usize,
    pub connected: usize,
    pub abandoned: usize,
    pub abandon_pct: f64,
    /// The longest time from a person's answer to the identification message of an abandoned
    /// call, ms, as stored (the rule: within 2,000).
    pub max_answer_to_message_ms: i64,
    /// The shortest time between two stored dials, ms (the calls-per-second spacing).
    pub min_dial_gap_ms: i64,
    pub dispositions_saved: usize,
    /// Calls still open after the drain (should be none).
    pub left_open: usize,
    pub occupancy_pct: f64,
    /// Occupancy after the warm-up ([`warm_up`]): `simulate` runs a whole day, where the first
    /// minutes (agents signing in, the pacer learning before it may predict) weigh nothing.
    pub steady_occupancy_pct: f64,
    pub warm_up_seconds: u64,
    /// The same scenario through `simulate` (virtual time, whole days), for comparison.
    pub simulated_occupancy_pct: f64,
    /// Engine loop lag, from its histogram (bucket upper bounds) and its exact maximum, ms.
    pub loop_lag_p50_ms: f64,
    pub loop_lag_p99_ms: f64,
    pub loop_lag_max_ms: f64,
    /// Carrier answer → desktop `call_connected`, ms.
    pub desktop_p50_ms: f64,
    pub desktop_p99_ms: f64,
    pub desktop_max_ms: f64,
    pub peak_rss_mb: f64,
    pub cpu_seconds: f64,
    pub violations: Violations,
}

impl Outcome {
    /// The report, one figure a line.
    pub fn lines(&self) -> Vec<String> {
        vec![
            format!(
                "soak ({:?}): {} agents, {} contacts, {} s of dialing",
                self.backend, self.agents, self.contacts, self.seconds
            ),
            format!(
                "dials {} (closest two {} ms apart) · answered by a person {} · connected {} · abandoned {} ({:.2} % of persons) · dispositions saved {} · left open {}",
                self.dials,
                self.min_dial_gap_ms,
                self.answered_human,
                self.connected,
                self.abandoned,
                self.abandon_pct,
                self.dispositions_saved,
                self.left_open
            ),
            format!(
                "slowest identification message after a person answered: {} ms (rule: 2,000)",
                self.max_answer_to_message_ms
            ),
            format!(
                "occupancy {:.1} %, after the first {} s {:.1} % (simulate on the same scenario, a day: {:.1} %)",
                self.occupancy_pct,
                self.warm_up_seconds,
                self.steady_occupancy_pct,
                self.simulated_occupancy_pct
            ),
            format!(
                "engine loop lag: p50 ≤ {:.2} ms, p99 ≤ {:.2} ms, max {:.2} ms",
                self.loop_lag_p50_ms, self.loop_lag_p99_ms, self.loop_lag_max_ms
            ),
            format!(
                "carrier answer → desktop call_connected: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                self.desktop_p50_ms, self.desktop_p99_ms, self.desktop_max_ms
            ),
            format!(
                "peak RSS {:.0} MB, CPU {:.1} s (the whole process: server and virtual agents)",
                self.peak_rss_mb, self.cpu_seconds
            ),
            format!(
                "auditor: {} violations {:?}",
                self.violations.total(),
                self.violations
            ),
        ]
    }
}

/// The business clock of the run: the scenario's first day at 18:00 UTC (inside a 09:00–17:00
/// window from New York to Los Angeles), moving in real time.
struct RunClock {
    start: chrono::DateTime<chrono::Utc>,
    origin: Instant,
}

impl Clock for RunClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.start + chrono::Duration::from_std(self.origin.elapsed()).unwrap_or_default()
    }
}

/// An area code in each zone the soak can put contacts in.
fn area_code(tz: chrono_tz::Tz) -> Option<u32> {
    Some(match tz.name() {
        "America/New_York" => 212,
        "America/Chicago" => 312,
        "America/Denver" => 303,
        "America/Los_Angeles" => 213,
        _ => return None,
    })
}

/// Runs the soak.
pub async fn soak(cfg: Config) -> anyhow::Result<Outcome> {
    let db = palera_store::testing::fresh(cfg.backend)
        .await
        .ok_or_else(|| anyhow::anyhow!("no {:?} database for the soak", cfg.backend))?;
    let store = db.store.clone();
    let seeded = seed(&store, &cfg).await?;
    let (server, tap, talk) = Server::start(&db.url, &store, &cfg.scenario).await?;
    let cpu_before = cpu_seconds();
    let (answered, tapping) = record_answers(tap);
    let crew = Crew::start(&cfg, &server.base, seeded.disposition, talk);

    // Dial for the wall time, then stop dialing and let the calls in hand finish.
    let (began, dialing) = dial_then_drain(&store, &server.app, &seeded, cfg.seconds).await?;
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await?
        .text()
        .await?;
    let work = crew.stop();
    server.shutdown.run().await;
    tapping.abort();
    let cpu = cpu_seconds() - cpu_before;
    let run = Run {
        began,
        dialing,
        metrics,
        cpu,
        answered,
        work,
    };
    measure(&cfg, &store, &seeded, &server.app, server.start, run).await
}

/// When each call was answered on the simulated network (the carrier side of the desktop
/// latency), by call id.
type Answers = Arc<Mutex<HashMap<i64, Instant>>>;

/// The simulated network's tap: everything it observed, with when.
type Tap = tokio::sync::broadcast::Receiver<palera_carrier::sim::realtime::Observed>;

/// What `seed` stored that the run needs.
struct Seeded {
    client: ClientId,
    campaign: CampaignId,
    /// The campaign's one disposition ("Done", final).
    disposition: i64,
    /// The contacts put on the DNC list before dialing.
    dnc: Vec<ContactId>,
}

/// The server under test: the whole server on the simulated network in real time, listening
/// on a loopback port.
struct Server {
    app: App,
    /// `http://127.0.0.1:<port>`.
    base: String,
    /// Where the run's business clock started.
    start: chrono::DateTime<chrono::Utc>,
    shutdown: Shutdown,
}

/// What stops the server.
struct Shutdown {
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Shutdown {
    /// Tells the server to stop and waits for it, at most 10 s.
    async fn run(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), self.server).await;
    }
}

impl Server {
    /// Starts the server over `store` on the simulated network, in real time, with the run's
    /// business clock. Contacts never hang up first: the virtual agents end their calls after
    /// the scenario's talk time, which is returned beside the server and the network's tap.
    async fn start(
        db_url: &str,
        store: &Store,
        s: &Scenario,
    ) -> anyhow::Result<(Self, Tap, Seconds)> {
        let settings = Settings {
            database_url: Some(db_url.to_string()),
            public_url: Some("https://voice.example.com".into()),
            carrier: CarrierMode::Simulated,
            heartbeat_timeout_seconds: 3600,
            ..Settings::default()
        };
        let mut behaviour = s.behaviour.clone();
        let talk = behaviour.talk_seconds;
        behaviour.talk_seconds = Seconds {
            mean: 36_000.0,
            sd: 0.0,
            min: 36_000.0,
        };
        let start = s
            .start
            .date_naive()
            .and_hms_opt(18, 0, 0)
            .unwrap()
            .and_utc();
        let clock = Arc::new(RunClock {
            start,
            origin: Instant::now(),
        });
        let hub = CarrierHub::simulated(&settings, behaviour, s.seed, 1.0);
        let dir = Arc::new(StoreDirectory::new(store.clone(), clock.clone()));
        let app = App::with_parts(store.clone(), settings, clock.clone(), hub, dir);
        let tap = app.carriers.sim().expect("simulated").tap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(palera_server::serve(app.clone(), listener, async {
            let _ = stopped.await;
        }));
        let shutdown = Shutdown { stop, server };
        let server = Server {
            app,
            base,
            start,
            shutdown,
        };
        Ok((server, tap, talk))
    }
}

/// Records, from the simulated network's tap, when each call was answered (the first answer
/// of a call counts), until the tap closes or the returned task is aborted.
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
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => break,
            }
        }
    });
    (answered, tapping)
}

/// The virtual agents at work, and the switch that stops their hang-ups.
struct Crew {
    work: Arc<Work>,
    running: Arc<AtomicBool>,
    agents: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Crew {
    /// Starts one virtual agent for each of the configured agents, on the server at `base`;
    /// each talks for the scenario's `talk` time and wraps up for 80 % of the campaign's wrap-up.
    fn start(cfg: &Config, base: &str, disposition: i64, talk: Seconds) -> Self {
        let s = &cfg.scenario;
        let work = Arc::new(Work::default());
        let running = Arc::new(AtomicBool::new(true));
        let mut agents = Vec::new();
        for i in 0..cfg.agents {
            let a = VirtualAgent {
                base: base.to_string(),
                email: format!("agent{i}@soak.test"),
                disposition,
                talk,
                wrap: Duration::from_secs_f64(f64::from(s.campaign.wrap_up_seconds) * 0.8),
                seed: s.seed.wrapping_add(u64::from(i) + 1),
                work: work.clone(),
                running: running.clone(),
            };
            agents.push(tokio::spawn(a.run()));
        }
        Crew {
            work,
            running,
            agents,
        }
    }

    /// Stops the agents (a pending hang-up no longer goes out) and returns what they did.
    fn stop(self) -> Arc<Work> {
        self.running.store(false, Ordering::SeqCst);
        for a in self.agents {
            a.abort();
        }
        self.work
    }
}

/// Runs the campaign for `seconds` of wall time, then pauses it and lets the calls in hand
/// finish. Returns when dialing began and how long it lasted.
async fn dial_then_drain(
    store: &Store,
    app: &App,
    seeded: &Seeded,
    seconds: u64,
) -> anyhow::Result<(Instant, Duration)> {
    set_status(store, app, seeded, CampaignStatus::Running).await?;
    let began = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let dialing = began.elapsed();
    set_status(store, app, seeded, CampaignStatus::Paused).await?;
    drain(store, seeded.campaign).await?;
    Ok((began, dialing))
}

/// Stores the campaign's status and has the engine reload the campaign.
async fn set_status(
    store: &Store,
    app: &App,
    seeded: &Seeded,
    status: CampaignStatus,
) -> anyhow::Result<()> {
    store
        .set_campaign_status(seeded.client, seeded.campaign, status, app.now_ms())
        .await?;
    app.engine
        .send(palera_server::engine::Request::Reload(seeded.campaign));
    Ok(())
}

/// Waits, at most 120 s, until no call of the campaign is still going on or connected without
/// a disposition.
async fn drain(store: &Store, campaign: CampaignId) -> anyhow::Result<()> {
    let drain_until = Instant::now() + Duration::from_secs(120);
    while Instant::now() < drain_until {
        let open = store
            .campaign_calls(campaign)
            .await?
            .iter()
            .filter(|c| {
                c.ended_at.is_none() || (c.connected_at.is_some() && c.disposition.is_none())
            })
            .count();
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

/// What the run left to measure, besides the store.
struct Run {
    /// When dialing began, and how long it lasted.
    began: Instant,
    dialing: Duration,
    /// The server's `/metrics` text after the drain.
    metrics: String,
    /// CPU seconds the process used from the server's start to its stop.
    cpu: f64,
    answered: Answers,
    work: Arc<Work>,
}

/// The figures of a finished run: the stored calls audited, the desktops' latencies, occupancy
/// beside `simulate` on the same scenario, the engine loop's lag, memory and CPU.
async fn measure(
    cfg: &Config,
    store: &Store,
    seeded: &Seeded,
    app: &App,
    start: chrono::DateTime<chrono::Utc>,
    run: Run,
) -> anyhow::Result<Outcome> {
    let (calls, violations) = audit_run(store, &cfg.scenario, start, seeded).await?;
    let max_answer_to_message_ms = slowest_identification(store, seeded.campaign, &calls).await?;
    let latencies = desktop_latencies(&run.work, &run.answered);
    let human = calls
        .iter()
        .filter(|c| c.answered_by.as_deref() == Some("human"))
        .count();
    let abandoned = calls
        .iter()
        .filter(|c| c.outcome == "abandoned_no_agent")
        .count();
    let warm = warm_up(run.dialing);
    let steady_busy_ms = busy_ms(&run.work, run.began + warm, run.dialing - warm);
    let busy_ms = busy_ms(&run.work, run.began, run.dialing);
    let saved = *run.work.dispositions.lock().unwrap();
    let simulated_occupancy_pct = simulated_occupancy_pct(cfg);
    let (p50, p99) = histogram_quantiles(&run.metrics, "palera_engine_loop_lag_seconds");
    Ok(Outcome {
        backend: cfg.backend,
        agents: cfg.agents,
        contacts: cfg.contacts,
        seconds: run.dialing.as_secs(),
        dials: calls.len(),
        max_answer_to_message_ms,
        min_dial_gap_ms: min_dial_gap_ms(&calls),
        answered_human: human,
        connected: calls.iter().filter(|c| c.connected_at.is_some()).count(),
        abandoned,
        abandon_pct: if human == 0 {
            0.0
        } else {
            abandoned as f64 * 100.0 / human as f64
        },
        dispositions_saved: saved,
        left_open: calls.iter().filter(|c| c.ended_at.is_none()).count(),
        occupancy_pct: busy_ms * 100.0
            / (f64::from(cfg.agents) * run.dialing.as_secs_f64() * 1000.0),
        steady_occupancy_pct: steady_busy_ms * 100.0
            / (f64::from(cfg.agents) * (run.dialing - warm).as_secs_f64() * 1000.0),
        warm_up_seconds: warm.as_secs(),
        simulated_occupancy_pct,
        loop_lag_p50_ms: p50 * 1000.0,
        loop_lag_p99_ms: p99 * 1000.0,
        loop_lag_max_ms: app.metrics.engine_loop_lag_max() * 1000.0,
        desktop_p50_ms: pct(&latencies, 0.50),
        desktop_p99_ms: pct(&latencies, 0.99),
        desktop_max_ms: pct(&latencies, 1.0),
        peak_rss_mb: peak_rss_mb(),
        cpu_seconds: run.cpu,
        violations,
    })
}

/// The campaign's stored calls in id order, and what the simulator's independent auditor
/// finds in them, on the scenario as it ran (the run's start, the campaign's stored settings).
async fn audit_run(
    store: &Store,
    s: &Scenario,
    start: chrono::DateTime<chrono::Utc>,
    seeded: &Seeded,
) -> anyhow::Result<(Vec<palera_store::calls::Call>, Violations)> {
    let calls = {
        let mut c = store.campaign_calls(seeded.campaign).await?;
        c.sort_by_key(|c| c.id);
        c
    };
    let settings = store
        .campaign(seeded.client, seeded.campaign)
        .await?
        .settings;
    let mut scenario = s.clone();
    scenario.start = start;
    scenario.campaign = settings;
    let log = event_log(store, &scenario, seeded, &calls).await?;
    let violations = audit(&scenario, &log);
    Ok((calls, violations))
}

/// The longest time from a person's answer to the identification message of an abandoned
/// call, ms, as stored (0 when no message played).
async fn slowest_identification(
    store: &Store,
    campaign: CampaignId,
    calls: &[palera_store::calls::Call],
) -> anyhow::Result<i64> {
    let answered_at: HashMap<i64, i64> = calls
        .iter()
        .filter_map(|c| c.answered_at.map(|a| (c.id.0, a)))
        .collect();
    Ok(store
        .campaign_call_events(campaign)
        .await?
        .iter()
        .filter(|(_, kind, _)| kind == "identification_played")
        .filter_map(|(call, _, at)| answered_at.get(&call.0).map(|a| at - a))
        .max()
        .unwrap_or(0))
}

/// Carrier answer → desktop `call_connected` of each call a desktop received, ms, sorted.
fn desktop_latencies(work: &Work, answered: &Answers) -> Vec<f64> {
    let seen = work.connected.lock().unwrap().clone();
    let answered = answered.lock().unwrap().clone();
    let mut latencies: Vec<f64> = seen
        .iter()
        .filter_map(|(id, got)| answered.get(id).map(|a| got.saturating_duration_since(*a)))
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    latencies.sort_by(f64::total_cmp);
    latencies
}

/// The agents' talk and wrap-up inside the dialing time (from `began`, for `dialing`), ms, all
/// agents together: occupancy's numerator.
fn busy_ms(work: &Work, began: Instant, dialing: Duration) -> f64 {
    let window_end = began + dialing;
    work.busy
        .lock()
        .unwrap()
        .iter()
        .map(|(from, to)| {
            let (from, to) = ((*from).max(began), (*to).min(window_end));
            to.saturating_duration_since(from).as_secs_f64() * 1000.0
        })
        .sum()
}

/// The start of a run left out of the steady occupancy: a fifth of it, at most two minutes.
fn warm_up(dialing: Duration) -> Duration {
    (dialing / 5).min(Duration::from_secs(120))
}

/// The occupancy `simulate` finds on the same scenario with the run's agents and contacts, over
/// one day of virtual time, percent.
fn simulated_occupancy_pct(cfg: &Config) -> f64 {
    let mut compare = cfg.scenario.clone();
    compare.agents = cfg.agents;
    compare.contacts = cfg.contacts;
    compare.days = 1;
    palera_carrier::sim::simulate(&compare).agent_occupancy_pct
}

/// The shortest time between two stored dials, ms (0 with fewer than two).
fn min_dial_gap_ms(calls: &[palera_store::calls::Call]) -> i64 {
    let mut at: Vec<i64> = calls.iter().map(|c| c.placed_at).collect();
    at.sort_unstable();
    at.windows(2).map(|w| w[1] - w[0]).min().unwrap_or(0)
}

/// The client, its agents, the list (imported from a generated CSV), the DNC share and the
/// campaign with its disposition.
async fn seed(store: &Store, cfg: &Config) -> anyhow::Result<Seeded> {
    let s = &cfg.scenario;
    let caller = PhoneNumber::parse_e164("+14155550100").unwrap();
    let client = create_client(store, s, &caller).await?;
    let agents = create_agents(store, client, cfg.agents).await?;
    let list = store.create_list(client, "Soak", 1).await?.id;
    import_contacts(store, cfg, client, list).await?;
    let contacts = contacts_in(store, client, &[list]).await?;
    let dnc = add_dnc_share(store, s, client, &contacts).await?;
    let (campaign, disposition) = create_campaign(store, s, client, &caller, list, agents).await?;
    Ok(Seeded {
        client,
        campaign,
        disposition,
        dnc,
    })
}

/// The soak's client: voice on, the scenario's calls per second, `caller` its number.
async fn create_client(
    store: &Store,
    s: &Scenario,
    caller: &PhoneNumber,
) -> anyhow::Result<ClientId> {
    let fields = ClientFields {
        name: "Soak".into(),
        voice_enabled: Some(true),
        calls_per_second: Some(s.campaign.calls_per_second),
        ..Default::default()
    };
    Ok(store
        .create_client(
            &fields.validate().map_err(|e| anyhow::anyhow!("{e:?}"))?,
            &SecretInput::default(),
            std::slice::from_ref(caller),
            1,
        )
        .await?
        .id)
}

/// `count` voice agents of the client, `agent{i}@soak.test`, all with the soak's password.
async fn create_agents(store: &Store, client: ClientId, count: u32) -> anyhow::Result<Vec<UserId>> {
    let hash = palera_server::http::auth::hash_password(PASSWORD);
    let mut agents = Vec::new();
    for i in 0..count {
        let u = store
            .create_user(
                &NewUser {
                    email: Email::parse("email", &format!("agent{i}@soak.test"))
                        .map_err(|e| anyhow::anyhow!("{e:?}"))?,
                    name: format!("Agent {i}"),
                    role: Role::Agent,
                    password_hash: hash.clone(),
                    voice_enabled: true,
                    clients: vec![client],
                },
                1,
            )
            .await?;
        agents.push(u.id);
    }
    Ok(agents)
}

/// Imports the configured number of contacts into the list, from a generated CSV, through the
/// store's own import; fails unless every row is imported.
async fn import_contacts(
    store: &Store,
    cfg: &Config,
    client: ClientId,
    list: ListId,
) -> anyhow::Result<()> {
    let csv = contacts_csv(&cfg.scenario, cfg.contacts)?;
    let job = store
        .create_import_job(
            client,
            list,
            "soak.csv",
            csv.len() as i64,
            Default::default(),
            &[],
            None,
            1,
        )
        .await?;
    let summary =
        palera_store::import::run_import(store, &job, std::io::Cursor::new(csv.into_bytes()), || 1)
            .await
            .map_err(|e| anyhow::anyhow!("import: {e}"))?;
    anyhow::ensure!(
        summary.imported == u64::from(cfg.contacts),
        "imported {} of {} contacts",
        summary.imported,
        cfg.contacts
    );
    Ok(())
}

/// The CSV of `contacts` contacts, spread in turn over the scenario's time zones, each with a
/// distinct number under an area code of its zone.
fn contacts_csv(s: &Scenario, contacts: u32) -> anyhow::Result<String> {
    let mut csv = String::from("phone,first_name,last_name,time_zone\n");
    let zones = &s.time_zones;
    for i in 0..contacts {
        let tz = zones[i as usize % zones.len()];
        let area = area_code(tz)
            .ok_or_else(|| anyhow::anyhow!("the soak has no numbers for time zone {tz}"))?;
        let n = i / zones.len() as u32;
        csv.push_str(&format!(
            "+1{area}{}{:04},C{i},Soak,{}\n",
            200 + n / 10_000,
            n % 10_000,
            tz.name()
        ));
    }
    Ok(csv)
}

/// Every contact in the client's `lists`, in id order, read in pages of 5,000.
async fn contacts_in(
    store: &Store,
    client: ClientId,
    lists: &[ListId],
) -> anyhow::Result<Vec<ContactRef>> {
    let mut contacts = Vec::new();
    let mut after = None;
    loop {
        let page = store.contacts_in_lists(client, lists, after, 5_000).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        contacts.extend(page);
    }
    Ok(contacts)
}

/// Puts the scenario's share of the numbers (every n-th contact) on the DNC list before
/// dialing starts; returns those contacts.
async fn add_dnc_share(
    store: &Store,
    s: &Scenario,
    client: ClientId,
    contacts: &[ContactRef],
) -> anyhow::Result<Vec<ContactId>> {
    let dnc: Vec<_> = if s.dnc_pct > 0.0 {
        let every = (100.0 / s.dnc_pct).round().max(1.0) as usize;
        contacts.iter().step_by(every).collect()
    } else {
        Vec::new()
    };
    let numbers: Vec<PhoneNumber> = dnc.iter().map(|c| c.phone.clone()).collect();
    store.add_dnc_many(client, &numbers, "soak", 1).await?;
    Ok(dnc.iter().map(|c| c.id).collect())
}

/// The scenario's campaign over the list with the agents, and its one final disposition
/// "Done". Returns the campaign and the disposition.
async fn create_campaign(
    store: &Store,
    s: &Scenario,
    client: ClientId,
    caller: &PhoneNumber,
    list: ListId,
    agents: Vec<UserId>,
) -> anyhow::Result<(CampaignId, i64)> {
    let input = CampaignInput {
        name: "Soak".into(),
        settings: s.campaign.clone(),
        caller_id: caller.as_str().into(),
        // Abandoned calls play it as the identification message (the API refuses a predictive
        // campaign without one).
        voicemail_url: Some("https://voice.example.com/audio/identification.mp3".into()),
        hold_music_url: None,
        recording: false,
        transcription: false,
        lists: vec![list],
        agents,
    };
    let campaign = store.create_campaign(client, &input, 1).await?.id;
    let done = NewDisposition {
        label: "Done".into(),
        effect: EffectKind::Final,
        target_list: None,
    };
    let disposition = store
        .replace_dispositions(client, campaign, &[done])
        .await?[0]
        .id;
    Ok((campaign, disposition))
}

/// The auditor's event log rebuilt from the store: the contacts (with their zones) and DNC
/// entries, then each call's dial, answer, agent, abandon, message and end, in time order.
async fn event_log(
    store: &Store,
    s: &Scenario,
    seeded: &Seeded,
    calls: &[palera_store::calls::Call],
) -> anyhow::Result<Vec<Event>> {
    let start = s.start.timestamp_millis();
    let lists: Vec<_> = store
        .lists(seeded.client)
        .await?
        .iter()
        .map(|l| l.id)
        .collect();
    let contacts = contacts_in(store, seeded.client, &lists).await?;
    let mut log: Vec<Event> = contacts.iter().map(|c| imported(s, c)).collect();
    for c in &seeded.dnc {
        log.push(Event::DncAdded {
            t: 0,
            contact: c.0 as u32,
        });
    }
    let events = store.campaign_call_events(seeded.campaign).await?;
    let mut timed = call_events(s, calls, start);
    timed.extend(abandon_events(&events, start));
    // Stable: at one instant, the order above (a dial before its answer, an abandon before its
    // message).
    timed.sort_by_key(Event::time);
    log.extend(timed);
    Ok(log)
}

/// A contact's `Imported` event: its zone is its place among the scenario's time zones.
fn imported(s: &Scenario, c: &ContactRef) -> Event {
    let zone = s
        .time_zones
        .iter()
        .position(|z| Some(z.name()) == c.time_zone.as_deref())
        .unwrap_or(usize::MAX);
    Event::Imported {
        contact: c.id.0 as u32,
        zone: zone as u16,
    }
}

/// Each stored call's dial, answer, agent and end, in call order, timed from `start` (ms since
/// the epoch). Calls without a contact are left out.
fn call_events(s: &Scenario, calls: &[palera_store::calls::Call], start: i64) -> Vec<Event> {
    let t = |ms: i64| ms - start;
    let outcomes: HashMap<&str, CallOutcome> =
        ALL_OUTCOMES.iter().map(|o| (outcome_str(*o), *o)).collect();
    let mut timed = Vec::new();
    for c in calls {
        let call = c.id.0 as u32;
        let Some(contact) = c.contact_id else {
            continue;
        };
        timed.push(Event::Dial {
            t: t(c.placed_at),
            call,
            contact: contact.0 as u32,
            agent: None,
            ring_timeout_s: s.campaign.ring_timeout_seconds,
        });
        if let Some(at) = c.answered_at {
            timed.push(Event::Answered {
                t: t(at),
                call,
                human: c.answered_by.as_deref() == Some("human"),
            });
        }
        if let (Some(at), Some(agent)) = (c.connected_at, c.agent_id) {
            timed.push(Event::AgentConnected {
                t: t(at),
                call,
                agent: agent.0 as u32,
            });
        }
        if let (Some(at), Some(o)) = (c.ended_at, outcomes.get(c.outcome.as_str())) {
            timed.push(Event::Ended {
                t: t(at),
                call,
                outcome: *o,
            });
        }
    }
    timed
}

/// The abandons (with the identification message when one played) among the stored call
/// events, timed from `start` (ms since the epoch).
fn abandon_events(events: &[(CallId, String, i64)], start: i64) -> Vec<Event> {
    let t = |ms: i64| ms - start;
    let mut timed = Vec::new();
    for (call, kind, at) in events {
        let call = call.0 as u32;
        match kind.as_str() {
            "identification_played" => {
                timed.push(Event::Abandoned { t: t(*at), call });
                timed.push(Event::MessagePlayed { t: t(*at), call });
            }
            "abandoned_without_message" => timed.push(Event::Abandoned { t: t(*at), call }),
            _ => {}
        }
    }
    timed
}

const ALL_OUTCOMES: [CallOutcome; 10] = [
    CallOutcome::Queued,
    CallOutcome::Ringing,
    CallOutcome::InProgress,
    CallOutcome::Completed,
    CallOutcome::AbandonedNoAgent,
    CallOutcome::NoAnswer,
    CallOutcome::Busy,
    CallOutcome::Failed,
    CallOutcome::Machine,
    CallOutcome::VoicemailDropped,
];

/// What the agents did, together.
#[derive(Default)]
struct Work {
    /// Each call's `call_connected` as its desktop parsed it.
    connected: Mutex<Vec<(i64, Instant)>>,
    /// Talk and wrap-up: from `call_connected` to the disposition saved.
    busy: Mutex<Vec<(Instant, Instant)>>,
    dispositions: Mutex<usize>,
}

/// One virtual agent: a desktop WebSocket and an API session, as the browser's desktop has.
struct VirtualAgent {
    base: String,
    email: String,
    disposition: i64,
    talk: Seconds,
    wrap: Duration,
    seed: u64,
    work: Arc<Work>,
    running: Arc<AtomicBool>,
}

/// A desktop's WebSocket to the server.
type Desktop =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl VirtualAgent {
    /// Works until the desktop's socket closes: Ready at once, then each connected call talked
    /// for a drawn time and hung up, each ended call given its disposition after the wrap-up.
    async fn run(self) -> anyhow::Result<()> {
        let (http, ws) = self.sign_in().await?;
        let (mut tx, mut rx) = ws.split();
        tx.send(Message::Text(
            json!({"type": "set_state", "state": "ready"})
                .to_string()
                .into(),
        ))
        .await?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed);
        let mut since: HashMap<i64, Instant> = HashMap::new();
        let mut beat = tokio::time::interval(Duration::from_secs(15));
        let this = Arc::new(self);
        loop {
            let m = tokio::select! {
                m = rx.next() => m,
                _ = beat.tick() => {
                    let _ = tx.send(Message::Text(json!({"type": "heartbeat"}).to_string().into())).await;
                    continue;
                }
            };
            let Some(Ok(m)) = m else { break };
            let got = Instant::now();
            let Ok(text) = m.into_text() else { continue };
            let Ok(v) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            let call = v["call_id"].as_i64().unwrap_or(0);
            match v["type"].as_str() {
                Some("call_connected") => {
                    this.work.connected.lock().unwrap().push((call, got));
                    since.insert(call, got);
                    let talk = Duration::from_secs_f64(this.talk.sample(&mut rng));
                    this.clone().hang_up_after(http.clone(), call, talk);
                }
                Some("call_ended") => {
                    let connected = since.remove(&call);
                    this.clone()
                        .dispose_after_wrap_up(http.clone(), call, connected);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Signs in over the API (the client keeps the session cookie) and opens the desktop's
    /// WebSocket with the session's cookie.
    async fn sign_in(&self) -> anyhow::Result<(reqwest::Client, Desktop)> {
        let http = reqwest::Client::builder().cookie_store(true).build()?;
        let r = http
            .post(format!("{}/api/v1/session", self.base))
            .json(&json!({"email": self.email, "password": PASSWORD}))
            .send()
            .await?;
        anyhow::ensure!(r.status() == 200, "login of {}", self.email);
        let cookie = r.headers()["set-cookie"].to_str()?;
        let cookie = cookie.split(';').next().unwrap_or_default().to_string();
        let mut req =
            format!("{}/ws/desktop", self.base.replace("http", "ws")).into_client_request()?;
        req.headers_mut().insert("cookie", cookie.parse()?);
        req.headers_mut()
            .insert("origin", "https://voice.example.com".parse()?);
        let (ws, _) = tokio_tungstenite::connect_async(req).await?;
        Ok((http, ws))
    }

    /// Talks for `talk`, then hangs up (unless the contact already did, or the soak stopped).
    fn hang_up_after(self: Arc<Self>, http: reqwest::Client, call: i64, talk: Duration) {
        tokio::spawn(async move {
            tokio::time::sleep(talk).await;
            if self.running.load(Ordering::SeqCst) {
                let _ = http
                    .post(format!("{}/api/v1/calls/{call}/hangup", self.base))
                    .send()
                    .await;
            }
        });
    }

    /// Wraps up, then saves the disposition; a saved one counts, and so does the agent's busy
    /// time from `connected` (when the call reached the desktop) to now.
    fn dispose_after_wrap_up(
        self: Arc<Self>,
        http: reqwest::Client,
        call: i64,
        connected: Option<Instant>,
    ) {
        tokio::spawn(async move {
            tokio::time::sleep(self.wrap).await;
            let saved = http
                .post(format!("{}/api/v1/calls/{call}/disposition", self.base))
                .json(&json!({"disposition_id": self.disposition}))
                .send()
                .await;
            if saved.is_ok_and(|r| r.status().is_success()) {
                *self.work.dispositions.lock().unwrap() += 1;
                if let Some(t) = connected {
                    self.work.busy.lock().unwrap().push((t, Instant::now()));
                }
            }
        });
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1))
        .copied()
        .unwrap_or(f64::NAN)
}

/// p50 and p99 of a Prometheus histogram in exposition text, as the upper bounds of the buckets
/// they fall in (seconds).
fn histogram_quantiles(text: &str, name: &str) -> (f64, f64) {
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    let prefix = format!("{name}_bucket{{le=\"");
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(&prefix) else {
            continue;
        };
        let Some((le, count)) = rest.split_once("\"} ") else {
            continue;
        };
        let le = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().unwrap_or(f64::NAN)
        };
        buckets.push((le, count.trim().parse().unwrap_or(0.0)));
    }
    let total = buckets.last().map_or(0.0, |b| b.1);
    let q = |p: f64| {
        buckets
            .iter()
            .find(|(_, n)| *n >= total * p)
            .map_or(f64::NAN, |(le, _)| *le)
    };
    (q(0.5), q(0.99))
}

/// The process's peak resident memory (Linux), MB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU time the process used so far (user + system, Linux), seconds.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the command name (which is in parentheses): utime is the 14th, stime the 15th.
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}
