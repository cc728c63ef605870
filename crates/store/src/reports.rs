//! Report queries (DESIGN §2.7, issue 15): the call log (filtered, sorted, keyset pages and the
//! chunks of its CSV export), the tallies every report is built from (outcomes, seed statuses,
//! dispositions, ring, talk, hold and wrap-up times over a range of calls), a campaign's contacts
//! by their seed status in the current cycle, and an agent's time in each voice state. Every
//! figure is a query over the stored calls, so a report never disagrees with the call log: the
//! tallies and the log read the same rows through the same filter.

use crate::{Result, Store};
use palera_core::contact::escape_formula;
use palera_core::ids::{CallId, CampaignId, ClientId, ContactId, UserId};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::BTreeMap;

/// Rows per CSV export chunk.
pub const CALL_EXPORT_CHUNK: i64 = 2000;

const HOUR_MS: i64 = 3_600_000;

/// Which calls a report reads. Every field narrows; `None` leaves it open. Times are instants in
/// milliseconds (the caller turns the client's local dates into them), `to_ms` exclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CallFilter {
    pub campaign: Option<CampaignId>,
    pub agent: Option<UserId>,
    pub direction: Option<String>,
    /// The seed status: not_called, outbound, answered, abandoned.
    pub status: Option<String>,
    pub disposition: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

/// The order of the call log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallSort {
    #[default]
    NewestFirst,
    OldestFirst,
}

/// Where a page of the call log continues: the last row's placing instant and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CallCursor {
    pub placed_at: i64,
    pub id: i64,
}

impl CallCursor {
    /// The cursor as a query parameter, `placed_at.id`.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.placed_at, self.id)
    }

    /// Reads `placed_at.id`; `None` when malformed.
    pub fn decode(s: &str) -> Option<Self> {
        let (a, b) = s.split_once('.')?;
        Some(CallCursor {
            placed_at: a.parse().ok()?,
            id: b.parse().ok()?,
        })
    }
}

/// One line of the call log.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CallLogRow {
    pub id: CallId,
    pub client_id: ClientId,
    pub campaign_id: Option<CampaignId>,
    pub campaign: Option<String>,
    pub direction: String,
    pub agent_id: Option<UserId>,
    pub agent: Option<String>,
    pub contact_id: Option<ContactId>,
    pub contact: Option<String>,
    pub phone: String,
    /// The seed status (DESIGN §2.2).
    pub status: String,
    /// The detailed outcome.
    pub outcome: String,
    pub answered_by: Option<String>,
    pub disposition: Option<String>,
    pub placed_at: i64,
    pub answered_at: Option<i64>,
    pub connected_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// From placing to the answer (or to the end when nobody answered), milliseconds.
    pub ring_ms: Option<i64>,
    /// From the agent's connection to the end, milliseconds.
    pub talk_ms: Option<i64>,
    /// Time on hold (hold → resume or end), milliseconds.
    pub hold_ms: i64,
    /// From the end of the call to its disposition, milliseconds.
    pub wrap_up_ms: Option<i64>,
    /// The page of the call's recording (player and transcript), when it was recorded.
    pub recording_url: Option<String>,
    /// The call's post-call transcript on that page, once stored.
    pub transcript_url: Option<String>,
}

/// Figures over a set of calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Tally {
    pub calls: i64,
    pub outbound: i64,
    pub inbound: i64,
    /// Outbound campaign or manual dials.
    pub dialled: i64,
    /// Seed status Answered: a person reached an agent.
    pub answered: i64,
    /// Seed status Abandoned (every unsuccessful outcome).
    pub abandoned_status: i64,
    /// Persons who answered and reached no agent within the grace (the abandon rule's numerator).
    pub abandoned: i64,
    /// Persons who answered (the abandon rule's denominator).
    pub live_answered: i64,
    pub voicemails_left: i64,
    pub machine: i64,
    pub no_answer: i64,
    pub busy: i64,
    pub failed: i64,
    pub in_flight: i64,
    pub ring_ms: i64,
    pub talk_ms: i64,
    pub hold_ms: i64,
    pub wrap_up_ms: i64,
    /// Calls with a wrap-up (a disposition after the end).
    pub wrapped: i64,
    /// Calls an agent talked on.
    pub talked: i64,
    /// Outcome → calls.
    pub outcomes: BTreeMap<String, i64>,
    /// Disposition label → calls.
    pub dispositions: BTreeMap<String, i64>,
}

impl Tally {
    /// Abandoned persons per hundred who answered; 0 when nobody answered.
    pub fn abandon_rate_pct(&self) -> f64 {
        if self.live_answered == 0 {
            0.0
        } else {
            100.0 * self.abandoned as f64 / self.live_answered as f64
        }
    }
}

