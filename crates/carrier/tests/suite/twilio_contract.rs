//! Contract tests of the Twilio REST client against Twilio's own OpenAPI document, served by
//! Stoplight Prism as a validating mock (`scripts/prism.sh`). Prism with `--errors` answers 422
//! to any request that breaks the spec (missing required parameters, wrong types, values outside
//! an enum, bad path SID patterns, missing basic auth), so a 2xx here means Twilio's published
//! contract accepts what we send. Prism does not reject unknown parameter names, so a second
//! check reads the spec itself and requires every parameter we send to be declared there.
//!
//! Run: `scripts/prism.sh` in one shell, then `PRISM_URL=… cargo test -p palera-carrier --test
//! twilio_contract`. Without `PRISM_URL` the Prism tests report that they were skipped.

use palera_carrier::twilio::resources::*;
use palera_carrier::twilio::twiml::{self, ConferenceEvent, Method, Track};
use palera_carrier::twilio::{
    Credentials, RestClient, RestConfig, RetryPolicy, TwilioCarrier, TwilioConfig,
};
use palera_carrier::{Audio, CallSid, Carrier, CarrierError, Dial};
use palera_core::phone::PhoneNumber;
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const CALL: &str = "CA0123456789abcdef0123456789abcdef";
const CONFERENCE: &str = "CF0123456789abcdef0123456789abcdef";
const RECORDING: &str = "RE0123456789abcdef0123456789abcdef";
const NUMBER: &str = "PN0123456789abcdef0123456789abcdef";

/// Writes past the test harness's output capture, so a skip is visible in every run.
fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

fn prism_url(test: &str) -> Option<String> {
    match std::env::var("PRISM_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            if std::env::var("PALERA_SKIP_PRISM").as_deref() != Ok("1") {
                panic!(
                    "{test}: the Twilio mock is required: start `scripts/prism.sh` and export the \
                     PRISM_URL it prints (scripts/test does both), or set PALERA_SKIP_PRISM=1 to skip"
                );
            }
            say(&format!(
                "SKIPPED {test}: PALERA_SKIP_PRISM=1 (the Twilio mock was not started)"
            ));
            None
        }
    }
}

fn client(base_url: &str) -> RestClient {
    let mut config = RestConfig::new(ACCOUNT, Credentials::AuthToken("test-token".into()));
    config.base_url = base_url.to_owned();
    config.calls_per_second = 100.0;
    config.retry = RetryPolicy {
        max_retries: 0,
        ..RetryPolicy::default()
    };
    config.timeout = Duration::from_secs(20);
    RestClient::new(config).expect("client builds")
}

fn call_sid() -> CallSid {
    CallSid(CALL.into())
}

/// The create-call request the product sends for a campaign dial with AMD and recording.
fn campaign_dial() -> CreateCall {
    let xml = twiml::Response::new()
        .dial(twiml::Dial::conference(
            twiml::Conference::new("call-1")
                .start_conference_on_enter(false)
                .end_conference_on_exit(true)
                .status_callback(
                    "https://palera.example/twilio/1/conference?call_id=1",
                    &[ConferenceEvent::Start, ConferenceEvent::Join],
                ),
        ))
        .to_xml();
    let mut c = CreateCall::new("+14155550100", "+14155550199", Instructions::Twiml(xml));
    c.status_callback = Some("https://palera.example/twilio/1/status?call_id=1".into());
    c.status_callback_events = ALL_CALL_EVENTS.to_vec();
    c.timeout_seconds = Some(20);
    c.time_limit_seconds = Some(14_400);
    c.machine_detection = Some(MachineDetection {
        detect_message_end: true,
        async_callback: Some("https://palera.example/twilio/1/amd?call_id=1".into()),
        timeout_seconds: Some(30),
    });
    c.record = Some(recording_options());
    c
}

fn recording_options() -> RecordingOptions {
    RecordingOptions {
        channels: Channels::Dual,
        status_callback: Some("https://palera.example/twilio/1/recording?call_id=1".into()),
        events: vec![RecordingEvent::InProgress, RecordingEvent::Completed],
    }
}

fn agent_participant() -> CreateParticipant {
    let mut p = CreateParticipant::new("+14155550199", "client:agent-7");
    p.label = Some("agent".into());
    p.start_conference_on_enter = Some(true);
    p.end_conference_on_exit = Some(true);
    p.beep = Some(false);
    p.timeout_seconds = Some(30);
    p.status_callback = Some("https://palera.example/twilio/1/status?call_id=1&leg=agent".into());
    p.status_callback_events = ALL_CALL_EVENTS.to_vec();
    p.conference_status_callback = Some("https://palera.example/twilio/1/conference".into());
    p.conference_status_callback_events = vec![ConferenceEvent::Join, ConferenceEvent::Leave];
    p
}

