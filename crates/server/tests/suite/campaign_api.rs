//! The campaign API and pages: errors name the field, campaigns are scoped by client (404 across
//! clients, 403 for agents), status moves only along start/pause/resume/stop, and the pages
//! render with their CSRF-protected forms and the live abandon-rate bar.

use crate::common;
use crate::common::csrf_of as csrf;

use common::{json, TestApp};
use palera_core::ids::ClientId;
use palera_core::phone::PhoneNumber;
use palera_core::tenant::ClientFields;
use palera_core::user::Role;
use palera_store::clients::SecretInput;
use serde_json::{json, Value};

async fn client(app: &TestApp, name: &str, number: &str) -> ClientId {
    let f = ClientFields {
        name: name.into(),
        ..Default::default()
    }
    .validate()
    .unwrap();
    app.db
        .store
        .create_client(
            &f,
            &SecretInput::default(),
            &[PhoneNumber::parse_e164(number).unwrap()],
            1,
        )
        .await
        .unwrap()
        .id
}

fn body(agent: i64, list: i64) -> Value {
    json!({
        "name": "Spring",
        "caller_id": "+14155550100",
        "dial_mode": "progressive",
        "max_attempts": 2,
        "retry_after_hours": 4,
        "window_start": "09:00",
        "window_end": "20:00",
        "excluded_weekdays": ["Sun"],
        "voicemail_url": "https://media.test/vm.mp3",
        "recording": true,
        "lists": [list],
        "agents": [agent]
    })
}

on_both!(
    campaign_settings_errors_name_the_field,
    |app: TestApp| async move {
        let c = client(&app, "Acme", "+14155550100").await;
        let a = app.user("a@x.io", Role::Agent, vec![c]).await;
        let list = app.db.store.create_list(c, "Leads", 1).await.unwrap().id.0;
        app.user("s@x.io", Role::Supervisor, vec![c]).await;
        let s = app.login("s@x.io").await;
        let url = app.url(&format!("/api/v1/clients/{c}/campaigns"));
        let cases = [
            ("ring_timeout_seconds", json!(10), "ring_timeout_seconds"),
            ("caller_id", json!("+14155550199"), "caller_id"),
            ("dial_mode", json!("robocall"), "dial_mode"),
            ("window_end", json!("07:00"), "window.end"),
            ("max_attempts", json!(0), "max_attempts"),
            ("voicemail_url", json!("ftp://x"), "voicemail_url"),
            ("agents", json!([9999]), "agents"),
            (
                "excluded_weekdays",
                json!(["Someday"]),
                "window.excluded_weekdays",
            ),
            ("name", json!(" "), "name"),
            ("lists", json!([999]), "lists"),
        ];
        for (key, value, field) in cases {
            let mut b = body(a.id.0, list);
            b[key] = value;
            let (status, e) = json(s.post(&url).json(&b)).await;
            assert_eq!(status, 422, "{key}: {e}");
            assert_eq!(e["error"]["field"].as_str(), Some(field), "{e}");
        }
        // Predictive needs the identification message.
        let mut b = body(a.id.0, list);
        b["dial_mode"] = json!("predictive");
        b["voicemail_url"] = Value::Null;
        let (status, e) = json(s.post(&url).json(&b)).await;
        assert_eq!(
            (status, e["error"]["field"].as_str()),
            (422, Some("voicemail_url"))
        );
        // Nothing half-written: no campaign exists.
        let (_, listed) = json(s.get(&url)).await;
        assert_eq!(listed.as_array().unwrap().len(), 0);
        let (status, made) = json(s.post(&url).json(&body(a.id.0, list))).await;
        assert_eq!(status, 201, "{made}");
        assert_eq!(made["settings"]["retry_after"], json!({"hours": 4}));
        assert_eq!(made["settings"]["max_attempts"], 2);
        assert_eq!(made["status"], "draft");
    }
);

