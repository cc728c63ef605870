//! The admin action log (issue 19): one row per successful change staff made (a client, user,
//! campaign, number, DNC entry or setting), with who made it, when, the route and its ids.
//! Written by the server's middleware after the change succeeded; read by admins, newest first.

use crate::{Result, Store};
use palera_core::ids::ClientId;
use serde::Serialize;
use sqlx::Row;

/// A change to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAction<'a> {
    pub at: i64,
    pub actor_id: Option<i64>,
    pub actor_email: &'a str,
    pub client: Option<ClientId>,
    /// What was changed: `client`, `user`, `campaign`, `dnc`, `numbers`, …
    pub object: &'a str,
    pub object_id: Option<&'a str>,
    pub method: &'a str,
    /// The request's path (ids filled in).
    pub route: &'a str,
    pub status: u16,
}

/// A recorded change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Action {
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<i64>,
    pub actor_email: String,
    pub client_id: Option<i64>,
    pub object: String,
    pub object_id: Option<String>,
    pub method: String,
    pub route: String,
    pub status: u16,
}

impl Store {
    pub async fn record_action(&self, a: &NewAction<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO admin_actions (at, actor_id, actor_email, client_id, object, object_id, method, route, status) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(a.at)
        .bind(a.actor_id)
        .bind(a.actor_email)
        .bind(a.client.map(|c| c.0))
        .bind(a.object)
        .bind(a.object_id)
        .bind(a.method)
        .bind(a.route)
        .bind(i64::from(a.status))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The latest `limit` actions (of one client, when given) before id `before`, newest first.
    pub async fn actions(
        &self,
        client: Option<ClientId>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Action>> {
        const COLUMNS: &str =
            "id, at, actor_id, actor_email, client_id, object, object_id, method, route, status";
        let before = before.unwrap_or(i64::MAX);
        let rows = match client {
            Some(c) => {
                sqlx::query(&format!("SELECT {COLUMNS} FROM admin_actions WHERE client_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"))
                    .bind(c.0)
                    .bind(before)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM admin_actions WHERE id < $1 ORDER BY id DESC LIMIT $2"
                ))
                .bind(before)
                .bind(limit)
                .fetch_all(self.pool())
                .await?
            }
        };
        rows.iter()
            .map(|r| {
                Ok(Action {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    actor_id: r.try_get("actor_id")?,
                    actor_email: r.try_get("actor_email")?,
                    client_id: r.try_get("client_id")?,
                    object: r.try_get("object")?,
                    object_id: r.try_get("object_id")?,
                    method: r.try_get("method")?,
                    route: r.try_get("route")?,
                    status: r.try_get::<i64, _>("status")?.clamp(0, 999) as u16,
                })
            })
            .collect()
    }
}
