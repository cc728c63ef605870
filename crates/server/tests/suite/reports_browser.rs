//! Reports in real Chromium (issue 15): a supervisor watches the wallboard while an agent of the
//! demo campaign gets ready, takes a call, hangs up and steps away, and sees each change without
//! reloading; then filters the call log by that agent and downloads the CSV of that filter.

use crate::common;
use crate::common::browser as kit;
use crate::common::demo::Demo;

use kit::{browser, choose, chromedriver, click, js, login, until};
use palera_core::ids::ClientId;
use serde_json::json;

/// The wallboard row of agent `id`.
fn cell(id: i64, class: &str) -> String {
    format!("(document.querySelector('#wallboard-agents tr[data-agent-id=\"{id}\"] .{class}') || {{}}).textContent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_sees_an_agents_state_and_call_change_live_on_the_wallboard_and_exports_their_call_log(
) {
    let Some(driver) = chromedriver() else { return };
    let d = Demo::start().await;
    let users = d.db.store.users(Some(ClientId(1))).await.unwrap();
    let agent = users
        .iter()
        .find(|u| u.email == "agent1@demo.test")
        .unwrap()
        .clone();
    let id = agent.id.0;
    let c = browser(&driver).await;
    login(&c, &d.base, "supervisor@demo.test").await;
    c.goto(&format!("{}/reports/1/wallboard", d.base))
        .await
        .unwrap();
    until(
        &c,
        "document.getElementById('wallboard-live').textContent === 'live'",
        "the wallboard follows live events",
    )
    .await;
    let before = js(&c, &cell(id, "state")).await;
    assert_ne!(before, json!("ready"), "{before}");

    // The agent gets ready (from another device): a demo call comes and is connected.
    let phone = common::client();
    let r = phone
        .post(format!("{}/api/v1/session", d.base))
        .json(&json!({"email": "agent1@demo.test", "password": palera_server::cli::demo::DEMO_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = phone
        .put(format!("{}/api/v1/me/voice-state", d.base))
        .json(&json!({"state": "ready"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    until(
        &c,
        &format!("{} === 'ready'", cell(id, "state")),
        "the agent's state turns ready on the wallboard",
    )
    .await;
    until(
        &c,
        &format!("({}).includes('(in_progress)')", cell(id, "call")),
        "the agent's call shows on the wallboard",
    )
    .await;
    let call = d
        .calls()
        .await
        .into_iter()
        .find(|x| x.agent_id == Some(agent.id) && x.ended_at.is_none())
        .expect("the agent's open call");
    assert!(
        js(&c, &cell(id, "call"))
            .await
            .as_str()
            .unwrap()
            .contains(&call.phone),
        "the wallboard names the call's number"
    );
    // The agent steps away and hangs up: both show without a reload.
    let r = phone
        .put(format!("{}/api/v1/me/voice-state", d.base))
        .json(&json!({"state": "standby"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = phone
        .post(format!("{}/api/v1/calls/{}/hangup", d.base, call.id))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    until(
        &c,
        &format!(
            "{} === 'standby' && {} === '\u{2014}'",
            cell(id, "state"),
            cell(id, "call")
        ),
        "the agent's new state and the ended call show on the wallboard",
    )
    .await;

    // The call log, filtered by the agent, and the CSV of that filter.
    c.goto(&format!("{}/reports/1/calls", d.base))
        .await
        .unwrap();
    choose(&c, "#filter-agent", &id.to_string()).await;
    click(&c, "#apply-filter").await;
    until(
        &c,
        &format!("location.search.includes('agent_id={id}')"),
        "the filter applies",
    )
    .await;
    let agents = js(
        &c,
        "Array.from(document.querySelectorAll('#call-log tbody td.agent')).map(t => t.textContent)",
    )
    .await;
    let agents = agents.as_array().unwrap().clone();
    assert!(!agents.is_empty());
    assert!(agents.iter().all(|a| a == "Alex Agent"), "{agents:?}");
    js(
        &c,
        "fetch(document.getElementById('csv-export').href).then(r => r.text()).then(t => window.csvText = t)",
    )
    .await;
    until(
        &c,
        "typeof window.csvText === 'string'",
        "the CSV downloads",
    )
    .await;
    let csv = js(&c, "window.csvText").await;
    let lines: Vec<&str> = csv.as_str().unwrap().lines().collect();
    assert_eq!(lines.len(), agents.len() + 1, "{lines:?}");
    assert!(
        lines[1..].iter().all(|l| l.contains("Alex Agent")),
        "{lines:?}"
    );
    c.close().await.unwrap();
    d.stop().await;
}
