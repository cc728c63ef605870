//! The agent desktop's rules over the API (DESIGN §2.3), each on SQLite and PostgreSQL: notes
//! saved with optimistic concurrency (a save wins only if it saw the latest version; the two-tabs
//! case is told, nothing overwritten), notes belong to the call and its agent, the contact card
//! and the script, inline edits validated against the property schema and recorded with the
//! agent as author, the conversation timeline, and manual calls (do-not-call, calling window,
//! placed through the simulated carrier and logged to the contact's conversation).

use crate::common;
use crate::common::{eventually, WAIT};

use chrono::{DateTime, Duration as CDuration, Utc};
use palera_carrier::sim::behaviour::{Behaviour, Seconds};
use palera_core::contact::{ContactData, PropertyDef, PropertyKind};
use palera_core::ids::{CallId, ClientId, ContactId, ListId, UserId};
use palera_core::phone::PhoneNumber;
use palera_core::tenant::ClientFields;
use palera_core::user::{Email, Role};
use palera_server::app::Clock;
use palera_server::engine::carriers::CarrierHub;
use palera_server::engine::directory::StoreDirectory;
use palera_server::App;
use palera_store::clients::SecretInput;
use palera_store::contacts::Actor;
use palera_store::testing::{fresh, TestDb};
use palera_store::users::NewUser;
use palera_store::{Backend, Store};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::oneshot;

const CALLER: &str = "+14155550100";
const CONTACT: &str = "+12125550100";

/// Noon in New York: the default calling window is open in every US zone.
fn open_hours() -> DateTime<Utc> {
    "2026-03-02T17:00:00Z".parse().unwrap()
}

/// A clock that starts where the test says and runs at real speed.
struct TestClock {
    base: DateTime<Utc>,
    started: std::time::Instant,
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        self.base + CDuration::from_std(self.started.elapsed()).unwrap()
    }
}

/// Everyone answers after a short ring and stays on the line.
fn humans() -> Behaviour {
    let s = |mean| Seconds {
        mean,
        sd: 0.0,
        min: 0.1,
    };
    Behaviour {
        human_pct: 100.0,
        machine_pct: 0.0,
        busy_pct: 0.0,
        failed_pct: 0.0,
        ring_seconds: s(1.0),
        talk_seconds: s(3600.0),
        human_hangup_if_waiting_seconds: 3600.0,
    }
}

