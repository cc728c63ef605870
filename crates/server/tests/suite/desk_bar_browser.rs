//! The desktop's call bar in real Chromium at 1366×768 (issue 20): in each phase of a progressive
//! and of a predictive call it names the contact and shows exactly the actions that apply, every
//! one inside the window without scrolling; wrap-up warns before its limit and then saves the
//! automatic disposition; a callback typed in the contact's zone is refused outside the calling
//! window and lands on the agent's callback list; "pause after this call" goes to Standby; a
//! manual call ends in wrap-up with the client's dispositions; the new-call alert sounds unless
//! the agent turned it off. Needs chromedriver
//! (`PALERA_SKIP_BROWSER=1` skips, saying so).

use crate::common::browser as kit;
use crate::common::demo::Demo;
use chrono::{Duration as Days, Utc};
use chrono_tz::Tz;
use kit::{browser, chromedriver, click, fill, js, login, until};
use palera_core::campaign::settings::DialMode;
use palera_core::ids::{CallId, ClientId};
use palera_core::phone::PhoneNumber;
use palera_store::campaigns::{CampaignInput, CampaignStatus};
use std::time::{Duration, Instant};

/// Every action the bar may show.
const ACTIONS: [&str; 8] = [
    "preview-call",
    "preview-skip",
    "call-hold",
    "call-hangup",
    "softphone-voicemail",
    "disposition",
    "pause-after",
    "disposition-save",
];

async fn phase(c: &fantoccini::Client, status: &str) {
    until(
        c,
        &format!("document.getElementById('call-panel').dataset.status === '{status}'"),
        &format!("the call bar shows {status}"),
    )
    .await;
}

/// Asserts the bar shows exactly `want` of [`ACTIONS`], each wholly inside the window, and (when
/// `contact`) a contact with a name and number.
async fn bar_shows(c: &fantoccini::Client, want: &[&str], contact: bool, what: &str) {
    let ids = serde_json::to_string(&ACTIONS).unwrap();
    // The softphone shows Drop voicemail a moment after the connection: wait for the set.
    let expr = format!(
        "(() => {{ const shown = {ids}.filter(id => document.getElementById(id).getClientRects().length > 0); return shown.join(','); }})()"
    );
    let want_s = want.join(",");
    until(
        c,
        &format!("{expr} === '{want_s}'"),
        &format!("{what}: the actions {want_s}"),
    )
    .await;
    let outside = js(
        c,
        &format!("{ids}.filter(id => {{ const e = document.getElementById(id); if (!e.getClientRects().length) return false; const r = e.getBoundingClientRect(); return r.top < 0 || r.left < 0 || r.bottom > window.innerHeight || r.right > window.innerWidth; }})"),
    )
    .await;
    assert_eq!(outside, serde_json::json!([]), "{what}: outside the window");
    assert_eq!(
        js(c, "window.scrollY").await,
        0,
        "{what}: the page scrolled"
    );
    if contact {
        let name = js(c, "document.getElementById('call-name').textContent").await;
        let phone = js(c, "document.getElementById('call-phone').textContent").await;
        assert!(
            !name.as_str().unwrap().is_empty(),
            "{what}: no name on the bar"
        );
        assert!(
            phone.as_str().unwrap().starts_with('+'),
            "{what}: no number: {phone}"
        );
        let r = js(c, "(() => { const r = document.getElementById('call-contact').getBoundingClientRect(); return r.height > 0 && r.bottom <= window.innerHeight; })()").await;
        assert_eq!(r, true, "{what}: the contact is not in view");
    }
}

async fn ready(c: &fantoccini::Client, d: &Demo) {
    login(c, &d.base, "agent1@demo.test").await;
    until(
        c,
        "document.getElementById('link-status').textContent === 'Connected'",
        "the desktop connects",
    )
    .await;
    click(c, "[data-set-state=ready]").await;
}

