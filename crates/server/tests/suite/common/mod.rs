//! Test harness: a real server on port 0 over a fresh SQLite or PostgreSQL database, and small
//! HTTP helpers. Each test gets its own database and its own server.

#![allow(dead_code)]

pub mod browser;
pub mod demo;
pub mod fake_twilio;
pub mod sim_rig;

use palera_carrier::CarrierEvent;
use palera_core::user::{Email, Role};
use palera_server::config::{CarrierMode, Settings};
use palera_server::App;
use palera_store::testing::{fresh, TestDb};
use palera_store::users::NewUser;
use palera_store::Backend;
use serde_json::Value;
use std::sync::Mutex;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::oneshot;

pub const PASSWORD: &str = "test-password-1";

pub struct TestApp {
    pub base: String,
    pub app: App,
    pub db: TestDb,
    /// The carrier events, for servers started with [`spawn_observing`].
    pub carrier_events: Mutex<Option<Observed>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

pub fn test_settings(db_url: &str) -> Settings {
    Settings {
        database_url: Some(db_url.to_string()),
        public_url: Some("https://voice.example.com".into()),
        carrier: CarrierMode::Simulated,
        heartbeat_timeout_seconds: 2,
        // Each server keeps its recordings in a folder of its own under the temp directory.
        recordings_dir: Some(
            std::env::temp_dir()
                .join(format!("palera-recordings-{}", rand::random::<u64>()))
                .display()
                .to_string(),
        ),
        ..Settings::default()
    }
}

/// What an observing server's engine would have received: the network's events and the events
/// webhooks hand to the engine (other requests are dropped: no engine runs).
pub struct Observed {
    network: UnboundedReceiver<CarrierEvent>,
    requests: UnboundedReceiver<palera_server::engine::Request>,
}

/// The carrier event a webhook handed to the engine (not new inbound callers, which the engine
/// records and routes itself).
fn carrier_event(r: palera_server::engine::Request) -> Option<CarrierEvent> {
    match r {
        palera_server::engine::Request::Webhook {
            event: palera_server::engine::WebhookEffect::Carrier(event),
            ..
        } => Some(event),
        _ => None,
    }
}

impl Observed {
    /// The next event already sent, if any.
    pub fn try_recv(&mut self) -> Option<CarrierEvent> {
        while let Ok(r) = self.requests.try_recv() {
            if let Some(event) = carrier_event(r) {
                return Some(event);
            }
        }
        self.network.try_recv().ok()
    }

