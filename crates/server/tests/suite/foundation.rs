//! The Foundation rules, one test each, on SQLite and PostgreSQL: validation with named fields and
//! nothing stored, secrets never shown, client scoping (404), roles (403), authentication (401),
//! the login rate limit, voice state with history, health endpoints and the OpenAPI document.

use crate::common;

use common::{json, TestApp};
use palera_core::ids::ClientId;
use palera_core::user::Role;
use serde_json::json;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "auth-token-0123456789-SECRET-VALUE";

async fn admin(app: &TestApp) -> reqwest::Client {
    app.user("admin@x.io", Role::Admin, vec![]).await;
    app.login("admin@x.io").await
}

async fn create_client(
    app: &TestApp,
    http: &reqwest::Client,
    name: &str,
    number: &str,
) -> ClientId {
    let (status, body) = json(http.post(app.url("/api/v1/clients")).json(&json!({
        "name": name, "account_sid": SID, "auth_token": TOKEN, "numbers": [number]
    })))
    .await;
    assert_eq!(status, 201, "{body}");
    ClientId(body["id"].as_i64().unwrap())
}

async fn client_count(app: &TestApp) -> usize {
    app.db
        .store
        .clients(&palera_store::clients::Scope::All)
        .await
        .unwrap()
        .len()
}

on_both!(
    malformed_account_sid_is_rejected_with_422_naming_the_field_and_nothing_is_stored,
    |app: TestApp| async move {
        let http = admin(&app).await;
        for bad in [
            "AC123",
            "XY0123456789abcdef0123456789abcdef",
            "AC0123456789abcdef0123456789abcdeZ",
        ] {
            let (status, body) = json(http.post(app.url("/api/v1/clients")).json(&json!({
                "name": "Acme", "account_sid": bad, "numbers": ["+14155550100"]
            })))
            .await;
            assert_eq!(status, 422, "{bad}: {body}");
            assert_eq!(body["error"]["field"], "account_sid");
            assert_eq!(body["error"]["code"], "invalid");
        }
        assert_eq!(client_count(&app).await, 0);
    }
);

on_both!(
    malformed_phone_number_is_rejected_with_422_naming_the_field_and_nothing_is_stored,
    |app: TestApp| async move {
        let http = admin(&app).await;
        let (status, body) = json(http.post(app.url("/api/v1/clients")).json(&json!({
            "name": "Acme", "account_sid": SID, "numbers": ["+14155550100", "555-0100"]
        })))
        .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["field"], "numbers[1]");
        assert_eq!(client_count(&app).await, 0);
        // Numbers added later are validated the same way.
        let id = create_client(&app, &http, "Acme", "+14155550100").await;
        let (status, body) = json(
            http.post(app.url(&format!("/api/v1/clients/{id}/numbers")))
                .json(&json!({"number": "12"})),
        )
        .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (422, Some("number"))
        );
        assert_eq!(app.db.store.numbers(id).await.unwrap().len(), 1);
    }
);

on_both!(
    a_number_of_another_client_is_a_conflict_naming_the_field,
    |app: TestApp| async move {
        let http = admin(&app).await;
        create_client(&app, &http, "A", "+14155550100").await;
        let (status, body) = json(http.post(app.url("/api/v1/clients")).json(&json!({
            "name": "B", "numbers": ["+14155550100"]
        })))
        .await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["field"], "numbers[0]");
        assert_eq!(client_count(&app).await, 1);
    }
);

on_both!(
    auth_tokens_never_appear_in_api_responses_or_pages_and_are_stored_as_ciphertext,
    |app: TestApp| async move {
        let http = admin(&app).await;
        let id = create_client(&app, &http, "Acme", "+14155550100").await;
        for path in [
            "/api/v1/clients".to_string(),
            format!("/api/v1/clients/{id}"),
            "/admin/clients".to_string(),
            format!("/admin/clients/{id}"),
            "/api/openapi.json".to_string(),
        ] {
            let text = http
                .get(app.url(&path))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(!text.contains(TOKEN), "{path} shows the token");
            assert!(
                !text.contains("SECRET-VALUE"),
                "{path} shows part of the token"
            );
        }
        let (_, body) = json(http.get(app.url(&format!("/api/v1/clients/{id}")))).await;
        assert_eq!(body["auth_token"], json!({"set": true, "last4": "ALUE"}));
        let (raw,): (String,) = sqlx::query_as("SELECT auth_token_enc FROM clients WHERE id = $1")
            .bind(id.0)
            .fetch_one(app.db.store.pool())
            .await
            .unwrap();
        assert!(raw.starts_with("v1:") && !raw.contains("SECRET"));
    }
);