on_both!(
    campaigns_are_hidden_across_clients_and_closed_to_agents,
    |app: TestApp| async move {
        let c = client(&app, "Acme", "+14155550100").await;
        let other = client(&app, "Other", "+14155550101").await;
        let a = app.user("a@x.io", Role::Agent, vec![c]).await;
        let list = app.db.store.create_list(c, "Leads", 1).await.unwrap().id.0;
        app.user("s@x.io", Role::Supervisor, vec![c]).await;
        app.user("o@x.io", Role::Supervisor, vec![other]).await;
        let s = app.login("s@x.io").await;
        let (_, made) = json(
            s.post(app.url(&format!("/api/v1/clients/{c}/campaigns")))
                .json(&body(a.id.0, list)),
        )
        .await;
        let id = made["id"].as_i64().unwrap();
        let path = format!("/api/v1/clients/{c}/campaigns/{id}");
        let o = app.login("o@x.io").await;
        assert_eq!(json(o.get(app.url(&path))).await.0, 404);
        // Even naming their own client, the other supervisor cannot reach it.
        let theirs = format!("/api/v1/clients/{other}/campaigns/{id}");
        assert_eq!(json(o.get(app.url(&theirs))).await.0, 404);
        let agent = app.login("a@x.io").await;
        assert_eq!(json(agent.get(app.url(&path))).await.0, 403);
        assert_eq!(
            json(agent.post(app.url(&format!("{path}/status/start"))))
                .await
                .0,
            403
        );
        assert_eq!(json(s.get(app.url(&path))).await.0, 200);
    }
);

on_both!(
    campaign_status_moves_only_start_pause_resume_stop,
    |app: TestApp| async move {
        let c = client(&app, "Acme", "+14155550100").await;
        let a = app.user("a@x.io", Role::Agent, vec![c]).await;
        let list = app.db.store.create_list(c, "Leads", 1).await.unwrap().id.0;
        app.user("s@x.io", Role::Supervisor, vec![c]).await;
        let s = app.login("s@x.io").await;
        let (_, made) = json(
            s.post(app.url(&format!("/api/v1/clients/{c}/campaigns")))
                .json(&body(a.id.0, list)),
        )
        .await;
        let path = format!("/api/v1/clients/{c}/campaigns/{}/status", made["id"]);
        let step = |action: &str| s.post(app.url(&format!("{path}/{action}")));
        assert_eq!(json(step("pause")).await.0, 409);
        let (st, r) = json(step("start")).await;
        assert_eq!((st, r["status"].as_str()), (200, Some("running")));
        assert_eq!(json(step("resume")).await.0, 409);
        assert_eq!(json(step("pause")).await.1["status"], "paused");
        assert_eq!(json(step("resume")).await.1["status"], "running");
        assert_eq!(json(step("stop")).await.1["status"], "stopped");
        assert_eq!(json(step("explode")).await.0, 404);
        let stats = app.url(&format!(
            "/api/v1/clients/{c}/campaigns/{}/live",
            made["id"]
        ));
        let (st, live) = json(s.get(stats)).await;
        assert_eq!(st, 200, "{live}");
        assert_eq!(live["abandon_cap_pct"], 3.0);
        assert_eq!(live["today"]["dials"], 0);
    }
);

on_both!(
    dispositions_are_checked_and_named_by_field,
    |app: TestApp| async move {
        let c = client(&app, "Acme", "+14155550100").await;
        let a = app.user("a@x.io", Role::Agent, vec![c]).await;
        let list = app.db.store.create_list(c, "Leads", 1).await.unwrap().id.0;
        app.user("s@x.io", Role::Supervisor, vec![c]).await;
        let s = app.login("s@x.io").await;
        let (_, made) = json(
            s.post(app.url(&format!("/api/v1/clients/{c}/campaigns")))
                .json(&body(a.id.0, list)),
        )
        .await;
        let url = app.url(&format!(
            "/api/v1/clients/{c}/campaigns/{}/dispositions",
            made["id"]
        ));
        let (st, e) = json(s.put(&url).json(&json!([
            {"label": "Sale", "effect": "final"},
            {"label": "Moved", "effect": "move_to_list"}
        ])))
        .await;
        assert_eq!(
            (st, e["error"]["field"].as_str()),
            (422, Some("dispositions[1].target_list"))
        );
        let (st, e) = json(s.put(&url).json(&json!([
            {"label": "Sale", "effect": "final"},
            {"label": "sale", "effect": "retry"}
        ])))
        .await;
        assert_eq!(
            (st, e["error"]["field"].as_str()),
            (422, Some("dispositions[1].label"))
        );
        let (st, e) = json(s.put(&url).json(&json!([
            {"label": "Moved", "effect": "move_to_list", "target_list": 999}
        ])))
        .await;
        assert_eq!(
            (st, e["error"]["field"].as_str()),
            (422, Some("dispositions[0].target_list"))
        );
        let later = app.db.store.create_list(c, "Later", 1).await.unwrap().id.0;
        let (st, set) = json(s.put(&url).json(&json!([
            {"label": "Sale", "effect": "final"},
            {"label": "Follow-up", "effect": "move_to_list", "target_list": later}
        ])))
        .await;
        assert_eq!(st, 200);
        assert_eq!(set[1]["target_list"], later);
    }
);

