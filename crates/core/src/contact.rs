//! Contacts (DESIGN §1): what a valid contact is before it is stored. Owns the per-client property
//! schema (typed custom properties and their validation), the built-in contact fields (E.164
//! phone read with the client's default country, names, e-mail, IANA time zone derived from the
//! number when absent), and the CSV-injection guard used by exports. Every error names the field
//! or property and says why.

use crate::campaign::window::zones_for_number;
use crate::phone::PhoneNumber;
use crate::user::Email;
use crate::ValidationError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// Longest text accepted in a name or a text property, in characters.
pub const MAX_TEXT_CHARS: usize = 4096;

/// The built-in contact fields; property names may not reuse them.
pub const BUILT_IN_FIELDS: &[&str] = &[
    "phone",
    "first_name",
    "last_name",
    "email",
    "time_zone",
    "list",
];

/// The type of a custom property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PropertyKind {
    Text,
    Number,
    Boolean,
    Date,
    Email,
    Phone,
    Choice,
}

impl PropertyKind {
    pub const ALL: [PropertyKind; 7] = [
        PropertyKind::Text,
        PropertyKind::Number,
        PropertyKind::Boolean,
        PropertyKind::Date,
        PropertyKind::Email,
        PropertyKind::Phone,
        PropertyKind::Choice,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PropertyKind::Text => "text",
            PropertyKind::Number => "number",
            PropertyKind::Boolean => "boolean",
            PropertyKind::Date => "date",
            PropertyKind::Email => "email",
            PropertyKind::Phone => "phone",
            PropertyKind::Choice => "choice",
        }
    }

    pub fn parse(field: &str, input: &str) -> Result<Self, ValidationError> {
        let s = input.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                ValidationError::new(
                    field,
                    format!(
                        "{input:?} is not a property type (text, number, boolean, date, email, phone, choice)"
                    ),
                )
            })
    }
}

impl fmt::Display for PropertyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One custom property of a client's contacts, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PropertyDef {
    /// The key in the contact's `properties` object: `[a-z][a-z0-9_]*`, at most 63 characters.
    pub name: String,
    pub label: String,
    pub kind: PropertyKind,
    /// The allowed values of a `choice` property (empty for other kinds).
    #[serde(default)]
    pub choices: Vec<String>,
    #[serde(default)]
    pub required: bool,
}

/// A property definition as typed by an admin (form or API).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct PropertyFields {
    pub name: String,
    pub label: Option<String>,
    pub kind: String,
    #[serde(default)]
    pub choices: Vec<String>,
    #[serde(default)]
    pub required: bool,
}

impl PropertyFields {
    pub fn validate(&self) -> Result<PropertyDef, ValidationError> {
        let name = self.name.trim().to_string();
        check_property_name(&name)?;
        let kind = PropertyKind::parse("kind", &self.kind)?;
        let choices: Vec<String> = self
            .choices
            .iter()
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect();
        if kind == PropertyKind::Choice && choices.is_empty() {
            return Err(ValidationError::new(
                "choices",
                "a choice property needs at least one choice",
            ));
        }
        if kind != PropertyKind::Choice && !choices.is_empty() {
            return Err(ValidationError::new(
                "choices",
                "only a choice property has choices",
            ));
        }
        let label = self
            .label
            .as_deref()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .unwrap_or(&name)
            .to_string();
        Ok(PropertyDef {
            name,
            label,
            kind,
            choices,
            required: self.required,
        })
    }
}

fn check_property_name(name: &str) -> Result<(), ValidationError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        return Err(ValidationError::new(
            "name",
            "must start with a lowercase letter and hold only a-z, 0-9 and _ (at most 63)",
        ));
    }
    if BUILT_IN_FIELDS.contains(&name) {
        return Err(ValidationError::new(
            "name",
            format!("{name:?} is a built-in contact field"),
        ));
    }
    Ok(())
}

impl PropertyDef {
    /// Reads a value typed as text (CSV cell, form input). `Ok(None)` means "no value".
    pub fn parse_text(
        &self,
        raw: &str,
        default_country: Option<&str>,
    ) -> Result<Option<Value>, String> {
        let s = raw.trim();
        if s.is_empty() {
            return if self.required {
                Err("is required".into())
            } else {
                Ok(None)
            };
        }
        let v = match self.kind {
            PropertyKind::Text => {
                if s.chars().count() > MAX_TEXT_CHARS {
                    return Err(format!("is longer than {MAX_TEXT_CHARS} characters"));
                }
                Value::String(s.to_string())
            }
            PropertyKind::Number => {
                let n: f64 = s
                    .parse()
                    .ok()
                    .filter(|n: &f64| n.is_finite())
                    .ok_or_else(|| format!("{s:?} is not a number"))?;
                serde_json::Number::from_f64(n)
                    .map(Value::Number)
                    .ok_or_else(|| format!("{s:?} is not a number"))?
            }
            PropertyKind::Boolean => match s.to_ascii_lowercase().as_str() {
                "true" | "yes" | "y" | "1" => Value::Bool(true),
                "false" | "no" | "n" | "0" => Value::Bool(false),
                _ => return Err(format!("{s:?} is not true/false (or yes/no, 1/0)")),
            },
            PropertyKind::Date => {
                chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map_err(|_| format!("{s:?} is not a date (YYYY-MM-DD)"))?;
                Value::String(s.to_string())
            }
            PropertyKind::Email => {
                Value::String(Email::parse("", s).map_err(|e| e.reason)?.as_str().into())
            }
            PropertyKind::Phone => {
                Value::String(PhoneNumber::parse(s, default_country)?.as_str().into())
            }
            PropertyKind::Choice => {
                let c = self
                    .choices
                    .iter()
                    .find(|c| c.as_str() == s || c.eq_ignore_ascii_case(s))
                    .ok_or_else(|| format!("{s:?} is not one of: {}", self.choices.join(", ")))?;
                Value::String(c.clone())
            }
        };
        Ok(Some(v))
    }

