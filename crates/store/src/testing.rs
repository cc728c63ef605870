//! Fresh databases for tests: a temporary SQLite file, or a new PostgreSQL database created on the
//! server named by `TEST_DATABASE_URL` (default: the local server at 127.0.0.1:5432).
//!
//! PostgreSQL is required by default: an unreachable server fails the test with a message naming
//! how to start it. `PALERA_SKIP_POSTGRES=1` skips the PostgreSQL half of each test instead, and
//! says so where a passing test's output is still seen (see [`TestService`], which the server's
//! tests can use for their other services too). `PALERA_REQUIRE_POSTGRES=1` (as in CI) overrides
//! the opt-out.

use crate::{Backend, SecretBox, Store};
use std::collections::BTreeSet;
use std::fmt::Display;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// A store on a throwaway database; the SQLite file is removed when this is dropped.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    file: Option<PathBuf>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(f) = &self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", f.display()));
            }
        }
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique_name() -> String {
    format!(
        "palera_t_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    )
}

/// The secret box every test store uses.
pub fn test_secrets() -> SecretBox {
    SecretBox::from_key([7u8; 32])
}

/// The PostgreSQL server tests use when `TEST_DATABASE_URL` is not set.
pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The PostgreSQL server URL for tests (a database on it, not one test's own).
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.into())
}

/// A service some tests need (PostgreSQL here; a browser or the Twilio mock in the server's
/// tests). Required by default: when it is missing, [`TestService::missing`] fails the test with
/// how to start it. Its opt-out variable set to `1` makes [`TestService::skipped`] true, and the
/// skip is announced past the test harness's capture, so a run that skipped work never reads as
/// a plain pass. Its require variable set to `1` (as in CI) overrides the opt-out.
#[derive(Debug, Clone)]
pub struct TestService {
    /// What it is, as a person names it ("PostgreSQL").
    pub name: &'static str,
    /// `1` skips the tests that need it.
    pub skip_var: &'static str,
    /// `1` requires it even when `skip_var` is set.
    pub require_var: &'static str,
    /// How to make it available: the command or variable to set.
    pub how_to_start: String,
}

/// Services whose skip was announced by this process.
static ANNOUNCED: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());

impl TestService {
    /// PostgreSQL at [`postgres_admin_url`], opted out of with `PALERA_SKIP_POSTGRES=1`.
    pub fn postgres() -> Self {
        Self {
            name: "PostgreSQL",
            skip_var: "PALERA_SKIP_POSTGRES",
            require_var: "PALERA_REQUIRE_POSTGRES",
            how_to_start: format!(
                "start a PostgreSQL server where tests may create databases and point \
                 TEST_DATABASE_URL at it (default {DEFAULT_TEST_DATABASE_URL}; scripts/test starts \
                 the local cluster)"
            ),
        }
    }

    fn var_is_one(name: &str) -> bool {
        std::env::var(name).as_deref() == Ok("1")
    }

    /// Whether the test named `test` skips its part that needs the service. A skip is written to
    /// the test's own (captured) output, and once per process to the process's standard error,
    /// which the harness does not capture: libtest captures only the `print!`/`eprint!` family,
    /// so a direct write to the stderr handle shows beside the results even of passing tests, on
    /// a terminal and in CI logs alike.
    pub fn skipped(&self, test: &str) -> bool {
        if !Self::var_is_one(self.skip_var) || Self::var_is_one(self.require_var) {
            return false;
        }
        eprintln!(
            "{test}: skipping its {} part ({}=1)",
            self.name, self.skip_var
        );
        let first = ANNOUNCED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(self.name);
        if first {
            let _ = writeln!(
                std::io::stderr().lock(),
                "NOTE: {}=1: tests needing {} are SKIPPED in this run, not passed",
                self.skip_var,
                self.name
            );
        }
        true
    }

    /// The service could not be reached (`error`): fails the test, naming the service, how to
    /// start it and how to opt out.
    pub fn missing(&self, error: &dyn Display) -> ! {
        panic!(
            "{} is required by this test but unreachable: {error}. To run it, {}. To skip the \
             tests that need it instead, set {}=1.",
            self.name, self.how_to_start, self.skip_var
        )
    }
}

/// `url` without its password, for messages.
fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

/// A migrated store on a new database of `backend`; `None` only when PostgreSQL is skipped by
/// `PALERA_SKIP_POSTGRES=1`. An unreachable PostgreSQL server fails the calling test.
pub async fn fresh(backend: Backend) -> Option<TestDb> {
    let db = match backend {
        Backend::Sqlite => fresh_sqlite().await,
        Backend::Postgres => {
            let service = TestService::postgres();
            let test = std::thread::current().name().unwrap_or("test").to_string();
            if service.skipped(&test) {
                return None;
            }
            fresh_postgres(&service).await
        }
    };
    db.store.migrate().await.expect("migrations apply");
    Some(db)
}

async fn fresh_sqlite() -> TestDb {
    let path = std::env::temp_dir().join(format!("{}.sqlite", unique_name()));
    let url = format!("sqlite://{}", path.display());
    let store = Store::connect(&url, test_secrets())
        .await
        .expect("open sqlite");
    TestDb {
        store,
        url,
        file: Some(path),
    }
}

/// A new database on the test server; `service` fails the test when the server is unreachable.
async fn fresh_postgres(service: &TestService) -> TestDb {
    let admin_url = postgres_admin_url();
    let admin = match Store::connect(&admin_url, test_secrets()).await {
        Ok(s) => s,
        Err(e) => service.missing(&format!("{} ({e})", redacted(&admin_url))),
    };
    let name = unique_name();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(admin.pool())
        .await
        .expect("create test database");
    admin.close().await;
    let mut parsed = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
    parsed.set_path(&format!("/{name}"));
    let url = parsed.to_string();
    let store = Store::connect(&url, test_secrets())
        .await
        .expect("open test database");
    TestDb {
        store,
        url,
        file: None,
    }
}

/// Declares one `#[tokio::test]` per backend for an async test body taking a `&Store`:
/// `conformance!(name, |store| async move { ... });`
#[macro_export]
macro_rules! conformance {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                let db = $crate::testing::fresh($crate::Backend::Sqlite)
                    .await
                    .unwrap();
                ($body)(db.store.clone()).await;
            }
            #[tokio::test]
            async fn postgres() {
                if let Some(db) = $crate::testing::fresh($crate::Backend::Postgres).await {
                    ($body)(db.store.clone()).await;
                }
            }
        }
    };
}
