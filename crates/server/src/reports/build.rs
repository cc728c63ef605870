//! The reports themselves, built from the store's queries: date ranges read in the client's time
//! zone, campaign performance, agent activity (one agent, the team) and the compliance report.
//! The JSON API and the pages both serve what is built here, so they never disagree.

use crate::app::App;
use crate::http::error::ApiError;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use palera_core::campaign::window::{local_date, start_of_local_day, TimeZoneSource};
use palera_core::ids::{CampaignId, ClientId, UserId};
use palera_core::phone::PhoneNumber;
use palera_store::campaigns::Campaign;
use palera_store::reports::{CallFilter, ContactFigures, ListFigures, StateSpan, Tally};
use palera_store::users::User;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

const DAY_MS: i64 = 86_400_000;
/// The identification message of an abandoned call must start within 2 s of the answer.
const IDENTIFICATION_GRACE_MS: i64 = 2_000;
/// The stored `identification_played` instant is taken after the engine has sent the message to
/// the carrier and written the call's outcome, so it trails the message's start by those writes;
/// the compliance check allows this much for them.
const STORE_WRITE_SLACK_MS: i64 = 500;
/// The longest range a report covers.
pub const MAX_DAYS: i64 = 92;

/// A range of whole days in the client's zone, `from` and `to` inclusive.
#[derive(Debug, Clone)]
pub struct Range {
    pub tz: Tz,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub from_ms: i64,
    pub to_ms: i64,
}

impl Range {
    /// Reads `from` and `to` (`YYYY-MM-DD`, the client's dates); missing ends default to the
    /// `default_days` up to today.
    pub fn parse(
        tz: Tz,
        from: Option<&str>,
        to: Option<&str>,
        now_ms: i64,
        default_days: i64,
    ) -> Result<Self, ApiError> {
        let date = |field: &str, v: &str| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map_err(|_| ApiError::invalid(field, format!("{v:?} is not a date (YYYY-MM-DD)")))
        };
        let today = local_date(tz, from_ms(now_ms));
        let to = match to.filter(|s| !s.is_empty()) {
            Some(v) => date("to", v)?,
            None => today,
        };
        let from = match from.filter(|s| !s.is_empty()) {
            Some(v) => date("from", v)?,
            None => to - Duration::days(default_days - 1),
        };
        if from > to {
            return Err(ApiError::invalid("from", "must not be after to"));
        }
        if (to - from).num_days() >= MAX_DAYS {
            return Err(ApiError::invalid(
                "from",
                format!("a report covers at most {MAX_DAYS} days"),
            ));
        }
        Ok(Self::days(tz, from, to))
    }

    /// The range of days `from..=to` in `tz`.
    pub fn days(tz: Tz, from: NaiveDate, to: NaiveDate) -> Self {
        Range {
            tz,
            from,
            to,
            from_ms: start_of_local_day(tz, from).timestamp_millis(),
            to_ms: start_of_local_day(tz, to + Duration::days(1)).timestamp_millis(),
        }
    }

    /// Each day of the range with its bounds in milliseconds.
    pub fn each_day(&self) -> Vec<(NaiveDate, i64, i64)> {
        let mut out = Vec::new();
        let mut d = self.from;
        while d <= self.to {
            let next = d + Duration::days(1);
            out.push((
                d,
                start_of_local_day(self.tz, d).timestamp_millis(),
                start_of_local_day(self.tz, next).timestamp_millis(),
            ));
            d = next;
        }
        out
    }
}

fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The client's zone (UTC when the stored name is unknown).
pub async fn client_zone(app: &App, client: ClientId) -> Result<Tz, ApiError> {
    let c = app.store.client(client).await?;
    Ok(c.time_zone.parse().unwrap_or(Tz::UTC))
}

fn pct(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (10_000.0 * part as f64 / whole as f64).round() / 100.0
    }
}

fn avg(total: i64, n: i64) -> i64 {
    if n == 0 {
        0
    } else {
        total / n
    }
}

/// One day of a campaign.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DayFigures {
    #[schema(value_type = String, format = Date)]
    pub day: NaiveDate,
    pub calls: Tally,
    pub abandon_rate_pct: f64,
}

