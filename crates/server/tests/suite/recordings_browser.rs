//! Recordings in the browser (issue 13), in Chromium on a demo-like installation whose campaign
//! records and transcribes: during the call the agent's desktop shows the live transcript lines
//! as they are said; after it, the contact's conversation view has the player with the
//! transcript beside it, and clicking a line moves the player there.

use crate::common::browser::{self as kit, browser, chromedriver, click, login};
use crate::common::eventually;
use crate::common::sim_rig::{self as rig, humans, sim_rig, Setup};
use palera_carrier::sim::recording::conversation;
use palera_core::recording::RecordingStatus;
use palera_store::transcripts::TranscriptKind;
use palera_store::Backend;
use std::time::Duration;

/// One agent, one contact who answers after 1 s and talks `talk` network seconds (half that
/// here), on a campaign that records and transcribes.
async fn recorded_rig(talk: f64) -> rig::SimRig {
    let r = sim_rig(
        Backend::Sqlite,
        Setup {
            behaviour: humans(1.0, talk),
            time_scale: 2.0,
            contacts: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    sqlx::query("UPDATE campaigns SET recording = $1, transcription = $2 WHERE id = $3")
        .bind(true)
        .bind(true)
        .bind(r.campaign.0)
        .execute(r.store().pool())
        .await
        .unwrap();
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_demo_call_shows_live_lines_then_the_player_with_its_transcript() {
    let Some(driver) = chromedriver() else { return };
    let r = recorded_rig(12.0).await;
    let c = browser(&driver).await;
    login(&c, &r.base, &rig::agent_email(0)).await;
    kit::wait_text(&c, "#link-status", "Connected").await;
    click(&c, "[data-set-state=ready]").await;
    r.start().await;

    // During the call: the lines arrive on the desktop, in the order they are said.
    kit::until(
        &c,
        "document.querySelectorAll('#live-lines li').length >= 2",
        "two live transcript lines on the desktop",
    )
    .await;
    let call = eventually("the call", Duration::from_secs(5), || async {
        r.calls().await.into_iter().next()
    })
    .await;
    assert!(call.ended_at.is_none(), "the lines came during the call");
    let said = conversation(call.id.0 as u64, u64::MAX);
    let shown = kit::js(
        &c,
        "Array.from(document.querySelectorAll('#live-lines li')).slice(0, 2).map(li => li.textContent)",
    )
    .await;
    for (i, line) in said.iter().take(2).enumerate() {
        let text = shown[i].as_str().unwrap();
        assert!(
            text.contains(&line.text),
            "line {i}: {text:?} vs {:?}",
            line.text
        );
        assert!(text.contains(line.speaker.as_str()), "{text}");
    }

    // After it: stored, transcribed, and in the conversation view.
    eventually(
        "the recording and its transcript",
        Duration::from_secs(30),
        || async {
            let rec = r
                .store()
                .recording_for_call(r.client, call.id)
                .await
                .unwrap()?;
            (rec.status == RecordingStatus::Stored && rec.transcript_status == "done").then_some(())
        },
    )
    .await;
    let lines = r
        .store()
        .transcript(r.client, call.id, TranscriptKind::Final)
        .await
        .unwrap();
    assert!(lines.len() >= 3, "{lines:?}");
    let contact = call.contact_id.unwrap();
    c.goto(&format!(
        "{}/clients/{}/contacts/{}/conversation",
        r.base, r.client.0, contact.0
    ))
    .await
    .unwrap();
    kit::until(
        &c,
        "(() => { const a = document.querySelector('.recording-view audio.player'); return !!a && a.readyState >= 1 && a.duration > 5; })()",
        "the player has loaded the recording",
    )
    .await;
    let items = kit::js(
        &c,
        "document.querySelectorAll('.recording-view .transcript li').length",
    )
    .await;
    assert_eq!(items.as_u64().unwrap() as usize, lines.len());
    // Clicking the third line moves the player to where it is said.
    let third = &lines[2];
    click(&c, ".recording-view .transcript li:nth-child(3)").await;
    let at = kit::js(
        &c,
        "document.querySelector('.recording-view audio.player').currentTime",
    )
    .await;
    let at = at.as_f64().unwrap();
    let start = third.start_ms as f64 / 1000.0;
    assert!(
        at >= start - 0.05 && at < start + 1.5,
        "player at {at}, line at {start}"
    );
    kit::until(
        &c,
        "document.querySelector('.recording-view .transcript li:nth-child(3)').classList.contains('current')",
        "the clicked line is highlighted while it plays",
    )
    .await;
}

/// A supervisor watches a call live (issue 13): from the wallboard's Watch link, the watch page
/// shows the call's transcript lines as they are said, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_watches_a_call_from_the_wallboard_and_sees_its_lines_as_they_are_said() {
    let Some(driver) = chromedriver() else { return };
    let r = recorded_rig(16.0).await;
    r.store()
        .create_user(
            &palera_store::users::NewUser {
                email: palera_core::user::Email::parse("email", "sup@sim.test").unwrap(),
                name: "Sam Supervisor".into(),
                role: palera_core::user::Role::Supervisor,
                password_hash: palera_server::http::auth::hash_password(
                    palera_server::cli::demo::DEMO_PASSWORD,
                ),
                voice_enabled: false,
                clients: vec![r.client],
            },
            1,
        )
        .await
        .unwrap();
    let c = browser(&driver).await;
    login(&c, &r.base, "sup@sim.test").await;
    c.goto(&r.url(&format!("/reports/{}/wallboard", r.client)))
        .await
        .unwrap();
    kit::wait_text(&c, "#wallboard-live", "live").await;
    // The agent goes Ready from their own device; the campaign calls and connects them.
    let agent = r.login(0).await;
    let (s, body) = crate::common::json(
        agent
            .put(r.url("/api/v1/me/voice-state"))
            .json(&serde_json::json!({"state": "ready"})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    r.start().await;
    // The campaign dials, the person answers and is connected: background work that a machine
    // running the whole suite slows down, hence the longer limit.
    kit::until_within(
        &c,
        "document.querySelector('#wallboard-agents td.watch a') !== null",
        "the Watch link of the agent's call",
        Duration::from_secs(60),
    )
    .await;
    click(&c, "#wallboard-agents td.watch a").await;
    kit::until(
        &c,
        "document.querySelectorAll('#watch-lines li').length >= 1",
        "the first line on the watch page",
    )
    .await;
    // More lines arrive while the page is open (the channel, not a reload).
    let first = kit::js(&c, "document.querySelectorAll('#watch-lines li').length").await;
    kit::until(
        &c,
        &format!("document.querySelectorAll('#watch-lines li').length > {first} && document.querySelectorAll('#watch-lines li').length >= 3"),
        "later lines arriving live",
    )
    .await;
    let call = eventually("the call", Duration::from_secs(5), || async {
        r.calls().await.into_iter().next()
    })
    .await;
    let said = conversation(call.id.0 as u64, u64::MAX);
    let shown = kit::js(
        &c,
        "Array.from(document.querySelectorAll('#watch-lines li')).map(li => li.textContent)",
    )
    .await;
    for (i, line) in said.iter().take(3).enumerate() {
        let text = shown[i].as_str().unwrap();
        assert!(
            text.contains(&line.text),
            "line {i}: {text:?} vs {:?}",
            line.text
        );
    }
    c.close().await.unwrap();
}
