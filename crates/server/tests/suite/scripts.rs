//! Call scripts (DESIGN §2.4, issue 14), one test per rule, on SQLite and PostgreSQL: saving is
//! validated (naming the step and the field), scripts are the staff's of their client, published
//! versions never change and a call records the version it ran, and the server refuses to move a
//! call's run past a step whose required field or disclosure is not done.

use crate::common;

use common::{json, TestApp};
use palera_core::campaign::CampaignSettings;
use palera_core::contact::{ContactData, PropertyDef, PropertyKind};
use palera_core::ids::{CallId, CampaignId, ClientId, ContactId, UserId};
use palera_core::phone::PhoneNumber;
use palera_core::tenant::ClientFields;
use palera_core::user::Role;
use palera_store::calls::{Claim, Enrolment};
use palera_store::campaigns::CampaignInput;
use palera_store::clients::SecretInput;
use palera_store::contacts::Actor;
use serde_json::{json, Value};

/// A client with a supervisor, an agent, a contact in a list, a `plan` property, a draft
/// campaign, and one campaign call of the agent's to that contact.
struct World {
    client: ClientId,
    agent: UserId,
    contact: ContactId,
    campaign: CampaignId,
    call: CallId,
}

async fn world(app: &TestApp) -> World {
    let store = &app.db.store;
    let f = ClientFields {
        name: "Acme".into(),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let number = PhoneNumber::parse_e164("+14155550100").unwrap();
    let client = store
        .create_client(&f, &SecretInput::default(), &[number], 1)
        .await
        .unwrap()
        .id;
    app.user("sup@x.io", Role::Supervisor, vec![client]).await;
    let agent = app.user("agent@x.io", Role::Agent, vec![client]).await.id;
    app.user("agent2@x.io", Role::Agent, vec![client]).await;
    let plan = PropertyDef {
        name: "plan".into(),
        label: "Plan".into(),
        kind: PropertyKind::Choice,
        choices: vec!["Basic".into(), "Pro".into(), "Enterprise".into()],
        required: false,
    };
    store.define_property(client, &plan, 1).await.unwrap();
    let list = store.create_list(client, "Leads", 1).await.unwrap().id;
    let data = ContactData {
        phone: PhoneNumber::parse_e164("+12125550100").unwrap(),
        first_name: "Casey".into(),
        last_name: "Jones".into(),
        email: None,
        time_zone: Some(chrono_tz::America::New_York),
        properties: [("plan".to_string(), json!("Basic"))].into_iter().collect(),
    };
    let contact = store
        .create_contact(client, Some(list), &data, &Actor::system("test"), 1)
        .await
        .unwrap()
        .id;
    let input = CampaignInput {
        name: "Spring".into(),
        settings: CampaignSettings::default(),
        caller_id: "+14155550100".into(),
        voicemail_url: None,
        hold_music_url: None,
        recording: false,
        transcription: false,
        lists: vec![list],
        agents: vec![agent],
    };
    let campaign = store.create_campaign(client, &input, 1).await.unwrap().id;
    let enrol = Enrolment {
        contact_id: contact,
        phone: "+12125550100".into(),
        time_zone: Some("America/New_York".into()),
        name: "Casey Jones".into(),
    };
    store
        .enrol_contacts(campaign, client, &[enrol], 1)
        .await
        .unwrap();
    let claim = Claim {
        campaign,
        client,
        contact,
        agent: Some(agent),
        phone: "+12125550100".into(),
        max_attempts: 3,
        now_ms: 2,
        cycle: "2026-03-02".into(),
    };
    let call = store.claim_contact(&claim).await.unwrap().unwrap().id;
    World {
        client,
        agent,
        contact,
        campaign,
        call,
    }
}

/// The demo's script as the API takes it.
fn demo_request(name: &str) -> Value {
    let body = palera_server::cli::demo::demo_script();
    json!({"name": name, "steps": body.steps})
}

async fn create(app: &TestApp, who: &reqwest::Client, w: &World, req: &Value) -> (u16, Value) {
    json(
        who.post(app.url(&format!("/api/v1/clients/{}/scripts", w.client)))
            .json(req),
    )
    .await
}

/// Creates, publishes and attaches the demo script to the world's campaign; returns its id.
async fn attached(app: &TestApp, w: &World) -> i64 {
    let sup = app.login("sup@x.io").await;
    let (s, made) = create(app, &sup, w, &demo_request("Flow")).await;
    assert_eq!(s, 201, "{made}");
    let id = made["id"].as_i64().unwrap();
    let base = format!("/api/v1/clients/{}/scripts/{id}", w.client);
    let (s, p) = json(sup.post(app.url(&format!("{base}/publish")))).await;
    assert_eq!(s, 200, "{p}");
    let r = sup
        .put(app.url(&format!(
            "/api/v1/clients/{}/campaigns/{}/script",
            w.client, w.campaign
        )))
        .json(&json!({"script_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (_, camp) = json(sup.get(app.url(&format!(
        "/api/v1/clients/{}/campaigns/{}",
        w.client, w.campaign
    ))))
    .await;
    assert_eq!(
        camp["script_id"], id,
        "the campaign shows the script it runs"
    );
    id
}

