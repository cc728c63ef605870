//! Twilio webhooks (DESIGN §4, §5): the `X-Twilio-Signature` extractor refuses anything not
//! signed by the client's account with 403 and processes nothing; signed events are forwarded
//! to the carrier event stream once however often Twilio retries; inbound calls get valid TwiML.
//! On SQLite and PostgreSQL.

use crate::common;

use common::TestApp;
use palera_carrier::twilio::signature::{body_sha256, compute_signature};
use palera_carrier::{AnsweredBy, CallSid, CarrierEvent, LegEnd};
use palera_core::ids::ClientId;
use palera_core::phone::PhoneNumber;
use palera_core::tenant::ClientFields;
use palera_store::clients::SecretInput;

pub const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
pub const TOKEN: &str = "auth-token-0123456789-SECRET";
pub const PUBLIC: &str = "https://voice.example.com";

async fn twilio_client(t: &TestApp, name: &str, voice_enabled: bool) -> ClientId {
    let settings = ClientFields {
        name: name.into(),
        account_sid: Some(ACCOUNT.into()),
        voice_enabled: Some(voice_enabled),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let secrets = SecretInput {
        auth_token: Some(TOKEN.into()),
        api_key_secret: None,
    };
    let number = PhoneNumber::parse_e164(if voice_enabled {
        "+14155550199"
    } else {
        "+14155550188"
    })
    .unwrap();
    t.db.store
        .create_client(&settings, &secrets, &[number], 1)
        .await
        .unwrap()
        .id
}

fn owned(params: &[(&str, &str)]) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn form(params: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish()
}

/// Posts `params` to `path` with the signature given.
async fn post_with(
    t: &TestApp,
    path: &str,
    params: &[(&str, &str)],
    signature: Option<String>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(t.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(params));
    if let Some(s) = signature {
        req = req.header("X-Twilio-Signature", s);
    }
    req.send().await.unwrap()
}

/// Posts `params` to `path` signed the way Twilio signs it: over the public base URL.
async fn post_signed(t: &TestApp, path: &str, params: &[(&str, &str)]) -> reqwest::Response {
    let sig = compute_signature(TOKEN, &format!("{PUBLIC}{path}"), &owned(params));
    post_with(t, path, params, Some(sig)).await
}

fn events(t: &TestApp) -> common::Observed {
    t.carrier_events
        .lock()
        .unwrap()
        .take()
        .expect("event stream")
}

fn drain(rx: &mut common::Observed) -> Vec<CarrierEvent> {
    let mut out = Vec::new();
    while let Some(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

fn ringing(sid: &str) -> [(&'static str, String); 3] {
    [
        ("CallSid", sid.to_string()),
        ("CallStatus", "ringing".to_string()),
        ("SequenceNumber", "1".to_string()),
    ]
}

fn refs<'a>(p: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    p.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

on_both!(
    observing a_signed_status_callback_is_forwarded_once_however_often_twilio_retries,
    |t: TestApp| async move {
        let c = twilio_client(&t, "Acme", true).await;
        let mut rx = events(&t);
        let path = format!("/twilio/{c}/status?call_id=5");
        let p = ringing("CA1");
        for _ in 0..3 {
            let r = post_signed(&t, &path, &refs(&p)).await;
            assert_eq!(r.status(), 204);
        }
        assert_eq!(
            drain(&mut rx),
            vec![CarrierEvent::Ringing {
                call_id: 5,
                sid: CallSid("CA1".into())
            }]
        );
        assert_eq!(t.db.store.webhook_count(c).await.unwrap(), 1);
        let done = [
            ("CallSid", "CA1"),
            ("CallStatus", "completed"),
            ("CallDuration", "42"),
        ];
        assert_eq!(post_signed(&t, &path, &done).await.status(), 204);
        assert_eq!(post_signed(&t, &path, &done).await.status(), 204);
        assert_eq!(
            drain(&mut rx),
            vec![CarrierEvent::Ended {
                call_id: 5,
                sid: CallSid("CA1".into()),
                end: LegEnd::Completed,
                duration_seconds: 42
            }]
        );
    }
);

on_both!(
    observing a_tampered_parameter_is_refused_with_403_and_nothing_is_stored_or_forwarded,
    |t: TestApp| async move {
        let c = twilio_client(&t, "Acme", true).await;
        let mut rx = events(&t);
        let path = format!("/twilio/{c}/status?call_id=5");
        let signed = [("CallSid", "CA1"), ("CallStatus", "ringing")];
        let sig = compute_signature(TOKEN, &format!("{PUBLIC}{path}"), &owned(&signed));
        let tampered = [("CallSid", "CA1"), ("CallStatus", "completed")];
        let r = post_with(&t, &path, &tampered, Some(sig.clone())).await;
        assert_eq!(r.status(), 403);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_signature");
        let added = [
            ("CallSid", "CA1"),
            ("CallStatus", "ringing"),
            ("AnsweredBy", "human"),
        ];
        assert_eq!(post_with(&t, &path, &added, Some(sig)).await.status(), 403);
        assert!(drain(&mut rx).is_empty());
        assert_eq!(t.db.store.webhook_count(c).await.unwrap(), 0);
    }
);

on_both!(
    observing a_tampered_url_is_refused_with_403,
    |t: TestApp| async move {
        let c = twilio_client(&t, "Acme", true).await;
        let mut rx = events(&t);
        let p = [("CallSid", "CA1"), ("CallStatus", "ringing")];
        let sig = compute_signature(
            TOKEN,
            &format!("{PUBLIC}/twilio/{c}/status?call_id=5"),
            &owned(&p),
        );
        let other_call = format!("/twilio/{c}/status?call_id=6");
        assert_eq!(
            post_with(&t, &other_call, &p, Some(sig.clone()))
                .await
                .status(),
            403
        );
        let other_kind = format!("/twilio/{c}/amd?call_id=5");
        assert_eq!(
            post_with(&t, &other_kind, &p, Some(sig)).await.status(),
            403
        );
        assert!(drain(&mut rx).is_empty());
        assert_eq!(t.db.store.webhook_count(c).await.unwrap(), 0);
    }
);

on_both!(
    observing unknown_clients_missing_signatures_and_clients_without_a_token_get_the_same_403,
    |t: TestApp| async move {
        let c = twilio_client(&t, "Acme", true).await;
        let tokenless =
            t.db.store
                .create_client(
                    &ClientFields {
                        name: "No token".into(),
                        account_sid: Some(ACCOUNT.into()),
                        ..Default::default()
                    }
                    .validate()
                    .unwrap(),
                    &SecretInput::default(),
                    &[],
                    1,
                )
                .await
                .unwrap()
                .id;
        let mut rx = events(&t);
        let p = [("CallSid", "CA1"), ("CallStatus", "ringing")];
        let mut bodies = Vec::new();
        for path in [
            format!("/twilio/{c}/status?call_id=5"),
            "/twilio/9999/status?call_id=5".to_string(),
            "/twilio/abc/status?call_id=5".to_string(),
            format!("/twilio/{tokenless}/status?call_id=5"),
        ] {
            let sig = compute_signature(TOKEN, &format!("{PUBLIC}{path}"), &owned(&p));
            let signature = if path.contains(&format!("/{c}/")) {
                None
            } else {
                Some(sig)
            };
            let r = post_with(&t, &path, &p, signature).await;
            assert_eq!(r.status(), 403, "{path}");
            bodies.push(r.text().await.unwrap());
        }
        assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
        assert!(drain(&mut rx).is_empty());
    }
);

on_both!(
    observing repeated_form_keys_are_part_of_the_signature,
    |t: TestApp| async move {
        let c = twilio_client(&t, "Acme", true).await;
        let path = format!("/twilio/{c}/status?call_id=5");
        let p = [
            ("CallSid", "CA1"),
            ("CallStatus", "ringing"),
            ("StatusCallbackEvent", "ringing"),
            ("StatusCallbackEvent", "initiated"),
        ];
        assert_eq!(post_signed(&t, &path, &p).await.status(), 204);
        let sig = compute_signature(TOKEN, &format!("{PUBLIC}{path}"), &owned(&p));
        let one_dropped = &p[..3];
        assert_eq!(
            post_with(&t, &path, one_dropped, Some(sig)).await.status(),
            403
        );
    }
);

on_both!(
    observing a_url_signed_with_the_default_port_is_accepted,
    |t: TestApp| async move {
        let c = twilio_client(&t, "Acme", true).await;
        let mut rx = events(&t);
        let path = format!("/twilio/{c}/status?call_id=5");
        let p = [("CallSid", "CA1"), ("CallStatus", "ringing")];
        let with_port = compute_signature(
            TOKEN,
            &format!("https://voice.example.com:443{path}"),
            &owned(&p),
        );
        assert_eq!(
            post_with(&t, &path, &p, Some(with_port)).await.status(),
            204
        );
        assert_eq!(drain(&mut rx).len(), 1);
    }
);

on_both!(
    observing the_signed_url_is_the_public_base_url_not_the_address_the_request_reached,
    |t: TestApp| async move {
        let c = twilio_client(&t, "Acme", true).await;
        let path = format!("/twilio/{c}/status?call_id=5");
        let p = [("CallSid", "CA1"), ("CallStatus", "ringing")];
        // Behind a proxy the request reaches us on another host and scheme than Twilio used.
        let local = compute_signature(TOKEN, &t.url(&path), &owned(&p));
        assert_eq!(post_with(&t, &path, &p, Some(local)).await.status(), 403);
        assert_eq!(post_signed(&t, &path, &p).await.status(), 204);
    }
);

on_both!(
    observing json_bodies_are_checked_through_body_sha256,
    |t: TestApp| async move {
        let c = twilio_client(&t, "Acme", true).await;
        let mut rx = events(&t);
        let body = r#"{"CallSid":"CA7","CallStatus":"ringing"}"#;
        let path = format!(
            "/twilio/{c}/status?call_id=8&bodySHA256={}",
            body_sha256(body.as_bytes())
        );
        let sig = compute_signature(TOKEN, &format!("{PUBLIC}{path}"), &[]);
        let send = |b: &'static str| {
            reqwest::Client::new()
                .post(t.url(&path))
                .header("content-type", "application/json")
                .header("X-Twilio-Signature", sig.clone())
                .body(b)
                .send()
        };
        let tampered = r#"{"CallSid":"CA7","CallStatus":"completed"}"#;
        assert_eq!(send(tampered).await.unwrap().status(), 403);
        assert!(drain(&mut rx).is_empty());
        assert_eq!(send(body).await.unwrap().status(), 204);
        assert_eq!(
            drain(&mut rx),
            vec![CarrierEvent::Ringing {
                call_id: 8,
                sid: CallSid("CA7".into())
            }]
        );
    }
);

on_both!(
    observing a_signed_but_malformed_payload_is_a_422_naming_the_field_and_nothing_is_stored,
    |t: TestApp| async move {
        let c = twilio_client(&t, "Acme", true).await;
        let mut rx = events(&t);
        let path = format!("/twilio/{c}/status?call_id=5");
        let r = post_signed(&t, &path, &[("CallSid", "CA1"), ("CallStatus", "exploded")]).await;
        assert_eq!(r.status(), 422);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["field"], "CallStatus");
        let amd = format!("/twilio/{c}/amd");
        let r = post_signed(&t, &amd, &[("CallSid", "CA1"), ("AnsweredBy", "human")]).await;
        assert_eq!(r.status(), 422);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["field"], "call_id");
        assert!(drain(&mut rx).is_empty());
        assert_eq!(t.db.store.webhook_count(c).await.unwrap(), 0);
    }
);

on_both!(
    observing amd_recording_and_transcription_callbacks_become_events_once,
    |t: TestApp| async move {
        let c = twilio_client(&t, "Acme", true).await;
        let mut rx = events(&t);
        let amd = format!("/twilio/{c}/amd?call_id=3");
        let p = [("CallSid", "CA3"), ("AnsweredBy", "machine_end_beep")];
        post_signed(&t, &amd, &p).await;
        post_signed(&t, &amd, &p).await;
        let rec = format!("/twilio/{c}/recording?call_id=3");
        let p = [
            ("CallSid", "CA3"),
            ("RecordingSid", "RE1"),
            ("RecordingStatus", "completed"),
            (
                "RecordingUrl",
                "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
            ),
            ("RecordingDuration", "12"),
        ];
        post_signed(&t, &rec, &p).await;
        post_signed(&t, &rec, &p).await;
        let tr = format!("/twilio/{c}/transcription?call_id=3");
        let p = [
            ("CallSid", "CA3"),
            ("TranscriptionSid", "GT1"),
            ("SequenceId", "1"),
            ("TranscriptionEvent", "transcription-content"),
            (
                "TranscriptionData",
                r#"{"transcript":"hello","confidence":0.9}"#,
            ),
            ("Track", "inbound_track"),
            ("Final", "true"),
        ];
        assert_eq!(post_signed(&t, &tr, &p).await.status(), 204);
        assert_eq!(post_signed(&t, &tr, &p).await.status(), 204);
        assert_eq!(
            drain(&mut rx),
            vec![
                CarrierEvent::MachineMessageEnd {
                    call_id: 3,
                    sid: CallSid("CA3".into())
                },
                CarrierEvent::RecordingReady {
                    call_id: 3,
                    url: "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1".into(),
                    duration_seconds: 12
                },
                CarrierEvent::Transcript {
                    call_id: 3,
                    speaker: "inbound".into(),
                    text: "hello".into(),
                    is_final: true
                },
            ]
        );
    }
);

on_both!(
    observing the_agent_joining_the_conference_is_agent_connected_with_the_agent_of_that_leg,
    |t: TestApp| async move {
        let c = twilio_client(&t, "Acme", true).await;
        let mut rx = events(&t);
        let leg = format!("/twilio/{c}/status?call_id=4&leg=agent");
        let p = [
            ("CallSid", "CA-agent"),
            ("CallStatus", "initiated"),
            ("To", "client:agent-7"),
        ];
        assert_eq!(post_signed(&t, &leg, &p).await.status(), 204);
        let p = [
            ("CallSid", "CA-agent"),
            ("CallStatus", "in-progress"),
            ("To", "client:agent-7"),
        ];
        assert_eq!(post_signed(&t, &leg, &p).await.status(), 204);
        assert!(
            drain(&mut rx).is_empty(),
            "agent-leg status is not a contact event"
        );
        let conf = format!("/twilio/{c}/conference?call_id=4");
        let contact = [
            ("ConferenceSid", "CF1"),
            ("StatusCallbackEvent", "participant-join"),
            ("CallSid", "CA-contact"),
            ("SequenceNumber", "1"),
        ];
        post_signed(&t, &conf, &contact).await;
        let agent = [
            ("ConferenceSid", "CF1"),
            ("StatusCallbackEvent", "participant-join"),
            ("CallSid", "CA-agent"),
            ("ParticipantLabel", "agent"),
            ("SequenceNumber", "2"),
        ];
        post_signed(&t, &conf, &agent).await;
        post_signed(&t, &conf, &agent).await;
        assert_eq!(
            drain(&mut rx),
            vec![CarrierEvent::AgentConnected {
                call_id: 4,
                agent_id: 7
            }]
        );
    }
);

on_both!(
    observing an_answered_status_carries_a_synchronous_amd_verdict,
    |t: TestApp| async move {
        let c = twilio_client(&t, "Acme", true).await;
        let mut rx = events(&t);
        let path = format!("/twilio/{c}/status?call_id=2");
        let p = [
            ("CallSid", "CA2"),
            ("CallStatus", "in-progress"),
            ("AnsweredBy", "human"),
        ];
        post_signed(&t, &path, &p).await;
        assert_eq!(
            drain(&mut rx),
            vec![CarrierEvent::Answered {
                call_id: 2,
                sid: CallSid("CA2".into()),
                by: AnsweredBy::Human
            }]
        );
    }
);

fn voice_params(sid: &str, to: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CallSid", sid.into()),
        ("From", "+14155550100".into()),
        ("To", to.into()),
        ("CallStatus", "ringing".into()),
        ("Direction", "inbound".into()),
    ]
}

