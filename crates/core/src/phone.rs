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
        let idd = country.and_then(|c| without_idd_prefix(c, trimmed));
        let own_code = trimmed.starts_with('+') || idd.is_some();
        if country.is_none() && !own_code {
            return Err("must be in E.164 form, starting with + and the country code".into());
        }
        // A number written with its own country code (`+`, or the default country's
        // international prefix such as 00 or 011) is read without the default country, as
        // libphonenumber does: given one, the `phonenumber` crate strips the default country's
        // national prefix from the foreign national number (`+49 1512…` became `+49 512…`).
        let text = idd.unwrap_or_else(|| trimmed.to_string());
        let country = if own_code { None } else { country };
        let parsed = phonenumber::parse(country, &text)
            .map_err(|_| format!("{trimmed:?} is not a phone number"))?;
        if validity::is_valid(&parsed) && (own_code || fits_default(country, &parsed)) {
            return Ok(Self(
                parsed.format().mode(phonenumber::Mode::E164).to_string(),
            ));
        }
        let repaired = match (own_code, country) {
            (true, _) => unstripped_national(&text, &parsed),
            (false, Some(c)) => stripped_once(c, &text),
            (false, None) => None,
        };
        if let Some(e164) = repaired {
            return Ok(Self(e164));
        }
        Err(format!("{trimmed:?} is not a valid phone number"))
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

/// The `phonenumber` crate strips the national prefix of the number's own country even from
/// a number written with its country code (`+375 8011234567` became `+375 11234567`, `+7 800…`
/// became `+7 00…`); libphonenumber keeps the digits when only they make a valid number. The
/// E.164 form of the digits as written after the calling code, when they are valid.
fn unstripped_national(text: &str, parsed: &phonenumber::PhoneNumber) -> Option<String> {
    let code = parsed.code().value();
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let national = digits.strip_prefix(&code.to_string())?;
    let valid =
        national != parsed.national().to_string() && validity::is_valid_parts(code, national);
    valid.then(|| format!("+{code}{national}"))
}

/// libphonenumber keeps a national prefix it stripped when the rest has no possible length of
/// the default country (`0800 735456` read in Jersey stays invalid; the crate reads it as a
/// valid British number).
fn fits_default(
    country: Option<phonenumber::country::Id>,
    parsed: &phonenumber::PhoneNumber,
) -> bool {
    let Some(meta) = country.and_then(|c| phonenumber::metadata::DATABASE.by_id(&format!("{c:?}")))
    else {
        return true;
    };
    has_possible_length(meta, parsed.national().to_string().len())
}

/// Whether `len` is a possible national length in the country: those of its general
/// description, or, where the metadata leaves them out there, those of its number types (as
/// libphonenumber derives them).
fn has_possible_length(meta: &phonenumber::metadata::Metadata, len: usize) -> bool {
    let d = meta.descriptors();
    let general = d.general().possible_length();
    if !general.is_empty() {
        return general.contains(&(len as u16));
    }
    let types = [
        d.fixed_line(),
        d.mobile(),
        d.toll_free(),
        d.premium_rate(),
        d.shared_cost(),
    ];
    let types = types.into_iter().chain([
        d.voip(),
        d.personal_number(),
        d.pager(),
        d.uan(),
        d.voicemail(),
    ]);
    let lengths: Vec<u16> = types
        .flatten()
        .flat_map(|t| t.possible_length().to_vec())
        .collect();
    lengths.is_empty() || lengths.contains(&(len as u16))
}

/// A national number with the country's national prefix (such as 8 in Russia) stripped once,
/// as libphonenumber does (the `phonenumber` crate strips it again from `8 800…`), or else as
/// written (the crate takes Rwanda's `250 123 456` for the calling code 250 and a short rest).
/// The E.164 form when that is valid.
fn stripped_once(country: phonenumber::country::Id, text: &str) -> Option<String> {
    let meta = phonenumber::metadata::DATABASE.by_id(&format!("{country:?}"))?;
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let code = meta.country_code();
    let stripped = meta
        .national_prefix()
        .and_then(|p| digits.strip_prefix(p))
        .filter(|n| has_possible_length(meta, n.len()) && validity::is_valid_parts(code, n));
    let national = stripped.or_else(|| {
        let as_written = !digits.starts_with('0') || meta.national_prefix().is_none();
        (as_written && validity::is_valid_parts(code, &digits)).then_some(digits.as_str())
    })?;
    Some(format!("+{code}{national}"))
}