/// A campaign's contacts in the current cycle.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ContactFigures {
    pub total: i64,
    /// Active contacts with no attempt in the current cycle.
    pub not_called: i64,
    pub completed: i64,
    pub exhausted: i64,
    pub dnc: i64,
    pub attempts: i64,
}

/// A campaign's contacts of one list (stage).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ListFigures {
    pub list_id: Option<i64>,
    pub list: Option<String>,
    pub contacts: ContactFigures,
}

/// A campaign contact with its seed status for the current cycle.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CycleContact {
    pub contact_id: ContactId,
    pub name: String,
    pub phone: String,
    pub attempts: i64,
    /// The contact's dialing status: active, completed, exhausted, dnc, moved.
    pub contact_status: String,
    /// not_called, outbound, answered or abandoned.
    pub seed_status: String,
    pub last_cycle: Option<String>,
}

/// A stretch of an agent's voice state.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StateSpan {
    pub state: String,
    pub from_ms: i64,
    pub to_ms: i64,
}

/// What a compliance report needs of one outbound campaign dial.
#[derive(Debug, Clone, PartialEq)]
pub struct DialFact {
    pub call: CallId,
    pub placed_at: i64,
    pub phone: String,
    pub time_zone: Option<String>,
    /// The number was on the client's DNC list when the call was placed.
    pub on_dnc: bool,
    /// A person answered and no agent came (abandoned_no_agent with a human answer).
    pub abandoned_live: bool,
    pub answered_at: Option<i64>,
    /// When the identification message was played, if it was.
    pub identified_at: Option<i64>,
}

const LOG_COLUMNS: &str = "c.id, c.client_id, c.campaign_id, c.contact_id, c.agent_id, c.direction, c.phone, \
    c.status, c.outcome, c.answered_by, c.placed_at, c.answered_at, c.connected_at, c.ended_at, c.disposition, \
    cp.name AS campaign_name, u.name AS agent_name, \
    CASE WHEN ct.id IS NULL THEN NULL ELSE TRIM(ct.first_name || ' ' || ct.last_name) END AS contact_name, \
    c.disposed_at, CAST(c.hold_ms + CASE WHEN c.ended_at >= c.hold_since THEN c.ended_at - c.hold_since ELSE 0 END AS BIGINT) AS hold_total, \
    (SELECT r.transcript_status FROM recordings r WHERE r.call_id = c.id) AS recording_transcript";

const LOG_JOINS: &str = "FROM calls c LEFT JOIN campaigns cp ON cp.id = c.campaign_id \
    LEFT JOIN users u ON u.id = c.agent_id LEFT JOIN contacts ct ON ct.id = c.contact_id";

/// The WHERE clause of a filter and its bound values, numbered from `$2` (`$1` is the client).
struct Where {
    sql: String,
    ints: Vec<(usize, i64)>,
    texts: Vec<(usize, String)>,
    next: usize,
}

impl Where {
    fn new(f: &CallFilter) -> Self {
        let mut w = Where {
            sql: "c.client_id = $1".into(),
            ints: Vec::new(),
            texts: Vec::new(),
            next: 2,
        };
        if let Some(c) = f.campaign {
            w.int("c.campaign_id =", c.0);
        }
        if let Some(a) = f.agent {
            w.int("c.agent_id =", a.0);
        }
        if let Some(d) = &f.direction {
            w.text("c.direction =", d);
        }
        if let Some(s) = &f.status {
            w.text("c.status =", s);
        }
        if let Some(d) = &f.disposition {
            w.text("c.disposition =", d);
        }
        if let Some(t) = f.from_ms {
            w.int("c.placed_at >=", t);
        }
        if let Some(t) = f.to_ms {
            w.int("c.placed_at <", t);
        }
        w
    }

    /// The same clause over `call_hours`, whose time column is the hour of placing: the filter's
    /// `from_ms` / `to_ms` must then hold hours. Not for an agent filter (hours have no agent).
    fn on_hours(mut self) -> Self {
        self.sql = self.sql.replace("c.placed_at", "c.hour");
        self
    }

    fn int(&mut self, cond: &str, v: i64) {
        self.sql.push_str(&format!(" AND {cond} ${}", self.next));
        self.ints.push((self.next, v));
        self.next += 1;
    }

    fn text(&mut self, cond: &str, v: &str) {
        self.sql.push_str(&format!(" AND {cond} ${}", self.next));
        self.texts.push((self.next, v.to_string()));
        self.next += 1;
    }

