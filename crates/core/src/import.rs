//! The rules of a contact CSV import (issue 4), as pure functions: which column feeds which
//! contact field or property, how one row becomes contact data or a rejection with a reason, and
//! which single bucket each row ends up in. Every row lands in exactly one bucket, so
//! `rows == imported + updated + moved_from_list + duplicates_in_file + on_dnc + rejected`.

use crate::contact::{
    name_field, parse_time_zone, unescape_formula, PropertyDef, PropertySchema, MAX_TEXT_CHARS,
};
use crate::phone::PhoneNumber;
use crate::user::Email;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What a CSV column feeds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum Target {
    Phone,
    FirstName,
    LastName,
    Email,
    TimeZone,
    Property(String),
    Ignore,
}

impl Target {
    pub fn label(&self) -> String {
        match self {
            Target::Phone => "phone".into(),
            Target::FirstName => "first_name".into(),
            Target::LastName => "last_name".into(),
            Target::Email => "email".into(),
            Target::TimeZone => "time_zone".into(),
            Target::Property(p) => format!("properties.{p}"),
            Target::Ignore => "(ignored)".into(),
        }
    }

    /// Reads a target as written in a mapping form or API call: `phone`, `first_name`, …,
    /// `properties.<name>` (or a bare property name), `ignore`/empty.
    pub fn parse(input: &str, schema: &PropertySchema) -> Result<Self, String> {
        let s = input.trim();
        let t = match s {
            "" | "ignore" | "(ignored)" => Target::Ignore,
            "phone" => Target::Phone,
            "first_name" => Target::FirstName,
            "last_name" => Target::LastName,
            "email" => Target::Email,
            "time_zone" => Target::TimeZone,
            other => {
                let name = other.strip_prefix("properties.").unwrap_or(other);
                if schema.get(name).is_none() {
                    return Err(format!("{other:?} is not a contact field or property"));
                }
                Target::Property(name.to_string())
            }
        };
        Ok(t)
    }
}

/// Guesses the target of a header: built-in field names and common spellings, then property
/// names or labels; anything else is ignored.
pub fn guess_target(header: &str, schema: &PropertySchema) -> Target {
    let norm: String = header
        .trim()
        .trim_start_matches('\u{feff}')
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect();
    let t = match norm.as_str() {
        "phone" | "phonenumber" | "number" | "mobile" | "mobilephone" | "cell" | "telephone"
        | "tel" | "msisdn" => Target::Phone,
        "firstname" | "first" | "givenname" | "forename" => Target::FirstName,
        "lastname" | "last" | "surname" | "familyname" => Target::LastName,
        "email" | "emailaddress" | "mail" => Target::Email,
        "timezone" | "tz" | "zone" => Target::TimeZone,
        _ => Target::Ignore,
    };
    if t != Target::Ignore {
        return t;
    }
    let squash = |s: &str| -> String {
        s.to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric())
            .collect()
    };
    schema
        .properties
        .iter()
        .find(|p| squash(&p.name) == norm || squash(&p.label) == norm)
        .map(|p| Target::Property(p.name.clone()))
        .unwrap_or(Target::Ignore)
}

/// The columns of a file and what each feeds. `problem` is set when the mapping cannot import
/// any row (no phone column, two columns for one field, a required property without a column);
/// then every row is rejected with that reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ColumnMapping {
    pub headers: Vec<String>,
    pub targets: Vec<Target>,
    pub problem: Option<String>,
}

impl ColumnMapping {
    /// Maps `headers`, using `overrides` (by column index) where given and guesses elsewhere.
    pub fn new(
        headers: Vec<String>,
        overrides: &[Option<Target>],
        schema: &PropertySchema,
    ) -> Self {
        let targets: Vec<Target> = headers
            .iter()
            .enumerate()
            .map(|(i, h)| {
                overrides
                    .get(i)
                    .cloned()
                    .flatten()
                    .unwrap_or_else(|| guess_target(h, schema))
            })
            .collect();
        let problem = mapping_problem(&headers, &targets, schema);
        Self {
            headers,
            targets,
            problem,
        }
    }
}

