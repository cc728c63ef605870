//! End to end in Twilio mode: the server runs with `carrier = twilio`, the hub's REST base URL
//! points at the fake Twilio, and calls placed through the client's carrier produce the signed
//! webhooks Twilio would send, in Twilio's order; the carrier events come out of the hub's one
//! stream in that order, a retried webhook forwards nothing, and hold, resume and hang-up send
//! the REST requests Twilio documents. On SQLite and PostgreSQL.

use crate::common;
use crate::common::fake_twilio;

use common::TestApp;
use fake_twilio::{FakeTwilio, Outcome};
use palera_carrier::{
    agent_identity, AnsweredBy, Audio, CallSid, Carrier, CarrierEvent, Dial, LegEnd,
};
use palera_core::ids::ClientId;
use palera_core::phone::PhoneNumber;
use palera_core::tenant::ClientFields;
use palera_server::config::CarrierMode;
use palera_store::clients::SecretInput;
use palera_store::Backend;
use std::sync::Arc;
use std::time::Duration;

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "auth-token-0123456789-SECRET";
const PUBLIC: &str = "https://voice.example.com";
const CALLER_ID: &str = "+14155550199";
const MUSIC: &str = "https://voice.example.com/audio/hold.mp3";

/// A server in Twilio mode with one client, its carrier and event stream, and the fake.
struct TwilioRig {
    t: TestApp,
    client: ClientId,
    fake: FakeTwilio,
    carrier: Arc<dyn Carrier>,
    events: common::Observed,
}

