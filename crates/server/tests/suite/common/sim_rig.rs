//! A demo-like installation for desktop tests: a server on the simulated network (behaviour and
//! speed chosen by the test, the network's tap open), a client with agents who log in with the
//! demo password, one list of contacts and a running campaign open around the clock with a
//! voicemail message and hold music.

#![allow(dead_code)]

pub use super::eventually;
use palera_carrier::sim::behaviour::{Behaviour, Seconds};
use palera_carrier::sim::realtime::{Observed, SimCarrier};
use palera_core::campaign::{CampaignSettings, DialMode};
use palera_core::contact::ContactData;
use palera_core::ids::{CampaignId, ClientId, ContactId, UserId};
use palera_core::phone::PhoneNumber;
use palera_core::tenant::ClientFields;
use palera_core::user::{Email, Role};
use palera_server::app::SystemClock;
use palera_server::engine::carriers::CarrierHub;
use palera_server::engine::directory::StoreDirectory;
use palera_server::App;
use palera_store::campaigns::{CampaignInput, CampaignStatus, EffectKind, NewDisposition};
use palera_store::clients::SecretInput;
use palera_store::contacts::Actor;
use palera_store::testing::{fresh, TestDb};
use palera_store::users::NewUser;
use palera_store::{Backend, Store};
use serde_json::json;
use std::sync::Arc;
use tokio::sync::{broadcast, oneshot};

pub const VOICEMAIL: &str = "https://media.test/voicemail.mp3";
pub const MUSIC: &str = "https://media.test/hold.mp3";

/// A fixed duration of network time.
pub fn secs(s: f64) -> Seconds {
    Seconds {
        mean: s,
        sd: 0.0,
        min: 0.1,
    }
}

/// Everyone answers after `ring` seconds and talks `talk` seconds (network time).
pub fn humans(ring: f64, talk: f64) -> Behaviour {
    Behaviour {
        human_pct: 100.0,
        machine_pct: 0.0,
        busy_pct: 0.0,
        failed_pct: 0.0,
        ring_seconds: secs(ring),
        talk_seconds: secs(talk),
        human_hangup_if_waiting_seconds: 30.0,
    }
}

pub struct Setup {
    pub behaviour: Behaviour,
    pub time_scale: f64,
    pub agents: usize,
    pub contacts: usize,
    pub mode: DialMode,
    pub wrap_up_seconds: u32,
    /// The campaign has a voicemail message.
    pub voicemail: bool,
    /// The campaign has hold music of its own (else hold plays the default).
    pub hold_music: bool,
    /// The campaign calls around the clock (else the legal default window, 08:00–21:00 local).
    pub all_day: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            behaviour: humans(1.0, 3600.0),
            time_scale: 5.0,
            agents: 1,
            contacts: 3,
            mode: DialMode::Progressive,
            wrap_up_seconds: 120,
            voicemail: true,
            hold_music: true,
            all_day: true,
        }
    }
}

