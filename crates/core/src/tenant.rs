//! Clients (tenants) and their Twilio settings: what a valid client looks like before it is stored.

use crate::{phone::PhoneNumber, ValidationError};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A Twilio Account SID: `AC` followed by 32 lowercase or uppercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountSid(String);

impl AccountSid {
    pub fn parse(input: &str) -> Result<Self, String> {
        sid_with_prefix(input, "AC").map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountSid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a Twilio SID: a two-letter prefix then 32 hex digits.
pub fn sid_with_prefix(input: &str, prefix: &str) -> Result<String, String> {
    let s = input.trim();
    let Some(rest) = s.strip_prefix(prefix) else {
        return Err(format!("must start with {prefix}"));
    };
    if rest.len() != 32 || !rest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "must be {prefix} followed by 32 hexadecimal digits"
        ));
    }
    Ok(s.to_string())
}

/// A client's settings after validation: every field is known good.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientSettings {
    pub name: String,
    pub time_zone: chrono_tz::Tz,
    pub default_country: String,
    pub account_sid: Option<AccountSid>,
    pub api_key_sid: Option<String>,
    pub twiml_app_sid: Option<String>,
    pub voice_enabled: bool,
    pub calls_per_second: f64,
}

/// Raw client fields as they arrive from a form, the API or the command line.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClientFields {
    pub name: String,
    pub time_zone: Option<String>,
    pub default_country: Option<String>,
    pub account_sid: Option<String>,
    pub api_key_sid: Option<String>,
    pub twiml_app_sid: Option<String>,
    pub voice_enabled: Option<bool>,
    pub calls_per_second: Option<f64>,
}

fn blank_to_none(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl ClientFields {
    /// Validates every field; the first bad one is reported by name.
    pub fn validate(&self) -> Result<ClientSettings, ValidationError> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(ValidationError::new("name", "is required"));
        }
        if name.chars().count() > 120 {
            return Err(ValidationError::new(
                "name",
                "must be at most 120 characters",
            ));
        }
        let tz_text = blank_to_none(&self.time_zone).unwrap_or("UTC");
        let time_zone = tz_text.parse::<chrono_tz::Tz>().map_err(|_| {
            ValidationError::new("time_zone", format!("{tz_text:?} is not an IANA time zone"))
        })?;
        let country = blank_to_none(&self.default_country)
            .unwrap_or("US")
            .to_ascii_uppercase();
        if country.parse::<phonenumber::country::Id>().is_err() {
            return Err(ValidationError::new(
                "default_country",
                format!("{country:?} is not an ISO 3166 country code"),
            ));
        }
        let account_sid = blank_to_none(&self.account_sid)
            .map(AccountSid::parse)
            .transpose()
            .map_err(|r| ValidationError::new("account_sid", r))?;
        let api_key_sid = blank_to_none(&self.api_key_sid)
            .map(|s| sid_with_prefix(s, "SK"))
            .transpose()
            .map_err(|r| ValidationError::new("api_key_sid", r))?;
        let twiml_app_sid = blank_to_none(&self.twiml_app_sid)
            .map(|s| sid_with_prefix(s, "AP"))
            .transpose()
            .map_err(|r| ValidationError::new("twiml_app_sid", r))?;
        let calls_per_second = self.calls_per_second.unwrap_or(1.0);
        if !(calls_per_second > 0.0 && calls_per_second <= 100.0) {
            return Err(ValidationError::new(
                "calls_per_second",
                "must be above 0 and at most 100",
            ));
        }
        Ok(ClientSettings {
            name: name.to_string(),
            time_zone,
            default_country: country,
            account_sid,
            api_key_sid,
            twiml_app_sid,
            voice_enabled: self.voice_enabled.unwrap_or(true),
            calls_per_second,
        })
    }
}

/// Validates a number for a client, naming `field` in the error.
pub fn client_number(field: &str, input: &str) -> Result<PhoneNumber, ValidationError> {
    PhoneNumber::parse_field(field, input, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> ClientFields {
        ClientFields {
            name: "Acme".into(),
            account_sid: Some(format!("AC{}", "a".repeat(32))),
            ..Default::default()
        }
    }

    #[test]
    fn a_valid_client_passes_with_defaults() {
        let s = fields().validate().unwrap();
        assert_eq!(s.default_country, "US");
        assert_eq!(s.time_zone, chrono_tz::UTC);
        assert!(s.voice_enabled);
    }

    #[test]
    fn malformed_account_sid_names_the_field() {
        for bad in [
            "AC123".to_string(),
            "XX".to_string() + &"a".repeat(32),
            format!("AC{}", "g".repeat(32)),
        ]
        .iter()
        .map(|s| s.to_string())
        {
            let mut f = fields();
            f.account_sid = Some(bad);
            assert_eq!(f.validate().unwrap_err().field, "account_sid");
        }
    }

    #[test]
    fn unknown_time_zone_and_country_are_rejected() {
        let mut f = fields();
        f.time_zone = Some("Mars/Olympus".into());
        assert_eq!(f.validate().unwrap_err().field, "time_zone");
        let mut f = fields();
        f.default_country = Some("ZZ".into());
        assert_eq!(f.validate().unwrap_err().field, "default_country");
    }
}
