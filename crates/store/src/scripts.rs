//! Call scripts (issue 14): a client's scripts and their versions, the script a campaign runs, and
//! each call's run. A published version is never changed: saving edits a draft (the latest
//! version while it is unpublished, else a new one), publishing freezes it, and a call's run
//! points at the exact version it ran, so editing a script never changes past calls' records.

use crate::{is_unique_violation, Result, Store, StoreError};
use palera_core::ids::{CallId, CampaignId, ClientId, ScriptId, ScriptVersionId, UserId};
use palera_core::script::{Run, ScriptBody};
use serde::Serialize;
use sqlx::Row;

/// One version of a script.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ScriptVersion {
    pub id: ScriptVersionId,
    pub script_id: ScriptId,
    pub version: i64,
    pub body: ScriptBody,
    /// Unset while this version is a draft.
    pub published_at: Option<i64>,
    pub created_at: i64,
}

/// A script with its latest version and the one calls run (the latest published).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Script {
    pub id: ScriptId,
    pub client_id: ClientId,
    pub name: String,
    pub updated_at: i64,
    pub latest: ScriptVersion,
    pub published: Option<ScriptVersion>,
}

/// A call's run with the version it ran.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StoredRun {
    pub call_id: CallId,
    pub version: ScriptVersion,
    pub script_name: String,
    pub run: Run,
    pub updated_at: i64,
}

fn decode(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(
        format!("bad stored {what}: {e}").into(),
    ))
}

fn version_from_row(r: &sqlx::any::AnyRow) -> Result<ScriptVersion> {
    let body: String = r.try_get("body")?;
    Ok(ScriptVersion {
        id: ScriptVersionId(r.try_get("id")?),
        script_id: ScriptId(r.try_get("script_id")?),
        version: r.try_get("version")?,
        body: serde_json::from_str(&body).map_err(|e| decode("script", e))?,
        published_at: r.try_get("published_at")?,
        created_at: r.try_get("created_at")?,
    })
}

const VERSION_COLUMNS: &str = "id, script_id, version, body, published_at, created_at";

fn name_taken(e: sqlx::Error) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::conflict("name", "another script of this client has this name")
    } else {
        e.into()
    }
}

impl Store {
    /// Creates a script with its first (draft) version.
    pub async fn create_script(
        &self,
        client: ClientId,
        name: &str,
        body: &ScriptBody,
        by: UserId,
        now_ms: i64,
    ) -> Result<Script> {
        let mut tx = self.write_tx().await?;
        let id: i64 = sqlx::query("INSERT INTO scripts (client_id, name, created_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING id")
            .bind(client.0)
            .bind(name.trim())
            .bind(now_ms)
            .fetch_one(&mut *tx)
            .await
            .map_err(name_taken)?
            .try_get("id")?;
        insert_version(&mut tx, ScriptId(id), 1, body, by, now_ms).await?;
        tx.commit().await?;
        self.script(client, ScriptId(id)).await
    }

    /// A script of the client (not found for another client's).
    pub async fn script(&self, client: ClientId, id: ScriptId) -> Result<Script> {
        let r = sqlx::query(
            "SELECT id, client_id, name, updated_at FROM scripts WHERE id = $1 AND client_id = $2",
        )
        .bind(id.0)
        .bind(client.0)
        .fetch_one(self.pool())
        .await?;
        let versions = self.script_versions(id).await?;
        let latest = versions.last().cloned().ok_or(StoreError::NotFound)?;
        let published = versions
            .iter()
            .rev()
            .find(|v| v.published_at.is_some())
            .cloned();
        Ok(Script {
            id,
            client_id: ClientId(r.try_get("client_id")?),
            name: r.try_get("name")?,
            updated_at: r.try_get("updated_at")?,
            latest,
            published,
        })
    }

