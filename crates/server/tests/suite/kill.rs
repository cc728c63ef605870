//! Crash safety (issue 19): the real `palera-voice serve` process, killed with SIGKILL at a
//! random moment while it imports a 10,000-row file and takes a burst of 60 Twilio voice
//! webhooks (new inbound callers), then started again over the same database; three runs on each
//! store. Afterwards nothing acknowledged is lost and nothing is applied twice: the import
//! resumes to exactly its rows (no contact missing or doubled), every caller is recorded once
//! (the webhooks Twilio retries are resent to the new process), and each webhook has one receipt.

use crate::common::{self, eventually};
use palera_carrier::twilio::signature::compute_signature;
use palera_core::phone::PhoneNumber;
use palera_core::tenant::ClientFields;
use palera_core::user::{Email, Role};
use palera_store::clients::SecretInput;
use palera_store::users::NewUser;
use palera_store::Backend;
use rand::Rng;
use serde_json::{json, Value};
use sqlx::Row;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const PUBLIC: &str = "https://voice.example.com";
const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "kill-test-auth-token";
const RUNS: usize = 3;
const ROWS: usize = 10_000;
const CALLERS: usize = 60;

/// A running server process; killed (SIGKILL) when dropped.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The product's binary, with none of this process's `PALERA_` settings.
pub(crate) fn binary() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_palera-voice"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PALERA_")) {
        c.env_remove(k);
    }
    c
}

/// Starts `palera-voice serve` over `db_url` and waits until it is ready.
async fn start(db_url: &str) -> Server {
    use base64::Engine as _;
    let port = free_port();
    let mut c = binary();
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let child = c
        .arg("serve")
        .env("PALERA_DATABASE_URL", db_url)
        .env("PALERA_SECRET_KEY", key)
        .env("PALERA_LISTEN", format!("127.0.0.1:{port}"))
        .env("PALERA_PUBLIC_URL", PUBLIC)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Server::ready(child, port).await
}