async fn rig(backend: Backend) -> Option<TwilioRig> {
    let t = common::spawn_observing(backend, |s| s.carrier = CarrierMode::Twilio).await?;
    let settings = ClientFields {
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
    let client =
        t.db.store
            .create_client(&settings, &secrets, &[phone(CALLER_ID)], 1)
            .await
            .unwrap()
            .id;
    let fake = FakeTwilio::start(ACCOUNT, TOKEN, PUBLIC, &t.base).await;
    *t.app.carriers.twilio_base_url.lock().unwrap() = fake.base.clone();
    let events = t.carrier_events.lock().unwrap().take().unwrap();
    let carrier = t
        .app
        .carriers
        .for_client(&t.db.store, client)
        .await
        .unwrap();
    Some(TwilioRig {
        t,
        client,
        fake,
        carrier,
        events,
    })
}

fn phone(s: &str) -> PhoneNumber {
    PhoneNumber::parse_e164(s).unwrap()
}

fn dial(call_id: i64, to: &str) -> Dial {
    Dial {
        call_id,
        to: phone(to),
        from: phone(CALLER_ID),
        amd: true,
        ring_timeout_seconds: 20,
        record: false,
    }
}

impl TwilioRig {
    async fn next(&mut self) -> CarrierEvent {
        tokio::time::timeout(Duration::from_secs(10), self.events.recv())
            .await
            .expect("a carrier event within 10 s")
            .expect("event stream open")
    }

    /// No event is waiting. Conclusive once the webhooks were answered, since handlers forward
    /// before they answer.
    fn quiet(&mut self) {
        assert_eq!(self.events.try_recv(), None);
    }
}

async fn a_twilio_call_reports_ringing_answer_amd_agent_hold_and_end_in_order(backend: Backend) {
    let Some(mut r) = rig(backend).await else {
        return;
    };
    let c = r.client;
    let sid = r.carrier.dial(dial(11, "+14155550123")).await.unwrap();
    assert_eq!(
        r.next().await,
        CarrierEvent::Ringing {
            call_id: 11,
            sid: sid.clone()
        }
    );
    assert_eq!(
        r.next().await,
        CarrierEvent::Answered {
            call_id: 11,
            sid: sid.clone(),
            by: AnsweredBy::Unknown
        }
    );
    assert_eq!(
        r.next().await,
        CarrierEvent::Answered {
            call_id: 11,
            sid: sid.clone(),
            by: AnsweredBy::Human
        }
    );
    let created = &r.fake.requests_to("POST", "/Calls.json")[0];
    assert_eq!(created.get("To"), Some("+14155550123"));
    assert_eq!(created.get("From"), Some(CALLER_ID));
    assert_eq!(
        created.get("StatusCallback"),
        Some(format!("{PUBLIC}/twilio/{c}/status?call_id=11").as_str())
    );
    assert_eq!(created.get("MachineDetection"), Some("DetectMessageEnd"));
    assert_eq!(created.get("AsyncAmd"), Some("true"));

    r.carrier
        .connect_agent(&sid, &agent_identity(7))
        .await
        .unwrap();
    assert_eq!(
        r.next().await,
        CarrierEvent::AgentConnected {
            call_id: 11,
            agent_id: 7
        }
    );
    let added = &r
        .fake
        .requests_to("POST", "/Conferences/call-11/Participants.json")[0];
    assert_eq!(added.get("To"), Some("client:agent-7"));
    assert_eq!(added.get("Label"), Some("agent"));

    // Twilio retries: the AMD verdict and the ringing status delivered again forward nothing.
    let deliveries = r.fake.deliveries();
    let amd = deliveries
        .iter()
        .position(|d| d.url.contains("/amd?"))
        .unwrap();
    let ringing = deliveries
        .iter()
        .position(|d| d.get("CallStatus") == Some("ringing") && d.get("CallSid") == Some(&sid.0))
        .unwrap();
    assert_eq!(r.fake.redeliver(amd).await.status, 204);
    assert_eq!(r.fake.redeliver(ringing).await.status, 204);
    r.quiet();

    let music = Audio { url: MUSIC.into() };
    r.carrier.hold(&sid, &music).await.unwrap();
    r.carrier.resume(&sid).await.unwrap();
    let updates: Vec<_> = r
        .fake
        .requests()
        .into_iter()
        .filter(|q| q.method == "POST" && q.path.contains("/Participants/"))
        .collect();
    assert_eq!(updates.len(), 2, "{updates:#?}");
    assert!(updates[0]
        .path
        .ends_with(&format!("/Participants/{}.json", sid.0)));
    assert_eq!(updates[0].get("Hold"), Some("true"));
    assert_eq!(updates[0].get("HoldUrl"), Some(MUSIC));
    assert_eq!(updates[0].get("HoldMethod"), Some("GET"));
    assert_eq!(updates[1].get("Hold"), Some("false"));
    assert_eq!(updates[1].get("HoldUrl"), None);

    r.carrier.hang_up(&sid).await.unwrap();
    let hang_up = &r
        .fake
        .requests_to("POST", &format!("/Calls/{}.json", sid.0))[0];
    assert_eq!(
        hang_up.form,
        vec![("Status".to_string(), "completed".to_string())]
    );
    match r.next().await {
        CarrierEvent::Ended {
            call_id: 11,
            sid: s,
            end: LegEnd::Completed,
            ..
        } => assert_eq!(s, sid),
        other => panic!("expected the end of call 11, got {other:?}"),
    }
    let all = r.fake.wait_for_deliveries(r.fake.deliveries().len()).await;
    r.quiet();
    assert!(
        all.iter().all(|d| d.status == 204),
        "every signed webhook was accepted: {all:#?}"
    );
    assert!(r.t.db.store.webhook_count(c).await.unwrap() >= 10);
}

async fn unanswered_and_machine_answered_calls_report_what_twilio_said(backend: Backend) {
    let Some(mut r) = rig(backend).await else {
        return;
    };
    r.fake.answer("+14155550124", Outcome::Busy);
    r.fake.answer("+14155550125", Outcome::Machine);
    let busy = r.carrier.dial(dial(21, "+14155550124")).await.unwrap();
    assert_eq!(
        r.next().await,
        CarrierEvent::Ringing {
            call_id: 21,
            sid: busy.clone()
        }
    );
    assert_eq!(
        r.next().await,
        CarrierEvent::Ended {
            call_id: 21,
            sid: busy,
            end: LegEnd::Busy,
            duration_seconds: 0
        }
    );
    let machine = r.carrier.dial(dial(22, "+14155550125")).await.unwrap();
    assert_eq!(
        r.next().await,
        CarrierEvent::Ringing {
            call_id: 22,
            sid: machine.clone()
        }
    );
    assert!(matches!(
        r.next().await,
        CarrierEvent::Answered {
            call_id: 22,
            by: AnsweredBy::Unknown,
            ..
        }
    ));
    assert_eq!(
        r.next().await,
        CarrierEvent::MachineMessageEnd {
            call_id: 22,
            sid: CallSid(machine.0.clone())
        }
    );
}

async fn in_twilio_mode_the_desktop_keeps_a_voice_token_for_each_voice_enabled_client(
    backend: Backend,
) {
    let Some(r) = rig(backend).await else {
        return;
    };
    let c = r.client;
    r.t.user("ann@x.io", palera_core::user::Role::Agent, vec![c])
        .await;
    let http = r.t.login("ann@x.io").await;
    let html = http
        .get(r.t.url("/desktop"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(&format!("data-voice-token-clients=\"{c}\"")),
        "{html}"
    );
    let js = http
        .get(r.t.url("/static/desktop.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(js.contains("/voice-token") && js.contains("ttl_seconds * 800"));
}

twins!(a_twilio_call_reports_ringing_answer_amd_agent_hold_and_end_in_order);
twins!(unanswered_and_machine_answered_calls_report_what_twilio_said);
twins!(in_twilio_mode_the_desktop_keeps_a_voice_token_for_each_voice_enabled_client);
