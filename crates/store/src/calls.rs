//! Dial work: the per-contact attempt state of each campaign (`campaign_contacts`), the calls and
//! their events. The one rule that matters most lives here: a contact is claimed for dialing by a
//! single conditional update (`in_flight_call_id IS NULL`, active, under max attempts, due) in the
//! same transaction that creates the call, so two runners — two ticks, two nodes — can never dial
//! the same contact at once; the loser sees `None`.

use crate::clients::Scope;
use crate::{Backend, Result, Store, StoreError};
use palera_core::campaign::{CallOutcome, ContactAttempts, ContactStatus};
use palera_core::ids::{CallId, CampaignId, ClientId, ContactId, ListId, UserId};
use serde::Serialize;
use sqlx::Row;

/// A contact as a campaign sees it: a snapshot of what dialing needs, plus its attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignContact {
    pub campaign_id: CampaignId,
    pub contact_id: ContactId,
    pub client_id: ClientId,
    pub phone: String,
    pub time_zone: Option<String>,
    pub name: String,
    pub attempts: ContactAttempts,
    pub holder: Option<UserId>,
    pub in_flight: Option<CallId>,
}

/// A contact entering a campaign.
#[derive(Debug, Clone)]
pub struct Enrolment {
    pub contact_id: ContactId,
    pub phone: String,
    pub time_zone: Option<String>,
    pub name: String,
}

/// What a dial claims.
#[derive(Debug, Clone)]
pub struct Claim {
    pub campaign: CampaignId,
    pub client: ClientId,
    pub contact: ContactId,
    /// The agent the call is placed for (preview, progressive); `None` in predictive.
    pub agent: Option<UserId>,
    pub phone: String,
    pub max_attempts: u32,
    pub now_ms: i64,
    /// The contact's local date of this attempt (its cycle), `YYYY-MM-DD`.
    pub cycle: String,
}

/// One call.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Call {
    pub id: CallId,
    pub client_id: ClientId,
    pub campaign_id: Option<CampaignId>,
    pub contact_id: Option<ContactId>,
    pub agent_id: Option<UserId>,
    pub direction: String,
    pub phone: String,
    pub carrier_sid: Option<String>,
    /// The seed status (not_called, outbound, answered, abandoned).
    pub status: String,
    /// The detailed outcome (DESIGN §2.2).
    pub outcome: String,
    pub answered_by: Option<String>,
    pub placed_at: i64,
    pub answered_at: Option<i64>,
    pub connected_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub disposition_id: Option<i64>,
    pub disposition: Option<String>,
    pub notes: String,
}

/// Counts of a campaign's calls since an instant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CallCounts {
    pub dials: i64,
    pub in_flight: i64,
    pub answered: i64,
    pub live_answered: i64,
    pub abandoned_no_agent: i64,
    pub machine: i64,
    pub voicemail_dropped: i64,
    pub no_answer: i64,
    pub busy: i64,
    pub failed: i64,
}

/// The outcome's stored name.
pub fn outcome_str(o: CallOutcome) -> &'static str {
    use CallOutcome::*;
    match o {
        Queued => "queued",
        Ringing => "ringing",
        InProgress => "in_progress",
        Completed => "completed",
        AbandonedNoAgent => "abandoned_no_agent",
        NoAnswer => "no_answer",
        Busy => "busy",
        Failed => "failed",
        Machine => "machine",
        VoicemailDropped => "voicemail_dropped",
    }
}

pub(crate) fn status_str(o: CallOutcome) -> &'static str {
    use palera_core::campaign::SeedStatus::*;
    match o.seed_status() {
        NotCalled => "not_called",
        Outbound => "outbound",
        Answered => "answered",
        Abandoned => "abandoned",
    }
}

fn contact_status_str(s: ContactStatus) -> &'static str {
    match s {
        ContactStatus::Active => "active",
        ContactStatus::Completed => "completed",
        ContactStatus::Exhausted => "exhausted",
        ContactStatus::Dnc => "dnc",
        ContactStatus::Moved => "moved",
    }
}

