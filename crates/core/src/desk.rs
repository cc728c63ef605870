//! Rules of the agent desktop (DESIGN §2.3) that are not about dialing campaigns: what a call's
//! notes may hold and when a notes save wins (optimistic concurrency), what a campaign's script
//! is (internal text, or an external https URL that takes priority), and whether a manual call —
//! an agent dialling a number outside any campaign — may be placed now.

use crate::campaign::{CallingWindow, TimeZoneSource};
use crate::ValidationError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Longest notes of one call, in characters.
pub const MAX_NOTES_CHARS: usize = 20_000;
/// Longest internal script text, in characters.
pub const MAX_SCRIPT_CHARS: usize = 20_000;
/// Longest external script URL, in bytes.
pub const MAX_SCRIPT_URL_LEN: usize = 2048;

/// Checks the text of a call's notes.
pub fn check_notes(text: &str) -> Result<(), ValidationError> {
    if text.chars().count() > MAX_NOTES_CHARS {
        return Err(ValidationError::new(
            "text",
            format!("notes are longer than {MAX_NOTES_CHARS} characters"),
        ));
    }
    Ok(())
}

/// The outcome of saving notes written on top of version `base` while `stored` is the latest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotesVerdict {
    /// The writer saw the latest save: the notes become version `new_version`.
    Saved { new_version: i64 },
    /// Someone saved in between (another tab): nothing is overwritten, the writer must be told.
    Conflict { latest: i64 },
}

/// A save wins only if it was written on the latest saved version. Saving the same text again
/// is always fine (a retried request after a lost answer) and does not create a version.
pub fn judge_notes_save(
    stored_version: i64,
    stored_text: &str,
    base_version: i64,
    text: &str,
) -> NotesVerdict {
    if text == stored_text {
        return NotesVerdict::Saved {
            new_version: stored_version,
        };
    }
    if base_version == stored_version {
        NotesVerdict::Saved {
            new_version: stored_version + 1,
        }
    } else {
        NotesVerdict::Conflict {
            latest: stored_version,
        }
    }
}

/// A campaign's script as the agent sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Script {
    /// Internal script text (until the script builder lands, plain text).
    pub text: String,
    /// External script (web page or PDF); when set it takes priority over the text.
    pub url: Option<String>,
}

impl Script {
    /// Validates script fields as typed by a supervisor; blank means "none".
    pub fn parse(text: Option<&str>, url: Option<&str>) -> Result<Self, ValidationError> {
        let text = text.unwrap_or("").trim().to_string();
        if text.chars().count() > MAX_SCRIPT_CHARS {
            return Err(ValidationError::new(
                "script_text",
                format!("is longer than {MAX_SCRIPT_CHARS} characters"),
            ));
        }
        let url = match url.map(str::trim).filter(|u| !u.is_empty()) {
            None => None,
            Some(u) => Some(script_url(u)?),
        };
        Ok(Self { text, url })
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty() && self.url.is_none()
    }
}

fn script_url(u: &str) -> Result<String, ValidationError> {
    let bad = |r: &str| Err(ValidationError::new("script_url", r));
    if u.len() > MAX_SCRIPT_URL_LEN {
        return bad("is longer than 2048 characters");
    }
    let Some(rest) = u.strip_prefix("https://") else {
        return bad(
            "must be an https:// URL (the desktop is served over https and shows it in a frame)",
        );
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_name = host.rsplit('@').next().unwrap_or("");
    let host_name = host_name.split(':').next().unwrap_or("");
    if host_name.is_empty()
        || u.chars().any(|c| c.is_whitespace() || c.is_control())
        || !host_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '[' || c == ']')
    {
        return bad("is not a valid URL (https://host/path)");
    }
    Ok(u.to_string())
}

/// Why a manual call is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManualRefusal {
    #[error("{0} is on the do-not-call list: it cannot be called")]
    OnDnc(String),
    #[error("{number} may be called only between {start} and {end} in the contact's local time ({zones}); it is outside those hours now")]
    OutsideWindow {
        number: String,
        start: String,
        end: String,
        zones: String,
    },
    #[error("{0}: the number's time zone is unknown, so the calling hours cannot be checked; set the contact's time zone")]
    UnknownZone(String),
}