/// Switches the demo campaign to `mode` and restarts its runner (paused, then running again).
async fn set_mode(d: &Demo, mode: DialMode) {
    let store = &d.db.store;
    let c = store.campaigns(ClientId(1)).await.unwrap().remove(0);
    let mut settings = c.settings.clone();
    settings.dial_mode = mode;
    let input = CampaignInput {
        name: c.name.clone(),
        settings,
        caller_id: c.caller_id.clone(),
        voicemail_url: c.voicemail_url.clone(),
        hold_music_url: c.hold_music_url.clone(),
        recording: c.recording,
        transcription: c.transcription,
        lists: c.lists.clone(),
        agents: c.agents.clone(),
    };
    let now = Utc::now().timestamp_millis();
    store
        .update_campaign(c.client_id, c.id, &input, now)
        .await
        .unwrap();
    store
        .set_campaign_status(c.client_id, c.id, CampaignStatus::Paused, now)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2600)).await; // the engine drops the runner
    store
        .set_campaign_status(c.client_id, c.id, CampaignStatus::Running, now)
        .await
        .unwrap();
}

async fn the_bar_follows_a_call(mode: DialMode) {
    let Some(driver) = chromedriver() else { return };
    let d = Demo::start().await;
    if mode != DialMode::Progressive {
        set_mode(&d, mode).await;
    }
    let c = browser(&driver).await;
    login(&c, &d.base, "agent1@demo.test").await;
    until(
        &c,
        "document.getElementById('link-status').textContent === 'Connected'",
        "the desktop connects",
    )
    .await;
    bar_shows(&c, &[], false, "no call").await;
    click(&c, "[data-set-state=ready]").await;
    phase(&c, "on_call").await;
    bar_shows(
        &c,
        &["call-hold", "call-hangup", "softphone-voicemail"],
        true,
        "connected",
    )
    .await;
    // The new-call alert sounded (the title says so until the agent acts).
    let alerted = js(&c, "Number(document.body.dataset.alerted || 0)").await;
    assert!(alerted.as_i64().unwrap() >= 1, "no new-call alert");
    let pill = js(&c, "document.getElementById('voice-state').textContent").await;
    assert_eq!(pill, "On a call", "the state pill during a call");
    let line = js(&c, "document.getElementById('softphone-line').textContent").await;
    let name = js(&c, "document.getElementById('call-name').textContent").await;
    assert_eq!(
        line.as_str().unwrap(),
        format!("Talking with {}.", name.as_str().unwrap()),
        "the phone panel names the contact"
    );
    click(&c, "#call-hangup").await;
    phase(&c, "wrap_up").await;
    bar_shows(
        &c,
        &["disposition", "pause-after", "disposition-save"],
        true,
        "wrap-up",
    )
    .await;
    assert_eq!(
        js(&c, "document.getElementById('disposition').value").await,
        "",
        "nothing is preselected"
    );
    let timer = js(&c, "document.getElementById('wrap-timer').textContent").await;
    assert!(timer.as_str().unwrap().ends_with(" left"), "{timer}");
    c.close().await.unwrap();
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_bar_shows_the_contact_and_only_the_actions_that_apply_in_view_through_a_progressive_call(
) {
    the_bar_follows_a_call(DialMode::Progressive).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_bar_shows_the_contact_and_only_the_actions_that_apply_in_view_through_a_predictive_call(
) {
    the_bar_follows_a_call(DialMode::Predictive).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_bar_shows_call_and_skip_only_while_previewing_and_the_new_call_alert_can_be_turned_off(
) {
    let Some(driver) = chromedriver() else { return };
    let d = Demo::start().await;
    set_mode(&d, DialMode::Preview).await;
    let c = browser(&driver).await;
    login(&c, &d.base, "agent1@demo.test").await;
    until(
        &c,
        "document.getElementById('link-status').textContent === 'Connected'",
        "the desktop connects",
    )
    .await;
    // The agent turns the new-call alert off: the next call arrives without it.
    click(&c, "#alert-on").await;
    click(&c, "[data-set-state=ready]").await;
    phase(&c, "preview").await;
    assert_eq!(
        js(&c, "Number(document.body.dataset.alerted || 0)").await,
        0,
        "the alert was off"
    );
    assert!(!js(&c, "document.title")
        .await
        .as_str()
        .unwrap()
        .contains("New call"));
    bar_shows(&c, &["preview-call", "preview-skip"], true, "preview").await;
    click(&c, "#preview-call").await;
    phase(&c, "on_call").await;
    bar_shows(
        &c,
        &["call-hold", "call-hangup", "softphone-voicemail"],
        true,
        "connected after preview",
    )
    .await;
    c.close().await.unwrap();
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrap_up_warns_before_its_limit_then_saves_the_automatic_disposition() {
    let Some(driver) = chromedriver() else { return };
    let d = Demo::start().await;
    let c = browser(&driver).await;
    ready(&c, &d).await;
    phase(&c, "on_call").await;
    let call = CallId(
        js(
            &c,
            "Number(document.getElementById('notes').dataset.callId)",
        )
        .await
        .as_i64()
        .unwrap(),
    );
    click(&c, "#call-hangup").await;
    phase(&c, "wrap_up").await;
    // The default limit is 30 s; the warning shows in the last 10.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let warned = js(&c, "!document.getElementById('wrap-warning').hidden").await;
        if warned == true {
            break;
        }
        assert_eq!(
            d.db.store.call_unscoped(call).await.unwrap().disposition,
            None,
            "disposed before any warning"
        );
        assert!(Instant::now() < deadline, "no wrap-up warning");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let text = js(&c, "document.getElementById('wrap-warning').textContent").await;
    assert!(text.as_str().unwrap().contains("Wrap-up ends in"), "{text}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if d.db
            .store
            .call_unscoped(call)
            .await
            .unwrap()
            .disposition
            .as_deref()
            == Some("wrap_up_limit")
        {
            break;
        }
        assert!(Instant::now() < deadline, "no automatic disposition");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    c.close().await.unwrap();
    d.stop().await;
}

/// Tomorrow at `hh:mm` in `zone`, as a datetime-local value.
fn tomorrow_at(zone: &str, hh: u32, mm: u32) -> String {
    let tz: Tz = zone.parse().unwrap();
    let day = (Utc::now().with_timezone(&tz) + Days::days(1)).date_naive();
    format!("{day}T{hh:02}:{mm:02}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_in_the_contacts_zone_is_refused_outside_the_window_and_listed_for_the_agent() {
    let Some(driver) = chromedriver() else { return };
    let d = Demo::start().await;
    let c = browser(&driver).await;
    ready(&c, &d).await;
    phase(&c, "on_call").await;
    let call = CallId(
        js(
            &c,
            "Number(document.getElementById('notes').dataset.callId)",
        )
        .await
        .as_i64()
        .unwrap(),
    );
    click(&c, "#call-hangup").await;
    phase(&c, "wrap_up").await;
    js(&c, "(() => { const s = document.getElementById('disposition'); s.value = Array.from(s.options).find(o => o.dataset.effect === 'callback').value; s.dispatchEvent(new Event('change')); return 1; })()").await;
    until(
        &c,
        "document.getElementById('callback-at').dataset.zone",
        "the contact's zone is shown",
    )
    .await;
    let zone = js(&c, "document.getElementById('callback-at').dataset.zone").await;
    let zone = zone.as_str().unwrap().to_string();
    let label = js(&c, "document.getElementById('callback-zone').textContent").await;
    assert!(label.as_str().unwrap().contains(&zone), "{label}");
    // The demo campaign calls 00:00–23:59: 23:59 is outside.
    let late = tomorrow_at(&zone, 23, 59);
    js(
        &c,
        &format!(
            "(() => {{ document.getElementById('callback-at').value = '{late}'; return 1; }})()"
        ),
    )
    .await;
    click(&c, "#pause-after").await;
    click(&c, "#disposition-save").await;
    until(
        &c,
        "!document.getElementById('call-error').hidden && document.getElementById('call-error').textContent.includes('outside the calling window')",
        "the refusal shows beside the controls",
    )
    .await;
    assert_eq!(
        d.db.store.call_unscoped(call).await.unwrap().disposition,
        None
    );
    let ten = tomorrow_at(&zone, 10, 0);
    js(
        &c,
        &format!(
            "(() => {{ document.getElementById('callback-at').value = '{ten}'; return 1; }})()"
        ),
    )
    .await;
    click(&c, "#disposition-save").await;
    phase(&c, "none").await;
    assert_eq!(
        js(&c, "document.getElementById('call-error').hidden").await,
        true,
        "the error cleared"
    );
    // Paused after this call; the callback is on the agent's list in the contact's time.
    until(
        &c,
        "document.getElementById('voice-state').dataset.state === 'standby'",
        "pause after this call: Standby",
    )
    .await;
    let want = "10:00";
    until(
        &c,
        &format!("document.querySelector('#callbacks li[data-call-id=\"{call}\"]')?.textContent.includes('{want}') && document.querySelector('#callbacks li[data-call-id=\"{call}\"]').textContent.includes('{zone}')"),
        "the callback is listed in the contact's zone",
    )
    .await;
    c.close().await.unwrap();
    d.stop().await;
}

/// A number whose every zone is inside the manual-call window (08:00–21:00) now and for the next
/// ten minutes, judged by the product's own rule (zones derived from the number).
fn number_in_hours() -> &'static str {
    use palera_core::campaign::TimeZoneSource;
    let window = palera_core::desk::manual_window();
    let now = Utc::now();
    [
        "+12125550199",
        "+442071838750",
        "+81312345678",
        "+6561234567",
    ]
    .into_iter()
    .find(|n| {
        let zones = TimeZoneSource::resolve(None, &PhoneNumber::parse_e164(n).unwrap());
        zones.window_open(&window, now)
            && zones.window_open(&window, now + chrono::Duration::minutes(10))
    })
    .expect("New York, London, Tokyo and Singapore cover every hour of the day")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_call_ends_in_wrap_up_with_the_clients_dispositions() {
    let Some(driver) = chromedriver() else { return };
    let d = Demo::start().await;
    let c = browser(&driver).await;
    login(&c, &d.base, "agent1@demo.test").await;
    until(
        &c,
        "document.getElementById('link-status').textContent === 'Connected'",
        "the desktop connects",
    )
    .await;
    click(&c, "[data-set-state=standby]").await;
    until(
        &c,
        "document.getElementById('voice-state').dataset.state === 'standby'",
        "standby",
    )
    .await;
    fill(&c, "#manual-number", number_in_hours()).await;
    click(&c, "#manual-dial").await;
    phase(&c, "on_call").await;
    let campaign = js(&c, "document.getElementById('call-campaign').textContent").await;
    assert_eq!(campaign, "Manual call");
    bar_shows(
        &c,
        &["call-hold", "call-hangup"],
        true,
        "manual call connected (no voicemail to drop)",
    )
    .await;
    click(&c, "#call-hangup").await;
    phase(&c, "wrap_up").await;
    let labels = js(&c, "Array.from(document.getElementById('disposition').options).filter(o => o.value).map(o => o.textContent)").await;
    assert_eq!(
        labels,
        serde_json::json!(["Completed", "Call back", "No answer", "Do not call"]),
        "the client's dispositions"
    );
    js(&c, "(() => { const s = document.getElementById('disposition'); s.selectedIndex = 1; s.dispatchEvent(new Event('change')); return 1; })()").await;
    click(&c, "#disposition-save").await;
    phase(&c, "none").await;
    c.close().await.unwrap();
    d.stop().await;
}
