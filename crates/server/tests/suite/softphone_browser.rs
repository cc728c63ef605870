//! The agent desktop's call handling in real Chromium against demo-like installations on the
//! simulated network (DESIGN §2.1, §2.3): voicemail drop frees the agent at once while the
//! simulated contact hears the message to its end; an agent who goes Standby or Offline gets no
//! new call and their pending contacts go to the others; two agents never see the same contact
//! at the same time. Needs chromedriver (or `PALERA_SKIP_BROWSER=1` to skip).

use crate::common;
use crate::common::browser as kit;
use crate::common::sim_rig as rig;

use fantoccini::{Client, Locator};
use kit::{attr, browser, chromedriver, click, login, text, wait_attr};
use palera_carrier::sim::realtime::{Hearing, Observation, Observed, SimCarrier};
use palera_carrier::CarrierEvent;
use palera_core::campaign::DialMode;
use palera_store::Backend;
use rig::{eventually, humans, sim_rig, Setup, SimRig};
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Logs agent `i` in, waits for the live link and switches to `state` with its button.
async fn desktop(c: &Client, r: &SimRig, i: usize, state: &str) {
    login(c, &r.base, &rig::agent_email(i)).await;
    assert_eq!(
        kit::wait_text(c, "#link-status", "Connected").await,
        "Connected"
    );
    click(c, &format!("[data-set-state={state}]")).await;
}

/// Presses Alt+`key` on the page.
async fn alt(c: &Client, key: char) {
    c.find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys(&format!("\u{E00A}{key}\u{E000}"))
        .await
        .unwrap();
}

/// Every observation of the simulated network about `call_id` so far, reading the tap dry.
fn drain(tap: &mut tokio::sync::broadcast::Receiver<Observed>, log: &mut Vec<Observed>) {
    while let Ok(o) = tap.try_recv() {
        log.push(o);
    }
}

fn call_of(o: &Observation) -> Option<i64> {
    match o {
        Observation::Hears { call_id, .. } => Some(*call_id),
        Observation::Event(e) => Some(match e {
            CarrierEvent::Ringing { call_id, .. }
            | CarrierEvent::Answered { call_id, .. }
            | CarrierEvent::MachineMessageEnd { call_id, .. }
            | CarrierEvent::AgentConnected { call_id, .. }
            | CarrierEvent::PlaybackFinished { call_id }
            | CarrierEvent::Ended { call_id, .. }
            | CarrierEvent::RecordingReady { call_id, .. }
            | CarrierEvent::Transcript { call_id, .. } => *call_id,
        }),
    }
}