fn mapping_problem(
    headers: &[String],
    targets: &[Target],
    schema: &PropertySchema,
) -> Option<String> {
    for (i, t) in targets.iter().enumerate() {
        if *t == Target::Ignore {
            continue;
        }
        if let Some(j) = targets[..i].iter().position(|u| u == t) {
            return Some(format!(
                "columns {} ({:?}) and {} ({:?}) both map to {}",
                j + 1,
                headers[j],
                i + 1,
                headers[i],
                t.label()
            ));
        }
    }
    if !targets.contains(&Target::Phone) {
        return Some("missing required column phone".into());
    }
    schema
        .properties
        .iter()
        .find(|p| p.required && !targets.contains(&Target::Property(p.name.clone())))
        .map(|p| format!("missing required column {} (property)", p.name))
}

/// One row's data as read from the file. `None` means the file gave no value, so an update
/// keeps what is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RowData {
    pub phone: PhoneNumber,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<Email>,
    pub time_zone: Option<chrono_tz::Tz>,
    pub properties: Map<String, Value>,
    /// Optional fields left empty because their value was not valid.
    pub warnings: Vec<FieldWarning>,
}

/// A field of an imported row left empty because its value was not valid; the contact is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldWarning {
    pub field: String,
    pub reason: String,
}

/// A warned row of an import: its line in the file, the field left empty and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RowWarning {
    pub line: u64,
    pub field: String,
    pub reason: String,
}

/// Reads one row (already split into UTF-8 fields). A bad value in an optional field (names,
/// e-mail, time zone, a property that is not required) leaves that field empty with a warning in
/// [`RowData::warnings`]; the row is rejected only for a bad or missing number, a bad required
/// property or a malformed row. The error names every problem of the row, separated by "; ".
pub fn parse_row(
    mapping: &ColumnMapping,
    fields: &[&str],
    schema: &PropertySchema,
    default_country: Option<&str>,
) -> Result<RowData, String> {
    if let Some(p) = &mapping.problem {
        return Err(p.clone());
    }
    if fields.len() != mapping.headers.len() {
        return Err(format!(
            "wrong column count: {} instead of {}",
            fields.len(),
            mapping.headers.len()
        ));
    }
    let mut row = PartialRow::default();
    for (target, raw) in mapping.targets.iter().zip(fields) {
        row.read(target, raw, schema, default_country);
    }
    row.finish()
}

/// A row while its cells are read: the values so far, the errors that reject it and the
/// warnings that only empty a field.
#[derive(Default)]
struct PartialRow {
    phone: Option<PhoneNumber>,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<Email>,
    time_zone: Option<chrono_tz::Tz>,
    properties: Map<String, Value>,
    errors: Vec<String>,
    warnings: Vec<FieldWarning>,
}

impl PartialRow {
    fn warn(&mut self, field: &str, reason: String) {
        self.warnings.push(FieldWarning {
            field: field.to_string(),
            reason,
        })
    }