on_both!(
    observing an_inbound_call_with_voice_on_waits_in_the_clients_queue_then_may_leave_a_voicemail,
    |t: TestApp| async move {
        let c = twilio_client(&t, "Acme", true).await;
        let mut rx = events(&t);
        let path = format!("/twilio/{c}/voice");
        let p = voice_params("CA9", "+14155550199");
        let r = post_signed(&t, &path, &refs(&p)).await;
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml"));
        let xml = r.text().await.unwrap();
        assert!(xml.starts_with("<?xml"), "{xml}");
        assert!(xml.contains("Thank you for calling Acme"), "{xml}");
        assert!(
            xml.contains(&format!(
                "<Enqueue waitUrl=\"{PUBLIC}/twilio/{c}/voice?step=wait\" waitUrlMethod=\"POST\" action=\"{PUBLIC}/twilio/{c}/voice?step=queue-exit\" method=\"POST\">client-{c}</Enqueue>"
            )),
            "{xml}"
        );
        // Twilio retrying the voice webhook gets the same TwiML; the call is recorded once.
        let again = post_signed(&t, &path, &refs(&p))
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(again, xml);
        let seen = t.db.store.recent_webhooks(c, 10).await.unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].kind, "voice");
        assert!(seen[0].summary.contains("+14155550100"), "{:?}", seen[0]);
        assert!(drain(&mut rx).is_empty());
        // Staff see the attempt on the client page.
        t.user("sue@x.io", palera_core::user::Role::Supervisor, vec![c])
            .await;
        let page = t
            .login("sue@x.io")
            .await
            .get(t.url(&format!("/admin/clients/{c}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("inbound call from +14155550100 to +14155550199 queued"),
            "{page}"
        );

        let wait = format!("/twilio/{c}/voice?step=wait");
        let early = post_signed(
            &t,
            &wait,
            &[
                ("CallSid", "CA9"),
                ("QueueTime", "10"),
                ("QueuePosition", "1"),
            ],
        )
        .await;
        let early = early.text().await.unwrap();
        assert!(
            early.contains("You are number 1 in line.") && early.contains("<Play>"),
            "{early}"
        );
        let late = post_signed(&t, &wait, &[("CallSid", "CA9"), ("QueueTime", "121")]).await;
        assert!(late.text().await.unwrap().contains("<Leave/>"));

        let exit = format!("/twilio/{c}/voice?step=queue-exit");
        let vm = post_signed(&t, &exit, &[("CallSid", "CA9"), ("QueueResult", "leave")]).await;
        let vm = vm.text().await.unwrap();
        assert!(
            vm.contains(&format!(
                "action=\"{PUBLIC}/twilio/{c}/voice?step=voicemail\""
            )),
            "a voicemail without an action would loop: {vm}"
        );
        let gone = post_signed(&t, &exit, &[("CallSid", "CA9"), ("QueueResult", "hangup")]).await;
        assert!(!gone.text().await.unwrap().contains("<Record"));
    }
);