    /// Binds the client and the filter's values in placeholder order.
    fn bind<'q>(
        &'q self,
        client: ClientId,
        mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        q = q.bind(client.0);
        for n in 2..self.next {
            if let Some((_, v)) = self.ints.iter().find(|(i, _)| *i == n) {
                q = q.bind(*v);
            } else if let Some((_, v)) = self.texts.iter().find(|(i, _)| *i == n) {
                q = q.bind(v.as_str());
            }
        }
        q
    }
}

fn span(from: Option<i64>, to: Option<i64>) -> Option<i64> {
    match (from, to) {
        (Some(a), Some(b)) if b >= a => Some(b - a),
        _ => None,
    }
}

fn log_row(r: &sqlx::any::AnyRow) -> Result<CallLogRow> {
    let opt = |c: &str| -> Result<Option<i64>> { Ok(r.try_get(c)?) };
    let placed_at: i64 = r.try_get("placed_at")?;
    let answered_at = opt("answered_at")?;
    let connected_at = opt("connected_at")?;
    let ended_at = opt("ended_at")?;
    // The recording page of a recorded call; its transcript once the post-call one is stored.
    let recording: Option<String> = r.try_get("recording_transcript")?;
    let id: i64 = r.try_get("id")?;
    let page = format!(
        "/clients/{}/calls/{id}/recording",
        r.try_get::<i64, _>("client_id")?
    );
    Ok(CallLogRow {
        id: CallId(id),
        client_id: ClientId(r.try_get("client_id")?),
        campaign_id: opt("campaign_id")?.map(CampaignId),
        campaign: r.try_get("campaign_name")?,
        direction: r.try_get("direction")?,
        agent_id: opt("agent_id")?.map(UserId),
        agent: r.try_get("agent_name")?,
        contact_id: opt("contact_id")?.map(ContactId),
        contact: r.try_get("contact_name")?,
        phone: r.try_get("phone")?,
        status: r.try_get("status")?,
        outcome: r.try_get("outcome")?,
        answered_by: r.try_get("answered_by")?,
        disposition: r.try_get("disposition")?,
        placed_at,
        answered_at,
        connected_at,
        ended_at,
        ring_ms: span(Some(placed_at), answered_at.or(ended_at)),
        talk_ms: span(connected_at, ended_at),
        hold_ms: r.try_get("hold_total")?,
        wrap_up_ms: span(ended_at, opt("disposed_at")?),
        recording_url: recording.as_ref().map(|_| page.clone()),
        transcript_url: recording
            .filter(|t| t == "done")
            .map(|_| format!("{page}#transcript-{id}")),
    })
}

impl Store {
    /// One page of the call log: the client's calls matching `filter` in `sort` order after
    /// `after`, at most `limit`, and the cursor of the next page (`None` at the end).
    pub async fn call_log(
        &self,
        client: ClientId,
        filter: &CallFilter,
        sort: CallSort,
        after: Option<CallCursor>,
        limit: i64,
    ) -> Result<(Vec<CallLogRow>, Option<CallCursor>)> {
        let mut w = Where::new(filter);
        let (cmp, dir) = match sort {
            CallSort::NewestFirst => ("<", "DESC"),
            CallSort::OldestFirst => (">", "ASC"),
        };
        if let Some(a) = after {
            let (p, i) = (w.next, w.next + 1);
            w.sql.push_str(&format!(
                " AND (c.placed_at {cmp} ${p} OR (c.placed_at = ${p} AND c.id {cmp} ${i}))"
            ));
            w.ints.push((p, a.placed_at));
            w.ints.push((i, a.id));
            w.next += 2;
        }
        let sql = format!(
            "SELECT {LOG_COLUMNS} {LOG_JOINS} WHERE {} ORDER BY c.placed_at {dir}, c.id {dir} LIMIT {}",
            w.sql,
            limit.clamp(1, 10_000) + 1
        );
        let rows = w
            .bind(client, sqlx::query(&sql))
            .fetch_all(self.pool())
            .await?;
        let mut out = rows.iter().map(log_row).collect::<Result<Vec<_>>>()?;
        let next = if out.len() as i64 > limit.clamp(1, 10_000) {
            out.pop();
            out.last().map(|r| CallCursor {
                placed_at: r.placed_at,
                id: r.id.0,
            })
        } else {
            None
        };
        Ok((out, next))
    }