    /// Reads one cell into the field its column maps to.
    fn read(
        &mut self,
        target: &Target,
        raw: &str,
        schema: &PropertySchema,
        default_country: Option<&str>,
    ) {
        let cell = unescape_formula(raw.trim());
        let text = Some(cell).filter(|c| !c.is_empty());
        match target {
            Target::Ignore => {}
            Target::Phone => match PhoneNumber::parse(cell, default_country) {
                Ok(p) => self.phone = Some(p),
                Err(r) => self.errors.push(format!("bad number: phone {r}")),
            },
            Target::FirstName | Target::LastName => {
                let field = if *target == Target::FirstName {
                    "first_name"
                } else {
                    "last_name"
                };
                match text.map(|t| name_field(field, Some(t))).transpose() {
                    Ok(v) if field == "first_name" => self.first_name = v,
                    Ok(v) => self.last_name = v,
                    Err(e) => self.warn(field, e.reason),
                }
            }
            Target::Email => match text.map(|t| Email::parse("email", t)).transpose() {
                Ok(v) => self.email = v,
                Err(e) => self.warn("email", e.reason),
            },
            Target::TimeZone => match text.map(|t| parse_time_zone("time_zone", t)).transpose() {
                Ok(v) => self.time_zone = v,
                Err(e) => self.warn("time_zone", e.reason),
            },
            Target::Property(name) => {
                let Some(def) = schema.get(name) else {
                    self.errors
                        .push(format!("properties.{name}: is not a property"));
                    return;
                };
                match property_cell(def, cell, default_country) {
                    Ok(Some(v)) => {
                        self.properties.insert(name.clone(), v);
                    }
                    Ok(None) => {}
                    Err(e) if def.required => self.errors.push(e),
                    Err(e) => self.warn(&format!("properties.{name}"), e),
                }
            }
        }
    }

    /// The row's data, or every problem of the row (its optional fields' too, so one fix does
    /// it), separated by "; ".
    fn finish(mut self) -> Result<RowData, String> {
        if self.phone.is_none() && self.errors.is_empty() {
            self.errors.push("missing required column phone".into());
        }
        match self.phone {
            Some(phone) if self.errors.is_empty() => Ok(RowData {
                phone,
                first_name: self.first_name,
                last_name: self.last_name,
                email: self.email,
                time_zone: self.time_zone,
                properties: self.properties,
                warnings: self.warnings,
            }),
            _ => Err(self
                .errors
                .into_iter()
                .chain(
                    self.warnings
                        .iter()
                        .map(|w| format!("{}: {}", w.field, w.reason)),
                )
                .collect::<Vec<_>>()
                .join("; ")),
        }
    }
}

fn property_cell(
    def: &PropertyDef,
    cell: &str,
    default_country: Option<&str>,
) -> Result<Option<Value>, String> {
    if def.kind == crate::contact::PropertyKind::Text && cell.chars().count() > MAX_TEXT_CHARS {
        return Err(format!(
            "property type: properties.{} is longer than {MAX_TEXT_CHARS} characters",
            def.name
        ));
    }
    def.parse_text(cell, default_country)
        .map_err(|r| format!("property type: properties.{} {r}", def.name))
}

/// What an import does with rows whose number is already in another list, or on DNC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportOptions {
    /// Move contacts found in another list into this one (else leave them where they are).
    #[serde(default = "yes")]
    pub move_from_other_lists: bool,
    /// Skip numbers on the client's DNC list (else import them, counted as `on_dnc`).
    #[serde(default)]
    pub skip_dnc: bool,
}

fn yes() -> bool {
    true
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            move_from_other_lists: true,
            skip_dnc: false,
        }
    }
}

/// The bucket of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Imported,
    Updated,
    MovedFromList,
    DuplicateInFile,
    OnDnc,
    Rejected,
}

/// What the store does for a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create the contact in the target list.
    Insert,
    /// Put the existing contact into the target list and apply the row's data.
    MoveIn,
    /// Apply the row's data to the existing contact, which stays where it is.
    Update,
    /// Leave the stored data alone.
    Skip,
}

/// Where a row's number stands before the row is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// The client has no contact with this number.
    None,
    /// An earlier row of this same import already stored this number.
    StoredByThisImport,
    /// A contact in the target list.
    InTargetList,
    /// A contact in another list of the client.
    InOtherList,
    /// A contact in no list.
    InNoList,
}