on_both!(
    observing an_inbound_call_with_voice_off_is_asked_to_leave_a_voicemail,
    |t: TestApp| async move {
        let c = twilio_client(&t, "Quiet", false).await;
        let path = format!("/twilio/{c}/voice");
        let p = voice_params("CA10", "+14155550188");
        let xml = post_signed(&t, &path, &refs(&p))
            .await
            .text()
            .await
            .unwrap();
        assert!(
            xml.contains("Sorry, Quiet cannot take calls right now."),
            "{xml}"
        );
        assert!(xml.contains("<Record "), "{xml}");
        assert!(!xml.contains("<Enqueue"), "{xml}");
        let rec = format!("/twilio/{c}/recording");
        let done = [
            ("CallSid", "CA10"),
            ("RecordingSid", "RE9"),
            ("RecordingStatus", "completed"),
            ("RecordingUrl", "https://api.twilio.com/x/RE9"),
        ];
        assert_eq!(post_signed(&t, &rec, &done).await.status(), 204);
        let seen = t.db.store.recent_webhooks(c, 10).await.unwrap();
        assert!(
            seen.iter()
                .any(|w| w.summary == "inbound voicemail RE9 completed"),
            "{seen:?}"
        );
    }
);

on_both!(
    observing a_webhook_for_another_clients_call_is_refused_and_changes_nothing,
    |t: TestApp| async move {
        let mine = twilio_client(&t, "Mine", true).await;
        let theirs = twilio_client(&t, "Theirs", false).await;
        let mut rx = events(&t);
        // A call of the other client, with its carrier SID.
        let store = &t.db.store;
        let data = palera_core::contact::ContactData {
            phone: PhoneNumber::parse_e164("+12125550100").unwrap(),
            first_name: "Ann".into(),
            last_name: String::new(),
            email: None,
            time_zone: None,
            properties: Default::default(),
        };
        let contact = store
            .create_contact(theirs, None, &data, &palera_store::contacts::Actor::system("t"), 1)
            .await
            .unwrap();
        let call = store
            .create_inbound_call(theirs, contact.id, "+12125550100", Some("CAtheirs"), 1)
            .await
            .unwrap();
        // Signed with this client's own token, naming the other client's call: refused.
        let completed = [
            ("CallSid", "CAtheirs"),
            ("CallStatus", "completed"),
            ("CallDuration", "5"),
        ];
        for kind in ["status", "amd", "conference", "transcription"] {
            let path = format!("/twilio/{mine}/{kind}?call_id={}", call.id);
            let r = post_signed(&t, &path, &completed).await;
            assert_eq!(r.status(), 403, "{kind}");
        }
        // A call of this client whose CallSid is not the stored one: refused too.
        let own = store
            .create_inbound_call(mine, {
                let c = store
                    .create_contact(mine, None, &data, &palera_store::contacts::Actor::system("t"), 1)
                    .await
                    .unwrap();
                c.id
            }, "+12125550100", Some("CAmine"), 1)
            .await
            .unwrap();
        let path = format!("/twilio/{mine}/status?call_id={}", own.id);
        let r = post_signed(&t, &path, &completed).await;
        assert_eq!(r.status(), 403, "a CallSid that is not the call's");
        // Nothing was forwarded, stored or changed.
        assert!(drain(&mut rx).is_empty());
        assert!(store.recent_webhooks(mine, 10).await.unwrap().is_empty());
        assert_eq!(store.call_unscoped(call.id).await.unwrap().ended_at, None);
        // The right SID passes.
        let right = [
            ("CallSid", "CAmine"),
            ("CallStatus", "completed"),
            ("CallDuration", "5"),
        ];
        let r = post_signed(&t, &path, &right).await;
        assert_eq!(r.status(), 204);
    }
);

