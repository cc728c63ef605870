//! The per-client do-not-call list (DESIGN §2.1): E.164 numbers with where each came from and
//! when. Imports consult it in bulk, and the dialer asks [`Store::is_on_dnc`] right before each
//! dial. A number is on a client's list at most once (`UNIQUE(client_id, number)`).

use crate::{Result, Store, StoreError};
use palera_core::ids::ClientId;
use palera_core::phone::PhoneNumber;
use serde::Serialize;
use sqlx::Row;

/// One number on a client's do-not-call list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DncEntry {
    pub id: i64,
    pub client_id: ClientId,
    pub number: String,
    /// Where it came from: `api`, `page`, `csv`, `disposition`, … (free text).
    pub source: String,
    pub created_at: i64,
}

fn entry_from_row(r: &sqlx::any::AnyRow) -> Result<DncEntry> {
    Ok(DncEntry {
        id: r.try_get("id")?,
        client_id: ClientId(r.try_get("client_id")?),
        number: r.try_get("number")?,
        source: r.try_get("source")?,
        created_at: r.try_get("created_at")?,
    })
}

impl Store {
    /// Puts a number on the client's DNC list. Adding a number already there keeps the first
    /// entry (its source and date) and returns it.
    pub async fn add_dnc(
        &self,
        client: ClientId,
        number: &PhoneNumber,
        source: &str,
        now_ms: i64,
    ) -> Result<DncEntry> {
        sqlx::query("INSERT INTO dnc_numbers (client_id, number, source, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (client_id, number) DO NOTHING")
            .bind(client.0)
            .bind(number.as_str())
            .bind(source.trim())
            .bind(now_ms)
            .execute(self.pool())
            .await?;
        let r = sqlx::query("SELECT id, client_id, number, source, created_at FROM dnc_numbers WHERE client_id = $1 AND number = $2")
            .bind(client.0)
            .bind(number.as_str())
            .fetch_one(self.pool())
            .await?;
        entry_from_row(&r)
    }

    /// Takes a number off the client's DNC list; `NotFound` when it is not there.
    pub async fn remove_dnc(&self, client: ClientId, number: &PhoneNumber) -> Result<()> {
        let done = sqlx::query("DELETE FROM dnc_numbers WHERE client_id = $1 AND number = $2")
            .bind(client.0)
            .bind(number.as_str())
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Whether the number is on the client's DNC list (the check right before a dial).
    pub async fn is_on_dnc(&self, client: ClientId, number: &PhoneNumber) -> Result<bool> {
        let r =
            sqlx::query("SELECT 1 AS one FROM dnc_numbers WHERE client_id = $1 AND number = $2")
                .bind(client.0)
                .bind(number.as_str())
                .fetch_optional(self.pool())
                .await?;
        Ok(r.is_some())
    }

    /// A page of the client's DNC list ordered by number, after `after`, optionally only
    /// numbers starting with `prefix`.
    pub async fn dnc_entries(
        &self,
        client: ClientId,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DncEntry>> {
        let pattern = format!(
            "{}%",
            prefix
                .unwrap_or("")
                .trim()
                .replace(|c: char| !(c.is_ascii_digit() || c == '+'), "")
        );
        let rows = sqlx::query("SELECT id, client_id, number, source, created_at FROM dnc_numbers WHERE client_id = $1 AND number LIKE $2 AND number > $3 ORDER BY number LIMIT $4")
            .bind(client.0)
            .bind(pattern)
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// How many numbers are on the client's DNC list.
    pub async fn dnc_count(&self, client: ClientId) -> Result<i64> {
        let r = sqlx::query("SELECT COUNT(*) AS n FROM dnc_numbers WHERE client_id = $1")
            .bind(client.0)
            .fetch_one(self.pool())
            .await?;
        Ok(r.try_get("n")?)
    }
}
