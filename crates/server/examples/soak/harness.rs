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
use palera_core::ids::{CampaignId, ClientId, ContactId};
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
                "occupancy {:.1} % (simulate on the same scenario: {:.1} %)",
                self.occupancy_pct, self.simulated_occupancy_pct
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
    let s = &cfg.scenario;
    let (client, campaign, disposition, dnc) = seed(&store, &cfg).await?;

    // The server on the simulated network, in real time. Contacts never hang up first: the
    // virtual agents end their calls after the scenario's talk time.
    let settings = Settings {
        database_url: Some(db.url.clone()),
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
    let mut tap = app.carriers.sim().expect("simulated").tap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(palera_server::serve(app.clone(), listener, async {
        let _ = stopped.await;
    }));
    let cpu_before = cpu_seconds();

    // The carrier side of the desktop latency: when each call was answered.
    let answered: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
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

    // The agents.
    let work = Arc::new(Work::default());
    let running = Arc::new(AtomicBool::new(true));
    let mut agents = Vec::new();
    for i in 0..cfg.agents {
        let a = VirtualAgent {
            base: base.clone(),
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

    // Dial for the wall time, then stop dialing and let the calls in hand finish.
    store
        .set_campaign_status(client, campaign, CampaignStatus::Running, app.now_ms())
        .await?;
    app.engine
        .send(palera_server::engine::Request::Reload(campaign));
    let began = Instant::now();
    tokio::time::sleep(Duration::from_secs(cfg.seconds)).await;
    let dialing = began.elapsed();
    store
        .set_campaign_status(client, campaign, CampaignStatus::Paused, app.now_ms())
        .await?;
    app.engine
        .send(palera_server::engine::Request::Reload(campaign));
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
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await?
        .text()
        .await?;
    running.store(false, Ordering::SeqCst);
    for a in agents {
        a.abort();
    }
    let _ = stop_server.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    tapping.abort();
    let cpu = cpu_seconds() - cpu_before;

    // What was stored, audited.
    let calls = {
        let mut c = store.campaign_calls(campaign).await?;
        c.sort_by_key(|c| c.id);
        c
    };
    let settings = store.campaign(client, campaign).await?.settings;
    let mut scenario = s.clone();
    scenario.start = start;
    scenario.campaign = settings.clone();
    let log = event_log(&store, &scenario, client, campaign, &calls, &dnc).await?;
    let violations = audit(&scenario, &log);
    let answered_at: HashMap<i64, i64> = calls
        .iter()
        .filter_map(|c| c.answered_at.map(|a| (c.id.0, a)))
        .collect();
    let max_answer_to_message_ms = store
        .campaign_call_events(campaign)
        .await?
        .iter()
        .filter(|(_, kind, _)| kind == "identification_played")
        .filter_map(|(call, _, at)| answered_at.get(&call.0).map(|a| at - a))
        .max()
        .unwrap_or(0);

    let seen = work.connected.lock().unwrap().clone();
    let answered = answered.lock().unwrap().clone();
    let mut latencies: Vec<f64> = seen
        .iter()
        .filter_map(|(id, got)| answered.get(id).map(|a| got.saturating_duration_since(*a)))
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let human = calls
        .iter()
        .filter(|c| c.answered_by.as_deref() == Some("human"))
        .count();
    let abandoned = calls
        .iter()
        .filter(|c| c.outcome == "abandoned_no_agent")
        .count();
    // Occupancy over the dialing time: each agent's talk and wrap-up inside it.
    let window_end = began + dialing;
    let busy_ms: f64 = work
        .busy
        .lock()
        .unwrap()
        .iter()
        .map(|(from, to)| {
            let (from, to) = ((*from).max(began), (*to).min(window_end));
            to.saturating_duration_since(from).as_secs_f64() * 1000.0
        })
        .sum();
    let saved = *work.dispositions.lock().unwrap();
    let mut compare = s.clone();
    compare.agents = cfg.agents;
    compare.contacts = cfg.contacts;
    compare.days = 1;
    let simulated = palera_carrier::sim::simulate(&compare);
    let (p50, p99) = histogram_quantiles(&metrics, "palera_engine_loop_lag_seconds");
    Ok(Outcome {
        backend: cfg.backend,
        agents: cfg.agents,
        contacts: cfg.contacts,
        seconds: dialing.as_secs(),
        dials: calls.len(),
        max_answer_to_message_ms,
        min_dial_gap_ms: {
            let mut at: Vec<i64> = calls.iter().map(|c| c.placed_at).collect();
            at.sort_unstable();
            at.windows(2).map(|w| w[1] - w[0]).min().unwrap_or(0)
        },
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
        occupancy_pct: busy_ms * 100.0 / (f64::from(cfg.agents) * dialing.as_secs_f64() * 1000.0),
        simulated_occupancy_pct: simulated.agent_occupancy_pct,
        loop_lag_p50_ms: p50 * 1000.0,
        loop_lag_p99_ms: p99 * 1000.0,
        loop_lag_max_ms: app.metrics.engine_loop_lag_max() * 1000.0,
        desktop_p50_ms: pct(&latencies, 0.50),
        desktop_p99_ms: pct(&latencies, 0.99),
        desktop_max_ms: pct(&latencies, 1.0),
        peak_rss_mb: peak_rss_mb(),
        cpu_seconds: cpu,
        violations,
    })
}

/// The client, its agents, the list (imported from a generated CSV), the DNC share and the
/// campaign. Returns the client, the campaign, its disposition and the DNC contacts.
async fn seed(
    store: &Store,
    cfg: &Config,
) -> anyhow::Result<(ClientId, CampaignId, i64, Vec<ContactId>)> {
    let s = &cfg.scenario;
    let fields = ClientFields {
        name: "Soak".into(),
        voice_enabled: Some(true),
        calls_per_second: Some(s.campaign.calls_per_second),
        ..Default::default()
    };
    let caller = PhoneNumber::parse_e164("+14155550100").unwrap();
    let client = store
        .create_client(
            &fields.validate().map_err(|e| anyhow::anyhow!("{e:?}"))?,
            &SecretInput::default(),
            std::slice::from_ref(&caller),
            1,
        )
        .await?
        .id;
    let hash = palera_server::http::auth::hash_password(PASSWORD);
    let mut agents = Vec::new();
    for i in 0..cfg.agents {
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
    let list = store.create_list(client, "Soak", 1).await?.id;
    let mut csv = String::from("phone,first_name,last_name,time_zone\n");
    let zones = &s.time_zones;
    for i in 0..cfg.contacts {
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
    let mut contacts = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .contacts_in_lists(client, &[list], after, 5_000)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        contacts.extend(page);
    }
    // The scenario's share of the numbers joins the DNC list before dialing starts.
    let dnc: Vec<_> = if s.dnc_pct > 0.0 {
        let every = (100.0 / s.dnc_pct).round().max(1.0) as usize;
        contacts.iter().step_by(every).collect()
    } else {
        Vec::new()
    };
    let numbers: Vec<PhoneNumber> = dnc.iter().map(|c| c.phone.clone()).collect();
    store.add_dnc_many(client, &numbers, "soak", 1).await?;
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
    let disposition = store.replace_dispositions(campaign, &[done]).await?[0].id;
    Ok((
        client,
        campaign,
        disposition,
        dnc.iter().map(|c| c.id).collect(),
    ))
}

/// The auditor's event log rebuilt from the store: the contacts (with their zones) and DNC
/// entries, then each call's dial, answer, agent, abandon, message and end, in time order.
async fn event_log(
    store: &Store,
    s: &Scenario,
    client: ClientId,
    campaign: CampaignId,
    calls: &[palera_store::calls::Call],
    dnc: &[ContactId],
) -> anyhow::Result<Vec<Event>> {
    let start = s.start.timestamp_millis();
    let t = |ms: i64| ms - start;
    let id = |c: ContactId| c.0 as u32;
    let mut log = Vec::new();
    let lists: Vec<_> = store.lists(client).await?.iter().map(|l| l.id).collect();
    let mut after = None;
    loop {
        let page = store
            .contacts_in_lists(client, &lists, after, 5_000)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for c in &page {
            let zone = s
                .time_zones
                .iter()
                .position(|z| Some(z.name()) == c.time_zone.as_deref())
                .unwrap_or(usize::MAX);
            log.push(Event::Imported {
                contact: id(c.id),
                zone: zone as u16,
            });
        }
    }
    for c in dnc {
        log.push(Event::DncAdded {
            t: 0,
            contact: id(*c),
        });
    }
    let mut timed = Vec::new();
    let events = store.campaign_call_events(campaign).await?;
    let outcomes: HashMap<&str, CallOutcome> =
        ALL_OUTCOMES.iter().map(|o| (outcome_str(*o), *o)).collect();
    for c in calls {
        let call = c.id.0 as u32;
        let Some(contact) = c.contact_id else {
            continue;
        };
        timed.push(Event::Dial {
            t: t(c.placed_at),
            call,
            contact: id(contact),
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
    for (call, kind, at) in &events {
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
    // Stable: at one instant, the order above (a dial before its answer, an abandon before its
    // message).
    timed.sort_by_key(Event::time);
    log.extend(timed);
    Ok(log)
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

impl VirtualAgent {
    async fn run(self) -> anyhow::Result<()> {
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
                    // Talk, then hang up (unless the contact already did).
                    let talk = Duration::from_secs_f64(this.talk.sample(&mut rng));
                    let (http, a) = (http.clone(), this.clone());
                    tokio::spawn(async move {
                        tokio::time::sleep(talk).await;
                        if a.running.load(Ordering::SeqCst) {
                            let _ = http
                                .post(format!("{}/api/v1/calls/{call}/hangup", a.base))
                                .send()
                                .await;
                        }
                    });
                }
                Some("call_ended") => {
                    let connected = since.remove(&call);
                    let (http, a) = (http.clone(), this.clone());
                    tokio::spawn(async move {
                        tokio::time::sleep(a.wrap).await;
                        let saved = http
                            .post(format!("{}/api/v1/calls/{call}/disposition", a.base))
                            .json(&json!({"disposition_id": a.disposition}))
                            .send()
                            .await;
                        if saved.is_ok_and(|r| r.status().is_success()) {
                            *a.work.dispositions.lock().unwrap() += 1;
                            if let Some(t) = connected {
                                a.work.busy.lock().unwrap().push((t, Instant::now()));
                            }
                        }
                    });
                }
                _ => {}
            }
        }
        Ok(())
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
