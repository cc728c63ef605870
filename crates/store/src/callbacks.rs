//! What an agent's desktop shows about their own work: the callbacks they promised (a callback
//! disposition, kept with the zone it was set in so the list reads in the contact's local time)
//! and today's figures (calls handled, talk time).

use crate::clients::Scope;
use crate::{Result, Store};
use palera_core::ids::{CallId, CampaignId, ClientId, ContactId, UserId};
use serde::Serialize;
use sqlx::Row;

/// A callback to record.
#[derive(Debug, Clone)]
pub struct NewCallback {
    pub call: CallId,
    pub agent: UserId,
    pub client: ClientId,
    pub contact: ContactId,
    pub campaign: Option<CampaignId>,
    /// When to call again, Unix ms.
    pub due_at: i64,
    /// The IANA zone the time was chosen in (the contact's).
    pub time_zone: String,
}

/// One callback on an agent's list, with the names a person reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AgentCallback {
    pub call_id: CallId,
    pub contact_id: ContactId,
    pub client_id: ClientId,
    pub name: String,
    pub phone: String,
    /// The campaign's name; `None` for a manual call.
    pub campaign: Option<String>,
    pub due_at: i64,
    pub time_zone: String,
}

/// An agent's figures since an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AgentFigures {
    /// Calls the agent was connected to.
    pub calls: i64,
    /// Seconds connected, summed over those calls (calls still up count to now).
    pub talk_seconds: i64,
}

impl Store {
    /// Records a callback the agent promised.
    pub async fn add_agent_callback(&self, c: &NewCallback, now: i64) -> Result<()> {
        sqlx::query("INSERT INTO agent_callbacks (call_id, agent_id, client_id, contact_id, campaign_id, due_at, time_zone, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(c.call.0)
            .bind(c.agent.0)
            .bind(c.client.0)
            .bind(c.contact.0)
            .bind(c.campaign.map(|x| x.0))
            .bind(c.due_at)
            .bind(&c.time_zone)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The agent's callbacks due at or after `from` (Unix ms) on the clients `scope` allows
    /// (the agent's clients now: none of a client the agent was taken off), soonest first.
    pub async fn agent_callbacks(
        &self,
        scope: &Scope,
        agent: UserId,
        from: i64,
    ) -> Result<Vec<AgentCallback>> {
        let rows = sqlx::query(&format!(
            "SELECT b.call_id, b.contact_id, b.client_id, k.first_name, k.last_name, k.phone, \
             m.name AS campaign, b.due_at, b.time_zone FROM agent_callbacks b \
             JOIN contacts k ON k.id = b.contact_id LEFT JOIN campaigns m ON m.id = b.campaign_id \
             WHERE b.agent_id = $1 AND b.due_at >= $2{} ORDER BY b.due_at, b.id LIMIT 200",
            scope.sql("b.client_id")
        ))
        .bind(agent.0)
        .bind(from)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let first: String = r.try_get("first_name")?;
                let last: String = r.try_get("last_name")?;
                Ok(AgentCallback {
                    call_id: CallId(r.try_get("call_id")?),
                    contact_id: ContactId(r.try_get("contact_id")?),
                    client_id: ClientId(r.try_get("client_id")?),
                    name: format!("{first} {last}").trim().to_string(),
                    phone: r.try_get("phone")?,
                    campaign: r.try_get("campaign")?,
                    due_at: r.try_get("due_at")?,
                    time_zone: r.try_get("time_zone")?,
                })
            })
            .collect()
    }

    /// The agent's connected calls placed since `since` (Unix ms) and their talk time.
    pub async fn agent_figures(&self, agent: UserId, since: i64, now: i64) -> Result<AgentFigures> {
        let rows = sqlx::query(
            "SELECT connected_at, ended_at FROM calls \
             WHERE agent_id = $1 AND placed_at >= $2 AND connected_at IS NOT NULL",
        )
        .bind(agent.0)
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        let mut f = AgentFigures {
            calls: 0,
            talk_seconds: 0,
        };
        for r in &rows {
            let from: i64 = r.try_get("connected_at")?;
            let to: Option<i64> = r.try_get("ended_at")?;
            f.calls += 1;
            f.talk_seconds += (to.unwrap_or(now) - from).max(0) / 1000;
        }
        Ok(f)
    }
}