/// Decides a valid row's bucket and action. Precedence: a number an earlier row already stored
/// is a duplicate; then DNC; then where the number stands.
pub fn classify(existing: Existing, on_dnc: bool, opts: ImportOptions) -> (Bucket, Action) {
    if existing == Existing::StoredByThisImport {
        return (Bucket::DuplicateInFile, Action::Skip);
    }
    if on_dnc && opts.skip_dnc {
        return (Bucket::OnDnc, Action::Skip);
    }
    let (bucket, action) = match existing {
        Existing::None => (Bucket::Imported, Action::Insert),
        Existing::InNoList => (Bucket::Imported, Action::MoveIn),
        Existing::InTargetList => (Bucket::Updated, Action::Update),
        Existing::InOtherList if opts.move_from_other_lists => {
            (Bucket::MovedFromList, Action::MoveIn)
        }
        Existing::InOtherList => (Bucket::MovedFromList, Action::Skip),
        Existing::StoredByThisImport => unreachable!("handled above"),
    };
    if on_dnc {
        (Bucket::OnDnc, action)
    } else {
        (bucket, action)
    }
}

/// Whether the action stores the row's number (so a later row with it is a duplicate).
pub fn stores(action: Action) -> bool {
    action != Action::Skip
}

/// A rejected row: its line in the file (1 = header) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rejection {
    pub line: u64,
    pub reason: String,
}

/// The import summary of DESIGN §4.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportSummary {
    pub rows: u64,
    pub imported: u64,
    pub updated: u64,
    pub moved_from_list: u64,
    pub duplicates_in_file: u64,
    pub on_dnc: u64,
    pub rejected: Vec<Rejection>,
    /// Rows imported with an optional field left empty (an e-mail, a date, …), and why.
    #[serde(default)]
    pub warnings: Vec<RowWarning>,
}

/// Counts per bucket (the summary without the rejection list).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BucketCounts {
    pub rows: u64,
    pub imported: u64,
    pub updated: u64,
    pub moved_from_list: u64,
    pub duplicates_in_file: u64,
    pub on_dnc: u64,
    pub rejected: u64,
}

impl BucketCounts {
    pub fn add(&mut self, b: Bucket) {
        self.rows += 1;
        match b {
            Bucket::Imported => self.imported += 1,
            Bucket::Updated => self.updated += 1,
            Bucket::MovedFromList => self.moved_from_list += 1,
            Bucket::DuplicateInFile => self.duplicates_in_file += 1,
            Bucket::OnDnc => self.on_dnc += 1,
            Bucket::Rejected => self.rejected += 1,
        }
    }

    pub fn merge(&mut self, o: &BucketCounts) {
        self.rows += o.rows;
        self.imported += o.imported;
        self.updated += o.updated;
        self.moved_from_list += o.moved_from_list;
        self.duplicates_in_file += o.duplicates_in_file;
        self.on_dnc += o.on_dnc;
        self.rejected += o.rejected;
    }

    /// The sum of the buckets, which must equal `rows`.
    pub fn bucket_sum(&self) -> u64 {
        self.imported
            + self.updated
            + self.moved_from_list
            + self.duplicates_in_file
            + self.on_dnc
            + self.rejected
    }
}

