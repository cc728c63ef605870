//! Campaigns and their configuration: settings (validated by the core's `CampaignSettings` before
//! they get here, stored as JSON), status, caller ID, messages, the lists dialled, the agents
//! assigned, the disposition set with each disposition's effect, and uploaded audio. Every read
//! that a user can trigger is scoped by client; another client's campaign is `NotFound`.

use crate::{flag, Result, Store, StoreError};
use palera_core::campaign::CampaignSettings;
use palera_core::desk::Script;
use palera_core::ids::{CampaignId, ClientId, ListId, UserId};
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// Where a campaign stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    Draft,
    Running,
    Paused,
    Stopped,
}

impl CampaignStatus {
    /// The status an action (`start`, `pause`, `resume`, `stop`) leads to from this one, if the
    /// action applies here.
    pub fn after(self, action: &str) -> Option<CampaignStatus> {
        use CampaignStatus::*;
        match (action, self) {
            ("start", Draft | Stopped) => Some(Running),
            ("pause", Running) => Some(Paused),
            ("resume", Paused) => Some(Running),
            ("stop", Running | Paused) => Some(Stopped),
            _ => None,
        }
    }

    /// The actions that apply in this status, with the words a button shows.
    pub fn actions(self) -> Vec<(&'static str, &'static str)> {
        [
            ("start", "Start"),
            ("pause", "Pause"),
            ("resume", "Resume"),
            ("stop", "Stop"),
        ]
        .into_iter()
        .filter(|(a, _)| self.after(a).is_some())
        .collect()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Draft => "draft",
            CampaignStatus::Running => "running",
            CampaignStatus::Paused => "paused",
            CampaignStatus::Stopped => "stopped",
        }
    }
}

impl std::str::FromStr for CampaignStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "draft" => Ok(CampaignStatus::Draft),
            "running" => Ok(CampaignStatus::Running),
            "paused" => Ok(CampaignStatus::Paused),
            "stopped" => Ok(CampaignStatus::Stopped),
            _ => Err(format!("{s:?} is not a campaign status")),
        }
    }
}

/// What a disposition does, as stored (`callback` takes its time when the agent picks it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EffectKind {
    Final,
    Retry,
    Callback,
    Dnc,
    MoveToList,
}

impl EffectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EffectKind::Final => "final",
            EffectKind::Retry => "retry",
            EffectKind::Callback => "callback",
            EffectKind::Dnc => "dnc",
            EffectKind::MoveToList => "move_to_list",
        }
    }
}

impl std::str::FromStr for EffectKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "final" => Ok(EffectKind::Final),
            "retry" => Ok(EffectKind::Retry),
            "callback" => Ok(EffectKind::Callback),
            "dnc" => Ok(EffectKind::Dnc),
            "move_to_list" => Ok(EffectKind::MoveToList),
            _ => Err(format!(
                "{s:?} is not an effect (final, retry, callback, dnc, move_to_list)"
            )),
        }
    }
}

/// One disposition of a campaign's set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredDisposition {
    pub id: i64,
    pub label: String,
    pub effect: EffectKind,
    pub target_list: Option<ListId>,
}

/// A disposition as given by an admin (validated by the caller).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
pub struct NewDisposition {
    pub label: String,
    pub effect: EffectKind,
    #[serde(default)]
    pub target_list: Option<ListId>,
}

/// A stored campaign.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Campaign {
    pub id: CampaignId,
    pub client_id: ClientId,
    pub name: String,
    pub status: CampaignStatus,
    #[schema(value_type = Object)]
    pub settings: CampaignSettings,
    pub caller_id: String,
    /// Played to answering machines and on abandoned calls (identification message).
    pub voicemail_url: Option<String>,
    pub hold_music_url: Option<String>,
    pub recording: bool,
    pub transcription: bool,
    pub lists: Vec<ListId>,
    pub agents: Vec<UserId>,
    /// What the agent sees during a call (set with `Store::set_campaign_script`).
    pub script: Script,
    /// The built script its calls run (its published version), if any; an external script URL
    /// takes priority on the desktop.
    pub script_id: Option<palera_core::ids::ScriptId>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A campaign's editable fields, validated by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignInput {
    pub name: String,
    pub settings: CampaignSettings,
    pub caller_id: String,
    pub voicemail_url: Option<String>,
    pub hold_music_url: Option<String>,
    pub recording: bool,
    pub transcription: bool,
    pub lists: Vec<ListId>,
    pub agents: Vec<UserId>,
}