    /// The figures over the client's calls matching `filter`. Without an agent filter, whole hours
    /// are read from `call_hours` (kept by triggers with the calls) and only the partial hours at
    /// the edges of the range from the calls themselves; the sum is the same either way.
    pub async fn tally(&self, client: ClientId, filter: &CallFilter) -> Result<Tally> {
        let mut t = Tally::default();
        if filter.agent.is_some() {
            self.tally_calls(client, filter, &mut t).await?;
            return Ok(t);
        }
        let first = filter
            .from_ms
            .map(|f| (f + HOUR_MS - 1).div_euclid(HOUR_MS));
        let end = filter.to_ms.map(|t| t.div_euclid(HOUR_MS));
        if let (Some(a), Some(b)) = (first, end) {
            if a >= b {
                // Inside one hour (or empty): the calls alone.
                self.tally_calls(client, filter, &mut t).await?;
                return Ok(t);
            }
        }
        self.tally_hours(client, filter, first, end, &mut t).await?;
        if let (Some(from), Some(a)) = (filter.from_ms, first) {
            if from < a * HOUR_MS {
                let edge = CallFilter {
                    to_ms: Some(a * HOUR_MS),
                    ..filter.clone()
                };
                self.tally_calls(client, &edge, &mut t).await?;
            }
        }
        if let (Some(to), Some(b)) = (filter.to_ms, end) {
            if to > b * HOUR_MS {
                let edge = CallFilter {
                    from_ms: Some(b * HOUR_MS),
                    ..filter.clone()
                };
                self.tally_calls(client, &edge, &mut t).await?;
            }
        }
        Ok(t)
    }

    /// [`Store::tally`] counted from the calls themselves (the reference the rollup must equal).
    pub async fn tally_from_calls(&self, client: ClientId, filter: &CallFilter) -> Result<Tally> {
        let mut t = Tally::default();
        self.tally_calls(client, filter, &mut t).await?;
        Ok(t)
    }

    /// Adds the figures of the calls matching `filter`, read from the calls.
    async fn tally_calls(
        &self,
        client: ClientId,
        filter: &CallFilter,
        t: &mut Tally,
    ) -> Result<()> {
        let w = Where::new(filter);
        let sql = format!(
            "SELECT c.direction, c.status, c.outcome, c.answered_by, c.disposition, COUNT(*) AS n, \
             CAST(SUM(CASE WHEN COALESCE(c.answered_at, c.ended_at) >= c.placed_at THEN COALESCE(c.answered_at, c.ended_at) - c.placed_at ELSE 0 END) AS BIGINT) AS ring, \
             CAST(SUM(CASE WHEN c.ended_at >= c.connected_at THEN c.ended_at - c.connected_at ELSE 0 END) AS BIGINT) AS talk, \
             CAST(SUM(CASE WHEN c.connected_at IS NOT NULL AND c.ended_at IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS talked, \
             CAST(SUM(c.hold_ms + CASE WHEN c.ended_at >= c.hold_since THEN c.ended_at - c.hold_since ELSE 0 END) AS BIGINT) AS hold, \
             CAST(SUM(CASE WHEN c.disposed_at >= c.ended_at THEN c.disposed_at - c.ended_at ELSE 0 END) AS BIGINT) AS wrap, \
             CAST(SUM(CASE WHEN c.disposed_at IS NOT NULL AND c.ended_at IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS wrapped \
             FROM calls c WHERE {} GROUP BY c.direction, c.status, c.outcome, c.answered_by, c.disposition",
            w.sql
        );
        let rows = w
            .bind(client, sqlx::query(&sql))
            .fetch_all(self.pool())
            .await?;
        rows.iter().try_for_each(|r| add_tally_row(t, r))
    }

    /// Adds the figures of whole hours `[first, end)` (either open) from `call_hours`.
    async fn tally_hours(
        &self,
        client: ClientId,
        filter: &CallFilter,
        first: Option<i64>,
        end: Option<i64>,
        t: &mut Tally,
    ) -> Result<()> {
        let hours = CallFilter {
            from_ms: first,
            to_ms: end,
            ..filter.clone()
        };
        let w = Where::new(&hours).on_hours();
        let sql = format!(
            "SELECT c.direction, c.status, c.outcome, NULLIF(c.answered_by, '') AS answered_by, \
             NULLIF(c.disposition, '') AS disposition, CAST(SUM(c.n) AS BIGINT) AS n, \
             CAST(SUM(c.ring_ms) AS BIGINT) AS ring, CAST(SUM(c.talk_ms) AS BIGINT) AS talk, \
             CAST(SUM(c.talked) AS BIGINT) AS talked, CAST(SUM(c.hold_ms) AS BIGINT) AS hold, \
             CAST(SUM(c.wrap_ms) AS BIGINT) AS wrap, CAST(SUM(c.wrapped) AS BIGINT) AS wrapped \
             FROM call_hours c WHERE {} AND c.n <> 0 \
             GROUP BY c.direction, c.status, c.outcome, c.answered_by, c.disposition",
            w.sql
        );
        let rows = w
            .bind(client, sqlx::query(&sql))
            .fetch_all(self.pool())
            .await?;
        rows.iter().try_for_each(|r| add_tally_row(t, r))
    }

