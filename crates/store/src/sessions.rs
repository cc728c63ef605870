//! Login sessions. The cookie holds a random token; the database holds only its SHA-256 hash, so a
//! leaked database cannot be replayed as logins.

use crate::{Result, Store};
use palera_core::ids::UserId;
use sqlx::Row;

/// A live session: who, and the CSRF token bound to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: UserId,
    pub csrf_token: String,
    pub expires_at: i64,
}

impl Store {
    pub async fn create_session(
        &self,
        token_hash: &str,
        user: UserId,
        csrf_token: &str,
        now_ms: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1,$2,$3,$4,$5)")
            .bind(token_hash)
            .bind(user.0)
            .bind(csrf_token)
            .bind(now_ms)
            .bind(expires_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The session for a token hash, if it exists and has not expired.
    pub async fn session(&self, token_hash: &str, now_ms: i64) -> Result<Option<Session>> {
        let r = sqlx::query("SELECT user_id, csrf_token, expires_at FROM sessions WHERE token_hash = $1 AND expires_at > $2")
            .bind(token_hash)
            .bind(now_ms)
            .fetch_optional(self.pool())
            .await?;
        r.map(|r| {
            Ok(Session {
                user_id: UserId(r.try_get("user_id")?),
                csrf_token: r.try_get("csrf_token")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Drops expired sessions; returns how many.
    pub async fn purge_sessions(&self, now_ms: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now_ms)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
