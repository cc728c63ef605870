//! `TwilioCarrier` follows the call model of DESIGN §3 on Twilio: a conference per call, the
//! agent as a participant, hold as participant hold, voicemail drop as a redirect of the contact
//! leg. Checked against a local server standing in for Twilio's REST API.

use crate::common;

use common::{start, ACCOUNT};
use palera_carrier::twilio::signature::parse_form;
use palera_carrier::twilio::{Credentials, TwilioCarrier, TwilioConfig};
use palera_carrier::{Audio, CallSid, Carrier, CarrierError, Dial};
use palera_core::phone::PhoneNumber;

const CONTACT: &str = "CA0123456789abcdef0123456789abcdef";
const PARTICIPANT: &str = r#"{"call_sid": "CAagent", "conference_sid": "CFconf", "hold": false}"#;

fn carrier(url: &str) -> TwilioCarrier {
    let mut config = TwilioConfig::new(
        7,
        ACCOUNT,
        Credentials::AuthToken("tok".into()),
        "https://palera.example/",
    );
    config.base_url = url.to_owned();
    config.calls_per_second = 100.0;
    TwilioCarrier::new(config).unwrap()
}

fn dial(amd: bool, record: bool, ring: u32) -> Dial {
    Dial {
        call_id: 42,
        to: PhoneNumber::parse_e164("+14155550100").unwrap(),
        from: PhoneNumber::parse_e164("+14155550199").unwrap(),
        amd,
        ring_timeout_seconds: ring,
        record,
    }
}

fn values(body: &str, key: &str) -> Vec<String> {
    parse_form(body.as_bytes())
        .into_iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v)
        .collect()
}

fn one(body: &str, key: &str) -> String {
    let v = values(body, key);
    assert_eq!(v.len(), 1, "{key} in {body}");
    v[0].clone()
}

#[tokio::test]
async fn dial_puts_the_contact_in_the_calls_conference_with_callbacks() {
    let (mock, url) = start().await;
    let sid = carrier(&url).dial(dial(true, true, 20)).await.unwrap();
    assert_eq!(sid, CallSid(CONTACT.into()));

    let body = mock.seen()[0].body.clone();
    assert_eq!(one(&body, "To"), "+14155550100");
    assert_eq!(one(&body, "From"), "+14155550199");
    assert_eq!(
        one(&body, "StatusCallback"),
        "https://palera.example/twilio/7/status?call_id=42"
    );
    assert_eq!(
        values(&body, "StatusCallbackEvent"),
        ["initiated", "ringing", "answered", "completed"]
    );
    assert_eq!(one(&body, "Timeout"), "20");
    assert_eq!(one(&body, "MachineDetection"), "DetectMessageEnd");
    assert_eq!(one(&body, "AsyncAmd"), "true");
    assert_eq!(
        one(&body, "AsyncAmdStatusCallback"),
        "https://palera.example/twilio/7/amd?call_id=42"
    );
    let twiml = one(&body, "Twiml");
    assert!(twiml.contains(">call-42</Conference></Dial>"), "{twiml}");
    assert!(twiml.contains("endConferenceOnExit=\"true\""), "{twiml}");
    assert!(
        twiml.contains("statusCallback=\"https://palera.example/twilio/7/conference?call_id=42\""),
        "{twiml}"
    );
    assert!(twiml.contains("record=\"record-from-start\""), "{twiml}");
    assert!(
        twiml.contains(
            "recordingStatusCallback=\"https://palera.example/twilio/7/recording?call_id=42\""
        ),
        "{twiml}"
    );
}

#[tokio::test]
async fn unanswered_calls_ring_at_least_15_seconds_and_amd_off_sends_no_amd() {
    let (mock, url) = start().await;
    carrier(&url).dial(dial(false, false, 5)).await.unwrap();
    let body = mock.seen()[0].body.clone();
    assert_eq!(one(&body, "Timeout"), "15");
    assert!(values(&body, "MachineDetection").is_empty());
    assert!(!one(&body, "Twiml").contains("record="));
}

#[tokio::test]
async fn connect_agent_dials_the_browser_into_the_conference() {
    let (mock, url) = start().await;
    let c = carrier(&url);
    let sid = c.dial(dial(false, false, 20)).await.unwrap();
    mock.answer(201, PARTICIPANT);
    c.connect_agent(&sid, "agent-3").await.unwrap();

    let req = &mock.seen()[1];
    assert_eq!(
        req.path,
        format!("/2010-04-01/Accounts/{ACCOUNT}/Conferences/call-42/Participants.json")
    );
    assert_eq!(one(&req.body, "To"), "client:agent-3");
    assert_eq!(one(&req.body, "From"), "+14155550199");
    assert_eq!(one(&req.body, "Label"), "agent");
    assert_eq!(one(&req.body, "StartConferenceOnEnter"), "true");
}