    /// Checks a value given as JSON (API). Strings are read like text; numbers and booleans are
    /// taken as they are when the kind matches; `null` means "no value".
    pub fn parse_json(
        &self,
        v: &Value,
        default_country: Option<&str>,
    ) -> Result<Option<Value>, String> {
        match (self.kind, v) {
            (_, Value::Null) => self.parse_text("", default_country),
            (_, Value::String(s)) => self.parse_text(s, default_country),
            (PropertyKind::Number, Value::Number(n)) if n.as_f64().is_some() => Ok(Some(v.clone())),
            (PropertyKind::Boolean, Value::Bool(_)) => Ok(Some(v.clone())),
            _ => Err(format!("must be a {} value", self.kind)),
        }
    }
}

/// The per-client property schema: the definitions, in display order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PropertySchema {
    pub properties: Vec<PropertyDef>,
}

impl PropertySchema {
    pub fn get(&self, name: &str) -> Option<&PropertyDef> {
        self.properties.iter().find(|p| p.name == name)
    }

    /// Validates a whole properties object (API input). Unknown keys and wrong types are errors
    /// naming `properties.<name>`; required properties must be present.
    pub fn validate_object(
        &self,
        input: &Map<String, Value>,
        default_country: Option<&str>,
    ) -> Result<Map<String, Value>, ValidationError> {
        let mut out = Map::new();
        for (k, v) in input {
            let def = self.get(k).ok_or_else(|| {
                ValidationError::new(
                    format!("properties.{k}"),
                    "is not a property of this client",
                )
            })?;
            if let Some(v) = def
                .parse_json(v, default_country)
                .map_err(|r| ValidationError::new(format!("properties.{k}"), r))?
            {
                out.insert(k.clone(), v);
            }
        }
        for def in self.properties.iter().filter(|p| p.required) {
            if !out.contains_key(&def.name) {
                return Err(ValidationError::new(
                    format!("properties.{}", def.name),
                    "is required",
                ));
            }
        }
        Ok(out)
    }
}

/// Raw contact fields as they arrive from a form or the API.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct ContactFields {
    pub phone: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub properties: Map<String, Value>,
}

/// A contact's own data after validation (list membership is separate).
#[derive(Debug, Clone, PartialEq)]
pub struct ContactData {
    pub phone: PhoneNumber,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<Email>,
    /// The contact's zone: given, or derived from the number when that names exactly one zone.
    pub time_zone: Option<chrono_tz::Tz>,
    pub properties: Map<String, Value>,
}

impl ContactFields {
    pub fn validate(
        &self,
        schema: &PropertySchema,
        default_country: Option<&str>,
    ) -> Result<ContactData, ValidationError> {
        let phone = PhoneNumber::parse_field("phone", &self.phone, default_country)?;
        let first_name = name_field("first_name", self.first_name.as_deref())?;
        let last_name = name_field("last_name", self.last_name.as_deref())?;
        let email = match self.email.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(e) => Some(Email::parse("email", e)?),
        };
        let time_zone = match self.time_zone.as_deref().map(str::trim) {
            None | Some("") => derive_time_zone(&phone),
            Some(z) => Some(parse_time_zone("time_zone", z)?),
        };
        let properties = schema.validate_object(&self.properties, default_country)?;
        Ok(ContactData {
            phone,
            first_name,
            last_name,
            email,
            time_zone,
            properties,
        })
    }
}

/// Trims a name and checks its length.
pub fn name_field(field: &str, input: Option<&str>) -> Result<String, ValidationError> {
    let s = input.unwrap_or("").trim();
    if s.chars().count() > 200 {
        return Err(ValidationError::new(field, "is longer than 200 characters"));
    }
    Ok(s.to_string())
}

/// Reads an IANA zone name (`Europe/Paris`).
pub fn parse_time_zone(field: &str, input: &str) -> Result<chrono_tz::Tz, ValidationError> {
    input
        .trim()
        .parse::<chrono_tz::Tz>()
        .map_err(|_| ValidationError::new(field, format!("{input:?} is not an IANA time zone")))
}

