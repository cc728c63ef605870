//! Inbound routing (DESIGN §2.5, issue 17), one test per rule, on SQLite and PostgreSQL, with the
//! real engine and the simulated network (callers placed through the engine as the demo's
//! network places them). Offers are watched on the desktops' event stream.

use crate::common;
use crate::common::sim_rig::{eventually, sim_rig, Setup, SimRig};

use palera_core::ids::{CallId, ClientId, ContactId, UserId};
use palera_core::phone::PhoneNumber;
use palera_server::desk::ws::{DesktopEvent, DesktopMessage};
use palera_server::engine::{Arrival, Request};
use palera_store::inbound::InboundSettings;
use palera_store::Backend;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// Network time runs 20 times faster than real time in these tests.
const SCALE: f64 = 20.0;

async fn rig(b: Backend, agents: usize) -> Option<SimRig> {
    sim_rig(
        b,
        Setup {
            agents,
            time_scale: SCALE,
            ..Default::default()
        },
    )
    .await
}

async fn settings(r: &SimRig, f: impl FnOnce(&mut InboundSettings)) {
    let mut s = InboundSettings::default();
    f(&mut s);
    r.store()
        .save_inbound_settings(r.client, &s, 1)
        .await
        .unwrap();
}

async fn state(r: &SimRig, i: usize, state: &str) {
    let c = r.login(i).await;
    let (s, body) = common::json(
        c.put(r.url("/api/v1/me/voice-state"))
            .json(&json!({ "state": state })),
    )
    .await;
    assert_eq!(s, 200, "{body}");
}

/// A caller rings from `phone`, waiting `patience` and talking `talk` network seconds.
async fn arrive(r: &SimRig, phone: &str, patience: f64, talk: f64) -> CallId {
    let arrival = Arrival {
        client: r.client,
        from: PhoneNumber::parse_e164(phone).unwrap(),
        sid: None,
        patience_seconds: patience,
        talk_seconds: talk,
    };
    r.app
        .engine
        .ask(|reply| Request::InboundArrived {
            arrival,
            reply: Some(reply),
        })
        .await
        .unwrap()
        .unwrap()
}

/// Waits (at most `limit`) for the offer of `call` to reach a desktop; returns whose.
async fn offered(
    rx: &mut broadcast::Receiver<DesktopEvent>,
    call: CallId,
    limit: Duration,
) -> Option<(UserId, bool)> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let ev = tokio::time::timeout_at(deadline, rx.recv()).await.ok()?;
        if let Ok(DesktopEvent {
            user,
            body: DesktopMessage::InboundOffer {
                call_id, affinity, ..
            },
            ..
        }) = ev
        {
            if call_id == call {
                return Some((user, affinity));
            }
        }
    }
}

/// A connected call of `agent` with the contact, in the past (their affinity).
async fn spoke_before(r: &SimRig, contact: ContactId, agent: UserId) {
    let phone = r
        .store()
        .contact(r.client, contact)
        .await
        .unwrap()
        .phone
        .as_str()
        .to_string();
    let now = chrono::Utc::now().timestamp_millis();
    let c = r
        .store()
        .create_inbound_call(r.client, contact, &phone, None, now - 86_400_000)
        .await
        .unwrap();
    r.store()
        .inbound_connected(c.id, agent, now - 86_400_000)
        .await
        .unwrap();
    r.store()
        .end_inbound_call(
            c.id,
            palera_store::inbound::InboundEnd::Answered,
            now - 86_000_000,
        )
        .await
        .unwrap();
}

async fn outcome(r: &SimRig, call: CallId) -> (String, String) {
    let c = r.store().call_unscoped(call).await.unwrap();
    (c.outcome, c.status)
}

macro_rules! rule {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)(Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                ($body)(Backend::Postgres).await;
            }
        }
    };
}