impl ImportSummary {
    pub fn new(c: BucketCounts, rejected: Vec<Rejection>, warnings: Vec<RowWarning>) -> Self {
        Self {
            rows: c.rows,
            imported: c.imported,
            updated: c.updated,
            moved_from_list: c.moved_from_list,
            duplicates_in_file: c.duplicates_in_file,
            on_dnc: c.on_dnc,
            rejected,
            warnings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contact::PropertyKind;

    fn schema() -> PropertySchema {
        PropertySchema {
            properties: vec![PropertyDef {
                name: "age".into(),
                label: "Age".into(),
                kind: PropertyKind::Number,
                choices: vec![],
                required: false,
            }],
        }
    }

    fn mapping(headers: &[&str]) -> ColumnMapping {
        ColumnMapping::new(
            headers.iter().map(|h| h.to_string()).collect(),
            &[],
            &schema(),
        )
    }

    #[test]
    fn headers_map_to_fields_and_properties_by_name_or_label() {
        let m = mapping(&[
            "\u{feff}Phone Number",
            "First Name",
            "surname",
            "E-mail",
            "Age",
            "x",
        ]);
        assert_eq!(
            m.targets,
            [
                Target::Phone,
                Target::FirstName,
                Target::LastName,
                Target::Email,
                Target::Property("age".into()),
                Target::Ignore
            ]
        );
        assert_eq!(m.problem, None);
    }

    #[test]
    fn duplicate_headers_or_a_missing_phone_column_reject_every_row_with_the_reason() {
        let m = mapping(&["phone", "email", "Email"]);
        let reason =
            parse_row(&m, &["+14155550100", "a@b.io", "a@b.io"], &schema(), None).unwrap_err();
        assert!(reason.contains("both map to email"), "{reason}");
        let m = mapping(&["name"]);
        assert_eq!(
            parse_row(&m, &["x"], &schema(), None).unwrap_err(),
            "missing required column phone"
        );
    }

    #[test]
    fn rows_are_rejected_with_a_reason_naming_the_problem() {
        let m = mapping(&["phone", "email", "age"]);
        let s = schema();
        let r = |f: &[&str]| parse_row(&m, f, &s, Some("US")).unwrap_err();
        assert!(r(&["12", "", ""]).starts_with("bad number"));
        assert!(r(&["+14155550100", ""]).starts_with("wrong column count"));
        // A bad optional field keeps the contact: the field is left empty with a warning.
        let kept = parse_row(&m, &["+14155550100", "nope", "old"], &s, Some("US")).unwrap();
        assert_eq!(kept.email, None);
        assert!(kept.properties.get("age").is_none());
        let fields: Vec<&str> = kept.warnings.iter().map(|w| w.field.as_str()).collect();
        assert_eq!(fields, ["email", "properties.age"], "{:?}", kept.warnings);
        let ok = parse_row(&m, &["(415) 555-0100", "", "42"], &s, Some("US")).unwrap();
        assert_eq!(ok.phone.as_str(), "+14155550100");
        assert_eq!(ok.email, None);
        assert_eq!(ok.properties["age"], serde_json::json!(42.0));
    }

    #[test]
    fn a_rejected_row_names_every_problem_it_has() {
        let mut s = schema();
        s.properties[0].required = true;
        let m = ColumnMapping::new(
            ["phone", "email", "age"]
                .iter()
                .map(|h| h.to_string())
                .collect(),
            &[],
            &s,
        );
        let reason = parse_row(&m, &["12", "nope", "old"], &s, Some("US")).unwrap_err();
        assert!(reason.starts_with("bad number"), "{reason}");
        assert!(
            reason.contains("; property type: properties.age"),
            "{reason}"
        );
    }

    #[test]
    fn exported_formula_quotes_are_removed_on_import() {
        let m = mapping(&["phone", "first_name"]);
        let row = parse_row(&m, &["+14155550100", "'=cmd()"], &schema(), None).unwrap();
        assert_eq!(row.first_name.as_deref(), Some("=cmd()"));
    }

    #[test]
    fn each_situation_has_one_bucket() {
        let mv = ImportOptions {
            move_from_other_lists: true,
            skip_dnc: false,
        };
        let keep = ImportOptions {
            move_from_other_lists: false,
            skip_dnc: true,
        };
        use Action::*;
        use Bucket::*;
        assert_eq!(classify(Existing::None, false, mv), (Imported, Insert));
        assert_eq!(classify(Existing::InNoList, false, mv), (Imported, MoveIn));
        assert_eq!(
            classify(Existing::InTargetList, false, mv),
            (Updated, Update)
        );
        assert_eq!(
            classify(Existing::InOtherList, false, mv),
            (MovedFromList, MoveIn)
        );
        assert_eq!(
            classify(Existing::InOtherList, false, keep),
            (MovedFromList, Skip)
        );
        assert_eq!(classify(Existing::None, true, mv), (OnDnc, Insert));
        assert_eq!(classify(Existing::None, true, keep), (OnDnc, Skip));
        assert_eq!(
            classify(Existing::StoredByThisImport, true, keep),
            (DuplicateInFile, Skip)
        );
    }
}