on_both!(
    a_crash_between_receipt_and_effect_loses_no_event,
    |mut t: TestApp| async move {
        use palera_store::twilio::NewReceipt;
        let c = twilio_client(&t, "Acme", true).await;
        let store = t.db.store.clone();
        let data = palera_core::contact::ContactFields {
            phone: "+12125550999".into(),
            ..Default::default()
        }
        .validate(&Default::default(), None)
        .unwrap();
        let actor = palera_store::contacts::Actor::system("test");
        let contact = store
            .create_contact(c, None, &data, &actor, 1)
            .await
            .unwrap();
        let agent = store
            .create_user(
                &palera_store::users::NewUser {
                    email: palera_core::user::Email::parse("email", "ann@x.io").unwrap(),
                    name: "Ann".into(),
                    role: palera_core::user::Role::Agent,
                    password_hash: palera_server::http::auth::hash_password(common::PASSWORD),
                    voice_enabled: true,
                    clients: vec![c],
                },
                1,
            )
            .await
            .unwrap();
        let call = store
            .create_manual_call(c, contact.id, agent.id, "+12125550999", 1)
            .await
            .unwrap()
            .id;
        store
            .start_recording(call, Some("RE1"), false, 2)
            .await
            .unwrap();
        // The recording callback was received: its receipt and event are stored (the one insert
        // the handler makes), and the process stopped before the engine applied the event.
        let url = format!("https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/RE1");
        let event = CarrierEvent::RecordingReady {
            call_id: call.0,
            url: url.clone(),
            duration_seconds: 42,
        };
        let json = serde_json::to_string(&event).unwrap();
        let first = store
            .record_webhook(&NewReceipt {
                client: c,
                event_key: "recording:RE1:completed",
                kind: "recording",
                call_sid: Some("CA1"),
                call_id: Some(call.0),
                summary: "recording RE1 completed",
                received_at: t.app.now_ms(),
                event: Some(&json),
            })
            .await
            .unwrap();
        assert!(first);
        t.restart().await;
        // The new engine replays it: the recording is ready to be fetched.
        let rec = common::eventually(
            "the event applied after the restart",
            common::WAIT,
            || async {
                store
                    .recording_for_call(c, call)
                    .await
                    .unwrap()
                    .filter(|r| r.source_url.is_some())
            },
        )
        .await;
        assert_eq!(rec.source_url.as_deref(), Some(url.as_str()));
        assert_eq!(rec.duration_seconds, Some(42));
        // Marked applied once applied.
        common::eventually(
            "the replayed event marked applied",
            common::WAIT,
            || async { store.unapplied_webhooks(10).await.unwrap().is_empty() },
        )
        .await;
        // A webhook delivered normally is marked applied once the engine handled it.
        let path = format!("/twilio/{c}/status?call_id={}", call.0);
        let p = ringing("CA1");
        assert_eq!(post_signed(&t, &path, &refs(&p)).await.status(), 204);
        common::eventually("the status event applied", common::WAIT, || async {
            store.unapplied_webhooks(10).await.unwrap().is_empty()
        })
        .await;
        assert_eq!(store.webhook_count(c).await.unwrap(), 2);
    }
);

