//! The authorization matrix, read from the server's own OpenAPI document (and, for pages, from the
//! routes its source declares) so that a new route is covered the day it is added: every
//! `/api/v1` route answers 401 to an anonymous caller (the login itself aside); every route of a
//! client (`{client_id}` in its path) answers 404 to a supervisor and to an agent of another
//! client, whatever the method — never 2xx, never a 403 or 422 that would tell them the client
//! exists; every page form of a client refuses another client's supervisor and agent as a client
//! that does not exist would, and changes nothing; no page form is taken without the session's
//! CSRF token; and every route, page and page form answers each role of the client itself
//! (agent, supervisor, admin) as the checked-in table `auth_matrix.table` says. On SQLite and
//! PostgreSQL.

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

/// An API request as the matrix sends it: writes with an empty JSON object.
fn api_request(http: &reqwest::Client, m: &Method, url: String) -> reqwest::RequestBuilder {
    let req = http.request(m.clone(), url);
    if matches!(*m, Method::POST | Method::PUT | Method::PATCH) {
        req.json(&json!({}))
    } else {
        req
    }
}

/// A page form posted as a browser posts it: URL-encoded, with no field but the CSRF token of
/// the page it came from (none when `csrf` is `None`).
fn form_post(http: &reqwest::Client, url: String, csrf: Option<&str>) -> reqwest::RequestBuilder {
    let fields: Vec<(&str, &str)> = csrf.map(|t| ("csrf", t)).into_iter().collect();
    http.post(url).form(&fields)
}

/// The status of an answer and where it redirects to.
async fn outcome(req: reqwest::RequestBuilder) -> (u16, Option<String>) {
    let r = req.send().await.unwrap();
    let location = r
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(str::to_owned);
    (r.status().as_u16(), location)
}