/// The zone of a number when its area code or country names exactly one zone.
pub fn derive_time_zone(phone: &PhoneNumber) -> Option<chrono_tz::Tz> {
    match zones_for_number(phone).as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// Guards an exported cell against CSV (formula) injection: a cell that a spreadsheet would read
/// as a formula gets a leading `'`. Plain numbers such as `+14155550100` or `-3.5` are left alone.
pub fn escape_formula(cell: &str) -> std::borrow::Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && !is_plain_number(cell) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// The inverse of [`escape_formula`], applied on import so an exported file reads back unchanged.
pub fn unescape_formula(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if escape_formula(rest).len() != rest.len() => rest,
        _ => cell,
    }
}

fn is_plain_number(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let mut parts = body.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next();
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(kind: PropertyKind) -> PropertyDef {
        PropertyDef {
            name: "p".into(),
            label: "P".into(),
            kind,
            choices: if kind == PropertyKind::Choice {
                vec!["Gold".into(), "Silver".into()]
            } else {
                vec![]
            },
            required: false,
        }
    }

    #[test]
    fn each_property_kind_accepts_its_values_and_rejects_others_with_a_reason() {
        let cases: &[(PropertyKind, &str, Option<Value>)] = &[
            (PropertyKind::Text, "hi", Some(Value::String("hi".into()))),
            (PropertyKind::Number, "3.5", Some(serde_json::json!(3.5))),
            (PropertyKind::Number, "abc", None),
            (PropertyKind::Number, "NaN", None),
            (PropertyKind::Boolean, "Yes", Some(Value::Bool(true))),
            (PropertyKind::Boolean, "maybe", None),
            (PropertyKind::Date, "2026-02-28", Some("2026-02-28".into())),
            (PropertyKind::Date, "2026-02-30", None),
            (PropertyKind::Email, "A@B.io", Some("a@b.io".into())),
            (PropertyKind::Email, "nope", None),
            (
                PropertyKind::Phone,
                "+14155550100",
                Some("+14155550100".into()),
            ),
            (PropertyKind::Phone, "12", None),
            (PropertyKind::Choice, "gold", Some("Gold".into())),
            (PropertyKind::Choice, "Bronze", None),
        ];
        for (kind, raw, want) in cases {
            let got = def(*kind).parse_text(raw, None);
            match want {
                Some(v) => assert_eq!(got.as_ref().unwrap().as_ref(), Some(v), "{kind} {raw}"),
                None => assert!(!got.unwrap_err().is_empty(), "{kind} {raw}"),
            }
        }
    }

    #[test]
    fn required_properties_reject_empty_values() {
        let mut d = def(PropertyKind::Text);
        assert_eq!(d.parse_text(" ", None), Ok(None));
        d.required = true;
        assert_eq!(d.parse_text(" ", None), Err("is required".into()));
    }

    #[test]
    fn property_errors_name_the_property() {
        let schema = PropertySchema {
            properties: vec![PropertyDef {
                name: "age".into(),
                ..def(PropertyKind::Number)
            }],
        };
        let mut m = Map::new();
        m.insert("age".into(), Value::Bool(true));
        assert_eq!(
            schema.validate_object(&m, None).unwrap_err().field,
            "properties.age"
        );
        let mut m = Map::new();
        m.insert("color".into(), "red".into());
        assert_eq!(
            schema.validate_object(&m, None).unwrap_err().field,
            "properties.color"
        );
    }

    #[test]
    fn property_names_are_checked_and_may_not_shadow_built_in_fields() {
        let f = |name: &str| PropertyFields {
            name: name.into(),
            kind: "text".into(),
            ..Default::default()
        };
        assert!(f("plan_2").validate().is_ok());
        assert_eq!(f("Plan").validate().unwrap_err().field, "name");
        assert_eq!(f("email").validate().unwrap_err().field, "name");
        let mut c = f("tier");
        c.kind = "choice".into();
        assert_eq!(c.validate().unwrap_err().field, "choices");
    }

    #[test]
    fn contact_phone_uses_the_default_country_and_zone_is_derived_from_the_number() {
        let c = ContactFields {
            phone: "(212) 555-0100".into(),
            ..Default::default()
        }
        .validate(&PropertySchema::default(), Some("US"))
        .unwrap();
        assert_eq!(c.phone.as_str(), "+12125550100");
        assert_eq!(c.time_zone, Some(chrono_tz::America::New_York));
        let e = ContactFields {
            phone: "+12125550100".into(),
            time_zone: Some("Mars/Base".into()),
            ..Default::default()
        }
        .validate(&PropertySchema::default(), None)
        .unwrap_err();
        assert_eq!(e.field, "time_zone");
    }

    #[test]
    fn formulas_are_exported_with_a_leading_quote_and_read_back_unchanged() {
        for cell in ["=cmd()", "+SUM(A1)", "-2+3", "@x", "\tx"] {
            let out = escape_formula(cell);
            assert_eq!(out, format!("'{cell}"));
            assert_eq!(unescape_formula(&out), cell);
        }
        for cell in ["+14155550100", "-3.5", "plain", "'quoted"] {
            assert_eq!(escape_formula(cell), cell);
            assert_eq!(unescape_formula(cell), cell);
        }
    }
}