fn transcription() -> CreateTranscription {
    CreateTranscription {
        name: "live".into(),
        status_callback_url: "https://palera.example/twilio/1/transcription?call_id=1".into(),
        track: Track::Both,
        inbound_track_label: Some("contact".into()),
        outbound_track_label: Some("agent".into()),
        partial_results: Some(true),
        language_code: Some("en-US".into()),
    }
}

fn ok<T: std::fmt::Debug>(what: &str, r: Result<T, CarrierError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("Prism refused {what}: {e}"),
    }
}

#[tokio::test]
async fn prism_accepts_create_call_with_repeated_status_callback_events() {
    let Some(url) = prism_url("create call") else {
        return;
    };
    let call = ok(
        "CreateCall",
        client(&url).create_call(&campaign_dial()).await,
    );
    assert!(call.sid.0.starts_with("CA"), "{call:?}");
}

#[tokio::test]
async fn prism_accepts_create_call_with_url_instructions() {
    let Some(url) = prism_url("create call with Url") else {
        return;
    };
    let c = CreateCall::new(
        "client:agent-7",
        "+14155550199",
        Instructions::Url {
            url: "https://palera.example/twilio/1/voice".into(),
            method: Method::Post,
        },
    );
    ok("CreateCall(Url)", client(&url).create_call(&c).await);
}

#[tokio::test]
async fn prism_accepts_call_updates_hang_up_and_fetch() {
    let Some(url) = prism_url("update/hang up/fetch call") else {
        return;
    };
    let c = client(&url);
    let vm = twiml::Response::new()
        .play(twiml::Play::new("https://palera.example/audio/vm.mp3"))
        .hangup()
        .to_xml();
    ok(
        "UpdateCall(Twiml)",
        c.update_call(&call_sid(), &UpdateCall::Redirect(Instructions::Twiml(vm)))
            .await,
    );
    let redirect = Instructions::Url {
        url: "https://palera.example/twilio/1/voice".into(),
        method: Method::Get,
    };
    ok(
        "UpdateCall(Url)",
        c.update_call(&call_sid(), &UpdateCall::Redirect(redirect))
            .await,
    );
    ok("UpdateCall(Status=completed)", c.hang_up(&call_sid()).await);
    ok(
        "UpdateCall(Status=canceled)",
        c.update_call(&call_sid(), &UpdateCall::Cancel).await,
    );
    let call = ok("FetchCall", c.fetch_call(&call_sid()).await);
    assert!(call.status.is_some(), "{call:?}");
}

#[tokio::test]
async fn prism_accepts_participant_add_hold_resume_remove() {
    let Some(url) = prism_url("participants") else {
        return;
    };
    let c = client(&url);
    let p = ok(
        "CreateParticipant",
        c.add_participant("call-1", &agent_participant()).await,
    );
    assert!(p.conference_sid.starts_with("CF"), "{p:?}");
    let hold = UpdateParticipant::Hold {
        url: "https://palera.example/audio/hold.mp3".into(),
        method: Method::Get,
    };
    ok(
        "UpdateParticipant(Hold)",
        c.update_participant(CONFERENCE, CALL, &hold).await,
    );
    ok(
        "UpdateParticipant(Resume)",
        c.update_participant(CONFERENCE, CALL, &UpdateParticipant::Resume)
            .await,
    );
    ok(
        "UpdateParticipant(Muted)",
        c.update_participant(CONFERENCE, "agent", &UpdateParticipant::Mute(true))
            .await,
    );
    ok(
        "DeleteParticipant",
        c.remove_participant(CONFERENCE, CALL).await,
    );
}

#[tokio::test]
async fn prism_accepts_recording_start_pause_resume_stop_and_fetch() {
    let Some(url) = prism_url("recordings") else {
        return;
    };
    let c = client(&url);
    let rec = ok(
        "CreateCallRecording",
        c.start_recording(&call_sid(), &CreateRecording(recording_options()))
            .await,
    );
    assert!(rec.sid.starts_with("RE"), "{rec:?}");
    for control in [
        RecordingControl::Pause,
        RecordingControl::Resume,
        RecordingControl::Stop,
    ] {
        ok(
            "UpdateCallRecording",
            c.control_recording(&call_sid(), "Twilio.CURRENT", control)
                .await,
        );
    }
    let fetched = ok("FetchRecording", c.fetch_recording(RECORDING).await);
    assert!(fetched.sid.starts_with("RE"));
}

