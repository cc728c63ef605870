//! Issue 7 end to end in Twilio mode: a progressive campaign call placed through a fake Twilio
//! (signed webhooks in Twilio's order: ringing, in-progress, then the async AMD verdict) reaches
//! the agent's desktop, is held and resumed through the API (the fake sees the participant
//! updates with the campaign's hold music), hung up, wrapped up and given a disposition; the
//! contact's attempt is counted once and a redelivered webhook changes nothing. A machine-answered
//! call never reaches the agent. Voicemail drop redirects the contact leg to the message and
//! removes the agent leg; the agent is free at once. On SQLite and PostgreSQL.

use crate::common;
use crate::common::eventually;
use crate::common::fake_twilio;

use chrono::{DateTime, Duration as CDuration, Utc};
use common::PASSWORD;
use fake_twilio::{FakeTwilio, Outcome};
use futures::StreamExt;
use palera_core::campaign::{CampaignSettings, DialMode};
use palera_core::contact::ContactData;
use palera_core::ids::{CallId, CampaignId, ClientId, ContactId};
use palera_core::phone::PhoneNumber;
use palera_core::tenant::ClientFields;
use palera_core::user::{Email, Role};
use palera_server::app::Clock;
use palera_server::config::CarrierMode;
use palera_server::App;
use palera_store::calls::Call;
use palera_store::campaigns::{CampaignInput, EffectKind, NewDisposition};
use palera_store::clients::SecretInput;
use palera_store::contacts::Actor;
use palera_store::testing::{fresh, TestDb};
use palera_store::users::NewUser;
use palera_store::{Backend, Store};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

pub(crate) const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
pub(crate) const TOKEN: &str = "auth-token-0123456789-SECRET";
pub(crate) const PUBLIC: &str = "https://voice.example.com";
pub(crate) const CALLER_ID: &str = "+14155550199";
pub(crate) const CONTACT: &str = "+14155550123";
pub(crate) const MUSIC: &str = "https://voice.example.com/audio/hold.mp3";
pub(crate) const VOICEMAIL: &str = "https://voice.example.com/audio/vm.mp3";

/// Monday noon in New York: inside the default calling window.
struct OpenHours(std::time::Instant);

impl Clock for OpenHours {
    fn now(&self) -> DateTime<Utc> {
        let base: DateTime<Utc> = "2026-03-02T17:00:00Z".parse().unwrap();
        base + CDuration::from_std(self.0.elapsed()).unwrap()
    }
}

pub(crate) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) struct Rig {
    pub(crate) base: String,
    pub(crate) app: App,
    pub(crate) db: TestDb,
    pub(crate) fake: FakeTwilio,
    pub(crate) client: ClientId,
    pub(crate) agent: i64,
    pub(crate) contact: ContactId,
    pub(crate) campaign: CampaignId,
    stop: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
}