    /// The CSV lines of one chunk of the call log export and the cursor to continue after.
    pub async fn call_log_chunk(
        &self,
        client: ClientId,
        filter: &CallFilter,
        sort: CallSort,
        after: Option<CallCursor>,
    ) -> Result<(Vec<u8>, Option<CallCursor>)> {
        let (rows, next) = self
            .call_log(client, filter, sort, after, CALL_EXPORT_CHUNK)
            .await?;
        let mut w = csv::Writer::from_writer(Vec::new());
        for r in &rows {
            write_csv(&mut w, &call_cells(r));
        }
        Ok((w.into_inner().unwrap_or_default(), next))
    }

    /// The distinct time zones of the contacts of a campaign of `client` (`None` for contacts
    /// without one; none for another client's campaign, as for an unknown one).
    pub async fn campaign_time_zones(
        &self,
        client: ClientId,
        campaign: CampaignId,
    ) -> Result<Vec<Option<String>>> {
        let rows = sqlx::query(
            "SELECT DISTINCT time_zone FROM campaign_contacts WHERE campaign_id = $1 AND client_id = $2",
        )
        .bind(campaign.0)
        .bind(client.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<Option<String>, _>("time_zone")?))
            .collect()
    }

    /// The contact figures of a campaign of `client` for the cycle of `today` (`YYYY-MM-DD`),
    /// overall and by the contact's list (nothing for another client's campaign, as for an
    /// unknown one).
    pub async fn campaign_contact_figures(
        &self,
        client: ClientId,
        campaign: CampaignId,
        today: &CycleDates,
    ) -> Result<(ContactFigures, Vec<ListFigures>)> {
        let cycle = today.sql(4);
        let sql = format!(
            "SELECT ct.list_id, l.name AS list_name, cc.status, \
             CAST(CASE WHEN cc.last_cycle = {cycle} THEN 0 ELSE 1 END AS BIGINT) AS pending, COUNT(*) AS n, CAST(SUM(cc.attempts) AS BIGINT) AS attempts \
             FROM campaign_contacts cc LEFT JOIN contacts ct ON ct.id = cc.contact_id \
             LEFT JOIN lists l ON l.id = ct.list_id WHERE cc.campaign_id = $1 AND cc.client_id = $3 \
             GROUP BY ct.list_id, l.name, cc.status, CASE WHEN cc.last_cycle = {cycle} THEN 0 ELSE 1 END \
             ORDER BY ct.list_id"
        );
        let query = sqlx::query(&sql)
            .bind(campaign.0)
            .bind(&today.default)
            .bind(client.0);
        let rows = today.bind(query).fetch_all(self.pool()).await?;
        let mut all = ContactFigures::default();
        let mut lists: Vec<ListFigures> = Vec::new();
        for r in &rows {
            let list_id: Option<i64> = r.try_get("list_id")?;
            let list: Option<String> = r.try_get("list_name")?;
            let status: String = r.try_get("status")?;
            let pending: i64 = r.try_get("pending")?;
            let n: i64 = r.try_get("n")?;
            let attempts: i64 = r.try_get::<Option<i64>, _>("attempts")?.unwrap_or(0);
            let idx = match lists.iter().position(|l| l.list_id == list_id) {
                Some(i) => i,
                None => {
                    lists.push(ListFigures {
                        list_id,
                        list,
                        contacts: ContactFigures::default(),
                    });
                    lists.len() - 1
                }
            };
            for f in [&mut all, &mut lists[idx].contacts] {
                add_contacts(f, &status, pending == 1, n, attempts);
            }
        }
        Ok((all, lists))
    }

    /// A page of the contacts of a campaign of `client` with their seed status in the cycle of
    /// `today`, optionally only those of `seed_status`, after contact id `after` (none for
    /// another client's campaign, as for an unknown one).
    pub async fn campaign_cycle_contacts(
        &self,
        client: ClientId,
        campaign: CampaignId,
        today: &CycleDates,
        seed_status: Option<&str>,
        after: i64,
        limit: i64,
    ) -> Result<Vec<CycleContact>> {
        let cycle = today.sql(7);
        let status_expr = format!(
            "CASE WHEN cc.last_cycle IS NULL OR cc.last_cycle <> {cycle} THEN 'not_called' \
             ELSE COALESCE((SELECT k.status FROM calls k WHERE k.contact_id = cc.contact_id \
             AND k.campaign_id = cc.campaign_id ORDER BY k.id DESC LIMIT 1), 'not_called') END"
        );
        let sql = format!(
            "SELECT * FROM (SELECT cc.contact_id, cc.name, cc.phone, cc.attempts, cc.status, cc.last_cycle, \
             {status_expr} AS seed_status FROM campaign_contacts cc WHERE cc.campaign_id = $1 AND cc.contact_id > $3 AND cc.client_id = $6) x \
             WHERE ($4 = '' OR x.seed_status = $4) ORDER BY x.contact_id LIMIT $5"
        );
        let query = sqlx::query(&sql)
            .bind(campaign.0)
            .bind(&today.default)
            .bind(after)
            .bind(seed_status.unwrap_or(""))
            .bind(limit.clamp(1, 1000))
            .bind(client.0);
        let rows = today.bind(query).fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(CycleContact {
                    contact_id: ContactId(r.try_get("contact_id")?),
                    name: r.try_get("name")?,
                    phone: r.try_get("phone")?,
                    attempts: r.try_get("attempts")?,
                    contact_status: r.try_get("status")?,
                    seed_status: r.try_get("seed_status")?,
                    last_cycle: r.try_get("last_cycle")?,
                })
            })
            .collect()
    }

    /// An agent's voice states between `from_ms` and `to_ms`, as spans (the state in force at
    /// `from_ms` opens the first; the last runs to `to_ms`).
    pub async fn voice_state_spans(
        &self,
        user: UserId,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<StateSpan>> {
        let before = sqlx::query(
            "SELECT state FROM voice_state_changes WHERE user_id = $1 AND at < $2 ORDER BY at DESC, id DESC LIMIT 1",
        )
        .bind(user.0)
        .bind(from_ms)
        .fetch_optional(self.pool())
        .await?;
        let rows = sqlx::query(
            "SELECT state, at FROM voice_state_changes WHERE user_id = $1 AND at >= $2 AND at < $3 ORDER BY at, id",
        )
        .bind(user.0)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(self.pool())
        .await?;
        let mut spans: Vec<StateSpan> = Vec::new();
        if let Some(r) = before {
            spans.push(StateSpan {
                state: r.try_get("state")?,
                from_ms,
                to_ms,
            });
        }
        for r in &rows {
            let at: i64 = r.try_get("at")?;
            if let Some(last) = spans.last_mut() {
                last.to_ms = at;
            }
            spans.push(StateSpan {
                state: r.try_get("state")?,
                from_ms: at,
                to_ms,
            });
        }
        spans.retain(|s| s.to_ms > s.from_ms);
        Ok(spans)
    }

    /// The outbound dials of a campaign of `client` placed in `[from_ms, to_ms)`, with what a
    /// compliance report checks of each (none for another client's campaign, as for an unknown
    /// one).
    pub async fn campaign_dial_facts(
        &self,
        client: ClientId,
        campaign: CampaignId,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<DialFact>> {
        let rows = sqlx::query(
            "SELECT c.id, c.placed_at, c.phone, cc.time_zone, c.answered_at, \
             CAST(CASE WHEN c.outcome = 'abandoned_no_agent' AND c.answered_by = 'human' THEN 1 ELSE 0 END AS BIGINT) AS abandoned_live, \
             CAST(CASE WHEN EXISTS (SELECT 1 FROM dnc_numbers d WHERE d.client_id = c.client_id AND d.number = c.phone \
               AND d.created_at <= c.placed_at) THEN 1 ELSE 0 END AS BIGINT) AS on_dnc, \
             (SELECT MIN(e.at) FROM call_events e WHERE e.call_id = c.id AND e.kind = 'identification_played') AS identified_at \
             FROM calls c LEFT JOIN campaign_contacts cc ON cc.campaign_id = c.campaign_id AND cc.contact_id = c.contact_id \
             WHERE c.campaign_id = $1 AND c.direction = 'outbound' AND c.placed_at >= $2 AND c.placed_at < $3 AND c.client_id = $4 \
             ORDER BY c.placed_at, c.id",
        )
        .bind(campaign.0)
        .bind(from_ms)
        .bind(to_ms)
        .bind(client.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DialFact {
                    call: CallId(r.try_get("id")?),
                    placed_at: r.try_get("placed_at")?,
                    phone: r.try_get("phone")?,
                    time_zone: r.try_get("time_zone")?,
                    on_dnc: r.try_get::<i64, _>("on_dnc")? == 1,
                    abandoned_live: r.try_get::<i64, _>("abandoned_live")? == 1,
                    answered_at: r.try_get("answered_at")?,
                    identified_at: r.try_get("identified_at")?,
                })
            })
            .collect()
    }
}