fn parse_contact_status(s: &str) -> Result<ContactStatus> {
    Ok(match s {
        "active" => ContactStatus::Active,
        "completed" => ContactStatus::Completed,
        "exhausted" => ContactStatus::Exhausted,
        "dnc" => ContactStatus::Dnc,
        "moved" => ContactStatus::Moved,
        other => {
            return Err(StoreError::Database(sqlx::Error::Decode(
                format!("bad contact status {other:?}").into(),
            )))
        }
    })
}

const CC_COLUMNS: &str = "campaign_id, contact_id, client_id, phone, time_zone, name, attempts, status, next_due_at, last_cycle, holder_id, in_flight_call_id";

fn cc_from_row(r: &sqlx::any::AnyRow) -> Result<CampaignContact> {
    let in_flight: Option<i64> = r.try_get("in_flight_call_id")?;
    let holder: Option<i64> = r.try_get("holder_id")?;
    let last: Option<String> = r.try_get("last_cycle")?;
    let status: String = r.try_get("status")?;
    let attempts: i64 = r.try_get("attempts")?;
    Ok(CampaignContact {
        campaign_id: CampaignId(r.try_get("campaign_id")?),
        contact_id: ContactId(r.try_get("contact_id")?),
        client_id: ClientId(r.try_get("client_id")?),
        phone: r.try_get("phone")?,
        time_zone: r.try_get("time_zone")?,
        name: r.try_get("name")?,
        attempts: ContactAttempts {
            attempts: attempts as u32,
            status: parse_contact_status(&status)?,
            in_flight: in_flight.is_some(),
            next_due: crate::from_millis(r.try_get("next_due_at")?),
            last_cycle: last.and_then(|d| d.parse().ok()),
        },
        holder: holder.map(UserId),
        in_flight: in_flight.map(CallId),
    })
}

const CALL_COLUMNS: &str = "id, client_id, campaign_id, contact_id, agent_id, direction, phone, carrier_sid, status, outcome, answered_by, placed_at, answered_at, connected_at, ended_at, disposition_id, disposition, notes";

fn call_from_row(r: &sqlx::any::AnyRow) -> Result<Call> {
    let opt = |c: &str| -> Result<Option<i64>> { Ok(r.try_get(c)?) };
    Ok(Call {
        id: CallId(r.try_get("id")?),
        client_id: ClientId(r.try_get("client_id")?),
        campaign_id: opt("campaign_id")?.map(CampaignId),
        contact_id: opt("contact_id")?.map(ContactId),
        agent_id: opt("agent_id")?.map(UserId),
        direction: r.try_get("direction")?,
        phone: r.try_get("phone")?,
        carrier_sid: r.try_get("carrier_sid")?,
        status: r.try_get("status")?,
        outcome: r.try_get("outcome")?,
        answered_by: r.try_get("answered_by")?,
        placed_at: r.try_get("placed_at")?,
        answered_at: opt("answered_at")?,
        connected_at: opt("connected_at")?,
        ended_at: opt("ended_at")?,
        disposition_id: opt("disposition_id")?,
        disposition: r.try_get("disposition")?,
        notes: r.try_get("notes")?,
    })
}

/// Which due contacts of a campaign one page holds (see [`Store::due_contacts_after`]).
struct DuePage {
    now_ms: i64,
    max_attempts: u32,
    after: Option<(i64, ContactId)>,
    limit: i64,
}

/// Contact ids per enrolment transaction (see [`Store::sync_enrolment`]).
const ENROL_WINDOW: i64 = 5_000;

/// An enrolment that adds this many contacts refreshes the table's planner statistics
/// (PostgreSQL).
const ANALYZE_AFTER: u64 = 1_000;