const COLUMNS: &str = "id, client_id, name, status, settings, caller_id, voicemail_url, hold_music_url, recording, transcription, script_text, script_url, script_id, created_at, updated_at";

fn bad(what: &str, v: &str) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(format!("bad {what} {v:?}").into()))
}

fn campaign_from_row(r: &sqlx::any::AnyRow) -> Result<Campaign> {
    let status: String = r.try_get("status")?;
    let settings: String = r.try_get("settings")?;
    Ok(Campaign {
        id: CampaignId(r.try_get("id")?),
        client_id: ClientId(r.try_get("client_id")?),
        name: r.try_get("name")?,
        status: status.parse().map_err(|_| bad("status", &status))?,
        settings: serde_json::from_str(&settings).map_err(|_| bad("settings", &settings))?,
        caller_id: r.try_get("caller_id")?,
        voicemail_url: r.try_get("voicemail_url")?,
        hold_music_url: r.try_get("hold_music_url")?,
        recording: flag(r, "recording")?,
        transcription: flag(r, "transcription")?,
        lists: Vec::new(),
        agents: Vec::new(),
        script: Script {
            text: r.try_get("script_text")?,
            url: r.try_get("script_url")?,
        },
        script_id: r
            .try_get::<Option<i64>, _>("script_id")?
            .map(palera_core::ids::ScriptId),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn settings_json(s: &CampaignSettings) -> String {
    serde_json::to_string(s).expect("settings serialize")
}

fn agent_conflict(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(ref db) if db.is_foreign_key_violation() => {
            StoreError::conflict("agents", "an agent does not exist")
        }
        other => other.into(),
    }
}

impl Store {
    /// Creates a draft campaign with its lists and agents in one transaction.
    pub async fn create_campaign(
        &self,
        client: ClientId,
        input: &CampaignInput,
        now_ms: i64,
    ) -> Result<Campaign> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query("INSERT INTO campaigns (client_id, name, status, settings, caller_id, voicemail_url, hold_music_url, recording, transcription, created_at, updated_at) VALUES ($1,$2,'draft',$3,$4,$5,$6,$7,$8,$9,$9) RETURNING id")
            .bind(client.0)
            .bind(input.name.trim())
            .bind(settings_json(&input.settings))
            .bind(&input.caller_id)
            .bind(&input.voicemail_url)
            .bind(&input.hold_music_url)
            .bind(input.recording)
            .bind(input.transcription)
            .bind(now_ms)
            .fetch_one(&mut *tx)
            .await?;
        let id = CampaignId(row.try_get("id")?);
        write_members(&mut tx, id, input).await?;
        tx.commit().await?;
        tracing::info!(campaign = %id, client = %client, "campaign created");
        self.campaign(client, id).await
    }

    /// Replaces a campaign's editable fields, lists and agents atomically.
    pub async fn update_campaign(
        &self,
        client: ClientId,
        id: CampaignId,
        input: &CampaignInput,
        now_ms: i64,
    ) -> Result<Campaign> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE campaigns SET name=$1, settings=$2, caller_id=$3, voicemail_url=$4, hold_music_url=$5, recording=$6, transcription=$7, updated_at=$8 WHERE id=$9 AND client_id=$10")
            .bind(input.name.trim())
            .bind(settings_json(&input.settings))
            .bind(&input.caller_id)
            .bind(&input.voicemail_url)
            .bind(&input.hold_music_url)
            .bind(input.recording)
            .bind(input.transcription)
            .bind(now_ms)
            .bind(id.0)
            .bind(client.0)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        for table in ["campaign_lists", "campaign_agents"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE campaign_id = $1"))
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
        }
        write_members(&mut tx, id, input).await?;
        tx.commit().await?;
        self.campaign(client, id).await
    }

    /// A campaign of `client` (another client's is `NotFound`, as an unknown id is).
    pub async fn campaign(&self, client: ClientId, id: CampaignId) -> Result<Campaign> {
        self.campaign_of(Some(client), id).await
    }

    /// A campaign by its id alone, whichever client's it is. Only for the call engine (it runs
    /// every client's campaigns); request handlers use [`Store::campaign`].
    pub async fn campaign_unscoped(&self, id: CampaignId) -> Result<Campaign> {
        self.campaign_of(None, id).await
    }

    /// The campaign `id`, of `client` when one is given.
    async fn campaign_of(&self, client: Option<ClientId>, id: CampaignId) -> Result<Campaign> {
        let sql = format!("SELECT {COLUMNS} FROM campaigns WHERE id = $1");
        let scoped = format!("{sql} AND client_id = $2");
        let r = match client {
            Some(c) => sqlx::query(&scoped).bind(id.0).bind(c.0),
            None => sqlx::query(&sql).bind(id.0),
        }
        .fetch_one(self.pool())
        .await?;
        let mut c = campaign_from_row(&r)?;
        self.load_members(&mut c).await?;
        Ok(c)
    }

    /// The campaigns of `client`, newest first.
    pub async fn campaigns(&self, client: ClientId) -> Result<Vec<Campaign>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM campaigns WHERE client_id = $1 ORDER BY id DESC"
        ))
        .bind(client.0)
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut c = campaign_from_row(r)?;
            self.load_members(&mut c).await?;
            out.push(c);
        }
        Ok(out)
    }

    /// Ids of the campaigns the engine should run.
    pub async fn running_campaigns(&self) -> Result<Vec<CampaignId>> {
        let rows = sqlx::query("SELECT id FROM campaigns WHERE status = 'running' ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok(CampaignId(r.try_get("id")?)))
            .collect()
    }

    /// Sets the status of a campaign of `client`.
    pub async fn set_campaign_status(
        &self,
        client: ClientId,
        id: CampaignId,
        status: CampaignStatus,
        now_ms: i64,
    ) -> Result<Campaign> {
        let done = sqlx::query(
            "UPDATE campaigns SET status = $1, updated_at = $2 WHERE id = $3 AND client_id = $4",
        )
        .bind(status.as_str())
        .bind(now_ms)
        .bind(id.0)
        .bind(client.0)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tracing::info!(campaign = %id, status = status.as_str(), "campaign status changed");
        self.campaign(client, id).await
    }

    async fn load_members(&self, c: &mut Campaign) -> Result<()> {
        let lists = sqlx::query(
            "SELECT list_id FROM campaign_lists WHERE campaign_id = $1 ORDER BY list_id",
        )
        .bind(c.id.0)
        .fetch_all(self.pool())
        .await?;
        c.lists = lists
            .iter()
            .map(|r| Ok(ListId(r.try_get("list_id")?)))
            .collect::<Result<_>>()?;
        let agents = sqlx::query(
            "SELECT user_id FROM campaign_agents WHERE campaign_id = $1 ORDER BY user_id",
        )
        .bind(c.id.0)
        .fetch_all(self.pool())
        .await?;
        c.agents = agents
            .iter()
            .map(|r| Ok(UserId(r.try_get("user_id")?)))
            .collect::<Result<_>>()?;
        Ok(())
    }

    /// The dispositions of a campaign of `client`, in the order agents see them (none for
    /// another client's campaign, as for an unknown one).
    pub async fn dispositions(
        &self,
        client: ClientId,
        campaign: CampaignId,
    ) -> Result<Vec<StoredDisposition>> {
        let rows = sqlx::query("SELECT d.id, d.label, d.effect, d.target_list_id FROM dispositions d JOIN campaigns c ON c.id = d.campaign_id WHERE d.campaign_id = $1 AND c.client_id = $2 ORDER BY d.position, d.id")
            .bind(campaign.0)
            .bind(client.0)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(disposition_from_row).collect()
    }

    /// A campaign's dispositions by the campaign's id alone. Only for the call engine, where it
    /// does not have the campaign's client at hand; request handlers use
    /// [`Store::dispositions`].
    pub async fn dispositions_unscoped(
        &self,
        campaign: CampaignId,
    ) -> Result<Vec<StoredDisposition>> {
        let rows = sqlx::query("SELECT id, label, effect, target_list_id FROM dispositions WHERE campaign_id = $1 ORDER BY position, id")
            .bind(campaign.0)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(disposition_from_row).collect()
    }

    /// Replaces the disposition set of a campaign of `client` atomically (another client's
    /// campaign is `NotFound` and keeps its set). Past calls keep their disposition label
    /// (stored on the call), so replacing never rewrites history.
    pub async fn replace_dispositions(
        &self,
        client: ClientId,
        campaign: CampaignId,
        set: &[NewDisposition],
    ) -> Result<Vec<StoredDisposition>> {
        let mut tx = self.write_tx().await?;
        check_campaign(&mut *tx, client, campaign).await?;
        sqlx::query("DELETE FROM dispositions WHERE campaign_id = $1")
            .bind(campaign.0)
            .execute(&mut *tx)
            .await?;
        for (i, d) in set.iter().enumerate() {
            sqlx::query("INSERT INTO dispositions (campaign_id, label, effect, target_list_id, position) VALUES ($1,$2,$3,$4,$5)")
                .bind(campaign.0)
                .bind(d.label.trim())
                .bind(d.effect.as_str())
                .bind(d.target_list.map(|l| l.0))
                .bind(i as i64)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.dispositions(client, campaign).await
    }

    /// The client's own disposition set (calls outside campaigns: manual, inbound), in the order
    /// agents see them.
    pub async fn client_dispositions(&self, client: ClientId) -> Result<Vec<StoredDisposition>> {
        let rows = sqlx::query("SELECT id, label, effect, target_list_id FROM client_dispositions WHERE client_id = $1 ORDER BY position, id")
            .bind(client.0)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(disposition_from_row).collect()
    }

    /// Replaces the client's own disposition set atomically (calls keep their chosen label).
    pub async fn replace_client_dispositions(
        &self,
        client: ClientId,
        set: &[NewDisposition],
    ) -> Result<Vec<StoredDisposition>> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM client_dispositions WHERE client_id = $1")
            .bind(client.0)
            .execute(&mut *tx)
            .await?;
        insert_client_dispositions(&mut tx, client, set).await?;
        tx.commit().await?;
        self.client_dispositions(client).await
    }

    /// Stores an uploaded audio file of a campaign of `client` (`kind`: `voicemail` or
    /// `hold_music`); another client's campaign is `NotFound` and gets nothing.
    pub async fn put_campaign_audio(
        &self,
        client: ClientId,
        campaign: CampaignId,
        kind: &str,
        content_type: &str,
        data: &[u8],
    ) -> Result<()> {
        check_campaign(self.pool(), client, campaign).await?;
        sqlx::query("INSERT INTO campaign_audio (campaign_id, kind, content_type, data) VALUES ($1,$2,$3,$4) ON CONFLICT (campaign_id, kind) DO UPDATE SET content_type = excluded.content_type, data = excluded.data")
            .bind(campaign.0)
            .bind(kind)
            .bind(content_type)
            .bind(data.to_vec())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// An uploaded audio file: (content type, bytes), by the campaign's id alone. Only for the
    /// public media route the carrier fetches (no login; its URL carries a MAC over the file,
    /// checked before anything is served).
    pub async fn campaign_audio_unscoped(
        &self,
        campaign: CampaignId,
        kind: &str,
    ) -> Result<(String, Vec<u8>)> {
        let r = sqlx::query(
            "SELECT content_type, data FROM campaign_audio WHERE campaign_id = $1 AND kind = $2",
        )
        .bind(campaign.0)
        .bind(kind)
        .fetch_one(self.pool())
        .await?;
        Ok((r.try_get("content_type")?, r.try_get("data")?))
    }
}

/// `NotFound` unless `campaign` is a campaign of `client`.
pub(crate) async fn check_campaign<'e>(
    ex: impl sqlx::Executor<'e, Database = sqlx::Any>,
    client: ClientId,
    campaign: CampaignId,
) -> Result<()> {
    sqlx::query_scalar::<_, i64>("SELECT id FROM campaigns WHERE id = $1 AND client_id = $2")
        .bind(campaign.0)
        .bind(client.0)
        .fetch_optional(ex)
        .await?
        .map(|_| ())
        .ok_or(StoreError::NotFound)
}