impl Server {
    /// The process `child` serving on loopback `port`, once its `/readyz` answers 200 (its
    /// engine has reconciled what the last process left).
    pub(crate) async fn ready(child: Child, port: u16) -> Server {
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let ready = format!("{}/readyz", server.base);
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        let mut last = String::new();
        while std::time::Instant::now() < deadline {
            if let Ok(r) = reqwest::get(&ready).await {
                if r.status() == 200 {
                    return server;
                }
                last = r.text().await.unwrap_or_default();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server was not ready within 90 s: {last}");
    }
}

/// Twilio's voice webhook for a new caller `sid`, signed with the client's token.
async fn ring(http: &reqwest::Client, base: &str, client: i64, sid: &str) -> Option<u16> {
    let path = format!("/twilio/{client}/voice");
    let params: Vec<(String, String)> = [
        ("AccountSid", ACCOUNT),
        ("CallSid", sid),
        ("From", "+14155550100"),
        ("To", "+14155550199"),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let signature = compute_signature(TOKEN, &format!("{PUBLIC}{path}"), &params);
    let r = http
        .post(format!("{base}{path}"))
        .header("x-twilio-signature", signature)
        .form(&params)
        .send()
        .await
        .ok()?;
    Some(r.status().as_u16())
}

/// The number `sql` (one `$1` for `pattern`) counts, as column `n`.
async fn count(store: &palera_store::Store, sql: &str, pattern: &str) -> i64 {
    sqlx::query(sql)
        .bind(pattern)
        .fetch_one(store.pool())
        .await
        .unwrap()
        .try_get("n")
        .unwrap()
}

fn csv(run: usize) -> String {
    let mut out = String::from("phone,first_name\n");
    for i in 0..ROWS {
        let n = run * ROWS + i;
        out.push_str(&format!(
            "+1212{}{:04},C{n}\n",
            200 + n / 10_000,
            n % 10_000
        ));
    }
    out
}

async fn a_killed_server_loses_and_doubles_nothing(backend: Backend) {
    let Some(db) = palera_store::testing::fresh(backend).await else {
        return;
    };
    let store = db.store.clone();
    let fields = ClientFields {
        name: "Acme".into(),
        account_sid: Some(ACCOUNT.into()),
        voice_enabled: Some(true),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let secrets = SecretInput {
        auth_token: Some(TOKEN.into()),
        api_key_secret: None,
    };
    let number = PhoneNumber::parse_e164("+14155550199").unwrap();
    let client = store
        .create_client(&fields, &secrets, &[number], 1)
        .await
        .unwrap()
        .id;
    store
        .create_user(
            &NewUser {
                email: Email::parse("email", "admin@x.io").unwrap(),
                name: "Admin".into(),
                role: Role::Admin,
                password_hash: palera_server::http::auth::hash_password(common::PASSWORD),
                voice_enabled: false,
                clients: vec![],
            },
            1,
        )
        .await
        .unwrap();
    let list = store.create_list(client, "Leads", 1).await.unwrap().id;
    let mut kills = Vec::new();
    for run in 0..RUNS {
        let server = start(&db.url).await;
        let admin = common::client();
        let r = admin
            .post(format!("{}/api/v1/session", server.base))
            .json(&json!({"email": "admin@x.io", "password": common::PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = admin
            .post(format!(
                "{}/api/v1/clients/{client}/imports?list_id={list}",
                server.base
            ))
            .header("content-type", "text/csv")
            .body(csv(run))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
        let job = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        // The burst, and the kill at a random moment of it and of the import.
        let sids: Vec<String> = (0..CALLERS).map(|i| format!("CAK{run}x{i:04}")).collect();
        let hooks = reqwest::Client::new();
        let mut burst = Vec::new();
        for sid in &sids {
            let (http, base, sid) = (hooks.clone(), server.base.clone(), sid.clone());
            burst.push(tokio::spawn(async move {
                ring(&http, &base, client.0, &sid).await
            }));
        }
        let after = rand::thread_rng().gen_range(50..1_500);
        tokio::time::sleep(Duration::from_millis(after)).await;
        drop(server); // SIGKILL
        kills.push(after);
        for b in burst {
            let _ = b.await;
        }

        // Started again: Twilio retries the webhooks (all of them here; a retry of one that
        // was answered is a no-op), the import resumes on its own.
        let server = start(&db.url).await;
        for sid in &sids {
            assert_eq!(
                ring(&hooks, &server.base, client.0, sid).await,
                Some(200),
                "{sid}"
            );
        }
        let status = eventually("the import finished", Duration::from_secs(180), || async {
            let j = store.import_job(client, job).await.unwrap();
            (j.status.as_str() != "pending" && j.status.as_str() != "running").then_some(j)
        })
        .await;
        assert_eq!(status.status.as_str(), "done", "{status:#?}");
        let pattern = format!("CAK{run}x%");
        let calls = eventually("every caller recorded", Duration::from_secs(60), || async {
            let n = count(
                &store,
                "SELECT COUNT(DISTINCT carrier_sid) AS n FROM calls WHERE carrier_sid LIKE $1",
                &pattern,
            )
            .await;
            (n as usize == CALLERS).then_some(n)
        })
        .await;
        assert_eq!(calls as usize, CALLERS);
        // Nothing doubled: one call per caller, one receipt per webhook, one contact per row.
        let doubled = count(
            &store,
            "SELECT COUNT(*) AS n FROM (SELECT carrier_sid FROM calls WHERE carrier_sid LIKE $1 \
             GROUP BY carrier_sid HAVING COUNT(*) > 1) d",
            &pattern,
        )
        .await;
        assert_eq!(doubled, 0, "run {run}: callers recorded twice");
        // The client's id is an integer from a newtype: inlined.
        let receipts = count(
            &store,
            &format!(
                "SELECT COUNT(*) AS n FROM webhook_receipts WHERE call_sid LIKE $1 AND client_id = {client}"
            ),
            &pattern,
        )
        .await;
        assert_eq!(
            receipts as usize, CALLERS,
            "run {run}: one receipt per webhook"
        );
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COUNT(DISTINCT phone) AS d FROM contacts WHERE client_id = $1 AND list_id = $2",
        )
        .bind(client.0)
        .bind(list.0)
        .fetch_one(store.pool())
        .await
        .unwrap();
        let (n, distinct): (i64, i64) = (row.try_get("n").unwrap(), row.try_get("d").unwrap());
        assert_eq!(
            (n as usize, distinct as usize),
            (ROWS * (run + 1), ROWS * (run + 1)),
            "run {run} (killed after {after} ms): every imported row once"
        );
        eventually("every webhook applied", Duration::from_secs(30), || async {
            store.unapplied_webhooks(10).await.unwrap().is_empty()
        })
        .await;
        drop(server);
    }
    println!("{backend:?}: killed after {kills:?} ms");
}

heavy_twins!(a_killed_server_loses_and_doubles_nothing);
