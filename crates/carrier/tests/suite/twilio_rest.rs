//! The Twilio REST client's wire behaviour, against a local axum server that records every
//! request and answers from a script: form encoding (repeated keys), basic auth, paths, retries
//! only for requests safe to repeat, and the mapping of Twilio's error JSON.

use crate::common;

use common::{start, ACCOUNT};
use palera_carrier::twilio::resources::*;
use palera_carrier::twilio::twiml::Method;
use palera_carrier::twilio::{Credentials, RestClient, RestConfig, RetryPolicy};
use palera_carrier::{CallSid, CarrierError};
use std::time::Duration;

fn client(url: &str, credentials: Credentials) -> RestClient {
    let mut config = RestConfig::new(ACCOUNT, credentials);
    config.base_url = url.to_owned();
    config.calls_per_second = 100.0;
    config.retry = RetryPolicy {
        max_retries: 2,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
    };
    RestClient::new(config).unwrap()
}

fn token_client(url: &str) -> RestClient {
    client(url, Credentials::AuthToken("tok".into()))
}

fn sid() -> CallSid {
    CallSid("CA0123456789abcdef0123456789abcdef".into())
}

fn basic(user: &str, pass: &str) -> String {
    use base64::Engine;
    let raw = format!("{user}:{pass}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

#[tokio::test]
async fn create_call_posts_a_form_with_repeated_event_keys_and_basic_auth() {
    let (mock, url) = start().await;
    let mut c = CreateCall::new(
        "+14155550100",
        "+14155550199",
        Instructions::Url {
            url: "https://p.test/t?a=1&b=2".into(),
            method: Method::Post,
        },
    );
    c.status_callback = Some("https://p.test/s".into());
    c.status_callback_events = vec![CallEvent::Initiated, CallEvent::Answered];
    let call = token_client(&url).create_call(&c).await.unwrap();
    assert_eq!(call.sid, sid());

    let seen = mock.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.path,
        format!("/2010-04-01/Accounts/{ACCOUNT}/Calls.json")
    );
    assert_eq!(
        req.authorization.as_deref(),
        Some(basic(ACCOUNT, "tok").as_str())
    );
    assert_eq!(
        req.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        req.body,
        "To=%2B14155550100&From=%2B14155550199&Url=https%3A%2F%2Fp.test%2Ft%3Fa%3D1%26b%3D2\
         &Method=POST&StatusCallback=https%3A%2F%2Fp.test%2Fs&StatusCallbackMethod=POST\
         &StatusCallbackEvent=initiated&StatusCallbackEvent=answered"
    );
}

#[tokio::test]
async fn api_key_credentials_authenticate_as_the_key() {
    let (mock, url) = start().await;
    let creds = Credentials::ApiKey {
        sid: "SKabc".into(),
        secret: "shh".into(),
    };
    client(&url, creds).fetch_call(&sid()).await.unwrap();
    let seen = mock.seen();
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(basic("SKabc", "shh").as_str())
    );
    assert_eq!(seen[0].method, "GET");
    assert_eq!(
        seen[0].path,
        format!("/2010-04-01/Accounts/{ACCOUNT}/Calls/{}.json", sid())
    );
}

#[tokio::test]
async fn safe_requests_are_retried_on_server_errors() {
    let (mock, url) = start().await;
    mock.answer(503, "busy");
    mock.answer(500, "oops");
    let call = token_client(&url).fetch_call(&sid()).await.unwrap();
    assert_eq!(call.sid, sid());
    assert_eq!(mock.seen().len(), 3);
}

#[tokio::test]
async fn hang_up_is_retried_because_repeating_it_is_harmless() {
    let (mock, url) = start().await;
    mock.answer(502, "");
    token_client(&url).hang_up(&sid()).await.unwrap();
    let seen = mock.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.body == "Status=completed"));
}

