//! The demo end to end in real Chromium: a demo agent logs in, goes Ready, the demo campaign
//! dials a virtual contact on the simulated network, the call reaches the agent's call panel,
//! and the disposition picked there is stored. Skips without chromedriver unless
//! `PALERA_REQUIRE_BROWSER=1`.

use crate::common;
use crate::common::browser as kit;

use fantoccini::Locator;
use kit::{browser, chromedriver, login};
use palera_carrier::sim::behaviour::{Behaviour, Seconds};
use palera_server::app::SystemClock;
use palera_server::engine::carriers::CarrierHub;
use palera_server::engine::directory::StoreDirectory;
use palera_server::App;
use palera_store::testing::fresh;
use palera_store::Backend;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Waits until the call panel shows `status`.
async fn panel_status(c: &fantoccini::Client, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = None;
    while Instant::now() < deadline {
        if let Ok(e) = c.find(Locator::Id("call-panel")).await {
            last = e.attr("data-status").await.unwrap_or_default();
            if last.as_deref() == Some(want) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the call panel never showed {want}; last {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_agent_who_goes_ready_gets_a_call_and_gives_it_a_disposition() {
    let Some(driver) = chromedriver() else { return };
    let db = fresh(Backend::Sqlite).await.unwrap();
    palera_server::cli::demo::seed(&db.store, chrono::Utc::now().timestamp_millis())
        .await
        .unwrap();
    // The demo network, every contact answering, ten times faster than real time.
    let behaviour = Behaviour {
        human_pct: 100.0,
        machine_pct: 0.0,
        busy_pct: 0.0,
        failed_pct: 0.0,
        ring_seconds: Seconds {
            mean: 2.0,
            sd: 0.0,
            min: 1.0,
        },
        talk_seconds: Seconds {
            mean: 20.0,
            sd: 0.0,
            min: 1.0,
        },
        human_hangup_if_waiting_seconds: 6.0,
    };
    let settings = common::test_settings(&db.url);
    let clock = Arc::new(SystemClock);
    let hub = CarrierHub::simulated(&settings, behaviour, 1, 10.0);
    let dir = Arc::new(StoreDirectory::new(db.store.clone(), clock.clone()));
    let app = App::with_parts(db.store.clone(), settings, clock, hub, dir);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(palera_server::serve(app, listener, async {
        let _ = stopped.await;
    }));

    let c = browser(&driver).await;
    login(&c, &base, "agent1@demo.test").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let linked = match c.find(Locator::Id("link-status")).await {
            Ok(e) => e.text().await.unwrap_or_default() == "Connected",
            Err(_) => false,
        };
        if linked {
            break;
        }
        assert!(Instant::now() < deadline, "the desktop never connected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.find(Locator::Css("[data-set-state=ready]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    panel_status(&c, "on_call").await;
    let name = c
        .find(Locator::Id("call-name"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(name.contains("Demo-"), "the contact is shown: {name:?}");
    panel_status(&c, "wrap_up").await;
    // Nothing is preselected: the agent picks "Interested".
    c.execute(
        "const s = document.getElementById('disposition'); s.selectedIndex = Array.from(s.options).findIndex(o => o.textContent === 'Interested'); s.dispatchEvent(new Event('change'));",
        vec![],
    )
    .await
    .unwrap();
    c.find(Locator::Css("#disposition-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The disposition is stored and the agent is free for the next call.
    let deadline = Instant::now() + Duration::from_secs(10);
    let disposed = loop {
        let campaigns = db
            .store
            .campaigns(palera_core::ids::ClientId(1))
            .await
            .unwrap();
        let calls = db.store.campaign_calls(campaigns[0].id).await.unwrap();
        if let Some(call) = calls.iter().find(|c| c.disposition.is_some()) {
            break call.clone();
        }
        assert!(Instant::now() < deadline, "no disposition stored");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(disposed.disposition.as_deref(), Some("Interested"));
    assert_eq!(disposed.outcome, "completed");
    c.close().await.unwrap();
    let _ = stop.send(());
    let _ = server.await;
}
