//! The desktop's phone panel as served: in Twilio mode, for an agent of a voice-enabled Twilio
//! client, the page loads the Twilio Voice SDK from its setting pinned with its
//! subresource-integrity hash (`integrity` + `crossorigin`); without the settings it says which
//! are missing; in demo (simulated network) it shows the simulated softphone and loads no SDK.
//! Voicemail drop on a campaign without a message is refused, naming the setting, and the call
//! goes on. On SQLite and PostgreSQL.

use crate::common;
use crate::common::sim_rig as rig;

use common::TestApp;
use palera_core::user::Role;
use palera_server::config::CarrierMode;
use palera_store::Backend;

const SDK: &str = "https://cdn.example.com/voice-sdk/2.18.5/twilio.min.js";
const HASH: &str = "sha384-oqVuAfXRKap7fdgcCY5uykM6+R9GqQ8K/uxy9rx7HNQlGYl1kPzQho1wx4JwY8wC";

/// A client with everything voice tokens need (or, with `voice` false, voice switched off).
async fn twilio_client(app: &TestApp, name: &str, voice: bool) -> palera_core::ids::ClientId {
    let settings = palera_core::tenant::ClientFields {
        name: name.into(),
        account_sid: Some("AC0123456789abcdef0123456789abcdef".into()),
        api_key_sid: Some("SK0123456789abcdef0123456789abcdef".into()),
        twiml_app_sid: Some("AP0123456789abcdef0123456789abcdef".into()),
        voice_enabled: Some(voice),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let secrets = palera_store::clients::SecretInput {
        auth_token: Some("token".into()),
        api_key_secret: Some("key-secret".into()),
    };
    app.db
        .store
        .create_client(&settings, &secrets, &[], 1)
        .await
        .unwrap()
        .id
}

/// The desktop page of `email`, with HTML entities in attributes decoded.
async fn desktop_html(app: &TestApp, email: &str) -> String {
    let c = app.login(email).await;
    let r = c.get(app.url("/desktop")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.text()
        .await
        .unwrap()
        .replace("&#x2f;", "/")
        .replace("&#x2b;", "+")
        .replace("&#x3d;", "=")
}

fn sdk_tag() -> String {
    format!(
        r#"<script id="twilio-sdk" src="{SDK}" integrity="{HASH}" crossorigin="anonymous"></script>"#
    )
}

async fn twilio_server(backend: Backend, configured: bool) -> Option<TestApp> {
    common::spawn_with(backend, move |s| {
        s.carrier = CarrierMode::Twilio;
        if configured {
            s.voice_sdk_url = Some(SDK.into());
            s.voice_sdk_integrity = Some(HASH.into());
        }
    })
    .await
}

async fn the_page_includes_the_twilio_sdk_with_its_integrity_hash_for_agents_of_twilio_clients(
    backend: Backend,
) {
    let Some(app) = twilio_server(backend, true).await else {
        return;
    };
    let acme = twilio_client(&app, "Acme", true).await;
    let quiet = twilio_client(&app, "Quiet", false).await;
    app.user("ann@x.io", Role::Agent, vec![acme]).await;
    app.user("bob@x.io", Role::Agent, vec![quiet]).await;

    let html = desktop_html(&app, "ann@x.io").await;
    assert!(html.contains(&sdk_tag()), "{html}");
    assert!(html.contains(r#"data-mode="twilio""#), "{html}");
    let sdk_at = html.find(&sdk_tag()).unwrap();
    let script_at = html.find(r#"<script src="/static/softphone.js">"#).unwrap();
    assert!(
        sdk_at < script_at,
        "the SDK loads before the softphone script"
    );
    let js = common::client()
        .get(app.url("/static/softphone.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.headers()["content-type"], "text/javascript");
    assert!(js.text().await.unwrap().contains("Twilio.Device"));

    // No voice-enabled Twilio client: no SDK, and the panel says why.
    let html = desktop_html(&app, "bob@x.io").await;
    assert!(!html.contains("twilio-sdk"), "{html}");
    assert!(html.contains(r#"data-mode="none""#), "{html}");
    assert!(html.contains("No voice-enabled Twilio client is assigned to you."));
}

async fn without_the_sdk_settings_the_twilio_desktop_names_them(backend: Backend) {
    let Some(app) = twilio_server(backend, false).await else {
        return;
    };
    let acme = twilio_client(&app, "Acme", true).await;
    app.user("ann@x.io", Role::Agent, vec![acme]).await;
    let html = desktop_html(&app, "ann@x.io").await;
    assert!(!html.contains("twilio-sdk"), "{html}");
    assert!(
        html.contains("PALERA_VOICE_SDK_URL") && html.contains("PALERA_VOICE_SDK_INTEGRITY"),
        "{html}"
    );
}

async fn the_demo_desktop_has_the_simulated_softphone_and_no_sdk(backend: Backend) {
    let Some(app) = common::spawn_with(backend, |s| {
        s.carrier = CarrierMode::Simulated;
        s.voice_sdk_url = Some(SDK.into());
        s.voice_sdk_integrity = Some(HASH.into());
    })
    .await
    else {
        return;
    };
    palera_server::cli::demo::seed(&app.db.store, 1)
        .await
        .unwrap();
    let c = common::client();
    let r = c
        .post(app.url("/api/v1/session"))
        .json(&serde_json::json!({"email": "agent1@demo.test", "password": palera_server::cli::demo::DEMO_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = c
        .get(app.url("/desktop"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"data-mode="simulated""#), "{html}");
    assert!(!html.contains("twilio-sdk"), "{html}");
    assert!(html.contains(r#"id="softphone-voicemail""#), "{html}");
}

async fn voicemail_drop_without_a_message_is_refused_and_the_call_goes_on(backend: Backend) {
    let Some(r) = rig::sim_rig(
        backend,
        rig::Setup {
            voicemail: false,
            hold_music: false,
            contacts: 1,
            ..Default::default()
        },
    )
    .await
    else {
        return;
    };
    let agent = r.login(0).await;
    let (status, body) = common::json(
        agent
            .put(r.url("/api/v1/me/voice-state"))
            .json(&serde_json::json!({"state": "ready"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    r.start().await;
    let call = rig::eventually(
        "a connected call",
        std::time::Duration::from_secs(15),
        || async {
            r.calls()
                .await
                .into_iter()
                .find(|c| c.connected_at.is_some())
                .map(|c| c.id)
        },
    )
    .await;
    let (status, body) =
        common::json(agent.post(r.url(&format!("/api/v1/calls/{call}/voicemail-drop")))).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "voicemail_url", "{body}");
    // The agent is still on the call and can hold it: with no hold music of the campaign's own,
    // the caller hears the default track.
    let (status, body) =
        common::json(agent.post(r.url(&format!("/api/v1/calls/{call}/hold")))).await;
    assert_eq!(status, 204, "{body}");
    let row = r.store().call_unscoped(call).await.unwrap();
    assert!(row.ended_at.is_none(), "{row:#?}");
}

twins!(the_page_includes_the_twilio_sdk_with_its_integrity_hash_for_agents_of_twilio_clients);
twins!(without_the_sdk_settings_the_twilio_desktop_names_them);
twins!(the_demo_desktop_has_the_simulated_softphone_and_no_sdk);
twins!(voicemail_drop_without_a_message_is_refused_and_the_call_goes_on);