/// The hours of manual calls: calls outside campaigns follow the same legal limit as campaign
/// calls by default (DESIGN §2.1: 08:00–21:00 in the contact's local time, every day).
pub fn manual_window() -> CallingWindow {
    CallingWindow::default()
}

/// Judges a manual call to `number` at `now`: never to a number on the client's do-not-call
/// list, and only inside the calling window in every zone the contact may be in.
pub fn check_manual_dial(
    number: &str,
    on_dnc: bool,
    zones: &TimeZoneSource,
    now: DateTime<Utc>,
) -> Result<(), ManualRefusal> {
    if on_dnc {
        return Err(ManualRefusal::OnDnc(number.into()));
    }
    let w = manual_window();
    let names = match zones {
        TimeZoneSource::Unknown => return Err(ManualRefusal::UnknownZone(number.into())),
        TimeZoneSource::Contact(z) => z.name().to_string(),
        TimeZoneSource::Number(zs) => zs.iter().map(|z| z.name()).collect::<Vec<_>>().join(", "),
    };
    if !zones.window_open(&w, now) {
        return Err(ManualRefusal::OutsideWindow {
            number: number.into(),
            start: w.start.format("%H:%M").to_string(),
            end: w.end.format("%H:%M").to_string(),
            zones: names,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phone::PhoneNumber;
    use chrono::TimeZone;

    #[test]
    fn a_notes_save_wins_only_if_it_saw_the_latest_version() {
        assert_eq!(
            judge_notes_save(3, "a", 3, "ab"),
            NotesVerdict::Saved { new_version: 4 }
        );
        assert_eq!(
            judge_notes_save(4, "ab", 3, "ac"),
            NotesVerdict::Conflict { latest: 4 }
        );
        // A retried save of the same text is not a conflict and not a new version.
        assert_eq!(
            judge_notes_save(4, "ab", 3, "ab"),
            NotesVerdict::Saved { new_version: 4 }
        );
    }

    #[test]
    fn notes_longer_than_the_limit_are_refused_naming_text() {
        let long = "x".repeat(MAX_NOTES_CHARS + 1);
        assert_eq!(check_notes(&long).unwrap_err().field, "text");
        check_notes("fine").unwrap();
    }

    #[test]
    fn an_external_script_must_be_https() {
        assert_eq!(
            Script::parse(None, Some("http://example.com/s.pdf"))
                .unwrap_err()
                .field,
            "script_url"
        );
        assert_eq!(
            Script::parse(None, Some("https:///nohost"))
                .unwrap_err()
                .field,
            "script_url"
        );
        assert_eq!(
            Script::parse(None, Some("https://exa mple.com"))
                .unwrap_err()
                .field,
            "script_url"
        );
        let s = Script::parse(Some("  Hello  "), Some(" https://example.com/s.pdf ")).unwrap();
        assert_eq!(s.text, "Hello");
        assert_eq!(s.url.as_deref(), Some("https://example.com/s.pdf"));
        assert!(Script::parse(Some(""), Some("")).unwrap().is_empty());
    }

    #[test]
    fn manual_calls_follow_the_calling_window_and_dnc() {
        let ny = PhoneNumber::parse_e164("+12125550100").unwrap();
        let zones = TimeZoneSource::resolve(None, &ny);
        // 15:00 UTC is 10:00 or 11:00 in New York: open.
        let day = Utc.with_ymd_and_hms(2026, 3, 10, 15, 0, 0).unwrap();
        check_manual_dial(ny.as_str(), false, &zones, day).unwrap();
        assert!(matches!(
            check_manual_dial(ny.as_str(), true, &zones, day),
            Err(ManualRefusal::OnDnc(_))
        ));
        // 03:00 UTC is 22:00 or 23:00 the evening before in New York: closed.
        let night = Utc.with_ymd_and_hms(2026, 3, 10, 3, 0, 0).unwrap();
        let e = check_manual_dial(ny.as_str(), false, &zones, night).unwrap_err();
        assert!(e.to_string().contains("08:00"), "{e}");
        assert!(e.to_string().contains("America/New_York"), "{e}");
    }
}