on_both!(
    a_user_of_one_client_gets_404_for_another_clients_resources,
    |app: TestApp| async move {
        let http = admin(&app).await;
        let a = create_client(&app, &http, "A", "+14155550100").await;
        let b = create_client(&app, &http, "B", "+14155550101").await;
        app.user("sup@a.io", Role::Supervisor, vec![a]).await;
        let sup = app.login("sup@a.io").await;
        let (status, _) = json(sup.get(app.url(&format!("/api/v1/clients/{a}")))).await;
        assert_eq!(status, 200);
        for path in [
            format!("/api/v1/clients/{b}"),
            format!("/api/v1/clients/{b}/numbers"),
            "/api/v1/clients/999999".to_string(),
        ] {
            let (status, body) = json(sup.get(app.url(&path))).await;
            assert_eq!(status, 404, "{path}");
            assert_eq!(body["error"]["code"], "not_found");
        }
        // The same 404 for a client that exists and one that does not: no existence leak.
        let (_, exists) = json(sup.get(app.url(&format!("/api/v1/clients/{b}")))).await;
        let (_, missing) = json(sup.get(app.url("/api/v1/clients/999999"))).await;
        assert_eq!(exists, missing);
        let (_, list) = json(sup.get(app.url("/api/v1/clients"))).await;
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert_eq!(list[0]["id"], a.0);
        // Pages follow the same rule.
        let r = sup
            .get(app.url(&format!("/admin/clients/{b}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
);

on_both!(
    an_agent_cannot_reach_admin_apis,
    |app: TestApp| async move {
        let http = admin(&app).await;
        let a = create_client(&app, &http, "A", "+14155550100").await;
        app.user("agent@a.io", Role::Agent, vec![a]).await;
        let agent = app.login("agent@a.io").await;
        let attempts = [
            agent
                .post(app.url("/api/v1/clients"))
                .json(&json!({"name": "X"})),
            agent
                .put(app.url(&format!("/api/v1/clients/{a}")))
                .json(&json!({"name": "X"})),
            agent
                .post(app.url(&format!("/api/v1/clients/{a}/numbers")))
                .json(&json!({"number": "+14155550199"})),
            agent.get(app.url("/api/v1/users")),
            agent
                .post(app.url("/api/v1/users"))
                .json(&json!({"email": "x@y.io", "role": "admin", "password": "12345678"})),
        ];
        for req in attempts {
            let (status, body) = json(req).await;
            assert_eq!(status, 403, "{body}");
            assert_eq!(body["error"]["code"], "forbidden");
        }
        assert_eq!(client_count(&app).await, 1);
        assert_eq!(app.db.store.users(None).await.unwrap().len(), 2);
    }
);

on_both!(
    a_wrong_password_is_401_without_saying_which_part_was_wrong,
    |app: TestApp| async move {
        app.user("a@x.io", Role::Agent, vec![]).await;
        let c = common::client();
        let (s1, wrong_pw) = json(
            c.post(app.url("/api/v1/session"))
                .json(&json!({"email": "a@x.io", "password": "nope-nope"})),
        )
        .await;
        let (s2, no_user) = json(
            c.post(app.url("/api/v1/session"))
                .json(&json!({"email": "b@x.io", "password": "nope-nope"})),
        )
        .await;
        assert_eq!((s1, s2), (401, 401));
        assert_eq!(wrong_pw, no_user, "both failures read the same");
        assert_eq!(wrong_pw["error"]["code"], "invalid_credentials");
    }
);

on_both!(
    unauthenticated_api_calls_are_401,
    |app: TestApp| async move {
        let c = common::client();
        for path in [
            "/api/v1/me",
            "/api/v1/clients",
            "/api/v1/users",
            "/api/v1/me/voice-state",
            "/api/v1/clients/1",
        ] {
            let (status, body) = json(c.get(app.url(path))).await;
            assert_eq!(status, 401, "{path}");
            assert_eq!(body["error"]["code"], "unauthorized");
        }
        // A page sends the visitor to the login page instead.
        let r = c.get(app.url("/admin/clients")).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/login");
    }
);

on_both!(
    logins_are_rate_limited_per_email_and_address,
    |app: TestApp| async move {
        app.user("a@x.io", Role::Agent, vec![]).await;
        let c = common::client();
        for _ in 0..5 {
            let (s, _) = json(
                c.post(app.url("/api/v1/session"))
                    .json(&json!({"email": "a@x.io", "password": "wrong-one"})),
            )
            .await;
            assert_eq!(s, 401);
        }
        // Even the right password is refused while the limit holds.
        let (s, body) = json(
            c.post(app.url("/api/v1/session"))
                .json(&json!({"email": "a@x.io", "password": common::PASSWORD})),
        )
        .await;
        assert_eq!(s, 429, "{body}");
        assert_eq!(body["error"]["code"], "too_many_attempts");
    }
);

on_both!(
    session_cookies_are_http_only_and_logout_ends_the_session,
    |app: TestApp| async move {
        app.user("a@x.io", Role::Agent, vec![]).await;
        let c = common::client();
        let r = c
            .post(app.url("/api/v1/session"))
            .json(&json!({"email": "a@x.io", "password": common::PASSWORD}))
            .send()
            .await
            .unwrap();
        let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        assert!(
            cookie.contains("Secure"),
            "the public URL is https: {cookie}"
        );
        assert_eq!(json(c.get(app.url("/api/v1/me"))).await.0, 200);
        assert_eq!(
            c.delete(app.url("/api/v1/session"))
                .send()
                .await
                .unwrap()
                .status(),
            204
        );
        assert_eq!(json(c.get(app.url("/api/v1/me"))).await.0, 401);
    }
);

on_both!(
    form_posts_without_the_csrf_token_are_refused,
    |app: TestApp| async move {
        let http = admin(&app).await;
        let r = http
            .post(app.url("/admin/clients"))
            .form(&[("name", "Sneaky"), ("csrf", "forged")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        assert_eq!(client_count(&app).await, 0);
        // With the session's token the same form works.
        let (_, login) = json(http.get(app.url("/api/v1/me"))).await;
        assert!(login["id"].is_i64());
        let page = http
            .get(app.url("/admin/clients"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        let r = http
            .post(app.url("/admin/clients"))
            .form(&[
                ("name", "Proper"),
                ("csrf", csrf.as_str()),
                ("time_zone", "UTC"),
                ("default_country", "US"),
                ("numbers", "+14155550100"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(client_count(&app).await, 1);
    }
);

on_both!(
    a_rejected_client_form_names_the_field_and_keeps_the_input,
    |app: TestApp| async move {
        let http = admin(&app).await;
        let page = http
            .get(app.url("/admin/clients"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        let r = http
            .post(app.url("/admin/clients"))
            .form(&[
                ("name", "Kept Name"),
                ("csrf", csrf.as_str()),
                ("account_sid", "AC1"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        assert!(
            html.contains("account_sid: must be AC followed by 32 hexadecimal digits"),
            "{html}"
        );
        assert!(html.contains("value=\"Kept Name\""));
        assert_eq!(client_count(&app).await, 0);
        // A bad number is named by its line in the box, as people count.
        let r = http
            .post(app.url("/admin/clients"))
            .form(&[
                ("name", "Kept Name"),
                ("csrf", csrf.as_str()),
                ("numbers", "+14155550100\n12"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        assert!(html.contains("Number on line 2: "), "{html}");
        assert!(!html.contains("numbers[1]"), "{html}");
        assert_eq!(client_count(&app).await, 0);
    }
);

on_both!(
    supervisors_see_only_their_clients_users,
    |app: TestApp| async move {
        let http = admin(&app).await;
        let a = create_client(&app, &http, "A", "+14155550100").await;
        let b = create_client(&app, &http, "B", "+14155550101").await;
        app.user("sup@a.io", Role::Supervisor, vec![a]).await;
        app.user("agent@a.io", Role::Agent, vec![a]).await;
        app.user("agent@b.io", Role::Agent, vec![b]).await;
        let sup = app.login("sup@a.io").await;
        let (_, users) = json(sup.get(app.url("/api/v1/users"))).await;
        let mut emails: Vec<&str> = users
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap())
            .collect();
        emails.sort();
        assert_eq!(emails, vec!["agent@a.io", "sup@a.io"]);
        let other = app.db.store.user_for_login("agent@b.io").await.unwrap().0;
        assert_eq!(
            json(sup.get(app.url(&format!("/api/v1/users/{}", other.id))))
                .await
                .0,
            404
        );
    }
);

on_both!(
    users_are_created_with_validated_fields_and_client_assignments,
    |app: TestApp| async move {
        let http = admin(&app).await;
        let a = create_client(&app, &http, "A", "+14155550100").await;
        let (s, body) =
            json(http.post(app.url("/api/v1/users")).json(
                &json!({"email": "not-an-email", "role": "agent", "password": "long-enough"}),
            ))
            .await;
        assert_eq!((s, body["error"]["field"].as_str()), (422, Some("email")));
        let (s, body) = json(
            http.post(app.url("/api/v1/users"))
                .json(&json!({"email": "a@x.io", "role": "agent", "password": "short"})),
        )
        .await;
        assert_eq!(
            (s, body["error"]["field"].as_str()),
            (422, Some("password"))
        );
        let (s, body) = json(
            http.post(app.url("/api/v1/users"))
                .json(&json!({"email": "a@x.io", "role": "boss", "password": "long-enough"})),
        )
        .await;
        assert_eq!(
            (s, body["error"]["field"].as_str()),
            (422, Some("role")),
            "{body}"
        );
        let (s, body) = json(http.post(app.url("/api/v1/users")).json(&json!({"email": "a@x.io", "role": "agent", "password": "long-enough", "clients": [a.0]}))).await;
        assert_eq!(s, 201, "{body}");
        assert_eq!(body["clients"], json!([a.0]));
        assert!(body.get("password_hash").is_none());
        let (s, body) = json(
            http.post(app.url("/api/v1/users"))
                .json(&json!({"email": "A@x.io", "role": "agent", "password": "long-enough"})),
        )
        .await;
        assert_eq!((s, body["error"]["field"].as_str()), (409, Some("email")));
    }
);

on_both!(
    every_voice_state_change_is_stored_with_a_timestamp,
    |app: TestApp| async move {
        let u = app.user("agent@x.io", Role::Agent, vec![]).await;
        let agent = app.login("agent@x.io").await;
        for state in ["ready", "standby", "offline", "ready"] {
            let (s, body) = json(
                agent
                    .put(app.url("/api/v1/me/voice-state"))
                    .json(&json!({"state": state})),
            )
            .await;
            assert_eq!(s, 200, "{body}");
            assert_eq!(body["state"], state);
        }
        let (s, body) = json(
            agent
                .put(app.url("/api/v1/me/voice-state"))
                .json(&json!({"state": "busy"})),
        )
        .await;
        assert_eq!((s, body["error"]["field"].as_str()), (422, Some("state")));
        let (_, history) =
            json(agent.get(app.url(&format!("/api/v1/users/{}/voice-state-history", u.id)))).await;
        let states: Vec<&str> = history
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["state"].as_str().unwrap())
            .collect();
        assert_eq!(states, vec!["ready", "standby", "offline", "ready"]);
        let times: Vec<i64> = history
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["at"].as_i64().unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]) && times[0] > 0);
    }
);

on_both!(
    an_agent_without_voice_cannot_go_ready,
    |app: TestApp| async move {
        let u = app.user("agent@x.io", Role::Agent, vec![]).await;
        app.db
            .store
            .update_user_access(u.id, "agent", Role::Agent, false, &[])
            .await
            .unwrap();
        let agent = app.login("agent@x.io").await;
        let (s, body) = json(
            agent
                .put(app.url("/api/v1/me/voice-state"))
                .json(&json!({"state": "ready"})),
        )
        .await;
        assert_eq!((s, body["error"]["field"].as_str()), (422, Some("state")));
        assert!(app
            .db
            .store
            .voice_state_history(u.id)
            .await
            .unwrap()
            .is_empty());
    }
);

on_both!(
    health_readiness_metrics_and_openapi_answer,
    |app: TestApp| async move {
        let c = common::client();
        assert_eq!(
            c.get(app.url("/healthz"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
            "ok"
        );
        // Ready once the call engine has rebuilt its state (a moment after start).
        common::eventually("ready", common::WAIT, || async {
            c.get(app.url("/readyz")).send().await.unwrap().status() == 200
        })
        .await;
        let metrics = c
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("palera_http_requests_total{class=\"2xx\"}"),
            "{metrics}"
        );
        assert!(metrics.contains("palera_agents{state=\"offline\"}"));
        // The engine's loop lag, observed on each tick (one every 200 ms).
        let count = metrics
            .lines()
            .find_map(|l| l.strip_prefix("palera_engine_loop_lag_seconds_count "))
            .unwrap_or_else(|| panic!("the loop lag histogram: {metrics}"));
        assert!(count.trim().parse::<u64>().unwrap() > 0, "{count}");
        let (s, doc) = json(c.get(app.url("/api/openapi.json"))).await;
        assert_eq!(s, 200);
        for path in [
            "/api/v1/clients",
            "/api/v1/clients/{client_id}",
            "/api/v1/users",
            "/api/v1/me/voice-state",
            "/api/v1/session",
        ] {
            assert!(
                doc["paths"].get(path).is_some(),
                "{path} missing from OpenAPI"
            );
        }
    }
);

on_both!(
    readiness_fails_when_the_database_is_gone,
    |app: TestApp| async move {
        app.db.store.close().await;
        let r = common::client()
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503);
    }
);

on_both!(
    graceful_shutdown_stops_the_server,
    |app: TestApp| async move {
        let base = app.base.clone();
        assert_eq!(
            common::client()
                .get(format!("{base}/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        app.shutdown().await;
        assert!(common::client()
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_err());
    }
);

on_both!(
    an_open_wallboard_stream_does_not_hold_the_shutdown,
    |app: TestApp| async move {
        let http = admin(&app).await;
        let a = create_client(&app, &http, "A", "+14155550100").await;
        app.user("sup@a.io", Role::Supervisor, vec![a]).await;
        let sup = app.login("sup@a.io").await;
        let mut events = sup
            .get(app.url(&format!("/api/v1/clients/{}/wallboard/events", a.0)))
            .send()
            .await
            .unwrap();
        assert_eq!(events.status(), 200);
        // The first board arrives, then the stream stays open.
        let first = events.chunk().await.unwrap().expect("the first event");
        assert!(String::from_utf8_lossy(&first).contains("wallboard"));
        // Graceful shutdown ends the stream instead of waiting for the supervisor to leave.
        tokio::time::timeout(std::time::Duration::from_secs(30), app.shutdown())
            .await
            .expect("the server stops while a wallboard is open");
    }
);

on_both!(
    users_list_shows_only_clients_the_caller_may_see,
    |app: TestApp| async move {
        let http = admin(&app).await;
        let a = create_client(&app, &http, "A", "+14155550100").await;
        let b = create_client(&app, &http, "B", "+14155550101").await;
        app.user("sup@a.io", Role::Supervisor, vec![a]).await;
        let shared = app.user("shared@x.io", Role::Agent, vec![a, b]).await;
        let sup = app.login("sup@a.io").await;
        let (s, list) = json(sup.get(app.url("/api/v1/users"))).await;
        assert_eq!(s, 200, "{list}");
        let row = list
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["id"] == shared.id.0)
            .expect("the shared agent is listed");
        assert_eq!(
            row["clients"],
            json!([a]),
            "client B is not the supervisor's to see"
        );
        let (s, one) = json(sup.get(app.url(&format!("/api/v1/users/{}", shared.id)))).await;
        assert_eq!((s, one["clients"].clone()), (200, json!([a])));
        // An admin sees every client.
        let (_, all) = json(http.get(app.url(&format!("/api/v1/users/{}", shared.id)))).await;
        assert_eq!(all["clients"].as_array().unwrap().len(), 2);
        let _ = b;
    }
);

on_both!(
    a_password_change_ends_other_sessions,
    |app: TestApp| async move {
        let http = admin(&app).await;
        let a = create_client(&app, &http, "A", "+14155550100").await;
        let agent = app.user("agent@a.io", Role::Agent, vec![a]).await;
        let laptop = app.login("agent@a.io").await;
        let phone = app.login("agent@a.io").await;
        let (s, _) = json(laptop.get(app.url("/api/v1/me"))).await;
        assert_eq!(s, 200);
        let (s, body) = json(
            http.put(app.url(&format!("/api/v1/users/{}", agent.id)))
                .json(
                    &json!({"name": "Agent", "role": "agent", "voice_enabled": true,
                    "clients": [a], "password": "a-new-password-123"}),
                ),
        )
        .await;
        assert_eq!(s, 200, "{body}");
        for (who, c) in [("laptop", &laptop), ("phone", &phone)] {
            let (s, _) = json(c.get(app.url("/api/v1/me"))).await;
            assert_eq!(s, 401, "the {who} session ended with the password change");
        }
        // The admin changing their own password keeps the session that did it.
        let (_, me) = json(http.get(app.url("/api/v1/me"))).await;
        let id = me["user"]["id"].as_i64().or(me["id"].as_i64()).unwrap();
        let (s, body) = json(http.put(app.url(&format!("/api/v1/users/{id}"))).json(
            &json!({"name": "Admin", "role": "admin", "voice_enabled": false,
                    "clients": [], "password": "another-password-456"}),
        ))
        .await;
        assert_eq!(s, 200, "{body}");
        let (s, _) = json(http.get(app.url("/api/v1/me"))).await;
        assert_eq!(s, 200, "the admin's own session survives");
    }
);

on_both!(
    pages_carry_security_headers_and_allow_no_inline_script,
    |app: TestApp| async move {
        let r = common::client()
            .get(app.url("/login"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "same-origin");
        assert_eq!(h["cache-control"], "no-store");
        assert!(h["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age="));
        // JSON answers are not sniffed either.
        let r = common::client()
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    }
);

/// The policy forbids inline scripts, so no template may have one (each would silently stop
/// working in the browser).
#[test]
fn no_template_has_an_inline_script_or_handler() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let html = std::fs::read_to_string(&path).unwrap();
        for (i, line) in html.lines().enumerate() {
            let inline = line.contains("<script") && !line.contains(" src=");
            let handler = [
                " onclick=",
                " onchange=",
                " onload=",
                " onsubmit=",
                " oninput=",
            ]
            .iter()
            .any(|h| line.contains(h));
            assert!(!inline && !handler, "{}:{}: {line}", path.display(), i + 1);
        }
    }
}

on_both!(
    a_state_change_from_another_origin_is_refused,
    |app: TestApp| async move {
        let http = admin(&app).await;
        let a = create_client(&app, &http, "A", "+14155550100").await;
        app.user("agent@a.io", Role::Agent, vec![a]).await;
        let agent = app.login("agent@a.io").await;
        let url = app.url("/api/v1/me/voice-state");
        let ready = json!({"state": "standby"});
        // A page on another port of this host (same site, so SameSite cookies still go along).
        let evil = app
            .base
            .rsplit_once(':')
            .map(|(h, _)| format!("{h}:1"))
            .unwrap();
        let (s, e) = json(agent.put(&url).header("origin", &evil).json(&ready)).await;
        assert_eq!((s, e["error"]["code"].clone()), (403, json!("cross_site")));
        let (s, _) = json(
            agent
                .put(&url)
                .header("sec-fetch-site", "same-site")
                .json(&ready),
        )
        .await;
        assert_eq!(s, 403, "Sec-Fetch-Site: same-site is another origin too");
        // An upload from elsewhere is refused the same way.
        let r = http
            .post(app.url(&format!("/api/v1/clients/{a}/dnc/import")))
            .header("origin", "https://attacker.example")
            .header("content-type", "text/csv")
            .body("phone\n+14155550123\n")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        assert_eq!(
            app.db.store.dnc_count(a).await.unwrap(),
            0,
            "nothing imported"
        );
        // The site's own pages (their origin) and plain API clients (no origin) pass.
        let (s, _) = json(agent.put(&url).header("origin", &app.base).json(&ready)).await;
        assert_eq!(s, 200);
        let (s, _) = json(agent.put(&url).json(&ready)).await;
        assert_eq!(s, 200);
        // The desktop's WebSocket handshake from another origin is refused.
        let r = agent
            .get(app.url("/ws/desktop"))
            .header("origin", &evil)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
    }
);

on_both!(
    an_engine_panic_makes_readyz_fail_and_the_engine_recovers,
    |app: TestApp| async move {
        let c = common::client();
        let status = || async { c.get(app.url("/readyz")).send().await.unwrap().status() };
        common::eventually("ready", common::WAIT, || async { status().await == 200 }).await;
        app.app.engine.send(palera_server::engine::Request::Crash {
            message: "injected fault".into(),
        });
        common::eventually(
            "unready while the engine is rebuilt",
            common::WAIT,
            || async { status().await == 503 },
        )
        .await;
        common::eventually("ready again", common::WAIT, || async {
            status().await == 200
        })
        .await;
        // The rebuilt engine answers requests again.
        let answer = app
            .app
            .engine
            .ask(|reply| palera_server::engine::Request::CurrentCall {
                agent: palera_core::ids::UserId(1),
                reply,
            })
            .await;
        assert!(answer.is_ok(), "the engine answers after its rebuild");
        let metrics = c
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("palera_engine_restarts_total 1"),
            "{metrics}"
        );
    }
);

on_both!(
    the_admin_action_log_says_who_changed_what_and_only_admins_read_it,
    |app: TestApp| async move {
        let http = admin(&app).await;
        let a = create_client(&app, &http, "A", "+14155550100").await;
        app.user("sup@a.io", Role::Supervisor, vec![a]).await;
        let agent = app.user("agent@a.io", Role::Agent, vec![a]).await;
        let sup = app.login("sup@a.io").await;
        // A supervisor adds a do-not-call number; a refused change is not logged.
        let dnc = format!("/api/v1/clients/{a}/dnc");
        let (s, body) = json(
            sup.post(app.url(&dnc))
                .json(&json!({"number": "+14155550123"})),
        )
        .await;
        assert!(s < 300, "{s}: {body}");
        let (s, _) = json(
            sup.post(app.url(&dnc))
                .json(&json!({"number": "not a number"})),
        )
        .await;
        assert_eq!(s, 422);
        // An agent's own work is not an admin action.
        let me = app.login("agent@a.io").await;
        let (s, _) = json(
            me.put(app.url("/api/v1/me/voice-state"))
                .json(&json!({"state": "ready"})),
        )
        .await;
        assert_eq!(s, 200);
        let (s, log) = json(http.get(app.url("/api/v1/admin/actions"))).await;
        assert_eq!(s, 200, "{log}");
        let rows = log.as_array().unwrap();
        let what: Vec<(String, String, Option<i64>)> = rows
            .iter()
            .map(|r| {
                (
                    r["actor_email"].as_str().unwrap().to_string(),
                    format!(
                        "{} {}",
                        r["method"].as_str().unwrap(),
                        r["route"].as_str().unwrap()
                    ),
                    r["client_id"].as_i64(),
                )
            })
            .collect();
        assert_eq!(
            what,
            vec![
                ("sup@a.io".to_string(), format!("POST {dnc}"), Some(a.0)),
                (
                    "admin@x.io".to_string(),
                    "POST /api/v1/clients".to_string(),
                    None
                ),
            ],
            "newest first; the refused change and the agent's state are not there"
        );
        assert_eq!(rows[0]["object"], "dnc");
        let _ = agent;
        // Only admins read it.
        let (s, _) = json(sup.get(app.url("/api/v1/admin/actions"))).await;
        assert_eq!(s, 403);
        let page = common::page(&http, &app.url("/admin/actions")).await;
        assert!(
            page.contains("sup@a.io") && page.contains(&format!("POST {dnc}")),
            "{page}"
        );
        let refused = sup.get(app.url("/admin/actions")).send().await.unwrap();
        assert_eq!(refused.status(), 403);
    }
);