on_both!(
    campaign_pages_render_and_form_errors_name_the_field,
    |app: TestApp| async move {
        let c = client(&app, "Acme", "+14155550100").await;
        let a = app.user("a@x.io", Role::Agent, vec![c]).await;
        let list = app.db.store.create_list(c, "Leads", 1).await.unwrap().id.0;
        app.user("s@x.io", Role::Supervisor, vec![c]).await;
        let s = app.login("s@x.io").await;
        let page = s.get(app.url("/admin/campaigns")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains(&format!("/admin/clients/{c}/campaigns/new")));
        let form = s
            .get(app.url(&format!("/admin/clients/{c}/campaigns/new")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let token = csrf(&form);
        let post = |fields: Vec<(&str, String)>| {
            s.post(app.url(&format!("/admin/clients/{c}/campaigns/new")))
                .form(&fields)
                .send()
        };
        let base = || {
            vec![
                ("csrf", token.clone()),
                ("name", "Spring".to_string()),
                ("caller_id", "+14155550100".to_string()),
                ("dial_mode", "progressive".to_string()),
                ("lists", list.to_string()),
                ("agents", a.id.to_string()),
                ("amd", "on".to_string()),
            ]
        };
        let mut bad = base();
        bad.push(("ring_timeout_seconds", "5".into()));
        let r = post(bad).await.unwrap();
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        assert!(html.contains("ring_timeout_seconds: must be at least 15 seconds"));
        assert!(html.contains(
            "name=\"ring_timeout_seconds\" inputmode=\"numeric\" value=\"5\" class=\"bad\""
        ));
        let mut no_csrf = base();
        no_csrf[0].1 = "forged".into();
        assert_eq!(post(no_csrf).await.unwrap().status(), 403);
        let r = post(base()).await.unwrap();
        assert_eq!(r.status(), 303);
        let to = r.headers()["location"].to_str().unwrap().to_string();
        let id: i64 = to.rsplit('/').next().unwrap().parse().unwrap();
        let edit = s
            .get(app.url(&to))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(edit.contains(&format!("name=\"lists\" value=\"{list}\" checked")));
        assert!(edit.contains(&format!("name=\"agents\" value=\"{}\" checked", a.id)));
        let live = s
            .get(app.url(&format!("/admin/clients/{c}/campaigns/{id}/live")))
            .send()
            .await
            .unwrap();
        assert_eq!(live.status(), 200);
        let html = live.text().await.unwrap();
        assert!(html.contains("<svg") && html.contains("abandon rate"));
        // Saved again without lists or agents: back on the page (POST-redirect-GET) with the
        // notice and a warning for each, so a reload does not post the form twice.
        let bare: Vec<(&str, String)> = base()
            .into_iter()
            .filter(|(k, _)| *k != "lists" && *k != "agents")
            .collect();
        let r = s
            .post(app.url(&format!("/admin/clients/{c}/campaigns/{id}")))
            .form(&bare)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let to = r.headers()["location"].to_str().unwrap().to_string();
        assert!(
            to.ends_with(&format!("/campaigns/{id}?saved=campaign")),
            "{to}"
        );
        let page = s
            .get(app.url(&to))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("Campaign saved."), "{page}");
        assert!(page.contains("The campaign has no contact lists"), "{page}");
        assert!(page.contains("The campaign has no agents"), "{page}");
        // Agents are sent to their desktop.
        let agent = app.login("a@x.io").await;
        let r = agent.get(app.url("/admin/campaigns")).send().await.unwrap();
        assert_eq!(r.status(), 303);
    }
);

on_both!(
    uploaded_audio_becomes_the_campaign_message_and_is_served,
    |app: TestApp| async move {
        let c = client(&app, "Acme", "+14155550100").await;
        let a = app.user("a@x.io", Role::Agent, vec![c]).await;
        let list = app.db.store.create_list(c, "Leads", 1).await.unwrap().id.0;
        app.user("s@x.io", Role::Supervisor, vec![c]).await;
        let s = app.login("s@x.io").await;
        let (_, made) = json(
            s.post(app.url(&format!("/api/v1/clients/{c}/campaigns")))
                .json(&body(a.id.0, list)),
        )
        .await;
        let id = made["id"].as_i64().unwrap();
        let url = app.url(&format!(
            "/api/v1/clients/{c}/campaigns/{id}/audio/voicemail"
        ));
        let (st, e) = json(
            s.put(&url)
                .header("content-type", "text/plain")
                .body("not audio"),
        )
        .await;
        assert_eq!(
            (st, e["error"]["field"].as_str()),
            (422, Some("voicemail_url"))
        );
        let (st, updated) = json(
            s.put(&url)
                .header("content-type", "audio/mpeg")
                .body(MP3.to_vec()),
        )
        .await;
        assert_eq!(st, 200, "{updated}");
        let served = updated["voicemail_url"].as_str().unwrap().to_string();
        let prefix = format!("https://voice.example.com/media/campaigns/{id}/voicemail/");
        let token = served
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{served} starts with {prefix}"))
            .to_string();
        assert_eq!(token.len(), 64, "an HMAC-SHA256 in hex: {token}");
        let path = format!("/media/campaigns/{id}/voicemail/{token}");
        let get = |p: String| {
            let url = app.url(&p);
            async move { common::client().get(url).send().await.unwrap() }
        };
        let r = get(path.clone()).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "audio/mpeg");
        assert_eq!(r.bytes().await.unwrap().to_vec(), MP3.to_vec());
        // Without the token, with a wrong one, or with another kind's: not found.
        let mut wrong = token.clone().into_bytes();
        wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
        let wrong = String::from_utf8(wrong).unwrap();
        for p in [
            format!("/media/campaigns/{id}/voicemail"),
            format!("/media/campaigns/{id}/voicemail/"),
            format!("/media/campaigns/{id}/voicemail/{wrong}"),
            format!("/media/campaigns/{id}/voicemail/not-hex"),
            format!("/media/campaigns/{id}/hold_music/{token}"),
        ] {
            assert_eq!(get(p.clone()).await.status(), 404, "{p}");
        }
        // A new upload gets a new URL; the old one stops working.
        let (st, again) = json(
            s.put(&url)
                .header("content-type", "audio/wav")
                .body(WAV.to_vec()),
        )
        .await;
        assert_eq!(st, 200, "{again}");
        let newer = again["voicemail_url"].as_str().unwrap();
        assert_ne!(newer, served);
        assert_eq!(get(path).await.status(), 404, "the old URL");
        let r = get(newer
            .trim_start_matches("https://voice.example.com")
            .to_string())
        .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "audio/wav");
        assert_eq!(r.bytes().await.unwrap().to_vec(), WAV.to_vec());
    }
);

