//! Scenario files (`shared/scenarios/README.md`): parsing and validation of the TOML, and
//! [`run`], the entry point of `palera-voice simulate`.
//!
//! ```no_run
//! let toml = std::fs::read_to_string("predictive-medium.toml").unwrap();
//! match palera_carrier::sim::scenario::run(&toml) {
//!     Ok(report) => println!("{}", serde_json::to_string(&report).unwrap()),
//!     Err(e) => {
//!         eprintln!("invalid scenario: {e} (field {})", e.field());
//!         std::process::exit(2);
//!     }
//! }
//! ```
//!
//! Every key is checked: an unknown key is an error naming it (`campaign.dial_mod`), a bad
//! value is an error naming its field. Campaign keys become a core [`CampaignSettings`] and are
//! validated by the core's own rules too.

use super::behaviour::{Behaviour, Seconds};
use super::engine;
use super::report::Report;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use palera_core::campaign::settings::{
    CallingWindow, CampaignSettings, DialMode, MachineAction, RetryAfter,
};
use toml::{Table, Value};

/// An invalid scenario: the field (dotted path, e.g. `behaviour.human_pct`) and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ScenarioError {
    field: String,
    reason: String,
}

impl ScenarioError {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The dotted path of the offending key (`scenario` for a TOML syntax error).
    pub fn field(&self) -> &str {
        &self.field
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// An agent that stops sending heartbeats at `at_minute` (and maybe comes back).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Inactivity {
    /// 1-based agent number.
    pub agent: u32,
    pub at_minute: f64,
    pub back_at_minute: Option<f64>,
}

/// A parsed, valid scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub seed: u64,
    pub start: DateTime<Utc>,
    pub days: u32,
    pub campaign: CampaignSettings,
    pub agents: u32,
    pub preview_seconds: f64,
    pub inactive: Vec<Inactivity>,
    pub contacts: u32,
    pub time_zones: Vec<Tz>,
    pub dnc_pct: f64,
    pub behaviour: Behaviour,
    /// Inbound calls to the same agents (`[inbound]`), when the scenario has them.
    pub inbound: Option<InboundScenario>,
}

/// The `[inbound]` section: callers ringing the client's numbers, routed to the same agents by
/// the core's inbound routing (DESIGN §2.5), ahead of the campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundScenario {
    /// Mean arrivals per hour for each hour of the day (local to `time_zone`), a Poisson process.
    pub arrivals_per_hour: [f64; 24],
    pub time_zone: Tz,
    /// Share of callers (percent) who spoke to an agent before: their last agent is their
    /// affinity agent.
    pub repeat_callers_pct: f64,
    /// Mean patience of a waiting caller (exponential); `None`: callers never hang up waiting.
    pub patience_seconds: Option<f64>,
    /// Mean talk time (exponential); `None`: the outbound behaviour's talk times.
    pub talk_seconds: Option<f64>,
    pub wrap_up_seconds: f64,
    /// How long an agent takes to accept an offered call.
    pub answer_seconds: f64,
    /// After this long waiting, the caller is sent to the voicemail; `None`: never.
    pub max_wait_seconds: Option<f64>,
    pub routing: palera_core::routing::RoutingSettings,
}

/// Parses, validates and runs a scenario on a virtual clock; see the module doc.
pub fn run(toml_text: &str) -> Result<Report, ScenarioError> {
    let scenario = Scenario::parse(toml_text)?;
    Ok(engine::simulate(&scenario))
}

type R<T> = Result<T, ScenarioError>;

/// One TOML table being read, with its dotted path for error messages.
struct Section<'a> {
    path: String,
    table: &'a Table,
}

impl<'a> Section<'a> {
    fn new(path: &str, table: &'a Table, allowed: &[&str]) -> R<Self> {
        for key in table.keys() {
            if !allowed.contains(&key.as_str()) {
                return Err(ScenarioError::new(join(path, key), "unknown key"));
            }
        }
        Ok(Self {
            path: path.to_string(),
            table,
        })
    }