/// Another node beside the rig's ([`Rig::second_node`]).
pub(crate) struct OtherNode {
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for OtherNode {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn phone(s: &str) -> PhoneNumber {
    PhoneNumber::parse_e164(s).unwrap()
}

async fn user(store: &Store, email: &str, role: Role, clients: Vec<ClientId>) -> i64 {
    store
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
        .id
        .0
}

/// A Twilio-mode server on a fixed-hours clock, the fake Twilio in front of it, and a client
/// with credentials, a number, a list with one contact, an agent and a progressive campaign.
pub(crate) async fn rig(backend: Backend, answer: Outcome, amd: bool) -> Option<Rig> {
    let db = fresh(backend).await?;
    let store = db.store.clone();
    // Webhooks go nowhere until the server below listens.
    let fake = FakeTwilio::start(ACCOUNT, TOKEN, PUBLIC, "http://127.0.0.1:9").await;
    fake.answer(CONTACT, answer);
    let (app, base, stop, served) = twilio_server(&db, &fake).await;
    let fields = ClientFields {
        name: "Acme".into(),
        account_sid: Some(ACCOUNT.into()),
        voice_enabled: Some(true),
        calls_per_second: Some(50.0),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let secrets = SecretInput {
        auth_token: Some(TOKEN.into()),
        api_key_secret: None,
    };
    let client = store
        .create_client(&fields, &secrets, &[phone(CALLER_ID)], 1)
        .await
        .unwrap()
        .id;
    let agent = user(&store, "ann@x.io", Role::Agent, vec![client]).await;
    user(&store, "bob@x.io", Role::Agent, vec![client]).await;
    user(&store, "boss@x.io", Role::Admin, vec![]).await;
    let list = store.create_list(client, "Leads", 1).await.unwrap().id;
    let data = ContactData {
        phone: phone(CONTACT),
        first_name: "Dana".into(),
        last_name: "Reyes".into(),
        email: None,
        time_zone: Some(chrono_tz::America::New_York),
        properties: Default::default(),
    };
    let contact = store
        .create_contact(client, Some(list), &data, &Actor::system("test"), 1)
        .await
        .unwrap()
        .id;
    let input = CampaignInput {
        name: "Spring".into(),
        settings: CampaignSettings {
            dial_mode: DialMode::Progressive,
            calls_per_second: 50.0,
            wrap_up_seconds: 120,
            amd,
            ..Default::default()
        },
        caller_id: CALLER_ID.into(),
        voicemail_url: Some(VOICEMAIL.into()),
        hold_music_url: Some(MUSIC.into()),
        recording: false,
        transcription: false,
        lists: vec![list],
        agents: vec![palera_core::ids::UserId(agent)],
    };
    let campaign = store.create_campaign(client, &input, 1).await.unwrap().id;
    let set = [NewDisposition {
        label: "Sale".into(),
        effect: EffectKind::Final,
        target_list: None,
    }];
    store
        .replace_dispositions(client, campaign, &set)
        .await
        .unwrap();
    Some(Rig {
        base,
        app,
        db,
        fake,
        client,
        agent,
        contact,
        campaign,
        stop: Some(stop),
        served: Some(served),
    })
}

/// A Twilio-mode server on the rig's database, on a fixed-hours clock, its carrier pointed at the
/// fake Twilio and the fake's webhooks at it. Returns the app, its base URL, what stops it and
/// its task.
async fn twilio_server(
    db: &TestDb,
    fake: &FakeTwilio,
) -> (
    App,
    String,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    twilio_node(db.store.clone(), &db.url, fake, palera_store::DEFAULT_NODE).await
}

/// [`twilio_server`] for the node called `node`, on `store` (the same database).
async fn twilio_node(
    store: Store,
    url: &str,
    fake: &FakeTwilio,
    node: &str,
) -> (
    App,
    String,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let mut settings = common::test_settings(url);
    settings.carrier = CarrierMode::Twilio;
    settings.heartbeat_timeout_seconds = 3600;
    settings.node = node.into();
    let app = App::with_clock(
        store,
        settings,
        Arc::new(OpenHours(std::time::Instant::now())),
    );
    // Transcript jobs at the fake Twilio are looked at, and failures retried, on every pass.
    let mut parts = app.recordings.clone();
    parts.transcript_poll = Duration::from_millis(100);
    parts.policy = palera_core::recording::FetchPolicy {
        max_attempts: 3,
        first_wait: CDuration::milliseconds(100),
        cap: CDuration::milliseconds(500),
    };
    let app = app.with_recordings(parts);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    *app.carriers.twilio_base_url.lock().unwrap() = fake.base.clone();
    *app.carriers.twilio_intelligence_url.lock().unwrap() = fake.base.clone();
    fake.deliver_to(&base);
    let (stop, rx) = oneshot::channel::<()>();
    let served = app.clone();
    let task = tokio::spawn(async move {
        let _ = palera_server::serve(served, listener, async {
            let _ = rx.await;
        })
        .await;
    });
    (app, base, stop, task)
}

impl Rig {
    /// Stops the server (HTTP, engine and workers; calls at Twilio go on) and starts a new one
    /// on the same database, as a restarted process. Webhooks sent while it was down are lost.
    pub(crate) async fn restart(&mut self) {
        self.stop_server().await;
        self.start_server().await;
    }

    /// Stops the server (HTTP, engine and workers); calls at Twilio go on, webhooks are lost.
    pub(crate) async fn stop_server(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.served.take() {
            tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .expect("the server stops within 10 s")
                .unwrap();
        }
        self.fake.deliver_to("http://127.0.0.1:9");
        // The stopped server's campaign lead (a PostgreSQL session lock) ends with its session, as
        // a stopped process's does; PostgreSQL releases it a moment after the session closes.
        if self.db.store.backend() == Backend::Postgres {
            use sqlx::Row;
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while std::time::Instant::now() < deadline {
                let held: i64 = sqlx::query(
                    "SELECT COUNT(*) AS n FROM pg_locks WHERE locktype = 'advisory' \
                     AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                )
                .fetch_one(self.db.store.pool())
                .await
                .unwrap()
                .try_get("n")
                .unwrap();
                if held == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// Starts a new server on the rig's database (after [`Rig::stop_server`]).
    pub(crate) async fn start_server(&mut self) {
        let (app, base, stop, served) = twilio_server(&self.db, &self.fake).await;
        (self.app, self.base) = (app, base);
        self.stop = Some(stop);
        self.served = Some(served);
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Starts another node (`node`) on the rig's database, a process of its own with its own
    /// store; the fake Twilio's webhooks go to it from now on. It stops when dropped.
    pub(crate) async fn second_node(&self, node: &str) -> OtherNode {
        let store = Store::connect(&self.db.url, palera_store::testing::test_secrets())
            .await
            .unwrap();
        let (app, _base, stop, _served) = twilio_node(store, &self.db.url, &self.fake, node).await;
        common::engine_started(&app).await;
        OtherNode { stop: Some(stop) }
    }

    pub(crate) async fn login(&self, email: &str) -> (reqwest::Client, String) {
        let c = common::client();
        let r = c
            .post(self.url("/api/v1/session"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "login as {email}");
        let cookie = r.headers()["set-cookie"].to_str().unwrap();
        (c, cookie.split(';').next().unwrap().to_string())
    }

    /// The agent's desktop socket, open and Ready.
    pub(crate) async fn ready_desktop(&self) -> (reqwest::Client, Ws) {
        let (http, cookie) = self.login("ann@x.io").await;
        let ws = self.desktop(&cookie).await;
        let (status, body) = common::json(
            http.put(self.url("/api/v1/me/voice-state"))
                .json(&json!({"state": "ready"})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        (http, ws)
    }

    pub(crate) async fn desktop(&self, cookie: &str) -> Ws {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = format!("{}/ws/desktop", self.base.replace("http", "ws"))
            .into_client_request()
            .unwrap();
        req.headers_mut().insert("cookie", cookie.parse().unwrap());
        tokio_tungstenite::connect_async(req).await.unwrap().0
    }

    pub(crate) async fn start(&self) {
        let (boss, _) = self.login("boss@x.io").await;
        let path = format!(
            "/api/v1/clients/{}/campaigns/{}/status/start",
            self.client, self.campaign
        );
        let (status, body) = common::json(boss.post(self.url(&path))).await;
        assert_eq!(status, 200, "{body}");
    }

    pub(crate) async fn only_call(&self) -> Call {
        let calls = self.db.store.campaign_calls(self.campaign).await.unwrap();
        assert_eq!(calls.len(), 1, "{calls:#?}");
        calls.into_iter().next().unwrap()
    }

    pub(crate) async fn events(&self, call: CallId) -> Vec<String> {
        self.db.store.call_event_kinds(call).await.unwrap()
    }
}

/// The next desktop message of `kind` (others skipped), at most 10 s away. Returns every message
/// skipped on the way too, so a test can tell what came before.
pub(crate) async fn until(ws: &mut Ws, kind: &str) -> (Value, Vec<Value>) {
    let mut skipped = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let m = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} message within 10 s; got {skipped:#?}"))
            .expect("socket open")
            .unwrap();
        let Ok(text) = m.into_text() else { continue };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if v["type"] == kind {
            return (v, skipped);
        }
        skipped.push(v);
    }
}

async fn a_campaign_call_through_twilio_reaches_the_desktop_is_held_resumed_and_completed(
    backend: Backend,
) {
    let Some(r) = rig(backend, Outcome::Human, true).await else {
        return;
    };
    let (http, mut ws) = r.ready_desktop().await;
    r.start().await;

    // The offer names the contact; the connection comes only after the AMD verdict.
    let (offered, _) = until(&mut ws, "call_offered").await;
    assert_eq!(offered["contact"]["name"], "Dana Reyes", "{offered}");
    assert_eq!(offered["contact"]["phone"], CONTACT);
    let call_id = offered["call_id"].as_i64().unwrap();
    until(&mut ws, "call_connected").await;
    let call = CallId(call_id);

    let created = r.fake.requests_to("POST", "/Calls.json");
    assert_eq!(created.len(), 1, "one dial: {created:#?}");
    assert_eq!(created[0].get("To"), Some(CONTACT));
    assert_eq!(created[0].get("From"), Some(CALLER_ID));
    assert_eq!(
        created[0].get("StatusCallback"),
        Some(format!("{PUBLIC}/twilio/{}/status?call_id={call_id}", r.client).as_str())
    );
    assert_eq!(created[0].get("MachineDetection"), Some("DetectMessageEnd"));
    assert_eq!(created[0].get("AsyncAmd"), Some("true"));
    let sid = r.fake.call_to(CONTACT).unwrap();

    let agent_to = format!("client:agent-{}", r.agent);
    let added = r.fake.requests_to(
        "POST",
        &format!("/Conferences/call-{call_id}/Participants.json"),
    );
    assert_eq!(added.len(), 1, "{added:#?}");
    assert_eq!(added[0].get("To"), Some(agent_to.as_str()));
    let kinds = r.events(call).await;
    let detecting = kinds.iter().position(|k| k == "answered_detecting");
    assert!(detecting.is_some(), "the answer waited for AMD: {kinds:?}");
    eventually(
        "the agent's join is recorded",
        Duration::from_secs(10),
        || async { r.events(call).await.iter().any(|k| k == "agent_connected") },
    )
    .await;
    assert_eq!(r.only_call().await.answered_by.as_deref(), Some("human"));

    // Hold: only the call's agent may; the fake sees the hold music; a reload shows it.
    let hold = format!("/api/v1/calls/{call_id}/hold");
    let (bob, _) = r.login("bob@x.io").await;
    let (status, body) = common::json(bob.post(r.url(&hold))).await;
    assert_eq!(status, 404, "another agent cannot hold the call: {body}");
    let (status, body) = common::json(http.post(r.url(&hold))).await;
    assert_eq!(status, 204, "{body}");
    let (held, _) = until(&mut ws, "call_hold").await;
    assert_eq!(held["on_hold"], true);
    let update = format!("/Participants/{sid}.json");
    let updates = r.fake.requests_to("POST", &update);
    assert_eq!(updates.len(), 1, "{updates:#?}");
    assert_eq!(updates[0].get("Hold"), Some("true"));
    assert_eq!(updates[0].get("HoldUrl"), Some(MUSIC));
    assert_eq!(updates[0].get("HoldMethod"), Some("GET"));
    assert!(r.events(call).await.iter().any(|k| k == "hold"));
    let (_, cookie) = r.login("ann@x.io").await;
    let mut reloaded = r.desktop(&cookie).await;
    let (again, _) = until(&mut reloaded, "call_hold").await;
    assert_eq!(again["on_hold"], true, "a reloaded desktop shows the hold");
    drop(reloaded);

    let (status, body) =
        common::json(http.post(r.url(&format!("/api/v1/calls/{call_id}/resume")))).await;
    assert_eq!(status, 204, "{body}");
    let (resumed, _) = until(&mut ws, "call_hold").await;
    assert_eq!(resumed["on_hold"], false);
    let updates = r.fake.requests_to("POST", &update);
    assert_eq!(updates.len(), 2, "{updates:#?}");
    assert_eq!(updates[1].get("Hold"), Some("false"));

    // Hang up: Twilio is told, the call ends, the desktop is in wrap-up.
    let (status, body) =
        common::json(http.post(r.url(&format!("/api/v1/calls/{call_id}/hangup")))).await;
    assert_eq!(status, 204, "{body}");
    let ended = r
        .fake
        .wait_for_requests("POST", &format!("/Calls/{sid}.json"), 1)
        .await;
    assert_eq!(ended.len(), 1, "{ended:#?}");
    assert_eq!(ended[0].get("Status"), Some("completed"));
    let (wrap, _) = until(&mut ws, "call_ended").await;
    assert_eq!(wrap["call_id"], call_id);
    assert_eq!(wrap["dispositions"][0]["label"], "Sale");

    // Every webhook so far was accepted; delivering each again changes nothing.
    let deliveries = r.fake.wait_for_deliveries(r.fake.deliveries().len()).await;
    assert!(
        deliveries.iter().all(|d| d.status == 204),
        "{deliveries:#?}"
    );
    let before = (r.only_call().await, r.events(call).await);
    for i in 0..deliveries.len() {
        assert_eq!(r.fake.redeliver(i).await.status, 204);
    }
    assert_eq!((r.only_call().await, r.events(call).await), before);

    let disposition = wrap["dispositions"][0]["id"].as_i64().unwrap();
    let (status, body) = common::json(
        http.post(r.url(&format!("/api/v1/calls/{call_id}/disposition")))
            .json(&json!({"disposition_id": disposition, "notes": "bought"})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    until(&mut ws, "call_cleared").await;

    let row = r.only_call().await;
    assert_eq!(row.outcome, "completed");
    assert_eq!(row.status, "answered");
    assert_eq!(row.agent_id.map(|a| a.0), Some(r.agent));
    assert_eq!(row.disposition.as_deref(), Some("Sale"));
    assert_eq!(row.notes, "bought");
    assert!(row.ended_at.is_some());
    let cc =
        r.db.store
            .campaign_contact(r.campaign, r.contact)
            .await
            .unwrap();
    assert_eq!(cc.attempts.attempts, 1, "one attempt counted: {cc:#?}");
    assert_eq!(cc.in_flight, None);
    let (status, body) = common::json(http.post(r.url(&hold))).await;
    assert_eq!(status, 404, "a finished call cannot be held: {body}");
    let (_, doc) = common::json(http.get(r.url("/api/openapi.json"))).await;
    for action in ["hold", "resume", "hangup"] {
        let path = format!("/api/v1/calls/{{call_id}}/{action}");
        assert!(doc["paths"][&path]["post"].is_object(), "{path} documented");
    }
}

async fn without_amd_an_answered_twilio_call_goes_to_the_agent_at_once(backend: Backend) {
    let Some(r) = rig(backend, Outcome::Human, false).await else {
        return;
    };
    let (_http, mut ws) = r.ready_desktop().await;
    r.start().await;
    let (offered, _) = until(&mut ws, "call_offered").await;
    let call_id = offered["call_id"].as_i64().unwrap();
    until(&mut ws, "call_connected").await;
    let created = r.fake.requests_to("POST", "/Calls.json");
    assert_eq!(created[0].get("MachineDetection"), None, "{created:#?}");
    let added = r.fake.requests_to(
        "POST",
        &format!("/Conferences/call-{call_id}/Participants.json"),
    );
    assert_eq!(added.len(), 1, "{added:#?}");
    let kinds = r.events(CallId(call_id)).await;
    assert!(
        !kinds.iter().any(|k| k == "answered_detecting"),
        "{kinds:?}"
    );
    assert_eq!(r.only_call().await.answered_by.as_deref(), Some("human"));
}

async fn a_machine_answered_twilio_call_never_reaches_the_agent(backend: Backend) {
    let Some(r) = rig(backend, Outcome::Machine, true).await else {
        return;
    };
    let (_http, mut ws) = r.ready_desktop().await;
    r.start().await;
    let (offered, _) = until(&mut ws, "call_offered").await;
    let call = CallId(offered["call_id"].as_i64().unwrap());
    let (_, between) = until(&mut ws, "call_cleared").await;
    assert!(
        between.iter().all(|m| m["type"] != "call_connected"),
        "{between:#?}"
    );
    eventually(
        "the voicemail message is left after the beep",
        Duration::from_secs(10),
        || async { r.events(call).await.iter().any(|k| k == "voicemail_left") },
    )
    .await;
    let row = r.only_call().await;
    assert_eq!(row.answered_by.as_deref(), Some("machine"));
    assert_eq!(row.outcome, "machine");
    assert_eq!(row.connected_at, None);
    let added = r.fake.requests_to("POST", "/Participants.json");
    assert!(added.is_empty(), "no agent was added: {added:#?}");
    let kinds = r.events(call).await;
    assert!(!kinds.iter().any(|k| k == "agent_connected"), "{kinds:?}");
}

async fn voicemail_drop_through_twilio_plays_the_message_on_the_contact_leg_and_releases_the_agent(
    backend: Backend,
) {
    let Some(r) = rig(backend, Outcome::Human, false).await else {
        return;
    };
    r.fake.message_ms(1500);
    let (http, mut ws) = r.ready_desktop().await;
    r.start().await;
    let (offered, _) = until(&mut ws, "call_offered").await;
    let call_id = offered["call_id"].as_i64().unwrap();
    let call = CallId(call_id);
    until(&mut ws, "call_connected").await;
    let sid = r.fake.call_to(CONTACT).unwrap();
    let added = r.fake.requests_to(
        "POST",
        &format!("/Conferences/call-{call_id}/Participants.json"),
    );
    assert_eq!(added.len(), 1, "{added:#?}");

    let drop_path = format!("/api/v1/calls/{call_id}/voicemail-drop");
    let (bob, _) = r.login("bob@x.io").await;
    let (status, body) = common::json(bob.post(r.url(&drop_path))).await;
    assert_eq!(status, 404, "only the call's agent drops voicemail: {body}");
    let (status, body) = common::json(http.post(r.url(&drop_path))).await;
    assert_eq!(status, 204, "{body}");

    // Twilio: the contact leg is redirected to the message, then the agent leg is removed.
    let redirected = r
        .fake
        .wait_for_requests("POST", &format!("/Calls/{sid}.json"), 1)
        .await;
    assert_eq!(redirected.len(), 1, "{redirected:#?}");
    let twiml = redirected[0].get("Twiml").unwrap_or_default();
    assert!(
        twiml.contains(&format!("<Play>{VOICEMAIL}</Play>")) && twiml.contains("<Hangup/>"),
        "{twiml}"
    );
    assert_eq!(
        redirected[0].get("Status"),
        None,
        "not a hang-up: {redirected:#?}"
    );
    let agent_sid = r
        .fake
        .call_to(&format!("client:agent-{}", r.agent))
        .unwrap();
    r.fake
        .wait_for_requests("DELETE", &format!("/Participants/{agent_sid}.json"), 1)
        .await;
    let requests = r.fake.requests();
    let redirect_at = requests
        .iter()
        .position(|q| q.method == "POST" && q.path == format!("/Calls/{sid}.json"))
        .unwrap();
    let removed_at = requests
        .iter()
        .position(|q| {
            q.method == "DELETE" && q.path.ends_with(&format!("/Participants/{agent_sid}.json"))
        })
        .unwrap_or_else(|| panic!("the agent leg was not removed: {requests:#?}"));
    assert!(
        redirect_at < removed_at,
        "contact first, then the agent: {requests:#?}"
    );

    // The agent is free at once: no wrap-up, the desktop is cleared while the message plays.
    let (playing, _) = until(&mut ws, "call_audio").await;
    assert_eq!(playing["audio"], "message_playing", "{playing}");
    assert_eq!(playing["call_id"], call_id);
    let (_, between) = until(&mut ws, "call_cleared").await;
    assert!(
        between.iter().all(|m| m["type"] != "call_ended"),
        "{between:#?}"
    );
    assert!(
        r.only_call().await.ended_at.is_none(),
        "the message is still playing"
    );
    let (status, body) = common::json(http.post(r.url(&drop_path))).await;
    assert_eq!(status, 404, "the agent has left the call: {body}");

    // The message ends, Twilio hangs up: the call is logged as voicemail_dropped.
    let (ended, _) = until(&mut ws, "call_audio").await;
    assert_eq!(ended["audio"], "ended", "{ended}");
    let row = r.only_call().await;
    assert_eq!(row.outcome, "voicemail_dropped");
    assert_eq!(row.status, "abandoned");
    assert_eq!(row.disposition.as_deref(), Some("voicemail_dropped"));
    assert_eq!(row.agent_id.map(|a| a.0), Some(r.agent));
    let kinds = r.events(call).await;
    let dropped = kinds.iter().position(|k| k == "voicemail_dropped");
    let over = kinds.iter().position(|k| k == "ended");
    assert!(dropped.is_some() && dropped < over, "{kinds:?}");
    let cc =
        r.db.store
            .campaign_contact(r.campaign, r.contact)
            .await
            .unwrap();
    assert_eq!(cc.attempts.attempts, 1, "one attempt counted: {cc:#?}");
    assert_eq!(cc.in_flight, None);
    let deliveries = r.fake.deliveries();
    assert!(
        deliveries.iter().all(|d| d.status == 204),
        "{deliveries:#?}"
    );
    let (_, doc) = common::json(http.get(r.url("/api/openapi.json"))).await;
    assert!(
        doc["paths"]["/api/v1/calls/{call_id}/voicemail-drop"]["post"].is_object(),
        "voicemail drop is documented"
    );
}

/// Issue 17 in Twilio mode: a caller rings the client's number, is queued by the voice webhook,
/// offered at the agent's desktop, accepted (the queued call is redirected into the call's
/// conference and the agent's participant added), bridged (the conference reports the agent's
/// join), completed when the caller hangs up (the number's status callback names only the SID),
/// ends `answered` and puts the agent in wrap-up with the client's dispositions; a redelivered
/// voice webhook offers nothing twice and changes nothing.
async fn an_inbound_twilio_call_is_queued_offered_accepted_bridged_and_completed(backend: Backend) {
    let Some(r) = rig(backend, Outcome::Human, false).await else {
        return;
    };
    let (http, mut ws) = r.ready_desktop().await;
    let voice = format!("{PUBLIC}/twilio/{}/voice", r.client);
    let status = format!("{PUBLIC}/twilio/{}/status", r.client);
    let sid = r.fake.ring_in(CONTACT, CALLER_ID, &voice, &status);
    let (offer, _) = until(&mut ws, "inbound_offer").await;
    assert_eq!(offer["name"], "Dana Reyes", "the caller's card: {offer}");
    assert_eq!(offer["phone"], CONTACT);
    let call = CallId(offer["call_id"].as_i64().unwrap());
    let stored = r.db.store.call_unscoped(call).await.unwrap();
    assert_eq!(
        (stored.direction.as_str(), stored.carrier_sid.as_deref()),
        ("inbound", Some(sid.as_str()))
    );
    // The voice webhook answered with the queue.
    let first = r.fake.wait_for_deliveries(1).await;
    assert_eq!(first[0].status, 200);
    assert!(first[0].body.contains("<Enqueue"), "{}", first[0].body);
    // A retried voice webhook: the same document, no second call, no second offer.
    r.fake.redeliver(0).await;
    let inbound: Vec<_> =
        r.db.store
            .contact_calls(r.client, r.contact, 10)
            .await
            .unwrap()
            .into_iter()
            .filter(|c| c.direction == "inbound")
            .collect();
    assert_eq!(inbound.len(), 1, "{inbound:#?}");

    let accepted = http
        .post(r.url(&format!("/api/v1/calls/{call}/inbound/accept")))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 204);
    // Accepting answers at once; the carrier requests follow from the call's lane.
    let redirect = r
        .fake
        .wait_for_requests("POST", &format!("/Calls/{sid}.json"), 1)
        .await;
    assert_eq!(redirect.len(), 1, "the queued call is redirected once");
    let twiml = redirect[0].get("Twiml").unwrap_or_default();
    assert!(
        twiml.contains(&format!(">call-{call}</Conference>")),
        "{twiml}"
    );
    let added = r
        .fake
        .wait_for_requests(
            "POST",
            &format!("/Conferences/call-{call}/Participants.json"),
            1,
        )
        .await;
    assert_eq!(added.len(), 1, "{added:#?}");
    assert_eq!(
        added[0].get("To"),
        Some(format!("client:agent-{}", r.agent).as_str())
    );
    assert_eq!(
        added[0].get("From"),
        Some(CALLER_ID),
        "the agent leg shows the client's number"
    );
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

    r.fake.caller_hangs_up(&sid);
    eventually(
        "the inbound call ends answered",
        Duration::from_secs(10),
        || async {
            let c = r.db.store.call_unscoped(call).await.unwrap();
            c.ended_at.is_some() && c.outcome == "answered" && c.status == "answered"
        },
    )
    .await;
    // The agent wraps up with the client's own dispositions, as after a manual call.
    let (ended, _) = until(&mut ws, "call_ended").await;
    assert_eq!(ended["call_id"], call.0);
    assert_eq!(ended["dispositions"][0]["label"], "Completed", "{ended}");
    let deliveries = r.fake.deliveries();
    assert!(deliveries.iter().all(|d| d.status < 300), "{deliveries:#?}");
}

/// Calls an agent starts from the Voice SDK (the client's TwiML App) go through the manual-call
/// rules: allowed numbers are dialled as the agent's manual call from the client's number (a
/// retried webhook dials nothing more); do-not-call numbers and unknown browsers are refused with
/// the reason spoken to the browser.
async fn a_call_from_the_voice_sdk_goes_through_the_manual_call_rules(backend: Backend) {
    let Some(r) = rig(backend, Outcome::Human, false).await else {
        return;
    };
    let (_http, mut ws) = r.ready_desktop().await;
    let voice = format!("{PUBLIC}/twilio/{}/voice", r.client);
    let browser = format!("client:agent-{}", r.agent);
    let placed = |sid: &str, from: &str, to: &str| {
        vec![
            ("AccountSid", ACCOUNT.to_string()),
            ("CallSid", sid.to_string()),
            ("From", from.to_string()),
            ("To", to.to_string()),
            ("CallStatus", "ringing".to_string()),
            ("Direction", "inbound".to_string()),
        ]
    };
    let send = |params: Vec<(&'static str, String)>| {
        let p: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        r.fake.send(&voice, &p);
    };

    // On the do-not-call list: refused, nothing dialled.
    let blocked = "+14155550177";
    r.db.store
        .add_dnc(r.client, &phone(blocked), "test", 1)
        .await
        .unwrap();
    send(placed(
        "CA00000000000000000000000000000001",
        &browser,
        blocked,
    ));
    let got = r.fake.wait_for_deliveries(1).await;
    assert_eq!(got[0].status, 200, "{}", got[0].body);
    assert!(
        got[0].body.contains("The call was not placed") && got[0].body.contains("do-not-call"),
        "{}",
        got[0].body
    );
    // A browser that is not an agent's softphone.
    send(placed(
        "CA00000000000000000000000000000002",
        "client:someone",
        CONTACT,
    ));
    let got = r.fake.wait_for_deliveries(2).await;
    assert!(got[1].body.contains("not an agent"), "{}", got[1].body);
    assert!(
        r.fake.requests_to("POST", "/Calls.json").is_empty(),
        "nothing dialled"
    );

    // Allowed: the agent's manual call, from the client's number.
    send(placed(
        "CA00000000000000000000000000000003",
        &browser,
        CONTACT,
    ));
    let got = r.fake.wait_for_deliveries(3).await;
    assert!(
        got[2].body.contains(&format!("Calling {CONTACT}")),
        "{}",
        got[2].body
    );
    let (offer, _) = until(&mut ws, "manual_call").await;
    assert_eq!(offer["phone"], CONTACT);
    let dials = r.fake.requests_to("POST", "/Calls.json");
    assert_eq!(dials.len(), 1, "{dials:#?}");
    assert_eq!(
        (dials[0].get("To"), dials[0].get("From")),
        (Some(CONTACT), Some(CALLER_ID))
    );
    let call = CallId(offer["call_id"].as_i64().unwrap());
    let stored = r.db.store.call_unscoped(call).await.unwrap();
    assert_eq!(stored.agent_id, Some(palera_core::ids::UserId(r.agent)));
    // Twilio retries the webhook: told it is under way, no second dial.
    r.fake.redeliver(2).await;
    let third = "CA00000000000000000000000000000003";
    let again = loop {
        let answers: Vec<_> = r
            .fake
            .deliveries()
            .into_iter()
            .filter(|d| d.url == voice && d.get("CallSid") == Some(third))
            .collect();
        if answers.len() == 2 {
            break answers[1].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(again.body.contains("being placed"), "{}", again.body);
    assert_eq!(r.fake.requests_to("POST", "/Calls.json").len(), 1);
}

twins!(a_campaign_call_through_twilio_reaches_the_desktop_is_held_resumed_and_completed);
twins!(a_machine_answered_twilio_call_never_reaches_the_agent);
twins!(without_amd_an_answered_twilio_call_goes_to_the_agent_at_once);
twins!(voicemail_drop_through_twilio_plays_the_message_on_the_contact_leg_and_releases_the_agent);
twins!(an_inbound_twilio_call_is_queued_offered_accepted_bridged_and_completed);
twins!(a_call_from_the_voice_sdk_goes_through_the_manual_call_rules);
