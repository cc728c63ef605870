//! The running server: shared state ([`App`]), the router, health/readiness/metrics endpoints, and
//! [`serve`], which runs the HTTP server and the background loops on a given listener until the
//! shutdown future resolves (in-flight requests finish first).

use crate::config::Settings;
use crate::desk::ws::{DesktopEvent, Presence};
use crate::engine::carriers::CarrierHub;
use crate::engine::directory::{ContactDirectory, StoreDirectory};
use crate::engine::EngineHandle;
use crate::http::auth::LoginLimiter;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use palera_store::Store;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// The time source of the server; tests and the simulator substitute their own.
pub trait Clock: Send + Sync {
    fn now(&self) -> chrono::DateTime<chrono::Utc>;
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
    }
}

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct App(Arc<AppInner>);

pub struct AppInner {
    pub store: Store,
    pub settings: Settings,
    pub limiter: LoginLimiter,
    pub events: broadcast::Sender<DesktopEvent>,
    pub presence: Presence,
    pub metrics: crate::metrics::Metrics,
    pub clock: Arc<dyn Clock>,
    pub carriers: CarrierHub,
    /// The call engine's command channel.
    pub engine: EngineHandle,
    /// How events cross nodes: on PostgreSQL only (SQLite is single-node).
    pub bus: Option<crate::bus::Bus>,
    /// Contacts, lists and DNC as the engine sees them.
    pub contacts: Arc<dyn ContactDirectory>,
    /// The import jobs this process is running now (never started twice here).
    pub running_imports: std::sync::Mutex<std::collections::HashSet<i64>>,
    /// Recording storage, the transcriber and the fetch policy.
    pub recordings: crate::recordings::Recordings,
    /// Staff watching calls (they get the calls' live transcript lines).
    pub watchers: crate::recordings::live::Watchers,
    /// Turns true when the server starts shutting down: open streams (the wallboard's events)
    /// end then, so they do not hold the graceful shutdown open.
    pub shutting_down: watch::Sender<bool>,
}

impl std::ops::Deref for App {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl App {
    pub fn new(store: Store, settings: Settings) -> Self {
        Self::with_clock(store, settings, Arc::new(SystemClock))
    }

    pub fn with_clock(store: Store, settings: Settings, clock: Arc<dyn Clock>) -> Self {
        let carriers = CarrierHub::new(&settings);
        let contacts = Arc::new(StoreDirectory::new(store.clone(), clock.clone()));
        Self::with_parts(store, settings, clock, carriers, contacts)
    }

    /// An app with every moving part given (tests: a fixed clock, a scripted network).
    pub fn with_parts(
        store: Store,
        settings: Settings,
        clock: Arc<dyn Clock>,
        carriers: CarrierHub,
        contacts: Arc<dyn ContactDirectory>,
    ) -> Self {
        let store = store.with_node(&settings.node);
        let bus = (store.backend() == palera_store::Backend::Postgres)
            .then(|| crate::bus::Bus::new(&settings.node));
        // Room for a burst: the engine's messages arrive a stored batch at a time.
        let (events, _) = broadcast::channel(4096);
        let limiter = LoginLimiter::new(
            settings.login_attempts,
            Duration::from_secs(settings.login_window_seconds),
        );
        let recordings = crate::recordings::Recordings::for_settings(&settings, carriers.mode());
        App(Arc::new(AppInner {
            recordings,
            watchers: Default::default(),
            carriers,
            engine: EngineHandle::default(),
            bus,
            contacts,
            store,
            settings,
            limiter,
            events,
            presence: Presence::default(),
            metrics: crate::metrics::Metrics::default(),
            clock,
            running_imports: Default::default(),
            shutting_down: watch::channel(false).0,
        }))
    }

    /// The same app with other recording parts (tests: a storage folder, short retries). Only
    /// before the app is shared.
    pub fn with_recordings(mut self, r: crate::recordings::Recordings) -> Self {
        Arc::get_mut(&mut self.0)
            .expect("with_recordings is called before the app is shared")
            .recordings = r;
        self
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }
}

/// Opens the database named in `settings`, applies migrations, and serves until `shutdown`.
pub async fn run(
    settings: Settings,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    settings.require_for_serve()?;
    let key = palera_store::SecretBox::from_base64(settings.secret_key.as_deref().unwrap_or(""))?;
    let url = settings.database_url.clone().unwrap_or_default();
    let store = Store::connect(&url, key).await?;
    let applied = store.migrate().await?;
    tracing::info!(applied, backend = ?store.backend(), "database ready");
    serve(App::new(store, settings), listener, shutdown).await
}

/// Serves `app` on `listener` with its background loops until `shutdown` resolves.
pub async fn serve(
    app: App,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let callers = app.settings.sim_inbound_per_hour;
    // First: a node hears the other nodes before its engine runs and it serves.
    let mut loops = crate::bus::start(&app, stop_rx.clone()).await;
    loops.extend([
        tokio::spawn(crate::inbound::sim::arrivals(
            app.clone(),
            if app.carriers.sim().is_some() {
                callers
            } else {
                0.0
            },
            stop_rx.clone(),
        )),
        tokio::spawn(crate::desk::ws::presence_loop(app.clone(), stop_rx.clone())),
        tokio::spawn(crate::engine::engine_loop(app.clone(), stop_rx.clone())),
        tokio::spawn(crate::recordings::worker::worker_loop(
            app.clone(),
            stop_rx.clone(),
        )),
        tokio::spawn(crate::contacts::api::import_resume_loop(
            app.clone(),
            stop_rx.clone(),
        )),
        tokio::spawn(crate::twilio::webhooks::prune_loop(
            app.clone(),
            stop_rx.clone(),
        )),
    ]);
    crate::contacts::api::resume_imports(&app).await;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    let streams = app.shutting_down.clone();
    axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down: finishing in-flight requests");
        streams.send_replace(true);
    })
    .await?;
    let _ = stop_tx.send(true);
    for l in loops {
        let _ = l.await;
    }
    Ok(())
}

/// The whole HTTP surface.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(crate::metrics::serve))
        .merge(crate::http::api::routes())
        .merge(crate::http::pages::routes())
        .merge(crate::clients::routes())
        .merge(crate::users::routes())
        .merge(crate::contacts::routes())
        .merge(crate::campaigns::routes())
        .merge(crate::desk::routes())
        .merge(crate::twilio::routes())
        .merge(crate::scripts::routes())
        .merge(crate::inbound::routes())
        .merge(crate::reports::routes())
        .merge(crate::recordings::routes())
        .merge(crate::actions::routes())
        // Inside the origin check: only requests that passed it can be changes to record.
        .layer(middleware::from_fn_with_state(
            app.clone(),
            crate::actions::record,
        ))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            crate::http::headers::same_origin_only,
        ))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            crate::http::headers::security_headers,
        ))
        .layer(middleware::from_fn_with_state(app.clone(), count_requests))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(app)
}

async fn count_requests(State(app): State<App>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    app.metrics.http_response(resp.status());
    resp
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(app): State<App>) -> Response {
    if !app.engine.is_running() {
        return (StatusCode::SERVICE_UNAVAILABLE, "call engine not running").into_response();
    }
    match app.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