/// Campaign performance over a range, the rolling 30 days and the campaign's life.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CampaignReport {
    pub campaign_id: CampaignId,
    pub campaign: String,
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    pub abandon_cap_pct: f64,
    /// The campaign's contacts in today's cycle (the client's date).
    pub contacts: ContactFigures,
    pub by_list: Vec<ListFigures>,
    pub attempts_per_contact: f64,
    pub period: Tally,
    pub period_abandon_rate_pct: f64,
    pub rolling_30_days: Tally,
    pub rolling_30_days_abandon_rate_pct: f64,
    pub life: Tally,
    pub life_abandon_rate_pct: f64,
    pub days: Vec<DayFigures>,
    /// Calls placed per hour of the client's day over the range (24 values).
    pub calls_per_hour: Vec<i64>,
}

fn rounded(t: &Tally) -> f64 {
    (t.abandon_rate_pct() * 100.0).round() / 100.0
}

/// Builds a campaign's report over `range`.
pub async fn campaign_report(
    app: &App,
    campaign: &Campaign,
    range: &Range,
) -> Result<CampaignReport, ApiError> {
    let store = &app.store;
    let client = campaign.client_id;
    let of = |from_ms: Option<i64>, to_ms: Option<i64>| CallFilter {
        campaign: Some(campaign.id),
        from_ms,
        to_ms,
        ..Default::default()
    };
    let now = app.now_ms();
    let today = cycle_dates(app, campaign, range.tz).await?;
    let (contacts, by_list) = store
        .campaign_contact_figures(client, campaign.id, &today)
        .await?;
    let period = store
        .tally(client, &of(Some(range.from_ms), Some(range.to_ms)))
        .await?;
    let rolling = store
        .tally(client, &of(Some(now - 30 * DAY_MS), None))
        .await?;
    let life = store.tally(client, &of(None, None)).await?;
    let mut days = Vec::new();
    for (day, a, b) in range.each_day() {
        let calls = store.tally(client, &of(Some(a), Some(b))).await?;
        days.push(DayFigures {
            day,
            abandon_rate_pct: rounded(&calls),
            calls,
        });
    }
    let calls_per_hour = per_hour(
        app,
        client,
        &of(Some(range.from_ms), Some(range.to_ms)),
        range,
    )
    .await?;
    Ok(CampaignReport {
        campaign_id: campaign.id,
        campaign: campaign.name.clone(),
        from: range.from,
        to: range.to,
        abandon_cap_pct: campaign.settings.abandon_cap_pct,
        attempts_per_contact: if contacts.total == 0 {
            0.0
        } else {
            (100.0 * contacts.attempts as f64 / contacts.total as f64).round() / 100.0
        },
        contacts,
        by_list,
        period_abandon_rate_pct: rounded(&period),
        period,
        rolling_30_days_abandon_rate_pct: rounded(&rolling),
        rolling_30_days: rolling,
        life_abandon_rate_pct: rounded(&life),
        life,
        days,
        calls_per_hour,
    })
}

/// Calls per hour of the client's day (0–23) over the range.
async fn per_hour(
    app: &App,
    client: ClientId,
    filter: &CallFilter,
    range: &Range,
) -> Result<Vec<i64>, ApiError> {
    use chrono::Timelike;
    let mut hours = vec![0; 24];
    for (h, n) in app
        .store
        .hourly_counts(client, filter, range.from_ms)
        .await?
    {
        let at = from_ms(range.from_ms + h * 3_600_000).with_timezone(&range.tz);
        hours[at.hour() as usize] += n;
    }
    Ok(hours)
}

/// What an agent did over a stretch of time.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct AgentFigures {
    /// Milliseconds in each voice state (ready, standby, offline).
    pub states_ms: BTreeMap<String, i64>,
    pub ringing_ms: i64,
    pub on_call_ms: i64,
    pub wrap_up_ms: i64,
    pub hold_ms: i64,
    pub calls_in: i64,
    pub calls_out: i64,
    pub avg_talk_ms: i64,
    pub avg_hold_ms: i64,
    pub avg_wrap_up_ms: i64,
    /// Time on calls and in wrap-up per hundred of the time Ready for Voice.
    pub occupancy_pct: f64,
    pub dispositions: BTreeMap<String, i64>,
    /// Calls talked on (the divisor of the average talk and hold).
    pub talked: i64,
    /// Calls wrapped up (the divisor of the average wrap-up).
    pub wrapped: i64,
}

