//! The authorization matrix, read from the server's own OpenAPI document (and, for pages, from the
//! routes its source declares) so that a new route is covered the day it is added: every
//! `/api/v1` route answers 401 to an anonymous caller (the login itself aside); every route of a
//! client (`{client_id}` in its path) answers 404 to a supervisor and to an agent of another
//! client, whatever the method — never 2xx, never a 403 or 422 that would tell them the client
//! exists; and every route and page answers each role of the client itself (agent, supervisor,
//! admin) as the checked-in table `auth_matrix.table` says. On SQLite and PostgreSQL.

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

// ---- The role table -------------------------------------------------------------------------

/// The checked-in answer table, beside this file. `PALERA_BLESS_MATRIX=1` writes it from what the
/// server answers (then read the diff before committing it).
const TABLE: &str = include_str!("auth_matrix.table");
/// The callers, as the table's columns: nobody logged in, then the client's agent, supervisor
/// and an admin.
const ROLES: [&str; 4] = ["anonymous", "agent", "supervisor", "admin"];

/// Real objects of the client a role works for, to fill route parameters with (so `ok` means
/// the handler served the caller, not that an id happened to be missing).
struct Fixture {
    ids: Vec<(&'static str, String)>,
}

async fn fixture(app: &TestApp) -> Fixture {
    use palera_core::contact::ContactData;
    use palera_core::ids::UserId;
    use palera_core::phone::PhoneNumber;
    use palera_store::campaigns::CampaignInput;
    use palera_store::contacts::Actor;
    let store = &app.db.store;
    let (client, _) = clients(app).await;
    let agent = app.user("agent@x.io", Role::Agent, vec![client]).await;
    app.user("sup@x.io", Role::Supervisor, vec![client]).await;
    let phone = PhoneNumber::parse_e164("+14155550123").unwrap();
    let number = store
        .add_number(
            client,
            &PhoneNumber::parse_e164("+14155550199").unwrap(),
            "Main",
            1,
        )
        .await
        .unwrap();
    let list = store.create_list(client, "Leads", 1).await.unwrap();
    let data = ContactData {
        phone: phone.clone(),
        first_name: "Dana".into(),
        last_name: "Reyes".into(),
        email: None,
        time_zone: Some(chrono_tz::America::New_York),
        properties: Default::default(),
    };
    let contact = store
        .create_contact(client, Some(list.id), &data, &Actor::system("test"), 1)
        .await
        .unwrap();
    let input = CampaignInput {
        name: "Spring".into(),
        settings: Default::default(),
        caller_id: "+14155550199".into(),
        voicemail_url: None,
        hold_music_url: None,
        recording: false,
        transcription: false,
        lists: vec![list.id],
        agents: vec![agent.id],
    };
    let campaign = store.create_campaign(client, &input, 1).await.unwrap();
    let body = palera_core::script::ScriptBody {
        steps: vec![palera_core::script::Step {
            key: "one".into(),
            title: "One".into(),
            text: "Hello".into(),
            ..Default::default()
        }],
    };
    let script = store
        .create_script(client, "Intro", &body, UserId(agent.id.0), 1)
        .await
        .unwrap();
    let call = store
        .create_manual_call(client, contact.id, agent.id, phone.as_str(), 1)
        .await
        .unwrap();
    store.add_dnc(client, &phone, "test", 1).await.unwrap();
    Fixture {
        ids: vec![
            ("client_id", client.to_string()),
            ("campaign_id", campaign.id.to_string()),
            ("contact_id", contact.id.to_string()),
            ("list_id", list.id.to_string()),
            ("user_id", agent.id.to_string()),
            ("call_id", call.id.to_string()),
            ("script_id", script.id.to_string()),
            ("number_id", number.id.to_string()),
            ("number", "+14155550123".into()),
            ("action", "pause".into()),
            ("kind", "voicemail".into()),
        ],
    }
}

impl Fixture {
    /// The path with each parameter set to the fixture's object (1 for ids it has none of).
    fn fill(&self, path: &str) -> String {
        let mut out = String::new();
        let mut rest = path;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("closing brace") + start;
            let name = &rest[start + 1..end];
            match self.ids.iter().find(|(k, _)| *k == name) {
                Some((_, v)) => out.push_str(&v.replace('+', "%2B")),
                None => out.push('1'),
            }
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// What an answer means for the matrix: `ok` (served), `bad` (let in, the empty request refused:
/// 400, 405, 409, 413, 415, 422, 429), `no` (401, 403, 404), `login` (a page sending the caller
/// to the login page), `desk` (an agent sent to their desktop instead); `-` for a page route that
/// takes only form posts.
fn class(status: u16, location: Option<&str>) -> &'static str {
    match status {
        300..=399 if location.is_some_and(|l| l.starts_with("/login")) => "login",
        300..=399 if location.is_some_and(|l| l.starts_with("/desktop")) => "desk",
        200..=399 => "ok",
        401 | 403 | 404 => "no",
        _ => "bad",
    }
}

/// Every page route (`GET`) the server's source declares in a `.route(…)` call, outside the API,
/// static files, media, webhooks and probes: read from the source so a new page is in the matrix
/// the day it is added. Paths built from a `let`/`const` prefix are resolved; anything else fails.
fn page_routes() -> Vec<String> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src];
    let mut out = Vec::new();
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if p.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        for path in declared_routes(&text, &p.display().to_string()) {
            let skip = ["/api/", "/static/", "/media/", "/twilio/", "/ws/"];
            let probes = ["/healthz", "/readyz", "/metrics"];
            if !skip.iter().any(|s| path.starts_with(s)) && !probes.contains(&path.as_str()) {
                out.push(path);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The paths of the `.route(` calls in one source file.
fn declared_routes(text: &str, file: &str) -> Vec<String> {
    // String bindings a path may start from: `let c = "…";` and `const BASE: &str = "…";`.
    let mut names: Vec<(String, String)> = Vec::new();
    for line in text.lines().map(str::trim) {
        let decl = line
            .strip_prefix("let ")
            .or_else(|| line.strip_prefix("const "));
        let Some(decl) = decl else { continue };
        let Some((name, value)) = decl.split_once('=') else {
            continue;
        };
        let name = name.split(':').next().unwrap().trim();
        let value = value.trim().trim_end_matches(';');
        if let Some(v) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            if v.starts_with('/') {
                names.push((name.to_string(), v.to_string()));
            }
        }
    }
    let lookup = |n: &str| names.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let mut out = Vec::new();
    for (at, _) in text.match_indices(".route(") {
        let arg = text[at + ".route(".len()..].trim_start();
        let path = if let Some(rest) = arg.strip_prefix('"') {
            rest[..rest.find('"').unwrap()].to_string()
        } else if let Some(rest) = arg.strip_prefix("&format!(\"") {
            let fmt = &rest[..rest.find('"').unwrap()];
            let mut path = String::new();
            let mut chars = fmt.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '{' if chars.peek() == Some(&'{') => {
                        chars.next();
                        path.push('{');
                    }
                    '}' if chars.peek() == Some(&'}') => {
                        chars.next();
                        path.push('}');
                    }
                    '{' => {
                        let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                        path.push_str(&lookup(&name).unwrap_or_else(|| {
                            panic!(
                                "{file}: a route path uses `{name}`, which this test cannot read"
                            )
                        }));
                    }
                    c => path.push(c),
                }
            }
            path
        } else {
            let name: String = arg
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            match lookup(&name) {
                Some(p) => p,
                // `.route(&waiting, …)` and the like: not an HTTP route.
                None if !arg.starts_with(|c: char| c.is_alphabetic()) => continue,
                None if name.chars().all(|c| c.is_lowercase() || c == '_') && !names.is_empty() => {
                    panic!("{file}: a route path from `{name}`, which this test cannot read")
                }
                None => continue,
            }
        };
        out.push(path);
    }
    out
}