#[test]
fn the_demo_script_is_a_valid_three_step_branching_script() {
    let s = palera_server::cli::demo::demo_script();
    assert_eq!(s.validate(), Ok(()));
    assert_eq!(s.steps.len(), 3);
    assert!(s.steps.iter().any(|st| !st.branches.is_empty()));
    let fields: Vec<_> = s.steps.iter().flat_map(|st| &st.fields).collect();
    assert_eq!(fields.iter().filter(|f| f.required).count(), 1);
    assert_eq!(
        s.steps.iter().map(|st| st.disclosures.len()).sum::<usize>(),
        1
    );
}

on_both!(
    a_script_is_refused_naming_the_step_and_the_field_and_nothing_is_stored,
    |app: TestApp| async move {
        let w = world(&app).await;
        let sup = app.login("sup@x.io").await;
        let mut bad = demo_request("Flow");
        bad["steps"][0]["branches"][0]["to"] = json!("nowhere");
        let (s, e) = create(&app, &sup, &w, &bad).await;
        assert_eq!(s, 422, "{e}");
        assert_eq!(e["error"]["field"], "steps[0].branches[0].to");
        assert!(
            e["error"]["message"].as_str().unwrap().contains("Greeting"),
            "{e}"
        );
        let mut bad = demo_request("Flow");
        bad["steps"][1]["fields"][0]["property"] = json!("budget");
        let (s, e) = create(&app, &sup, &w, &bad).await;
        assert_eq!(s, 422, "{e}");
        assert_eq!(e["error"]["field"], "steps[1].fields[0].property");
        let mut bad = demo_request("Flow");
        bad["steps"][2]["next"] = json!("greeting");
        let (s, e) = create(&app, &sup, &w, &bad).await;
        assert_eq!(
            (s, e["error"]["field"].clone()),
            (422, json!("steps")),
            "{e}"
        );
        let (s, e) = create(&app, &sup, &w, &demo_request(" ")).await;
        assert_eq!(
            (s, e["error"]["field"].clone()),
            (422, json!("name")),
            "{e}"
        );
        assert!(app.db.store.scripts(w.client).await.unwrap().is_empty());
    }
);

on_both!(
    scripts_belong_to_the_staff_of_their_client,
    |app: TestApp| async move {
        let w = world(&app).await;
        let other = app
            .db
            .store
            .create_client(
                &ClientFields {
                    name: "Other".into(),
                    ..Default::default()
                }
                .validate()
                .unwrap(),
                &SecretInput::default(),
                &[PhoneNumber::parse_e164("+14155550199").unwrap()],
                1,
            )
            .await
            .unwrap()
            .id;
        app.user("othersup@x.io", Role::Supervisor, vec![other])
            .await;
        let agent = app.login("agent@x.io").await;
        let (s, _) = create(&app, &agent, &w, &demo_request("Flow")).await;
        assert_eq!(s, 403, "agents do not edit scripts");
        let id = attached(&app, &w).await;
        let stranger = app.login("othersup@x.io").await;
        for path in [
            format!("/api/v1/clients/{}/scripts", w.client),
            format!("/api/v1/clients/{}/scripts/{id}", w.client),
            format!("/api/v1/clients/{other}/scripts/{id}"),
            format!("/admin/clients/{}/scripts/{id}", w.client),
        ] {
            let r = stranger.get(app.url(&path)).send().await.unwrap();
            assert_eq!(r.status(), 404, "{path}");
        }
        let (s, _) = json(stranger.get(app.url(&format!("/api/v1/calls/{}/script", w.call)))).await;
        assert_eq!(s, 404, "another client's call");
        let other_agent = app.login("agent2@x.io").await;
        let (s, _) =
            json(other_agent.get(app.url(&format!("/api/v1/calls/{}/script", w.call)))).await;
        assert_eq!(s, 404, "another agent's call");
    }
);