impl AgentFigures {
    /// The figures of a team: times and counts added up, averages and occupancy over the sums.
    pub fn team<'a>(members: impl IntoIterator<Item = &'a AgentFigures>) -> AgentFigures {
        let mut t = AgentFigures::default();
        for m in members {
            for (k, v) in &m.states_ms {
                *t.states_ms.entry(k.clone()).or_default() += v;
            }
            for (k, v) in &m.dispositions {
                *t.dispositions.entry(k.clone()).or_default() += v;
            }
            t.ringing_ms += m.ringing_ms;
            t.on_call_ms += m.on_call_ms;
            t.wrap_up_ms += m.wrap_up_ms;
            t.hold_ms += m.hold_ms;
            t.calls_in += m.calls_in;
            t.calls_out += m.calls_out;
            t.talked += m.talked;
            t.wrapped += m.wrapped;
        }
        let ready = t.states_ms.get("ready").copied().unwrap_or(0);
        t.avg_talk_ms = avg(t.on_call_ms, t.talked);
        t.avg_hold_ms = avg(t.hold_ms, t.talked);
        t.avg_wrap_up_ms = avg(t.wrap_up_ms, t.wrapped);
        t.occupancy_pct = pct(t.on_call_ms + t.wrap_up_ms, ready);
        t
    }
}

/// One day of an agent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentDay {
    #[schema(value_type = String, format = Date)]
    pub day: NaiveDate,
    pub figures: AgentFigures,
}

/// An agent's activity over a range.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentActivity {
    pub agent_id: UserId,
    pub agent: String,
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    pub total: AgentFigures,
    pub days: Vec<AgentDay>,
    /// The voice states over the range, for the state timeline.
    pub spans: Vec<StateSpan>,
}

fn figures(t: &Tally, spans: &[StateSpan], from: i64, to: i64) -> AgentFigures {
    let mut states: BTreeMap<String, i64> = BTreeMap::new();
    for s in spans {
        let (a, b) = (s.from_ms.max(from), s.to_ms.min(to));
        if b > a {
            *states.entry(s.state.clone()).or_default() += b - a;
        }
    }
    let ready = states.get("ready").copied().unwrap_or(0);
    AgentFigures {
        ringing_ms: t.ring_ms,
        on_call_ms: t.talk_ms,
        wrap_up_ms: t.wrap_up_ms,
        hold_ms: t.hold_ms,
        calls_in: t.inbound,
        calls_out: t.outbound,
        avg_talk_ms: avg(t.talk_ms, t.talked),
        avg_hold_ms: avg(t.hold_ms, t.talked),
        avg_wrap_up_ms: avg(t.wrap_up_ms, t.wrapped),
        occupancy_pct: pct(t.talk_ms + t.wrap_up_ms, ready),
        dispositions: t.dispositions.clone(),
        states_ms: states,
        talked: t.talked,
        wrapped: t.wrapped,
    }
}

/// Builds an agent's activity for the calls of `client` over `range`.
pub async fn agent_activity(
    app: &App,
    client: ClientId,
    agent: &User,
    range: &Range,
) -> Result<AgentActivity, ApiError> {
    let now = app.now_ms();
    let spans = app
        .store
        .voice_state_spans(
            agent.id,
            range.from_ms,
            range.to_ms.min(now.max(range.from_ms)),
        )
        .await?;
    let of = |a: i64, b: i64| CallFilter {
        agent: Some(agent.id),
        from_ms: Some(a),
        to_ms: Some(b),
        ..Default::default()
    };
    let t = app
        .store
        .tally(client, &of(range.from_ms, range.to_ms))
        .await?;
    let total = figures(&t, &spans, range.from_ms, range.to_ms);
    let mut days = Vec::new();
    for (day, a, b) in range.each_day() {
        let t = app.store.tally(client, &of(a, b)).await?;
        days.push(AgentDay {
            day,
            figures: figures(&t, &spans, a, b),
        });
    }
    Ok(AgentActivity {
        agent_id: agent.id,
        agent: agent.name.clone(),
        from: range.from,
        to: range.to,
        total,
        days,
        spans,
    })
}

/// One day of the compliance record.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ComplianceDay {
    #[schema(value_type = String, format = Date)]
    pub day: NaiveDate,
    pub dials: i64,
    pub live_answered: i64,
    pub abandoned: i64,
    pub abandon_rate_pct: f64,
    /// The rate over the 30 days ending with this day.
    pub rolling_30_days_pct: f64,
    pub over_cap: bool,
    /// Dials placed when the contact's calling window was shut (must be 0).
    pub outside_window: i64,
    /// Dials to a number on the DNC list (must be 0).
    pub dnc_dials: i64,
    /// Abandoned calls whose identification message played within 2 s of the answer.
    pub identified_within_2s: i64,
    /// Abandoned calls without the message within 2 s (late or missing; must be 0).
    pub identification_late_or_missing: i64,
}

