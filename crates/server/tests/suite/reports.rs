//! Reports (DESIGN §2.7, issue 15), on SQLite and PostgreSQL: a day of calls driven through the
//! simulated carrier gives the same figures in the call log, its CSV, the campaign report, the
//! agent's activity, the compliance report and the wallboard as the stored calls themselves, and
//! the abandon rate the simulator's auditor derives from the same calls; every report endpoint
//! hides one client from another and agents read only their own activity.

use crate::common;
use crate::common::sim_rig as rig;

use common::{json, TestApp};
use palera_carrier::sim::log::Event;
use palera_core::campaign::{CampaignSettings, DialMode};
use palera_core::contact::ContactData;
use palera_core::ids::{CampaignId, ClientId, ContactId, UserId};
use palera_core::phone::PhoneNumber;
use palera_core::tenant::ClientFields;
use palera_core::user::{Email, Role};
use palera_store::calls::{Call, Claim, Enrolment};
use palera_store::campaigns::CampaignInput;
use palera_store::clients::SecretInput;
use palera_store::contacts::Actor;
use palera_store::users::NewUser;
use palera_store::Backend;
use serde_json::{json, Value};
use std::time::Duration;

/// What the stored calls say, counted here in plain Rust.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    dialled: i64,
    answered: i64,
    live_answered: i64,
    abandoned: i64,
    talk_ms: i64,
}

fn expected(calls: &[Call]) -> Expected {
    let mut e = Expected::default();
    for c in calls {
        e.dialled += 1;
        e.answered += i64::from(c.status == "answered");
        let human = c.answered_by.as_deref() == Some("human");
        let live = matches!(
            c.outcome.as_str(),
            "completed" | "abandoned_no_agent" | "voicemail_dropped"
        );
        e.live_answered += i64::from(human && live);
        e.abandoned += i64::from(human && c.outcome == "abandoned_no_agent");
        if let (Some(a), Some(b)) = (c.connected_at, c.ended_at) {
            e.talk_ms += b - a;
        }
    }
    e
}

/// The calls as the simulator's event log, and the abandon record its auditor derives.
fn auditor_abandon_rate(calls: &[Call]) -> f64 {
    let start = calls.iter().map(|c| c.placed_at).min().unwrap_or(0);
    let mut log = Vec::new();
    for (i, c) in calls.iter().enumerate() {
        let call = i as u32;
        if let Some(t) = c.answered_at {
            log.push(Event::Answered {
                t: t - start,
                call,
                human: c.answered_by.as_deref() == Some("human"),
            });
        }
        if c.outcome == "abandoned_no_agent" {
            log.push(Event::Abandoned {
                t: c.ended_at.unwrap_or(c.placed_at) - start,
                call,
            });
        }
    }
    log.sort_by_key(|e| e.time());
    let (answered, abandoned) = palera_carrier::sim::audit::abandon_record(&log);
    if answered == 0 {
        0.0
    } else {
        (10_000.0 * abandoned as f64 / answered as f64).round() / 100.0
    }
}

