//! The migration runner: numbered SQL files per backend, embedded in the binary, each applied once
//! inside its own transaction and recorded in `schema_migrations`. Later features append to
//! [`MIGRATIONS`]; numbers only grow.

use crate::{Backend, Result};
use sqlx::AnyPool;

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

macro_rules! migration {
    ($version:expr, $file:literal) => {
        Migration {
            version: $version,
            name: $file,
            sqlite: include_str!(concat!("../migrations/sqlite/", $file, ".sql")),
            postgres: include_str!(concat!("../migrations/postgres/", $file, ".sql")),
        }
    };
}

const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_foundation"),
    migration!(2, "0002_contacts"),
    migration!(3, "0003_campaigns"),
    migration!(4, "0004_twilio"),
    migration!(5, "0005_contact_counts"),
    migration!(7, "0007_desk"),
    migration!(8, "0008_client_dispositions"),
    migration!(10, "0010_agent_callbacks"),
    migration!(11, "0011_scripts"),
    migration!(12, "0012_reports"),
    migration!(13, "0013_inbound"),
    migration!(14, "0014_recordings"),
    migration!(17, "0017_call_hours"),
    migration!(18, "0018_import_warnings"),
    migration!(19, "0019_manual_recording"),
    migration!(20, "0020_intelligence"),
    migration!(21, "0021_webhook_outbox"),
    migration!(22, "0022_admin_actions"),
    migration!(23, "0023_call_node"),
    migration!(24, "0024_campaign_contacts_by_contact"),
    migration!(25, "0025_users_changed_at"),
];

pub(crate) async fn run(pool: &AnyPool, backend: Backend) -> Result<usize> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(pool)
    .await?;
    let mut applied = 0;
    for m in MIGRATIONS {
        let mut tx = pool.begin().await?;
        let done: Option<(i64,)> =
            sqlx::query_as("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(m.version)
                .fetch_optional(&mut *tx)
                .await?;
        if done.is_some() {
            continue;
        }
        let sql = match backend {
            Backend::Sqlite => m.sqlite,
            Backend::Postgres => m.postgres,
        };
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(chrono::Utc::now().timestamp_millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(version = m.version, name = m.name, "migration applied");
        applied += 1;
    }
    Ok(applied)
}