async fn send(http: &reqwest::Client, app: &TestApp, m: &Method, path: &str) -> u16 {
    outcome(api_request(http, m, app.url(path))).await.0
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

/// What a client holds, as an admin reads it through every API GET route of the client (figures
/// that move by themselves aside: live statistics, reports, the wallboard, voice tokens) and the
/// admin action log: to tell that refused forms changed nothing.
async fn holdings(app: &TestApp, fx: &Fixture, admin: &reqwest::Client) -> Vec<String> {
    let moving = ["/live", "/reports/", "/wallboard", "/voice-token"];
    let mut out = Vec::new();
    for (m, path) in routes(app).await {
        let read = path.contains("{client_id}") || path == "/api/v1/admin/actions";
        if m != Method::GET || !read || moving.iter().any(|s| path.contains(s)) {
            continue;
        }
        let r = admin.get(app.url(&fx.fill(&path))).send().await.unwrap();
        out.push(format!("{path} {} {}", r.status(), r.text().await.unwrap()));
    }
    out
}

on_both!(
    every_client_page_form_refuses_another_clients_staff_and_agents,
    |app: TestApp| async move {
        let fx = fixture(&app).await;
        app.user("sup@other.io", Role::Supervisor, vec![fx.other])
            .await;
        app.user("agent@other.io", Role::Agent, vec![fx.other])
            .await;
        let admin = app.login("admin@x.io").await;
        let before = holdings(&app, &fx, &admin).await;
        let scoped: Vec<String> = page_forms()
            .into_iter()
            .filter(|p| p.contains("{client_id}"))
            .collect();
        assert!(scoped.len() > 15, "{} client page forms", scoped.len());
        let nowhere = [("client_id", "999999".to_string())];
        for who in ["sup@other.io", "agent@other.io"] {
            // Posted as from their own client's pages, with their session's token, to Acme's
            // real objects: refused as a client that does not exist would refuse them.
            let c = caller(&app, Some(who), fx.other).await;
            let post = |path: String| outcome(form_post(&c.forms, app.url(&path), Some(&c.csrf)));
            let mut wrong = Vec::new();
            for path in &scoped {
                let (status, location) = post(fx.fill(path)).await;
                let (absent, _) = post(fx.fill_with(path, &nowhere)).await;
                if class(status, location.as_deref()) != "no" || status != absent {
                    wrong.push(format!(
                        "POST {path} → {status} {location:?} (a client that does not exist: {absent})"
                    ));
                }
            }
            assert!(
                wrong.is_empty(),
                "{who} reaches another client's page forms:\n{}",
                wrong.join("\n")
            );
        }
        let after = holdings(&app, &fx, &admin).await;
        let changed: Vec<&str> = after
            .iter()
            .filter(|h| !before.contains(h))
            .map(|h| h.split(' ').next().unwrap())
            .collect();
        assert!(
            changed.is_empty() && after.len() == before.len(),
            "another client's people changed Acme's data, read at:\n{}",
            changed.join("\n")
        );
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
    /// The client (Acme) and the other client the test creates.
    client: ClientId,
    other: ClientId,
    ids: Vec<(&'static str, String)>,
    /// Objects of their own for the page forms, where an API route deletes the one in `ids`
    /// (the number-removal form and `DELETE …/numbers/{number_id}` both remove a number).
    forms: Vec<(&'static str, String)>,
}

async fn fixture(app: &TestApp) -> Fixture {
    use palera_core::contact::ContactData;
    use palera_core::ids::UserId;
    use palera_core::phone::PhoneNumber;
    use palera_store::campaigns::CampaignInput;
    use palera_store::contacts::Actor;
    let store = &app.db.store;
    let (client, other) = clients(app).await;
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
    let spare = store
        .add_number(
            client,
            &PhoneNumber::parse_e164("+14155550198").unwrap(),
            "Spare",
            1,
        )
        .await
        .unwrap();
    let tier = palera_core::contact::PropertyDef {
        name: "tier".into(),
        label: "Tier".into(),
        kind: palera_core::contact::PropertyKind::Text,
        choices: vec![],
        required: false,
    };
    store.define_property(client, &tier, 1).await.unwrap();
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
        client,
        other,
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
            ("name", "tier".into()),
        ],
        forms: vec![("number_id", spare.id.to_string())],
    }
}

impl Fixture {
    /// The path with each parameter set to the fixture's object (1 for ids it has none of); a
    /// page form's path to the forms' own objects first.
    fn fill(&self, path: &str) -> String {
        let forms: &[_] = if path.starts_with("/api/") {
            &[]
        } else {
            &self.forms
        };
        self.fill_with(path, forms)
    }

    /// [`Fixture::fill`] with the parameters of `first` set to their values instead.
    fn fill_with(&self, path: &str, first: &[(&'static str, String)]) -> String {
        let mut out = String::new();
        let mut rest = path;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("closing brace") + start;
            let name = &rest[start + 1..end];
            let value = first.iter().chain(&self.ids).find(|(k, _)| *k == name);
            match value {
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
/// to the login page), `desk` (an agent sent to their desktop instead).
fn class(status: u16, location: Option<&str>) -> &'static str {
    match status {
        300..=399 if location.is_some_and(|l| l.starts_with("/login")) => "login",
        300..=399 if location.is_some_and(|l| l.starts_with("/desktop")) => "desk",
        200..=399 => "ok",
        401 | 403 | 404 => "no",
        _ => "bad",
    }
}

/// Every page route the server's source declares in a `.route(…)` call, with each method it
/// takes (`GET` for pages, `POST` for their forms), outside the API, static files, media,
/// webhooks and probes: read from the source so a new page or form is in the matrix the day it
/// is added. Paths built from a `let`/`const` prefix are resolved; anything else fails.
fn page_routes() -> Vec<(Method, String)> {
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
        for (m, path) in declared_routes(&text, &p.display().to_string()) {
            let skip = ["/api/", "/static/", "/media/", "/twilio/", "/ws/"];
            let probes = ["/healthz", "/readyz", "/metrics"];
            if skip.iter().any(|s| path.starts_with(s)) || probes.contains(&path.as_str()) {
                continue;
            }
            assert!(
                m == Method::GET || m == Method::POST,
                "{}: the page route {path} takes {m}, which the matrix does not send to pages",
                p.display()
            );
            out.push((m, path));
        }
    }
    out.sort_by_key(|(m, p)| (p.clone(), m.to_string()));
    out.dedup();
    out
}

/// The page routes that take form posts.
fn page_forms() -> Vec<String> {
    let forms: Vec<String> = page_routes()
        .into_iter()
        .filter(|(m, _)| *m == Method::POST)
        .map(|(_, p)| p)
        .collect();
    assert!(forms.len() > 20, "{} page forms", forms.len());
    forms
}

/// The methods and paths of the `.route(` calls in one source file.
fn declared_routes(text: &str, file: &str) -> Vec<(Method, String)> {
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
    let mut out = Vec::new();
    for (at, _) in text.match_indices(".route(") {
        let args = &text[at + ".route(".len()..];
        let (top, end) = top_level(args);
        let args = &args[..end];
        let Some(path) = route_path(args.trim_start(), &names, file) else {
            continue;
        };
        let methods = route_methods(args, &top);
        assert!(
            !methods.is_empty(),
            "{file}: the methods of the route {path}, which this test cannot read"
        );
        out.extend(methods.into_iter().map(|m| (m, path.clone())));
    }
    out
}

/// The top level of a call's arguments (`text` starts right after its opening parenthesis): the
/// byte offsets and characters outside string literals and nested brackets, and the offset of
/// the call's closing parenthesis.
fn top_level(text: &str) -> (Vec<(usize, char)>, usize) {
    let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
    let mut out = Vec::new();
    for (i, c) in text.char_indices() {
        if in_str {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            ')' | ']' | '}' if depth == 0 => return (out, i),
            ')' | ']' | '}' => depth -= 1,
            '(' | '[' | '{' => {
                if depth == 0 {
                    out.push((i, c));
                }
                depth += 1;
            }
            _ if depth == 0 => out.push((i, c)),
            _ => {}
        }
    }
    (out, text.len())
}

/// The methods a route's method router takes: the `get(…)`, `post(…)`, `.post(…)` … calls at
/// the top level of the `.route(` call's second argument.
fn route_methods(args: &str, top: &[(usize, char)]) -> Vec<Method> {
    let Some(&(comma, _)) = top.iter().find(|(_, c)| *c == ',') else {
        return Vec::new();
    };
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = Vec::new();
    for &(i, c) in top.iter().filter(|(i, _)| *i > comma) {
        if !c.is_alphabetic() || args[..i].chars().next_back().is_some_and(ident) {
            continue;
        }
        let name: String = args[i..].chars().take_while(|c| ident(*c)).collect();
        if !args[i + name.len()..].starts_with('(') {
            continue;
        }
        let m = ["get", "post", "put", "patch", "delete"]
            .contains(&name.as_str())
            .then(|| name.to_uppercase().parse::<Method>().unwrap());
        out.extend(m);
    }
    out
}

/// The path of a `.route(` call from its arguments: a literal, a `&format!` of literals and
/// string bindings from `names`, or one such binding; `None` for a call that is not an HTTP
/// route (`roster.route(&waiting, …)`).
fn route_path(arg: &str, names: &[(String, String)], file: &str) -> Option<String> {
    let lookup = |n: &str| names.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    if let Some(rest) = arg.strip_prefix('"') {
        return Some(rest[..rest.find('"').unwrap()].to_string());
    }
    if let Some(rest) = arg.strip_prefix("&format!(\"") {
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
                        panic!("{file}: a route path uses `{name}`, which this test cannot read")
                    }));
                }
                c => path.push(c),
            }
        }
        return Some(path);
    }
    let name: String = arg
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    match lookup(&name) {
        Some(p) => Some(p),
        // `.route(&waiting, …)` and the like: not an HTTP route.
        None if !arg.starts_with(|c: char| c.is_alphabetic()) => None,
        None if name.chars().all(|c| c.is_lowercase() || c == '_') && !names.is_empty() => {
            panic!("{file}: a route path from `{name}`, which this test cannot read")
        }
        None => None,
    }
}