#[tokio::test]
async fn hold_and_resume_update_the_contact_participant_with_music() {
    let (mock, url) = start().await;
    let c = carrier(&url);
    let sid = c.dial(dial(false, false, 20)).await.unwrap();
    mock.answer(201, PARTICIPANT);
    c.connect_agent(&sid, "agent-3").await.unwrap();
    mock.answer(200, PARTICIPANT);
    mock.answer(200, PARTICIPANT);
    let music = Audio {
        url: "https://palera.example/media/hold.mp3".into(),
    };
    c.hold(&sid, &music).await.unwrap();
    c.resume(&sid).await.unwrap();

    let seen = mock.seen();
    let path =
        format!("/2010-04-01/Accounts/{ACCOUNT}/Conferences/CFconf/Participants/{CONTACT}.json");
    assert_eq!(seen[2].path, path);
    assert_eq!(one(&seen[2].body, "Hold"), "true");
    assert_eq!(one(&seen[2].body, "HoldUrl"), music.url);
    assert_eq!(one(&seen[2].body, "HoldMethod"), "GET");
    assert_eq!(seen[3].path, path);
    assert_eq!(seen[3].body, "Hold=false");
}

#[tokio::test]
async fn hold_before_the_conference_sid_is_known_looks_it_up_by_name() {
    let (mock, url) = start().await;
    let c = carrier(&url);
    c.track(
        CallSid(CONTACT.into()),
        42,
        PhoneNumber::parse_e164("+14155550199").unwrap(),
    );
    mock.answer(200, r#"{"conferences": [{"sid": "CFfound"}]}"#);
    mock.answer(200, PARTICIPANT);
    let music = Audio {
        url: "https://m".into(),
    };
    c.hold(&CallSid(CONTACT.into()), &music).await.unwrap();
    let seen = mock.seen();
    assert_eq!(
        seen[0].query.as_deref(),
        Some("FriendlyName=call-42&Status=in-progress")
    );
    assert!(seen[1].path.contains("/Conferences/CFfound/Participants/"));
}

#[tokio::test]
async fn voicemail_drop_redirects_the_contact_then_releases_the_agent() {
    let (mock, url) = start().await;
    let c = carrier(&url);
    let sid = c.dial(dial(false, false, 20)).await.unwrap();
    mock.answer(201, PARTICIPANT);
    c.connect_agent(&sid, "agent-3").await.unwrap();
    let vm = Audio {
        url: "https://palera.example/media/vm.mp3?v=1&x=2".into(),
    };
    mock.answer(200, common::CALL_JSON);
    mock.answer(204, "");
    c.play_and_hang_up(&sid, &vm).await.unwrap();

    let seen = mock.seen();
    assert_eq!(
        seen[2].path,
        format!("/2010-04-01/Accounts/{ACCOUNT}/Calls/{CONTACT}.json")
    );
    assert!(one(&seen[2].body, "Twiml").ends_with(
        "<Response><Play>https://palera.example/media/vm.mp3?v=1&amp;x=2</Play><Hangup/></Response>"
    ));
    assert_eq!(seen[3].method, "DELETE");
    assert_eq!(
        seen[3].path,
        format!("/2010-04-01/Accounts/{ACCOUNT}/Conferences/CFconf/Participants/CAagent.json")
    );
}

#[tokio::test]
async fn voicemail_drop_without_an_agent_only_redirects() {
    let (mock, url) = start().await;
    let c = carrier(&url);
    let sid = c.dial(dial(true, false, 20)).await.unwrap();
    let vm = Audio {
        url: "https://m".into(),
    };
    c.play_and_hang_up(&sid, &vm).await.unwrap();
    assert_eq!(mock.seen().len(), 2);
}

#[tokio::test]
async fn hang_up_sets_status_completed() {
    let (mock, url) = start().await;
    let c = carrier(&url);
    let sid = c.dial(dial(false, false, 20)).await.unwrap();
    c.hang_up(&sid).await.unwrap();
    assert_eq!(mock.seen()[1].body, "Status=completed");
}

#[tokio::test]
async fn commands_for_calls_we_do_not_know_are_unknown_call() {
    let (mock, url) = start().await;
    let c = carrier(&url);
    let stranger = CallSid("CAstranger".into());
    let r = c.connect_agent(&stranger, "agent-1").await;
    assert_eq!(r, Err(CarrierError::UnknownCall("CAstranger".into())));
    mock.answer(
        404,
        r#"{"code": 20404, "message": "not found", "status": 404}"#,
    );
    let r = c.hang_up(&stranger).await;
    assert_eq!(r, Err(CarrierError::UnknownCall("CAstranger".into())));
}