/// The first bytes of an MP3 file (an ID3v2.4 tag header) and of a WAV file.
const MP3: &[u8] = b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x64";
const WAV: &[u8] = b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00";

on_both!(
    uploaded_audio_that_is_not_audio_is_refused_and_media_is_never_served_as_html,
    |app: TestApp| async move {
        let c = client(&app, "Acme", "+14155550100").await;
        let a = app.user("a@x.io", Role::Agent, vec![c]).await;
        let list = app.db.store.create_list(c, "Leads", 1).await.unwrap().id.0;
        app.user("s@x.io", Role::Supervisor, vec![c]).await;
        let s = app.login("s@x.io").await;
        let (_, made) = json(
            s.post(app.url(&format!("/api/v1/clients/{c}/campaigns")))
                .json(&body(a.id.0, list)),
        )
        .await;
        let id = made["id"].as_i64().unwrap();
        let url = app.url(&format!(
            "/api/v1/clients/{c}/campaigns/{id}/audio/voicemail"
        ));
        // An HTML page with a script, whatever audio-looking type it claims, is refused.
        let page = "<html><script>fetch('/api/v1/users')</script></html>";
        for ct in ["audio/mpeg, text/html", "audio/mpeg", "text/html", ""] {
            let (st, e) = json(s.put(&url).header("content-type", ct).body(page)).await;
            assert_eq!(
                (st, e["error"]["field"].as_str()),
                (422, Some("voicemail_url")),
                "{ct}: {e}"
            );
        }
        // Real audio sent with a hostile type is stored and served with its canonical type only.
        let (st, saved) = json(
            s.put(&url)
                .header("content-type", "audio/mpeg, text/html")
                .body(MP3.to_vec()),
        )
        .await;
        assert_eq!(st, 200, "{saved}");
        let served = saved["voicemail_url"].as_str().unwrap();
        let r = common::client()
            .get(app.url(served.trim_start_matches("https://voice.example.com")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let h = r.headers();
        assert_eq!(h["content-type"], "audio/mpeg");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'"));
        assert!(h["content-disposition"]
            .to_str()
            .unwrap()
            .contains("voicemail.mp3"));
    }
);

on_both!(
    the_status_buttons_match_the_campaigns_state_and_the_live_page_pauses_and_resumes,
    |app: TestApp| async move {
        let c = client(&app, "Acme", "+14155550100").await;
        let a = app.user("a@x.io", Role::Agent, vec![c]).await;
        let list = app.db.store.create_list(c, "Leads", 1).await.unwrap().id.0;
        app.user("s@x.io", Role::Supervisor, vec![c]).await;
        let s = app.login("s@x.io").await;
        let (_, made) = json(
            s.post(app.url(&format!("/api/v1/clients/{c}/campaigns")))
                .json(&body(a.id.0, list)),
        )
        .await;
        let id = made["id"].as_i64().unwrap();
        let page = |path: String| {
            let s = s.clone();
            let url = app.url(&path);
            async move { s.get(url).send().await.unwrap().text().await.unwrap() }
        };
        let edit = format!("/admin/clients/{c}/campaigns/{id}");
        let live = format!("{edit}/live");
        let actions = |html: &str| -> Vec<String> {
            ["start", "pause", "resume", "stop"]
                .into_iter()
                .filter(|a| html.contains(&format!("data-action=\"{a}\"")))
                .map(String::from)
                .collect()
        };
        assert_eq!(
            actions(&page(edit.clone()).await),
            vec!["start"],
            "a draft can only start"
        );
        let (st, _) =
            json(s.post(app.url(&format!("/api/v1/clients/{c}/campaigns/{id}/status/start"))))
                .await;
        assert_eq!(st, 200);
        assert_eq!(actions(&page(edit.clone()).await), vec!["pause", "stop"]);
        let html = page(live.clone()).await;
        assert_eq!(
            actions(&html),
            vec!["pause", "stop"],
            "the live page pauses too"
        );
        // Pausing from the live page comes back to it (POST-redirect-GET), showing the new state.
        let r = s
            .post(app.url(&format!("{edit}/status/pause")))
            .form(&[("csrf", csrf(&html)), ("back", "live".to_string())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], live.as_str());
        assert_eq!(actions(&page(live.clone()).await), vec!["resume", "stop"]);
    }
);

on_both!(
    the_live_api_says_why_a_campaign_places_no_calls,
    |app: TestApp| async move {
        let c = client(&app, "Acme", "+14155550100").await;
        let a = app.user("a@x.io", Role::Agent, vec![c]).await;
        let list = app.db.store.create_list(c, "Leads", 1).await.unwrap().id.0;
        app.user("s@x.io", Role::Supervisor, vec![c]).await;
        let s = app.login("s@x.io").await;
        let (_, made) = json(
            s.post(app.url(&format!("/api/v1/clients/{c}/campaigns")))
                .json(&body(a.id.0, list)),
        )
        .await;
        let path = format!("/api/v1/clients/{c}/campaigns/{}", made["id"]);
        let live = app.url(&format!("{path}/live"));
        let idle = |s: reqwest::Client, url: String| async move {
            let (st, v) = json(s.get(url)).await;
            assert_eq!(st, 200, "{v}");
            v["idle"].clone()
        };
        let draft = idle(s.clone(), live.clone()).await;
        assert_eq!(draft["code"], "draft", "{draft}");
        assert!(draft["text"].as_str().unwrap().contains("draft"), "{draft}");
        let (st, _) = json(s.post(app.url(&format!("{path}/status/start")))).await;
        assert_eq!(st, 200);
        // Running, its one agent not Ready: that is the reason, in words.
        let why = common::eventually("the runner is up", common::WAIT, || {
            let (s, live) = (s.clone(), live.clone());
            async move {
                let v = idle(s, live).await;
                (v["code"] != "starting").then_some(v)
            }
        })
        .await;
        assert_eq!(why["code"], "no_agent_ready", "{why}");
        assert_eq!(why["text"], "The campaign's one agent is not Ready.");
        let (st, _) = json(s.post(app.url(&format!("{path}/status/pause")))).await;
        assert_eq!(st, 200);
        let paused = idle(s.clone(), live.clone()).await;
        assert_eq!(paused["code"], "paused", "{paused}");
        assert_eq!(
            paused["text"],
            "The campaign is paused: no calls are placed until it is resumed."
        );
        // The page shows the same words.
        let page = s
            .get(app.url(&format!("/admin/clients/{c}/campaigns/{}/live", made["id"])))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("no calls are placed until it is resumed"),
            "{page}"
        );
    }
);
