//! The authorization matrix, read from the server's own OpenAPI document so that a new route is
//! covered the day it is added: every `/api/v1` route answers 401 to an anonymous caller (the
//! login itself aside), and every route of a client (`{client_id}` in its path) answers 404 to a
//! supervisor and to an agent of another client, whatever the method — never 2xx, never a 403
//! or 422 that would tell them the client exists. On SQLite and PostgreSQL.

use crate::common;

use common::{json, TestApp};
use palera_core::ids::ClientId;
use palera_core::user::Role;
use reqwest::Method;
use serde_json::{json, Value};

/// Every (method, path) the OpenAPI document lists.
async fn routes(app: &TestApp) -> Vec<(Method, String)> {
    let (s, doc) = json(common::client().get(app.url("/api/openapi.json"))).await;
    assert_eq!(s, 200);
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, _) in item.as_object().expect("path item") {
            if let Ok(m) = method.to_uppercase().parse::<Method>() {
                out.push((m, path.clone()));
            }
        }
    }
    assert!(
        out.len() > 40,
        "the document lists the API ({} routes)",
        out.len()
    );
    out
}

/// The path with `{client_id}` set to `client` and every other parameter to an id of 1.
fn fill(path: &str, client: ClientId) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closing brace") + start;
        let name = &rest[start + 1..end];
        if name == "client_id" {
            out.push_str(&client.to_string());
        } else if name == "action" {
            out.push_str("start");
        } else {
            out.push('1');
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

async fn send(http: &reqwest::Client, app: &TestApp, m: &Method, path: &str) -> u16 {
    let mut req = http.request(m.clone(), app.url(path));
    if matches!(*m, Method::POST | Method::PUT | Method::PATCH) {
        req = req.json(&json!({}));
    }
    req.send().await.unwrap().status().as_u16()
}

async fn clients(app: &TestApp) -> (ClientId, ClientId) {
    app.user("admin@x.io", Role::Admin, vec![]).await;
    let admin = app.login("admin@x.io").await;
    let mut ids = Vec::new();
    for name in ["Acme", "Other"] {
        let (s, b): (u16, Value) = json(
            admin
                .post(app.url("/api/v1/clients"))
                .json(&json!({"name": name, "default_country": "US"})),
        )
        .await;
        assert_eq!(s, 201, "{b}");
        ids.push(ClientId(b["id"].as_i64().unwrap()));
    }
    (ids[0], ids[1])
}

on_both!(
    every_api_route_answers_401_to_an_anonymous_caller,
    |app: TestApp| async move {
        let (acme, _) = clients(&app).await;
        let anonymous = common::client();
        let mut wrong = Vec::new();
        for (m, path) in routes(&app).await {
            if !path.starts_with("/api/v1/") || path == "/api/v1/session" {
                continue;
            }
            let status = send(&anonymous, &app, &m, &fill(&path, acme)).await;
            if status != 401 {
                wrong.push(format!("{m} {path} → {status}"));
            }
        }
        assert!(
            wrong.is_empty(),
            "not 401 for an anonymous caller:\n{}",
            wrong.join("\n")
        );
    }
);

on_both!(
    every_client_route_answers_404_to_another_clients_staff_and_agents,
    |app: TestApp| async move {
        let (acme, other) = clients(&app).await;
        app.user("sup@other.io", Role::Supervisor, vec![other])
            .await;
        app.user("agent@other.io", Role::Agent, vec![other]).await;
        let routes = routes(&app).await;
        let scoped: Vec<_> = routes
            .iter()
            .filter(|(_, p)| p.contains("{client_id}"))
            .collect();
        assert!(scoped.len() > 30, "{} client routes", scoped.len());
        for who in ["sup@other.io", "agent@other.io"] {
            let http = app.login(who).await;
            let mut wrong = Vec::new();
            for (m, path) in &scoped {
                let status = send(&http, &app, m, &fill(path, acme)).await;
                if status != 404 {
                    wrong.push(format!("{m} {path} → {status}"));
                }
            }
            assert!(
                wrong.is_empty(),
                "{who} reaches another client's routes:\n{}",
                wrong.join("\n")
            );
        }
    }
);