impl Store {
    /// Adds contacts to a campaign, due at once; contacts already in it are left as they are.
    /// Returns how many were added.
    pub async fn enrol_contacts(
        &self,
        campaign: CampaignId,
        client: ClientId,
        contacts: &[Enrolment],
        now_ms: i64,
    ) -> Result<u64> {
        let mut tx = self.write_tx().await?;
        let mut added = 0;
        for c in contacts {
            let done = sqlx::query("INSERT INTO campaign_contacts (campaign_id, contact_id, client_id, phone, time_zone, name, attempts, status, next_due_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,0,'active',$7,$7) ON CONFLICT (campaign_id, contact_id) DO NOTHING")
                .bind(campaign.0)
                .bind(c.contact_id.0)
                .bind(client.0)
                .bind(&c.phone)
                .bind(&c.time_zone)
                .bind(&c.name)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            added += done.rows_affected();
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Brings a campaign's enrolment up to date with its lists in set-based statements (a short
    /// transaction per window of contact ids): the lists' contacts it does not have yet are enrolled, and its active
    /// contacts no longer in any of the lists, not in flight, are retired (`moved`; their
    /// attempts are left as they are). Returns how many were enrolled and which were retired.
    pub async fn sync_enrolment(
        &self,
        campaign: CampaignId,
        client: ClientId,
        lists: &[ListId],
        now_ms: i64,
    ) -> Result<(u64, Vec<ContactId>)> {
        // List ids are integers from a newtype, so inlining them is safe.
        let in_lists = if lists.is_empty() {
            "NULL".to_string()
        } else {
            lists
                .iter()
                .map(|l| l.0.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        // In windows of contact ids, a transaction each: SQLite has one writer, and enrolling a
        // list of 100,000 in one transaction held the call engine's writes for seconds.
        let top: Option<i64> =
            sqlx::query_scalar("SELECT MAX(id) FROM contacts WHERE client_id = $1")
                .bind(client.0)
                .fetch_one(self.pool())
                .await?;
        let mut added = 0;
        let mut lo = 0;
        while lo < top.unwrap_or(0) {
            let hi = lo + ENROL_WINDOW;
            let mut tx = self.write_tx().await?;
            added += sqlx::query(&format!(
                "INSERT INTO campaign_contacts (campaign_id, contact_id, client_id, phone, time_zone, name, attempts, status, next_due_at, updated_at) \
                 SELECT $1, c.id, c.client_id, c.phone, c.time_zone, TRIM(c.first_name || ' ' || c.last_name), 0, 'active', $2, $2 \
                 FROM contacts c WHERE c.client_id = $3 AND c.list_id IN ({in_lists}) AND c.id > $4 AND c.id <= $5 \
                 AND NOT EXISTS (SELECT 1 FROM campaign_contacts cc WHERE cc.campaign_id = $1 AND cc.contact_id = c.id)"
            ))
            .bind(campaign.0)
            .bind(now_ms)
            .bind(client.0)
            .bind(lo)
            .bind(hi)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            lo = hi;
        }
        if added >= ANALYZE_AFTER && self.backend() == Backend::Postgres {
            // Fresh statistics: with the table's count still from before a bulk enrolment,
            // PostgreSQL planned the claim of one contact as a scan of the campaign's due index
            // (14 ms a dial at 100,000 contacts, on the engine's loop) instead of a key lookup.
            sqlx::query("ANALYZE campaign_contacts")
                .execute(self.pool())
                .await?;
        }
        let mut tx = self.write_tx().await?;
        let retired = sqlx::query(&format!(
            "UPDATE campaign_contacts SET status = 'moved', updated_at = $1 \
             WHERE campaign_id = $2 AND status = 'active' AND in_flight_call_id IS NULL \
             AND contact_id NOT IN (SELECT id FROM contacts WHERE client_id = $3 AND list_id IN ({in_lists})) \
             RETURNING contact_id"
        ))
        .bind(now_ms)
        .bind(campaign.0)
        .bind(client.0)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| Ok(ContactId(r.try_get("contact_id")?)))
        .collect::<Result<Vec<_>>>()?;
        tx.commit().await?;
        Ok((added, retired))
    }

    /// Contacts of a campaign of `client` due now: active, not in flight, under max attempts,
    /// due time passed; oldest due first (none for another client's campaign, as for an unknown
    /// one).
    pub async fn due_contacts(
        &self,
        client: ClientId,
        campaign: CampaignId,
        now_ms: i64,
        max_attempts: u32,
        limit: i64,
    ) -> Result<Vec<CampaignContact>> {
        let due = DuePage {
            now_ms,
            max_attempts,
            after: None,
            limit,
        };
        self.due_page(Some(client), campaign, &due).await
    }

    /// A campaign's due contacts in keyset pages, by the campaign's id alone (the call engine's
    /// dialing; request handlers use [`Store::due_contacts`]): the due contacts after `after`
    /// (the due instant in milliseconds and the contact of the last row of the previous page),
    /// in the same order.
    pub async fn due_contacts_after(
        &self,
        campaign: CampaignId,
        now_ms: i64,
        max_attempts: u32,
        after: Option<(i64, ContactId)>,
        limit: i64,
    ) -> Result<Vec<CampaignContact>> {
        let due = DuePage {
            now_ms,
            max_attempts,
            after,
            limit,
        };
        self.due_page(None, campaign, &due).await
    }

    /// One page of a campaign's due contacts, of `client` when one is given.
    async fn due_page(
        &self,
        client: Option<ClientId>,
        campaign: CampaignId,
        p: &DuePage,
    ) -> Result<Vec<CampaignContact>> {
        let (due, contact) = p.after.map_or((i64::MIN, i64::MIN), |(d, c)| (d, c.0));
        let of_client = if client.is_some() {
            " AND client_id = $7"
        } else {
            ""
        };
        let sql = format!("SELECT {CC_COLUMNS} FROM campaign_contacts WHERE campaign_id = $1 AND status = 'active' AND in_flight_call_id IS NULL AND attempts < $2 AND next_due_at <= $3 AND (next_due_at > $5 OR (next_due_at = $5 AND contact_id > $6)){of_client} ORDER BY next_due_at, contact_id LIMIT $4");
        let mut q = sqlx::query(&sql)
            .bind(campaign.0)
            .bind(i64::from(p.max_attempts))
            .bind(p.now_ms)
            .bind(p.limit)
            .bind(due)
            .bind(contact);
        if let Some(c) = client {
            q = q.bind(c.0);
        }
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter().map(cc_from_row).collect()
    }

    /// Every contact of a campaign, by contact id.
    pub async fn campaign_contacts(&self, campaign: CampaignId) -> Result<Vec<CampaignContact>> {
        let rows = sqlx::query(&format!(
            "SELECT {CC_COLUMNS} FROM campaign_contacts WHERE campaign_id = $1 ORDER BY contact_id"
        ))
        .bind(campaign.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(cc_from_row).collect()
    }

    pub async fn campaign_contact(
        &self,
        campaign: CampaignId,
        contact: ContactId,
    ) -> Result<CampaignContact> {
        let r = sqlx::query(&format!(
            "SELECT {CC_COLUMNS} FROM campaign_contacts WHERE campaign_id = $1 AND contact_id = $2"
        ))
        .bind(campaign.0)
        .bind(contact.0)
        .fetch_one(self.pool())
        .await?;
        cc_from_row(&r)
    }

    /// Contacts of every campaign that are claimed by a call (restart reconciliation).
    pub async fn claimed_contacts(&self) -> Result<Vec<CampaignContact>> {
        let rows = sqlx::query(&format!(
            "SELECT {CC_COLUMNS} FROM campaign_contacts WHERE in_flight_call_id IS NOT NULL ORDER BY campaign_id, contact_id"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(cc_from_row).collect()
    }

    /// Nobody holds any contact of the campaign (its runner stopped or restarted).
    pub async fn clear_holders(&self, campaign: CampaignId) -> Result<()> {
        sqlx::query("UPDATE campaign_contacts SET holder_id = NULL WHERE campaign_id = $1 AND holder_id IS NOT NULL")
            .bind(campaign.0)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Records which agent holds each contact (distribution moves).
    pub async fn set_holders(
        &self,
        campaign: CampaignId,
        moves: &[(ContactId, Option<UserId>)],
    ) -> Result<()> {
        if moves.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        for (c, a) in moves {
            sqlx::query(
                "UPDATE campaign_contacts SET holder_id = $1 WHERE campaign_id = $2 AND contact_id = $3",
            )
            .bind(a.map(|a| a.0))
            .bind(campaign.0)
            .bind(c.0)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Atomically claims a contact for one dial and creates its call (`queued`). `None` when the
    /// contact is not claimable any more (already in flight in this or another campaign, done, at
    /// max attempts, not due): nothing is written then.
    pub async fn claim_contact(&self, c: &Claim) -> Result<Option<Call>> {
        let mut tx = self.write_tx().await?;
        if self.backend() == crate::Backend::Postgres {
            // Claims of one contact by different campaigns queue here, so the check below sees
            // the other's claim (SQLite runs one writer at a time already).
            sqlx::query("SELECT id FROM contacts WHERE id = $1 FOR UPDATE")
                .bind(c.contact.0)
                .execute(&mut *tx)
                .await?;
        }
        let row = sqlx::query("INSERT INTO calls (client_id, campaign_id, contact_id, agent_id, direction, phone, status, outcome, placed_at, notes) VALUES ($1,$2,$3,$4,'outbound',$5,'outbound','queued',$6,'') RETURNING id")
            .bind(c.client.0)
            .bind(c.campaign.0)
            .bind(c.contact.0)
            .bind(c.agent.map(|a| a.0))
            .bind(&c.phone)
            .bind(c.now_ms)
            .fetch_one(&mut *tx)
            .await?;
        let call_id: i64 = row.try_get("id")?;
        let claimed = sqlx::query("UPDATE campaign_contacts SET in_flight_call_id = $1, attempts = attempts + 1, last_cycle = $2, updated_at = $3 WHERE campaign_id = $4 AND contact_id = $5 AND in_flight_call_id IS NULL AND status = 'active' AND attempts < $6 AND next_due_at <= $3 AND NOT EXISTS (SELECT 1 FROM campaign_contacts o WHERE o.contact_id = $5 AND o.campaign_id <> $4 AND o.in_flight_call_id IS NOT NULL)")
            .bind(call_id)
            .bind(&c.cycle)
            .bind(c.now_ms)
            .bind(c.campaign.0)
            .bind(c.contact.0)
            .bind(i64::from(c.max_attempts))
            .execute(&mut *tx)
            .await?;
        if claimed.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        tx.commit().await?;
        self.call(c.client, CallId(call_id)).await.map(Some)
    }

    /// Undoes a claim whose dial never reached the carrier: the call is deleted and the attempt
    /// is given back, so nothing counts that did not happen.
    pub async fn unclaim(
        &self,
        campaign: CampaignId,
        contact: ContactId,
        call: CallId,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE campaign_contacts SET in_flight_call_id = NULL, attempts = attempts - 1 WHERE campaign_id = $1 AND contact_id = $2 AND in_flight_call_id = $3")
            .bind(campaign.0)
            .bind(contact.0)
            .bind(call.0)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 1 {
            sqlx::query("DELETE FROM calls WHERE id = $1")
                .bind(call.0)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Writes a contact's attempt state after its attempt ended (the claim is released when
    /// `attempts.in_flight` is false).
    pub async fn save_attempts(
        &self,
        campaign: CampaignId,
        contact: ContactId,
        a: &ContactAttempts,
        now_ms: i64,
    ) -> Result<()> {
        let q = if a.in_flight {
            "UPDATE campaign_contacts SET attempts = $1, status = $2, next_due_at = $3, last_cycle = $4, updated_at = $5 WHERE campaign_id = $6 AND contact_id = $7"
        } else {
            "UPDATE campaign_contacts SET attempts = $1, status = $2, next_due_at = $3, last_cycle = $4, updated_at = $5, in_flight_call_id = NULL WHERE campaign_id = $6 AND contact_id = $7"
        };
        sqlx::query(q)
            .bind(i64::from(a.attempts))
            .bind(contact_status_str(a.status))
            .bind(crate::millis(a.next_due))
            .bind(a.last_cycle.map(|d| d.to_string()))
            .bind(now_ms)
            .bind(campaign.0)
            .bind(contact.0)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// A call of `client`; another client's call is `NotFound`, as an unknown id is.
    pub async fn call(&self, client: ClientId, id: CallId) -> Result<Call> {
        let r = sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM calls WHERE id = $1 AND client_id = $2"
        ))
        .bind(id.0)
        .bind(client.0)
        .fetch_one(self.pool())
        .await?;
        call_from_row(&r)
    }

    /// A call of one of the clients `scope` allows, for routes that name a call but no client
    /// (the caller's scope is the filter); any other call is `NotFound`, as an unknown id is.
    pub async fn call_in(&self, scope: &Scope, id: CallId) -> Result<Call> {
        let r = sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM calls WHERE id = $1{}",
            scope.sql("client_id")
        ))
        .bind(id.0)
        .fetch_one(self.pool())
        .await?;
        call_from_row(&r)
    }

    /// A call by its id alone, whichever client's it is. Only for the call engine (it runs
    /// every client's calls), the carrier's webhooks (they check the client of their path
    /// against the call) and the CLI; request handlers use [`Store::call`] or
    /// [`Store::call_in`], which filter by the caller's client.
    pub async fn call_unscoped(&self, id: CallId) -> Result<Call> {
        self.call_in(&Scope::All, id).await
    }

    /// The calls of `client` not ended yet (the wallboard).
    pub async fn open_calls(&self, client: ClientId) -> Result<Vec<Call>> {
        let rows = sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM calls WHERE ended_at IS NULL AND client_id = $1 ORDER BY id"
        ))
        .bind(client.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(call_from_row).collect()
    }

    /// The open calls node `node` answers for after a restart: every campaign call (the
    /// campaign's leader sorts those out) and the manual and inbound calls that node runs (or
    /// that were written before calls named their node).
    pub async fn open_calls_of_node(&self, node: &str) -> Result<Vec<Call>> {
        let rows = sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM calls WHERE ended_at IS NULL \
             AND (campaign_id IS NOT NULL OR node = $1 OR node = '') ORDER BY id"
        ))
        .bind(node)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(call_from_row).collect()
    }

    /// The calls of a campaign, newest first.
    pub async fn campaign_calls(&self, campaign: CampaignId) -> Result<Vec<Call>> {
        let rows = sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM calls WHERE campaign_id = $1 ORDER BY id DESC"
        ))
        .bind(campaign.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(call_from_row).collect()
    }

    /// Stores the disposition an agent (or the system) gave a call, once.
    pub async fn set_call_disposition(
        &self,
        id: CallId,
        disposition_id: Option<i64>,
        label: &str,
        notes: &str,
    ) -> Result<bool> {
        // Notes given with the disposition never replace notes saved during the call: they
        // fill empty notes or are appended on a new line (a new notes version either way).
        let done = sqlx::query("UPDATE calls SET disposition_id = $1, disposition = $2, \
             notes = CASE WHEN $3 = '' THEN notes WHEN notes = '' THEN $3 ELSE notes || $5 || $3 END, \
             notes_version = CASE WHEN $3 = '' THEN notes_version ELSE notes_version + 1 END \
             WHERE id = $4 AND disposition IS NULL")
            .bind(disposition_id)
            .bind(label)
            .bind(notes)
            .bind(id.0)
            .bind("\n")
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Adds an event to a call's log: a call record of one write ([`Store::write_call_record`]).
    pub async fn add_call_event(
        &self,
        call: CallId,
        kind: &str,
        detail: &str,
        at: i64,
    ) -> Result<()> {
        self.write_call_record(&[crate::record::CallWrite::Event {
            call,
            kind: kind.into(),
            detail: detail.into(),
            at,
        }])
        .await
    }

    /// The kinds of a call's events, oldest first.
    pub async fn call_event_kinds(&self, call: CallId) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT kind FROM call_events WHERE call_id = $1 ORDER BY id")
            .bind(call.0)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| Ok(r.try_get("kind")?)).collect()
    }

    /// Every event of a campaign's calls, in order: (call, kind, at).
    pub async fn campaign_call_events(
        &self,
        campaign: CampaignId,
    ) -> Result<Vec<(CallId, String, i64)>> {
        let rows = sqlx::query("SELECT e.call_id, e.kind, e.at FROM call_events e JOIN calls c ON c.id = e.call_id WHERE c.campaign_id = $1 ORDER BY e.id")
            .bind(campaign.0)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    CallId(r.try_get("call_id")?),
                    r.try_get("kind")?,
                    r.try_get("at")?,
                ))
            })
            .collect()
    }

    /// Counts of the calls of a campaign of `client` placed since `since_ms` (none for another
    /// client's campaign, as for an unknown one).
    pub async fn call_counts(
        &self,
        client: ClientId,
        campaign: CampaignId,
        since_ms: i64,
    ) -> Result<CallCounts> {
        let rows = sqlx::query("SELECT outcome, answered_by, COUNT(*) AS n FROM calls WHERE campaign_id = $1 AND placed_at >= $2 AND client_id = $3 GROUP BY outcome, answered_by")
            .bind(campaign.0)
            .bind(since_ms)
            .bind(client.0)
            .fetch_all(self.pool())
            .await?;
        let mut c = CallCounts::default();
        for r in &rows {
            let outcome: String = r.try_get("outcome")?;
            let by: Option<String> = r.try_get("answered_by")?;
            let n: i64 = r.try_get("n")?;
            c.dials += n;
            if by.as_deref() == Some("human") {
                c.live_answered += n;
            }
            match outcome.as_str() {
                "queued" | "ringing" | "in_progress" => c.in_flight += n,
                "completed" => c.answered += n,
                "voicemail_dropped" => c.voicemail_dropped += n,
                "abandoned_no_agent" => c.abandoned_no_agent += n,
                "machine" => c.machine += n,
                "no_answer" => c.no_answer += n,
                "busy" => c.busy += n,
                _ => c.failed += n,
            }
        }
        Ok(c)
    }
}

