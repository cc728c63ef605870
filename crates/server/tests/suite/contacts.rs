//! Contacts over HTTP and the command line (issue 4), on SQLite and PostgreSQL: 422 naming the
//! field with nothing stored, 404 across clients, 403 for agents, imports as jobs with progress,
//! streamed exports, DNC by API, and `import-contacts` printing the DESIGN §4 summary.

use crate::common;

use common::{json, TestApp};
use palera_core::ids::ClientId;
use palera_core::user::Role;
use serde_json::{json, Value};

async fn setup(app: &TestApp) -> (reqwest::Client, ClientId, ClientId) {
    app.user("admin@x.io", Role::Admin, vec![]).await;
    let http = app.login("admin@x.io").await;
    let mut ids = Vec::new();
    for name in ["Acme", "Other"] {
        let (s, b) = json(
            http.post(app.url("/api/v1/clients"))
                .json(&json!({"name": name, "default_country": "US"})),
        )
        .await;
        assert_eq!(s, 201, "{b}");
        ids.push(ClientId(b["id"].as_i64().unwrap()));
    }
    (http, ids[0], ids[1])
}

fn path(c: ClientId, rest: &str) -> String {
    format!("/api/v1/clients/{c}/{rest}")
}

async fn contact_count(app: &TestApp, c: ClientId) -> i64 {
    app.db
        .store
        .count_contacts(c, &Default::default())
        .await
        .unwrap()
}

