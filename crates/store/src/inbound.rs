//! Inbound calls (issue 17): each client's inbound settings, inbound `calls` rows (direction
//! `inbound`; outcome `queued` → `ringing` (offered) → `in_progress` → `answered`, or `missed`
//! when the caller hung up waiting, or `voicemail`; missed and voicemail are Abandoned in seed
//! terms), the facts routing asks for (the agent a caller last spoke to, calls per agent today),
//! and the missed-and-voicemail tray that whoever handles an entry marks done for everyone.

use crate::calls::Call;
use crate::{flag, Result, Store, StoreError};
use palera_core::ids::{CallId, ClientId, ContactId, ScriptId, UserId};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::HashMap;

/// A client's inbound settings (defaults until saved).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InboundSettings {
    /// Said to every caller first (text to speech in Twilio mode); empty for the standard
    /// greeting with the client's name.
    pub greeting: String,
    /// Played while a caller waits; the standard music when unset.
    pub hold_music_url: Option<String>,
    /// Tell waiting callers their place in the queue.
    pub announce_position: bool,
    /// After this long waiting, the caller is offered the voicemail (or the call ends).
    pub max_wait_seconds: u32,
    pub voicemail: bool,
    /// Empty for the standard prompt.
    pub voicemail_prompt: String,
    pub recording: bool,
    pub transcription: bool,
    /// The built script inbound calls run.
    pub script_id: Option<ScriptId>,
    /// A caller's last agent within this many days gets the call first.
    pub affinity_window_days: u32,
    /// How long a call waits for its busy affinity agent.
    pub affinity_wait_seconds: u32,
    /// How long an offer rings at an agent's desktop before the next agent gets it.
    pub ring_timeout_seconds: u32,
}

impl Default for InboundSettings {
    fn default() -> Self {
        Self {
            // Empty: "Thank you for calling <client>. Please hold for the next available agent."
            greeting: String::new(),
            hold_music_url: None,
            announce_position: true,
            max_wait_seconds: 120,
            voicemail: true,
            // Empty: the standard apology and "leave a message after the tone".
            voicemail_prompt: String::new(),
            recording: false,
            transcription: false,
            script_id: None,
            affinity_window_days: 30,
            affinity_wait_seconds: 20,
            ring_timeout_seconds: 20,
        }
    }
}

/// How an inbound call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InboundEnd {
    Answered,
    /// The caller hung up before an agent took the call.
    Missed,
    /// The caller left a voicemail after the maximum wait.
    Voicemail,
}

impl InboundEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            InboundEnd::Answered => "answered",
            InboundEnd::Missed => "missed",
            InboundEnd::Voicemail => "voicemail",
        }
    }
    /// The seed status: answered calls are Answered, the others Abandoned.
    fn status(self) -> &'static str {
        match self {
            InboundEnd::Answered => "answered",
            _ => "abandoned",
        }
    }
}

/// A missed call or voicemail still to be handled.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TrayEntry {
    pub call_id: CallId,
    pub client_id: ClientId,
    pub contact_id: Option<ContactId>,
    pub name: String,
    pub phone: String,
    /// `missed` or `voicemail`.
    pub outcome: String,
    pub at: i64,
}

fn settings_from_row(r: &sqlx::any::AnyRow) -> Result<InboundSettings> {
    let n =
        |c: &str| -> Result<u32> { Ok(r.try_get::<i64, _>(c)?.clamp(0, u32::MAX as i64) as u32) };
    Ok(InboundSettings {
        greeting: r.try_get("greeting")?,
        hold_music_url: r.try_get("hold_music_url")?,
        announce_position: flag(r, "announce_position")?,
        max_wait_seconds: n("max_wait_seconds")?,
        voicemail: flag(r, "voicemail")?,
        voicemail_prompt: r.try_get("voicemail_prompt")?,
        recording: flag(r, "recording")?,
        transcription: flag(r, "transcription")?,
        script_id: r.try_get::<Option<i64>, _>("script_id")?.map(ScriptId),
        affinity_window_days: n("affinity_window_days")?,
        affinity_wait_seconds: n("affinity_wait_seconds")?,
        ring_timeout_seconds: n("ring_timeout_seconds")?,
    })
}

