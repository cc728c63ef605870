//! The demo end to end in real Chromium: a demo agent logs in, goes Ready, the demo campaign
//! dials a virtual contact on the simulated network, the call reaches the agent's call panel,
//! and the disposition picked there is stored. Needs chromedriver
//! (`PALERA_SKIP_BROWSER=1` skips, saying so).

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

/// The dispositions editor (issue 20): each disposition is a row with its label, what it does
/// picked from a menu in words, and the list to move to picked by name; a mistake is named by
/// its row, marked, and keeps what was typed; a cleared label removes the row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispositions_are_edited_row_by_row_with_menus_and_a_mistake_names_its_row() {
    use crate::common::demo::Demo;
    use kit::{choose, click, fill, js, until};
    use palera_core::ids::{CampaignId, ClientId};
    let Some(driver) = chromedriver() else { return };
    let d = Demo::start().await;
    let store = d.db.store.clone();
    let before = store
        .dispositions(ClientId(1), CampaignId(1))
        .await
        .unwrap();
    let c = browser(&driver).await;
    login(&c, &d.base, "admin@demo.test").await;
    c.goto(&format!("{}/admin/clients/1/campaigns/1", d.base))
        .await
        .unwrap();
    let row = before.len() + 1; // the first blank row
    let at = |field: &str| format!("#dispositions-editor tbody tr:nth-child({row}) [name={field}]");
    let labels = js(&c, "Array.from(document.querySelectorAll('#dispositions-editor [name=d_label]')).map(i => i.value)").await;
    let want: Vec<String> = before
        .iter()
        .map(|x| x.label.clone())
        .chain(["", "", ""].map(String::from))
        .collect();
    assert_eq!(
        labels,
        serde_json::json!(want),
        "one row per disposition and three blank rows"
    );

    // "Move to a list" without a list: refused, naming the row, keeping the label.
    fill(&c, &at("d_label"), "Wrong number").await;
    choose(&c, &at("d_effect"), "move_to_list").await;
    click(&c, "#dispositions-editor button[type=submit]").await;
    until(
        &c,
        "document.getElementById('dispositions-error') !== null",
        "the editor's error",
    )
    .await;
    let error = js(
        &c,
        "document.getElementById('dispositions-error').textContent",
    )
    .await;
    assert_eq!(
        error,
        serde_json::json!(format!("Row {row}: choose the list to move the contact to"))
    );
    assert_eq!(
        js(
            &c,
            &format!("document.querySelector('{}').value", at("d_label"))
        )
        .await,
        "Wrong number"
    );
    assert_eq!(
        js(&c, &format!("document.querySelector('#dispositions-editor tbody tr:nth-child({row})').className")).await,
        "bad"
    );
    assert_eq!(
        store
            .dispositions(ClientId(1), CampaignId(1))
            .await
            .unwrap(),
        before,
        "nothing saved"
    );

    // The list picked by name: saved, back on the page with a notice.
    let list = store.lists(palera_core::ids::ClientId(1)).await.unwrap()[0].clone();
    choose(&c, &at("d_list"), &list.id.0.to_string()).await;
    click(&c, "#dispositions-editor button[type=submit]").await;
    until(&c, "document.getElementById('dispositions-error') === null && location.search.includes('saved')", "the save").await;
    let after = store
        .dispositions(ClientId(1), CampaignId(1))
        .await
        .unwrap();
    let added = after
        .iter()
        .find(|x| x.label == "Wrong number")
        .expect("the new disposition");
    assert_eq!(added.target_list, Some(list.id));
    assert_eq!(after.len(), before.len() + 1);

    // A label used twice is refused by row; a cleared label removes its row.
    let first = "#dispositions-editor tbody tr:nth-child(1) [name=d_label]";
    fill(&c, first, "Wrong number").await;
    click(&c, "#dispositions-editor button[type=submit]").await;
    until(
        &c,
        "document.getElementById('dispositions-error') !== null",
        "the duplicate's error",
    )
    .await;
    let error = js(
        &c,
        "document.getElementById('dispositions-error').textContent",
    )
    .await;
    assert!(
        error
            .as_str()
            .unwrap()
            .ends_with(": another row already has this label"),
        "{error}"
    );
    fill(&c, first, "").await;
    click(&c, "#dispositions-editor button[type=submit]").await;
    until(&c, "document.getElementById('dispositions-error') === null && location.search.includes('saved')", "the removal").await;
    let last = store
        .dispositions(ClientId(1), CampaignId(1))
        .await
        .unwrap();
    assert_eq!(last.len(), before.len(), "one removed, one added");
    assert!(last.iter().all(|x| x.label != before[0].label));
    c.close().await.unwrap();
    d.stop().await;
}

/// The live page says why nothing is dialled (issue 20): with no agent Ready it says so; paused
/// from its own buttons it says the campaign is paused, and resumed it goes back to the agents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_page_says_why_a_paused_campaign_places_no_calls() {
    use crate::common::demo::Demo;
    use kit::{click, js, until};
    let Some(driver) = chromedriver() else { return };
    let d = Demo::start().await;
    let c = browser(&driver).await;
    login(&c, &d.base, "supervisor@demo.test").await;
    c.goto(&format!("{}/admin/clients/1/campaigns/1/live", d.base))
        .await
        .unwrap();
    until(
        &c,
        "document.getElementById('idle-reason') !== null",
        "the idle reason",
    )
    .await;
    assert_eq!(
        js(&c, "document.getElementById('idle-reason').dataset.code").await,
        "no_agent_ready"
    );
    let text = js(&c, "document.getElementById('idle-reason').textContent").await;
    assert!(text.as_str().unwrap().contains("agents is Ready"), "{text}");
    click(&c, "button[data-action=pause]").await;
    until(
        &c,
        "document.getElementById('idle-reason')?.dataset.code === 'paused'",
        "the paused reason",
    )
    .await;
    let text = js(&c, "document.getElementById('idle-reason').textContent").await;
    assert_eq!(
        text,
        "Not dialling: The campaign is paused: no calls are placed until it is resumed."
    );
    assert!(
        c.current_url().await.unwrap().path().ends_with("/live"),
        "back on the live page"
    );
    click(&c, "button[data-action=resume]").await;
    until(
        &c,
        "document.getElementById('idle-reason')?.dataset.code === 'no_agent_ready'",
        "the reason after resuming",
    )
    .await;
    c.close().await.unwrap();
    d.stop().await;
}