async fn write_members(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: CampaignId,
    input: &CampaignInput,
) -> Result<()> {
    for l in &input.lists {
        sqlx::query("INSERT INTO campaign_lists (campaign_id, list_id) VALUES ($1,$2) ON CONFLICT DO NOTHING")
            .bind(id.0)
            .bind(l.0)
            .execute(&mut **tx)
            .await?;
    }
    for a in &input.agents {
        sqlx::query("INSERT INTO campaign_agents (campaign_id, user_id) VALUES ($1,$2) ON CONFLICT DO NOTHING")
            .bind(id.0)
            .bind(a.0)
            .execute(&mut **tx)
            .await
            .map_err(agent_conflict)?;
    }
    Ok(())
}

/// Leadership of one campaign's dialing. On PostgreSQL it is a session advisory lock held on a
/// connection of its own, released when this value is dropped (the connection closes, the
/// server ends the session). SQLite is single-node: leadership is always granted.
pub struct Leadership {
    // A mutex only to make the holder `Sync`; the connection is never used again.
    _session: Option<std::sync::Mutex<sqlx::AnyConnection>>,
}

/// Namespace of the campaign advisory locks ("palera" in the high bytes).
const LEAD_LOCK_BASE: i64 = 0x7061_6C65_0000_0000;

impl Store {
    /// Takes the lead of `campaign` unless another node holds it (`None`).
    pub async fn try_lead_campaign(&self, campaign: CampaignId) -> Result<Option<Leadership>> {
        if self.backend() == crate::Backend::Sqlite {
            return Ok(Some(Leadership { _session: None }));
        }
        let mut conn = self.pool().acquire().await?.detach();
        let r = sqlx::query("SELECT pg_try_advisory_lock($1) AS ok")
            .bind(LEAD_LOCK_BASE | campaign.0)
            .fetch_one(&mut conn)
            .await?;
        if flag(&r, "ok")? {
            Ok(Some(Leadership {
                _session: Some(std::sync::Mutex::new(conn)),
            }))
        } else {
            Ok(None)
        }
    }
}