/// The login of each role of the matrix (`None`: nobody logged in).
fn email(role: &str) -> Option<&'static str> {
    match role {
        "anonymous" => None,
        "agent" => Some("agent@x.io"),
        "supervisor" => Some("sup@x.io"),
        _ => Some("admin@x.io"),
    }
}

/// One caller: `http` for the API and page reads; `forms`, a second session of the same user,
/// for the page forms (so the logout form ends only its own session), with `csrf`, the token
/// that session's pages carry, read from a page of `client` as a browser would post it (the
/// login form's token for nobody logged in).
struct Caller {
    http: reqwest::Client,
    forms: reqwest::Client,
    csrf: String,
}

async fn caller(app: &TestApp, email: Option<&str>, client: ClientId) -> Caller {
    let (http, forms, page) = match email {
        None => (common::client(), common::client(), "/login".to_string()),
        Some(e) => (
            app.login(e).await,
            app.login(e).await,
            format!("/clients/{client}/transcripts"),
        ),
    };
    let csrf = common::csrf_of(&common::page(&forms, &app.url(&page)).await);
    Caller { http, forms, csrf }
}

/// Every page form, posted by `who` without the CSRF token: refused, each of them.
async fn forms_need_the_token(app: &TestApp, fx: &Fixture, c: &Caller, who: &str) {
    let mut taken = Vec::new();
    for path in page_forms() {
        let (status, location) = outcome(form_post(&c.forms, app.url(&fx.fill(&path)), None)).await;
        if !matches!(class(status, location.as_deref()), "no" | "login") {
            taken.push(format!("POST {path} → {status} {location:?}"));
        }
    }
    assert!(
        taken.is_empty(),
        "{who}: forms taken without the CSRF token:\n{}",
        taken.join("\n")
    );
}

