//! Inbound routing in real Chromium (issue 17): in the demo, a caller who spoke to agent A before
//! rings at A's desktop — not at B's, though B has been Ready longer — and A sees the caller's
//! card (name, number, list, earlier calls) before answering; accepting puts the call on A's
//! call panel.

use crate::common::browser as kit;
use crate::common::demo::Demo;

use kit::{browser, chromedriver, click, js, login, text, until};
use palera_core::ids::{ClientId, UserId};
use palera_core::user::VoiceState;
use palera_server::engine::{Arrival, Request};
use palera_store::campaigns::CampaignStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_spoke_to_agent_a_rings_at_as_desktop_with_the_card_before_answering() {
    let Some(driver) = chromedriver() else { return };
    let d = Demo::start().await;
    let store = &d.db.store;
    let client = ClientId(1);
    // Only inbound calls here: the demo campaign is paused.
    let campaign = store.campaigns(client).await.unwrap()[0].id;
    store
        .set_campaign_status(client, campaign, CampaignStatus::Paused, 1)
        .await
        .unwrap();
    d.app.engine.send(Request::Reload(campaign));
    let users = store.users(Some(client)).await.unwrap();
    let id = |email: &str| users.iter().find(|u| u.email == email).unwrap().id;
    let (a, b): (UserId, UserId) = (id("agent1@demo.test"), id("agent2@demo.test"));
    // B is Ready first (idle the longest); A spoke to the caller yesterday.
    store
        .set_voice_state(b, VoiceState::Ready, "test", 1)
        .await
        .unwrap();
    // A caller in the Follow-ups list, which the demo campaign does not dial.
    let follow_ups = store
        .lists(client)
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.name == "Follow-ups")
        .expect("the demo's Follow-ups list")
        .id;
    let data = palera_core::contact::ContactData {
        phone: palera_core::phone::PhoneNumber::parse_e164("+442079460018").unwrap(),
        first_name: "Robin".into(),
        last_name: "Caller".into(),
        email: None,
        time_zone: None,
        properties: Default::default(),
    };
    let contact = store
        .create_contact(
            client,
            Some(follow_ups),
            &data,
            &palera_store::contacts::Actor::system("test"),
            1,
        )
        .await
        .unwrap();
    let yesterday = chrono::Utc::now().timestamp_millis() - 86_400_000;
    let earlier = store
        .create_inbound_call(client, contact.id, contact.phone.as_str(), None, yesterday)
        .await
        .unwrap();
    store
        .inbound_connected(earlier.id, a, yesterday)
        .await
        .unwrap();
    store
        .end_inbound_call(
            earlier.id,
            palera_store::inbound::InboundEnd::Answered,
            yesterday + 60_000,
        )
        .await
        .unwrap();

    let c = browser(&driver).await;
    login(&c, &d.base, "agent1@demo.test").await;
    until(
        &c,
        "document.getElementById('link-status').textContent === 'Connected'",
        "the desktop connects",
    )
    .await;
    click(&c, "[data-set-state=ready]").await;
    until(
        &c,
        "document.getElementById('voice-state').dataset.state === 'ready'",
        "A is Ready",
    )
    .await;
    d.app.engine.send(Request::InboundArrived {
        arrival: Arrival {
            client,
            from: contact.phone.clone(),
            sid: None,
            patience_seconds: 600.0,
            talk_seconds: 600.0,
        },
        reply: None,
    });
    until(
        &c,
        "!document.getElementById('inbound-offer').hidden",
        "the call rings at A's desktop",
    )
    .await;
    // The offer rings in the call bar, in view at 1366×768 without scrolling.
    let in_view = js(
        &c,
        "(() => { const r = document.getElementById('inbound-accept').getBoundingClientRect(); \
         return r.top >= 0 && r.bottom <= window.innerHeight && r.right <= window.innerWidth && window.scrollY === 0; })()",
    )
    .await;
    assert_eq!(in_view, true, "Accept is in view");
    let name = text(&c, "#inbound-name").await;
    let want = format!("{} {}", contact.first_name, contact.last_name);
    assert_eq!(name.trim(), want.trim(), "the caller's name on the card");
    assert_eq!(text(&c, "#inbound-phone").await, contact.phone.as_str());
    assert!(text(&c, "#inbound-list").await.contains("Follow-ups"));
    assert!(
        text(&c, "#inbound-history").await.contains("Alex Agent"),
        "the earlier call with A"
    );
    assert_eq!(
        js(&c, "document.getElementById('inbound-affinity').hidden").await,
        false
    );
    let inbound = store
        .contact_calls(client, contact.id, 5)
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.ended_at.is_none())
        .expect("the ringing call is stored");
    assert_eq!(inbound.direction, "inbound");
    click(&c, "#inbound-accept").await;
    until(
        &c,
        "document.getElementById('call-panel').dataset.status === 'on_call'",
        "the call is on A's call panel",
    )
    .await;
    let call = store.call_unscoped(inbound.id).await.unwrap();
    assert_eq!(call.agent_id, Some(a), "A took it, not B");
    assert_ne!(call.agent_id, Some(b));
    d.stop().await;
}
