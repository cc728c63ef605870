//! Persistence for palera-voice. One repository API over two backends chosen by the database URL:
//! SQLite (embedded, the default, WAL mode) and PostgreSQL (multi-node). Queries are written once,
//! at run time, with `$n` placeholders that both backends accept; the conformance suite in
//! `tests/` proves them on both. Storage errors are translated here into [`StoreError`] so nothing
//! above this crate ever matches on `sqlx::Error`.

pub mod actions;
pub mod bus;
pub mod callbacks;
pub mod calls;
pub mod campaigns;
pub mod clients;
pub mod contacts;
mod crypto;
pub mod desk;
pub mod dnc;
pub mod export;
pub mod import;
pub mod inbound;
pub mod lists;
mod migrate;
pub mod record;
pub mod recordings;
pub mod reports;
pub mod scripts;
pub mod sessions;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod transcripts;
pub mod twilio;
pub mod users;

pub use crypto::{SecretBox, SecretKeyError};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::AnyPool;
use std::str::FromStr;
use std::time::Duration;

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The errors of the store layer, in domain words.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken: `field` names what is already taken.
    #[error("{field}: {message}")]
    Conflict { field: String, message: String },
    #[error("the database URL is not usable: {0}")]
    BadUrl(String),
    #[error("stored data could not be decrypted: {0}")]
    Crypto(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl StoreError {
    pub(crate) fn conflict(field: &str, message: &str) -> Self {
        StoreError::Conflict {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            other => StoreError::Database(other),
        }
    }
}

/// True when the error is a unique-constraint violation (the caller turns it into a conflict).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The node name of a process that was not given one (a single-node installation).
pub const DEFAULT_NODE: &str = "main";

/// The repository: a connection pool plus the key that seals stored secrets.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// On PostgreSQL, a typed pool beside the `Any` one, for the statements that bind arrays
    /// (the import's batch writes), which the `Any` driver cannot.
    pg: Option<sqlx::PgPool>,
    /// On PostgreSQL, a small pool whose sessions commit without waiting for the write-ahead
    /// log's flush, for the live-call record ([`Store::relaxed`]).
    relaxed: Option<AnyPool>,
    backend: Backend,
    secrets: SecretBox,
    /// Bumped by every write to users or their client assignments through this store, so the
    /// engine reads users again only when they changed (and, for other nodes' writes, now and then).
    users_changed: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// This process's node name, stamped on the manual and inbound calls it runs.
    node: std::sync::Arc<str>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// The PostgreSQL pool behind [`Store::relaxed`]: four sessions opened on first use, each
/// set to commit without waiting for the write-ahead log's flush.
fn relaxed_pool(url: &str) -> Result<AnyPool> {
    let options =
        AnyConnectOptions::from_str(url).map_err(|e| StoreError::BadUrl(e.to_string()))?;
    Ok(AnyPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(|conn, _| {
            Box::pin(async move {
                use sqlx::Executor;
                conn.execute("SET synchronous_commit = off").await?;
                Ok(())
            })
        })
        .connect_lazy_with(options))
}

impl Store {
    /// Opens the database named by `url` (`sqlite://…` or `postgres://…`). SQLite files are created
    /// when missing and run in WAL mode with foreign keys on.
    pub async fn connect(url: &str, secrets: SecretBox) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::BadUrl(
                "must start with sqlite:// or postgres://".into(),
            ));
        };
        let url = match backend {
            Backend::Sqlite => sqlite_url_with_defaults(url),
            Backend::Postgres => url.to_string(),
        };
        let options =
            AnyConnectOptions::from_str(&url).map_err(|e| StoreError::BadUrl(e.to_string()))?;
        let max = match backend {
            Backend::Sqlite => 8,
            Backend::Postgres => 16,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        use sqlx::Executor;
                        conn.execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        if backend == Backend::Sqlite {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        let pg = match backend {
            Backend::Postgres => Some(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_lazy(&url)
                    .map_err(|e| StoreError::BadUrl(e.to_string()))?,
            ),
            Backend::Sqlite => None,
        };
        let relaxed = match backend {
            Backend::Postgres => Some(relaxed_pool(&url)?),
            Backend::Sqlite => None,
        };
        Ok(Self {
            pool,
            pg,
            relaxed,
            backend,
            secrets,
            users_changed: Default::default(),
            node: DEFAULT_NODE.into(),
        })
    }

    /// The same store for the node called `node` (manual and inbound calls it creates are its
    /// own to reconcile after a restart).
    pub fn with_node(mut self, node: &str) -> Self {
        self.node = node.into();
        self
    }

    /// This process's node name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Applies the migrations this binary knows and the database lacks. Returns how many ran.
    pub async fn migrate(&self) -> Result<usize> {
        migrate::run(&self.pool, self.backend).await
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A transaction that writes. On SQLite it takes the write lock at its start (`BEGIN
    /// IMMEDIATE`), so it waits its turn (the busy timeout) instead of failing with "database is
    /// locked" when it reads first and another connection writes before its own first write.
    pub async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Where the call engine writes its running record of live calls (state changes and
    /// events), several times a call, each one autocommitted statement. On PostgreSQL these
    /// sessions run with `synchronous_commit = off`: a commit costs one round trip and no disk
    /// flush, so the engine does not wait behind other writers of the disk; a crash of the
    /// *database server* may lose the last fraction of a second of these writes, never part of
    /// one, and never a claim, attempt or disposition (written through the synchronous pool). A
    /// crash of this process loses nothing committed. On SQLite, the one pool.
    pub fn relaxed(&self) -> &AnyPool {
        self.relaxed.as_ref().unwrap_or(&self.pool)
    }

    /// ` FOR UPDATE` on PostgreSQL, to lock the rows a write transaction reads before it writes
    /// what depends on them; nothing on SQLite, whose write transactions run one at a time.
    pub fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// How many writes to users this process made through the store (clones share it).
    pub fn users_generation(&self) -> u64 {
        self.users_changed
            .load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn users_touched(&self) {
        self.users_changed
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    pub(crate) fn secrets(&self) -> &SecretBox {
        &self.secrets
    }

    /// The typed PostgreSQL pool (`None` on SQLite).
    pub(crate) fn pg(&self) -> Option<&sqlx::PgPool> {
        self.pg.as_ref()
    }

    pub async fn close(&self) {
        if let Some(pg) = &self.pg {
            pg.close().await;
        }
        if let Some(relaxed) = &self.relaxed {
            relaxed.close().await;
        }
        self.pool.close().await;
    }
}

fn sqlite_url_with_defaults(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// Reads a boolean column: PostgreSQL `BOOLEAN`, or SQLite's `INTEGER` 0/1.
pub(crate) fn flag(r: &sqlx::any::AnyRow, col: &str) -> Result<bool> {
    use sqlx::Row;
    match r.try_get::<bool, _>(col) {
        Ok(b) => Ok(b),
        Err(_) => Ok(r.try_get::<i64, _>(col)? != 0),
    }
}

/// Milliseconds since the Unix epoch: the one timestamp format of every table.
pub fn millis(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

/// The inverse of [`millis`].
pub fn from_millis(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
