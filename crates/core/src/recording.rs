//! Rules of call recording and transcription (DESIGN §2.6) as pure decisions: the pause timeline
//! an agent marks (for card numbers), the life of a stored copy (recording → pending → fetching →
//! stored, or failed after its retries) with its backoff, per-client retention, transcript lines,
//! and what a transcript search may ask for.

use crate::ValidationError;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Where a call's recording is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordingStatus {
    /// The call is being recorded.
    Recording,
    /// The call ended; the file waits to be fetched into storage (again, after a failure).
    Pending,
    /// A fetch is under way.
    Fetching,
    /// The file is in the product's own storage.
    Stored,
    /// Every fetch failed: the recording could not be kept (the last error says why).
    Failed,
}

impl RecordingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recording => "recording",
            Self::Pending => "pending",
            Self::Fetching => "fetching",
            Self::Stored => "stored",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "recording" => Self::Recording,
            "pending" => Self::Pending,
            "fetching" => Self::Fetching,
            "stored" => Self::Stored,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

/// Who says a transcript line (a dual-channel recording has one channel each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    Agent,
    Contact,
}

impl Speaker {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Contact => "contact",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "agent" => Some(Self::Agent),
            // Twilio names a call leg's tracks: inbound is what the contact says, outbound what
            // is played to them (the agent).
            "outbound" => Some(Self::Agent),
            "contact" | "customer" | "caller" | "inbound" => Some(Self::Contact),
            _ => None,
        }
    }
}

/// One line of a transcript: who, when (milliseconds from the start of the recording) and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TranscriptLine {
    /// The line's place in the transcript, from 0.
    pub seq: u32,
    pub speaker: Speaker,
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
}

/// One pause of a recording, in milliseconds from its start; `resumed_ms` is `None` while the
/// recording is still paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Pause {
    pub paused_ms: u64,
    pub resumed_ms: Option<u64>,
}

/// Why a pause or resume was refused.
pub fn check_pause(pauses: &[Pause], pausing: bool) -> Result<(), ValidationError> {
    let open = pauses.last().is_some_and(|p| p.resumed_ms.is_none());
    match (pausing, open) {
        (true, true) => Err(ValidationError::new(
            "recording",
            "the recording is already paused",
        )),
        (false, false) => Err(ValidationError::new(
            "recording",
            "the recording is not paused",
        )),
        _ => Ok(()),
    }
}

/// Milliseconds from `started` to `at` (0 before the start).
pub fn offset_ms(started: DateTime<Utc>, at: DateTime<Utc>) -> u64 {
    (at - started).num_milliseconds().max(0) as u64
}

/// How fetching a recording into storage is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Wait after the first failure; each later one doubles, up to `cap`.
    pub first_wait: Duration,
    pub cap: Duration,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            first_wait: Duration::seconds(15),
            cap: Duration::minutes(30),
        }
    }
}

impl FetchPolicy {
    /// After `attempts` failed attempts: when to try again, or `None` when the recording has
    /// failed for good.
    pub fn retry_at(&self, attempts: u32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if attempts >= self.max_attempts {
            return None;
        }
        let doublings = attempts.saturating_sub(1).min(20);
        let wait = self.first_wait * 2i32.pow(doublings);
        Some(now + wait.min(self.cap))
    }
}

/// Longest retention a client may set, in days (ten years).
pub const MAX_RETENTION_DAYS: u32 = 3650;

/// Checks a client's retention: `None` keeps recordings for ever, else 1..=3650 days.
pub fn check_retention_days(days: Option<u32>) -> Result<(), ValidationError> {
    match days {
        Some(d) if d == 0 || d > MAX_RETENTION_DAYS => Err(ValidationError::new(
            "retention_days",
            format!("must be between 1 and {MAX_RETENTION_DAYS} days, or empty to keep recordings"),
        )),
        _ => Ok(()),
    }
}

/// Checks the SID of a client's Twilio Conversational Intelligence service (`GA` and 32 hex
/// digits), which makes post-call transcripts; `None` keeps the real-time transcript's lines.
pub fn check_intelligence_service(sid: Option<&str>) -> Result<(), ValidationError> {
    match sid {
        Some(s) if !(s.len() == 34 && s.starts_with("GA") && s[2..].bytes().all(|b| b.is_ascii_hexdigit())) => {
            Err(ValidationError::new(
                "intelligence_service_sid",
                "must be a Conversational Intelligence service SID: GA followed by 32 hexadecimal digits, or empty",
            ))
        }
        _ => Ok(()),
    }
}