/// One UTC day of a campaign's abandon record (DESIGN §2.1): persons who answered a campaign
/// call, and how many of them no agent reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbandonDay {
    pub day: chrono::NaiveDate,
    pub live_answered: u64,
    pub abandoned: u64,
}

/// One ended campaign dial as the pacer learns from it.
#[derive(Debug, Clone, PartialEq)]
pub struct DialSample {
    /// Answered by a person.
    pub human: bool,
    /// Seconds from placing the call to the person's answer.
    pub ring_seconds: Option<f64>,
    /// Seconds an agent talked with the person.
    pub talk_seconds: Option<f64>,
}

/// What a campaign's pacer needs from the calls already made: the abandon record per UTC day
/// (oldest first, the campaign's whole life) and the most recent ended dials (oldest first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PacingHistory {
    pub days: Vec<AbandonDay>,
    pub recent: Vec<DialSample>,
}

/// Outcomes of a person-answered call that count as live-answered: served by an agent, or
/// abandoned (no agent within the grace).
const LIVE_ANSWERED: &str = "('completed', 'abandoned_no_agent', 'voicemail_dropped')";

impl Store {
    /// The pacing history of a campaign, derived from its stored calls (DESIGN §2.1): per UTC
    /// day of the answer, live-answered and abandoned counts; and the last `recent` ended dials
    /// that reached the carrier (a dial that ended while its answer was still being classified
    /// teaches nothing and is left out, as the driver leaves it out).
    pub async fn pacing_history(
        &self,
        campaign: CampaignId,
        recent: usize,
    ) -> Result<PacingHistory> {
        Ok(PacingHistory {
            days: self.abandon_days(campaign).await?,
            recent: self.recent_dials(campaign, recent).await?,
        })
    }

