//! Stored names said in people's words on pages: a contact field or property by its label, a
//! stored value as typed (`25`, not `25.0`; Yes / No), and where a change came from (`Import #3`,
//! `Desktop`), so history and messages never show developer spellings.

use palera_core::contact::PropertyDef;

/// A contact field or property by its label (`properties.seats` → the property's label).
pub fn field(field: &str, properties: &[PropertyDef]) -> String {
    if let Some(name) = field.strip_prefix("properties.") {
        return properties
            .iter()
            .find(|p| p.name == name)
            .map_or_else(|| name.replace('_', " "), |p| p.label.clone());
    }
    match field {
        "first_name" => "First name".into(),
        "last_name" => "Last name".into(),
        "email" => "E-mail".into(),
        "time_zone" => "Time zone".into(),
        "phone" => "Number".into(),
        "list" => "List".into(),
        "notes" => "Notes".into(),
        other => other.replace('_', " "),
    }
}

/// A stored value as people typed it: whole numbers without `.0`, booleans as Yes / No, JSON
/// strings without their quotes.
pub fn value(v: &str) -> String {
    match v {
        "true" => return "Yes".into(),
        "false" => return "No".into(),
        _ => {}
    }
    if let Some(whole) = v.strip_suffix(".0") {
        if !whole.is_empty()
            && whole
                .trim_start_matches('-')
                .chars()
                .all(|c| c.is_ascii_digit())
        {
            return whole.to_string();
        }
    }
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        return v[1..v.len() - 1].to_string();
    }
    v.to_string()
}

/// Where a change came from (`import:3` → `Import #3`).
pub fn source(source: &str) -> String {
    if let Some(job) = source.strip_prefix("import:") {
        return format!("Import #{job}");
    }
    match source {
        "user" | "page" => "Contact page".into(),
        "api" => "API".into(),
        "desktop" => "Agent desktop".into(),
        "system" => "System".into(),
        "manual_call" => "Manual call".into(),
        "disposition" => "Disposition".into(),
        "wrap_up" | "wrap_up_limit" => "Wrap-up".into(),
        "move" | "bulk_move" => "List move".into(),
        "demo" => "Demo data".into(),
        "inbound" => "Inbound call".into(),
        other => other.replace('_', " "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palera_core::contact::PropertyKind;

    #[test]
    fn history_is_said_in_peoples_words() {
        let seats = PropertyDef {
            name: "seats".into(),
            label: "Seats".into(),
            kind: PropertyKind::Number,
            choices: vec![],
            required: false,
        };
        assert_eq!(field("properties.seats", &[seats]), "Seats");
        assert_eq!(field("first_name", &[]), "First name");
        assert_eq!(
            (value("25.0"), value("60.5"), value("true")),
            ("25".into(), "60.5".into(), "Yes".into())
        );
        assert_eq!(source("import:1"), "Import #1");
        assert_eq!(source("desktop"), "Agent desktop");
        assert_eq!(source("wrap_up"), "Wrap-up");
    }
}
