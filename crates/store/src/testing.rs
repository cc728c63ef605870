//! Fresh databases for tests: a temporary SQLite file, or a new PostgreSQL database created on the
//! server named by `TEST_DATABASE_URL` (default: the local server at 127.0.0.1:5432). When
//! `PALERA_REQUIRE_POSTGRES=1` (as in CI) an unreachable server fails the test instead of skipping.

use crate::{Backend, SecretBox, Store};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// The PostgreSQL server URL for tests (a database on it, not one test's own).
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A migrated store on a new database of `backend`, or `None` when PostgreSQL is unreachable
/// and not required.
pub async fn fresh(backend: Backend) -> Option<TestDb> {
    let db = match backend {
        Backend::Sqlite => {
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
        Backend::Postgres => {
            let admin_url = postgres_admin_url();
            let admin = match Store::connect(&admin_url, test_secrets()).await {
                Ok(s) => s,
                Err(e) => {
                    if std::env::var("PALERA_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                        panic!("PostgreSQL is required but unreachable at {admin_url}: {e}");
                    }
                    eprintln!("skipping PostgreSQL: {e}");
                    return None;
                }
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
    };
    db.store.migrate().await.expect("migrations apply");
    Some(db)
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
