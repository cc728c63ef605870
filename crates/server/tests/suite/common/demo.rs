//! The demo for browser tests: the demo seed on a fresh SQLite database, served with the
//! simulated network sped to real time and every contact answering within a second and staying
//! on the line until the agent hangs up.

use palera_carrier::sim::behaviour::{Behaviour, Seconds};
use palera_core::ids::ClientId;
use palera_server::app::SystemClock;
use palera_server::engine::carriers::CarrierHub;
use palera_server::engine::directory::StoreDirectory;
use palera_server::App;
use palera_store::calls::Call;
use palera_store::testing::{fresh, TestDb};
use palera_store::Backend;
use std::sync::Arc;

pub struct Demo {
    pub db: TestDb,
    /// The running server's state (to send the engine what the network would).
    pub app: App,
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Demo {
    pub async fn start() -> Demo {
        let db = fresh(Backend::Sqlite).await.unwrap();
        palera_server::cli::demo::seed(&db.store, chrono::Utc::now().timestamp_millis())
            .await
            .unwrap();
        // Everyone answers within a second and stays on the line until the agent hangs up.
        let s = |mean| Seconds {
            mean,
            sd: 0.0,
            min: 0.5,
        };
        let behaviour = Behaviour {
            human_pct: 100.0,
            machine_pct: 0.0,
            busy_pct: 0.0,
            failed_pct: 0.0,
            ring_seconds: s(1.0),
            talk_seconds: s(3600.0),
            human_hangup_if_waiting_seconds: 60.0,
        };
        let settings = super::test_settings(&db.url);
        let clock = Arc::new(SystemClock);
        let hub = CarrierHub::simulated(&settings, behaviour, 1, 1.0);
        let dir = Arc::new(StoreDirectory::new(db.store.clone(), clock.clone()));
        let app = App::with_parts(db.store.clone(), settings, clock, hub, dir);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(palera_server::serve(app.clone(), listener, async {
            let _ = stopped.await;
        }));
        crate::common::engine_started(&app).await;
        Demo {
            db,
            app,
            base,
            stop: Some(stop),
            server: Some(server),
        }
    }

    pub async fn calls(&self) -> Vec<Call> {
        let campaigns = self.db.store.campaigns(ClientId(1)).await.unwrap();
        self.db.store.campaign_calls(campaigns[0].id).await.unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.server.take() {
            let _ = t.await;
        }
    }
}