    /// Live-answered and abandoned calls of the campaign per UTC day of the answer.
    async fn abandon_days(&self, campaign: CampaignId) -> Result<Vec<AbandonDay>> {
        let rows = sqlx::query(&format!(
            "SELECT COALESCE(answered_at, placed_at) / 86400000 AS day, outcome, COUNT(*) AS n \
             FROM calls WHERE campaign_id = $1 AND direction = 'outbound' \
             AND answered_by = 'human' AND outcome IN {LIVE_ANSWERED} \
             GROUP BY COALESCE(answered_at, placed_at) / 86400000, outcome"
        ))
        .bind(campaign.0)
        .fetch_all(self.pool())
        .await?;
        let mut days: std::collections::BTreeMap<i64, (u64, u64)> = Default::default();
        for r in &rows {
            let day: i64 = r.try_get("day")?;
            let outcome: String = r.try_get("outcome")?;
            let n: i64 = r.try_get("n")?;
            let d = days.entry(day).or_default();
            d.0 += n as u64;
            if outcome == "abandoned_no_agent" {
                d.1 += n as u64;
            }
        }
        days.into_iter()
            .map(|(day, (live_answered, abandoned))| {
                let day = chrono::DateTime::from_timestamp(day * 86_400, 0)
                    .ok_or_else(|| {
                        StoreError::Database(sqlx::Error::Decode(
                            format!("calls.answered_at: day {day} out of range").into(),
                        ))
                    })?
                    .date_naive();
                Ok(AbandonDay {
                    day,
                    live_answered,
                    abandoned,
                })
            })
            .collect()
    }

