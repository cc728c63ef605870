//! Browser tests in real Chromium (Debian's `chromium` + `chromedriver`), driven over WebDriver.
//! The script `scripts/test` installs both; a missing browser fails the run unless
//! `PALERA_SKIP_BROWSER=1` asks to skip (and the skip is printed).

use crate::common;
use crate::common::browser as kit;

use fantoccini::Locator;
use kit::{browser, chromedriver, js, login, until, wait_text};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_agent_logs_in_switches_to_ready_and_the_page_says_so() {
    let Some(driver) = chromedriver() else { return };
    let app = common::spawn(palera_store::Backend::Sqlite).await.unwrap();
    palera_server::cli::demo::seed(&app.db.store, 1)
        .await
        .unwrap();
    let c = browser(&driver).await;
    login(&c, &app.base, "agent1@demo.test").await;
    assert_eq!(
        wait_text(&c, "#link-status", "Connected").await,
        "Connected"
    );
    assert!(c
        .current_url()
        .await
        .unwrap()
        .as_str()
        .ends_with("/desktop"));
    assert_eq!(
        wait_text(&c, "#voice-state", "Offline for Voice").await,
        "Offline for Voice"
    );
    c.find(Locator::Css("button[data-set-state=ready]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // "Ready for Voice", unless a call of the demo campaign is already up: then the pill names
    // the call's phase (it never says "Ready for Voice" during a call).
    kit_wait_state(&c, "ready").await;
    until(
        &c,
        "(() => { const p = document.getElementById('voice-state'); return p.dataset.phase ? p.textContent !== 'Ready for Voice' : p.textContent === 'Ready for Voice'; })()",
        "the pill says Ready for Voice, or the call's phase during a call",
    )
    .await;
    // The server agrees, and a reload shows the stored state.
    let agent = app
        .db
        .store
        .user_for_login("agent1@demo.test")
        .await
        .unwrap()
        .0;
    assert_eq!(agent.voice_state, palera_core::user::VoiceState::Ready);
    c.refresh().await.unwrap();
    // The demo campaign may already have a call up: the pill then names the call's phase, and
    // its data-state keeps the voice state.
    kit_wait_state(&c, "ready").await;
    // The keyboard shortcut switches to Standby.
    c.find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("\u{E00A}2")
        .await
        .unwrap();
    kit_wait_state(&c, "standby").await;
    c.close().await.unwrap();
}

/// Waits until the desktop's voice state (the pill's data-state) is `state`.
async fn kit_wait_state(c: &fantoccini::Client, state: &str) {
    crate::common::browser::wait_attr(
        c,
        "#voice-state",
        "data-state",
        &[state],
        std::time::Duration::from_secs(10),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_shows_one_message_and_the_admin_reaches_the_clients_page() {
    let Some(driver) = chromedriver() else { return };
    let app = common::spawn(palera_store::Backend::Sqlite).await.unwrap();
    palera_server::cli::demo::seed(&app.db.store, 1)
        .await
        .unwrap();
    let c = browser(&driver).await;
    c.goto(&format!("{}/login", app.base)).await.unwrap();
    c.find(Locator::Css("input[name=email]"))
        .await
        .unwrap()
        .send_keys("admin@demo.test")
        .await
        .unwrap();
    c.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys("not-the-password")
        .await
        .unwrap();
    c.find(Locator::Css("form.login button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let msg = wait_text(&c, ".error", "the e-mail or password is wrong").await;
    assert_eq!(msg, "the e-mail or password is wrong");
    login(&c, &app.base, "admin@demo.test").await;
    assert_eq!(wait_text(&c, "h1", "Clients").await, "Clients");
    let row = c
        .find(Locator::Css("tbody td a"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(row, "Demo Outreach Co");
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_twilio_mode_the_desktop_fetches_a_voice_token_for_each_voice_enabled_client() {
    let Some(driver) = chromedriver() else { return };
    let app = common::spawn_with(palera_store::Backend::Sqlite, |s| {
        s.carrier = palera_server::config::CarrierMode::Twilio
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
    let agent = app
        .user("ann@x.io", palera_core::user::Role::Agent, vec![client])
        .await;
    let c = browser(&driver).await;
    c.goto(&format!("{}/login", app.base)).await.unwrap();
    for (field, value) in [("email", "ann@x.io"), ("password", common::PASSWORD)] {
        c.find(Locator::Css(&format!("input[name={field}]")))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    c.find(Locator::Css("form.login button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let script = format!(
        "const t = window.paleraVoiceTokens && window.paleraVoiceTokens['{client}']; return t ? t.identity : null;"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut identity = serde_json::Value::Null;
    while Instant::now() < deadline {
        identity = c.execute(&script, vec![]).await.unwrap_or_default();
        if !identity.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(identity, serde_json::json!(format!("agent-{}", agent.id)));
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_import_wizard_previews_the_column_mapping_runs_and_shows_the_buckets() {
    let Some(driver) = chromedriver() else { return };
    let app = common::spawn(palera_store::Backend::Sqlite).await.unwrap();
    palera_server::cli::demo::seed(&app.db.store, 1)
        .await
        .unwrap();
    let store = &app.db.store;
    let client = store
        .clients(&palera_store::clients::Scope::All)
        .await
        .unwrap()[0]
        .id;
    // 3,000 rows: two batches, one duplicate, one bad number.
    let mut csv = String::from("Mobile;Given name;E-mail;Seats\n");
    for i in 0..2998 {
        csv.push_str(&format!(
            "+1212201{i:04};Pat{i};pat{i}@example.com;{}\n",
            i % 50
        ));
    }
    csv.push_str("+12122010000;Again;;\n");
    csv.push_str("not-a-number;Bad;;\n");
    // A typo in the optional e-mail keeps the contact, with a warning.
    csv.push_str("+12122019999;Kept;kept@@example;\n");
    let file = std::env::temp_dir().join(format!("palera-wizard-{}.csv", rand::random::<u32>()));
    std::fs::write(&file, &csv).unwrap();

    let c = browser(&driver).await;
    login(&c, &app.base, "admin@demo.test").await;
    assert_eq!(wait_text(&c, "h1", "Clients").await, "Clients");
    c.goto(&format!("{}/admin/clients/{client}/import", app.base))
        .await
        .unwrap();
    assert_eq!(
        wait_text(&c, "h1", "Import contacts").await,
        "Import contacts"
    );
    c.find(Locator::Css("input[name=file]"))
        .await
        .unwrap()
        .send_keys(&file.to_string_lossy())
        .await
        .unwrap();
    // The preview: the headers, what each column feeds (guessed), and the first rows.
    until(
        &c,
        "!document.getElementById('mapping').hidden",
        "the column mapping",
    )
    .await;
    // The file's own header text (the page's style may show it upper-cased).
    let headers = c
        .execute(
            "return Array.from(document.querySelectorAll('#preview th')).map(th => th.textContent.trim());",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        headers,
        serde_json::json!(["Mobile", "Given name", "E-mail", "Seats"])
    );
    let targets = c
        .execute(
            "return Array.from(document.querySelectorAll('#preview select')).map(s => s.value);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        targets,
        serde_json::json!(["phone", "first_name", "email", "ignore"])
    );
    // The unmapped column becomes a new property from the wizard.
    kit::choose(&c, "#preview select[aria-label^='Column 4']", "new").await;
    until(
        &c,
        "document.querySelector('.new-property input') !== null",
        "the new-property form",
    )
    .await;
    assert_eq!(
        js(&c, "document.querySelector('.new-property input').value").await,
        "seats"
    );
    kit::choose(&c, ".new-property select", "number").await;
    kit::click(&c, ".new-property button").await;
    until(
        &c,
        "document.querySelector(\"#preview select[aria-label^='Column 4']\").value === 'properties.seats'",
        "the new property picked for the column",
    )
    .await;
    let seats = store.property_schema(client).await.unwrap();
    assert!(seats.get("seats").is_some(), "the property is created");
    let first_row = c
        .find(Locator::Css("#preview tr:nth-child(3) td"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(first_row, "+12122010000");
    let list = c.find(Locator::Css("input[name=list]")).await.unwrap();
    list.clear().await.unwrap();
    list.send_keys("Wizard leads").await.unwrap();
    c.find(Locator::Id("start"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // The progress bar reaches the end and the buckets add up to the rows.
    until(
        &c,
        "document.getElementById('bar').value === 100 && document.getElementById('status').textContent.startsWith('done')",
        "the import to finish",
    )
    .await;
    assert_eq!(
        c.find(Locator::Id("status"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "done · 3001 rows"
    );
    let summary = c
        .execute(
            "var o = {}; document.querySelectorAll('#summary tr').forEach(function (tr) { o[tr.cells[0].textContent] = Number(tr.cells[1].textContent); }); return o;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        summary,
        serde_json::json!({"rows": 3001, "imported": 2999, "updated": 0, "moved from list": 0,
            "duplicates in file": 1, "on dnc": 0, "rejected": 1})
    );
    assert_eq!(
        wait_text(&c, "#rejections tbody td", "3001").await,
        "3001",
        "the bad number's line is listed"
    );
    assert_eq!(
        wait_text(&c, "#warnings tbody td", "3002").await,
        "3002",
        "the kept row with the bad e-mail is listed"
    );
    let warning = js(
        &c,
        "Array.from(document.querySelectorAll('#warnings tbody td')).map(t => t.textContent)",
    )
    .await;
    assert_eq!(warning[1], "email", "{warning}");
    js(&c, "fetch(document.getElementById('problems-csv').href).then(r => r.text()).then(t => window.problems = t) && 1").await;
    until(
        &c,
        "typeof window.problems === 'string'",
        "the problems CSV downloads",
    )
    .await;
    let problems = js(&c, "window.problems")
        .await
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        problems.starts_with("line,problem,field,reason"),
        "{problems}"
    );
    assert!(
        problems.contains("3001,rejected,,")
            && problems.contains("3002,\"kept, field left empty\",email,"),
        "{problems}"
    );
    let lists = store.list_counts(client).await.unwrap();
    let wizard = lists
        .iter()
        .find(|l| l.list.name == "Wizard leads")
        .unwrap();
    assert_eq!(wizard.contacts, 2999);
    let pat = store
        .contact_by_phone(
            client,
            &palera_core::phone::PhoneNumber::parse_e164("+12122010007").unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        pat.properties["seats"],
        serde_json::json!(7.0),
        "the column fed the new property"
    );
    c.close().await.unwrap();
    let _ = std::fs::remove_file(&file);
}