on_both!(
    bad_contact_fields_get_422_naming_the_field_and_nothing_is_stored,
    |app: TestApp| async move {
        let (http, c, _) = setup(&app).await;
        let (s, b) = json(
            http.put(app.url(&path(c, "properties")))
                .json(&json!({"name": "age", "kind": "number"})),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        let cases = [
            (json!({"phone": "12"}), "phone"),
            (json!({"phone": "+14155550100", "email": "nope"}), "email"),
            (
                json!({"phone": "+14155550100", "time_zone": "Mars/Base"}),
                "time_zone",
            ),
            (
                json!({"phone": "+14155550100", "properties": {"age": "old"}}),
                "properties.age",
            ),
            (
                json!({"phone": "+14155550100", "properties": {"color": "red"}}),
                "properties.color",
            ),
            (json!({"first_name": "x"}), "phone"),
        ];
        for (body, field) in cases {
            let (s, b) = json(http.post(app.url(&path(c, "contacts"))).json(&body)).await;
            assert_eq!(s, 422, "{body}: {b}");
            assert_eq!(b["error"]["field"], field, "{b}");
        }
        let (s, b) = json(
            http.put(app.url(&path(c, "properties")))
                .json(&json!({"name": "Bad Name", "kind": "text"})),
        )
        .await;
        assert_eq!((s, b["error"]["field"].clone()), (422, json!("name")));
        let (s, b) = json(
            http.post(app.url(&path(c, "dnc")))
                .json(&json!({"number": "abc"})),
        )
        .await;
        assert_eq!((s, b["error"]["field"].clone()), (422, json!("number")));
        assert_eq!(contact_count(&app, c).await, 0);
        // A national number reads with the client's default country; the zone comes from it.
        let (s, b) = json(
            http.post(app.url(&path(c, "contacts")))
                .json(&json!({"phone": "(212) 555-0100", "properties": {"age": 41}})),
        )
        .await;
        assert_eq!(s, 201, "{b}");
        assert_eq!(b["phone"], "+12125550100");
        assert_eq!(b["time_zone"], "America/New_York");
    }
);

on_both!(
    another_clients_lists_contacts_and_imports_are_404,
    |app: TestApp| async move {
        let (http, c, other) = setup(&app).await;
        app.user("sup@x.io", Role::Supervisor, vec![c]).await;
        let sup = app.login("sup@x.io").await;
        let (_, list) = json(
            http.post(app.url(&path(other, "lists")))
                .json(&json!({"name": "L"})),
        )
        .await;
        let (_, contact) = json(
            http.post(app.url(&path(other, "contacts")))
                .json(&json!({"phone": "+14155550100"})),
        )
        .await;
        for p in [
            path(other, "lists"),
            path(other, "contacts"),
            path(other, &format!("contacts/{}", contact["id"])),
            path(other, "dnc"),
            path(other, "imports/1"),
            path(other, "exports"),
        ] {
            let (s, _) = json(sup.get(app.url(&p))).await;
            assert_eq!(s, 404, "{p}");
        }
        // Own client, but naming the other client's contact or list: still 404 / 422, no leak.
        let (s, _) = json(sup.get(app.url(&path(c, &format!("contacts/{}", contact["id"]))))).await;
        assert_eq!(s, 404);
        let (s, b) = json(
            sup.post(app.url(&path(c, "contacts")))
                .json(&json!({"phone": "+14155550101", "list_id": list["id"]})),
        )
        .await;
        assert_eq!((s, b["error"]["field"].clone()), (422, json!("list_id")));
        let (s, _) =
            json(sup.get(app.url(&path(c, &format!("exports?list_id={}", list["id"]))))).await;
        assert_eq!(s, 404);
    }
);

on_both!(
    agents_get_403_on_lists_dnc_and_imports_but_may_read_contacts_of_their_clients,
    |app: TestApp| async move {
        let (http, c, _) = setup(&app).await;
        let (_, contact) = json(
            http.post(app.url(&path(c, "contacts")))
                .json(&json!({"phone": "+14155550100"})),
        )
        .await;
        app.user("agent@x.io", Role::Agent, vec![c]).await;
        let agent = app.login("agent@x.io").await;
        for p in ["lists", "dnc", "contacts", "exports"] {
            let (s, _) = json(agent.get(app.url(&path(c, p)))).await;
            assert_eq!(s, 403, "{p}");
        }
        let (s, _) = json(
            agent
                .post(app.url(&path(c, "imports?list=X")))
                .body("phone\n+14155550101\n"),
        )
        .await;
        assert_eq!(s, 403);
        let (s, b) =
            json(agent.get(app.url(&path(c, &format!("contacts/{}", contact["id"]))))).await;
        assert_eq!((s, b["phone"].clone()), (200, json!("+14155550100")));
    }
);

async fn wait_done(app: &TestApp, http: &reqwest::Client, c: ClientId, job: &Value) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (s, b) = json(http.get(app.url(&path(c, &format!("imports/{}", job["id"]))))).await;
        assert_eq!(s, 200, "{b}");
        if b["status"] == "done" || b["status"] == "failed" {
            return b;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "import did not finish: {b}"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

on_both!(
    an_import_keeps_a_contact_whose_optional_field_is_bad_and_reports_every_problem,
    |app: TestApp| async move {
        let (http, c, _) = setup(&app).await;
        let csv = "Phone,First Name,Email,Time zone\n+14155550100,Ann,ann@@example,Mars/Olympus\nbad,Bo,also bad,\n+14155550101,Cy,cy@example.com,\n";
        let (s, job) = json(
            http.post(app.url(&path(c, "imports?list=New%20leads")))
                .body(csv),
        )
        .await;
        assert_eq!(s, 202, "{job}");
        let done = wait_done(&app, &http, c, &job).await;
        assert_eq!(
            (
                done["counts"]["imported"].clone(),
                done["counts"]["rejected"].clone()
            ),
            (json!(2), json!(1)),
            "{done}"
        );
        let id = &job["id"];
        let (_, warnings) =
            json(http.get(app.url(&path(c, &format!("imports/{id}/warnings"))))).await;
        let fields: Vec<(i64, String)> = warnings
            .as_array()
            .unwrap()
            .iter()
            .map(|w| {
                (
                    w["line"].as_i64().unwrap(),
                    w["field"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            fields,
            [(2, "email".to_string()), (2, "time_zone".to_string())],
            "{warnings}"
        );
        // Ann is kept, her bad fields empty.
        let ann = app
            .db
            .store
            .contact_by_phone(
                c,
                &palera_core::phone::PhoneNumber::parse_e164("+14155550100").unwrap(),
            )
            .await
            .unwrap()
            .expect("kept");
        assert_eq!(
            (ann.first_name.as_str(), ann.email.as_deref()),
            ("Ann", None)
        );
        // The rejected row names its problem; its bad e-mail is not a reason to reject it.
        let (_, rej) = json(http.get(app.url(&path(c, &format!("imports/{id}/rejections"))))).await;
        assert_eq!(rej[0]["line"], 3);
        assert!(
            rej[0]["reason"].as_str().unwrap().starts_with("bad number"),
            "{rej}"
        );
        let r = http
            .get(app.url(&path(c, &format!("imports/{id}/problems.csv"))))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let text = r.text().await.unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "line,problem,field,reason");
        assert!(
            lines[1].starts_with("2,\"kept, field left empty\",email,"),
            "{text}"
        );
        assert!(
            lines[2].starts_with("2,\"kept, field left empty\",time_zone,"),
            "{text}"
        );
        assert!(lines[3].starts_with("3,rejected,,\"bad number"), "{text}");
        assert!(
            lines[3].contains("; email: "),
            "every problem of the row: {text}"
        );
        assert_eq!(lines.len(), 4, "{text}");
    }
);

on_both!(
    an_api_import_runs_as_a_job_with_counts_and_the_export_streams_it_back,
    |app: TestApp| async move {
        let (http, c, _) = setup(&app).await;
        let dnc = json!({"number": "+14155550102", "source": "complaint"});
        let (s, _) = json(http.post(app.url(&path(c, "dnc"))).json(&dnc)).await;
        assert_eq!(s, 201);
        let csv = "Phone,First Name,Email\n+14155550100,=cmd(),a@b.io\n415-555-0101,Bob,\n+14155550100,Dup,\nbad,X,\n+14155550102,Dnc,\n";
        let (s, job) = json(
            http.post(app.url(&path(c, "imports?list=New%20leads")))
                .body(csv),
        )
        .await;
        assert_eq!(s, 202, "{job}");
        let done = wait_done(&app, &http, c, &job).await;
        assert_eq!(done["status"], "done", "{done}");
        let counts = &done["counts"];
        assert_eq!(counts["rows"], 5);
        assert_eq!(
            (
                counts["imported"].clone(),
                counts["duplicates_in_file"].clone(),
                counts["on_dnc"].clone(),
                counts["rejected"].clone()
            ),
            (json!(2), json!(1), json!(1), json!(1))
        );
        assert_eq!(done["processed_bytes"], csv.len());
        let (_, rej) =
            json(http.get(app.url(&path(c, &format!("imports/{}/rejections", job["id"]))))).await;
        assert_eq!(rej[0]["line"], 5);
        let (_, lists) = json(http.get(app.url(&path(c, "lists")))).await;
        assert_eq!(lists[0]["name"], "New leads");
        assert_eq!(lists[0]["contacts"], 3);
        let r = http
            .get(app.url(&path(c, &format!("exports?list_id={}", lists[0]["id"]))))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        let text = r.text().await.unwrap();
        assert!(
            text.starts_with("phone,first_name,last_name,email,time_zone,list"),
            "{text}"
        );
        assert!(text.contains("'=cmd()"), "{text}");
        assert_eq!(text.lines().count(), 4, "{text}");
        // Moving by filter empties the list into another, and records it.
        let (_, follow) = json(
            http.post(app.url(&path(c, "lists")))
                .json(&json!({"name": "Follow-ups"})),
        )
        .await;
        let (s, moved) = json(http.post(app.url(&path(c, "contacts/move"))).json(&json!({
            "to_list_id": follow["id"], "filter": {"list_id": lists[0]["id"]}
        })))
        .await;
        assert_eq!((s, moved["moved"].clone()), (200, json!(3)));
        let (_, page) = json(http.get(app.url(&path(
            c,
            &format!("contacts?list_id={}&search=bob", follow["id"]),
        ))))
        .await;
        let bob = &page["contacts"][0];
        assert_eq!(bob["first_name"], "Bob");
        let (_, hist) =
            json(http.get(app.url(&path(c, &format!("contacts/{}/history", bob["id"]))))).await;
        // The import recorded the list Bob came into, then the move.
        assert_eq!(hist[0]["field"], "list");
        assert_eq!(hist[0]["old_value"], Value::Null);
        assert_eq!(hist[0]["new_value"], lists[0]["id"].to_string());
        assert_eq!(hist[0]["source"], format!("import:{}", job["id"]));
        assert_eq!(hist[1]["field"], "list");
        assert_eq!(hist[1]["old_value"], lists[0]["id"].to_string());
        assert_eq!(hist[1]["new_value"], follow["id"].to_string());
        let (s, _) = json(http.delete(app.url(&path(c, "dnc/+14155550102")))).await;
        assert_eq!(s, 204);
        let (s, _) = json(http.delete(app.url(&path(c, "dnc/+14155550102")))).await;
        assert_eq!(s, 404);
    }
);

/// A CSV of `rows` distinct US numbers.
fn numbered_csv(rows: usize) -> String {
    let mut csv = String::from("phone,first_name\n");
    for i in 0..rows {
        csv.push_str(&format!("+1415555{:04},P{i}\n", i));
    }
    csv
}

on_both!(
    an_api_import_left_unfinished_by_a_stopped_server_is_resumed_at_start,
    |mut app: TestApp| async move {
        let (http, c, _) = setup(&app).await;
        let store = app.db.store.clone();
        let list = store.create_list(c, "New leads", 1).await.unwrap();
        let full = numbered_csv(9000);
        // The state a killed server leaves: the batches of the first 4,000 rows committed, the
        // job still `running`, its upload saved.
        let upload = palera_server::contacts::api::upload_dir()
            .join(format!("resume-test-{}.csv", rand::random::<u64>()));
        std::fs::create_dir_all(upload.parent().unwrap()).unwrap();
        std::fs::write(&upload, &full).unwrap();
        let job = store
            .create_import_job(
                c,
                list.id,
                "upload.csv",
                full.len() as i64,
                Default::default(),
                &[],
                None,
                1,
            )
            .await
            .unwrap();
        store
            .set_import_upload(job.id, &upload.to_string_lossy())
            .await
            .unwrap();
        let first: String = full.lines().take(4001).map(|l| format!("{l}\n")).collect();
        palera_store::import::run_import(
            &store,
            &job,
            std::io::Cursor::new(first.into_bytes()),
            || 2,
        )
        .await
        .unwrap();
        store
            .set_import_status(job.id, palera_store::import::JobStatus::Running, None, 3)
            .await
            .unwrap();
        assert_eq!(store.import_job(c, job.id).await.unwrap().last_line, 4001);
        // A job whose upload vanished cannot resume: it fails, saying why.
        let lost = store
            .create_import_job(c, list.id, "lost.csv", 10, Default::default(), &[], None, 1)
            .await
            .unwrap();
        store
            .set_import_upload(lost.id, "/nonexistent/palera-upload.csv")
            .await
            .unwrap();

        app.restart().await;

        let done = wait_done(&app, &http, c, &json!({"id": job.id})).await;
        assert_eq!(done["status"], "done", "{done}");
        let counts = &done["counts"];
        assert_eq!(counts["rows"], 9000, "{done}");
        assert_eq!(counts["imported"], 9000, "{done}");
        assert_eq!(counts["duplicates_in_file"], 0, "{done}");
        assert_eq!(counts["rejected"], 0, "{done}");
        assert_eq!(contact_count(&app, c).await, 9000);
        let lists = store.list_counts(c).await.unwrap();
        assert_eq!(lists[0].contacts, 9000);
        // The upload is removed right after the job is marked done.
        crate::common::eventually(
            "the upload removed once the job is done",
            crate::common::WAIT,
            || async { !upload.exists() },
        )
        .await;
        let lost = store.import_job(c, lost.id).await.unwrap();
        assert_eq!(lost.status, palera_store::import::JobStatus::Failed);
        assert!(lost
            .error
            .unwrap_or_default()
            .contains("uploaded file is gone"));
    }
);

on_both!(
    an_import_another_server_is_running_is_neither_taken_over_nor_failed_until_it_goes_stale,
    |mut app: TestApp| async move {
        let (http, c, _) = setup(&app).await;
        let store = app.db.store.clone();
        let list = store.create_list(c, "New leads", 1).await.unwrap();
        let full = numbered_csv(3000);
        let upload = palera_server::contacts::api::upload_dir()
            .join(format!("busy-test-{}.csv", rand::random::<u64>()));
        std::fs::create_dir_all(upload.parent().unwrap()).unwrap();
        std::fs::write(&upload, &full).unwrap();
        let new_job = |name: &'static str| {
            let store = store.clone();
            async move {
                store
                    .create_import_job(c, list.id, name, 10, Default::default(), &[], None, 1)
                    .await
                    .unwrap()
            }
        };
        // Two jobs another server is running right now (their rows were touched a moment ago):
        // one whose upload this server can see (shared storage), one whose upload it cannot.
        let busy = new_job("busy.csv").await;
        let elsewhere = new_job("elsewhere.csv").await;
        store
            .set_import_upload(busy.id, &upload.to_string_lossy())
            .await
            .unwrap();
        store
            .set_import_upload(elsewhere.id, "/nonexistent/palera-elsewhere.csv")
            .await
            .unwrap();
        let now = app.app.now_ms();
        for j in [busy.id, elsewhere.id] {
            store
                .set_import_status(j, palera_store::import::JobStatus::Running, None, now)
                .await
                .unwrap();
        }

        app.restart().await;
        palera_server::contacts::api::resume_imports(&app.app).await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;

        for j in [busy.id, elsewhere.id] {
            let job = store.import_job(c, j).await.unwrap();
            assert_eq!(
                job.status,
                palera_store::import::JobStatus::Running,
                "{job:?}"
            );
            assert_eq!(
                job.counts.rows, 0,
                "another server's job was run here: {job:?}"
            );
        }
        assert_eq!(contact_count(&app, c).await, 0);
        assert!(upload.exists());

        // The other server stopped a minute ago: this one takes the job it can read, once.
        let stale = app.app.now_ms() - palera_server::contacts::api::IMPORT_STALE_MS - 1;
        store
            .set_import_status(
                busy.id,
                palera_store::import::JobStatus::Running,
                None,
                stale,
            )
            .await
            .unwrap();
        let seen = store.import_job(c, busy.id).await.unwrap().updated_at;
        assert!(store
            .claim_import_job(busy.id, seen, stale + 1)
            .await
            .unwrap());
        assert!(
            !store
                .claim_import_job(busy.id, seen, stale + 2)
                .await
                .unwrap(),
            "a second claim on the same sighting must lose"
        );
        store
            .set_import_status(
                busy.id,
                palera_store::import::JobStatus::Running,
                None,
                stale,
            )
            .await
            .unwrap();
        palera_server::contacts::api::resume_imports(&app.app).await;
        let done = wait_done(&app, &http, c, &json!({"id": busy.id})).await;
        assert_eq!(done["status"], "done", "{done}");
        assert_eq!(done["counts"]["imported"], 3000, "{done}");
        assert_eq!(contact_count(&app, c).await, 3000);
        // The job whose upload is on no disk here stays another server's until it is lost.
        let job = store.import_job(c, elsewhere.id).await.unwrap();
        assert_eq!(job.status, palera_store::import::JobStatus::Running);
        let lost = app.app.now_ms() - palera_server::contacts::api::IMPORT_LOST_MS - 1;
        store
            .set_import_status(
                elsewhere.id,
                palera_store::import::JobStatus::Running,
                None,
                lost,
            )
            .await
            .unwrap();
        palera_server::contacts::api::resume_imports(&app.app).await;
        let job = store.import_job(c, elsewhere.id).await.unwrap();
        assert_eq!(
            job.status,
            palera_store::import::JobStatus::Failed,
            "{job:?}"
        );
    }
);

on_both!(
    the_openapi_document_lists_the_contact_endpoints,
    |app: TestApp| async move {
        let (s, doc) = json(common::client().get(app.url("/api/openapi.json"))).await;
        assert_eq!(s, 200);
        for p in [
            "/api/v1/clients/{client_id}/lists",
            "/api/v1/clients/{client_id}/contacts/{contact_id}",
            "/api/v1/clients/{client_id}/imports",
            "/api/v1/clients/{client_id}/dnc",
            "/api/v1/clients/{client_id}/exports",
        ] {
            assert!(doc["paths"].get(p).is_some(), "{p} missing");
        }
    }
);

#[test]
fn import_contacts_prints_one_summary_whose_buckets_add_up_to_the_rows() {
    let dir = std::env::temp_dir().join(format!("palera-cli-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}", dir.join("p.sqlite").display());
    let key = palera_store::SecretBox::generate_base64();
    let run = |args: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_palera-voice"));
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PALERA_")) {
            c.env_remove(k);
        }
        c.args(args)
            .env("PALERA_DATABASE_URL", &db)
            .env("PALERA_SECRET_KEY", &key)
            .output()
            .unwrap()
    };
    let out = run(&["client", "add", "--name", "Acme", "--country", "US"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = id["id"].to_string();
    let file = dir.join("c.csv");
    std::fs::write(
        &file,
        "\u{feff}phone;first_name\r\n+14155550100;Ann\r\n(415) 555-0101;Bob\r\n+14155550100;Again\r\nxx;Bad\r\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let out = run(&["import-contacts", "--client", &id, "--list", "New leads", f]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = s.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    for k in [
        "rows",
        "imported",
        "updated",
        "moved_from_list",
        "duplicates_in_file",
        "on_dnc",
        "rejected",
    ] {
        assert!(keys.contains(&k), "{k} missing in {s}");
    }
    assert_eq!(s["rows"], 4);
    assert_eq!(
        (s["imported"].clone(), s["duplicates_in_file"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(s["rejected"][0]["line"], 5);
    assert!(s["rejected"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("bad number"));
    let again = run(&["import-contacts", "--client", &id, "--list", "New leads", f]);
    let s: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(
        (s["updated"].clone(), s["duplicates_in_file"].clone()),
        (json!(2), json!(1))
    );
    let out = run(&["import-contacts", "--client", "999", "--list", "X", f]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("client"));
    let out = run(&["export-contacts", "--client", &id, "--list", "New leads"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Logs in and returns the client with the session's CSRF token.
async fn login_csrf(app: &TestApp, email: &str) -> (reqwest::Client, String) {
    let http = common::client();
    let (s, b) = json(
        http.post(app.url("/api/v1/session"))
            .json(&json!({"email": email, "password": common::PASSWORD})),
    )
    .await;
    assert_eq!(s, 200);
    (http, b["csrf_token"].as_str().unwrap().to_string())
}

async fn page(http: &reqwest::Client, url: String) -> (u16, String) {
    let r = http.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

on_both!(
    the_pages_show_the_pipeline_a_list_page_by_page_and_save_a_contact_with_history,
    |app: TestApp| async move {
        let (_, c, other) = setup(&app).await;
        let (http, csrf) = login_csrf(&app, "admin@x.io").await;
        let base = format!("/admin/clients/{c}");
        let form = |pairs: &[(&str, &str)]| {
            let mut v: Vec<(String, String)> = vec![("csrf".into(), csrf.clone())];
            v.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            v
        };
        for name in ["New leads", "Follow-ups"] {
            let r = http
                .post(app.url(&format!("{base}/lists")))
                .form(&form(&[("name", name)]))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 303, "{name}");
        }
        // Without the CSRF token nothing is created.
        let r = http
            .post(app.url(&format!("{base}/lists")))
            .form(&[("name", "Evil")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let mut csv = String::from("phone,first_name\n");
        for i in 0..120 {
            csv.push_str(&format!("+1415555{i:04},P{i}\n"));
        }
        let new = app.db.store.list_by_name(c, "New leads").await.unwrap();
        let job = app
            .db
            .store
            .create_import_job(c, new.id, "p.csv", 0, Default::default(), &[], None, 1)
            .await
            .unwrap();
        palera_store::import::run_import(
            &app.db.store,
            &job,
            std::io::Cursor::new(csv.into_bytes()),
            || 1,
        )
        .await
        .unwrap();
        let (s, html) = page(&http, app.url(&format!("{base}/lists"))).await;
        assert_eq!(s, 200);
        assert!(html.find("New leads").unwrap() < html.find("Follow-ups").unwrap());
        assert!(html.contains(">120<"), "counts shown");
        let list_url = app.url(&format!("{base}/lists/{}", new.id));
        let (_, first) = page(&http, list_url.clone()).await;
        assert_eq!(first.matches("name=\"contact\"").count(), 50);
        let next = first.split("rel=\"next\"").next().unwrap();
        let after = next
            .rsplit("after=")
            .next()
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        let (_, third) = page(
            &http,
            format!("{list_url}?after={}", after.parse::<i64>().unwrap() + 50),
        )
        .await;
        assert_eq!(third.matches("name=\"contact\"").count(), 20);
        let (_, found) = page(&http, format!("{list_url}?search=P11")).await;
        assert_eq!(
            found.matches("name=\"contact\"").count(),
            11,
            "P11, P110-P119"
        );
        // Move the search result to Follow-ups.
        let follow = app.db.store.list_by_name(c, "Follow-ups").await.unwrap();
        let r = http
            .post(app.url(&format!("{base}/lists/{}/move", new.id)))
            .form(&form(&[
                ("search", "P11"),
                ("scope", "all"),
                ("to", &follow.id.to_string()),
            ]))
            .send()
            .await
            .unwrap();
        assert!(r.text().await.unwrap().contains("Moved 11 contacts"));
        // Edit a contact on its page: the change is saved and listed in its history.
        let contact = app
            .db
            .store
            .search_contacts(c, &Default::default(), None, 1)
            .await
            .unwrap()
            .remove(0);
        let curl = app.url(&format!("{base}/contacts/{}", contact.id));
        let r = http
            .post(curl.clone())
            .form(&form(&[("first_name", "Zed"), ("email", "bad")]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        let r = http
            .post(curl.clone())
            .form(&form(&[("first_name", "Zed"), ("email", "z@x.io")]))
            .send()
            .await
            .unwrap();
        // Saved: the form redirects to its own page (POST-redirect-GET, issue 20).
        assert_eq!(r.status(), 303);
        let to = r.headers()["location"].to_str().unwrap().to_string();
        assert!(to.contains(&format!("/contacts/{}", contact.id)), "{to}");
        let (_, html) = page(&http, curl).await;
        assert!(
            html.contains("first_name") && html.contains("Zed") && html.contains("P0"),
            "history row"
        );
        // Another client's contact page is a 404 for a supervisor of this client.
        app.user("sup@x.io", Role::Supervisor, vec![c]).await;
        let (sup, _) = login_csrf(&app, "sup@x.io").await;
        let (s, _) = page(&sup, app.url(&format!("/admin/clients/{other}/lists"))).await;
        assert_eq!(s, 404);
        let (s, _) = page(&sup, app.url(&format!("{base}/dnc"))).await;
        assert_eq!(s, 200);
    }
);

on_both!(
    properties_are_added_edited_and_removed_on_their_page_and_a_refused_form_names_the_field,
    |app: TestApp| async move {
        let (http, c, other) = setup(&app).await;
        let url = app.url(&format!("/admin/clients/{c}/properties"));
        let html = http.get(&url).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("No properties yet."), "{html}");
        let token = common::csrf_of(&html);
        let post = |fields: Vec<(&str, &str)>| http.post(&url).form(&fields).send();

        // A choice property without choices: refused, naming the field, the input kept.
        let r = post(vec![
            ("csrf", &token),
            ("name", "plan"),
            ("label", "Plan"),
            ("kind", "choice"),
            ("choices", ""),
        ])
        .await
        .unwrap();
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        assert!(
            html.contains("choices: a choice property needs at least one choice"),
            "{html}"
        );
        assert!(
            html.contains("value=\"plan\"") && html.contains("value=\"Plan\""),
            "the input is kept"
        );
        assert!(
            app.db
                .store
                .property_schema(c)
                .await
                .unwrap()
                .properties
                .is_empty(),
            "nothing stored"
        );

        // Saved, then the page again (POST-redirect-GET) with a notice.
        let r = post(vec![
            ("csrf", &token),
            ("name", "plan"),
            ("label", "Plan"),
            ("kind", "choice"),
            ("choices", "Basic, Pro"),
        ])
        .await
        .unwrap();
        assert_eq!(r.status(), 303);
        let to = r.headers()["location"].to_str().unwrap().to_string();
        assert!(to.ends_with("/properties?saved=property"), "{to}");
        let page = common::page(&http, &app.url(&to)).await;
        assert!(
            page.contains("Property saved.") && page.contains("data-property=\"plan\""),
            "{page}"
        );
        let schema = app.db.store.property_schema(c).await.unwrap().properties;
        assert_eq!(
            (schema[0].name.as_str(), schema[0].choices.clone()),
            ("plan", vec!["Basic".to_string(), "Pro".to_string()])
        );

        // Edited in its row: a new label and required.
        let r = post(vec![
            ("csrf", &token),
            ("name", "plan"),
            ("label", "Price plan"),
            ("kind", "choice"),
            ("choices", "Basic, Pro, Team"),
            ("required", "on"),
        ])
        .await
        .unwrap();
        assert_eq!(r.status(), 303);
        let p = app.db.store.property_schema(c).await.unwrap().properties[0].clone();
        assert_eq!(
            (p.label.as_str(), p.required, p.choices.len()),
            ("Price plan", true, 3)
        );
        assert!(
            app.db
                .store
                .property_schema(other)
                .await
                .unwrap()
                .properties
                .is_empty(),
            "the other client is untouched"
        );

        // Removed.
        let r = http
            .post(app.url(&format!("/admin/clients/{c}/properties/plan/delete")))
            .form(&[("csrf", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert!(app
            .db
            .store
            .property_schema(c)
            .await
            .unwrap()
            .properties
            .is_empty());
    }
);

on_both!(
    the_contact_history_is_in_peoples_words_with_labels_names_and_plain_values,
    |app: TestApp| async move {
        let (http, c, _) = setup(&app).await;
        let (s, _) = json(
            http.put(app.url(&path(c, "properties")))
                .json(&json!({"name": "seats", "label": "Seats", "kind": "number"})),
        )
        .await;
        assert_eq!(s, 200);
        let (s, x) = json(http.post(app.url(&path(c, "contacts"))).json(
            &json!({"phone": "+14155550100", "first_name": "Ann", "properties": {"seats": 25}}),
        ))
        .await;
        assert_eq!(s, 201, "{x}");
        let id = x["id"].as_i64().unwrap();
        let (s, b) = json(http.put(app.url(&path(c, &format!("contacts/{id}")))).json(
            &json!({"phone": "+14155550100", "first_name": "Ann", "properties": {"seats": 60}}),
        ))
        .await;
        assert_eq!(s, 200, "{b}");
        let html = common::page(
            &http,
            &app.url(&format!("/admin/clients/{c}/contacts/{id}")),
        )
        .await;
        let history = &html[html.find("<h2>History</h2>").expect("the history")..];
        assert!(
            history.contains("<td>Seats</td><td>25</td><td>60</td>"),
            "{history}"
        );
        assert!(
            !history.contains("25.0") && !history.contains("properties.seats"),
            "{history}"
        );
        assert!(
            history.contains("(API)") && !history.contains("· user"),
            "{history}"
        );
    }
);