async fn login(base: &str, email: &str, password: &str) -> reqwest::Client {
    let c = common::client();
    let r = c
        .post(format!("{base}/api/v1/session"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "login as {email}");
    c
}

/// Reads every page of the call log at `query`, two rows a page.
async fn all_pages(who: &reqwest::Client, url: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut after = String::new();
    loop {
        let (s, page) = json(who.get(format!("{url}&limit=2&after={after}"))).await;
        assert_eq!(s, 200, "{page}");
        rows.extend(page["calls"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(n) => after = n.to_string(),
            None => return rows,
        }
    }
}

async fn a_day_of_simulated_calls_gives_the_same_figures_in_every_report(backend: Backend) {
    let Some(r) = rig::sim_rig(
        backend,
        rig::Setup {
            behaviour: rig::humans(3.0, 2.0),
            mode: DialMode::Predictive,
            agents: 1,
            contacts: 6,
            wrap_up_seconds: 1,
            time_scale: 5.0,
            voicemail: true,
            hold_music: true,
            all_day: true,
        },
    )
    .await
    else {
        return;
    };
    let hash = palera_server::http::auth::hash_password(palera_server::cli::demo::DEMO_PASSWORD);
    r.store()
        .create_user(
            &NewUser {
                email: Email::parse("email", "boss@sim.test").unwrap(),
                name: "Boss".into(),
                role: Role::Supervisor,
                password_hash: hash,
                voice_enabled: false,
                clients: vec![r.client],
            },
            1,
        )
        .await
        .unwrap();
    let agent = r.login(0).await;
    let (s, b) = json(
        agent
            .put(r.url("/api/v1/me/voice-state"))
            .json(&json!({"state": "ready"})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    r.start().await;
    // The agent steps away while the first call rings: the person who answers reaches nobody
    // (an abandoned call, with the identification message); then the agent is back.
    rig::eventually("a first call placed", Duration::from_secs(20), || async {
        (!r.calls().await.is_empty()).then_some(())
    })
    .await;
    let (s, b) = json(
        agent
            .put(r.url("/api/v1/me/voice-state"))
            .json(&json!({"state": "standby"})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    rig::eventually("the first call ended", Duration::from_secs(30), || async {
        r.calls()
            .await
            .iter()
            .all(|c| c.ended_at.is_some())
            .then_some(())
    })
    .await;
    let (s, b) = json(
        agent
            .put(r.url("/api/v1/me/voice-state"))
            .json(&json!({"state": "ready"})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    rig::eventually(
        "every contact called and wrapped up",
        Duration::from_secs(60),
        || async {
            let calls = r.calls().await;
            let done = calls.len() >= 6
                && calls.iter().all(|c| c.ended_at.is_some())
                && calls
                    .iter()
                    .all(|c| c.connected_at.is_none() || c.disposition.is_some());
            done.then_some(())
        },
    )
    .await;
    // Let the engine settle: nothing more is due today.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let calls = r.calls().await;
    assert!(calls.iter().all(|c| c.ended_at.is_some()));
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.outcome == "abandoned_no_agent")
            .count(),
        1,
        "{calls:#?}"
    );
    let want = expected(&calls);
    let boss = login(
        &r.base,
        "boss@sim.test",
        palera_server::cli::demo::DEMO_PASSWORD,
    )
    .await;
    let c = r.client;

    // The call log, page by page, holds exactly the stored calls; so does its CSV.
    let rows = all_pages(
        &boss,
        &r.url(&format!(
            "/api/v1/clients/{c}/reports/calls?sort=oldest_first"
        )),
    )
    .await;
    let mut ids: Vec<i64> = rows.iter().map(|x| x["id"].as_i64().unwrap()).collect();
    let mut stored: Vec<i64> = calls.iter().map(|x| x.id.0).collect();
    stored.sort();
    assert_eq!(ids, stored);
    ids.dedup();
    assert_eq!(ids.len(), calls.len());
    let csv = boss
        .get(r.url(&format!("/api/v1/clients/{c}/reports/calls.csv")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), calls.len() + 1, "{csv}");

    // The campaign report.
    let (s, rep) = json(boss.get(r.url(&format!(
        "/api/v1/clients/{c}/reports/campaigns/{}",
        r.campaign
    ))))
    .await;
    assert_eq!(s, 200, "{rep}");
    let p = &rep["period"];
    let got = Expected {
        dialled: p["dialled"].as_i64().unwrap(),
        answered: p["answered"].as_i64().unwrap(),
        live_answered: p["live_answered"].as_i64().unwrap(),
        abandoned: p["abandoned"].as_i64().unwrap(),
        talk_ms: p["talk_ms"].as_i64().unwrap(),
    };
    assert_eq!(got, want, "{rep:#}");
    assert_eq!(rep["life"]["dialled"], p["dialled"]);
    assert_eq!(rep["contacts"]["total"], 6);
    assert_eq!(rep["contacts"]["not_called"], 0, "{rep:#}");
    let auditor = auditor_abandon_rate(&calls);
    assert_eq!(
        rep["period_abandon_rate_pct"].as_f64().unwrap(),
        auditor,
        "{rep:#}"
    );
    assert_eq!(rep["life_abandon_rate_pct"].as_f64().unwrap(), auditor);
    assert_eq!(
        rep["calls_per_hour"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .sum::<i64>(),
        want.dialled
    );

    // The agent's activity: the calls the agent talked on, and time Ready.
    let me = r.agents[0];
    let (s, act) = json(boss.get(r.url(&format!("/api/v1/clients/{c}/reports/agents/{me}")))).await;
    assert_eq!(s, 200, "{act}");
    let mine: Vec<Call> = calls
        .iter()
        .filter(|x| x.agent_id == Some(me))
        .cloned()
        .collect();
    assert_eq!(
        act["total"]["calls_out"].as_i64().unwrap(),
        mine.len() as i64,
        "{act:#}"
    );
    assert_eq!(
        act["total"]["on_call_ms"].as_i64().unwrap(),
        expected(&mine).talk_ms
    );
    assert!(
        act["total"]["states_ms"]["ready"].as_i64().unwrap() > 0,
        "{act:#}"
    );
    let rows = all_pages(
        &boss,
        &r.url(&format!("/api/v1/clients/{c}/reports/calls?agent_id={me}")),
    )
    .await;
    assert_eq!(rows.len(), mine.len());

    // The team: every agent's calls add up to the team's, which are every call an agent talked on.
    let (s, team) = json(boss.get(r.url(&format!("/api/v1/clients/{c}/reports/agents")))).await;
    assert_eq!(s, 200, "{team}");
    let members = team["agents"].as_array().unwrap();
    let sum = |k: &str| {
        members
            .iter()
            .map(|a| a["total"][k].as_i64().unwrap())
            .sum::<i64>()
    };
    let with_agent: Vec<Call> = calls
        .iter()
        .filter(|x| x.agent_id.is_some())
        .cloned()
        .collect();
    assert_eq!(
        team["total"]["calls_out"].as_i64().unwrap(),
        sum("calls_out")
    );
    assert_eq!(
        team["total"]["calls_out"].as_i64().unwrap(),
        with_agent.len() as i64
    );
    assert_eq!(
        team["total"]["on_call_ms"].as_i64().unwrap(),
        expected(&with_agent).talk_ms
    );
    let page = boss
        .get(r.url(&format!("/reports/{c}/agents")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<svg") && page.contains("id=\"team-total\""),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            "<td class=\"calls-out\">{}</td>",
            with_agent.len()
        )),
        "the team's calls out on the page"
    );

    // The compliance report.
    let (s, comp) = json(boss.get(r.url(&format!(
        "/api/v1/clients/{c}/reports/campaigns/{}/compliance",
        r.campaign
    ))))
    .await;
    assert_eq!(s, 200, "{comp}");
    let today = comp["days"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(today["dials"].as_i64().unwrap(), want.dialled, "{comp:#}");
    assert_eq!(today["abandoned"].as_i64().unwrap(), want.abandoned);
    assert_eq!(today["abandon_rate_pct"].as_f64().unwrap(), auditor);
    assert_eq!(comp["outside_window"], 0, "{comp:#}");
    assert_eq!(comp["dnc_dials"], 0);
    assert_eq!(comp["identification_late_or_missing"], 0, "{comp:#}");
    assert_eq!(
        today["identified_within_2s"].as_i64().unwrap(),
        want.abandoned
    );

    // The wallboard's figures of today.
    let (s, wb) = json(boss.get(r.url(&format!("/api/v1/clients/{c}/wallboard")))).await;
    assert_eq!(s, 200, "{wb}");
    assert_eq!(
        wb["campaigns"][0]["today"]["dialled"].as_i64().unwrap(),
        want.dialled
    );
    assert_eq!(wb["agents"][0]["state"], "ready", "{wb:#}");
}

macro_rules! both {
    ($name:ident) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(Backend::Postgres).await;
            }
        }
    };
}

both!(a_day_of_simulated_calls_gives_the_same_figures_in_every_report);

/// A client with a supervisor, two agents, a campaign and one ended call per agent (the first
/// to a contact whose name a spreadsheet would read as a formula).
struct Tenant {
    client: ClientId,
    campaign: CampaignId,
    agents: [UserId; 2],
}

async fn tenant(app: &TestApp, name: &str) -> Tenant {
    let store = &app.db.store;
    let f = ClientFields {
        name: name.into(),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let n = if name == "A" {
        "+14155550100"
    } else {
        "+14155550111"
    };
    let number = PhoneNumber::parse_e164(n).unwrap();
    let client = store
        .create_client(&f, &SecretInput::default(), &[number], 1)
        .await
        .unwrap()
        .id;
    let lower = name.to_lowercase();
    app.user(&format!("sup{lower}@x.io"), Role::Supervisor, vec![client])
        .await;
    let a0 = app
        .user(&format!("agent{lower}0@x.io"), Role::Agent, vec![client])
        .await
        .id;
    let a1 = app
        .user(&format!("agent{lower}1@x.io"), Role::Agent, vec![client])
        .await
        .id;
    let list = store.create_list(client, "Leads", 1).await.unwrap().id;
    let input = CampaignInput {
        name: format!("Campaign {name}"),
        settings: CampaignSettings::default(),
        caller_id: n.into(),
        voicemail_url: None,
        hold_music_url: None,
        recording: false,
        transcription: false,
        lists: vec![list],
        agents: vec![a0, a1],
    };
    let campaign = store.create_campaign(client, &input, 1).await.unwrap().id;
    for (i, agent) in [a0, a1].into_iter().enumerate() {
        let phone = format!("+1212555{:04}", 200 + i);
        let data = ContactData {
            phone: PhoneNumber::parse_e164(&phone).unwrap(),
            first_name: if i == 0 {
                "=HYPERLINK(1)".into()
            } else {
                "Kim".into()
            },
            last_name: "Lee".into(),
            email: None,
            time_zone: Some(chrono_tz::America::New_York),
            properties: Default::default(),
        };
        let contact: ContactId = store
            .create_contact(client, Some(list), &data, &Actor::system("test"), 1)
            .await
            .unwrap()
            .id;
        let enrol = Enrolment {
            contact_id: contact,
            phone: phone.clone(),
            time_zone: Some("America/New_York".into()),
            name: "Kim Lee".into(),
        };
        store
            .enrol_contacts(campaign, client, &[enrol], 1)
            .await
            .unwrap();
        let now = app.app.now_ms();
        let claim = Claim {
            campaign,
            client,
            contact,
            agent: Some(agent),
            phone,
            max_attempts: 3,
            now_ms: now,
            cycle: "2026-03-02".into(),
        };
        store.claim_contact(&claim).await.unwrap().unwrap();
    }
    Tenant {
        client,
        campaign,
        agents: [a0, a1],
    }
}

/// Every report endpoint of client `t`.
fn endpoints(t: &Tenant) -> Vec<String> {
    let (c, k, a) = (t.client, t.campaign, t.agents[0]);
    vec![
        format!("/api/v1/clients/{c}/reports/calls"),
        format!("/api/v1/clients/{c}/reports/calls.csv"),
        format!("/api/v1/clients/{c}/reports/campaigns/{k}"),
        format!("/api/v1/clients/{c}/reports/campaigns/{k}/contacts"),
        format!("/api/v1/clients/{c}/reports/campaigns/{k}/compliance"),
        format!("/api/v1/clients/{c}/reports/campaigns/{k}/compliance.csv"),
        format!("/api/v1/clients/{c}/reports/agents"),
        format!("/api/v1/clients/{c}/reports/agents/{a}"),
        format!("/api/v1/clients/{c}/wallboard"),
        format!("/api/v1/clients/{c}/wallboard/events"),
        format!("/reports/{c}/calls"),
        format!("/reports/{c}/campaigns/{k}"),
        format!("/reports/{c}/campaigns/{k}/compliance"),
        format!("/reports/{c}/agents/{a}"),
        format!("/reports/{c}/agents"),
        format!("/reports/{c}/wallboard"),
    ]
}

async fn status(who: &reqwest::Client, url: &str) -> u16 {
    who.get(url).send().await.unwrap().status().as_u16()
}

on_both!(
    a_supervisor_of_one_client_sees_nothing_of_another_in_any_report,
    |app: TestApp| async move {
        let a = tenant(&app, "A").await;
        let b = tenant(&app, "B").await;
        let sup_a = app.login("supa@x.io").await;
        for path in endpoints(&a) {
            assert_eq!(status(&sup_a, &app.url(&path)).await, 200, "{path}");
        }
        for path in endpoints(&b) {
            assert_eq!(status(&sup_a, &app.url(&path)).await, 404, "{path}");
        }
        // B's campaign and agent named under A's client are not found either.
        let (ca, kb, ab) = (a.client, b.campaign, b.agents[0]);
        for path in [
            format!("/api/v1/clients/{ca}/reports/campaigns/{kb}"),
            format!("/api/v1/clients/{ca}/reports/campaigns/{kb}/compliance"),
            format!("/api/v1/clients/{ca}/reports/agents/{ab}"),
        ] {
            assert_eq!(status(&sup_a, &app.url(&path)).await, 404, "{path}");
        }
        // Filtering A's call log by B's campaign or agent finds nothing.
        let (s, page) = json(sup_a.get(app.url(&format!(
            "/api/v1/clients/{ca}/reports/calls?campaign_id={kb}"
        ))))
        .await;
        assert_eq!(s, 200);
        assert_eq!(page["calls"], json!([]));
        let (s, page) =
            json(sup_a.get(app.url(&format!("/api/v1/clients/{ca}/reports/calls?agent_id={ab}"))))
                .await;
        assert_eq!(s, 200);
        assert_eq!(page["calls"], json!([]));
    }
);

on_both!(
    an_agent_reads_only_their_own_activity_and_calls,
    |app: TestApp| async move {
        let a = tenant(&app, "A").await;
        let agent = app.login("agenta0@x.io").await;
        let (c, [me, other]) = (a.client, a.agents);
        let own = format!("/api/v1/clients/{c}/reports/agents/{me}");
        assert_eq!(status(&agent, &app.url(&own)).await, 200);
        for path in [
            format!("/api/v1/clients/{c}/reports/agents/{other}"),
            format!("/reports/{c}/agents/{other}"),
            format!("/api/v1/clients/{c}/reports/agents"),
            format!("/api/v1/clients/{c}/reports/campaigns/{}", a.campaign),
            format!(
                "/api/v1/clients/{c}/reports/campaigns/{}/compliance",
                a.campaign
            ),
            format!("/api/v1/clients/{c}/wallboard"),
        ] {
            assert_eq!(status(&agent, &app.url(&path)).await, 403, "{path}");
        }
        // The call log shows the agent's own call only, even when asked for the other's.
        for q in ["", &format!("?agent_id={other}")] {
            let (s, page) =
                json(agent.get(app.url(&format!("/api/v1/clients/{c}/reports/calls{q}")))).await;
            assert_eq!(s, 200, "{page}");
            let calls = page["calls"].as_array().unwrap();
            assert_eq!(calls.len(), 1, "{page}");
            assert_eq!(calls[0]["agent_id"], json!(me.0));
        }
    }
);

on_both!(
    the_call_log_filters_by_agent_and_exports_that_filter_with_formulas_guarded,
    |app: TestApp| async move {
        let a = tenant(&app, "A").await;
        let sup = app.login("supa@x.io").await;
        let (c, [first, second]) = (a.client, a.agents);
        let (s, page) = json(sup.get(app.url(&format!(
            "/api/v1/clients/{c}/reports/calls?agent_id={second}"
        ))))
        .await;
        assert_eq!(s, 200);
        let calls = page["calls"].as_array().unwrap();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0]["agent_id"], json!(second.0));
        assert_eq!(calls[0]["recording_url"], Value::Null);
        let csv = sup
            .get(app.url(&format!(
                "/api/v1/clients/{c}/reports/calls.csv?agent_id={first}"
            )))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 2, "{csv}");
        assert!(lines[0].starts_with("call_id,placed_at,campaign"), "{csv}");
        assert!(lines[1].contains("'=HYPERLINK(1) Lee"), "{csv}");
        assert!(lines[1].contains("agenta0"), "{csv}");
        let (s, e) = json(sup.get(app.url(&format!(
            "/api/v1/clients/{c}/reports/calls?direction=sideways"
        ))))
        .await;
        assert_eq!(s, 422, "{e}");
        assert_eq!(e["error"]["field"], "direction");
        let (s, e) = json(sup.get(app.url(&format!(
            "/api/v1/clients/{c}/reports/calls?from=2026-13-01"
        ))))
        .await;
        assert_eq!(
            (s, e["error"]["field"].clone()),
            (422, json!("from")),
            "{e}"
        );
    }
);

on_both!(
    every_report_endpoint_is_in_the_openapi_document,
    |app: TestApp| async move {
        let (s, doc) = json(common::client().get(app.url("/api/openapi.json"))).await;
        assert_eq!(s, 200);
        for path in [
            "/api/v1/clients/{client_id}/reports/calls",
            "/api/v1/clients/{client_id}/reports/calls.csv",
            "/api/v1/clients/{client_id}/reports/campaigns/{campaign_id}",
            "/api/v1/clients/{client_id}/reports/campaigns/{campaign_id}/contacts",
            "/api/v1/clients/{client_id}/reports/campaigns/{campaign_id}/compliance",
            "/api/v1/clients/{client_id}/reports/campaigns/{campaign_id}/compliance.csv",
            "/api/v1/clients/{client_id}/reports/agents",
            "/api/v1/clients/{client_id}/reports/agents/{user_id}",
            "/api/v1/clients/{client_id}/wallboard",
        ] {
            assert!(doc["paths"][path].is_object(), "{path} missing");
        }
    }
);