/// What each role of the client gets from every API route and page, one fresh server per role
/// (so one role's deletions never change another's answers); requests go reads first, then
/// writes, then deletions, the logout last.
async fn answers(backend: palera_store::Backend) -> Option<Vec<(String, Vec<&'static str>)>> {
    let mut rows: Vec<(String, Vec<&'static str>)> = Vec::new();
    for (column, who) in ROLES.iter().enumerate() {
        let app = common::spawn(backend).await?;
        let fx = fixture(&app).await;
        let http = match *who {
            "anonymous" => common::client(),
            "agent" => app.login("agent@x.io").await,
            "supervisor" => app.login("sup@x.io").await,
            _ => app.login("admin@x.io").await,
        };
        let mut asks: Vec<(Method, String)> = routes(&app)
            .await
            .into_iter()
            .filter(|(_, p)| p.starts_with("/api/v1/"))
            .collect();
        asks.extend(page_routes().into_iter().map(|p| (Method::GET, p)));
        let order = |(m, p): &(Method, String)| match (m.as_str(), p.as_str()) {
            ("DELETE", "/api/v1/session") => 4,
            ("GET", _) => 0,
            ("DELETE", _) => 3,
            _ => 1,
        };
        asks.sort_by_key(|a| (order(a), a.1.clone(), a.0.to_string()));
        for (m, path) in asks {
            let mut req = http.request(m.clone(), app.url(&fx.fill(&path)));
            if matches!(m, Method::POST | Method::PUT | Method::PATCH) {
                req = req.json(&json!({}));
            }
            let r = req.send().await.unwrap();
            let location = r
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .map(str::to_owned);
            let status = r.status().as_u16();
            let key = format!("{m} {path}");
            assert!(status < 500, "{who}: {key} answered {status}");
            let got = if status == 405 && !path.starts_with("/api/") {
                "-" // a page route that only takes form posts
            } else {
                class(status, location.as_deref())
            };
            match rows.iter_mut().find(|(k, _)| *k == key) {
                Some((_, cols)) => cols[column] = got,
                None => {
                    let mut cols = vec!["?"; ROLES.len()];
                    cols[column] = got;
                    rows.push((key, cols));
                }
            }
        }
    }
    rows.sort();
    Some(rows)
}

fn render(rows: &[(String, Vec<&'static str>)]) -> String {
    let mut out = String::from(
        "# The authorization matrix: what each caller gets from every API route and page of their own\n\
         # client. ok = served, bad = let in but the empty request refused (400/405/409/415/422),\n\
         # no = refused (401/403/404), login = sent to the login page, desk = an agent sent to the\n\
         # desktop instead, - = a page route that takes only form posts. Checked by\n\
         # auth_matrix::every_route_answers_each_role_as_the_table_says; regenerate with\n\
         # PALERA_BLESS_MATRIX=1 and read the diff.\n\
         # route                                                                      anonymous agent supervisor admin\n",
    );
    for (key, cols) in rows {
        out.push_str(&format!("{key:<80}"));
        for (i, c) in cols.iter().enumerate() {
            let width = ROLES[i].len().max(5) + 1;
            out.push_str(&format!(" {c:<width$}"));
        }
        out = out.trim_end().to_string();
        out.push('\n');
    }
    out
}

async fn every_route_answers_each_role_as_the_table_says(backend: palera_store::Backend) {
    let Some(rows) = answers(backend).await else {
        return;
    };
    let got = render(&rows);
    if std::env::var("PALERA_BLESS_MATRIX").as_deref() == Ok("1") {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/suite/auth_matrix.table");
        std::fs::write(path, &got).unwrap();
        return;
    }
    let line = |l: &str| {
        let w: Vec<&str> = l.split_whitespace().collect();
        (w[..2].join(" "), w[2..].join(" "))
    };
    let want: Vec<(String, String)> = TABLE
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(line)
        .collect();
    let have: Vec<(String, String)> = got
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(line)
        .collect();
    let mut wrong = Vec::new();
    for (route, answer) in &have {
        match want.iter().find(|(r, _)| r == route) {
            None => wrong.push(format!("{route}: not in the table (answers {answer})")),
            Some((_, expected)) if expected != answer => wrong.push(format!(
                "{route}: the table says {expected}, the server answers {answer}"
            )),
            _ => {}
        }
    }
    for (route, _) in &want {
        if !have.iter().any(|(r, _)| r == route) {
            wrong.push(format!("{route}: in the table but no longer a route"));
        }
    }
    assert!(
        have.len() > 100,
        "{} routes and pages in the matrix",
        have.len()
    );
    assert!(
        wrong.is_empty(),
        "the authorization matrix changed (anonymous agent supervisor admin):\n{}",
        wrong.join("\n")
    );
}

twins!(every_route_answers_each_role_as_the_table_says);