rule!(
    the_agent_the_caller_last_spoke_to_gets_the_call_when_ready,
    |b| async move {
        let Some(r) = rig(b, 3).await else { return };
        spoke_before(&r, r.contacts[0], r.agents[2]).await;
        for i in 0..3 {
            state(&r, i, "ready").await;
        }
        let mut rx = r.app.events.subscribe();
        let call = arrive(&r, "+12125550100", 600.0, 600.0).await;
        let (who, affinity) = offered(&mut rx, call, Duration::from_secs(5))
            .await
            .expect("an offer");
        assert_eq!((who, affinity), (r.agents[2], true));
        assert_eq!(outcome(&r, call).await.0, "ringing");
    }
);

rule!(
    a_busy_affinity_agent_is_waited_for_up_to_the_affinity_wait_then_the_longest_idle_agent_gets_it,
    |b| async move {
        let Some(r) = rig(b, 3).await else { return };
        settings(&r, |s| s.affinity_wait_seconds = 2).await;
        spoke_before(&r, r.contacts[0], r.agents[2]).await;
        state(&r, 0, "ready").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        state(&r, 1, "ready").await;
        state(&r, 2, "ready").await;
        // Agent 2 is busy with another caller.
        let mut rx = r.app.events.subscribe();
        let first = arrive(&r, "+12125550199", 600.0, 600.0).await;
        let (who, _) = offered(&mut rx, first, Duration::from_secs(5))
            .await
            .unwrap();
        let busy_idx = r.agents.iter().position(|a| *a == who).unwrap();
        if who != r.agents[2] {
            // Make agent 2 the busy one: decline here until agent 2 has it.
            let c = r.login(busy_idx).await;
            let resp = c
                .post(r.url(&format!("/api/v1/calls/{first}/inbound/decline")))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 204);
            let mut next = offered(&mut rx, first, Duration::from_secs(5))
                .await
                .unwrap()
                .0;
            while next != r.agents[2] {
                let i = r.agents.iter().position(|a| *a == next).unwrap();
                let c = r.login(i).await;
                c.post(r.url(&format!("/api/v1/calls/{first}/inbound/decline")))
                    .send()
                    .await
                    .unwrap();
                next = offered(&mut rx, first, Duration::from_secs(5))
                    .await
                    .unwrap()
                    .0;
            }
        }
        let c2 = r.login(2).await;
        let resp = c2
            .post(r.url(&format!("/api/v1/calls/{first}/inbound/accept")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 204);
        // The affinity caller rings: agent 2 is on a call, so the call waits for them...
        let started = Instant::now();
        let call = arrive(&r, "+12125550100", 600.0, 600.0).await;
        let (who, affinity) = offered(&mut rx, call, Duration::from_secs(6))
            .await
            .unwrap();
        let waited = started.elapsed();
        // ...up to the affinity wait, then the agent idle the longest (agent 0 went Ready first).
        assert!(
            waited >= Duration::from_millis(1800),
            "offered after {waited:?}"
        );
        assert_eq!((who, affinity), (r.agents[0], false));
    }
);