/// The figures a regulator asks for, per day of a campaign.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ComplianceReport {
    pub campaign_id: CampaignId,
    pub campaign: String,
    pub abandon_cap_pct: f64,
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    pub days: Vec<ComplianceDay>,
    pub outside_window: i64,
    pub dnc_dials: i64,
    pub identification_late_or_missing: i64,
}

/// Builds the compliance report of a campaign over `range`.
pub async fn compliance_report(
    app: &App,
    campaign: &Campaign,
    range: &Range,
) -> Result<ComplianceReport, ApiError> {
    let mut days = Vec::new();
    for (day, a, b) in range.each_day() {
        days.push(compliance_day(app, campaign, day, a, b).await?);
    }
    Ok(ComplianceReport {
        campaign_id: campaign.id,
        campaign: campaign.name.clone(),
        abandon_cap_pct: campaign.settings.abandon_cap_pct,
        from: range.from,
        to: range.to,
        outside_window: days.iter().map(|d| d.outside_window).sum(),
        dnc_dials: days.iter().map(|d| d.dnc_dials).sum(),
        identification_late_or_missing: days.iter().map(|d| d.identification_late_or_missing).sum(),
        days,
    })
}

async fn compliance_day(
    app: &App,
    campaign: &Campaign,
    day: NaiveDate,
    a: i64,
    b: i64,
) -> Result<ComplianceDay, ApiError> {
    let of = |from_ms: i64| CallFilter {
        campaign: Some(campaign.id),
        direction: Some("outbound".into()),
        from_ms: Some(from_ms),
        to_ms: Some(b),
        ..Default::default()
    };
    let t = app.store.tally(campaign.client_id, &of(a)).await?;
    let rolling = app
        .store
        .tally(campaign.client_id, &of(b - 30 * DAY_MS))
        .await?;
    let facts = app
        .store
        .campaign_dial_facts(campaign.client_id, campaign.id, a, b)
        .await?;
    let window = &campaign.settings.window;
    let mut d = ComplianceDay {
        day,
        dials: facts.len() as i64,
        live_answered: t.live_answered,
        abandoned: t.abandoned,
        abandon_rate_pct: rounded(&t),
        rolling_30_days_pct: rounded(&rolling),
        over_cap: rolling.abandon_rate_pct() > campaign.settings.abandon_cap_pct,
        outside_window: 0,
        dnc_dials: 0,
        identified_within_2s: 0,
        identification_late_or_missing: 0,
    };
    for f in &facts {
        let zone = f.time_zone.as_deref().and_then(|z| z.parse::<Tz>().ok());
        let open = PhoneNumber::parse_e164(&f.phone)
            .map(|n| TimeZoneSource::resolve(zone, &n).window_open(window, from_ms(f.placed_at)))
            .unwrap_or(false);
        d.outside_window += i64::from(!open);
        d.dnc_dials += i64::from(f.on_dnc);
        if f.abandoned_live {
            let in_time = matches!((f.answered_at, f.identified_at), (Some(x), Some(y)) if y - x <= IDENTIFICATION_GRACE_MS + STORE_WRITE_SLACK_MS);
            d.identified_within_2s += i64::from(in_time);
            d.identification_late_or_missing += i64::from(!in_time);
        }
    }
    Ok(d)
}

/// "Today" for each of a campaign's contacts: the date in the contact's own zone now (their
/// cycle), the client's date for contacts without a zone.
pub async fn cycle_dates(
    app: &App,
    campaign: &Campaign,
    client_tz: Tz,
) -> Result<palera_store::reports::CycleDates, ApiError> {
    let now = from_ms(app.now_ms());
    let by_zone = app
        .store
        .campaign_time_zones(campaign.client_id, campaign.id)
        .await?
        .into_iter()
        .flatten()
        .filter_map(|name| {
            let tz: Tz = name.parse().ok()?;
            Some((name, local_date(tz, now).to_string()))
        })
        .collect();
    Ok(palera_store::reports::CycleDates {
        default: local_date(client_tz, now).to_string(),
        by_zone,
    })
}