    /// The client's scripts, by name.
    pub async fn scripts(&self, client: ClientId) -> Result<Vec<Script>> {
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM scripts WHERE client_id = $1 ORDER BY name, id")
                .bind(client.0)
                .fetch_all(self.pool())
                .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.script(client, ScriptId(id)).await?);
        }
        Ok(out)
    }

    /// Every version of a script, oldest first (for [`Store::script`], which checks the
    /// client first).
    async fn script_versions(&self, id: ScriptId) -> Result<Vec<ScriptVersion>> {
        let rows = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM script_versions WHERE script_id = $1 ORDER BY version"
        ))
        .bind(id.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(version_from_row).collect()
    }

    /// Saves an edit: into the latest version while it is a draft, else as a new draft version.
    /// Published versions are never changed. Renames the script too.
    pub async fn save_script_draft(
        &self,
        client: ClientId,
        id: ScriptId,
        name: &str,
        body: &ScriptBody,
        by: UserId,
        now_ms: i64,
    ) -> Result<Script> {
        let current = self.script(client, id).await?;
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE scripts SET name = $1, updated_at = $2 WHERE id = $3")
            .bind(name.trim())
            .bind(now_ms)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(name_taken)?;
        let latest = &current.latest;
        if latest.published_at.is_none() {
            sqlx::query(
                "UPDATE script_versions SET body = $1 WHERE id = $2 AND published_at IS NULL",
            )
            .bind(serde_json::to_string(body).map_err(|e| decode("script", e))?)
            .bind(latest.id.0)
            .execute(&mut *tx)
            .await?;
        } else {
            insert_version(&mut tx, id, latest.version + 1, body, by, now_ms).await?;
        }
        tx.commit().await?;
        self.script(client, id).await
    }

    /// Publishes the latest draft: from now on calls run it. Returns the script; publishing a
    /// script with no draft changes nothing.
    pub async fn publish_script(
        &self,
        client: ClientId,
        id: ScriptId,
        now_ms: i64,
    ) -> Result<Script> {
        let current = self.script(client, id).await?;
        sqlx::query(
            "UPDATE script_versions SET published_at = $1 WHERE id = $2 AND published_at IS NULL",
        )
        .bind(now_ms)
        .bind(current.latest.id.0)
        .execute(self.pool())
        .await?;
        self.script(client, id).await
    }

    /// Deletes a script of the client with its versions; refused while a call ran it (its
    /// record must stay) — campaigns that picked it fall back to no script.
    pub async fn delete_script(&self, client: ClientId, id: ScriptId) -> Result<()> {
        // Another client's script is `NotFound` before anything else is looked at, so the
        // answer never tells whether calls ran it.
        self.script(client, id).await?;
        let runs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM script_runs r JOIN script_versions v ON v.id = r.version_id WHERE v.script_id = $1")
            .bind(id.0)
            .fetch_one(self.pool())
            .await?;
        if runs > 0 {
            return Err(StoreError::conflict(
                "script",
                "calls ran this script: it is kept for their record",
            ));
        }
        let done = sqlx::query("DELETE FROM scripts WHERE id = $1 AND client_id = $2")
            .bind(id.0)
            .bind(client.0)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Picks the script a campaign's calls run (or none). The script must be the client's.
    pub async fn set_campaign_builder_script(
        &self,
        client: ClientId,
        campaign: CampaignId,
        script: Option<ScriptId>,
    ) -> Result<()> {
        if let Some(s) = script {
            self.script(client, s).await?;
        }
        let done =
            sqlx::query("UPDATE campaigns SET script_id = $1 WHERE id = $2 AND client_id = $3")
                .bind(script.map(|s| s.0))
                .bind(campaign.0)
                .bind(client.0)
                .execute(self.pool())
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The built script a campaign of `client` runs, if any (another client's campaign is
    /// `NotFound`, as an unknown one is).
    pub async fn campaign_builder_script(
        &self,
        client: ClientId,
        campaign: CampaignId,
    ) -> Result<Option<ScriptId>> {
        let id: Option<i64> =
            sqlx::query_scalar("SELECT script_id FROM campaigns WHERE id = $1 AND client_id = $2")
                .bind(campaign.0)
                .bind(client.0)
                .fetch_one(self.pool())
                .await?;
        Ok(id.map(ScriptId))
    }

    /// A contact of the client to preview merge fields with (the oldest), if there is one.
    pub async fn sample_contact(
        &self,
        client: ClientId,
    ) -> Result<Option<crate::contacts::Contact>> {
        let id: Option<i64> =
            sqlx::query_scalar("SELECT MIN(id) FROM contacts WHERE client_id = $1")
                .bind(client.0)
                .fetch_one(self.pool())
                .await?;
        match id {
            Some(id) => Ok(Some(
                self.contact(client, palera_core::ids::ContactId(id))
                    .await?,
            )),
            None => Ok(None),
        }
    }

    /// One version of a script of `client` by its id (another client's is `NotFound`).
    pub async fn script_version(
        &self,
        client: ClientId,
        id: ScriptVersionId,
    ) -> Result<ScriptVersion> {
        let columns = VERSION_COLUMNS
            .split(", ")
            .map(|c| format!("v.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let r = sqlx::query(&format!(
            "SELECT {columns} FROM script_versions v JOIN scripts s ON s.id = v.script_id \
             WHERE v.id = $1 AND s.client_id = $2"
        ))
        .bind(id.0)
        .bind(client.0)
        .fetch_one(self.pool())
        .await?;
        version_from_row(&r)
    }

    /// The run of a call of `client`, with the version it ran (`None` for another client's
    /// call, as for an unknown one).
    pub async fn script_run(&self, client: ClientId, call: CallId) -> Result<Option<StoredRun>> {
        let Some(r) = sqlx::query("SELECT r.version_id, r.run, r.updated_at, s.name FROM script_runs r JOIN calls c ON c.id = r.call_id JOIN script_versions v ON v.id = r.version_id JOIN scripts s ON s.id = v.script_id WHERE r.call_id = $1 AND c.client_id = $2")
            .bind(call.0)
            .bind(client.0)
            .fetch_optional(self.pool())
            .await?
        else {
            return Ok(None);
        };
        let run: String = r.try_get("run")?;
        Ok(Some(StoredRun {
            call_id: call,
            version: self
                .script_version(client, ScriptVersionId(r.try_get("version_id")?))
                .await?,
            script_name: r.try_get("name")?,
            run: serde_json::from_str(&run).map_err(|e| decode("script run", e))?,
            updated_at: r.try_get("updated_at")?,
        }))
    }

    /// Stores the run of a call of `client` (the first save fixes the version it runs). The
    /// call and the version's script must both be the client's: otherwise `NotFound`, and
    /// nothing is written.
    pub async fn save_script_run(
        &self,
        client: ClientId,
        call: CallId,
        version: ScriptVersionId,
        run: &Run,
        now_ms: i64,
    ) -> Result<()> {
        let text = serde_json::to_string(run).map_err(|e| decode("script run", e))?;
        // The WHERE clause also keeps SQLite from reading `ON CONFLICT` as part of the join.
        let done = sqlx::query("INSERT INTO script_runs (call_id, version_id, run, updated_at) \
             SELECT c.id, v.id, $3, $4 FROM calls c, script_versions v JOIN scripts s ON s.id = v.script_id \
             WHERE c.id = $1 AND v.id = $2 AND c.client_id = $5 AND s.client_id = $5 \
             ON CONFLICT (call_id) DO UPDATE SET run = excluded.run, updated_at = excluded.updated_at")
            .bind(call.0)
            .bind(version.0)
            .bind(text)
            .bind(now_ms)
            .bind(client.0)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

async fn insert_version(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    script: ScriptId,
    version: i64,
    body: &ScriptBody,
    by: UserId,
    now_ms: i64,
) -> Result<()> {
    sqlx::query("INSERT INTO script_versions (script_id, version, body, created_at, created_by) VALUES ($1, $2, $3, $4, $5)")
        .bind(script.0)
        .bind(version)
        .bind(serde_json::to_string(body).map_err(|e| decode("script", e))?)
        .bind(now_ms)
        .bind(by.0)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