/// Adds one grouped row (direction, status, outcome, answered_by, disposition and sums).
fn add_tally_row(t: &mut Tally, r: &sqlx::any::AnyRow) -> Result<()> {
    let n: i64 = r.try_get("n")?;
    let sum = |c: &str| -> Result<i64> { Ok(r.try_get::<Option<i64>, _>(c)?.unwrap_or(0)) };
    t.calls += n;
    t.ring_ms += sum("ring")?;
    t.talk_ms += sum("talk")?;
    t.talked += sum("talked")?;
    t.hold_ms += sum("hold")?;
    t.wrap_up_ms += sum("wrap")?;
    t.wrapped += sum("wrapped")?;
    let by: Option<String> = r.try_get("answered_by")?;
    let status: String = r.try_get("status")?;
    let direction: String = r.try_get("direction")?;
    let outcome: String = r.try_get("outcome")?;
    add_row(t, &direction, &status, &outcome, by.as_deref(), n);
    if let Some(d) = r.try_get::<Option<String>, _>("disposition")? {
        *t.dispositions.entry(d).or_default() += n;
    }
    Ok(())
}

fn add_row(t: &mut Tally, direction: &str, status: &str, outcome: &str, by: Option<&str>, n: i64) {
    if direction == "inbound" {
        t.inbound += n;
    } else {
        t.outbound += n;
        t.dialled += n;
    }
    match status {
        "answered" => t.answered += n,
        "abandoned" => t.abandoned_status += n,
        "outbound" => t.in_flight += n,
        _ => {}
    }
    let human = by == Some("human");
    match outcome {
        "completed" | "voicemail_dropped" if human => t.live_answered += n,
        "abandoned_no_agent" if human => {
            t.live_answered += n;
            t.abandoned += n;
        }
        _ => {}
    }
    match outcome {
        "voicemail_dropped" => t.voicemails_left += n,
        "machine" => t.machine += n,
        "no_answer" => t.no_answer += n,
        "busy" => t.busy += n,
        "failed" => t.failed += n,
        _ => {}
    }
    *t.outcomes.entry(outcome.to_string()).or_default() += n;
}