/// The number written after the default country's international (IDD) prefix, as `+` and
/// its digits, when `text` starts with that prefix (`0049 151…` from Germany, `011 44…` from
/// the US); separators between the digits are ignored, as libphonenumber does.
fn without_idd_prefix(country: phonenumber::country::Id, text: &str) -> Option<String> {
    let meta = phonenumber::metadata::DATABASE.by_id(&format!("{country:?}"))?;
    let prefix = meta.international_prefix()?;
    let digits: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')' | '/'))
        .collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let end = validity::prefix_len(prefix as *const _ as usize, prefix.as_str(), &digits)?;
    let rest = &digits[end..];
    // libphonenumber does not take a prefix followed by 0 as one: no calling code starts with 0.
    (!rest.is_empty() && !rest.starts_with('0')).then(|| format!("+{rest}"))
}

/// `phonenumber::is_valid` without its lock. The crate runs every metadata pattern through one
/// process-wide, mutex-guarded LRU cache keyed by the pattern's text: each use hashes the text
/// (kilobytes for some fixed-line patterns) and holds the lock while matching, so parser threads
/// queue behind each other and validation dominated import time. Here each pattern is compiled
/// once (the same text and options as the crate's) into a shared table keyed by the pattern's
/// place in the crate's static database, and each thread keeps its own handle to it. The rules
/// are the crate's: find the region of the number (the only one of its calling code, else the
/// first whose leading digits or number patterns fit), then the number is valid when the
/// region's general pattern and one of its number-type patterns match.
mod validity {
    use phonenumber::metadata::{Descriptor, Metadata, DATABASE};
    use regex::Regex;
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::sync::{Arc, OnceLock, RwLock};

    type Table = HashMap<usize, Option<Arc<Regex>>>;

    static SHARED: OnceLock<RwLock<Table>> = OnceLock::new();
    thread_local! {
        static LOCAL: RefCell<Table> = RefCell::new(HashMap::new());
    }

    /// Whether the pattern (given by its address and, on first use, its text) matches `value`
    /// as libphonenumber tests it: number patterns must match the whole number, leading-digit
    /// patterns its start. The pattern is compiled anchored: an unanchored `find` takes the
    /// leftmost-first alternative, which can be a shorter one than the alternative that matches
    /// the whole number (this rejected every Brazilian and many French and British numbers). A
    /// pattern the regex crate refuses (none does) would count as no match.
    fn anchored_match(
        key: usize,
        whole: bool,
        source: impl FnOnce() -> String,
        value: &str,
    ) -> bool {
        let re = LOCAL.with(|local| {
            if let Some(re) = local.borrow().get(&key) {
                return re.clone();
            }
            let re = shared(key, whole, source);
            local.borrow_mut().insert(key, re.clone());
            re
        });
        re.is_some_and(|re| re.is_match(value))
    }

    /// Length of the longest start of `value` the pattern matches (leftmost-first, as
    /// libphonenumber's `lookingAt`), if it matches there.
    pub(super) fn prefix_len(key: usize, source: &str, value: &str) -> Option<usize> {
        let found = LOCAL.with(|local| {
            if let Some(re) = local.borrow().get(&key) {
                return re.clone();
            }
            let compiled = shared(key, false, || source.to_string());
            local.borrow_mut().insert(key, compiled.clone());
            compiled
        })?;
        found.find(value).map(|m| m.end())
    }

