//! The call engine: one loop (DESIGN §6.8) that runs every active campaign. It `select!`s on a
//! tick, the carrier event stream of [`crate::engine::carriers::CarrierHub`], commands from handlers
//! (campaign started/paused, disposition saved, preview call/skip), voice-state changes published
//! to desktops, and shutdown. Each running campaign has a [`runner::Runner`] holding the core
//! campaign driver (`palera_core::campaign::driver::Driver`, the same state machine `simulate`
//! runs): the runner feeds it due contacts from the store, ready agents and heartbeats, carrier
//! events and dispositions, and carries out its commands — holders, previews, dials (after a
//! fresh DNC lookup and an atomic claim in the store, so no contact is ever dialled twice at
//! once), bridging agents, the identification message of an abandoned call, machine messages,
//! wrap-up and the contact's attempt.
//!
//! Business time (windows, cadence, stored timestamps) comes from the app's injected clock;
//! durations that only matter in real time (the 2 s grace, wrap-up limits, calls per second) are
//! measured on the monotonic clock.
//!
//! Multi-node: the claim is safe on both backends (a conditional update in the transaction that
//! creates the call), and on PostgreSQL one node leads each campaign through a session advisory
//! lock (others retry every few seconds and take over when the leader goes). Events cross nodes
//! on PostgreSQL through [`crate::bus`] (LISTEN/NOTIFY): what the engine tells desktops reaches
//! them on every node; another node's voice-state changes reach this engine at once (it reads
//! users again, as for a change made here); a webhook about a call this engine does not run (not
//! a call of its lanes, a manual or inbound call of its own, nor a dial it is placing) is
//! forwarded unapplied and unmarked, and applied and marked by the engine that runs it
//! ([`Request::Forwarded`]). With no bus (SQLite) or while the bus is not listening, webhooks are
//! applied here as before. Not built yet: an agent's requests about a call (disposition, call
//! control, preview, the call shown at reconnect) are answered by the engine of the node that
//! receives them, so an agent's desktop should be served by the campaign's leader; and
//! `FOR UPDATE SKIP LOCKED` work queues.

pub mod carriers;
mod control;
pub mod directory;
mod error;
mod inbound;
mod journal;
mod lane;
mod live;
mod manual;
mod media;
mod outbox;
mod restart;
mod runner;

use crate::app::App;
use crate::desk::ws::{DesktopEvent, DesktopMessage};

use chrono::{DateTime, Utc};
use palera_carrier::CarrierEvent;
use palera_core::campaign::CpsLimiter;
use palera_core::ids::{CallId, CampaignId, ClientId, ContactId, UserId};
use palera_store::users::User;
use runner::Runner;
use runner::RunnerRef;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

pub use control::CallAction;
pub use error::EngineError;
pub use inbound::Arrival;
pub use live::{AgentLive, LiveSnapshot};
pub use manual::ManualDial;
pub use outbox::WebhookEffect;

/// How often the engine looks at its campaigns.
const TICK: Duration = Duration::from_millis(200);
/// How often due contacts are read again.
const DUE_EVERY: Duration = Duration::from_millis(500);
/// How often campaign lists are read again for new or departed contacts.
const ENROL_EVERY: Duration = Duration::from_secs(15);
/// How often users are read again even when this process changed none (other nodes' writes).
const USERS_EVERY: Duration = Duration::from_secs(5);
/// How far before the latest change read the next read of users looks: writes that were in
/// flight during the last read, and other nodes' clocks a little behind.
pub(super) const USERS_OVERLAP_MS: i64 = 30_000;
/// How often the set of running campaigns is read again.
const CAMPAIGNS_EVERY: Duration = Duration::from_secs(2);