on_both!(
    a_published_version_never_changes_and_campaigns_run_only_published_scripts,
    |app: TestApp| async move {
        let w = world(&app).await;
        let sup = app.login("sup@x.io").await;
        let (_, made) = create(&app, &sup, &w, &demo_request("Flow")).await;
        let id = made["id"].as_i64().unwrap();
        let pick = app.url(&format!(
            "/api/v1/clients/{}/campaigns/{}/script",
            w.client, w.campaign
        ));
        let (s, e) = json(sup.put(&pick).json(&json!({"script_id": id}))).await;
        assert_eq!(
            (s, e["error"]["field"].clone()),
            (422, json!("script_id")),
            "{e}"
        );
        let base = app.url(&format!("/api/v1/clients/{}/scripts/{id}", w.client));
        let (_, p) = json(sup.post(format!("{base}/publish"))).await;
        assert_eq!(p["published"]["version"], 1);
        let mut edited = demo_request("Flow v2");
        edited["steps"][2]["text"] = json!("Goodbye, edited.");
        let (s, saved) = json(sup.put(&base).json(&edited)).await;
        assert_eq!(s, 200, "{saved}");
        assert_eq!(saved["latest"]["version"], 2);
        assert_eq!(saved["published"]["version"], 1);
        assert_ne!(
            saved["published"]["body"]["steps"][2]["text"],
            "Goodbye, edited."
        );
        // Exported JSON imports back with the same validation.
        let (s, exported) = json(sup.get(format!("{base}/export"))).await;
        assert_eq!((s, exported["name"].clone()), (200, json!("Flow v2")));
        let mut copy = exported.clone();
        copy["name"] = json!("Copy");
        let (s, imported) = create(&app, &sup, &w, &copy).await;
        assert_eq!(s, 201, "{imported}");
        assert_eq!(imported["latest"]["body"]["steps"], exported["steps"]);
    }
);

