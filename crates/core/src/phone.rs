//! Phone numbers in E.164 form. Parsing happens once, at the boundary; past it only `PhoneNumber`
//! travels, so every stored and dialled number is valid and in one canonical spelling.

use crate::ValidationError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A valid phone number in E.164 form (`+` then up to 15 digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses a number written in E.164 (`+14155550100`).
    pub fn parse_e164(input: &str) -> Result<Self, String> {
        Self::parse(input, None)
    }

    /// Parses a number, reading national formats with `default_country` (ISO 3166 alpha-2).
    pub fn parse(input: &str, default_country: Option<&str>) -> Result<Self, String> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err("is empty".into());
        }
        let country = match default_country {
            Some(c) => Some(
                c.to_ascii_uppercase()
                    .parse::<phonenumber::country::Id>()
                    .map_err(|_| format!("unknown default country {c:?}"))?,
            ),
            None => None,
        };
        if country.is_none() && !trimmed.starts_with('+') {
            return Err("must be in E.164 form, starting with + and the country code".into());
        }
        let parsed = phonenumber::parse(country, trimmed)
            .map_err(|_| format!("{trimmed:?} is not a phone number"))?;
        if !phonenumber::is_valid(&parsed) {
            return Err(format!("{trimmed:?} is not a valid phone number"));
        }
        Ok(Self(
            parsed.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    /// Parses, naming `field` in the error.
    pub fn parse_field(
        field: &str,
        input: &str,
        default_country: Option<&str>,
    ) -> Result<Self, ValidationError> {
        Self::parse(input, default_country).map_err(|r| ValidationError::new(field, r))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// ISO country of the number, when the numbering plan tells it.
    pub fn country(&self) -> Option<String> {
        let parsed = phonenumber::parse(None, &self.0).ok()?;
        parsed.country().id().map(|id| format!("{id:?}"))
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse_e164(&value)
    }
}

impl From<PhoneNumber> for String {
    fn from(value: PhoneNumber) -> Self {
        value.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers_parse_and_keep_their_spelling() {
        let n = PhoneNumber::parse_e164("+14155550100").unwrap();
        assert_eq!(n.as_str(), "+14155550100");
        assert_eq!(n.country().as_deref(), Some("US"));
    }

    #[test]
    fn national_numbers_use_the_default_country() {
        let n = PhoneNumber::parse("020 7946 0018", Some("GB")).unwrap();
        assert_eq!(n.as_str(), "+442079460018");
    }

    #[test]
    fn malformed_numbers_are_rejected_with_a_reason() {
        assert!(PhoneNumber::parse_e164("4155550100").is_err());
        assert!(PhoneNumber::parse_e164("+1").is_err());
        assert!(PhoneNumber::parse_e164("hello").is_err());
        let e = PhoneNumber::parse_field("number", "", None).unwrap_err();
        assert_eq!(e.field, "number");
    }
}