fn add_contacts(f: &mut ContactFigures, status: &str, pending: bool, n: i64, attempts: i64) {
    f.total += n;
    f.attempts += attempts;
    match status {
        "active" if pending => f.not_called += n,
        "completed" => f.completed += n,
        "exhausted" => f.exhausted += n,
        "dnc" => f.dnc += n,
        _ => {}
    }
}

/// The columns of the call log export.
pub const CALL_CSV_HEADERS: &[&str] = &[
    "call_id",
    "placed_at",
    "campaign",
    "direction",
    "agent",
    "contact",
    "phone",
    "status",
    "outcome",
    "disposition",
    "ring_seconds",
    "talk_seconds",
    "hold_seconds",
    "wrap_up_seconds",
    "recording_url",
    "transcript_url",
];

fn write_csv(w: &mut csv::Writer<Vec<u8>>, cells: &[String]) {
    let guarded: Vec<_> = cells.iter().map(|c| escape_formula(c)).collect();
    // Writing into a Vec cannot fail.
    let _ = w.write_record(guarded.iter().map(|c| c.as_bytes()));
}

/// The header line of the call log export.
pub fn call_csv_header() -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let cells: Vec<String> = CALL_CSV_HEADERS.iter().map(|s| s.to_string()).collect();
    write_csv(&mut w, &cells);
    w.into_inner().unwrap_or_default()
}

fn secs(ms: Option<i64>) -> String {
    ms.map(|m| format!("{:.1}", m as f64 / 1000.0))
        .unwrap_or_default()
}

fn call_cells(r: &CallLogRow) -> Vec<String> {
    let placed = chrono::DateTime::from_timestamp_millis(r.placed_at)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    vec![
        r.id.0.to_string(),
        placed,
        r.campaign.clone().unwrap_or_default(),
        r.direction.clone(),
        r.agent.clone().unwrap_or_default(),
        r.contact.clone().unwrap_or_default(),
        r.phone.clone(),
        r.status.clone(),
        r.outcome.clone(),
        r.disposition.clone().unwrap_or_default(),
        secs(r.ring_ms),
        secs(r.talk_ms),
        secs(Some(r.hold_ms)),
        secs(r.wrap_up_ms),
        r.recording_url.clone().unwrap_or_default(),
        r.transcript_url.clone().unwrap_or_default(),
    ]
}