on_both!(
    an_inbound_caller_received_before_a_crash_is_recorded_once_after_the_restart,
    |mut t: TestApp| async move {
        use palera_server::engine::{Arrival, WebhookEffect};
        use palera_store::twilio::NewReceipt;
        let c = twilio_client(&t, "Acme", true).await;
        let store = t.db.store.clone();
        // The running engine has replayed what it found at its start (nothing).
        common::eventually("the engine runs", common::WAIT, || async {
            t.app.engine.is_running()
        })
        .await;
        // The voice webhook of caller CA77 was received: its receipt and the arrival are stored
        // (the handler's one insert), and the process stopped before the engine routed it.
        let arrival = WebhookEffect::Inbound {
            inbound: Arrival {
                client: c,
                from: palera_core::phone::PhoneNumber::parse_e164("+14155550100").unwrap(),
                sid: Some(palera_carrier::CallSid("CA77".into())),
                patience_seconds: 0.0,
                talk_seconds: 0.0,
            },
        };
        let json = serde_json::to_string(&arrival).unwrap();
        let receipt = |key: &'static str| NewReceipt {
            client: c,
            event_key: key,
            kind: "voice",
            call_sid: Some("CA77"),
            call_id: None,
            summary: "inbound call from +14155550100 queued",
            received_at: 1,
            event: None,
        };
        let now = t.app.now_ms();
        assert!(store
            .record_webhook(&NewReceipt {
                received_at: now,
                event: Some(&json),
                ..receipt("voice:CA77")
            })
            .await
            .unwrap());
        t.restart().await;
        // The new engine replays it: the caller's call is recorded (and would be offered).
        let call = common::eventually(
            "the arrival applied after the restart",
            common::WAIT,
            || async { store.call_by_sid(c, "CA77").await.unwrap() },
        )
        .await;
        assert_eq!(call.direction, "inbound");
        common::eventually("the arrival marked applied", common::WAIT, || async {
            store.unapplied_webhooks(10).await.unwrap().is_empty()
        })
        .await;
        // Applied but not marked (a stop between the two): replaying it records nothing more.
        assert!(store
            .record_webhook(&NewReceipt {
                received_at: t.app.now_ms(),
                event: Some(&json),
                ..receipt("voice:CA77:again")
            })
            .await
            .unwrap());
        t.restart().await;
        common::eventually("the second arrival applied", common::WAIT, || async {
            store.unapplied_webhooks(10).await.unwrap().is_empty()
        })
        .await;
        // Twilio retrying the voice webhook changes nothing either.
        let p = voice_params("CA77", "+14155550199");
        let r = post_signed(&t, &format!("/twilio/{c}/voice"), &refs(&p)).await;
        assert_eq!(r.status(), 200);
        let calls: Vec<_> = store
            .contact_calls(c, call.contact_id.unwrap(), 10)
            .await
            .unwrap();
        assert_eq!(calls.len(), 1, "one call for CA77: {calls:#?}");
    }
);
