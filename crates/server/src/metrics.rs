//! The server's Prometheus metrics, kept in a `prometheus-client` registry per [`crate::App`]
//! (no process-wide state, so several servers in one test process count apart) and served as
//! OpenMetrics text at `/metrics`.

use crate::app::App;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClassLabel {
    /// `1xx` … `5xx`.
    pub class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `ok`, `failed` or `throttled`.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    /// A voice state: `ready`, `standby`, `offline`.
    pub state: String,
}

/// The counters and gauges the server keeps.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<ClassLabel, Counter>,
    logins: Family<ResultLabel, Counter>,
    pub desktop_connections: Gauge,
    pub agents_timed_out: Counter,
    /// Times the call engine was rebuilt after a panic.
    pub engine_restarts: Counter,
    /// How late the engine loop handles its timers (tick and the next deadline), in seconds.
    pub engine_loop_lag: Histogram,
    /// How long the engine loop takes over one input (a timer, carrier event or request), in
    /// seconds: the time everything queued behind it waits.
    pub engine_step: Histogram,
    /// The largest loop lag seen, µs (benchmarks read it; the histogram only has buckets).
    engine_loop_lag_max_us: std::sync::Arc<std::sync::atomic::AtomicU64>,
    agents: Family<StateLabel, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("palera");
        let http_requests = Family::<ClassLabel, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP responses by status class",
            http_requests.clone(),
        );
        let logins = Family::<ResultLabel, Counter>::default();
        registry.register("logins", "Login attempts by result", logins.clone());
        let desktop_connections = Gauge::default();
        registry.register(
            "desktop_connections",
            "Open agent desktop WebSockets",
            desktop_connections.clone(),
        );
        let agents_timed_out = Counter::default();
        registry.register(
            "agents_timed_out",
            "Agents set offline after missing heartbeats",
            agents_timed_out.clone(),
        );
        let engine_restarts = Counter::default();
        registry.register(
            "engine_restarts",
            "Times the call engine was rebuilt after a panic",
            engine_restarts.clone(),
        );
        // 0.5 ms … ~4 s.
        let engine_loop_lag = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register(
            "engine_loop_lag_seconds",
            "How late the call engine's loop handles a timer that fell due",
            engine_loop_lag.clone(),
        );
        let engine_step = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register(
            "engine_step_seconds",
            "How long the call engine's loop takes over one timer, carrier event or request",
            engine_step.clone(),
        );
        let agents = Family::<StateLabel, Gauge>::default();
        registry.register("agents", "Agents by voice state", agents.clone());
        Self {
            registry,
            http_requests,
            logins,
            desktop_connections,
            agents_timed_out,
            engine_restarts,
            engine_loop_lag,
            engine_step,
            engine_loop_lag_max_us: Default::default(),
            agents,
        }
    }
}

impl Metrics {
    /// One loop lag, seconds: into the histogram and the maximum.
    pub fn loop_lag(&self, seconds: f64) {
        self.engine_loop_lag.observe(seconds);
        let us = (seconds * 1e6) as u64;
        self.engine_loop_lag_max_us
            .fetch_max(us, std::sync::atomic::Ordering::Relaxed);
    }

    /// The largest loop lag seen since start, seconds.
    pub fn engine_loop_lag_max(&self) -> f64 {
        self.engine_loop_lag_max_us
            .load(std::sync::atomic::Ordering::Relaxed) as f64
            / 1e6
    }

    /// Counts one HTTP response by its status class.
    pub fn http_response(&self, status: StatusCode) {
        let class = format!("{}xx", status.as_u16() / 100);
        self.http_requests
            .get_or_create(&ClassLabel { class })
            .inc();
    }

    /// Counts one login attempt: `ok`, `failed` or `throttled`.
    pub fn login(&self, result: &str) {
        self.logins
            .get_or_create(&ResultLabel {
                result: result.to_string(),
            })
            .inc();
    }
}

/// `GET /metrics`: the registry as OpenMetrics text, with the agents-by-state gauge read fresh.
pub async fn serve(State(app): State<App>) -> Response {
    let m = &app.metrics;
    if let Ok(users) = app.store.users(None).await {
        for state in ["ready", "standby", "offline"] {
            let n = users
                .iter()
                .filter(|u| {
                    u.role == palera_core::user::Role::Agent && u.voice_state.as_str() == state
                })
                .count();
            m.agents
                .get_or_create(&StateLabel {
                    state: state.to_string(),
                })
                .set(n as i64);
        }
    }
    let mut out = String::new();
    if let Err(e) = encode(&mut out, &m.registry) {
        return crate::http::error::ApiError::internal(&e).into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        out,
    )
        .into_response()
}