#[tokio::test]
async fn prism_accepts_realtime_transcription_start_and_stop() {
    let Some(url) = prism_url("transcriptions") else {
        return;
    };
    let c = client(&url);
    ok(
        "CreateRealtimeTranscription",
        c.start_transcription(&call_sid(), &transcription()).await,
    );
    ok(
        "UpdateRealtimeTranscription",
        c.stop_transcription(&call_sid(), "live").await,
    );
}

#[tokio::test]
async fn prism_accepts_account_fetch_with_basic_auth() {
    let Some(url) = prism_url("account fetch") else {
        return;
    };
    let account = ok("FetchAccount", client(&url).fetch_account().await);
    assert!(account.sid.starts_with("AC"));
}

fn point_number() -> PointNumber {
    PointNumber {
        voice_url: "https://palera.example/twilio/1/voice".into(),
        status_callback: Some("https://palera.example/twilio/1/status".into()),
    }
}

/// Sends a request the way `RestClient` does (basic auth, form body), asking Prism for a
/// response generated from the schema: Twilio's own example responses for IncomingPhoneNumbers
/// break its schema (relative URIs, empty SIDs), which Prism reports as a 500 even though the
/// request passed. Request violations still get 422, so a 2xx means Twilio's contract accepts
/// what we send.
async fn prism_dynamic(
    url: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<String>,
) -> u16 {
    let mut req = reqwest::Client::new()
        .request(method, format!("{url}/2010-04-01/Accounts/{ACCOUNT}{path}"))
        .basic_auth(ACCOUNT, Some("test-token"))
        .header("Prefer", "dynamic=true");
    if let Some(b) = body {
        req = req
            .header("content-type", "application/x-www-form-urlencoded")
            .body(b);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn prism_accepts_listing_and_pointing_incoming_numbers() {
    let Some(url) = prism_url("incoming phone numbers") else {
        return;
    };
    // The query `RestClient::list_incoming_numbers` sends.
    let list = prism_dynamic(
        &url,
        reqwest::Method::GET,
        "/IncomingPhoneNumbers.json?PageSize=1000",
        None,
    )
    .await;
    assert_eq!(list, 200, "ListIncomingPhoneNumber");
    let update = prism_dynamic(
        &url,
        reqwest::Method::POST,
        &format!("/IncomingPhoneNumbers/{NUMBER}.json"),
        Some(point_number().form().encode()),
    )
    .await;
    assert_eq!(update, 200, "UpdateIncomingPhoneNumber");
    let bad_sid = prism_dynamic(
        &url,
        reqwest::Method::POST,
        "/IncomingPhoneNumbers/not-a-number-sid.json",
        Some(point_number().form().encode()),
    )
    .await;
    assert_eq!(bad_sid, 422, "Prism checks the request");
}

#[tokio::test]
async fn prism_refuses_what_breaks_the_spec() {
    // Proof that the mock validates: without this the other tests could pass vacuously.
    let Some(url) = prism_url("spec violations") else {
        return;
    };
    let c = client(&url);
    // Our types rule out most violations (missing `To`, a non-numeric `Timeout`); what remains
    // checkable from outside is the SID patterns of path parameters.
    let r = c.fetch_call(&CallSid("not-a-call-sid".into())).await;
    assert!(
        matches!(r, Err(CarrierError::Rejected { code: 422, .. })),
        "{r:?}"
    );
    let wrong_account = {
        let mut config = RestConfig::new("ACnope", Credentials::AuthToken("t".into()));
        config.base_url = url.clone();
        RestClient::new(config).unwrap()
    };
    let r = wrong_account.fetch_account().await;
    assert!(
        matches!(r, Err(CarrierError::Rejected { code: 422, .. })),
        "{r:?}"
    );
}

#[tokio::test]
async fn prism_runs_a_whole_twilio_carrier_call() {
    let Some(url) = prism_url("TwilioCarrier flow") else {
        return;
    };
    let mut config = TwilioConfig::new(
        1,
        ACCOUNT,
        Credentials::ApiKey {
            sid: "SK0123456789abcdef0123456789abcdef".into(),
            secret: "secret".into(),
        },
        "https://palera.example",
    );
    config.base_url = url;
    config.calls_per_second = 50.0;
    let carrier = TwilioCarrier::new(config).unwrap();
    let dial = Dial {
        call_id: 1,
        to: PhoneNumber::parse_e164("+14155550100").unwrap(),
        from: PhoneNumber::parse_e164("+14155550199").unwrap(),
        amd: true,
        ring_timeout_seconds: 20,
        record: true,
    };
    let sid = ok("dial", carrier.dial(dial).await);
    ok(
        "connect_agent",
        carrier.connect_agent(&sid, "agent-7").await,
    );
    let music = Audio {
        url: "https://palera.example/audio/hold.mp3".into(),
    };
    ok("hold", carrier.hold(&sid, &music).await);
    ok("resume", carrier.resume(&sid).await);
    let vm = Audio {
        url: "https://palera.example/audio/vm.mp3".into(),
    };
    ok(
        "play_and_hang_up",
        carrier.play_and_hang_up(&sid, &vm).await,
    );
    ok("hang_up", carrier.hang_up(&sid).await);
}

/// Where the spec lives next to the repository (`../shared/reference/…` from the work tree).
fn spec_path() -> Option<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.parent()?.parent()?;
    let path = root
        .parent()?
        .join("shared/reference/twilio-openapi/twilio_api_v2010.json");
    path.exists().then_some(path)
}

/// The form-body properties the spec declares for `path`'s POST.
fn declared_params<'a>(spec: &'a Value, path: &str) -> &'a serde_json::Map<String, Value> {
    spec["paths"][path]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
        ["schema"]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("no form body for {path}"))
}

