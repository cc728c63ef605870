//! Lists: the named stages of one client's contacts (New leads → Follow-ups → …). A list belongs
//! to one client, its name is unique in that client, and `position` orders the pipeline. A
//! contact's membership is the contact's own `list_id` (see `contacts.rs`), which is what makes
//! "in at most one list" a property of the schema rather than of the code.

use crate::{is_unique_violation, Result, Store, StoreError};
use palera_core::ids::{ClientId, ListId};
use palera_core::ValidationError;
use serde::Serialize;
use sqlx::Row;

/// A list (stage) of a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ContactList {
    pub id: ListId,
    pub client_id: ClientId,
    pub name: String,
    /// Place in the pipeline, smallest first.
    pub position: i64,
    pub created_at: i64,
}

/// A list with the number of contacts in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ListCount {
    #[serde(flatten)]
    pub list: ContactList,
    pub contacts: i64,
}

/// Checks a list name: trimmed, 1–100 characters.
pub fn list_name(field: &str, input: &str) -> Result<String, ValidationError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(ValidationError::new(field, "is required"));
    }
    if s.chars().count() > 100 {
        return Err(ValidationError::new(field, "is longer than 100 characters"));
    }
    Ok(s.to_string())
}

const LIST_COLUMNS: &str = "id, client_id, name, position, created_at";

fn list_from_row(r: &sqlx::any::AnyRow) -> Result<ContactList> {
    Ok(ContactList {
        id: ListId(r.try_get("id")?),
        client_id: ClientId(r.try_get("client_id")?),
        name: r.try_get("name")?,
        position: r.try_get("position")?,
        created_at: r.try_get("created_at")?,
    })
}

fn name_conflict(e: sqlx::Error) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::conflict("name", "this client already has a list with this name")
    } else {
        e.into()
    }
}

impl Store {
    /// Creates a list at the end of the client's pipeline. The name must be valid
    /// ([`list_name`]) and unused in the client (else `Conflict` on `name`).
    #[tracing::instrument(skip(self))]
    pub async fn create_list(
        &self,
        client: ClientId,
        name: &str,
        now_ms: i64,
    ) -> Result<ContactList> {
        let r = sqlx::query(&format!(
            "INSERT INTO lists (client_id, name, position, created_at) \
             VALUES ($1, $2, (SELECT COALESCE(MAX(position), 0) + 1 FROM lists WHERE client_id = $3), $4) \
             RETURNING {LIST_COLUMNS}"
        ))
        .bind(client.0)
        .bind(name.trim())
        .bind(client.0)
        .bind(now_ms)
        .fetch_one(self.pool())
        .await
        .map_err(name_conflict)?;
        list_from_row(&r)
    }

    /// The client's lists in pipeline order.
    pub async fn lists(&self, client: ClientId) -> Result<Vec<ContactList>> {
        let rows = sqlx::query(&format!(
            "SELECT {LIST_COLUMNS} FROM lists WHERE client_id = $1 ORDER BY position, id"
        ))
        .bind(client.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(list_from_row).collect()
    }

    /// One list of the client; a list of another client is `NotFound`.
    pub async fn list(&self, client: ClientId, id: ListId) -> Result<ContactList> {
        let r = sqlx::query(&format!(
            "SELECT {LIST_COLUMNS} FROM lists WHERE id = $1 AND client_id = $2"
        ))
        .bind(id.0)
        .bind(client.0)
        .fetch_one(self.pool())
        .await?;
        list_from_row(&r)
    }

    /// A list of the client by its name.
    pub async fn list_by_name(&self, client: ClientId, name: &str) -> Result<ContactList> {
        let r = sqlx::query(&format!(
            "SELECT {LIST_COLUMNS} FROM lists WHERE client_id = $1 AND name = $2"
        ))
        .bind(client.0)
        .bind(name.trim())
        .fetch_one(self.pool())
        .await?;
        list_from_row(&r)
    }

    /// The client's lists in pipeline order with their contact counts. The counts come from
    /// `list_counts`, which triggers keep in the transaction of every contact insert, move and
    /// delete, so this reads one row per list however many contacts there are.
    pub async fn list_counts(&self, client: ClientId) -> Result<Vec<ListCount>> {
        let rows = sqlx::query(
            "SELECT l.id, l.client_id, l.name, l.position, l.created_at, COALESCE(c.contacts, 0) AS contacts \
             FROM lists l LEFT JOIN list_counts c ON c.list_id = l.id \
             WHERE l.client_id = $1 ORDER BY l.position, l.id",
        )
        .bind(client.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ListCount {
                    list: list_from_row(r)?,
                    contacts: r.try_get("contacts")?,
                })
            })
            .collect()
    }

    /// Counts the client's contacts per list from the contacts themselves (what `list_counts`
    /// must always agree with; for checks, it scans the client's contacts).
    pub async fn list_counts_recounted(&self, client: ClientId) -> Result<Vec<(ListId, i64)>> {
        let rows = sqlx::query(
            "SELECT l.id, (SELECT COUNT(*) FROM contacts c WHERE c.client_id = l.client_id AND c.list_id = l.id) AS n \
             FROM lists l WHERE l.client_id = $1 ORDER BY l.position, l.id",
        )
        .bind(client.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((ListId(r.try_get("id")?), r.try_get("n")?)))
            .collect()
    }

    /// Renames a list (`Conflict` on `name` when taken, `NotFound` across clients).
    pub async fn rename_list(
        &self,
        client: ClientId,
        id: ListId,
        name: &str,
    ) -> Result<ContactList> {
        let done = sqlx::query("UPDATE lists SET name = $1 WHERE id = $2 AND client_id = $3")
            .bind(name.trim())
            .bind(id.0)
            .bind(client.0)
            .execute(self.pool())
            .await
            .map_err(name_conflict)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.list(client, id).await
    }

    /// Sets the pipeline order: `order` must name every list of the client exactly once.
    pub async fn reorder_lists(&self, client: ClientId, order: &[ListId]) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let existing: Vec<(i64,)> = sqlx::query_as("SELECT id FROM lists WHERE client_id = $1")
            .bind(client.0)
            .fetch_all(&mut *tx)
            .await?;
        let mut want: Vec<i64> = order.iter().map(|l| l.0).collect();
        let mut have: Vec<i64> = existing.into_iter().map(|(i,)| i).collect();
        want.sort_unstable();
        have.sort_unstable();
        if want != have {
            return Err(StoreError::conflict(
                "order",
                "must name every list of the client exactly once",
            ));
        }
        for (i, id) in order.iter().enumerate() {
            sqlx::query("UPDATE lists SET position = $1 WHERE id = $2 AND client_id = $3")
                .bind(i as i64 + 1)
                .bind(id.0)
                .bind(client.0)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a list; its contacts stay, in no list.
    pub async fn delete_list(&self, client: ClientId, id: ListId) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE contacts SET list_id = NULL WHERE client_id = $1 AND list_id = $2")
            .bind(client.0)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM lists WHERE id = $1 AND client_id = $2")
            .bind(id.0)
            .bind(client.0)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM list_counts WHERE list_id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
