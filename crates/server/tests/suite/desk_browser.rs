//! The agent desktop in real Chromium against a demo-like setup (the demo seed, the simulated
//! network with every contact answering): the call-handling rule of DESIGN §2.3 end to end — a
//! campaign call arrives, the contact card and the script show, notes typed are still there
//! after a reload mid-call, hold and resume, end, the disposition is saved and the next call
//! arrives — and the keyboard shortcuts of the frequent actions. Needs chromedriver
//! (`PALERA_SKIP_BROWSER=1` skips, saying so).

use crate::common::browser as kit;

use crate::common::demo::Demo;
use fantoccini::Locator;
use kit::{alt, browser, chromedriver, click, js, keys, login, until};
use palera_core::ids::CallId;
use std::time::{Duration, Instant};

async fn panel(c: &fantoccini::Client, status: &str) {
    until(
        c,
        &format!("document.getElementById('call-panel').dataset.status === '{status}'"),
        &format!("the call panel shows {status}"),
    )
    .await;
}

async fn connected(c: &fantoccini::Client) {
    until(
        c,
        "document.getElementById('link-status').textContent === 'Connected'",
        "the desktop connects",
    )
    .await;
}

async fn call_id_shown(c: &fantoccini::Client) -> i64 {
    js(c, "Number(document.getElementById('notes').dataset.callId)")
        .await
        .as_i64()
        .unwrap_or(0)
}