/// Requests from handlers to the engine.
pub enum Request {
    /// A campaign was started, paused, resumed, stopped or edited.
    Reload(CampaignId),
    /// A campaign's enrolment, brought up to date off the loop: how many contacts joined, and
    /// those retired (they left the campaign's lists), for runner `generation`.
    Enrolled {
        campaign: CampaignId,
        generation: u64,
        result: Result<(u64, Vec<ContactId>), String>,
    },
    /// A page of a campaign's due contacts, read off the loop.
    DuePage(runner::DuePage),
    /// The carrier took the request to connect `agent` to `call` (from the call's lane): the
    /// agent's desktop is told, if the call is still theirs (the loop keeps desktop messages in
    /// order).
    AgentBridged {
        call: CallId,
        agent: UserId,
        /// Why the carrier could not bridge the agent, when it could not.
        failure: Option<String>,
    },
    /// An agent (or staff member) gives a call its disposition.
    Dispose {
        call: CallId,
        by: UserId,
        staff: bool,
        disposition: i64,
        notes: String,
        callback_at: Option<DateTime<Utc>>,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
    /// The agent calls the contact they are previewing.
    PreviewCall {
        agent: UserId,
        reply: oneshot::Sender<Result<CallId, EngineError>>,
    },
    /// The agent skips the contact they are previewing.
    PreviewSkip {
        agent: UserId,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
    /// The messages that bring a (re)connecting desktop up to date with the agent's call.
    CurrentCall {
        agent: UserId,
        reply: oneshot::Sender<Vec<DesktopMessage>>,
    },
    /// The agent on a call holds, resumes or hangs it up.
    Control {
        call: CallId,
        agent: UserId,
        action: CallAction,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
    /// A control request given to a call's lane is done (`failure` when the carrier refused or
    /// failed it): the engine records it, tells the desktop, then answers the handler.
    ControlDone {
        call: CallId,
        agent: UserId,
        action: CallAction,
        /// What the action played (a voicemail drop's message).
        detail: String,
        failure: Option<palera_carrier::CarrierError>,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
    /// The agent dials a number outside campaigns (already checked for DNC and window).
    ManualDial {
        dial: ManualDial,
        reply: oneshot::Sender<Result<CallId, EngineError>>,
    },
    /// The carrier answered a manual call's dial (sent from a task of its own).
    ManualPlaced(manual::ManualPlaced),
    /// A Twilio webhook's event, stored with its receipt: applied, then marked so.
    Webhook {
        client: ClientId,
        event_key: String,
        event: outbox::WebhookEffect,
    },
    /// A webhook's event another node received for a call it does not run ([`crate::bus`]):
    /// applied and marked if the call is this engine's, else left alone — unless `last_resort`
    /// (the receiving node's own event that nobody claimed), which is applied as a single node
    /// applies an event for a call it does not know.
    Forwarded {
        client: ClientId,
        event_key: String,
        event: outbox::WebhookEffect,
        last_resort: bool,
    },
    /// A caller rings one of a client's numbers (the simulated network's arrivals).
    InboundArrived {
        arrival: Arrival,
        reply: Option<oneshot::Sender<Result<CallId, EngineError>>>,
    },
    /// The agent an inbound call rings at accepts (`accept`) or declines it.
    InboundAnswer {
        call: CallId,
        agent: UserId,
        accept: bool,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
    /// Fault injection for the supervision test: the engine panics with `message`. Nothing in
    /// the HTTP surface sends it.
    Crash { message: String },
    /// What the live campaign page shows.
    Snapshot {
        campaign: CampaignId,
        reply: oneshot::Sender<LiveSnapshot>,
    },
}

/// The handlers' end of the engine's command channel.
pub struct EngineHandle {
    tx: mpsc::UnboundedSender<Request>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Request>>>,
    /// The engine loop is up (rebuilt after a panic); `/readyz` reports it.
    running: std::sync::atomic::AtomicBool,
}

impl Default for EngineHandle {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            tx,
            rx: Mutex::new(Some(rx)),
            running: Default::default(),
        }
    }
}

impl EngineHandle {
    /// Whether the engine loop is running (false before it starts, while it is rebuilt after a
    /// panic, and after it stopped).
    pub fn is_running(&self) -> bool {
        self.running.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn set_running(&self, up: bool) {
        self.running.store(up, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn send(&self, c: Request) {
        if self.tx.send(c).is_err() {
            tracing::warn!("the call engine is not running; command dropped");
        }
    }

    /// Sends a command built around a reply channel and waits for the answer.
    pub async fn ask<T>(
        &self,
        build: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> Result<T, EngineError> {
        let (tx, rx) = oneshot::channel();
        self.send(build(tx));
        rx.await.map_err(|_| EngineError::Unavailable)
    }

    /// The engine's request stream: the engine loop takes it (tests that observe what handlers send
    /// take it first, and the engine does not run).
    pub fn take(&self) -> Option<mpsc::UnboundedReceiver<Request>> {
        self.rx.lock().expect("engine lock").take()
    }
}

/// The contact an agent is shown.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct ContactSummary {
    pub contact_id: ContactId,
    pub name: String,
    pub phone: String,
    pub campaign_id: CampaignId,
    pub campaign: String,
}

/// What an agent is doing across every kind of call, as the engine sees it (the core driver's
/// `Activity` covers one campaign's agents; this adds manual and inbound calls and wrap-up).
#[derive(Debug, Clone, Copy, PartialEq)]
enum AgentActivity {
    Idle {
        since: DateTime<Utc>,
    },
    Previewing {
        campaign: CampaignId,
        contact: ContactId,
    },
    /// A call is being placed for this agent (preview, progressive).
    Dialling {
        call: CallId,
    },
    OnCall {
        call: CallId,
        since: DateTime<Utc>,
    },
    WrapUp {
        call: CallId,
        until: Instant,
        until_at: DateTime<Utc>,
    },
}

impl AgentActivity {
    fn label(&self) -> &'static str {
        match self {
            AgentActivity::Idle { .. } => "idle",
            AgentActivity::Previewing { .. } => "previewing",
            AgentActivity::Dialling { .. } => "ringing",
            AgentActivity::OnCall { .. } => "on_call",
            AgentActivity::WrapUp { .. } => "wrap_up",
        }
    }
}

/// The engine's state: running campaigns, agents' activities, live calls.
pub struct Engine {
    app: App,
    runners: BTreeMap<CampaignId, Runner>,
    /// Runners of stopped campaigns still finishing their calls.
    draining: Vec<Runner>,
    generations: u64,
    /// Where the drivers' monotonic clock starts.
    epoch: Instant,
    /// The call whose agent disposition is being carried out.
    disposing: Option<CallId>,
    agents: HashMap<UserId, AgentActivity>,
    calls: HashMap<CallId, live::Live>,
    /// Manual calls in flight (outside campaigns), and inbound calls once an agent took them.
    manual: HashMap<CallId, manual::Manual>,
    /// Inbound calls waiting for an agent (queued, or ringing at a desktop).
    inbound: HashMap<CallId, inbound::Waiting>,
    /// Inbound offers in a row each agent let ring out.
    missed_offers: HashMap<UserId, u32>,
    /// Dropped-voicemail calls whose line ended, by the agent who dropped them: told once the
    /// attempt's disposition is stored.
    dropped: HashMap<CallId, UserId>,
    cps: HashMap<ClientId, CpsLimiter>,
    users: HashMap<UserId, User>,
    /// The store's users generation when `users` was read, and when.
    users_seen: u64,
    users_read_at: Option<Instant>,
    /// The latest change among the users read (`users.changed_at`): the next read takes only
    /// what changed since (less [`USERS_OVERLAP_MS`]); `None` until the first, whole read.
    users_mark: Option<i64>,
    last_campaigns: Option<Instant>,
    /// Dials with the carrier, and the carrier events of each that came before its answer
    /// (handled once the answer is in, so a call is known before its events are).
    placing: HashMap<CallId, Vec<CarrierEvent>>,
    placed_tx: mpsc::UnboundedSender<runner::Placed>,
    placed_rx: Option<mpsc::UnboundedReceiver<runner::Placed>>,
    /// Recording and live transcription of calls in progress.
    media: crate::recordings::live::LiveMedia,
    /// The running record of live calls, written behind the loop.
    journal: journal::Journal,
}

/// Runs the engine until `stop` flips.
pub async fn engine_loop(app: App, mut stop: watch::Receiver<bool>) {
    let Some(events) = app.carriers.take_events() else {
        tracing::warn!("carrier events already taken; the call engine does not run");
        return;
    };
    let Some(requests) = app.engine.take() else {
        tracing::warn!("engine requests already taken; the call engine does not run");
        return;
    };
    let mut inputs = Inputs {
        states: app.events.subscribe(),
        events,
        requests,
    };
    // The writer outlives each life of the engine, so a rebuilt engine finds what the last
    // one queued stored (it flushes before it reconciles).
    let (journal, writer) = journal::Journal::start(app.store.clone());
    // Supervision: a panic in the engine is logged with its cause, `/readyz` turns unready, and
    // after a pause the engine is rebuilt from the stored state with the same inputs.
    loop {
        let run =
            std::panic::AssertUnwindSafe(run_engine(&app, journal.clone(), &mut inputs, &mut stop));
        match futures::FutureExt::catch_unwind(run).await {
            Ok(()) => break,
            Err(cause) => {
                app.engine.set_running(false);
                app.metrics.engine_restarts.inc();
                tracing::error!(
                    cause = panic_text(&cause),
                    "the call engine panicked; rebuilding it from the stored state"
                );
                tokio::select! {
                    _ = tokio::time::sleep(RESTART_PAUSE) => {}
                    _ = stop.changed() => break,
                }
            }
        }
    }
    app.engine.set_running(false);
    drop(journal);
    if writer.await.is_err() {
        tracing::error!("the call record writer failed while stopping");
    }
    tracing::info!("call engine stopped");
}

/// How long a panicked engine waits before it is rebuilt (no hot crash loop).
const RESTART_PAUSE: Duration = Duration::from_secs(1);

/// What the engine listens to; kept by the supervisor across rebuilds.
struct Inputs {
    events: mpsc::UnboundedReceiver<CarrierEvent>,
    requests: mpsc::UnboundedReceiver<Request>,
    states: tokio::sync::broadcast::Receiver<DesktopEvent>,
}

/// One life of the engine: rebuilt from the store, then the loop until `stop`.
async fn run_engine(
    app: &App,
    journal: journal::Journal,
    inputs: &mut Inputs,
    stop: &mut watch::Receiver<bool>,
) {
    let mut engine = Engine::new(app.clone(), journal);
    let mut placed = engine.placed_rx.take().expect("a new engine");
    if let Err(e) = engine.reconcile().await {
        tracing::error!(error = %e, "reconciling calls left in flight failed");
    }
    engine.replay_webhooks().await;
    app.engine.set_running(true);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let deadline = engine
            .next_deadline()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let step = tokio::select! {
            due = tick.tick() => {
                app.metrics.loop_lag(due.elapsed().as_secs_f64());
                let started = Instant::now();
                log(engine.tick().await, "tick");
                ("tick", started)
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                app.metrics.loop_lag(deadline.elapsed().as_secs_f64());
                let started = Instant::now();
                log(engine.on_deadline().await, "deadline");
                ("deadline", started)
            }
            Some(ev) = inputs.events.recv() => {
                let started = Instant::now();
                log(engine.on_carrier(ev).await, "carrier event");
                ("carrier event", started)
            }
            Some(p) = placed.recv() => {
                let started = Instant::now();
                engine.on_placed(p).await;
                ("placed", started)
            }
            Some(cmd) = inputs.requests.recv() => {
                let started = Instant::now();
                engine.on_request(cmd).await;
                ("request", started)
            }
            // Voice states set on this node and, on PostgreSQL, those another node's desktops
            // set (relayed by the bus, which told the store users changed elsewhere): users are
            // read again at once. Relayed events are never sent on, so nothing loops.
            ev = inputs.states.recv() => {
                let started = Instant::now();
                if let Ok(DesktopEvent { body: DesktopMessage::State { .. }, .. }) = ev {
                    log(engine.refresh_agents_now().await, "voice state change");
                }
                ("voice state", started)
            }
            _ = stop.changed() => break,
        };
        step_done(app, step);
    }
}

/// Counts one loop step's duration; a step long enough to delay an abandon message is logged.
fn step_done(app: &App, (kind, started): (&'static str, Instant)) {
    let took = started.elapsed();
    app.metrics.engine_step.observe(took.as_secs_f64());
    if took > SLOW_STEP {
        tracing::warn!(
            step = kind,
            ms = took.as_millis() as u64,
            "slow engine step"
        );
    }
}

/// A loop step longer than this is logged (everything queued behind it waited as long).
const SLOW_STEP: Duration = Duration::from_millis(250);

/// The message a panic carried.
fn panic_text(cause: &Box<dyn std::any::Any + Send>) -> String {
    cause
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| cause.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Logs a failed step; the loop goes on.
fn log(r: Result<(), EngineError>, step: &str) {
    if let Err(e) = r {
        tracing::error!(error = %e, step, "engine step failed");
    }
}

impl Engine {
    fn new(app: App, journal: journal::Journal) -> Self {
        let (placed_tx, placed_rx) = mpsc::unbounded_channel();
        Self {
            app,
            runners: BTreeMap::new(),
            draining: Vec::new(),
            generations: 0,
            epoch: Instant::now(),
            disposing: None,
            agents: HashMap::new(),
            calls: HashMap::new(),
            manual: HashMap::new(),
            inbound: HashMap::new(),
            missed_offers: HashMap::new(),
            dropped: HashMap::new(),
            cps: HashMap::new(),
            users: HashMap::new(),
            users_seen: 0,
            users_read_at: None,
            users_mark: None,
            last_campaigns: None,
            placing: HashMap::new(),
            placed_tx,
            placed_rx: Some(placed_rx),
            media: Default::default(),
            journal,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.app.clock.now()
    }

    /// Tells an agent's desktops, once what the loop wrote before is stored.
    fn tell(&self, user: UserId, body: DesktopMessage) {
        let events = self.app.events.clone();
        self.journal.then(move || {
            let _ = events.send(DesktopEvent::new(user, body));
        });
    }

    /// Answers a request once what the loop wrote before is stored; the asker may have stopped
    /// waiting, which is no error.
    fn answer<T: Send + 'static>(&self, reply: oneshot::Sender<T>, value: T) {
        self.journal.then(move || {
            let _ = reply.send(value);
        });
    }

    fn activity(&self, agent: UserId) -> AgentActivity {
        self.agents
            .get(&agent)
            .copied()
            .unwrap_or(AgentActivity::Idle {
                since: DateTime::<Utc>::MIN_UTC,
            })
    }

    fn set_idle(&mut self, agent: UserId) {
        let since = self.now();
        self.agents.insert(agent, AgentActivity::Idle { since });
    }

    async fn tick(&mut self) -> Result<(), EngineError> {
        if self
            .last_campaigns
            .is_none_or(|t| t.elapsed() >= CAMPAIGNS_EVERY)
        {
            self.last_campaigns = Some(Instant::now());
            self.load_running().await?;
        }
        self.refresh_agents_now().await?;
        // Inbound calls first: an agent offered one is busy for the campaigns below.
        if let Err(e) = self.inbound_tick().await {
            tracing::error!(error = %e, "inbound step failed");
        }
        let ids: Vec<CampaignId> = self.runners.keys().copied().collect();
        for id in ids {
            if let Err(e) = self.run_campaign(id).await {
                tracing::error!(campaign = %id, error = %e, "campaign step failed");
            }
        }
        self.on_deadline().await
    }

    /// Graces, wrap-up limits and calls-per-second slots that came due: every driver is polled,
    /// and runners of stopped campaigns that finished their calls go.
    async fn on_deadline(&mut self) -> Result<(), EngineError> {
        let refs: Vec<RunnerRef> = self
            .runners
            .values()
            .chain(self.draining.iter())
            .map(|r| RunnerRef {
                campaign: r.campaign.id,
                generation: r.generation,
            })
            .collect();
        for at in refs {
            self.poll(at).await;
        }
        self.draining.retain(|r| r.driver.busy());
        self.manual_wrap_ups_expired().await
    }

    /// Starts runners for running campaigns this engine does not run yet, and drops those that
    /// are no longer running.
    async fn load_running(&mut self) -> Result<(), EngineError> {
        let running = self.app.store.running_campaigns().await?;
        let gone: Vec<CampaignId> = self
            .runners
            .keys()
            .filter(|id| !running.contains(id))
            .copied()
            .collect();
        for id in gone {
            self.drop_runner(id).await?;
        }
        for id in running {
            if !self.runners.contains_key(&id) {
                self.reload(id).await?;
            }
        }
        Ok(())
    }

    /// Reads a campaign again and starts, rebuilds or drops its runner.
    async fn reload(&mut self, id: CampaignId) -> Result<(), EngineError> {
        self.drop_runner(id).await?;
        let campaign = self.app.store.campaign_unscoped(id).await?;
        if campaign.status != palera_store::campaigns::CampaignStatus::Running {
            return Ok(());
        }
        let client = self.app.store.client(campaign.client_id).await?;
        if !client.voice_enabled {
            // A client with voice off dials nothing (its campaigns pause when it is switched off).
            return Ok(());
        }
        let Some(lead) = self.app.store.try_lead_campaign(id).await? else {
            tracing::debug!(campaign = %id, "another node leads this campaign");
            return Ok(());
        };
        self.app.store.clear_holders(id).await?;
        tracing::info!(campaign = %id, mode = ?campaign.settings.dial_mode, "campaign runner started");
        let cps = client.calls_per_second;
        let history = self
            .app
            .store
            .pacing_history(id, palera_core::campaign::pacing::WINDOW)
            .await?;
        let stats = runner::pacing_stats(&history);
        tracing::info!(campaign = %id, life_abandon_rate = stats.life_rate(), rolling_30d_abandon_rate = stats.rolling_30d_rate(self.now()), dials = stats.dial_samples(), "pacing record read from the stored calls");
        self.generations += 1;
        let runner = Runner::new(campaign, cps, lead, self.generations, stats);
        self.runners.insert(id, runner);
        self.refresh_agents_now().await?;
        self.run_campaign(id).await
    }

    /// Stops dialing a campaign: previews are withdrawn and nobody holds its contacts. Calls in
    /// flight finish normally.
    async fn drop_runner(&mut self, id: CampaignId) -> Result<(), EngineError> {
        let Some(mut runner) = self.runners.remove(&id) else {
            return Ok(());
        };
        let at = RunnerRef {
            campaign: id,
            generation: runner.generation,
        };
        let cmds = runner.stop(self.clock());
        self.draining.push(runner);
        self.execute(at, cmds).await;
        self.draining.retain(|r| r.driver.busy());
        self.app.store.clear_holders(id).await?;
        tracing::info!(campaign = %id, "campaign runner stopped");
        Ok(())
    }

    async fn on_request(&mut self, cmd: Request) {
        match cmd {
            Request::Reload(id) => {
                if let Err(e) = self.reload(id).await {
                    tracing::error!(campaign = %id, error = %e, "campaign reload failed");
                }
            }
            Request::Enrolled {
                campaign,
                generation,
                result,
            } => self.enrolled(campaign, generation, result).await,
            Request::DuePage(page) => self.due_page(page).await,
            Request::Dispose {
                call,
                by,
                staff,
                disposition,
                notes,
                callback_at,
                reply,
            } => {
                let v = self
                    .dispose(call, by, staff, disposition, &notes, callback_at)
                    .await;
                self.answer(reply, v)
            }
            Request::PreviewCall { agent, reply } => {
                let v = self.preview_call(agent).await;
                self.answer(reply, v)
            }
            Request::PreviewSkip { agent, reply } => {
                let v = self.preview_skip(agent).await;
                self.answer(reply, v)
            }
            Request::CurrentCall { agent, reply } => {
                let v = self.current_of(agent).await;
                self.answer(reply, v)
            }
            Request::Control {
                call,
                agent,
                action,
                reply,
            } => self.on_control(call, agent, action, reply).await,
            Request::ControlDone {
                call,
                agent,
                action,
                detail,
                failure,
                reply,
            } => {
                let v = self
                    .control_done(call, agent, action, &detail, failure)
                    .await;
                self.answer(reply, v)
            }
            Request::ManualDial { dial, reply } => self.manual_dial(dial, reply).await,
            Request::ManualPlaced(placed) => self.manual_placed(placed).await,
            Request::AgentBridged {
                call,
                agent,
                failure,
            } => log(
                self.agent_bridged(call, agent, failure).await,
                "agent bridged",
            ),
            Request::InboundArrived { arrival, reply } => {
                self.on_inbound_arrived(arrival, reply).await
            }
            Request::InboundAnswer {
                call,
                agent,
                accept,
                reply,
            } => {
                let v = self.inbound_answer(call, agent, accept).await;
                self.answer(reply, v)
            }
            Request::Crash { message } => panic!("{message}"),
            Request::Webhook {
                client,
                event_key,
                event,
            } => self.apply_webhook(client, &event_key, event).await,
            Request::Forwarded {
                client,
                event_key,
                event,
                last_resort,
            } => {
                self.apply_forwarded(client, &event_key, event, last_resort)
                    .await
            }
            Request::Snapshot { campaign, reply } => {
                let v = self.snapshot(campaign);
                self.answer(reply, v)
            }
        }
    }

    /// Agent call control: done at once, or sent to the call's lane, which answers `reply`.
    async fn on_control(
        &mut self,
        call: CallId,
        agent: UserId,
        action: CallAction,
        reply: oneshot::Sender<Result<(), EngineError>>,
    ) {
        match self.control(call, agent, action).await {
            Ok(Some(pending)) => self.control_on_lane(call, agent, action, pending, reply),
            done => self.answer(reply, done.map(drop)),
        }
    }

    /// An inbound call arrived: a failure is logged, and answered where someone waits.
    async fn on_inbound_arrived(
        &mut self,
        arrival: Arrival,
        reply: Option<oneshot::Sender<Result<CallId, EngineError>>>,
    ) {
        let r = self.inbound_arrived(arrival).await;
        if let Err(e) = &r {
            tracing::error!(error = %e, "inbound arrival failed");
        }
        if let Some(reply) = reply {
            self.answer(reply, r);
        }
    }

    /// The agent's answer to an inbound offer.
    async fn inbound_answer(
        &mut self,
        call: CallId,
        agent: UserId,
        accept: bool,
    ) -> Result<(), EngineError> {
        if accept {
            self.inbound_accept(call, agent).await
        } else {
            self.inbound_decline(call, agent).await
        }
    }

    /// The messages that bring an agent's desktop up to date with their call, manual or not.
    async fn current_of(&mut self, agent: UserId) -> Vec<DesktopMessage> {
        match self.manual_current(agent) {
            Some(m) => m,
            None => self.current_call(agent).await,
        }
    }

    async fn on_carrier(&mut self, ev: CarrierEvent) -> Result<(), EngineError> {
        if let Some(early) = self.placing.get_mut(&manual::event_call(&ev)) {
            early.push(ev); // its dial's answer is not in yet
            return Ok(());
        }
        if self.on_media_event(&ev).await? {
            return Ok(());
        }
        if self.is_manual(manual::event_call(&ev)) {
            return self.on_manual_event(ev).await;
        }
        if self.is_inbound_waiting(manual::event_call(&ev)) {
            return match ev {
                CarrierEvent::Ended { call_id, .. } => self.inbound_ended(CallId(call_id)).await,
                _ => Ok(()),
            };
        }
        match ev {
            CarrierEvent::Ringing { call_id, .. } => self.on_ringing(CallId(call_id)).await,
            CarrierEvent::Answered { call_id, by, .. } => {
                self.on_answered(CallId(call_id), by).await
            }
            CarrierEvent::MachineMessageEnd { call_id, .. } => self.on_beep(CallId(call_id)).await,
            CarrierEvent::AgentConnected { call_id, agent_id } => {
                self.on_agent_connected(CallId(call_id), UserId(agent_id))
                    .await
            }
            CarrierEvent::PlaybackFinished { call_id } => {
                self.event(CallId(call_id), "playback_finished", "");
                Ok(())
            }
            CarrierEvent::Ended {
                call_id,
                end,
                duration_seconds,
                ..
            } => self.on_ended(CallId(call_id), end, duration_seconds).await,
            // Handled by `on_media_event` above.
            CarrierEvent::RecordingReady { .. } | CarrierEvent::Transcript { .. } => Ok(()),
        }
    }
}