    fn shared(key: usize, whole: bool, source: impl FnOnce() -> String) -> Option<Arc<Regex>> {
        let table = SHARED.get_or_init(|| RwLock::new(HashMap::new()));
        if let Some(re) = table.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return re.clone();
        }
        let end = if whole { "$" } else { "" };
        let re = regex::RegexBuilder::new(&format!("^(?:{}){end}", source()))
            .ignore_whitespace(true)
            .build()
            .ok()
            .map(Arc::new);
        table
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_insert(re)
            .clone()
    }

    fn matches(desc: &Descriptor, value: &str) -> bool {
        let lengths = desc.possible_length();
        if !lengths.is_empty() && !lengths.contains(&(value.len() as u16)) {
            return false;
        }
        let re = desc.national_number();
        anchored_match(
            re as *const _ as usize,
            true,
            || re.as_str().to_string(),
            value,
        )
    }

    /// `phonenumber`'s number type is not `Unknown`.
    fn has_type(meta: &Metadata, national: &str) -> bool {
        let d = meta.descriptors();
        matches(d.general(), national)
            && [
                d.premium_rate(),
                d.toll_free(),
                d.shared_cost(),
                d.voip(),
                d.personal_number(),
                d.pager(),
                d.uan(),
                d.voicemail(),
                d.fixed_line(),
                d.mobile(),
            ]
            .into_iter()
            .flatten()
            .any(|desc| matches(desc, national))
    }

    pub(super) fn is_valid(number: &phonenumber::PhoneNumber) -> bool {
        is_valid_parts(number.code().value(), &number.national().to_string())
    }

    /// Whether `national` is a valid number of calling code `code`.
    pub(super) fn is_valid_parts(code: u16, national: &str) -> bool {
        let db = &*DATABASE;
        let national = national.to_string();
        let Some(regions) = db.region(&code) else {
            return false;
        };
        let meta = if regions.len() == 1 {
            if regions[0] == "001" {
                db.by_code(&code).and_then(|m| m.into_iter().next())
            } else {
                regions[0]
                    .parse::<phonenumber::country::Id>()
                    .ok()
                    .and_then(|_| db.by_id(regions[0]))
            }
        } else {
            let mut found = None;
            for region in regions {
                let Some(meta) = db.by_id(region) else {
                    continue;
                };
                // libphonenumber's region choice: leading digits that fit, else a number type.
                let leads = meta.leading_digits().is_some_and(|p| {
                    anchored_match(
                        p as *const _ as usize,
                        false,
                        || p.as_str().to_string(),
                        &national,
                    )
                });
                if leads || has_type(meta, &national) {
                    found = Some(meta);
                    break;
                }
            }
            found
        };
        meta.is_some_and(|m| has_type(m, &national))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_agrees_on_known_numbers() {
        for (n, want) in [
            ("+16502530000", true),
            ("+14155550100", true),
            ("+12122010000", true),
            ("+12530000", false),
            ("+390236618300", true),
            ("+330631966543", true),
            ("+447912345678", true),
            ("+80012345678", true),
            ("+979123456789", true),
            ("+6421387835", true),
            ("+12642351234", true),
            ("+18092345678", true),
            ("+19999999999", false),
        ] {
            let parsed = phonenumber::parse(None, n).unwrap();
            assert_eq!(phonenumber::is_valid(&parsed), want, "{n} (crate)");
            assert_eq!(validity::is_valid(&parsed), want, "{n}");
        }
    }

    /// The table `scripts/gen_phone_cases.py` writes from libphonenumber: input, default
    /// country, and the E.164 form libphonenumber gives or `reject`.
    #[test]
    fn every_case_of_the_libphonenumber_table_parses_as_libphonenumber_does() {
        let table = include_str!("../tests/data/phone_cases.tsv");
        let (mut rows, mut wrong) = (0, Vec::new());
        for line in table.lines().filter(|l| !l.starts_with('#')) {
            let mut cols = line.split('\t');
            let (input, default, want) = (cols.next(), cols.next(), cols.next());
            let (Some(input), Some(default), Some(want)) = (input, default, want) else {
                panic!("malformed table row {line:?}");
            };
            rows += 1;
            let got = PhoneNumber::parse(input, Some(default))
                .map_or_else(|_| "reject".to_string(), |n| n.as_str().to_string());
            if got != want {
                wrong.push(format!("{input:?} in {default}: want {want}, got {got}"));
            }
        }
        assert!(rows > 10_000, "the table has only {rows} rows");
        let agree = 100.0 * (rows - wrong.len()) as f64 / rows as f64;
        assert!(
            wrong.is_empty(),
            "{} of {rows} rows disagree ({agree:.2} % agree), e.g.\n{}",
            wrong.len(),
            wrong
                .iter()
                .take(40)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

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
    fn a_number_with_its_own_country_code_ignores_the_default_country() {
        for (input, want) in [
            ("+49 1512 3453810", "+4915123453810"),
            ("+4915123453810", "+4915123453810"),
            ("+44 121 496 0000", "+441214960000"),
            ("+33 1 23 45 67 89", "+33123456789"),
        ] {
            for default in [None, Some("US"), Some("GB"), Some("DE")] {
                let n =
                    PhoneNumber::parse(input, default).unwrap_or_else(|e| panic!("{input}: {e}"));
                assert_eq!(n.as_str(), want, "{input} with default {default:?}");
            }
        }
        // The foreign number's national part is not stripped into another valid-looking one.
        assert!(PhoneNumber::parse("+33 1234567005", Some("US")).is_err());
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
