//! Issue 16: a restart does not cut calls that go on at Twilio. The server is stopped while a
//! campaign call is connected to its agent (the call goes on at the fake Twilio; webhooks sent
//! meanwhile are lost) and started again on the same database: the engine asks Twilio where the
//! call stands, keeps a call in progress with its agent, and gives a call that ended while it was
//! down the outcome Twilio reports. On SQLite and PostgreSQL.

use crate::common::fake_twilio::Outcome;
use crate::common::{self, eventually};
use crate::twilio_campaign_e2e::{rig, until, Rig, CONTACT};
use palera_core::ids::CallId;
use palera_store::Backend;
use serde_json::json;
use std::time::Duration;

/// Starts the campaign and waits until its call is connected to the agent (stored too).
/// Returns the call and its contact leg's SID.
async fn connected_call(r: &Rig) -> (CallId, String) {
    let (_http, mut ws) = r.ready_desktop().await;
    r.start().await;
    let (offered, _) = until(&mut ws, "call_offered").await;
    let call = CallId(offered["call_id"].as_i64().unwrap());
    until(&mut ws, "call_connected").await;
    eventually(
        "the call is connected in the store",
        Duration::from_secs(10),
        || async {
            r.db.store
                .call_unscoped(call)
                .await
                .unwrap()
                .connected_at
                .is_some()
        },
    )
    .await;
    (call, r.fake.call_to(CONTACT).unwrap())
}

/// The server never asked Twilio to end the contact's leg `sid`.
fn assert_never_hung_up(r: &Rig, sid: &str) {
    let hung_up: Vec<_> = r
        .fake
        .requests_to("POST", &format!("/Calls/{sid}.json"))
        .into_iter()
        .filter(|q| q.get("Status") == Some("completed"))
        .collect();
    assert!(hung_up.is_empty(), "{hung_up:#?}");
}

/// The rig's contact as its campaign keeps it (attempts, claim).
async fn claim_of(r: &Rig) -> palera_store::calls::CampaignContact {
    r.db.store
        .campaign_contact(r.campaign, r.contact)
        .await
        .unwrap()
}

async fn a_twilio_call_in_progress_at_restart_stays_with_its_agent(backend: Backend) {
    let Some(mut r) = rig(backend, Outcome::Human, false).await else {
        return;
    };
    let (call, sid) = connected_call(&r).await;
    r.restart().await;

    // Twilio was asked, and the call stays: open, with its agent, its contact still claimed,
    // nothing hung up.
    r.fake
        .wait_for_requests("GET", &format!("/Calls/{sid}.json"), 1)
        .await;
    eventually(
        "the call is found again",
        Duration::from_secs(10),
        || async { r.events(call).await.iter().any(|k| k == "reattached") },
    )
    .await;
    let row = r.db.store.call_unscoped(call).await.unwrap();
    assert!(row.ended_at.is_none(), "{row:#?}");
    assert_eq!(row.agent_id.map(|a| a.0), Some(r.agent));
    assert_never_hung_up(&r, &sid);
    let cc = claim_of(&r).await;
    assert_eq!(cc.in_flight, Some(call), "the claim is kept: {cc:#?}");

    // The agent's desktop connects to the new server and has the call; hold works on it.
    let (http, cookie) = r.login("ann@x.io").await;
    let mut ws = r.desktop(&cookie).await;
    let (shown, _) = until(&mut ws, "manual_call").await;
    assert_eq!(shown["call_id"], call.0, "{shown}");
    assert_eq!(shown["name"], "Dana Reyes");
    until(&mut ws, "call_connected").await;
    let (s, body) = common::json(http.post(r.url(&format!("/api/v1/calls/{call}/hold")))).await;
    assert_eq!(s, 204, "{body}");
    let (held, _) = until(&mut ws, "call_hold").await;
    assert_eq!(held["on_hold"], true);
    let holds = r
        .fake
        .wait_for_requests("POST", &format!("/Participants/{sid}.json"), 1)
        .await;
    assert_eq!(holds[0].get("Hold"), Some("true"), "{holds:#?}");

    // The contact hangs up: the agent wraps up with the campaign's dispositions, and the one
    // chosen ends the contact's attempt (counted once).
    r.fake.caller_hangs_up(&sid);
    let (ended, _) = until(&mut ws, "call_ended").await;
    assert_eq!(ended["call_id"], call.0);
    assert_eq!(ended["dispositions"][0]["label"], "Sale", "{ended}");
    let sale = ended["dispositions"][0]["id"].clone();
    let (s, body) = common::json(
        http.post(r.url(&format!("/api/v1/calls/{call}/disposition")))
            .json(&json!({ "disposition_id": sale })),
    )
    .await;
    assert!(s == 200 || s == 204, "{s} {body}");
    until(&mut ws, "call_cleared").await;
    let row = r.db.store.call_unscoped(call).await.unwrap();
    assert_eq!(row.outcome, "completed", "{row:#?}");
    assert_eq!(row.disposition.as_deref(), Some("Sale"));
    let cc = claim_of(&r).await;
    assert_eq!(cc.in_flight, None, "{cc:#?}");
    assert_eq!(cc.attempts.attempts, 1, "{cc:#?}");
}

