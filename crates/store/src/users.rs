//! Users, their client assignments and the agent voice state with its history. Passwords arrive
//! here already hashed; this module never sees a plaintext password.

use crate::{is_unique_violation, Result, Store, StoreError};
use palera_core::ids::{ClientId, UserId};
use palera_core::user::{Email, Role, VoiceState};
use serde::Serialize;
use sqlx::Row;

/// A user as shown to admins and to the user.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub voice_enabled: bool,
    pub voice_state: VoiceState,
    pub voice_state_since: i64,
    pub clients: Vec<ClientId>,
}

/// A new user, validated by the caller.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: Email,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub voice_enabled: bool,
    pub clients: Vec<ClientId>,
}

/// One stored change of voice state.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct VoiceStateChange {
    pub state: VoiceState,
    pub source: String,
    pub at: i64,
}

const USER_COLUMNS: &str = "id, email, name, role, voice_enabled, voice_state, voice_state_since";

fn parse_col<T: std::str::FromStr>(r: &sqlx::any::AnyRow, col: &str) -> Result<T> {
    let s: String = r.try_get(col)?;
    s.parse()
        .map_err(|_| StoreError::Database(sqlx::Error::Decode(format!("bad {col} {s:?}").into())))
}

fn user_from_row(r: &sqlx::any::AnyRow, clients: Vec<ClientId>) -> Result<User> {
    Ok(User {
        id: UserId(r.try_get("id")?),
        email: r.try_get("email")?,
        name: r.try_get("name")?,
        role: parse_col(r, "role")?,
        voice_enabled: crate::flag(r, "voice_enabled")?,
        voice_state: parse_col(r, "voice_state")?,
        voice_state_since: r.try_get("voice_state_since")?,
        clients,
    })
}

/// User rows joined with their `(user_id, client_id)` assignment rows.
fn users_with_clients(
    rows: &[sqlx::any::AnyRow],
    assignments: &[sqlx::any::AnyRow],
) -> Result<Vec<User>> {
    let mut by_user: std::collections::HashMap<i64, Vec<ClientId>> = Default::default();
    for a in assignments {
        by_user
            .entry(a.try_get("user_id")?)
            .or_default()
            .push(ClientId(a.try_get("client_id")?));
    }
    rows.iter()
        .map(|r| {
            let id: i64 = r.try_get("id")?;
            user_from_row(r, by_user.remove(&id).unwrap_or_default())
        })
        .collect()
}