impl Store {
    /// Calls matching `filter` per hour after `origin_ms`: (hours since the origin, calls). With
    /// the origin on a whole hour and no agent filter, the whole hours of the range are read from
    /// `call_hours` and only a partial hour at either edge from the calls.
    pub async fn hourly_counts(
        &self,
        client: ClientId,
        filter: &CallFilter,
        origin_ms: i64,
    ) -> Result<Vec<(i64, i64)>> {
        let first = filter
            .from_ms
            .map(|f| (f + HOUR_MS - 1).div_euclid(HOUR_MS));
        let end = filter.to_ms.map(|t| t.div_euclid(HOUR_MS));
        let within_an_hour = matches!((first, end), (Some(a), Some(b)) if a >= b);
        if filter.agent.is_some() || origin_ms.rem_euclid(HOUR_MS) != 0 || within_an_hour {
            return self
                .hourly_counts_from_calls(client, filter, origin_ms)
                .await;
        }
        let hours = CallFilter {
            from_ms: first,
            to_ms: end,
            ..filter.clone()
        };
        let w = Where::new(&hours).on_hours();
        let sql = format!(
            "SELECT c.hour AS h, CAST(SUM(c.n) AS BIGINT) AS n FROM call_hours c WHERE {} \
             GROUP BY c.hour HAVING SUM(c.n) <> 0",
            w.sql
        );
        let rows = w
            .bind(client, sqlx::query(&sql))
            .fetch_all(self.pool())
            .await?;
        let mut out = BTreeMap::new();
        for r in &rows {
            let h = r.try_get::<i64, _>("h")? - origin_ms / HOUR_MS;
            *out.entry(h).or_insert(0) += r.try_get::<i64, _>("n")?;
        }
        let mut edges = Vec::new();
        if let (Some(from), Some(a)) = (filter.from_ms, first) {
            edges.push((from, a * HOUR_MS));
        }
        if let (Some(to), Some(b)) = (filter.to_ms, end) {
            edges.push((b * HOUR_MS, to));
        }
        for (from_ms, to_ms) in edges.into_iter().filter(|(a, b)| a < b) {
            let edge = CallFilter {
                from_ms: Some(from_ms),
                to_ms: Some(to_ms),
                ..filter.clone()
            };
            for (h, n) in self
                .hourly_counts_from_calls(client, &edge, origin_ms)
                .await?
            {
                *out.entry(h).or_insert(0) += n;
            }
        }
        Ok(out.into_iter().collect())
    }

    /// [`Store::hourly_counts`] counted from the calls themselves (the reference).
    pub async fn hourly_counts_from_calls(
        &self,
        client: ClientId,
        filter: &CallFilter,
        origin_ms: i64,
    ) -> Result<Vec<(i64, i64)>> {
        let mut w = Where::new(filter);
        let o = w.next;
        w.ints.push((o, origin_ms));
        w.next += 1;
        let sql = format!(
            "SELECT CAST((c.placed_at - ${o}) / 3600000 AS BIGINT) AS h, COUNT(*) AS n FROM calls c \
             WHERE {} GROUP BY CAST((c.placed_at - ${o}) / 3600000 AS BIGINT) ORDER BY h",
            w.sql
        );
        let rows = w
            .bind(client, sqlx::query(&sql))
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("h")?, r.try_get("n")?)))
            .collect()
    }
}

/// Which date is "today" for a campaign's cycle, per contact time zone: a contact's cycle is its
/// own calendar day (DESIGN §1), so a report compares each contact's last cycle with the date in
/// its zone now. Contacts without a zone (or with one not listed) use `default`.
#[derive(Debug, Clone, Default)]
pub struct CycleDates {
    /// `YYYY-MM-DD` for contacts without a listed zone.
    pub default: String,
    /// (time zone name, `YYYY-MM-DD` there now).
    pub by_zone: Vec<(String, String)>,
}

impl CycleDates {
    /// The SQL expression for the contact's "today": `$2` is `default`, the zones are bound from
    /// `$first` on by [`CycleDates::bind`].
    fn sql(&self, first: usize) -> String {
        if self.by_zone.is_empty() {
            return "$2".into();
        }
        let mut s = String::from("(CASE cc.time_zone");
        for i in 0..self.by_zone.len() {
            let p = first + 2 * i;
            s.push_str(&format!(" WHEN ${p} THEN ${}", p + 1));
        }
        s.push_str(" ELSE $2 END)");
        s
    }

    fn bind<'q>(
        &'q self,
        mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        for (zone, date) in &self.by_zone {
            q = q.bind(zone).bind(date);
        }
        q
    }
}