    /// The next event, waiting for it.
    pub async fn recv(&mut self) -> Option<CarrierEvent> {
        loop {
            tokio::select! {
                Some(r) = self.requests.recv() => {
                    if let Some(event) = carrier_event(r) {
                        return Some(event);
                    }
                }
                Some(e) = self.network.recv() => return Some(e),
                else => return None,
            }
        }
    }
}

/// Waits until the server's call engine has reconciled what a previous process left and runs,
/// so that what a test stores next is not taken for such leftovers (an open inbound call stored
/// by the test was once closed by the starting engine's reconcile).
pub async fn engine_started(app: &palera_server::App) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !app.engine.is_running() {
        assert!(
            std::time::Instant::now() < deadline,
            "the call engine did not start within 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Starts a server on `backend`, or `None` when PostgreSQL is skipped.
pub async fn spawn(backend: Backend) -> Option<TestApp> {
    spawn_with(backend, |_| {}).await
}

pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    serve_test(backend, tweak, false).await
}

/// Starts a server whose carrier events go to the test (`TestApp::carrier_events`) instead of
/// the call engine, which then does not run: for tests that check what webhooks forward.
pub async fn spawn_observing(
    backend: Backend,
    tweak: impl FnOnce(&mut Settings),
) -> Option<TestApp> {
    serve_test(backend, tweak, true).await
}

async fn serve_test(
    backend: Backend,
    tweak: impl FnOnce(&mut Settings),
    observe: bool,
) -> Option<TestApp> {
    let db = fresh(backend).await?;
    let mut settings = test_settings(&db.url);
    tweak(&mut settings);
    let app = App::new(db.store.clone(), settings);
    // Taken before the engine starts, so they are the test's alone: the network's events, and
    // the engine's requests (webhooks hand their events to the engine that way).
    let carrier_events = Mutex::new(if observe {
        Some(Observed {
            network: app.carriers.take_events().expect("the hub's events"),
            requests: app.engine.take().expect("the engine's requests"),
        })
    } else {
        None
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    let served = app.clone();
    let task = tokio::spawn(async move {
        palera_server::serve(served, listener, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    if !observe {
        engine_started(&app).await;
    }
    Some(TestApp {
        base,
        app,
        db,
        carrier_events,
        stop: Some(tx),
        task: Some(task),
    })
}

impl TestApp {
    /// Stops this server (as a stopped process would: background jobs are dropped where they
    /// are) and starts a new one over the same database, as after a restart.
    pub async fn restart(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
        // The engine runs in a task of its own: it stops when the server's stop signal goes
        // with the aborted task. Two engines never overlap, as two processes of one node never do.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.app.engine.is_running() && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let app = App::new(self.db.store.clone(), test_settings(&self.db.url));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        self.base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let served = app.clone();
        self.task = Some(tokio::spawn(async move {
            palera_server::serve(served, listener, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        }));
        self.stop = Some(tx);
        engine_started(&app).await;
        self.app = app;
    }

    /// Stops the server and waits until in-flight requests finished.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
    }

    /// Creates a user directly in the store.
    pub async fn user(
        &self,
        email: &str,
        role: Role,
        clients: Vec<palera_core::ids::ClientId>,
    ) -> palera_store::users::User {
        self.db
            .store
            .create_user(
                &NewUser {
                    email: Email::parse("email", email).unwrap(),
                    name: email.split('@').next().unwrap().to_string(),
                    role,
                    password_hash: palera_server::http::auth::hash_password(PASSWORD),
                    voice_enabled: true,
                    clients,
                },
                1,
            )
            .await
            .unwrap()
    }

    /// A cookie-keeping HTTP client logged in as `email`.
    pub async fn login(&self, email: &str) -> reqwest::Client {
        let c = client();
        let r = c
            .post(format!("{}/api/v1/session", self.base))
            .json(&serde_json::json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "login as {email}");
        c
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Sends and returns (status, JSON body or Null).
/// The text of the page at `url`, fetched with `who`'s session.
pub async fn page(who: &reqwest::Client, url: &str) -> String {
    who.get(url).send().await.unwrap().text().await.unwrap()
}

/// The CSRF token of a page (its first hidden `csrf` input).
pub fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf input") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

pub async fn json(req: reqwest::RequestBuilder) -> (u16, Value) {
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Declares one `#[tokio::test]` per backend for a body taking a `TestApp`; with `observing`
/// first, the server is started with [`spawn_observing`].
#[macro_export]
/// Two tests of `async fn $name(backend: Backend)`, `$name::sqlite` and `$name::postgres`.
macro_rules! twins {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(palera_store::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(palera_store::Backend::Postgres).await;
            }
        }
    };
}

/// [`twins!`] for the heavy end-to-end runs (a real process killed and restarted, a minute of
/// soak): ignored by a plain `cargo test`, run by `scripts/test` on their own after the suite, so
/// their load never slows the timing-sensitive browser tests.
macro_rules! heavy_twins {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "heavy: scripts/test runs it after the suite"]
            async fn sqlite() {
                super::$name(palera_store::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "heavy: scripts/test runs it after the suite"]
            async fn postgres() {
                super::$name(palera_store::Backend::Postgres).await;
            }
        }
    };
}

macro_rules! on_both {
    (observing $name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = common::spawn_observing(palera_store::Backend::Sqlite, |_| {})
                    .await
                    .unwrap();
                ($body)(app).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) =
                    common::spawn_observing(palera_store::Backend::Postgres, |_| {}).await
                {
                    ($body)(app).await;
                }
            }
        }
    };
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = common::spawn(palera_store::Backend::Sqlite).await.unwrap();
                ($body)(app).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = common::spawn(palera_store::Backend::Postgres).await {
                    ($body)(app).await;
                }
            }
        }
    };
}

/// How long a test waits for something the server does in the background, unless it says.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// What a check of [`eventually`] gives: `true`/`Some(value)` when the awaited thing holds.
pub trait Settled {
    type Value;
    fn settled(self) -> Option<Self::Value>;
}

impl Settled for bool {
    type Value = ();
    fn settled(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Settled for Option<T> {
    type Value = T;
    fn settled(self) -> Option<T> {
        self
    }
}

/// Runs `check` every 50 ms until it holds, and returns its value; fails the test naming `what`
/// when it still does not hold after `limit`. The one way the suite waits for the server.
pub async fn eventually<S, F, Fut>(what: &str, limit: std::time::Duration, mut check: F) -> S::Value
where
    S: Settled,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = S>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await.settled() {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Tells that a test skipped its work, past the harness's output capture (the print macros are
/// captured; a direct write to standard error is not), so a skip shows in every run.
pub fn say_skipped(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}
