//! Campaign settings and their validation. A `CampaignSettings` value that passed `validate` is
//! safe for every other module to rely on (windows are ordered, ring timeouts are legal, caps are
//! percentages); every rejection names the field.

use crate::ValidationError;
use chrono::{NaiveDate, NaiveTime, Weekday};
use serde::{Deserialize, Serialize};

/// How the system places calls (DESIGN §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DialMode {
    Preview,
    Progressive,
    Predictive,
}

impl std::str::FromStr for DialMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "preview" => Ok(DialMode::Preview),
            "progressive" => Ok(DialMode::Progressive),
            "predictive" => Ok(DialMode::Predictive),
            _ => Err(format!(
                "{s:?} is not a dial mode (preview, progressive, predictive)"
            )),
        }
    }
}

/// The cadence between two attempts on one contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryAfter {
    /// Next attempt on the contact's local calendar day `n` days later (day 1, day 2, …).
    Days(u32),
    /// Next attempt at least `n` hours after the previous one ended.
    Hours(u32),
}

/// What an answering machine gets when AMD is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MachineAction {
    LeaveMessage,
    HangUp,
}

/// The hours calls may be placed, in the contact's local time, and the days they may not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallingWindow {
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub excluded_weekdays: Vec<Weekday>,
    pub excluded_dates: Vec<NaiveDate>,
}

impl Default for CallingWindow {
    /// 08:00–21:00, the US TCPA/TSR limit.
    fn default() -> Self {
        Self {
            start: NaiveTime::from_hms_opt(8, 0, 0).expect("valid time"),
            end: NaiveTime::from_hms_opt(21, 0, 0).expect("valid time"),
            excluded_weekdays: Vec::new(),
            excluded_dates: Vec::new(),
        }
    }
}

/// Every dialling setting of a campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignSettings {
    pub dial_mode: DialMode,
    pub max_attempts: u32,
    pub retry_after: RetryAfter,
    pub window: CallingWindow,
    /// Abandoned / live-answered ceiling, in percent (predictive only).
    pub abandon_cap_pct: f64,
    /// Pacing ceiling: lines in flight per ready agent (predictive only).
    pub max_lines_per_agent: f64,
    pub wrap_up_seconds: u32,
    pub amd: bool,
    pub machine_action: MachineAction,
    /// The client's carrier limit on new calls per second.
    pub calls_per_second: f64,
    pub inactivity_timeout_seconds: u32,
    pub ring_timeout_seconds: u32,
}

/// The shortest ring before giving up on an unanswered call (DESIGN §2.1).
pub const MIN_RING_TIMEOUT_SECONDS: u32 = 15;

impl Default for CampaignSettings {
    fn default() -> Self {
        Self {
            dial_mode: DialMode::Progressive,
            max_attempts: 3,
            retry_after: RetryAfter::Days(1),
            window: CallingWindow::default(),
            abandon_cap_pct: 3.0,
            max_lines_per_agent: 3.0,
            wrap_up_seconds: 30,
            amd: true,
            machine_action: MachineAction::LeaveMessage,
            calls_per_second: 1.0,
            inactivity_timeout_seconds: 300,
            ring_timeout_seconds: 20,
        }
    }
}

impl CampaignSettings {
    /// Checks every field; the first problem found is returned, naming its field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let fail = |f: &str, r: &str| Err(ValidationError::new(f, r));
        if self.max_attempts < 1 {
            return fail("max_attempts", "must be at least 1");
        }
        match self.retry_after {
            RetryAfter::Days(0) => return fail("retry_after_days", "must be at least 1"),
            RetryAfter::Hours(0) => return fail("retry_after_hours", "must be at least 1"),
            _ => {}
        }
        if self.window.end <= self.window.start {
            return fail("window.end", "must be after window.start");
        }
        if self.window.excluded_weekdays.len() >= 7 {
            return fail(
                "window.excluded_weekdays",
                "must leave at least one day to call",
            );
        }
        if !(self.abandon_cap_pct.is_finite() && (0.0..=100.0).contains(&self.abandon_cap_pct)) {
            return fail("abandon_cap_pct", "must be a percentage between 0 and 100");
        }
        if !(self.max_lines_per_agent.is_finite() && self.max_lines_per_agent >= 1.0) {
            return fail("max_lines_per_agent", "must be at least 1");
        }
        if !(self.calls_per_second.is_finite() && self.calls_per_second > 0.0) {
            return fail("calls_per_second", "must be above 0");
        }
        if self.inactivity_timeout_seconds < 1 {
            return fail("inactivity_timeout_seconds", "must be at least 1");
        }
        if self.ring_timeout_seconds < MIN_RING_TIMEOUT_SECONDS {
            return fail("ring_timeout_seconds", "must be at least 15 seconds");
        }
        Ok(())
    }

    /// The abandon cap as a fraction (3 % → 0.03).
    pub fn abandon_cap(&self) -> f64 {
        self.abandon_cap_pct / 100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(s: CampaignSettings) -> String {
        s.validate().unwrap_err().field
    }

    #[test]
    fn defaults_are_valid_and_follow_the_rules() {
        let s = CampaignSettings::default();
        s.validate().unwrap();
        assert_eq!(s.window.start, NaiveTime::from_hms_opt(8, 0, 0).unwrap());
        assert_eq!(s.window.end, NaiveTime::from_hms_opt(21, 0, 0).unwrap());
        assert_eq!(s.abandon_cap_pct, 3.0);
        assert_eq!(s.inactivity_timeout_seconds, 300);
    }

    #[test]
    fn max_attempts_must_be_at_least_one() {
        let s = CampaignSettings {
            max_attempts: 0,
            ..Default::default()
        };
        assert_eq!(field_of(s), "max_attempts");
    }

    #[test]
    fn ring_timeout_under_15_seconds_is_rejected() {
        let s = CampaignSettings {
            ring_timeout_seconds: 14,
            ..Default::default()
        };
        assert_eq!(field_of(s), "ring_timeout_seconds");
    }

    #[test]
    fn window_end_before_start_is_rejected() {
        let mut s = CampaignSettings::default();
        s.window.end = NaiveTime::from_hms_opt(7, 0, 0).unwrap();
        assert_eq!(field_of(s), "window.end");
    }

    #[test]
    fn abandon_cap_must_be_a_percentage() {
        let s = CampaignSettings {
            abandon_cap_pct: 120.0,
            ..Default::default()
        };
        assert_eq!(field_of(s), "abandon_cap_pct");
        let s = CampaignSettings {
            calls_per_second: 0.0,
            ..Default::default()
        };
        assert_eq!(field_of(s), "calls_per_second");
        let s = CampaignSettings {
            retry_after: RetryAfter::Hours(0),
            ..Default::default()
        };
        assert_eq!(field_of(s), "retry_after_hours");
    }
}