pub struct SimRig {
    pub base: String,
    pub app: App,
    pub db: TestDb,
    pub client: ClientId,
    /// `agent{i}@sim.test`, in order.
    pub agents: Vec<UserId>,
    pub contacts: Vec<ContactId>,
    pub campaign: CampaignId,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for SimRig {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub fn agent_email(i: usize) -> String {
    format!("agent{i}@sim.test")
}

/// Starts the server and seeds the client; the campaign is not running yet ([`SimRig::start`]).
pub async fn sim_rig(backend: Backend, s: Setup) -> Option<SimRig> {
    let db = fresh(backend).await?;
    let store = db.store.clone();
    let fields = ClientFields {
        name: "Sim Co".into(),
        voice_enabled: Some(true),
        calls_per_second: Some(50.0),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let caller = PhoneNumber::parse_e164("+14155550100").unwrap();
    let client = store
        .create_client(
            &fields,
            &SecretInput::default(),
            std::slice::from_ref(&caller),
            1,
        )
        .await
        .unwrap()
        .id;
    let hash = palera_server::http::auth::hash_password(palera_server::cli::demo::DEMO_PASSWORD);
    let mut agents = Vec::new();
    for i in 0..s.agents {
        let u = store
            .create_user(
                &NewUser {
                    email: Email::parse("email", &agent_email(i)).unwrap(),
                    name: format!("Agent {i}"),
                    role: Role::Agent,
                    password_hash: hash.clone(),
                    voice_enabled: true,
                    clients: vec![client],
                },
                1,
            )
            .await
            .unwrap();
        agents.push(u.id);
    }
    let list = store.create_list(client, "Leads", 1).await.unwrap().id;
    let mut contacts = Vec::new();
    for i in 0..s.contacts {
        let data = ContactData {
            phone: PhoneNumber::parse_e164(&format!("+1212555{:04}", 100 + i)).unwrap(),
            first_name: format!("Contact{i:02}"),
            last_name: "Sim".into(),
            email: None,
            time_zone: Some(chrono_tz::America::New_York),
            properties: Default::default(),
        };
        let c = store
            .create_contact(client, Some(list), &data, &Actor::system("test"), 1)
            .await
            .unwrap();
        contacts.push(c.id);
    }
    let mut settings = CampaignSettings {
        dial_mode: s.mode,
        calls_per_second: 50.0,
        wrap_up_seconds: s.wrap_up_seconds,
        amd: false,
        ..Default::default()
    };
    if s.all_day {
        settings.window.start = chrono::NaiveTime::from_hms_opt(0, 0, 0).unwrap();
        settings.window.end = chrono::NaiveTime::from_hms_opt(23, 59, 59).unwrap();
    }
    let input = CampaignInput {
        name: "Sim campaign".into(),
        settings,
        caller_id: caller.as_str().into(),
        voicemail_url: s.voicemail.then(|| VOICEMAIL.into()),
        hold_music_url: s.hold_music.then(|| MUSIC.into()),
        recording: false,
        transcription: false,
        lists: vec![list],
        agents: agents.clone(),
    };
    let campaign = store.create_campaign(client, &input, 1).await.unwrap().id;
    let set = [
        NewDisposition {
            label: "Interested".into(),
            effect: EffectKind::Final,
            target_list: None,
        },
        NewDisposition {
            label: "Try again".into(),
            effect: EffectKind::Retry,
            target_list: None,
        },
    ];
    store
        .replace_dispositions(client, campaign, &set)
        .await
        .unwrap();

    let mut settings = crate::common::test_settings(&db.url);
    settings.heartbeat_timeout_seconds = 3600;
    let clock = Arc::new(SystemClock);
    let hub = CarrierHub::simulated(&settings, s.behaviour, 3, s.time_scale);
    let dir = Arc::new(StoreDirectory::new(store.clone(), clock.clone()));
    let app = App::with_parts(store, settings, clock, hub, dir);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let served = app.clone();
    tokio::spawn(async move {
        let _ = palera_server::serve(served, listener, async {
            let _ = stopped.await;
        })
        .await;
    });
    crate::common::engine_started(&app).await;
    Some(SimRig {
        base,
        app,
        db,
        client,
        agents,
        contacts,
        campaign,
        stop: Some(stop),
    })
}

impl SimRig {
    pub fn store(&self) -> &Store {
        &self.db.store
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn sim(&self) -> &SimCarrier {
        self.app.carriers.sim().expect("simulated network")
    }

    /// What the simulated network does from now on.
    pub fn tap(&self) -> broadcast::Receiver<Observed> {
        self.sim().tap()
    }

    pub async fn start(&self) {
        self.store()
            .set_campaign_status(self.client, self.campaign, CampaignStatus::Running, 1)
            .await
            .unwrap();
        self.app
            .engine
            .send(palera_server::engine::Request::Reload(self.campaign));
    }

    /// An API client logged in as agent `i`.
    pub async fn login(&self, i: usize) -> reqwest::Client {
        let c = crate::common::client();
        let r = c
            .post(self.url("/api/v1/session"))
            .json(&json!({"email": agent_email(i), "password": palera_server::cli::demo::DEMO_PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "login as agent {i}");
        c
    }

    /// How many of the campaign's contacts `agent` holds now.
    pub async fn held_by(&self, agent: UserId) -> usize {
        self.store()
            .campaign_contacts(self.campaign)
            .await
            .unwrap()
            .iter()
            .filter(|c| c.holder == Some(agent))
            .count()
    }

    pub async fn calls(&self) -> Vec<palera_store::calls::Call> {
        self.store().campaign_calls(self.campaign).await.unwrap()
    }
}