/// Waits until the store's call has these notes.
async fn stored_notes(d: &Demo, call: CallId, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let client = d.db.store.call_unscoped(call).await.unwrap().client_id;
        let n = d.db.store.call_notes(client, call).await.unwrap();
        if n.text == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "stored notes {:?}, want {want:?}",
            n.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_handled_end_to_end_notes_survive_a_reload_and_the_next_call_arrives() {
    let Some(driver) = chromedriver() else { return };
    let d = Demo::start().await;
    let c = browser(&driver).await;
    login(&c, &d.base, "agent1@demo.test").await;
    connected(&c).await;
    click(&c, "[data-set-state=ready]").await;

    // A campaign call arrives: the contact card and the script show.
    panel(&c, "on_call").await;
    until(
        &c,
        "document.getElementById('card-name').textContent.includes('Demo-')",
        "the contact card",
    )
    .await;
    until(
        &c,
        "(document.getElementById('script-text')||{}).textContent?.includes('this is Alex Agent from Demo Outreach Co')",
        "the campaign script",
    )
    .await;
    let script = js(&c, "document.getElementById('script-text').textContent").await;
    let first_name = js(&c, "document.getElementById('f-first_name').value").await;
    assert!(
        script
            .as_str()
            .unwrap()
            .starts_with(&format!("Hi {},", first_name.as_str().unwrap())),
        "the merge field is filled: {script}"
    );
    until(
        &c,
        "document.getElementById('card-list').textContent === 'New leads'",
        "the contact's list",
    )
    .await;
    let call = CallId(call_id_shown(&c).await);
    assert!(call.0 > 0, "the notes belong to the call");
    // The desktop fits the 1366×768 laptop window: no sideways scrolling.
    assert_eq!(
        js(
            &c,
            "document.documentElement.scrollWidth <= window.innerWidth"
        )
        .await,
        true,
        "the desktop is wider than the window"
    );

    // Notes typed save themselves.
    click(&c, "#notes").await;
    keys(&c, "Wants the Pro plan").await;
    until(
        &c,
        "document.getElementById('notes-status').dataset.state === 'saved'",
        "the notes are saved",
    )
    .await;
    stored_notes(&d, call, "Wants the Pro plan").await;

    // More notes, and the page is reloaded at once, before they could be sent.
    keys(&c, "; call back Friday").await;
    c.refresh().await.unwrap();
    connected(&c).await;
    panel(&c, "on_call").await;
    until(
        &c,
        "document.getElementById('notes').value === 'Wants the Pro plan; call back Friday'",
        "the notes are still there after the reload",
    )
    .await;
    until(
        &c,
        "document.getElementById('notes-status').dataset.state === 'saved'",
        "the restored notes are sent",
    )
    .await;
    stored_notes(&d, call, "Wants the Pro plan; call back Friday").await;

    // Hold, then resume.
    click(&c, "#call-hold").await;
    until(
        &c,
        "document.getElementById('call-hold').getAttribute('aria-pressed') === 'true'",
        "the call is on hold",
    )
    .await;
    click(&c, "#call-hold").await;
    until(
        &c,
        "document.getElementById('call-hold').getAttribute('aria-pressed') === 'false' && document.getElementById('call-status').textContent === 'On call.'",
        "the call is resumed",
    )
    .await;
    let kinds = d.db.store.call_event_kinds(call).await.unwrap();
    assert!(
        kinds.iter().any(|k| k == "hold") && kinds.iter().any(|k| k == "resume"),
        "{kinds:?}"
    );

    // End the call; wrap-up asks for the disposition.
    click(&c, "#call-hangup").await;
    panel(&c, "wrap_up").await;
    // Nothing is preselected: the agent picks one.
    assert_eq!(
        js(&c, "document.getElementById('disposition').value").await,
        ""
    );
    let chosen = js(
        &c,
        "(() => { const s = document.getElementById('disposition'); s.selectedIndex = 1; s.dispatchEvent(new Event('change')); return s.selectedOptions[0].textContent; })()",
    )
    .await;
    click(&c, "#disposition-form button[type=submit]").await;

    // The disposition is saved with the notes, and the next call arrives.
    let deadline = Instant::now() + Duration::from_secs(10);
    let disposed = loop {
        let row = d.db.store.call_unscoped(call).await.unwrap();
        if row.disposition.is_some() {
            break row;
        }
        assert!(Instant::now() < deadline, "no disposition stored");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(disposed.disposition.as_deref(), chosen.as_str());
    assert_eq!(disposed.notes, "Wants the Pro plan; call back Friday");
    panel(&c, "on_call").await;
    until(
        &c,
        &format!(
            "Number(document.getElementById('notes').dataset.callId) !== {}",
            call.0
        ),
        "the next call's notes",
    )
    .await;
    assert_eq!(js(&c, "document.getElementById('notes').value").await, "");
    let calls = d.calls().await;
    assert!(
        calls.len() >= 2,
        "the next call was placed: {}",
        calls.len()
    );
    // The first contact's conversation shows the call with its notes, disposition and agent.
    let contact = disposed.contact_id.unwrap();
    c.goto(&format!(
        "{}/clients/1/contacts/{contact}/conversation",
        d.base
    ))
    .await
    .unwrap();
    let entry = c
        .find(Locator::Css(&format!("li[data-call-id='{}']", call.0)))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        entry.contains("Wants the Pro plan; call back Friday")
            && entry.contains(chosen.as_str().unwrap())
            && entry.contains("Alex Agent"),
        "{entry}"
    );
    c.close().await.unwrap();
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_frequent_actions_have_keyboard_shortcuts_documented_on_the_page() {
    let Some(driver) = chromedriver() else { return };
    let d = Demo::start().await;
    let c = browser(&driver).await;
    login(&c, &d.base, "agent1@demo.test").await;
    connected(&c).await;
    // The desktop's times are in the client's zone, labelled (the demo client is in New York).
    let t = js(&c, "window.paleraWhen(Date.UTC(2026, 0, 15, 15, 0))").await;
    let t = t.as_str().unwrap();
    assert!(t.contains("10:00") && t.contains("EST"), "{t}");

    // "?" opens the documented shortcuts; Escape closes them.
    keys(&c, "?").await;
    until(&c, "document.getElementById('help').open", "the help opens").await;
    let help = js(&c, "document.getElementById('help').textContent").await;
    for k in [
        "Alt+1", "Alt+H", "Alt+E", "Alt+P", "Alt+N", "Alt+M", "Alt+C", "Alt+V", "Alt+K",
    ] {
        assert!(help.as_str().unwrap().contains(k), "{k} is documented");
    }
    keys(&c, "\u{E00C}").await;
    until(
        &c,
        "!document.getElementById('help').open",
        "the help closes",
    )
    .await;

    // Alt+1: Ready; a call arrives.
    alt(&c, "1").await;
    panel(&c, "on_call").await;
    let call = CallId(call_id_shown(&c).await);
    // Alt+N: to the notes.
    alt(&c, "n").await;
    until(
        &c,
        "document.activeElement.id === 'notes'",
        "Alt+N focuses the notes",
    )
    .await;
    keys(&c, "Typed from the keyboard").await;
    until(
        &c,
        "document.getElementById('notes-status').dataset.state === 'saved'",
        "the notes are saved",
    )
    .await;
    // Alt+H: hold, and again to resume.
    alt(&c, "h").await;
    until(
        &c,
        "document.getElementById('call-hold').getAttribute('aria-pressed') === 'true'",
        "Alt+H holds",
    )
    .await;
    alt(&c, "h").await;
    until(
        &c,
        "document.getElementById('call-hold').getAttribute('aria-pressed') === 'false'",
        "Alt+H resumes",
    )
    .await;
    // Alt+E: end the call; Alt+P: to the disposition picker; Enter saves it.
    alt(&c, "e").await;
    panel(&c, "wrap_up").await;
    alt(&c, "p").await;
    until(
        &c,
        "document.activeElement.id === 'disposition'",
        "Alt+P focuses the disposition",
    )
    .await;
    // Nothing is preselected: Arrow Down picks the first disposition, Enter saves it.
    keys(&c, "\u{E015}").await;
    keys(&c, "\u{E007}").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let row = d.db.store.call_unscoped(call).await.unwrap();
        if row.disposition.is_some() {
            assert_eq!(row.notes, "Typed from the keyboard");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Enter did not save the disposition"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Alt+3: Offline; Alt+K: to the manual-call number (Alt+M is the softphone's mute).
    panel(&c, "on_call").await;
    alt(&c, "k").await;
    until(
        &c,
        "document.activeElement.id === 'manual-number'",
        "Alt+K focuses the number",
    )
    .await;
    alt(&c, "3").await;
    until(
        &c,
        "document.getElementById('voice-state').dataset.state === 'offline'",
        "Alt+3 goes offline",
    )
    .await;
    c.close().await.unwrap();
    d.stop().await;
}