async fn a_twilio_call_that_ended_while_the_server_was_down_gets_its_real_outcome(
    backend: Backend,
) {
    let Some(mut r) = rig(backend, Outcome::Human, false).await else {
        return;
    };
    let (call, sid) = connected_call(&r).await;
    r.fake.deliver_to("http://127.0.0.1:9");
    // The contact hangs up while nobody listens: Twilio's callbacks are lost.
    r.fake.caller_hangs_up(&sid);
    r.restart().await;

    eventually(
        "the call is closed at start",
        Duration::from_secs(10),
        || async {
            r.db.store
                .call_unscoped(call)
                .await
                .unwrap()
                .ended_at
                .is_some()
        },
    )
    .await;
    let row = r.db.store.call_unscoped(call).await.unwrap();
    assert_eq!(row.outcome, "completed", "what Twilio reports: {row:#?}");
    let kinds = r.events(call).await;
    assert!(kinds.iter().any(|k| k == "ended_while_down"), "{kinds:?}");
    assert!(
        !kinds.iter().any(|k| k == "reattached"),
        "an ended call is not found again: {kinds:?}"
    );
    // Nothing to hang up: the call was over.
    assert_never_hung_up(&r, &sid);
    // The attempt is counted once and its claim released; the agent is free.
    let cc = claim_of(&r).await;
    assert_eq!(cc.in_flight, None, "{cc:#?}");
    assert_eq!(cc.attempts.attempts, 1, "{cc:#?}");
}

/// PostgreSQL (several nodes share it): a node that starts while another node leads a campaign
/// leaves that campaign's calls alone, and manual calls another node runs too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_starting_node_leaves_the_calls_of_another_nodes_campaign_alone() {
    let Some(mut r) = rig(Backend::Postgres, Outcome::Human, false).await else {
        return;
    };
    let (call, sid) = connected_call(&r).await;
    r.stop_server().await;
    // Another node leads the campaign (its advisory lock), and runs a manual call.
    let other = r.db.store.clone().with_node("node-b");
    let lead = loop {
        if let Some(l) = other.try_lead_campaign(r.campaign).await.unwrap() {
            break l;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let manual = other
        .create_manual_call(
            r.client,
            r.contact,
            palera_core::ids::UserId(r.agent),
            CONTACT,
            1,
        )
        .await
        .unwrap();
    r.start_server().await;
    // The new node has reconciled (its engine runs) before these checks.
    eventually("the engine runs", Duration::from_secs(10), || async {
        let got = common::client().get(r.url("/readyz")).send().await;
        got.is_ok_and(|g| g.status() == 200)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for id in [call, manual.id] {
        let row = r.db.store.call_unscoped(id).await.unwrap();
        assert!(row.ended_at.is_none(), "left to its owner: {row:#?}");
        let kinds = r.events(id).await;
        assert!(
            !kinds
                .iter()
                .any(|k| ["reattached", "reconciled", "ended_while_down"].contains(&k.as_str())),
            "{kinds:?}"
        );
    }
    assert!(
        r.fake
            .requests_to("GET", &format!("/Calls/{sid}.json"))
            .is_empty(),
        "Twilio was not even asked"
    );
    let cc = claim_of(&r).await;
    assert_eq!(cc.in_flight, Some(call), "the claim stays: {cc:#?}");
    drop(lead);
}

/// PostgreSQL (several nodes share it): a webhook about a call the campaign's leader runs, posted
/// to another node, is stored there and forwarded: the leader applies it — the contact's hang-up
/// ends the call and its agent wraps up — once, and marks its receipt applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_received_by_another_node_is_applied_by_the_calls_owner() {
    let Some(r) = rig(Backend::Postgres, Outcome::Human, false).await else {
        return;
    };
    let (http, cookie) = r.login("ann@x.io").await;
    let mut ws = r.desktop(&cookie).await;
    let (s, body) = common::json(
        http.put(r.url("/api/v1/me/voice-state"))
            .json(&json!({"state": "ready"})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    r.start().await;
    let (offered, _) = until(&mut ws, "call_offered").await;
    let call = CallId(offered["call_id"].as_i64().unwrap());
    until(&mut ws, "call_connected").await;
    let sid = r.fake.call_to(CONTACT).unwrap();
    // From here Twilio's webhooks go to the other node, which does not run the call.
    let other = r.second_node("node-b").await;
    r.fake.caller_hangs_up(&sid);
    let (ended, _) = until(&mut ws, "call_ended").await;
    assert_eq!(ended["call_id"], call.0, "{ended}");
    let key = format!("status:{sid}:contact:completed");
    let applied_at = || async {
        use sqlx::Row;
        sqlx::query("SELECT applied_at FROM webhook_receipts WHERE event_key = $1")
            .bind(&key)
            .fetch_all(r.db.store.pool())
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get::<Option<i64>, _>("applied_at").unwrap())
            .collect::<Vec<_>>()
    };
    eventually(
        "the receipt is marked applied",
        Duration::from_secs(10),
        || async { matches!(applied_at().await.as_slice(), [Some(_)]) },
    )
    .await;
    let marked = applied_at().await;
    // Past the time a forwarded webhook nobody claims is applied by its receiver: nothing more.
    tokio::time::sleep(palera_server::bus::UNCLAIMED_AFTER + Duration::from_millis(500)).await;
    assert_eq!(applied_at().await, marked, "marked once");
    let kinds = r.events(call).await;
    let ends = kinds.iter().filter(|k| *k == "ended").count();
    assert_eq!(ends, 1, "applied once: {kinds:?}");
    let row = r.db.store.call_unscoped(call).await.unwrap();
    assert!(row.ended_at.is_some(), "{row:#?}");
    let cc = claim_of(&r).await;
    assert_eq!(cc.attempts.attempts, 1, "{cc:#?}");
    drop(other);
}

twins!(a_twilio_call_in_progress_at_restart_stays_with_its_agent);
twins!(a_twilio_call_that_ended_while_the_server_was_down_gets_its_real_outcome);