/// Recordings started before this instant are past a retention of `days`.
pub fn retention_cutoff(now: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    now - Duration::days(i64::from(days))
}

/// Most words a transcript search may hold.
pub const MAX_SEARCH_WORDS: usize = 12;

/// A transcript search: a word, or a phrase of words in order. Words are letters and digits
/// only, lower-cased, so the query means the same to SQLite FTS5 and PostgreSQL `tsvector`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    words: Vec<String>,
}

impl SearchQuery {
    pub fn parse(q: &str) -> Result<Self, ValidationError> {
        let words: Vec<String> = q
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        if words.is_empty() {
            return Err(ValidationError::new(
                "q",
                "type a word or a phrase to search for",
            ));
        }
        if words.len() > MAX_SEARCH_WORDS {
            return Err(ValidationError::new(
                "q",
                format!("search for at most {MAX_SEARCH_WORDS} words"),
            ));
        }
        Ok(Self { words })
    }

    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// The FTS5 expression: the words as one quoted phrase (they hold no quotes).
    pub fn fts5(&self) -> String {
        format!("\"{}\"", self.words.join(" "))
    }

    /// The text for PostgreSQL's `phraseto_tsquery`.
    pub fn phrase(&self) -> String {
        self.words.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap()
    }

    #[test]
    fn an_intelligence_service_sid_is_ga_and_32_hex_digits() {
        assert!(check_intelligence_service(None).is_ok());
        assert!(check_intelligence_service(Some("GA0123456789abcdef0123456789ABCDEF")).is_ok());
        for bad in [
            "",
            "GA123",
            "GT0123456789abcdef0123456789abcdef",
            "GA0123456789abcdef0123456789abcdeg",
        ] {
            let e = check_intelligence_service(Some(bad)).unwrap_err();
            assert_eq!(e.field, "intelligence_service_sid", "{bad}");
        }
    }

    #[test]
    fn a_pause_needs_a_running_recording_and_a_resume_a_paused_one() {
        assert!(check_pause(&[], true).is_ok());
        assert_eq!(check_pause(&[], false).unwrap_err().field, "recording");
        let open = [Pause {
            paused_ms: 10,
            resumed_ms: None,
        }];
        assert!(check_pause(&open, true).is_err());
        assert!(check_pause(&open, false).is_ok());
    }

    #[test]
    fn fetch_retries_back_off_and_then_give_up() {
        let p = FetchPolicy::default();
        assert_eq!(p.retry_at(1, t(0)), Some(t(15)));
        assert_eq!(p.retry_at(2, t(0)), Some(t(30)));
        assert_eq!(p.retry_at(5, t(0)), Some(t(240)));
        assert_eq!(p.retry_at(6, t(0)), None);
        let long = FetchPolicy {
            max_attempts: 40,
            ..p
        };
        assert_eq!(long.retry_at(30, t(0)), Some(t(1800)), "capped");
    }

    #[test]
    fn retention_is_one_day_to_ten_years_or_for_ever() {
        assert!(check_retention_days(None).is_ok());
        assert!(check_retention_days(Some(1)).is_ok());
        assert_eq!(
            check_retention_days(Some(0)).unwrap_err().field,
            "retention_days"
        );
        assert!(check_retention_days(Some(3651)).is_err());
        assert_eq!(retention_cutoff(t(86_400 * 10), 3), t(86_400 * 7));
    }

    #[test]
    fn a_search_is_words_in_order_and_never_fts_syntax() {
        let q = SearchQuery::parse("  Card NUMBER\" OR x*").unwrap();
        assert_eq!(q.words(), ["card", "number", "or", "x"]);
        assert_eq!(q.fts5(), "\"card number or x\"");
        assert_eq!(q.phrase(), "card number or x");
        assert_eq!(SearchQuery::parse(" -*- ").unwrap_err().field, "q");
        assert!(SearchQuery::parse(&"a ".repeat(13)).is_err());
    }
}
