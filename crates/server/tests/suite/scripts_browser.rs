//! Call scripts in real Chromium (issue 14): a supervisor builds a three-step branching script in
//! the builder and attaches it to the demo campaign; an agent takes a demo call, is stopped from
//! moving on until the required field and the disclosure are done, finishes, and the answers show
//! in the conversation view. And a campaign with an external script page shows that page by
//! itself when a call starts, instead of the built script.

use crate::common::browser as kit;
use crate::common::demo::Demo;

use kit::{browser, choose, chromedriver, click, fill, js, login, text, until};
use palera_core::desk::Script;
use palera_core::ids::ClientId;

async fn ready_for_a_call(c: &fantoccini::Client, base: &str) {
    login(c, base, "agent1@demo.test").await;
    until(
        c,
        "document.getElementById('link-status').textContent === 'Connected'",
        "the desktop connects",
    )
    .await;
    click(c, "[data-set-state=ready]").await;
    until(
        c,
        "document.getElementById('call-panel').dataset.status === 'on_call'",
        "a campaign call is connected",
    )
    .await;
}

/// Step `i`'s element in the builder.
fn step(i: usize, css: &str) -> String {
    format!("#step-{i} {css}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_built_in_the_builder_guides_a_demo_call_and_its_answers_reach_the_conversation() {
    let Some(driver) = chromedriver() else { return };
    let d = Demo::start().await;
    let c = browser(&driver).await;
    login(&c, &d.base, "supervisor@demo.test").await;
    c.goto(&format!("{}/admin/clients/1/scripts", d.base))
        .await
        .unwrap();
    fill(&c, "#new-script-name", "Qualify and close").await;
    click(&c, "#new-script").await;
    until(
        &c,
        "!!document.getElementById('steps')",
        "the builder opens",
    )
    .await;

    // Step 1: a disclosure, a required choice, and a branch on it.
    fill(&c, &step(0, ".step-title"), "Hello").await;
    click(&c, &step(0, ".add-disclosure")).await;
    fill(&c, &step(0, ".disclosure-text"), "This line is recorded.").await;
    click(&c, &step(0, ".add-field")).await;
    fill(&c, &step(0, ".field-label"), "Budget ok").await;
    choose(&c, &step(0, ".field-kind"), "choice").await;
    fill(&c, &step(0, ".field-choices"), "Yes, No").await;
    click(&c, "#add-step").await;
    fill(&c, &step(1, ".step-title"), "Offer").await;
    click(&c, "#add-step").await;
    fill(&c, &step(2, ".step-title"), "Close").await;
    click(&c, &step(0, ".add-branch")).await;
    fill(&c, &step(0, ".branch-equals"), "No").await;
    choose(&c, &step(0, ".branch-to"), "close").await;
    choose(&c, &step(0, ".step-next"), "offer").await;
    choose(&c, &step(1, ".step-next"), "close").await;
    // The preview shows the three steps for the sample contact.
    until(
        &c,
        "document.querySelectorAll('#preview .preview-step').length === 3",
        "the preview",
    )
    .await;
    click(&c, "#publish-script").await;
    until(
        &c,
        "document.getElementById('builder-status').textContent.startsWith('Published version 1')",
        "the script is published",
    )
    .await;
    let campaign = d.db.store.campaigns(ClientId(1)).await.unwrap()[0].id;
    choose(&c, "#use-campaign", &campaign.0.to_string()).await;
    click(&c, "#use-script").await;
    until(
        &c,
        "document.getElementById('use-status').textContent.startsWith('The campaign')",
        "the campaign runs it",
    )
    .await;
    click(&c, "form[action='/logout'] button").await;

    // The agent's call runs it; the server holds the agent on step 1 until both tasks are done.
    ready_for_a_call(&c, &d.base).await;
    until(
        &c,
        "(document.getElementById('script-step-title')||{}).textContent === 'Hello'",
        "the script's first step",
    )
    .await;
    click(&c, "#script-next").await;
    until(
        &c,
        "!document.getElementById('script-run-error').hidden",
        "moving on is refused",
    )
    .await;
    let refused = text(&c, "#script-run-error").await;
    assert!(
        refused.contains("Budget ok") && refused.contains("disclosure"),
        "{refused}"
    );
    choose(&c, "#run-field-budget_ok", "Yes").await;
    until(
        &c,
        "document.getElementById('run-field-budget_ok').value === 'Yes' && !document.querySelector('#script-missing')?.textContent.includes('2')",
        "the answer is saved",
    )
    .await;
    click(&c, "#run-ack-disclosure-1").await;
    until(
        &c,
        "document.getElementById('run-ack-disclosure-1').disabled",
        "the disclosure is acknowledged",
    )
    .await;
    click(&c, "#script-next").await;
    until(
        &c,
        "document.getElementById('script-step-title').textContent === 'Offer'",
        "step 2",
    )
    .await;
    click(&c, "#script-next").await;
    until(
        &c,
        "document.getElementById('script-step-title').textContent === 'Close'",
        "step 3",
    )
    .await;
    click(&c, "#script-next").await;
    until(
        &c,
        "document.getElementById('script-step-title').textContent === 'Script finished'",
        "the script is finished",
    )
    .await;
    assert!(text(&c, "#script-answers").await.contains("Yes"));

    // The conversation view shows the answers and the acknowledged disclosure with the call.
    let href = js(&c, "document.getElementById('card-conversation').href").await;
    c.goto(href.as_str().unwrap()).await.unwrap();
    let run = text(&c, ".script-run").await;
    assert!(
        run.contains("Qualify and close") && run.contains("Budget ok") && run.contains("Yes"),
        "{run}"
    );
    assert!(run.contains("Disclosure read out at"), "{run}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaigns_external_script_page_opens_by_itself_instead_of_the_built_script() {
    let Some(driver) = chromedriver() else { return };
    let d = Demo::start().await;
    let campaign = d.db.store.campaigns(ClientId(1)).await.unwrap()[0].id;
    // An external page on this server (any https page in production).
    let url = format!("{}/healthz", d.base).replace("http://", "https://");
    let script = Script {
        text: String::new(),
        url: Some(url.clone()),
    };
    d.db.store
        .set_campaign_script(ClientId(1), campaign, &script, 1)
        .await
        .unwrap();
    let c = browser(&driver).await;
    ready_for_a_call(&c, &d.base).await;
    until(
        &c,
        "!!document.querySelector('#script-panel iframe')",
        "the external page's frame",
    )
    .await;
    let src = js(&c, "document.querySelector('#script-panel iframe').src").await;
    assert_eq!(src.as_str(), Some(url.as_str()));
    let sandbox = js(
        &c,
        "document.querySelector('#script-panel iframe').getAttribute('sandbox')",
    )
    .await;
    assert!(
        sandbox.as_str().is_some_and(|s| !s.is_empty()),
        "the frame is sandboxed"
    );
    assert_eq!(
        js(&c, "!!document.getElementById('script-run')").await,
        false,
        "the built script is not shown"
    );
    d.stop().await;
}