/// When the contact of `call` started hearing the voicemail message, when it finished, and when
/// the leg ended — checking nothing ended the leg in between.
fn message_timeline(log: &[Observed], call: i64, sim: &SimCarrier) -> (Instant, Instant, Instant) {
    let mine: Vec<&Observed> = log
        .iter()
        .filter(|o| call_of(&o.what) == Some(call))
        .collect();
    let find = |want: &dyn Fn(&Observation) -> bool| {
        mine.iter()
            .find(|o| want(&o.what))
            .map(|o| o.at)
            .unwrap_or_else(|| panic!("call {call}: missing in {mine:#?}"))
    };
    let started = find(
        &|w| matches!(w, Observation::Hears { hearing: Hearing::Message { url }, .. } if url == rig::VOICEMAIL),
    );
    let finished =
        find(&|w| matches!(w, Observation::Event(CarrierEvent::PlaybackFinished { .. })));
    let ended = find(&|w| matches!(w, Observation::Event(CarrierEvent::Ended { .. })));
    let cut = mine.iter().any(|o| {
        o.at > started
            && o.at < finished
            && matches!(
                o.what,
                Observation::Hears { .. } | Observation::Event(CarrierEvent::Ended { .. })
            )
    });
    assert!(!cut, "call {call}: the message was interrupted: {mine:#?}");
    assert!(
        finished.duration_since(started) >= sim.real(SimCarrier::MESSAGE_SECONDS),
        "call {call}: the message played {:?}, shorter than it is",
        finished.duration_since(started)
    );
    assert!(
        ended >= finished,
        "call {call}: hung up before the message ended"
    );
    (started, finished, ended)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voicemail_drop_frees_the_agent_within_a_second_while_the_contact_hears_the_message_to_its_end(
) {
    let Some(driver) = chromedriver() else { return };
    // Answers after 1 s, would talk for an hour; the 15 s message lasts 3 s at this speed.
    let r = sim_rig(
        Backend::Sqlite,
        Setup {
            behaviour: humans(1.0, 3600.0),
            time_scale: 5.0,
            contacts: 2,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut tap = r.tap();
    let mut log = Vec::new();
    let c = browser(&driver).await;
    desktop(&c, &r, 0, "ready").await;
    r.start().await;

    let mut released: Vec<(i64, Instant)> = Vec::new();
    for by_keyboard in [false, true] {
        wait_attr(
            &c,
            "#softphone-audio",
            "data-audio",
            &["connected"],
            Duration::from_secs(15),
        )
        .await;
        let call: i64 = eventually("the connected call", Duration::from_secs(5), || async {
            r.calls()
                .await
                .iter()
                .find(|c| c.connected_at.is_some() && !released.iter().any(|(id, _)| *id == c.id.0))
                .map(|c| c.id.0)
        })
        .await;
        let clicked = Instant::now();
        if by_keyboard {
            alt(&c, 'v').await;
        } else {
            click(&c, "#softphone-voicemail").await;
        }
        // Released: the call panel lets go of the call (free, or already offering the next one).
        wait_attr(
            &c,
            "#call-panel",
            "data-status",
            &["none", "ringing"],
            Duration::from_secs(2),
        )
        .await;
        let freed = clicked.elapsed();
        assert!(
            freed < Duration::from_secs(1),
            "call {call}: the agent was released after {freed:?}"
        );
        released.push((call, Instant::now()));
    }
    // The first drop freed the agent for the second call while its message still played.
    let (first_call, first_freed) = released[0];
    let (second_call, _) = released[1];
    for (call, _) in &released {
        eventually(
            "the message ends and the call is logged with its disposition",
            Duration::from_secs(10),
            || async {
                // The end is stored first, the completed attempt's disposition right after.
                r.store()
                    .call_unscoped(palera_core::ids::CallId(*call))
                    .await
                    .ok()
                    .filter(|c| c.ended_at.is_some() && c.disposition.is_some())
            },
        )
        .await;
    }
    drain(&mut tap, &mut log);
    let (started, finished, _) = message_timeline(&log, first_call, r.sim());
    assert!(
        first_freed < finished,
        "the agent was free before the message ended"
    );
    assert!(started <= first_freed);
    let second_connected = log
        .iter()
        .find(|o| {
            call_of(&o.what) == Some(second_call)
                && matches!(
                    o.what,
                    Observation::Hears {
                        hearing: Hearing::Agent,
                        ..
                    }
                )
        })
        .map(|o| o.at)
        .expect("the second call reached the agent");
    assert!(
        second_connected < finished,
        "the next call came while the first message still played"
    );
    message_timeline(&log, second_call, r.sim());

    for (call, _) in &released {
        let row = r
            .store()
            .call_unscoped(palera_core::ids::CallId(*call))
            .await
            .unwrap();
        assert_eq!(row.outcome, "voicemail_dropped", "{row:#?}");
        assert_eq!(row.disposition.as_deref(), Some("voicemail_dropped"));
    }
    // The phone panel says the last message played to its end.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !text(&c, "#softphone-drop").await.contains("to its end") {
        assert!(
            Instant::now() < deadline,
            "{}",
            text(&c, "#softphone-drop").await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        attr(&c, "#softphone-audio", "data-audio").await.as_deref(),
        Some("ended")
    );
    c.close().await.unwrap();
}

/// Polls both desktops, failing if they ever show the same contact.
async fn watch_pair(a: &Client, b: &Client, limit: Duration) -> (usize, usize) {
    let seen = |c: &Client| {
        let c = c.clone();
        async move {
            c.execute(
                "return document.getElementById('softphone').dataset.phone || null",
                vec![],
            )
            .await
            .unwrap_or(Value::Null)
            .as_str()
            .map(str::to_owned)
        }
    };
    let (mut a_seen, mut b_seen) = (
        std::collections::HashSet::new(),
        std::collections::HashSet::new(),
    );
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let (x, y) = (seen(a).await, seen(b).await);
        if let (Some(x), Some(y)) = (&x, &y) {
            assert_ne!(x, y, "both agents see {x} at the same time");
        }
        a_seen.extend(x);
        b_seen.extend(y);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    (a_seen.len(), b_seen.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_never_see_the_same_contact_at_the_same_time() {
    let Some(driver) = chromedriver() else { return };
    // Calls of about 1.5 s each and a 1 s wrap-up: each agent runs through several calls.
    let r = sim_rig(
        Backend::Sqlite,
        Setup {
            behaviour: humans(1.0, 6.0),
            time_scale: 4.0,
            agents: 2,
            contacts: 12,
            wrap_up_seconds: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let a = browser(&driver).await;
    let b = browser(&driver).await;
    desktop(&a, &r, 0, "ready").await;
    desktop(&b, &r, 1, "ready").await;
    r.start().await;
    let (by_a, by_b) = watch_pair(&a, &b, Duration::from_secs(14)).await;
    assert!(
        by_a >= 3 && by_b >= 3,
        "several calls each: {by_a} and {by_b} contacts"
    );

    // The server agrees: no contact had two calls up at once.
    let calls = r.calls().await;
    let mut per_contact: HashMap<_, Vec<(i64, i64)>> = HashMap::new();
    for c in &calls {
        per_contact
            .entry(c.contact_id)
            .or_default()
            .push((c.placed_at, c.ended_at.unwrap_or(i64::MAX)));
    }
    for (contact, mut spans) in per_contact {
        spans.sort();
        for w in spans.windows(2) {
            assert!(
                w[0].1 <= w[1].0,
                "contact {contact:?} called twice at once: {spans:?}"
            );
        }
    }
    a.close().await.unwrap();
    b.close().await.unwrap();
}

/// Whether any call was placed for `agent` after `since_ms`.
async fn calls_for_since(r: &SimRig, agent: palera_core::ids::UserId, since_ms: i64) -> usize {
    r.calls()
        .await
        .iter()
        .filter(|c| c.agent_id == Some(agent) && c.placed_at > since_ms)
        .count()
}

/// Ends agent `i`'s call from the page and gives it a disposition.
/// Hangs up and disposes the current call, then waits until the panel leaves wrap-up for one of
/// `then` (a Ready agent may get its next call faster than the page can be polled).
async fn finish_call(c: &Client, then: &[&str]) {
    click(c, "#call-hangup").await;
    wait_attr(
        c,
        "#call-panel",
        "data-status",
        &["wrap_up"],
        Duration::from_secs(5),
    )
    .await;
    // Nothing is preselected: pick the first disposition, then save.
    c.execute(
        "const s = document.getElementById('disposition'); s.selectedIndex = 1; s.dispatchEvent(new Event('change'));",
        vec![],
    )
    .await
    .unwrap();
    click(c, "#disposition-form button[type=submit]").await;
    wait_attr(
        c,
        "#call-panel",
        "data-status",
        then,
        Duration::from_secs(5),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_who_goes_standby_or_offline_gets_no_new_call_and_their_contacts_are_redistributed(
) {
    let Some(driver) = chromedriver() else { return };
    let r = sim_rig(
        Backend::Sqlite,
        Setup {
            behaviour: humans(1.0, 3600.0),
            time_scale: 5.0,
            agents: 2,
            contacts: 10,
            mode: DialMode::Progressive,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (a0, a1) = (r.agents[0], r.agents[1]);
    let a = browser(&driver).await;
    let b = browser(&driver).await;
    desktop(&a, &r, 0, "ready").await;
    desktop(&b, &r, 1, "ready").await;
    r.start().await;
    // Both on a call, each holding an equal share of the rest.
    for c in [&a, &b] {
        wait_attr(
            c,
            "#call-panel",
            "data-status",
            &["on_call"],
            Duration::from_secs(15),
        )
        .await;
    }
    eventually("equal shares", Duration::from_secs(10), || async {
        let (x, y) = (r.held_by(a0).await, r.held_by(a1).await);
        (x > 0 && y > 0 && x.abs_diff(y) <= 1).then_some(())
    })
    .await;

    for (how, state) in [("button", "standby"), ("keyboard", "offline")] {
        // The second agent steps away mid-call: their pending contacts go to the first at once.
        let before = r.held_by(a0).await + r.held_by(a1).await;
        if how == "button" {
            click(&b, &format!("[data-set-state={state}]")).await;
        } else {
            alt(&b, '3').await;
        }
        wait_attr(
            &b,
            "#voice-state",
            "data-state",
            &[state],
            Duration::from_secs(5),
        )
        .await;
        eventually(
            "the contacts move to the ready agent",
            Duration::from_secs(5),
            || async { (r.held_by(a1).await == 0 && r.held_by(a0).await == before).then_some(()) },
        )
        .await;
        // Their call goes on; once it is over they get no new call.
        finish_call(&b, &["none"]).await;
        let free_ms = chrono::Utc::now().timestamp_millis();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            let status = attr(&b, "#call-panel", "data-status")
                .await
                .unwrap_or_default();
            assert_eq!(status, "none", "an agent in {state} was offered a call");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            calls_for_since(&r, a1, free_ms).await,
            0,
            "no call placed for {state}"
        );
        assert_eq!(r.held_by(a1).await, 0);
        // The first agent keeps calling from the whole pool.
        finish_call(&a, &["none", "ringing", "on_call"]).await;
        wait_attr(
            &a,
            "#call-panel",
            "data-status",
            &["on_call"],
            Duration::from_secs(10),
        )
        .await;
        // Back to Ready for the next round: the second agent gets a share and a call again.
        if state == "standby" {
            click(&b, "[data-set-state=ready]").await;
            wait_attr(
                &b,
                "#call-panel",
                "data-status",
                &["on_call"],
                Duration::from_secs(15),
            )
            .await;
            eventually("shares even again", Duration::from_secs(10), || async {
                let (x, y) = (r.held_by(a0).await, r.held_by(a1).await);
                (y > 0 && x.abs_diff(y) <= 1).then_some(())
            })
            .await;
        }
    }
    a.close().await.unwrap();
    b.close().await.unwrap();
}

/// A stand-in for the Twilio Voice SDK: a `Twilio.Device` that records its tokens, registers,
/// and lets the test ring it with a call that can be accepted and muted.
const STAND_IN_SDK: &str = r#"(function () {
  function Emitter() { this.handlers = {}; }
  Emitter.prototype.on = function (ev, fn) { (this.handlers[ev] = this.handlers[ev] || []).push(fn); return this; };
  Emitter.prototype.emit = function (ev, arg) { (this.handlers[ev] || []).forEach(function (fn) { fn(arg); }); };
  function Call() { Emitter.call(this); this.muted = false; this.accepted = false; }
  Call.prototype = Object.create(Emitter.prototype);
  Call.prototype.accept = function () { this.accepted = true; this.emit("accept", this); };
  Call.prototype.mute = function (on) { this.muted = on; this.emit("mute", on); };
  Call.prototype.isMuted = function () { return this.muted; };
  function Device(token, options) {
    Emitter.call(this); this.tokens = [token]; this.registered = false;
    window.standIn = { device: this, Call: Call };
  }
  Device.prototype = Object.create(Emitter.prototype);
  Device.prototype.register = function () { var d = this; d.registered = true; setTimeout(function () { d.emit("registered"); }, 10); return Promise.resolve(); };
  Device.prototype.updateToken = function (t) { this.tokens.push(t); };
  window.Twilio = { Device: Device };
})();
"#;

/// Serves the stand-in SDK from another origin (with CORS, as a CDN does); returns its URL.
async fn serve_stand_in() -> String {
    use axum::http::header;
    let app = axum::Router::new().route(
        "/twilio.min.js",
        axum::routing::get(|| async {
            (
                [
                    (header::CONTENT_TYPE, "text/javascript"),
                    (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
                ],
                STAND_IN_SDK,
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/twilio.min.js", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

fn sri(body: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha384::digest(body.as_bytes());
    format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// A Twilio-mode server loading the SDK from `url` pinned to `hash`, with a client whose agent
/// `ann@x.io` gets voice tokens; returns the server and the client's id.
async fn twilio_desktop(url: &str, hash: &str) -> (common::TestApp, i64) {
    let (url, hash) = (url.to_owned(), hash.to_owned());
    let app = common::spawn_with(Backend::Sqlite, move |s| {
        s.carrier = palera_server::config::CarrierMode::Twilio;
        s.voice_sdk_url = Some(url);
        s.voice_sdk_integrity = Some(hash);
    })
    .await
    .unwrap();
    let settings = palera_core::tenant::ClientFields {
        name: "Acme".into(),
        account_sid: Some("AC0123456789abcdef0123456789abcdef".into()),
        api_key_sid: Some("SK0123456789abcdef0123456789abcdef".into()),
        twiml_app_sid: Some("AP0123456789abcdef0123456789abcdef".into()),
        voice_enabled: Some(true),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let secrets = palera_store::clients::SecretInput {
        auth_token: Some("token".into()),
        api_key_secret: Some("key-secret".into()),
    };
    let client = app
        .db
        .store
        .create_client(&settings, &secrets, &[], 1)
        .await
        .unwrap()
        .id;
    app.user("ann@x.io", palera_core::user::Role::Agent, vec![client])
        .await;
    (app, client.0)
}

async fn login_ann(c: &Client, base: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    for (field, value) in [("email", "ann@x.io"), ("password", common::PASSWORD)] {
        c.find(Locator::Css(&format!("input[name={field}]")))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    click(c, "form.login button[type=submit]").await;
}

async fn wait_js(c: &Client, script: &str, want: Value) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = Value::Null;
    while Instant::now() < deadline {
        last = c.execute(script, vec![]).await.unwrap_or_default();
        if last == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_sdk_hash_blocks_the_twilio_sdk_and_the_page_says_so_while_the_right_hash_loads_it()
{
    let Some(driver) = chromedriver() else { return };
    let url = serve_stand_in().await;
    let right = sri(STAND_IN_SDK);
    let wrong = sri("something else");

    // The wrong hash: the browser refuses the file and the agent is told why.
    let (app, _) = twilio_desktop(&url, &wrong).await;
    let c = browser(&driver).await;
    login_ann(&c, &app.base).await;
    wait_attr(
        &c,
        "#softphone",
        "data-sdk",
        &["blocked"],
        Duration::from_secs(10),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut error = String::new();
    while Instant::now() < deadline && !error.contains("does not match") {
        error = text(&c, "#softphone-error").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        error.contains("integrity hash does not match PALERA_VOICE_SDK_INTEGRITY")
            && error.contains(&right),
        "{error}"
    );
    let loaded = c
        .execute("return typeof window.Twilio", vec![])
        .await
        .unwrap();
    assert_eq!(loaded, "undefined", "the mismatched file never ran");
    c.close().await.unwrap();
    drop(app);

    // The right hash: the SDK runs, a Device registers with the server's voice token.
    let (app, client) = twilio_desktop(&url, &right).await;
    let c = browser(&driver).await;
    login_ann(&c, &app.base).await;
    wait_attr(
        &c,
        "#softphone",
        "data-sdk",
        &["loaded"],
        Duration::from_secs(10),
    )
    .await;
    wait_attr(
        &c,
        "#softphone",
        "data-device",
        &["registered"],
        Duration::from_secs(10),
    )
    .await;
    assert!(text(&c, "#softphone-error").await.is_empty());
    let same = format!(
        "return window.standIn.device.tokens[0] === window.paleraVoiceTokens['{client}'].token"
    );
    assert_eq!(c.execute(&same, vec![]).await.unwrap(), true);
    // A renewed token goes to the same Device.
    let renew = format!(
        "document.dispatchEvent(new CustomEvent('palera:voice-token', {{detail: {{clientId: '{client}', token: {{token: 'renewed', ttl_seconds: 3600}}}}}}));\
         return window.standIn.device.tokens.slice(-1)[0]"
    );
    assert_eq!(c.execute(&renew, vec![]).await.unwrap(), "renewed");

    // The agent leg rings: the page answers it; mute and unmute work by button and shortcut.
    let ring = "const call = new window.standIn.Call(); window.standInCall = call; \
                window.standIn.device.emit('incoming', call); return call.accepted";
    assert_eq!(c.execute(ring, vec![]).await.unwrap(), true);
    click(&c, "#softphone-mute").await;
    assert_eq!(
        wait_js(&c, "return window.standInCall.muted", Value::Bool(true)).await,
        true
    );
    assert_eq!(
        attr(&c, "#softphone-mute", "aria-pressed").await.as_deref(),
        Some("true")
    );
    alt(&c, 'm').await;
    assert_eq!(
        wait_js(&c, "return window.standInCall.muted", Value::Bool(false)).await,
        false
    );
    // SDK errors are shown.
    c.execute(
        "window.standIn.device.emit('error', {code: 31205, message: 'JWT token expired'})",
        vec![],
    )
    .await
    .unwrap();
    assert!(text(&c, "#softphone-error")
        .await
        .contains("31205 JWT token expired"));
    c.execute("window.standInCall.emit('disconnect')", vec![])
        .await
        .unwrap();
    assert!(
        attr(&c, "#softphone-mute", "hidden").await.is_some(),
        "no call, no mute"
    );
    c.close().await.unwrap();
}