impl Store {
    /// The client's inbound settings (the defaults until saved).
    pub async fn inbound_settings(&self, client: ClientId) -> Result<InboundSettings> {
        let row = sqlx::query("SELECT greeting, hold_music_url, announce_position, max_wait_seconds, voicemail, voicemail_prompt, recording, transcription, script_id, affinity_window_days, affinity_wait_seconds, ring_timeout_seconds FROM inbound_settings WHERE client_id = $1")
            .bind(client.0)
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some(r) => settings_from_row(&r),
            None => Ok(InboundSettings::default()),
        }
    }

    /// Saves the client's inbound settings (validated by the caller).
    pub async fn save_inbound_settings(
        &self,
        client: ClientId,
        s: &InboundSettings,
        now_ms: i64,
    ) -> Result<InboundSettings> {
        sqlx::query("INSERT INTO inbound_settings (client_id, greeting, hold_music_url, announce_position, max_wait_seconds, voicemail, voicemail_prompt, recording, transcription, script_id, affinity_window_days, affinity_wait_seconds, ring_timeout_seconds, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14) ON CONFLICT (client_id) DO UPDATE SET greeting = excluded.greeting, hold_music_url = excluded.hold_music_url, announce_position = excluded.announce_position, max_wait_seconds = excluded.max_wait_seconds, voicemail = excluded.voicemail, voicemail_prompt = excluded.voicemail_prompt, recording = excluded.recording, transcription = excluded.transcription, script_id = excluded.script_id, affinity_window_days = excluded.affinity_window_days, affinity_wait_seconds = excluded.affinity_wait_seconds, ring_timeout_seconds = excluded.ring_timeout_seconds, updated_at = excluded.updated_at")
            .bind(client.0)
            .bind(&s.greeting)
            .bind(&s.hold_music_url)
            .bind(s.announce_position)
            .bind(i64::from(s.max_wait_seconds))
            .bind(s.voicemail)
            .bind(&s.voicemail_prompt)
            .bind(s.recording)
            .bind(s.transcription)
            .bind(s.script_id.map(|x| x.0))
            .bind(i64::from(s.affinity_window_days))
            .bind(i64::from(s.affinity_wait_seconds))
            .bind(i64::from(s.ring_timeout_seconds))
            .bind(now_ms)
            .execute(self.pool())
            .await?;
        self.inbound_settings(client).await
    }

    /// Records a new inbound call, waiting for an agent.
    pub async fn create_inbound_call(
        &self,
        client: ClientId,
        contact: ContactId,
        phone: &str,
        sid: Option<&str>,
        now_ms: i64,
    ) -> Result<Call> {
        let id: i64 = sqlx::query("INSERT INTO calls (client_id, campaign_id, contact_id, agent_id, direction, phone, carrier_sid, status, outcome, placed_at, answered_at, notes, node) VALUES ($1,NULL,$2,NULL,'inbound',$3,$4,'inbound','queued',$5,$5,'',$6) RETURNING id")
            .bind(client.0)
            .bind(contact.0)
            .bind(phone)
            .bind(sid)
            .bind(now_ms)
            .bind(self.node())
            .fetch_one(self.pool())
            .await?
            .try_get("id")?;
        self.call(client, CallId(id)).await
    }

    /// The client's call with this carrier SID (webhooks that name only the SID).
    pub async fn call_by_sid(&self, client: ClientId, sid: &str) -> Result<Option<Call>> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM calls WHERE client_id = $1 AND carrier_sid = $2 ORDER BY id DESC LIMIT 1")
            .bind(client.0)
            .bind(sid)
            .fetch_optional(self.pool())
            .await?;
        match id {
            Some(id) => Ok(Some(self.call(client, CallId(id)).await?)),
            None => Ok(None),
        }
    }

    /// An inbound call offered to an agent (`ringing`) or back in the queue (`queued`).
    pub async fn set_inbound_offer(&self, call: CallId, offered: bool) -> Result<()> {
        sqlx::query("UPDATE calls SET outcome = $1 WHERE id = $2 AND ended_at IS NULL AND connected_at IS NULL")
            .bind(if offered { "ringing" } else { "queued" })
            .bind(call.0)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The agent took the inbound call.
    pub async fn inbound_connected(&self, call: CallId, agent: UserId, now_ms: i64) -> Result<()> {
        sqlx::query("UPDATE calls SET agent_id = $1, connected_at = $2, outcome = 'in_progress', status = 'answered' WHERE id = $3 AND ended_at IS NULL")
            .bind(agent.0)
            .bind(now_ms)
            .bind(call.0)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Ends an inbound call with its outcome (once).
    pub async fn end_inbound_call(
        &self,
        call: CallId,
        end: InboundEnd,
        now_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query("UPDATE calls SET outcome = $1, status = $2, ended_at = $3 WHERE id = $4 AND ended_at IS NULL")
            .bind(end.as_str())
            .bind(end.status())
            .bind(now_ms)
            .bind(call.0)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The agent the contact last spoke to since `since_ms`, and when.
    pub async fn last_agent_of(
        &self,
        client: ClientId,
        contact: ContactId,
        since_ms: i64,
    ) -> Result<Option<(UserId, i64)>> {
        let row = sqlx::query("SELECT agent_id, connected_at FROM calls WHERE client_id = $1 AND contact_id = $2 AND agent_id IS NOT NULL AND connected_at >= $3 ORDER BY connected_at DESC LIMIT 1")
            .bind(client.0)
            .bind(contact.0)
            .bind(since_ms)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| Ok((UserId(r.try_get("agent_id")?), r.try_get("connected_at")?)))
            .transpose()
    }

    /// How many calls each agent has been connected to since `since_ms`.
    pub async fn connected_calls_since(&self, since_ms: i64) -> Result<HashMap<UserId, u32>> {
        let rows = sqlx::query("SELECT agent_id, COUNT(*) AS n FROM calls WHERE agent_id IS NOT NULL AND connected_at >= $1 GROUP BY agent_id")
            .bind(since_ms)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    UserId(r.try_get("agent_id")?),
                    r.try_get::<i64, _>("n")? as u32,
                ))
            })
            .collect()
    }

    /// The numbers of the last 20 people who spoke to one of the client's agents (the simulated
    /// network's repeat callers).
    pub async fn recent_callers(
        &self,
        client: ClientId,
    ) -> Result<Vec<palera_core::phone::PhoneNumber>> {
        let phones: Vec<String> = sqlx::query_scalar("SELECT phone FROM calls WHERE client_id = $1 AND connected_at IS NOT NULL AND contact_id IS NOT NULL ORDER BY connected_at DESC LIMIT 20")
            .bind(client.0)
            .fetch_all(self.pool())
            .await?;
        Ok(phones
            .iter()
            .filter_map(|p| palera_core::phone::PhoneNumber::parse_e164(p).ok())
            .collect())
    }

    /// Missed calls and voicemails of these clients nobody has handled yet, newest first.
    pub async fn inbound_tray(&self, clients: &[ClientId]) -> Result<Vec<TrayEntry>> {
        let mut out = Vec::new();
        for c in clients {
            let rows = sqlx::query("SELECT k.id, k.client_id, k.contact_id, k.phone, k.outcome, k.placed_at, COALESCE(NULLIF(TRIM(x.first_name || ' ' || x.last_name), ''), k.phone) AS name FROM calls k LEFT JOIN contacts x ON x.id = k.contact_id WHERE k.client_id = $1 AND k.direction = 'inbound' AND k.outcome IN ('missed', 'voicemail') AND k.handled_at IS NULL ORDER BY k.placed_at DESC LIMIT 100")
                .bind(c.0)
                .fetch_all(self.pool())
                .await?;
            for r in rows {
                out.push(TrayEntry {
                    call_id: CallId(r.try_get("id")?),
                    client_id: ClientId(r.try_get("client_id")?),
                    contact_id: r.try_get::<Option<i64>, _>("contact_id")?.map(ContactId),
                    name: r.try_get("name")?,
                    phone: r.try_get("phone")?,
                    outcome: r.try_get("outcome")?,
                    at: r.try_get("placed_at")?,
                });
            }
        }
        out.sort_by_key(|t| std::cmp::Reverse(t.at));
        Ok(out)
    }

    /// Marks a tray entry handled, for everyone; false when someone already did.
    pub async fn mark_inbound_handled(
        &self,
        client: ClientId,
        call: CallId,
        by: UserId,
        now_ms: i64,
    ) -> Result<bool> {
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM calls WHERE id = $1 AND client_id = $2 AND direction = 'inbound' AND outcome IN ('missed', 'voicemail')")
            .bind(call.0)
            .bind(client.0)
            .fetch_optional(self.pool())
            .await?;
        if found.is_none() {
            return Err(StoreError::NotFound);
        }
        let done = sqlx::query("UPDATE calls SET handled_at = $1, handled_by = $2 WHERE id = $3 AND handled_at IS NULL")
            .bind(now_ms)
            .bind(by.0)
            .bind(call.0)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