    fn field(&self, key: &str) -> String {
        join(&self.path, key)
    }

    fn err<T>(&self, key: &str, reason: &str) -> R<T> {
        Err(ScenarioError::new(self.field(key), reason))
    }

    fn sub(&self, key: &str, allowed: &[&str]) -> R<Option<Section<'a>>> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::Table(t)) => Section::new(&self.field(key), t, allowed).map(Some),
            Some(_) => self.err(key, "must be a table"),
        }
    }

    fn float(&self, key: &str) -> R<Option<f64>> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::Float(f)) if f.is_finite() => Ok(Some(*f)),
            Some(Value::Integer(i)) => Ok(Some(*i as f64)),
            Some(_) => self.err(key, "must be a number"),
        }
    }

    fn non_negative(&self, key: &str) -> R<Option<f64>> {
        match self.float(key)? {
            Some(v) if v < 0.0 => self.err(key, "must not be negative"),
            v => Ok(v),
        }
    }

    fn int(&self, key: &str) -> R<Option<i64>> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::Integer(i)) => Ok(Some(*i)),
            Some(_) => self.err(key, "must be an integer"),
        }
    }

    fn count(&self, key: &str) -> R<Option<u32>> {
        match self.int(key)? {
            None => Ok(None),
            Some(i) if i < 0 => self.err(key, "must not be negative"),
            Some(i) => u32::try_from(i)
                .map(Some)
                .or_else(|_| self.err(key, "is too large")),
        }
    }

    fn boolean(&self, key: &str) -> R<Option<bool>> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::Boolean(b)) => Ok(Some(*b)),
            Some(_) => self.err(key, "must be true or false"),
        }
    }

    fn string(&self, key: &str) -> R<Option<&'a str>> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => self.err(key, "must be a string"),
        }
    }

    fn array(&self, key: &str) -> R<&'a [Value]> {
        match self.table.get(key) {
            None => Ok(&[]),
            Some(Value::Array(a)) => Ok(a.as_slice()),
            Some(_) => self.err(key, "must be an array"),
        }
    }

    fn required<T>(&self, key: &str, v: Option<T>) -> R<T> {
        v.map_or_else(|| self.err(key, "is required"), Ok)
    }
}