on_both!(
    a_call_cannot_move_past_a_step_until_its_required_field_and_disclosure_are_done,
    |app: TestApp| async move {
        let w = world(&app).await;
        attached(&app, &w).await;
        let agent = app.login("agent@x.io").await;
        let run = |p: &str| app.url(&format!("/api/v1/calls/{}/script{p}", w.call));
        let (s, v) = json(agent.get(run(""))).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["step"]["key"], "greeting");
        let text = v["step"]["text"].as_str().unwrap();
        assert!(
            text.starts_with("Hi Casey, this is agent from Acme."),
            "{text}"
        );
        let (s, e) = json(agent.post(run("/next"))).await;
        assert_eq!(s, 409, "{e}");
        assert_eq!(e["error"]["code"], "script_step_incomplete");
        assert_eq!(e["error"]["field"], "good_time");
        let (s, e) = json(
            agent
                .post(run("/answer"))
                .json(&json!({"field": "good_time", "value": "Maybe"})),
        )
        .await;
        assert_eq!(
            (s, e["error"]["field"].clone()),
            (422, json!("good_time")),
            "{e}"
        );
        let (s, _) = json(
            agent
                .post(run("/answer"))
                .json(&json!({"field": "good_time", "value": "yes"})),
        )
        .await;
        assert_eq!(s, 200);
        let (s, e) = json(agent.post(run("/next"))).await;
        assert_eq!(
            (s, e["error"]["field"].clone()),
            (409, json!("recording")),
            "the disclosure is still due: {e}"
        );
        let (s, _) = json(
            agent
                .post(run("/acknowledge"))
                .json(&json!({"disclosure": "recording"})),
        )
        .await;
        assert_eq!(s, 200);
        let (s, v) = json(agent.post(run("/next"))).await;
        assert_eq!((s, v["step"]["key"].clone()), (200, json!("offer")), "{v}");
        // Answers typed like the property and written back to the contact, by the agent.
        let (s, v) = json(
            agent
                .post(run("/answer"))
                .json(&json!({"field": "plan", "value": "pro"})),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let c = app.db.store.contact(w.client, w.contact).await.unwrap();
        assert_eq!(c.properties["plan"], json!("Pro"));
        let history = app
            .db
            .store
            .contact_history(w.client, w.contact)
            .await
            .unwrap();
        let change = history
            .iter()
            .find(|h| h.field == "properties.plan")
            .expect("the change is in the contact's history");
        assert_eq!(
            (change.user_id, change.source.as_str()),
            (Some(w.agent), "script")
        );
        json(agent.post(run("/next"))).await;
        let (s, v) = json(agent.post(run("/next"))).await;
        assert_eq!((s, v["finished"].clone()), (200, json!(true)), "{v}");
        let stored = app
            .db
            .store
            .script_run(w.client, w.call)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.run.path, vec!["greeting", "offer", "goodbye"]);
        assert!(stored.run.acknowledged.contains_key("recording"));
        // The conversation view shows the run with the call.
        let sup = app.login("sup@x.io").await;
        let page = sup
            .get(app.url(&format!(
                "/clients/{}/contacts/{}/conversation",
                w.client, w.contact
            )))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("Good time to talk?") && page.contains("<dd>Yes</dd>"),
            "{page}"
        );
        assert!(page.contains("Disclosure read out at"), "{page}");
    }
);

on_both!(
    a_call_keeps_the_script_version_it_ran,
    |app: TestApp| async move {
        let w = world(&app).await;
        let id = attached(&app, &w).await;
        let agent = app.login("agent@x.io").await;
        let (s, v) = json(agent.get(app.url(&format!("/api/v1/calls/{}/script", w.call)))).await;
        assert_eq!((s, v["version"].clone()), (200, json!(1)));
        let sup = app.login("sup@x.io").await;
        let base = app.url(&format!("/api/v1/clients/{}/scripts/{id}", w.client));
        let mut edited = demo_request("Flow");
        edited["steps"][0]["text"] = json!("A new greeting");
        json(sup.put(&base).json(&edited)).await;
        json(sup.post(format!("{base}/publish"))).await;
        let (_, v) = json(agent.get(app.url(&format!("/api/v1/calls/{}/script", w.call)))).await;
        assert_eq!(v["version"], 1);
        assert_ne!(v["step"]["text"], "A new greeting");
        // A script that calls ran is kept for their record.
        let r = sup.delete(&base).send().await.unwrap();
        assert_eq!(r.status(), 409);
    }
);

on_both!(
    an_inbound_call_runs_the_script_picked_in_the_clients_inbound_settings,
    |app: TestApp| async move {
        let w = world(&app).await;
        let sup = app.login("sup@x.io").await;
        let (_, made) = create(&app, &sup, &w, &demo_request("Inbound flow")).await;
        let id = made["id"].as_i64().unwrap();
        json(sup.post(app.url(&format!(
            "/api/v1/clients/{}/scripts/{id}/publish",
            w.client
        ))))
        .await;
        let settings = app.url(&format!("/api/v1/clients/{}/inbound-settings", w.client));
        let (_, mut s) = json(sup.get(&settings)).await;
        s["script_id"] = json!(id);
        let (st, saved) = json(sup.put(&settings).json(&s)).await;
        assert_eq!(st, 200, "{saved}");
        // An inbound call the agent took.
        let call = app
            .db
            .store
            .create_inbound_call(w.client, w.contact, "+12125550100", Some("CAin"), 5)
            .await
            .unwrap()
            .id;
        app.db
            .store
            .inbound_connected(call, w.agent, 6)
            .await
            .unwrap();
        let agent = app.login("agent@x.io").await;
        let (st, v) = json(agent.get(app.url(&format!("/api/v1/calls/{call}/script")))).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["script_name"], "Inbound flow");
        assert_eq!(v["step"]["key"], "greeting");
    }
);