fn disposition_from_row(r: &sqlx::any::AnyRow) -> Result<StoredDisposition> {
    let effect: String = r.try_get("effect")?;
    let target: Option<i64> = r.try_get("target_list_id")?;
    Ok(StoredDisposition {
        id: r.try_get("id")?,
        label: r.try_get("label")?,
        effect: effect.parse().map_err(|_| bad("effect", &effect))?,
        target_list: target.map(ListId),
    })
}

/// The set every new client starts with (also given to existing clients by migration 8).
pub fn default_client_dispositions() -> Vec<NewDisposition> {
    [
        ("Completed", EffectKind::Final),
        ("Call back", EffectKind::Callback),
        ("No answer", EffectKind::Retry),
        ("Do not call", EffectKind::Dnc),
    ]
    .into_iter()
    .map(|(label, effect)| NewDisposition {
        label: label.into(),
        effect,
        target_list: None,
    })
    .collect()
}

pub(crate) async fn insert_client_dispositions(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    client: ClientId,
    set: &[NewDisposition],
) -> Result<()> {
    for (i, d) in set.iter().enumerate() {
        sqlx::query("INSERT INTO client_dispositions (client_id, label, effect, target_list_id, position) VALUES ($1,$2,$3,$4,$5)")
            .bind(client.0)
            .bind(d.label.trim())
            .bind(d.effect.as_str())
            .bind(d.target_list.map(|l| l.0))
            .bind(i as i64)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