/// A client (Acme) with two agents and a supervisor, a second client with its own agent, a list
/// with one contact, a property schema, and a server on the simulated network.
struct Desk {
    db: TestDb,
    base: String,
    client: ClientId,
    other_client: ClientId,
    agent: UserId,
    list: ListId,
    contact: ContactId,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Desk {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

async fn user(store: &Store, email: &str, role: Role, clients: Vec<ClientId>) -> UserId {
    store
        .create_user(
            &NewUser {
                email: Email::parse("email", email).unwrap(),
                name: email.split('@').next().unwrap().to_string(),
                role,
                password_hash: palera_server::http::auth::hash_password(common::PASSWORD),
                voice_enabled: true,
                clients,
            },
            1,
        )
        .await
        .unwrap()
        .id
}

async fn client(store: &Store, name: &str, number: &str) -> ClientId {
    let fields = ClientFields {
        name: name.into(),
        default_country: Some("US".into()),
        calls_per_second: Some(50.0),
        ..Default::default()
    }
    .validate()
    .unwrap();
    store
        .create_client(
            &fields,
            &SecretInput::default(),
            &[PhoneNumber::parse_e164(number).unwrap()],
            1,
        )
        .await
        .unwrap()
        .id
}

async fn desk(backend: Backend, now: DateTime<Utc>) -> Option<Desk> {
    let db = fresh(backend).await?;
    let store = db.store.clone();
    let acme = client(&store, "Acme", CALLER).await;
    let other = client(&store, "Other", "+14155550101").await;
    let agent = user(&store, "agent@x.io", Role::Agent, vec![acme]).await;
    user(&store, "agent2@x.io", Role::Agent, vec![acme]).await;
    user(&store, "sup@x.io", Role::Supervisor, vec![acme]).await;
    user(&store, "stranger@x.io", Role::Agent, vec![other]).await;
    for def in [
        PropertyDef {
            name: "budget".into(),
            label: "Budget".into(),
            kind: PropertyKind::Number,
            choices: vec![],
            required: false,
        },
        PropertyDef {
            name: "plan".into(),
            label: "Plan".into(),
            kind: PropertyKind::Choice,
            choices: vec!["Basic".into(), "Pro".into()],
            required: false,
        },
    ] {
        store.define_property(acme, &def, 1).await.unwrap();
    }
    let list = store.create_list(acme, "Leads", 1).await.unwrap().id;
    let data = ContactData {
        phone: PhoneNumber::parse_e164(CONTACT).unwrap(),
        first_name: "Casey".into(),
        last_name: "Doe".into(),
        email: None,
        time_zone: Some(chrono_tz::America::New_York),
        properties: Default::default(),
    };
    let contact = store
        .create_contact(acme, Some(list), &data, &Actor::system("test"), 1)
        .await
        .unwrap()
        .id;
    let mut settings = common::test_settings(&db.url);
    settings.heartbeat_timeout_seconds = 3600;
    let clock = Arc::new(TestClock {
        base: now,
        started: std::time::Instant::now(),
    });
    let hub = CarrierHub::simulated(&settings, humans(), 3, 20.0);
    let dir = Arc::new(StoreDirectory::new(store.clone(), clock.clone()));
    let app = App::with_parts(store, settings, clock, hub, dir);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        palera_server::serve(app, listener, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Some(Desk {
        db,
        base,
        client: acme,
        other_client: other,
        agent,
        list,
        contact,
        stop: Some(tx),
        task: Some(task),
    })
}

impl Desk {
    fn store(&self) -> &Store {
        &self.db.store
    }
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
    async fn login(&self, email: &str) -> reqwest::Client {
        let c = common::client();
        let r = c
            .post(self.url("/api/v1/session"))
            .json(&json!({"email": email, "password": common::PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "login as {email}");
        c
    }
    /// The agent, logged in and on Standby (manual calls are refused while Offline).
    async fn standby_agent(&self) -> reqwest::Client {
        let c = self.login("agent@x.io").await;
        let (s, body) = common::json(
            c.put(self.url("/api/v1/me/voice-state"))
                .json(&json!({"state": "standby"})),
        )
        .await;
        assert_eq!(s, 200, "{body}");
        c
    }
    /// A call of the agent to the contact, as the engine would have stored it.
    async fn call(&self) -> CallId {
        self.store()
            .create_manual_call(self.client, self.contact, self.agent, CONTACT, 1000)
            .await
            .unwrap()
            .id
    }
    async fn save_notes(
        &self,
        c: &reqwest::Client,
        call: CallId,
        text: &str,
        base: i64,
    ) -> (u16, Value) {
        common::json(
            c.put(self.url(&format!("/api/v1/calls/{call}/notes")))
                .json(&json!({"text": text, "base_version": base})),
        )
        .await
    }
}

macro_rules! rule {
    ($name:ident, $now:expr, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let d = desk(Backend::Sqlite, $now).await.unwrap();
                ($body)(d).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(d) = desk(Backend::Postgres, $now).await {
                    ($body)(d).await;
                }
            }
        }
    };
}

rule!(
    a_notes_save_wins_only_if_it_saw_the_latest_version,
    open_hours(),
    |d: Desk| async move {
        let call = d.call().await;
        // Two tabs of the same agent, both opened on version 0.
        let tab1 = d.login("agent@x.io").await;
        let tab2 = d.login("agent@x.io").await;
        let (s, first) = d.save_notes(&tab1, call, "Wants the Pro plan", 0).await;
        assert_eq!(s, 200, "{first}");
        assert_eq!(first["version"], 1);
        // The second tab never saw version 1: it is told, and nothing is overwritten.
        let (s, conflict) = d.save_notes(&tab2, call, "Call back Friday", 0).await;
        assert_eq!(s, 409, "{conflict}");
        assert_eq!(conflict["error"]["code"], "notes_conflict");
        assert_eq!(conflict["error"]["field"], "base_version");
        assert_eq!(conflict["current"]["text"], "Wants the Pro plan");
        assert_eq!(conflict["current"]["version"], 1);
        assert_eq!(conflict["yours"], "Call back Friday");
        let stored = d.store().call_notes(d.client, call).await.unwrap();
        assert_eq!(
            (stored.text.as_str(), stored.version),
            ("Wants the Pro plan", 1)
        );
        // Having seen version 1, the second tab's save wins.
        let (s, second) = d
            .save_notes(&tab2, call, "Wants the Pro plan\nCall back Friday", 1)
            .await;
        assert_eq!(s, 200, "{second}");
        assert_eq!(second["version"], 2);
        // A retried request (same text, the answer was lost) is not a conflict.
        let (s, again) = d
            .save_notes(&tab2, call, "Wants the Pro plan\nCall back Friday", 1)
            .await;
        assert_eq!((s, again["version"].clone()), (200, json!(2)));
        let (s, read) = common::json(tab1.get(d.url(&format!("/api/v1/calls/{call}/notes")))).await;
        assert_eq!(s, 200);
        assert_eq!(read["text"], "Wants the Pro plan\nCall back Friday");
        assert_eq!(read["updated_by"], d.agent.0);
    }
);

rule!(
    notes_belong_to_the_call_and_only_its_agent_and_staff_see_them,
    open_hours(),
    |d: Desk| async move {
        let call = d.call().await;
        let path = format!("/api/v1/calls/{call}/notes");
        for who in ["agent2@x.io", "stranger@x.io"] {
            let c = d.login(who).await;
            let (s, _) = d.save_notes(&c, call, "not mine", 0).await;
            assert_eq!(s, 404, "{who} may not write the notes");
            let (s, _) = common::json(c.get(d.url(&path))).await;
            assert_eq!(s, 404, "{who} may not read the notes");
        }
        let sup = d.login("sup@x.io").await;
        let (s, body) = d.save_notes(&sup, call, "Supervisor note", 0).await;
        assert_eq!(s, 200, "{body}");
        let long = "x".repeat(palera_core::desk::MAX_NOTES_CHARS + 1);
        let (s, body) = d.save_notes(&sup, call, &long, 1).await;
        assert_eq!((s, body["error"]["field"].clone()), (422, json!("text")));
        // A disposition's notes never replace notes saved during the call: they are appended.
        assert!(d
            .store()
            .set_call_disposition(call, None, "Sale", "Paid by card")
            .await
            .unwrap());
        let n = d.store().call_notes(d.client, call).await.unwrap();
        assert_eq!(n.text, "Supervisor note\nPaid by card");
        assert_eq!(n.version, 2);
    }
);

rule!(
    the_card_shows_details_list_calls_notes_script_and_dispositions,
    open_hours(),
    |d: Desk| async move {
        let sup = d.login("sup@x.io").await;
        let camp = json!({"name": "Spring", "caller_id": CALLER, "lists": [d.list.0],
            "script_url": "http://insecure.example.com/script.pdf"});
        let campaigns = d.url(&format!("/api/v1/clients/{}/campaigns", d.client));
        let (s, body) = common::json(sup.post(&campaigns).json(&camp)).await;
        assert_eq!(
            (s, body["error"]["field"].clone()),
            (422, json!("script_url")),
            "{body}"
        );
        assert!(
            d.store().campaigns(d.client).await.unwrap().is_empty(),
            "nothing is stored when the script is refused"
        );
        let camp = json!({"name": "Spring", "caller_id": CALLER, "lists": [d.list.0],
            "script_text": "Hello {{contact.first_name}}", "script_url": "https://scripts.example.com/spring.pdf"});
        let (s, created) = common::json(sup.post(&campaigns).json(&camp)).await;
        assert_eq!(s, 201, "{created}");
        assert_eq!(
            created["script"]["url"],
            "https://scripts.example.com/spring.pdf"
        );
        let id = created["id"].as_i64().unwrap();
        let (s, _) = common::json(
            sup.put(d.url(&format!(
                "/api/v1/clients/{}/campaigns/{id}/dispositions",
                d.client
            )))
            .json(&json!([{"label": "Sale", "effect": "final"}])),
        )
        .await;
        assert_eq!(s, 200);
        let call = d.call().await;
        let agent = d.login("agent@x.io").await;
        d.save_notes(&agent, call, "Interested", 0).await;
        let (s, card) = common::json(agent.get(d.url(&format!(
            "/api/v1/contacts/{}/card?call_id={call}&campaign_id={id}",
            d.contact
        ))))
        .await;
        assert_eq!(s, 200, "{card}");
        assert_eq!(card["contact"]["first_name"], "Casey");
        assert_eq!(card["list"]["name"], "Leads");
        assert_eq!(card["properties"][0]["name"], "budget");
        assert_eq!(card["notes"]["text"], "Interested");
        assert_eq!(card["script"]["text"], "Hello {{contact.first_name}}");
        assert_eq!(card["dispositions"][0]["label"], "Sale");
        assert_eq!(card["calls"][0]["id"], call.0);
        assert_eq!(card["calls"][0]["agent"], "agent");
        assert_eq!(
            card["conversation_url"],
            format!("/clients/{}/contacts/{}/conversation", d.client, d.contact)
        );
        // Another client's agent does not see the contact at all.
        let stranger = d.login("stranger@x.io").await;
        let (s, _) =
            common::json(stranger.get(d.url(&format!("/api/v1/contacts/{}/card", d.contact))))
                .await;
        assert_eq!(s, 404);
        let _ = d.other_client;
    }
);

rule!(
    an_inline_edit_is_validated_against_the_schema_and_recorded_with_the_agent_as_author,
    open_hours(),
    |d: Desk| async move {
        let agent = d.login("agent@x.io").await;
        let path = d.url(&format!("/api/v1/contacts/{}/field", d.contact));
        let edit = |field: &str, value: Value| {
            agent
                .post(&path)
                .json(&json!({"field": field, "value": value}))
        };
        let (s, body) = common::json(edit("properties.budget", json!("lots"))).await;
        assert_eq!(s, 422);
        assert_eq!(body["error"]["field"], "properties.budget");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("is not a number"),
            "{body}"
        );
        let (s, body) = common::json(edit("properties.plan", json!("Gold"))).await;
        assert_eq!(
            (s, body["error"]["field"].clone()),
            (422, json!("properties.plan"))
        );
        let (s, body) = common::json(edit("email", json!("not-an-email"))).await;
        assert_eq!((s, body["error"]["field"].clone()), (422, json!("email")));
        let (s, body) = common::json(edit("phone", json!("+12125550199"))).await;
        assert_eq!((s, body["error"]["field"].clone()), (422, json!("phone")));
        let (s, body) = common::json(edit("properties.nope", json!("x"))).await;
        assert_eq!(
            (s, body["error"]["field"].clone()),
            (422, json!("properties.nope"))
        );
        let (s, body) = common::json(edit("properties.budget", json!("1200"))).await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["properties"]["budget"], 1200.0);
        let (s, body) = common::json(edit("first_name", json!("Cassie"))).await;
        assert_eq!((s, body["first_name"].clone()), (200, json!("Cassie")));
        let history = d
            .store()
            .contact_history(d.client, d.contact)
            .await
            .unwrap();
        let edits: Vec<_> = history
            .iter()
            .filter(|h| h.source == "desktop")
            .map(|h| (h.field.as_str(), h.new_value.as_deref(), h.user_id))
            .collect();
        assert_eq!(
            edits,
            vec![
                ("properties.budget", Some("1200.0"), Some(d.agent)),
                ("first_name", Some("Cassie"), Some(d.agent)),
            ]
        );
    }
);

rule!(
    the_conversation_interleaves_calls_with_changes_and_list_moves_newest_first,
    open_hours(),
    |d: Desk| async move {
        let call = d.call().await;
        let agent = d.login("agent@x.io").await;
        d.save_notes(&agent, call, "Asked for a brochure", 0).await;
        let (s, _) = common::json(
            agent
                .post(d.url(&format!("/api/v1/contacts/{}/field", d.contact)))
                .json(&json!({"field": "properties.plan", "value": "Pro"})),
        )
        .await;
        assert_eq!(s, 200);
        let later = d
            .store()
            .create_list(d.client, "Follow-ups", 2)
            .await
            .unwrap()
            .id;
        d.store()
            .move_contacts(
                d.client,
                &palera_store::contacts::ContactSelection::Ids(vec![d.contact]),
                Some(later),
                &Actor::user(d.agent, "api"),
                chrono::Utc::now().timestamp_millis(),
            )
            .await
            .unwrap();
        let (s, entries) = common::json(agent.get(d.url(&format!(
            "/api/v1/clients/{}/contacts/{}/conversation",
            d.client, d.contact
        ))))
        .await;
        assert_eq!(s, 200, "{entries}");
        let kinds: Vec<&str> = entries
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        // Newest first: the move, the property change, the call (placed at 1 s), the first list.
        assert_eq!(kinds, vec!["list", "property", "call", "list"], "{entries}");
        assert_eq!(entries[0]["old_value"], "Leads");
        assert_eq!(entries[0]["new_value"], "Follow-ups");
        assert_eq!(entries[0]["by"], "agent");
        assert_eq!(entries[1]["field"], "properties.plan");
        assert_eq!(entries[2]["call"]["notes"], "Asked for a brochure");
        assert_eq!(entries[2]["call"]["manual"], true);
        assert_eq!(entries[2]["call"]["agent"], "agent");
        // The page shows the same timeline.
        let page = agent
            .get(d.url(&format!(
                "/clients/{}/contacts/{}/conversation",
                d.client, d.contact
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(
            html.contains("Asked for a brochure") && html.contains("Follow-ups"),
            "{html}"
        );
    }
);

rule!(
    a_manual_call_to_a_do_not_call_number_is_refused_with_a_clear_message,
    open_hours(),
    |d: Desk| async move {
        let sup = d.login("sup@x.io").await;
        let (s, _) = common::json(
            sup.post(d.url(&format!("/api/v1/clients/{}/dnc", d.client)))
                .json(&json!({"number": "+13035550199"})),
        )
        .await;
        assert!(s == 200 || s == 201, "DNC add: {s}");
        let agent = d.standby_agent().await;
        let (s, body) = common::json(
            agent
                .post(d.url("/api/v1/me/manual-call"))
                .json(&json!({"number": "(303) 555-0199"})),
        )
        .await;
        assert_eq!(s, 422, "{body}");
        assert_eq!(body["error"]["code"], "do_not_call");
        assert_eq!(body["error"]["field"], "number");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("+13035550199 is on the do-not-call list"),
            "{body}"
        );
        let phone = PhoneNumber::parse_e164("+13035550199").unwrap();
        assert!(
            d.store()
                .contact_by_phone(d.client, &phone)
                .await
                .unwrap()
                .is_none(),
            "a refused call creates no contact"
        );
        let (s, body) = common::json(
            agent
                .post(d.url("/api/v1/me/manual-call"))
                .json(&json!({"number": "12"})),
        )
        .await;
        assert_eq!((s, body["error"]["field"].clone()), (422, json!("number")));
    }
);

rule!(
    a_manual_call_outside_the_calling_window_is_refused,
    // 03:00 UTC: 22:00 in New York, 19:00 in Los Angeles.
    "2026-03-03T03:00:00Z".parse().unwrap(),
    |d: Desk| async move {
        let offline = d.login("agent@x.io").await;
        let (s, body) = common::json(
            offline
                .post(d.url("/api/v1/me/manual-call"))
                .json(&json!({"number": CONTACT})),
        )
        .await;
        assert_eq!(s, 422, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Offline"),
            "{body}"
        );
        let agent = d.standby_agent().await;
        let (s, body) = common::json(
            agent
                .post(d.url("/api/v1/me/manual-call"))
                .json(&json!({"number": CONTACT})),
        )
        .await;
        assert_eq!(s, 422, "{body}");
        assert_eq!(body["error"]["code"], "outside_calling_window");
        let msg = body["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("08:00") && msg.contains("21:00") && msg.contains("America/New_York"),
            "{msg}"
        );
        // Still open on the west coast (19:00 in Los Angeles).
        let (s, body) = common::json(
            agent
                .post(d.url("/api/v1/me/manual-call"))
                .json(&json!({"number": "(415) 555-0142"})),
        )
        .await;
        assert_eq!(s, 201, "{body}");
    }
);

rule!(
    a_manual_call_goes_through_the_carrier_is_logged_and_ends_in_wrap_up_with_the_clients_dispositions,
    open_hours(),
    |d: Desk| async move {
        let agent = d.login("agent@x.io").await;
        let (s, _) = common::json(
            agent
                .put(d.url("/api/v1/me/voice-state"))
                .json(&json!({"state": "standby"})),
        )
        .await;
        assert_eq!(s, 200);
        // A national number of the client's default country; nobody has it yet.
        let (s, placed) = common::json(
            agent
                .post(d.url("/api/v1/me/manual-call"))
                .json(&json!({"number": "(303) 555-0123"})),
        )
        .await;
        assert_eq!(s, 201, "{placed}");
        assert_eq!(placed["phone"], "+13035550123");
        assert_eq!(placed["contact_created"], true);
        let call = CallId(placed["call_id"].as_i64().unwrap());
        let contact = ContactId(placed["contact_id"].as_i64().unwrap());
        let created = d.store().contact(d.client, contact).await.unwrap();
        assert_eq!(created.list_id, None, "a new contact is in no list");
        // Busy with this call, the agent cannot place another.
        let (s, busy) = common::json(
            agent
                .post(d.url("/api/v1/me/manual-call"))
                .json(&json!({"number": CONTACT})),
        )
        .await;
        assert_eq!(s, 422, "{busy}");
        eventually("the contact answers and the agent is connected", WAIT, || async {
            d.store().call_unscoped(call).await.unwrap().connected_at.map(|_| ())
        })
        .await;
        for action in ["hold", "resume"] {
            let r = agent
                .post(d.url(&format!("/api/v1/calls/{call}/{action}")))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 204, "{action}");
        }
        let other = d.login("agent2@x.io").await;
        let r = other
            .post(d.url(&format!("/api/v1/calls/{call}/hangup")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "only the call's agent controls it");
        let r = agent
            .post(d.url(&format!("/api/v1/calls/{call}/hangup")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        // The end is two writes (the call row, then its event): wait for both.
        let ended = eventually("the call ends", WAIT, || async {
            let c = d.store().call_unscoped(call).await.unwrap();
            let kinds = d.store().call_event_kinds(call).await.unwrap();
            c.ended_at
                .filter(|_| kinds.iter().any(|k| k == "ended"))
                .map(|_| c)
        })
        .await;
        assert_eq!(ended.outcome, "completed");
        assert_eq!(ended.campaign_id, None);
        assert_eq!(ended.agent_id, Some(d.agent));
        let kinds = d.store().call_event_kinds(call).await.unwrap();
        for k in ["manual_dial", "hold", "resume", "agent_hung_up", "ended"] {
            assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
        }
        let (s, entries) = common::json(agent.get(d.url(&format!(
            "/api/v1/clients/{}/contacts/{contact}/conversation",
            d.client
        ))))
        .await;
        assert_eq!(s, 200);
        assert_eq!(entries[0]["kind"], "call");
        assert_eq!(entries[0]["call"]["manual"], true);
        assert_eq!(entries[0]["call"]["status"], "answered");
        // The call is in wrap-up with the client's own dispositions: no next call before one is
        // saved. A callback is typed in the contact's zone and checked against the window.
        let (s, busy) = common::json(
            agent
                .post(d.url("/api/v1/me/manual-call"))
                .json(&json!({"number": CONTACT})),
        )
        .await;
        assert_eq!(s, 422, "in wrap-up: {busy}");
        let (s, facts) = common::json(agent.get(d.url(&format!("/api/v1/calls/{call}/wrap-up")))).await;
        assert_eq!(s, 200, "{facts}");
        assert_eq!(facts["time_zone"], "America/Denver");
        assert_eq!(facts["window_start"], "08:00");
        assert_eq!(facts["window_end"], "21:00");
        let set = d.store().client_dispositions(d.client).await.unwrap();
        let callback = set.iter().find(|x| x.label == "Call back").unwrap().id;
        let (s, late) = common::json(
            agent
                .post(d.url(&format!("/api/v1/calls/{call}/disposition")))
                .json(&json!({"disposition_id": callback, "callback_local": "2026-03-02T22:30:00"})),
        )
        .await;
        assert_eq!(s, 422, "{late}");
        assert_eq!(late["error"]["field"], "callback_local");
        assert!(
            late["error"]["message"].as_str().unwrap().contains("outside the calling window"),
            "{late}"
        );
        let r = agent
            .post(d.url(&format!("/api/v1/calls/{call}/disposition")))
            .json(&json!({"disposition_id": callback, "callback_local": "2026-03-03T10:00:00"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(
            d.store().call_unscoped(call).await.unwrap().disposition.as_deref(),
            Some("Call back")
        );
        let (s, list) = common::json(agent.get(d.url("/api/v1/me/callbacks"))).await;
        assert_eq!(s, 200);
        assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
        assert_eq!(list[0]["time_zone"], "America/Denver");
        assert_eq!(list[0]["local_time"], "Tue 3 Mar 10:00");
        assert_eq!(list[0]["due_at"], "2026-03-03T17:00:00Z");
        assert_eq!(list[0]["phone"], "+13035550123");
        // Free again: the next manual call may be placed.
        eventually("the agent is free again", WAIT, || async {
            let (s, _) = common::json(
                agent
                    .post(d.url("/api/v1/me/manual-call"))
                    .json(&json!({"number": CONTACT})),
            )
            .await;
            (s == 201).then_some(())
        })
        .await;
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desktop_endpoints_are_in_the_openapi_document() {
    let d = desk(Backend::Sqlite, open_hours()).await.unwrap();
    let (s, doc) = common::json(common::client().get(d.url("/api/openapi.json"))).await;
    assert_eq!(s, 200);
    for p in [
        "/api/v1/calls/{call_id}/notes",
        "/api/v1/contacts/{contact_id}/card",
        "/api/v1/contacts/{contact_id}/field",
        "/api/v1/clients/{client_id}/contacts/{contact_id}/conversation",
        "/api/v1/me/manual-call",
        "/api/v1/me/callbacks",
        "/api/v1/me/today",
        "/api/v1/calls/{call_id}/wrap-up",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} is documented");
    }
    assert!(doc["paths"]["/api/v1/calls/{call_id}/notes"]["put"]["responses"]["409"].is_object());
}

rule!(
    a_manual_call_is_recorded_and_transcribed_only_when_the_client_chooses_it,
    open_hours(),
    |d: Desk| async move {
        let agent = d.standby_agent().await;
        // One manual call with the client's default settings, one after it chooses recording.
        let mut recorded = Vec::new();
        for (i, record) in [false, true].into_iter().enumerate() {
            let settings = palera_store::recordings::RecordingSettings {
                record_manual_calls: record,
                transcribe_manual_calls: record,
                ..Default::default()
            };
            d.store()
                .save_recording_settings(d.client, &settings, 1)
                .await
                .unwrap();
            let (s, placed) = common::json(
                agent
                    .post(d.url("/api/v1/me/manual-call"))
                    .json(&json!({"number": format!("(303) 555-012{i}")})),
            )
            .await;
            assert_eq!(s, 201, "{placed}");
            let call = CallId(placed["call_id"].as_i64().unwrap());
            eventually("the agent is connected", WAIT, || async {
                d.store()
                    .call_unscoped(call)
                    .await
                    .unwrap()
                    .connected_at
                    .map(|_| ())
            })
            .await;
            if record {
                let rec = eventually("the recording starts", WAIT, || async {
                    d.store().recording_for_call(d.client, call).await.unwrap()
                })
                .await;
                assert_eq!(rec.call_id, call);
            }
            let r = agent
                .post(d.url(&format!("/api/v1/calls/{call}/hangup")))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 204);
            eventually("the call ends", WAIT, || async {
                d.store()
                    .call_unscoped(call)
                    .await
                    .unwrap()
                    .ended_at
                    .map(|_| ())
            })
            .await;
            let set = d.store().client_dispositions(d.client).await.unwrap();
            let done = set.iter().find(|x| x.label == "Completed").unwrap().id;
            let r = agent
                .post(d.url(&format!("/api/v1/calls/{call}/disposition")))
                .json(&json!({"disposition_id": done}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 204);
            recorded.push(
                d.store()
                    .recording_for_call(d.client, call)
                    .await
                    .unwrap()
                    .is_some(),
            );
        }
        assert_eq!(
            recorded,
            [false, true],
            "recorded only once the client chose it"
        );
    }
);
