//! A client's Twilio account from the API and the settings page: Voice SDK access tokens for
//! assigned agents, "Check credentials" and pointing the client's numbers at this server, the
//! last two against the fake Twilio. On SQLite and PostgreSQL.

use crate::common;
use crate::common::fake_twilio;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{json, TestApp};
use fake_twilio::FakeTwilio;
use palera_core::ids::ClientId;
use palera_core::phone::PhoneNumber;
use palera_core::tenant::ClientFields;
use palera_core::user::Role;
use palera_store::clients::SecretInput;
use serde_json::Value;

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "auth-token-0123456789-SECRET";
const KEY_SID: &str = "SK0123456789abcdef0123456789abcdef";
const KEY_SECRET: &str = "api-key-secret-TOPSECRET";
const APP_SID: &str = "AP0123456789abcdef0123456789abcdef";
const PUBLIC: &str = "https://voice.example.com";

struct Setup {
    twiml_app: bool,
    api_key: bool,
    voice_enabled: bool,
    auth_token: &'static str,
}

const FULL: Setup = Setup {
    twiml_app: true,
    api_key: true,
    voice_enabled: true,
    auth_token: TOKEN,
};

async fn client(t: &TestApp, name: &str, s: Setup) -> ClientId {
    let settings = ClientFields {
        name: name.into(),
        account_sid: Some(ACCOUNT.into()),
        api_key_sid: s.api_key.then(|| KEY_SID.into()),
        twiml_app_sid: s.twiml_app.then(|| APP_SID.into()),
        voice_enabled: Some(s.voice_enabled),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let secrets = SecretInput {
        auth_token: Some(s.auth_token.into()),
        api_key_secret: s.api_key.then(|| KEY_SECRET.into()),
    };
    let numbers: Vec<PhoneNumber> = ["+14155550101", "+14155550102"]
        .iter()
        .map(|n| PhoneNumber::parse_e164(n).unwrap())
        .collect();
    let numbers = if name == "Acme" { numbers } else { vec![] };
    t.db.store
        .create_client(&settings, &secrets, &numbers, 1)
        .await
        .unwrap()
        .id
}

fn jwt_part(token: &str, i: usize) -> Value {
    let part = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

on_both!(
    an_assigned_agent_gets_a_voice_token_for_the_clients_twiml_app_valid_at_most_an_hour,
    |t: TestApp| async move {
        let c = client(&t, "Acme", FULL).await;
        let agent = t.user("ann@x.io", Role::Agent, vec![c]).await;
        let http = t.login("ann@x.io").await;
        let (s, body) = json(http.get(t.url(&format!("/api/v1/clients/{c}/voice-token")))).await;
        assert_eq!(s, 200, "{body}");
        let token = body["token"].as_str().unwrap();
        let header = jwt_part(token, 0);
        assert_eq!(header["alg"], "HS256");
        assert_eq!(header["cty"], "twilio-fpa;v=1");
        let claims = jwt_part(token, 1);
        assert_eq!(claims["iss"], KEY_SID);
        assert_eq!(claims["sub"], ACCOUNT);
        let identity = format!("agent-{}", agent.id);
        assert_eq!(claims["grants"]["identity"], identity);
        assert_eq!(body["identity"], identity);
        assert_eq!(
            claims["grants"]["voice"]["outgoing"]["application_sid"],
            APP_SID
        );
        assert_eq!(claims["grants"]["voice"]["incoming"]["allow"], true);
        let life = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
        assert!(life > 0 && life <= 3600, "{life}");
        assert_eq!(
            body["expires_at"].as_i64().unwrap(),
            claims["exp"].as_i64().unwrap() * 1000
        );
        assert!(!body.to_string().contains(KEY_SECRET));
        let (_, doc) = json(http.get(t.url("/api/openapi.json"))).await;
        for path in [
            "/api/v1/clients/{client_id}/voice-token",
            "/api/v1/clients/{client_id}/twilio/check-credentials",
            "/api/v1/clients/{client_id}/twilio/numbers",
            "/api/v1/clients/{client_id}/twilio/numbers/point",
        ] {
            assert!(doc["paths"][path].is_object(), "{path} is documented");
        }
    }
);

on_both!(
    voice_tokens_are_refused_naming_what_is_missing,
    |t: TestApp| async move {
        let no_app = client(
            &t,
            "NoApp",
            Setup {
                twiml_app: false,
                ..FULL
            },
        )
        .await;
        let no_key = client(
            &t,
            "NoKey",
            Setup {
                api_key: false,
                ..FULL
            },
        )
        .await;
        let off = client(
            &t,
            "Off",
            Setup {
                voice_enabled: false,
                ..FULL
            },
        )
        .await;
        t.user("ann@x.io", Role::Agent, vec![no_app, no_key, off])
            .await;
        let http = t.login("ann@x.io").await;
        for (c, field) in [
            (no_app, "twiml_app_sid"),
            (no_key, "api_key_sid"),
            (off, "voice_enabled"),
        ] {
            let (s, body) =
                json(http.get(t.url(&format!("/api/v1/clients/{c}/voice-token")))).await;
            assert_eq!(s, 409, "{body}");
            assert_eq!(body["error"]["field"], field, "{body}");
        }
    }
);

on_both!(
    voice_tokens_of_other_clients_are_404_and_unassigned_or_voiceless_users_are_refused,
    |t: TestApp| async move {
        let acme = client(&t, "Acme", FULL).await;
        let other = client(&t, "Other", FULL).await;
        t.user("ann@x.io", Role::Agent, vec![acme]).await;
        t.user("root@x.io", Role::Admin, vec![]).await;
        let http = t.login("ann@x.io").await;
        let (s, _) = json(http.get(t.url(&format!("/api/v1/clients/{other}/voice-token")))).await;
        assert_eq!(s, 404);
        let admin = t.login("root@x.io").await;
        let (s, body) =
            json(admin.get(t.url(&format!("/api/v1/clients/{acme}/voice-token")))).await;
        assert_eq!(s, 403, "{body}");
        let mute = t.user("mute@x.io", Role::Agent, vec![acme]).await;
        t.db.store
            .update_user_access(mute.id, "Mute", Role::Agent, false, &[acme])
            .await
            .unwrap();
        let http = t.login("mute@x.io").await;
        let (s, body) = json(http.get(t.url(&format!("/api/v1/clients/{acme}/voice-token")))).await;
        assert_eq!(s, 409, "{body}");
        assert_eq!(body["error"]["field"], "voice_enabled");
        let anon = common::client();
        let (s, _) = json(anon.get(t.url(&format!("/api/v1/clients/{acme}/voice-token")))).await;
        assert_eq!(s, 401);
    }
);

async fn fake_for(t: &TestApp) -> FakeTwilio {
    let fake = FakeTwilio::start(ACCOUNT, TOKEN, PUBLIC, &t.base).await;
    fake.accept_api_key(KEY_SID, KEY_SECRET);
    *t.app.carriers.twilio_base_url.lock().unwrap() = fake.base.clone();
    fake
}

on_both!(
    check_credentials_reports_each_credential_with_twilios_message_and_never_the_secret,
    |t: TestApp| async move {
        let good = client(&t, "Acme", FULL).await;
        let bad = client(
            &t,
            "Wrong",
            Setup {
                auth_token: "wrong-token-NOTRIGHT",
                ..FULL
            },
        )
        .await;
        let _fake = fake_for(&t).await;
        t.user("sue@x.io", Role::Supervisor, vec![good, bad]).await;
        let http = t.login("sue@x.io").await;
        let check = |c: ClientId| {
            http.post(t.url(&format!("/api/v1/clients/{c}/twilio/check-credentials")))
        };
        let (s, body) = json(check(good)).await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["ok"], true, "{body}");
        assert_eq!(body["results"].as_array().unwrap().len(), 2, "{body}");
        let (s, body) = json(check(bad)).await;
        assert_eq!(s, 200);
        assert_eq!(body["ok"], false, "{body}");
        let auth = &body["results"][0];
        assert_eq!(auth["credential"], "auth_token");
        assert_eq!(auth["ok"], false);
        assert!(
            auth["message"].as_str().unwrap().contains("Authenticate"),
            "{body}"
        );
        assert_eq!(body["results"][1]["ok"], true, "the API key still works");
        let text = body.to_string();
        assert!(
            !text.contains("NOTRIGHT") && !text.contains("TOPSECRET"),
            "{text}"
        );

        // The page shows the same outcome.
        let page = http
            .get(t.url(&format!("/admin/clients/{bad}")))
            .send()
            .await
            .unwrap();
        let html = page.text().await.unwrap();
        assert!(html.contains("Check credentials"), "{html}");
        let csrf = html
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        let r = http
            .post(t.url(&format!("/admin/clients/{bad}/twilio/check")))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        let html = r.text().await.unwrap();
        assert!(html.contains("Twilio credential check failed"), "{html}");
        assert!(html.contains("Authenticate"));
        assert!(!html.contains("NOTRIGHT"));
    }
);

on_both!(
    pointing_numbers_shows_the_plan_first_and_updates_each_voice_url_on_confirmation,
    |t: TestApp| async move {
        let c = client(&t, "Acme", FULL).await;
        let fake = fake_for(&t).await;
        fake.add_number("+14155550101", Some("https://old.example.com/voice"));
        t.user("root@x.io", Role::Admin, vec![]).await;
        let http = t.login("root@x.io").await;
        let page = http
            .get(t.url(&format!("/admin/clients/{c}/twilio/numbers")))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        let voice_url = format!("{PUBLIC}/twilio/{c}/voice");
        assert!(html.contains("https://old.example.com/voice"), "{html}");
        assert!(html.contains(&voice_url), "{html}");
        assert!(html.contains("not on this Twilio account"), "{html}");
        assert!(
            fake.requests_to("POST", "IncomingPhoneNumbers").is_empty(),
            "nothing changes before confirmation"
        );
        let csrf = html
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        let forged = http
            .post(t.url(&format!("/admin/clients/{c}/twilio/numbers")))
            .form(&[("csrf", "forged")])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 403);
        let done = http
            .post(t.url(&format!("/admin/clients/{c}/twilio/numbers")))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(done.contains("voice calls now go to"), "{done}");
        let updates = fake.requests_to("POST", ".json");
        let update = updates
            .iter()
            .find(|r| r.path.starts_with("/IncomingPhoneNumbers/PN"))
            .expect("the number was updated");
        assert_eq!(update.get("VoiceUrl"), Some(voice_url.as_str()));
        assert_eq!(update.get("VoiceMethod"), Some("POST"));
        assert_eq!(
            update.get("StatusCallback"),
            Some(format!("{PUBLIC}/twilio/{c}/status").as_str())
        );
        assert_eq!(
            fake.numbers()[0].voice_url.as_deref(),
            Some(voice_url.as_str())
        );

        // The API gives the same plan, now up to date.
        let (s, plan) = json(http.get(t.url(&format!("/api/v1/clients/{c}/twilio/numbers")))).await;
        assert_eq!(s, 200, "{plan}");
        assert_eq!(plan[0]["number"], "+14155550101");
        assert_eq!(plan[0]["up_to_date"], true);
        assert_eq!(plan[1]["sid"], Value::Null);
        let (s, results) =
            json(http.post(t.url(&format!("/api/v1/clients/{c}/twilio/numbers/point")))).await;
        assert_eq!(s, 200);
        assert_eq!(results[0]["ok"], true);
        assert_eq!(results[1]["ok"], false);
    }
);

on_both!(
    agents_cannot_check_credentials_or_point_numbers_and_supervisors_cannot_point_numbers,
    |t: TestApp| async move {
        let c = client(&t, "Acme", FULL).await;
        t.user("ann@x.io", Role::Agent, vec![c]).await;
        t.user("sue@x.io", Role::Supervisor, vec![c]).await;
        let agent = t.login("ann@x.io").await;
        for req in [
            agent.post(t.url(&format!("/api/v1/clients/{c}/twilio/check-credentials"))),
            agent.get(t.url(&format!("/api/v1/clients/{c}/twilio/numbers"))),
            agent.post(t.url(&format!("/api/v1/clients/{c}/twilio/numbers/point"))),
            agent.get(t.url(&format!("/api/v1/clients/{c}/twilio/webhooks"))),
        ] {
            assert_eq!(json(req).await.0, 403);
        }
        let sup = t.login("sue@x.io").await;
        let (s, _) =
            json(sup.post(t.url(&format!("/api/v1/clients/{c}/twilio/numbers/point")))).await;
        assert_eq!(s, 403);
        let (s, _) = json(sup.get(t.url(&format!("/api/v1/clients/{c}/twilio/webhooks")))).await;
        assert_eq!(s, 200);
    }
);