/// What each role of the client gets from every API route, page and page form, one fresh server
/// per role (so one role's deletions never change another's answers); requests go reads first,
/// then API writes, then page forms, then deletions, the logouts last. Page forms are posted
/// with the CSRF token and no other field, after the same post without the token was refused.
async fn answers(backend: palera_store::Backend) -> Option<Vec<(String, Vec<&'static str>)>> {
    let mut rows: Vec<(String, Vec<&'static str>)> = Vec::new();
    for (column, who) in ROLES.iter().enumerate() {
        let app = common::spawn(backend).await?;
        let fx = fixture(&app).await;
        let c = caller(&app, email(who), fx.client).await;
        forms_need_the_token(&app, &fx, &c, who).await;
        let mut asks: Vec<(Method, String)> = routes(&app)
            .await
            .into_iter()
            .filter(|(_, p)| p.starts_with("/api/v1/"))
            .collect();
        asks.extend(page_routes());
        let order = |(m, p): &(Method, String)| match (m.as_str(), p.as_str()) {
            ("DELETE", "/api/v1/session") | ("POST", "/logout") => 4,
            ("GET", _) => 0,
            ("DELETE", _) => 3,
            ("POST", p) if !p.starts_with("/api/") => 2,
            _ => 1,
        };
        asks.sort_by_key(|a| (order(a), a.1.clone(), a.0.to_string()));
        for (m, path) in asks {
            let url = app.url(&fx.fill(&path));
            let req = if m == Method::POST && !path.starts_with("/api/") {
                form_post(&c.forms, url, Some(&c.csrf))
            } else {
                api_request(&c.http, &m, url)
            };
            let (status, location) = outcome(req).await;
            let key = format!("{m} {path}");
            assert!(status < 500, "{who}: {key} answered {status}");
            let got = class(status, location.as_deref());
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
        "# The authorization matrix: what each caller gets from every API route, page and page form\n\
         # of their own client. ok = served, bad = let in but the empty request refused (400/405/\n\
         # 409/415/422), no = refused (401/403/404), login = sent to the login page, desk = an agent\n\
         # sent to the desktop instead. API writes send {}; a page's POST row is its form posted with\n\
         # the session's CSRF token and no other field (the logout form's success is the login page\n\
         # too). Checked by auth_matrix::every_route_answers_each_role_as_the_table_says; regenerate\n\
         # with PALERA_BLESS_MATRIX=1 and read the diff.\n\
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