rule!(
    a_call_is_never_offered_to_an_agent_not_ready_not_voice_enabled_or_not_assigned,
    |b| async move {
        let Some(r) = rig(b, 3).await else { return };
        state(&r, 0, "standby").await;
        state(&r, 1, "ready").await;
        state(&r, 2, "ready").await;
        // Agent 1 loses voice; agent 2 is moved to another client.
        let other = r
            .store()
            .create_client(
                &palera_core::tenant::ClientFields {
                    name: "Other".into(),
                    ..Default::default()
                }
                .validate()
                .unwrap(),
                &palera_store::clients::SecretInput::default(),
                &[PhoneNumber::parse_e164("+14155550111").unwrap()],
                1,
            )
            .await
            .unwrap()
            .id;
        let r = &r;
        let edit = |id: UserId, voice: bool, clients: Vec<ClientId>| async move {
            let u = r.store().user(id).await.unwrap();
            r.store()
                .update_user_access(id, &u.name, u.role, voice, &clients)
                .await
                .unwrap();
        };
        edit(r.agents[1], false, vec![r.client]).await;
        edit(r.agents[2], true, vec![other]).await;
        let mut rx = r.app.events.subscribe();
        let call = arrive(r, "+12125550100", 600.0, 600.0).await;
        assert_eq!(
            offered(&mut rx, call, Duration::from_millis(1500)).await,
            None,
            "nobody eligible: the call waits in the queue"
        );
        assert_eq!(outcome(r, call).await.0, "queued");
        state(r, 0, "ready").await;
        let (who, _) = offered(&mut rx, call, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(
            who, r.agents[0],
            "the first eligible agent who becomes free"
        );
    }
);

rule!(
    a_caller_who_hangs_up_waiting_is_missed_abandoned_and_in_the_tray_until_handled,
    |b| async move {
        let Some(r) = rig(b, 2).await else { return };
        let call = arrive(&r, "+12125550100", 10.0, 60.0).await;
        eventually("the caller hangs up", Duration::from_secs(10), || async {
            (outcome(&r, call).await.0 == "missed").then_some(())
        })
        .await;
        assert_eq!(
            outcome(&r, call).await,
            ("missed".into(), "abandoned".into())
        );
        let agent = r.login(0).await;
        let (s, tray) = common::json(agent.get(r.url("/api/v1/me/inbound-tray"))).await;
        assert_eq!(s, 200);
        assert_eq!(tray[0]["call_id"], call.0);
        assert_eq!(tray[0]["outcome"], "missed");
        let other = r.login(1).await;
        let r = &r;
        let done = |c: reqwest::Client| async move {
            c.post(r.url(&format!("/api/v1/calls/{call}/inbound/handled")))
                .send()
                .await
                .unwrap()
                .status()
        };
        assert_eq!(done(agent.clone()).await, 204);
        assert_eq!(done(other.clone()).await, 409, "handled once, for everyone");
        let (_, tray) = common::json(other.get(r.url("/api/v1/me/inbound-tray"))).await;
        assert_eq!(tray, json!([]));
    }
);

rule!(
    the_wallboard_shows_the_callers_waiting_the_longest_wait_and_todays_missed_calls,
    |b| async move {
        let Some(r) = rig(b, 1).await else { return };
        let board = || async {
            palera_server::reports::wallboard::load(&r.app, r.client)
                .await
                .unwrap()
                .queues[0]
                .clone()
        };
        assert_eq!(board().await.waiting, 0);
        // Nobody is Ready: two callers wait, the first one longest; the second gives up soon.
        let first = arrive(&r, "+12125550100", 600.0, 60.0).await;
        let t_first = r.store().call_unscoped(first).await.unwrap().placed_at;
        let second = arrive(&r, "+12125550101", 2.0, 60.0).await;
        let q = board().await;
        assert_eq!(q.waiting, 2);
        assert_eq!(q.longest_waiting_since, Some(t_first));
        assert!(q.longest_wait_seconds >= 0);
        eventually(
            "the second caller hangs up",
            Duration::from_secs(10),
            || async { (outcome(&r, second).await.0 == "missed").then_some(()) },
        )
        .await;
        let q = board().await;
        assert_eq!((q.waiting, q.longest_waiting_since), (1, Some(t_first)));
        assert_eq!((q.today.calls, q.missed()), (2, 1), "{q:?}");
    }
);

rule!(
    after_the_maximum_wait_the_caller_leaves_a_voicemail_that_is_listed,
    |b| async move {
        let Some(r) = rig(b, 1).await else { return };
        settings(&r, |s| s.max_wait_seconds = 1).await;
        let call = arrive(&r, "+12125550100", 600.0, 60.0).await;
        eventually(
            "the voicemail is stored",
            Duration::from_secs(10),
            || async { (outcome(&r, call).await.0 == "voicemail").then_some(()) },
        )
        .await;
        let agent = r.login(0).await;
        let (_, tray) = common::json(agent.get(r.url("/api/v1/me/inbound-tray"))).await;
        assert_eq!(tray[0]["outcome"], "voicemail");
    }
);

rule!(
    an_offer_that_rings_out_goes_to_the_next_agent_and_two_in_a_row_mean_standby,
    |b| async move {
        let Some(r) = rig(b, 2).await else { return };
        settings(&r, |s| s.ring_timeout_seconds = 1).await;
        state(&r, 0, "ready").await;
        state(&r, 1, "ready").await;
        let mut rx = r.app.events.subscribe();
        let call = arrive(&r, "+12125550100", 600.0, 60.0).await;
        let (first, _) = offered(&mut rx, call, Duration::from_secs(5))
            .await
            .unwrap();
        let (second, _) = offered(&mut rx, call, Duration::from_secs(5))
            .await
            .unwrap();
        assert_ne!(first, second, "the next agent gets it");
        // Both let it ring: a second call rings out at one of them again, who goes to Standby.
        let call2 = arrive(&r, "+12125550101", 600.0, 60.0).await;
        let (third, _) = offered(&mut rx, call2, Duration::from_secs(5))
            .await
            .unwrap();
        eventually(
            "the agent is on Standby",
            Duration::from_secs(5),
            || async {
                let u = r.store().user(third).await.unwrap();
                (u.voice_state == palera_core::user::VoiceState::Standby).then_some(())
            },
        )
        .await;
    }
);

rule!(
    an_accepted_call_is_bridged_and_ends_answered_and_a_declined_one_goes_on,
    |b| async move {
        let Some(r) = rig(b, 2).await else { return };
        state(&r, 0, "ready").await;
        state(&r, 1, "ready").await;
        let mut rx = r.app.events.subscribe();
        // An unknown caller becomes a contact in no list.
        let call = arrive(&r, "+13035550142", 600.0, 600.0).await;
        let c = r.store().call_unscoped(call).await.unwrap();
        let contact = r
            .store()
            .contact(r.client, c.contact_id.unwrap())
            .await
            .unwrap();
        assert_eq!((contact.list_id, c.direction.as_str()), (None, "inbound"));
        let (first, _) = offered(&mut rx, call, Duration::from_secs(5))
            .await
            .unwrap();
        let fi = r.agents.iter().position(|a| *a == first).unwrap();
        let decliner = r.login(fi).await;
        let s = decliner
            .post(r.url(&format!("/api/v1/calls/{call}/inbound/decline")))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(s, 204);
        let (second, _) = offered(&mut rx, call, Duration::from_secs(5))
            .await
            .unwrap();
        assert_ne!(second, first);
        // Only the agent it rings at can take it.
        let s = decliner
            .post(r.url(&format!("/api/v1/calls/{call}/inbound/accept")))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(s, 404);
        let si = r.agents.iter().position(|a| *a == second).unwrap();
        let taker = r.login(si).await;
        let s = taker
            .post(r.url(&format!("/api/v1/calls/{call}/inbound/accept")))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(s, 204);
        let c = r.store().call_unscoped(call).await.unwrap();
        assert_eq!((c.agent_id, c.status.as_str()), (Some(second), "answered"));
        assert!(c.connected_at.is_some());
        let s = taker
            .post(r.url(&format!("/api/v1/calls/{call}/hangup")))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(s, 204);
        eventually("the call ends answered", Duration::from_secs(5), || async {
            (outcome(&r, call).await == ("answered".into(), "answered".into())).then_some(())
        })
        .await;
    }
);

on_both!(
    inbound_settings_are_for_staff_and_name_the_field_when_refused,
    |app: TestApp| async move {
        let f = palera_core::tenant::ClientFields {
            name: "Acme".into(),
            ..Default::default()
        }
        .validate()
        .unwrap();
        let client = app
            .db
            .store
            .create_client(
                &f,
                &palera_store::clients::SecretInput::default(),
                &[PhoneNumber::parse_e164("+14155550100").unwrap()],
                1,
            )
            .await
            .unwrap()
            .id;
        app.user(
            "sup@x.io",
            palera_core::user::Role::Supervisor,
            vec![client],
        )
        .await;
        app.user("agent@x.io", palera_core::user::Role::Agent, vec![client])
            .await;
        let url = app.url(&format!("/api/v1/clients/{client}/inbound-settings"));
        let agent = app.login("agent@x.io").await;
        let (s, _) = common::json(agent.get(&url)).await;
        assert_eq!(s, 403);
        let sup = app.login("sup@x.io").await;
        let (s, mut body) = common::json(sup.get(&url)).await;
        assert_eq!((s, body["affinity_window_days"].clone()), (200, json!(30)));
        body["ring_timeout_seconds"] = json!(1);
        let (s, e) = common::json(sup.put(&url).json(&body)).await;
        assert_eq!(
            (s, e["error"]["field"].clone()),
            (422, json!("ring_timeout_seconds"))
        );
        body["ring_timeout_seconds"] = json!(15);
        body["affinity_wait_seconds"] = json!(5);
        let (s, saved) = common::json(sup.put(&url).json(&body)).await;
        assert_eq!(s, 200, "{saved}");
        let stored = app.db.store.inbound_settings(client).await.unwrap();
        assert_eq!(
            (stored.ring_timeout_seconds, stored.affinity_wait_seconds),
            (15, 5)
        );
    }
);

use common::TestApp;

rule!(
    inbound_calls_come_first_the_campaign_does_not_dial_an_agent_a_caller_waits_for,
    |b| async move {
        let Some(r) = sim_rig(
            b,
            Setup {
                agents: 1,
                contacts: 10,
                time_scale: SCALE,
                behaviour: crate::common::sim_rig::humans(1.0, 40.0),
                wrap_up_seconds: 1,
                ..Default::default()
            },
        )
        .await
        else {
            return;
        };
        state(&r, 0, "ready").await;
        r.start().await;
        let first = eventually(
            "a campaign call for the agent",
            Duration::from_secs(10),
            || async {
                r.calls()
                    .await
                    .into_iter()
                    .find(|c| c.connected_at.is_some())
            },
        )
        .await;
        // A caller rings while the agent talks: the call waits.
        let mut rx = r.app.events.subscribe();
        let call = arrive(&r, "+13035550142", 6000.0, 600.0).await;
        assert_eq!(outcome(&r, call).await.0, "queued");
        // The campaign call ends and its wrap-up runs out (the automatic disposition frees the
        // agent inside the campaign's own step, where it would dial the next contact at once).
        eventually(
            "the campaign call ends",
            Duration::from_secs(10),
            || async {
                r.store()
                    .call_unscoped(first.id)
                    .await
                    .unwrap()
                    .ended_at
                    .map(|_| ())
            },
        )
        .await;
        // The caller is offered the agent, and the campaign placed no call for them meanwhile.
        let (who, _) = offered(&mut rx, call, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(who, r.agents[0]);
        tokio::time::sleep(Duration::from_millis(600)).await;
        let campaign_calls = r.calls().await.len();
        assert_eq!(
            campaign_calls, 1,
            "no campaign dial while the caller waited for the agent"
        );
    }
);

rule!(
    an_agent_put_on_standby_by_rung_out_offers_gets_no_campaign_call,
    |b| async move {
        let Some(r) = sim_rig(
            b,
            Setup {
                agents: 1,
                contacts: 10,
                time_scale: SCALE,
                behaviour: crate::common::sim_rig::humans(1.0, 40.0),
                ..Default::default()
            },
        )
        .await
        else {
            return;
        };
        settings(&r, |s| s.ring_timeout_seconds = 1).await;
        state(&r, 0, "ready").await;
        let mut rx = r.app.events.subscribe();
        // Two callers wait; the first is offered to the agent, then the campaign starts (the
        // agent is busy with the offer, so it dials nothing yet).
        let first = arrive(&r, "+13035550142", 6000.0, 600.0).await;
        let second = arrive(&r, "+13035550143", 6000.0, 600.0).await;
        offered(&mut rx, first, Duration::from_secs(5))
            .await
            .expect("the first caller is offered");
        r.start().await;
        // Both offers ring out: the second miss in a row puts the agent on Standby, in the
        // same step in which the campaign would dial for an agent it still counts as ready.
        offered(&mut rx, second, Duration::from_secs(5))
            .await
            .expect("the second caller is offered");
        eventually(
            "the agent is on Standby",
            Duration::from_secs(5),
            || async {
                let u = r.store().user(r.agents[0]).await.unwrap();
                (u.voice_state == palera_core::user::VoiceState::Standby).then_some(())
            },
        )
        .await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let calls = r.calls().await;
        assert!(
            calls.is_empty(),
            "no campaign call for an agent on Standby: {:?}",
            calls.iter().map(|c| (c.id, c.agent_id)).collect::<Vec<_>>()
        );
    }
);