#[tokio::test]
async fn creating_a_call_is_never_retried() {
    let (mock, url) = start().await;
    mock.answer(503, r#"{"code": 20503, "message": "Service unavailable"}"#);
    let c = CreateCall::new("+1", "+2", Instructions::Twiml("<Response/>".into()));
    let err = token_client(&url).create_call(&c).await.unwrap_err();
    assert!(
        matches!(err, CarrierError::Unavailable(ref m) if m.contains("503")),
        "{err:?}"
    );
    assert_eq!(mock.seen().len(), 1, "a retry could dial the contact twice");
}

#[tokio::test]
async fn redirecting_a_call_is_not_retried() {
    let (mock, url) = start().await;
    mock.answer(500, "");
    let update = UpdateCall::Redirect(Instructions::Twiml("<Response/>".into()));
    assert!(token_client(&url)
        .update_call(&sid(), &update)
        .await
        .is_err());
    assert_eq!(mock.seen().len(), 1);
}

#[tokio::test]
async fn persistent_429_becomes_rate_limited_after_the_retries() {
    let (mock, url) = start().await;
    for _ in 0..3 {
        mock.answer(
            429,
            r#"{"code": 20429, "message": "Too Many Requests", "status": 429}"#,
        );
    }
    let err = token_client(&url).fetch_call(&sid()).await.unwrap_err();
    assert_eq!(err, CarrierError::RateLimited);
    assert_eq!(mock.seen().len(), 3, "first attempt plus max_retries");
}

#[tokio::test]
async fn twilio_error_json_is_rejected_with_code_and_message_without_retry() {
    let (mock, url) = start().await;
    mock.answer(
        400,
        r#"{"code": 21211, "message": "The 'To' number +1 is not a valid phone number.",
            "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}"#,
    );
    let c = CreateCall::new("+1", "+2", Instructions::Twiml("<Response/>".into()));
    let err = token_client(&url).create_call(&c).await.unwrap_err();
    assert_eq!(
        err,
        CarrierError::Rejected {
            code: 21211,
            message: "The 'To' number +1 is not a valid phone number.".into()
        }
    );
    assert_eq!(mock.seen().len(), 1);
}

#[tokio::test]
async fn participants_are_addressed_by_conference_and_call_or_label() {
    let (mock, url) = start().await;
    let participant = r#"{"call_sid": "CA1", "conference_sid": "CF1", "hold": true}"#;
    mock.answer(201, participant);
    mock.answer(200, participant);
    mock.answer(204, "");
    let c = token_client(&url);
    c.add_participant("call-7", &CreateParticipant::new("+1", "client:agent 7"))
        .await
        .unwrap();
    let hold = UpdateParticipant::Hold {
        url: "https://p.test/m.mp3".into(),
        method: Method::Get,
    };
    let p = c.update_participant("CF1", "agent", &hold).await.unwrap();
    assert_eq!(p.hold, Some(true));
    c.remove_participant("CF1", "CA1").await.unwrap();

    let seen = mock.seen();
    let base = format!("/2010-04-01/Accounts/{ACCOUNT}/Conferences");
    assert_eq!(seen[0].path, format!("{base}/call-7/Participants.json"));
    assert_eq!(seen[0].body, "From=%2B1&To=client%3Aagent+7");
    assert_eq!(seen[1].path, format!("{base}/CF1/Participants/agent.json"));
    assert_eq!(
        seen[1].body,
        "Hold=true&HoldUrl=https%3A%2F%2Fp.test%2Fm.mp3&HoldMethod=GET"
    );
    assert_eq!(seen[2].method, "DELETE");
    assert_eq!(seen[2].path, format!("{base}/CF1/Participants/CA1.json"));
}

#[tokio::test]
async fn recording_media_download_names_format_and_channels() {
    let (mock, url) = start().await;
    mock.answer(200, "RIFF-bytes");
    let audio = token_client(&url)
        .download_recording("RE1", MediaFormat::Wav, true)
        .await
        .unwrap();
    assert_eq!(audio, b"RIFF-bytes");
    let seen = mock.seen();
    assert_eq!(
        seen[0].path,
        format!("/2010-04-01/Accounts/{ACCOUNT}/Recordings/RE1.wav")
    );
    assert_eq!(seen[0].query.as_deref(), Some("RequestedChannels=2"));
}

#[tokio::test]
async fn conference_lookup_filters_by_name_and_running_status() {
    let (mock, url) = start().await;
    mock.answer(
        200,
        r#"{"conferences": [{"sid": "CF9", "friendly_name": "call-7", "status": "in-progress"}]}"#,
    );
    let found = token_client(&url).find_conferences("call-7").await.unwrap();
    assert_eq!(found[0].sid, "CF9");
    assert_eq!(
        mock.seen()[0].query.as_deref(),
        Some("FriendlyName=call-7&Status=in-progress")
    );
}

#[tokio::test]
async fn unreachable_twilio_is_unavailable() {
    // Bind then drop a listener: nothing answers on that port.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = token_client(&format!("http://127.0.0.1:{port}"))
        .fetch_account()
        .await
        .unwrap_err();
    assert!(matches!(err, CarrierError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn post_call_transcripts_go_to_the_intelligence_api_and_follow_its_pages() {
    let (api, api_url) = start().await;
    let (intel, intel_url) = start().await;
    let mut config = RestConfig::new(ACCOUNT, Credentials::AuthToken("tok".into()));
    config.base_url = api_url;
    config.intelligence_url = intel_url.clone();
    let c = RestClient::new(config).unwrap();
    intel.answer(201, r#"{"sid": "GT1", "status": "queued"}"#);
    intel.answer(200, r#"{"sid": "GT1", "status": "completed"}"#);
    let first = format!(
        r#"{{"sentences": [{{"media_channel": 2, "sentence_index": 0, "start_time": "0.5", "end_time": "2.25", "transcript": "Hello."}}],
            "meta": {{"next_page_url": "{intel_url}/v2/Transcripts/GT1/Sentences?PageSize=5000&Page=1&PageToken=abc"}}}}"#
    );
    intel.answer(200, &first);
    intel.answer(
        200,
        r#"{"sentences": [{"media_channel": 1, "sentence_index": 1, "start_time": 3, "end_time": null, "transcript": "Hi."}],
            "meta": {"next_page_url": null}}"#,
    );
    intel.answer(204, "");

    let request = CreateTranscript {
        service_sid: "GA0123456789abcdef0123456789abcdef".into(),
        recording_sid: "RE1".into(),
        customer_key: "call-7".into(),
        participants: vec![(1, "Customer"), (2, "Agent")],
    };
    assert_eq!(c.create_transcript(&request).await.unwrap().sid, "GT1");
    let t = c.fetch_transcript("GT1").await.unwrap();
    assert_eq!(t.status.as_deref(), Some("completed"));
    let sentences = c.transcript_sentences("GT1").await.unwrap();
    assert_eq!(sentences.len(), 2);
    c.delete_transcript("GT1").await.unwrap();

    assert!(api.seen().is_empty(), "nothing went to the REST API");
    let seen = intel.seen();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("POST", "/v2/Transcripts")
    );
    let form: Vec<(String, String)> = url::form_urlencoded::parse(seen[0].body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(form[0], ("ServiceSid".into(), request.service_sid.clone()));
    let channel: serde_json::Value = serde_json::from_str(&form[1].1).unwrap();
    assert_eq!(channel["media_properties"]["source_sid"], "RE1");
    assert_eq!(channel["participants"][1]["channel_participant"], 2);
    assert_eq!(channel["participants"][1]["role"], "Agent");
    assert_eq!(form[2], ("CustomerKey".into(), "call-7".into()));
    assert_eq!(seen[1].path, "/v2/Transcripts/GT1");
    assert_eq!(seen[2].path, "/v2/Transcripts/GT1/Sentences");
    assert_eq!(seen[2].query.as_deref(), Some("PageSize=5000"));
    assert_eq!(
        seen[3].query.as_deref(),
        Some("PageSize=5000&Page=1&PageToken=abc"),
        "the next page is the one Twilio named"
    );
    assert_eq!(
        (seen[4].method.as_str(), seen[4].path.as_str()),
        ("DELETE", "/v2/Transcripts/GT1")
    );

    // Sentences become speaker-labelled lines in Twilio's order, times in milliseconds.
    let lines = palera_carrier::twilio::lines_of(sentences.into_iter().rev().collect());
    let got: Vec<_> = lines
        .iter()
        .map(|l| {
            (
                l.seq,
                l.speaker.as_str(),
                l.start_ms,
                l.end_ms,
                l.text.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (0, "agent", 500, 2_250, "Hello."),
            (1, "contact", 3_000, 3_000, "Hi.")
        ]
    );
}