    /// The campaign's last `recent` ended dials that reached the carrier, oldest first.
    async fn recent_dials(&self, campaign: CampaignId, recent: usize) -> Result<Vec<DialSample>> {
        let rows = sqlx::query(
            "SELECT answered_by, outcome, placed_at, answered_at, connected_at, ended_at FROM calls \
             WHERE campaign_id = $1 AND direction = 'outbound' AND ended_at IS NOT NULL \
             AND carrier_sid IS NOT NULL \
             AND NOT (answered_by IS NULL AND outcome = 'abandoned_no_agent') \
             ORDER BY id DESC LIMIT $2",
        )
        .bind(campaign.0)
        .bind(recent as i64)
        .fetch_all(self.pool())
        .await?;
        let secs = |from: Option<i64>, to: Option<i64>| match (from, to) {
            (Some(a), Some(b)) if b >= a => Some((b - a) as f64 / 1000.0),
            _ => None,
        };
        let mut samples = Vec::with_capacity(rows.len());
        for r in rows.iter().rev() {
            let by: Option<String> = r.try_get("answered_by")?;
            let outcome: String = r.try_get("outcome")?;
            let placed: i64 = r.try_get("placed_at")?;
            let answered: Option<i64> = r.try_get("answered_at")?;
            let connected: Option<i64> = r.try_get("connected_at")?;
            let ended: Option<i64> = r.try_get("ended_at")?;
            let human = by.as_deref() == Some("human");
            samples.push(DialSample {
                human,
                ring_seconds: if human {
                    secs(Some(placed), answered)
                } else {
                    None
                },
                talk_seconds: if outcome == "completed" {
                    secs(connected, ended)
                } else {
                    None
                },
            });
        }
        Ok(samples)
    }
}

/// Changes to a live call; `None` leaves a column as it is.
#[derive(Debug, Clone, Default)]
pub struct CallUpdate {
    pub outcome: Option<CallOutcome>,
    pub sid: Option<String>,
    pub answered_by: Option<String>,
    pub answered_at: Option<i64>,
    pub connected_at: Option<i64>,
    pub agent: Option<UserId>,
    /// Set to end the call.
    pub ended_at: Option<i64>,
}