/// A TOML syntax error for people: its message, or (some errors have none) its full text with
/// the line and column.
fn toml_reason(e: &toml::de::Error) -> String {
    match e.message().trim() {
        "" => e.to_string().trim().to_string(),
        m => m.to_string(),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl Scenario {
    /// Parses and validates scenario TOML.
    pub fn parse(text: &str) -> R<Self> {
        let table: Table = text
            .parse()
            .map_err(|e: toml::de::Error| ScenarioError::new("scenario", toml_reason(&e)))?;
        let root = Section::new(
            "",
            &table,
            &[
                "seed",
                "start",
                "days",
                "campaign",
                "agents",
                "contacts",
                "behaviour",
                "inbound",
            ],
        )?;
        let seed = root.int("seed")?.unwrap_or(0) as u64;
        let start = match root.string("start")? {
            Some(s) => s
                .parse::<DateTime<Utc>>()
                .or_else(|_| root.err("start", "must be an RFC 3339 UTC time"))?,
            None => return root.err("start", "is required"),
        };
        let days = root.count("days")?.unwrap_or(1);
        if days == 0 {
            return root.err("days", "must be at least 1");
        }
        let campaign = parse_campaign(&root)?;
        let (agents, preview_seconds, inactive) = parse_agents(&root)?;
        let (contacts, time_zones, dnc_pct) = parse_contacts(&root)?;
        let behaviour = parse_behaviour(&root)?;
        let inbound = parse_inbound(&root)?;
        Ok(Self {
            seed,
            start,
            days,
            campaign,
            agents,
            preview_seconds,
            inactive,
            contacts,
            time_zones,
            dnc_pct,
            behaviour,
            inbound,
        })
    }
}

const CAMPAIGN_KEYS: &[&str] = &[
    "dial_mode",
    "max_attempts",
    "retry_after_days",
    "retry_after_hours",
    "window",
    "abandon_cap_pct",
    "max_lines_per_agent",
    "wrap_up_seconds",
    "amd",
    "machine_action",
    "calls_per_second",
    "inactivity_timeout_seconds",
    "ring_timeout_seconds",
];

fn parse_campaign(root: &Section<'_>) -> R<CampaignSettings> {
    let c = root
        .sub("campaign", CAMPAIGN_KEYS)?
        .map_or_else(|| root.err("campaign", "is required"), Ok)?;
    let mut s = CampaignSettings::default();
    if let Some(m) = c.string("dial_mode")? {
        s.dial_mode = m.parse::<DialMode>().or_else(|r| c.err("dial_mode", &r))?;
    }
    if let Some(v) = c.count("max_attempts")? {
        s.max_attempts = v;
    }
    match (c.count("retry_after_days")?, c.count("retry_after_hours")?) {
        (Some(_), Some(_)) => {
            return c.err(
                "retry_after_hours",
                "give retry_after_days or retry_after_hours, not both",
            )
        }
        (Some(d), None) => s.retry_after = RetryAfter::Days(d),
        (None, Some(h)) => s.retry_after = RetryAfter::Hours(h),
        (None, None) => {}
    }
    if let Some(w) = c.sub(
        "window",
        &["start", "end", "excluded_weekdays", "excluded_dates"],
    )? {
        s.window = parse_window(&w)?;
    }
    macro_rules! set {
        ($key:literal, $getter:ident, $field:ident) => {
            if let Some(v) = c.$getter($key)? {
                s.$field = v;
            }
        };
    }
    set!("abandon_cap_pct", non_negative, abandon_cap_pct);
    set!("max_lines_per_agent", non_negative, max_lines_per_agent);
    set!("wrap_up_seconds", count, wrap_up_seconds);
    set!("amd", boolean, amd);
    set!("calls_per_second", non_negative, calls_per_second);
    set!(
        "inactivity_timeout_seconds",
        count,
        inactivity_timeout_seconds
    );
    set!("ring_timeout_seconds", count, ring_timeout_seconds);
    if let Some(a) = c.string("machine_action")? {
        s.machine_action = match a {
            "leave_message" => MachineAction::LeaveMessage,
            "hang_up" => MachineAction::HangUp,
            _ => return c.err("machine_action", "must be leave_message or hang_up"),
        };
    }
    s.validate().map_err(|e| {
        let field = if e.field.starts_with("retry_after") {
            e.field.clone()
        } else {
            c.field(&e.field)
        };
        ScenarioError::new(field, e.reason)
    })?;
    Ok(s)
}

fn parse_window(w: &Section<'_>) -> R<CallingWindow> {
    let time = |key: &str| -> R<Option<NaiveTime>> {
        match w.string(key)? {
            None => Ok(None),
            Some(t) => NaiveTime::parse_from_str(t, "%H:%M")
                .map(Some)
                .or_else(|_| w.err(key, "must be HH:MM")),
        }
    };
    let mut win = CallingWindow::default();
    if let Some(t) = time("start")? {
        win.start = t;
    }
    if let Some(t) = time("end")? {
        win.end = t;
    }
    if win.end <= win.start {
        return w.err("end", "must be after start");
    }
    for v in w.array("excluded_weekdays")? {
        let day = v.as_str().and_then(|s| s.parse::<Weekday>().ok());
        win.excluded_weekdays
            .push(day.map_or_else(|| w.err("excluded_weekdays", "must be weekday names"), Ok)?);
    }
    for v in w.array("excluded_dates")? {
        let date = v.as_str().and_then(|s| s.parse::<NaiveDate>().ok());
        win.excluded_dates
            .push(date.map_or_else(|| w.err("excluded_dates", "must be YYYY-MM-DD dates"), Ok)?);
    }
    Ok(win)
}

fn parse_agents(root: &Section<'_>) -> R<(u32, f64, Vec<Inactivity>)> {
    let a = root
        .sub("agents", &["count", "preview_seconds", "inactive"])?
        .map_or_else(|| root.err("agents", "is required"), Ok)?;
    let count = a.required("count", a.count("count")?)?;
    if count == 0 {
        return a.err("count", "must be at least 1");
    }
    let preview = a.non_negative("preview_seconds")?.unwrap_or(8.0);
    let mut inactive = Vec::new();
    for (i, v) in a.array("inactive")?.iter().enumerate() {
        let path = format!("agents.inactive[{i}]");
        let Value::Table(t) = v else {
            return Err(ScenarioError::new(path, "must be a table"));
        };
        let s = Section::new(&path, t, &["agent", "at_minute", "back_at_minute"])?;
        let agent = s.required("agent", s.count("agent")?)?;
        if agent == 0 || agent > count {
            return s.err(
                "agent",
                "must be an agent number between 1 and agents.count",
            );
        }
        let at_minute = s.required("at_minute", s.non_negative("at_minute")?)?;
        let back = s.non_negative("back_at_minute")?;
        if back.is_some_and(|b| b <= at_minute) {
            return s.err("back_at_minute", "must be after at_minute");
        }
        inactive.push(Inactivity {
            agent,
            at_minute,
            back_at_minute: back,
        });
    }
    Ok((count, preview, inactive))
}

fn parse_contacts(root: &Section<'_>) -> R<(u32, Vec<Tz>, f64)> {
    let c = root
        .sub("contacts", &["count", "time_zones", "dnc_pct"])?
        .map_or_else(|| root.err("contacts", "is required"), Ok)?;
    let count = c.required("count", c.count("count")?)?;
    let mut zones = Vec::new();
    for v in c.array("time_zones")? {
        let tz = v.as_str().and_then(|s| s.parse::<Tz>().ok());
        zones.push(tz.map_or_else(|| c.err("time_zones", "must be IANA zone names"), Ok)?);
    }
    if zones.is_empty() {
        zones.push(chrono_tz::America::New_York);
    }
    let dnc = c.non_negative("dnc_pct")?.unwrap_or(0.0);
    if dnc > 100.0 {
        return c.err("dnc_pct", "must be at most 100");
    }
    Ok((count, zones, dnc))
}

const INBOUND_KEYS: &[&str] = &[
    "arrivals_per_hour",
    "time_zone",
    "repeat_callers_pct",
    "patience_seconds",
    "talk_seconds",
    "wrap_up_seconds",
    "answer_seconds",
    "max_wait_seconds",
    "affinity_window_days",
    "affinity_wait_seconds",
];

fn parse_inbound(root: &Section<'_>) -> R<Option<InboundScenario>> {
    let Some(i) = root.sub("inbound", INBOUND_KEYS)? else {
        return Ok(None);
    };
    let arrivals_per_hour = parse_arrivals(&i)?;
    let time_zone = match i.string("time_zone")? {
        Some(z) => z
            .parse::<Tz>()
            .or_else(|_| i.err("time_zone", "must be an IANA zone name"))?,
        None => chrono_tz::UTC,
    };
    let repeat = i.non_negative("repeat_callers_pct")?.unwrap_or(0.0);
    if repeat > 100.0 {
        return i.err("repeat_callers_pct", "must be at most 100");
    }
    let positive = |key: &str| -> R<Option<f64>> {
        match i.non_negative(key)? {
            Some(0.0) => i.err(key, "must be more than 0 (leave it out for none)"),
            v => Ok(v),
        }
    };
    let d = palera_core::routing::RoutingSettings::default();
    let window_days = i.non_negative("affinity_window_days")?;
    let wait = i.non_negative("affinity_wait_seconds")?;
    Ok(Some(InboundScenario {
        arrivals_per_hour,
        time_zone,
        repeat_callers_pct: repeat,
        patience_seconds: positive("patience_seconds")?,
        talk_seconds: positive("talk_seconds")?,
        wrap_up_seconds: i.non_negative("wrap_up_seconds")?.unwrap_or(0.0),
        answer_seconds: i.non_negative("answer_seconds")?.unwrap_or(2.0),
        max_wait_seconds: positive("max_wait_seconds")?,
        routing: palera_core::routing::RoutingSettings {
            affinity_window: window_days.map_or(d.affinity_window, |v| {
                chrono::Duration::seconds((v * 86_400.0) as i64)
            }),
            affinity_wait: wait.map_or(d.affinity_wait, |v| {
                chrono::Duration::milliseconds((v * 1000.0) as i64)
            }),
        },
    }))
}

/// One rate for every hour, or 24 rates (hour 0 first).
fn parse_arrivals(i: &Section<'_>) -> R<[f64; 24]> {
    let key = "arrivals_per_hour";
    let list = match i.table.get(key) {
        Some(Value::Array(list)) => list,
        Some(_) => return Ok([i.required(key, i.non_negative(key)?)?; 24]),
        None => {
            return i.err(
                key,
                "is required: a number, or 24 numbers (one per hour from 00:00)",
            )
        }
    };
    if list.len() != 24 {
        return i.err(key, "must have 24 numbers, one per hour from 00:00");
    }
    let mut out = [0.0; 24];
    for (h, v) in list.iter().enumerate() {
        let rate = match v {
            Value::Float(f) if f.is_finite() => *f,
            Value::Integer(n) => *n as f64,
            _ => f64::NAN,
        };
        if rate.is_nan() || rate < 0.0 {
            return Err(ScenarioError::new(
                format!("{}[{h}]", i.field(key)),
                "must be a number of calls per hour, not negative",
            ));
        }
        out[h] = rate;
    }
    Ok(out)
}

fn parse_seconds(b: &Section<'_>, key: &str, default: Seconds) -> R<Seconds> {
    let Some(s) = b.sub(key, &["mean", "sd", "min"])? else {
        return Ok(default);
    };
    Ok(Seconds {
        mean: s.non_negative("mean")?.unwrap_or(default.mean),
        sd: s.non_negative("sd")?.unwrap_or(default.sd),
        min: s.non_negative("min")?.unwrap_or(default.min),
    })
}

fn parse_behaviour(root: &Section<'_>) -> R<Behaviour> {
    let keys = [
        "human_pct",
        "machine_pct",
        "busy_pct",
        "failed_pct",
        "ring_seconds",
        "talk_seconds",
        "human_hangup_if_waiting_seconds",
    ];
    let b = root
        .sub("behaviour", &keys)?
        .map_or_else(|| root.err("behaviour", "is required"), Ok)?;
    let pct = |k: &str| b.non_negative(k).map(|v| v.unwrap_or(0.0));
    let (human_pct, machine_pct, busy_pct, failed_pct) = (
        pct("human_pct")?,
        pct("machine_pct")?,
        pct("busy_pct")?,
        pct("failed_pct")?,
    );
    if human_pct + machine_pct + busy_pct + failed_pct > 100.0 {
        return b.err("human_pct", "shares add up to more than 100 %");
    }
    Ok(Behaviour {
        human_pct,
        machine_pct,
        busy_pct,
        failed_pct,
        ring_seconds: parse_seconds(
            &b,
            "ring_seconds",
            Seconds {
                mean: 9.0,
                sd: 4.0,
                min: 1.0,
            },
        )?,
        talk_seconds: parse_seconds(
            &b,
            "talk_seconds",
            Seconds {
                mean: 150.0,
                sd: 60.0,
                min: 10.0,
            },
        )?,
        human_hangup_if_waiting_seconds: b
            .non_negative("human_hangup_if_waiting_seconds")?
            .unwrap_or(4.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        seed = 1
        start = "2026-03-02T13:00:00Z"
        [campaign]
        dial_mode = "progressive"
        [agents]
        count = 2
        [contacts]
        count = 10
        [behaviour]
        human_pct = 30.0
    "#;

    fn err(text: &str) -> ScenarioError {
        Scenario::parse(text).unwrap_err()
    }

    #[test]
    fn a_minimal_scenario_parses_with_defaults() {
        let s = Scenario::parse(MINIMAL).unwrap();
        assert_eq!(s.campaign.dial_mode, DialMode::Progressive);
        assert_eq!(s.days, 1);
        assert_eq!(s.campaign.abandon_cap_pct, 3.0);
    }

    #[test]
    fn an_inbound_section_parses_and_names_its_bad_fields() {
        let flat = format!("{MINIMAL}\n[inbound]\narrivals_per_hour = 30\npatience_seconds = 90");
        let s = Scenario::parse(&flat).unwrap();
        let i = s.inbound.unwrap();
        assert_eq!(i.arrivals_per_hour, [30.0; 24]);
        assert_eq!((i.patience_seconds, i.talk_seconds), (Some(90.0), None));
        assert_eq!(i.routing, palera_core::routing::RoutingSettings::default());
        assert!(Scenario::parse(MINIMAL).unwrap().inbound.is_none());
        let mut hours = vec!["0"; 24];
        hours[3] = "-1";
        let bad = format!(
            "{MINIMAL}\n[inbound]\narrivals_per_hour = [{}]",
            hours.join(", ")
        );
        assert_eq!(err(&bad).field(), "inbound.arrivals_per_hour[3]");
        let short = format!("{MINIMAL}\n[inbound]\narrivals_per_hour = [1, 2]");
        assert_eq!(err(&short).field(), "inbound.arrivals_per_hour");
        let zero = format!("{MINIMAL}\n[inbound]\narrivals_per_hour = 5\npatience_seconds = 0");
        assert_eq!(err(&zero).field(), "inbound.patience_seconds");
        let typo = format!("{MINIMAL}\n[inbound]\narrivals_per_hour = 5\npatiense = 3");
        assert_eq!(err(&typo).field(), "inbound.patiense");
        let pct = format!("{MINIMAL}\n[inbound]\narrivals_per_hour = 5\nrepeat_callers_pct = 120");
        assert_eq!(err(&pct).field(), "inbound.repeat_callers_pct");
    }

    #[test]
    fn a_toml_syntax_error_always_says_why() {
        // Found by fuzzing: a lone `=` at the start of a line gave an empty reason.
        let e = err(&format!("{MINIMAL}\n="));
        assert_eq!(e.field(), "scenario");
        assert!(!e.reason().is_empty(), "{e:?}");
    }

    #[test]
    fn unknown_keys_are_an_error_naming_the_key() {
        assert_eq!(
            err(&MINIMAL.replace("[agents]", "[agents]\ncolour = 1")).field(),
            "agents.colour"
        );
        assert_eq!(err(&format!("bogus = 1\n{MINIMAL}")).field(), "bogus");
    }

    #[test]
    fn invalid_values_name_the_field() {
        assert_eq!(
            err(&MINIMAL.replace("count = 2", "count = -2")).field(),
            "agents.count"
        );
        assert_eq!(
            err(&MINIMAL.replace("human_pct = 30.0", "human_pct = 90.0\nbusy_pct = 20.0")).field(),
            "behaviour.human_pct"
        );
        let w = MINIMAL.replace(
            "dial_mode = \"progressive\"",
            "window = { start = \"17:00\", end = \"09:00\" }",
        );
        assert_eq!(err(&w).field(), "campaign.window.end");
        assert_eq!(
            err(&MINIMAL.replace("progressive", "psychic")).field(),
            "campaign.dial_mode"
        );
        let r = MINIMAL.replace("dial_mode = \"progressive\"", "ring_timeout_seconds = 10");
        assert_eq!(err(&r).field(), "campaign.ring_timeout_seconds");
    }
}
