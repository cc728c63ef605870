//! What the agent desktop reads and writes besides dialing: a call's notes with their version
//! (optimistic concurrency: one conditional update, so of two saves written on the same version
//! only the first lands and the second is told), a contact's calls with their campaign and agent
//! names (the contact card and the conversation view), manual calls placed outside campaigns,
//! and the campaign's script.

use crate::calls::Call;
use crate::{Result, Store};
use palera_core::desk::{judge_notes_save, NotesVerdict, Script};
use palera_core::ids::{CallId, CampaignId, ClientId, ContactId, UserId};
use serde::Serialize;
use sqlx::Row;

/// A call's notes as last saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CallNotes {
    pub call_id: CallId,
    pub text: String,
    /// Grows by one with every save that changed the text; 0 before the first.
    pub version: i64,
    pub updated_at: Option<i64>,
    pub updated_by: Option<UserId>,
}

/// The outcome of a notes save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotesSave {
    /// Stored (or already stored: the same text again): the notes as they are now.
    Saved(CallNotes),
    /// Someone saved a newer version first: nothing was written; the latest notes.
    Conflict(CallNotes),
}

/// One call of a contact, with the names a person reads.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ContactCall {
    pub id: CallId,
    pub campaign_id: Option<CampaignId>,
    /// The campaign's name; `None` for manual and inbound calls.
    pub campaign: Option<String>,
    pub agent_id: Option<UserId>,
    pub agent: Option<String>,
    /// `outbound` or `inbound`.
    pub direction: String,
    /// True for a call an agent dialled by hand outside campaigns.
    pub manual: bool,
    /// The seed status (outbound, answered, abandoned).
    pub status: String,
    pub outcome: String,
    pub placed_at: i64,
    pub connected_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// Talk time: from the agent's connection to the end.
    pub duration_seconds: Option<i64>,
    pub disposition: Option<String>,
    pub notes: String,
}

fn notes_from_row(r: &sqlx::any::AnyRow) -> Result<CallNotes> {
    Ok(CallNotes {
        call_id: CallId(r.try_get("id")?),
        text: r.try_get("notes")?,
        version: r.try_get("notes_version")?,
        updated_at: r.try_get("notes_updated_at")?,
        updated_by: r.try_get::<Option<i64>, _>("notes_user_id")?.map(UserId),
    })
}

impl Store {
    /// The notes of a call of `client` (another client's call is `NotFound`).
    pub async fn call_notes(&self, client: ClientId, call: CallId) -> Result<CallNotes> {
        let r = sqlx::query(
            "SELECT id, notes, notes_version, notes_updated_at, notes_user_id FROM calls WHERE id = $1 AND client_id = $2",
        )
        .bind(call.0)
        .bind(client.0)
        .fetch_one(self.pool())
        .await?;
        notes_from_row(&r)
    }

    /// Saves `text` as the notes of a call of `client`, written by `user` on top of
    /// `base_version`. It lands only when `base_version` is still the latest (one conditional
    /// update, atomic on both backends); otherwise nothing is written and the latest notes come
    /// back as a conflict. Another client's call is `NotFound` and is left as it is.
    #[tracing::instrument(skip(self, text))]
    pub async fn save_call_notes(
        &self,
        client: ClientId,
        call: CallId,
        text: &str,
        base_version: i64,
        user: UserId,
        now_ms: i64,
    ) -> Result<NotesSave> {
        let done = sqlx::query("UPDATE calls SET notes = $1, notes_version = notes_version + 1, notes_updated_at = $2, notes_user_id = $3 WHERE id = $4 AND notes_version = $5 AND notes <> $1 AND client_id = $6")
            .bind(text)
            .bind(now_ms)
            .bind(user.0)
            .bind(call.0)
            .bind(base_version)
            .bind(client.0)
            .execute(self.pool())
            .await?;
        let now = self.call_notes(client, call).await?;
        if done.rows_affected() == 1 {
            return Ok(NotesSave::Saved(now));
        }
        // Not written: the same text is already there (a retry), or a newer version exists.
        Ok(
            match judge_notes_save(now.version, &now.text, base_version, text) {
                NotesVerdict::Saved { new_version } if new_version == now.version => {
                    NotesSave::Saved(now)
                }
                _ => NotesSave::Conflict(now),
            },
        )
    }

    /// The contact's calls on the client, newest first, at most `limit`.
    pub async fn contact_calls(
        &self,
        client: ClientId,
        contact: ContactId,
        limit: i64,
    ) -> Result<Vec<ContactCall>> {
        let rows = sqlx::query(
            "SELECT c.id, c.campaign_id, p.name AS campaign, c.agent_id, u.name AS agent, c.direction, \
             c.status, c.outcome, c.placed_at, c.connected_at, c.ended_at, c.disposition, c.notes \
             FROM calls c LEFT JOIN campaigns p ON p.id = c.campaign_id LEFT JOIN users u ON u.id = c.agent_id \
             WHERE c.client_id = $1 AND c.contact_id = $2 ORDER BY c.id DESC LIMIT $3",
        )
        .bind(client.0)
        .bind(contact.0)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let campaign_id = r.try_get::<Option<i64>, _>("campaign_id")?.map(CampaignId);
                let direction: String = r.try_get("direction")?;
                let connected_at: Option<i64> = r.try_get("connected_at")?;
                let ended_at: Option<i64> = r.try_get("ended_at")?;
                Ok(ContactCall {
                    id: CallId(r.try_get("id")?),
                    campaign_id,
                    campaign: r.try_get("campaign")?,
                    agent_id: r.try_get::<Option<i64>, _>("agent_id")?.map(UserId),
                    agent: r.try_get("agent")?,
                    manual: campaign_id.is_none() && direction == "outbound",
                    direction,
                    status: r.try_get("status")?,
                    outcome: r.try_get("outcome")?,
                    placed_at: r.try_get("placed_at")?,
                    connected_at,
                    ended_at,
                    duration_seconds: match (connected_at, ended_at) {
                        (Some(a), Some(b)) if b >= a => Some((b - a) / 1000),
                        _ => None,
                    },
                    disposition: r.try_get("disposition")?,
                    notes: r.try_get("notes")?,
                })
            })
            .collect()
    }

    /// Creates a manual call: an agent dials `phone` of `contact` outside any campaign.
    pub async fn create_manual_call(
        &self,
        client: ClientId,
        contact: ContactId,
        agent: UserId,
        phone: &str,
        now_ms: i64,
    ) -> Result<Call> {
        let r = sqlx::query("INSERT INTO calls (client_id, campaign_id, contact_id, agent_id, direction, phone, status, outcome, placed_at, notes, node) VALUES ($1,NULL,$2,$3,'outbound',$4,'outbound','queued',$5,'',$6) RETURNING id")
            .bind(client.0)
            .bind(contact.0)
            .bind(agent.0)
            .bind(phone)
            .bind(now_ms)
            .bind(self.node())
            .fetch_one(self.pool())
            .await?;
        self.call(client, CallId(r.try_get("id")?)).await
    }

    /// Replaces the script of a campaign of `client`.
    pub async fn set_campaign_script(
        &self,
        client: ClientId,
        campaign: CampaignId,
        script: &Script,
        now_ms: i64,
    ) -> Result<()> {
        let done = sqlx::query("UPDATE campaigns SET script_text = $1, script_url = $2, updated_at = $3 WHERE id = $4 AND client_id = $5")
            .bind(&script.text)
            .bind(&script.url)
            .bind(now_ms)
            .bind(campaign.0)
            .bind(client.0)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(crate::StoreError::NotFound);
        }
        Ok(())
    }
}