/// The values the spec allows for a property: its `enum` (or its items' `enum`, following
/// `$ref`s), else the list in its description ("Can be: `a`, `b` or `c`."), which is where
/// Twilio documents most array and string parameters. `None` when the spec sets no list.
fn allowed_values(spec: &Value, property: &Value) -> Option<Vec<String>> {
    let resolve = |v: &Value| -> Value {
        match v["$ref"].as_str() {
            Some(r) => spec["components"]["schemas"][r.rsplit('/').next().unwrap()].clone(),
            None => v.clone(),
        }
    };
    let prop = resolve(property);
    for schema in [prop.clone(), resolve(&prop["items"])] {
        if let Some(list) = schema["enum"].as_array() {
            return Some(
                list.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
            );
        }
    }
    let description = prop["description"].as_str()?;
    let start = description.find("Can be: ")? + "Can be: ".len();
    let sentence = description[start..].split(". ").next()?;
    let values: Vec<String> = sentence
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    (!values.is_empty()).then_some(values)
}

#[test]
fn every_parameter_we_send_is_declared_in_the_spec_with_an_allowed_value() {
    let Some(path) = spec_path() else {
        assert!(
            std::env::var("PALERA_SKIP_PRISM").as_deref() == Ok("1"),
            "the Twilio spec under ../shared/reference is required (or set PALERA_SKIP_PRISM=1)"
        );
        say("SKIPPED spec parameter names: ../shared/reference/twilio-openapi not found");
        return;
    };
    let spec: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let base = "/2010-04-01/Accounts/{AccountSid}";
    let url_instr = Instructions::Url {
        url: "https://x".into(),
        method: Method::Get,
    };
    let hold = UpdateParticipant::Hold {
        url: "https://x".into(),
        method: Method::Get,
    };
    let cases: Vec<(String, Form)> = vec![
        (format!("{base}/Calls.json"), campaign_dial().form()),
        (
            format!("{base}/Calls/{{Sid}}.json"),
            UpdateCall::HangUp.form(),
        ),
        (
            format!("{base}/Calls/{{Sid}}.json"),
            UpdateCall::Redirect(url_instr).form(),
        ),
        (
            format!("{base}/Conferences/{{ConferenceSid}}/Participants.json"),
            agent_participant().form(),
        ),
        (
            format!("{base}/Conferences/{{ConferenceSid}}/Participants/{{CallSid}}.json"),
            hold.form(),
        ),
        (
            format!("{base}/Conferences/{{ConferenceSid}}/Participants/{{CallSid}}.json"),
            UpdateParticipant::Mute(true).form(),
        ),
        (
            format!("{base}/Calls/{{CallSid}}/Recordings.json"),
            CreateRecording(recording_options()).form(),
        ),
        (
            format!("{base}/Calls/{{CallSid}}/Recordings/{{Sid}}.json"),
            RecordingControl::Pause.form(),
        ),
        (
            format!("{base}/Calls/{{CallSid}}/Transcriptions.json"),
            transcription().form(),
        ),
        (
            format!("{base}/IncomingPhoneNumbers/{{Sid}}.json"),
            point_number().form(),
        ),
    ];
    for (path, form) in cases {
        let declared = declared_params(&spec, &path);
        for (name, value) in form.pairs() {
            let property = declared
                .get(*name)
                .unwrap_or_else(|| panic!("{name} is not a parameter of POST {path}"));
            if let Some(allowed) = allowed_values(&spec, property) {
                assert!(
                    allowed.contains(value),
                    "{name}={value} is not one of {allowed:?} for POST {path}"
                );
            }
        }
    }
}
