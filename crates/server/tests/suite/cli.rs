//! The command line as users and scripts run it: `serve` refuses to start without its settings,
//! `migrate`, `client add` and `user add` print one JSON object with the new id, `demo` prints its
//! URL and logins and those logins work, and no log line ever contains a stored auth token.

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_palera-voice"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PALERA_")) {
        c.env_remove(k);
    }
    c
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "palera-cli-{tag}-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        % 1_000_000_007
}

#[test]
fn serve_refuses_to_start_without_a_database_url_and_names_the_setting() {
    let out = bin().arg("serve").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PALERA_DATABASE_URL"), "{err}");
}

#[test]
fn serve_refuses_to_start_without_a_secret_key() {
    let out = bin()
        .arg("serve")
        .env("PALERA_DATABASE_URL", "sqlite://x.db")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PALERA_SECRET_KEY"));
}

#[test]
fn client_and_user_add_print_json_ids_and_logs_never_show_the_token() {
    let dir = temp_dir("add");
    let db = format!("sqlite://{}", dir.join("p.sqlite").display());
    let key = palera_store::SecretBox::generate_base64();
    let token = "tok-SUPERSECRET-0123456789";
    let run = |args: &[&str], stdin: &str| {
        let mut child = bin()
            .args(args)
            .env("PALERA_DATABASE_URL", &db)
            .env("PALERA_SECRET_KEY", &key)
            .env("RUST_LOG", "trace")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            !stderr.contains("SUPERSECRET"),
            "a log line shows the token: {stderr}"
        );
        assert!(out.status.success(), "{args:?}: {stderr}");
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    assert_eq!(run(&["migrate"], "")["migrated"], true);
    let client = run(
        &[
            "client",
            "add",
            "--name",
            "Acme",
            "--account-sid",
            "AC0123456789abcdef0123456789abcdef",
            "--auth-token",
            token,
            "--number",
            "+14155550100",
        ],
        "",
    );
    let id = client["id"].as_i64().unwrap();
    let user = run(
        &[
            "user",
            "add",
            "--email",
            "agent@acme.io",
            "--role",
            "agent",
            "--client",
            &id.to_string(),
        ],
        "a-good-password\n",
    );
    assert!(user["id"].as_i64().unwrap() > 0);
    // A bad field is named and nothing is stored.
    let out = bin()
        .args(["client", "add", "--name", "Bad", "--account-sid", "AC12"])
        .env("PALERA_DATABASE_URL", &db)
        .env("PALERA_SECRET_KEY", &key)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("account_sid"));
    let db_bytes = std::fs::read(dir.join("p.sqlite")).unwrap();
    assert!(
        !String::from_utf8_lossy(&db_bytes).contains("SUPERSECRET"),
        "the database file holds the token in clear"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn simulate_exits_2_and_names_the_field_of_an_invalid_scenario() {
    let dir = temp_dir("sim");
    let f = dir.join("bad.toml");
    std::fs::write(
        &f,
        "seed = 1\nstart = \"2026-03-02T13:00:00Z\"\ndays = 1\nfavourite = 3\n",
    )
    .unwrap();
    let out = bin()
        .args(["simulate", "--scenario"])
        .arg(&f)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("favourite"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn demo_prints_its_url_and_logins_and_the_logins_work() {
    let dir = temp_dir("demo");
    let mut child = bin()
        .args(["demo", "--port", "0", "--data"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut url = None;
    let mut logins = Vec::new();
    let mut password = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(u) = line.trim().strip_prefix("open:") {
            url = Some(u.trim().trim_end_matches("/login").to_string());
        }
        if let Some(p) = line.split("password for all: ").nth(1) {
            password = Some(p.trim_end_matches("):").to_string());
        }
        if line.contains("@demo.test") {
            logins.push(line.split_whitespace().last().unwrap().to_string());
        }
        if line.contains("Stop with Ctrl-C") {
            break;
        }
    }
    let url = url.expect("the demo prints its URL");
    let password = password.expect("the demo prints the password");
    assert!(logins.len() >= 4, "{logins:?}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        for email in &logins {
            let r = reqwest::Client::new()
                .post(format!("{url}/api/v1/session"))
                .json(&serde_json::json!({"email": email, "password": password}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "login {email}");
        }
    });
    child.kill().unwrap();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