impl Store {
    /// Creates a user and its client assignments atomically. A taken e-mail is a conflict on
    /// `email`; an unknown client is a conflict on `clients`.
    pub async fn create_user(&self, new: &NewUser, now_ms: i64) -> Result<User> {
        let mut tx = self.write_tx().await?;
        let r = sqlx::query(&format!("INSERT INTO users (email, name, role, password_hash, voice_enabled, voice_state, voice_state_since, created_at, changed_at) VALUES ($1,$2,$3,$4,$5,'offline',$6,$6,{}) RETURNING id", self.next_user_change("$6")))
            .bind(new.email.as_str())
            .bind(new.name.trim())
            .bind(new.role.as_str())
            .bind(&new.password_hash)
            .bind(new.voice_enabled)
            .bind(now_ms)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::conflict("email", "a user with this e-mail already exists")
                } else {
                    e.into()
                }
            })?;
        let id: i64 = r.try_get("id")?;
        for c in &new.clients {
            let exists = sqlx::query("SELECT id FROM clients WHERE id = $1")
                .bind(c.0)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(StoreError::conflict(
                    "clients",
                    &format!("client {c} does not exist"),
                ));
            }
            sqlx::query("INSERT INTO user_clients (user_id, client_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(id)
                .bind(c.0)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.users_touched();
        self.user(UserId(id)).await
    }

    pub async fn user(&self, id: UserId) -> Result<User> {
        let r = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id.0)
            .fetch_one(self.pool())
            .await?;
        let clients = self.user_clients(id).await?;
        user_from_row(&r, clients)
    }

    /// The user with this e-mail and its password hash, for login.
    pub async fn user_for_login(&self, email: &str) -> Result<(User, String)> {
        let r = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1"
        ))
        .bind(email.trim().to_lowercase())
        .fetch_one(self.pool())
        .await?;
        let id = UserId(r.try_get("id")?);
        let clients = self.user_clients(id).await?;
        Ok((user_from_row(&r, clients)?, r.try_get("password_hash")?))
    }

    async fn user_clients(&self, id: UserId) -> Result<Vec<ClientId>> {
        let rows =
            sqlx::query("SELECT client_id FROM user_clients WHERE user_id = $1 ORDER BY client_id")
                .bind(id.0)
                .fetch_all(self.pool())
                .await?;
        rows.iter()
            .map(|r| Ok(ClientId(r.try_get("client_id")?)))
            .collect()
    }

    /// All users; with `client` only those assigned to it.
    pub async fn users(&self, client: Option<ClientId>) -> Result<Vec<User>> {
        let rows = match client {
            None => sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name, id"))
                .fetch_all(self.pool())
                .await?,
            Some(c) => sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id IN (SELECT user_id FROM user_clients WHERE client_id = $1) ORDER BY name, id"))
                .bind(c.0)
                .fetch_all(self.pool())
                .await?,
        };
        let assignments =
            sqlx::query("SELECT user_id, client_id FROM user_clients ORDER BY client_id")
                .fetch_all(self.pool())
                .await?;
        users_with_clients(&rows, &assignments)
    }

    /// The value a user row's `changed_at` takes when it changes: the time `now` (a query
    /// parameter), or one past the latest change when that is later, so a change never sorts
    /// before one already stored, whatever the writer's clock.
    fn next_user_change(&self, now: &str) -> String {
        let greatest = match self.backend() {
            crate::Backend::Sqlite => "MAX",
            crate::Backend::Postgres => "GREATEST",
        };
        format!("{greatest}({now}, (SELECT COALESCE(MAX(changed_at), 0) + 1 FROM users))")
    }

    /// The users whose row changed at or after `since` (creation, access, voice state), with
    /// their clients, and the latest change among them (`since` when none): what a cache of
    /// [`Store::users`] needs to stay current. `i64::MIN` reads every user.
    pub async fn users_changed_since(&self, since: i64) -> Result<(Vec<User>, i64)> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, changed_at FROM users WHERE changed_at >= $1 ORDER BY id"
        ))
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        let mut latest = since;
        for r in &rows {
            latest = latest.max(r.try_get::<i64, _>("changed_at")?);
        }
        if rows.is_empty() {
            return Ok((Vec::new(), latest));
        }
        let assignments = sqlx::query(
            "SELECT user_id, client_id FROM user_clients WHERE user_id IN \
             (SELECT id FROM users WHERE changed_at >= $1) ORDER BY client_id",
        )
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        Ok((users_with_clients(&rows, &assignments)?, latest))
    }

    /// Replaces a user's client assignments and voice flag atomically.
    pub async fn update_user_access(
        &self,
        id: UserId,
        name: &str,
        role: Role,
        voice_enabled: bool,
        clients: &[ClientId],
    ) -> Result<User> {
        let mut tx = self.write_tx().await?;
        let done =
            sqlx::query(&format!("UPDATE users SET name = $1, role = $2, voice_enabled = $3, changed_at = {} WHERE id = $5", self.next_user_change("$4")))
                .bind(name.trim())
                .bind(role.as_str())
                .bind(voice_enabled)
                .bind(chrono::Utc::now().timestamp_millis())
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM user_clients WHERE user_id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        for c in clients {
            sqlx::query("INSERT INTO user_clients (user_id, client_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(id.0)
                .bind(c.0)
                .execute(&mut *tx)
                .await
                .map_err(|e| match e {
                    sqlx::Error::Database(ref db) if db.is_foreign_key_violation() => {
                        StoreError::conflict("clients", &format!("client {c} does not exist"))
                    }
                    other => other.into(),
                })?;
        }
        tx.commit().await?;
        self.users_touched();
        self.user(id).await
    }

    /// Sets a new password and ends every session of the user but `keep` (the token hash of
    /// the session that made the change, when the user changed their own password), in one
    /// transaction: a stolen session does not outlive a password change.
    pub async fn set_password_hash(
        &self,
        id: UserId,
        hash: &str,
        keep: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
            .bind(id.0)
            .bind(keep.unwrap_or(""))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a voice state change with its time and source (`desktop`, `api`, `heartbeat`).
    /// A change to the state the agent is already in stores nothing and returns `false`.
    pub async fn set_voice_state(
        &self,
        id: UserId,
        state: VoiceState,
        source: &str,
        now_ms: i64,
    ) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(&format!("UPDATE users SET voice_state = $1, voice_state_since = $2, changed_at = {} WHERE id = $3 AND voice_state <> $1", self.next_user_change("$2")))
            .bind(state.as_str())
            .bind(now_ms)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            // Either unknown user or no change: tell them apart.
            sqlx::query("SELECT id FROM users WHERE id = $1")
                .bind(id.0)
                .fetch_one(&mut *tx)
                .await?;
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO voice_state_changes (user_id, state, source, at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id.0)
        .bind(state.as_str())
        .bind(source)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.users_touched();
        Ok(true)
    }

    /// The stored voice state changes of a user, oldest first.
    pub async fn voice_state_history(&self, id: UserId) -> Result<Vec<VoiceStateChange>> {
        let rows = sqlx::query(
            "SELECT state, source, at FROM voice_state_changes WHERE user_id = $1 ORDER BY at, id",
        )
        .bind(id.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(VoiceStateChange {
                    state: parse_col(r, "state")?,
                    source: r.try_get("source")?,
                    at: r.try_get("at")?,
                })
            })
            .collect()
    }
}
