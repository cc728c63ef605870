//! Call scripts (DESIGN §2.4), pure: the internal script model built in the script builder, its
//! validation on save, merge fields, and a call's run through it. A script is ordered steps;
//! each step has text to say (with `{{contact.first_name}}`-style merge fields), fields to collect
//! (typed like contact properties, optionally written back to a contact property), compliance
//! disclosures that must be acknowledged, and branches that pick the next step from an answer.
//! The run refuses to move past a step whose required fields or disclosures are not done: the
//! server keeps the run and asks this module, the page only follows.

use crate::contact::{PropertyDef, PropertyKind};
use crate::ValidationError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// Limits that keep a script a script.
pub const MAX_STEPS: usize = 100;
pub const MAX_TEXT_CHARS: usize = 10_000;

/// A script's content, as the builder saves it and JSON import/export carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScriptBody {
    /// The steps in order; the first is where every run starts.
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Step {
    /// A stable key (`[a-z0-9_-]`), used by branches and stored with runs.
    pub key: String,
    pub title: String,
    /// What the agent says; merge fields like `{{contact.first_name}}` are filled in.
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub fields: Vec<ScriptField>,
    #[serde(default)]
    pub disclosures: Vec<Disclosure>,
    /// Checked in order: the first branch whose field has the given answer picks the next step.
    #[serde(default)]
    pub branches: Vec<Branch>,
    /// The next step when no branch matches; none makes this a final step.
    #[serde(default)]
    pub next: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScriptField {
    pub key: String,
    pub label: String,
    pub kind: PropertyKind,
    #[serde(default)]
    pub choices: Vec<String>,
    #[serde(default)]
    pub required: bool,
    /// A contact property the answer is written to (through the contact's history).
    #[serde(default)]
    pub property: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Disclosure {
    pub key: String,
    /// What the agent must read out; acknowledging it records the time.
    pub text: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Branch {
    /// A field of the same step.
    pub field: String,
    /// The answer that takes this branch (compared as text, case-insensitively).
    pub equals: String,
    pub to: String,
}

fn err(field: String, reason: impl Into<String>) -> ValidationError {
    ValidationError::new(field, reason)
}

fn check_key(field: String, key: &str) -> Result<(), ValidationError> {
    let ok = !key.is_empty()
        && key.len() <= 63
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(err(field, "must hold only a-z, 0-9, _ and - (1 to 63)"))
    }
}

impl ScriptField {
    /// The field as a property definition, to type and validate answers like contact properties.
    pub fn as_property(&self) -> PropertyDef {
        PropertyDef {
            name: self.key.clone(),
            label: self.label.clone(),
            kind: self.kind,
            choices: self.choices.clone(),
            required: self.required,
        }
    }
}

impl ScriptBody {
    pub fn step(&self, key: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.key == key)
    }

    /// The checks made when a script is saved or imported. Errors name the step (by its title,
    /// in the message) and the field (`steps[i].…`, in the error's field).
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.steps.is_empty() {
            return Err(err("steps".into(), "a script needs at least one step"));
        }
        if self.steps.len() > MAX_STEPS {
            return Err(err(
                "steps".into(),
                format!("a script has at most {MAX_STEPS} steps"),
            ));
        }
        let mut keys = HashSet::new();
        for (i, s) in self.steps.iter().enumerate() {
            check_key(format!("steps[{i}].key"), &s.key)?;
            if !keys.insert(s.key.as_str()) {
                return Err(err(
                    format!("steps[{i}].key"),
                    format!("step {} uses the key {:?} of an earlier step", i + 1, s.key),
                ));
            }
        }
        for (i, s) in self.steps.iter().enumerate() {
            s.validate(i, &keys)?;
        }
        if !self.steps.iter().any(|s| s.next.is_none()) {
            return Err(err(
                "steps".into(),
                "at least one step must be final (no next step)",
            ));
        }
        self.check_reachable()
    }

    fn check_reachable(&self) -> Result<(), ValidationError> {
        let mut seen: HashSet<&str> = HashSet::new();
        let mut todo = VecDeque::from([self.steps[0].key.as_str()]);
        while let Some(k) = todo.pop_front() {
            if !seen.insert(k) {
                continue;
            }
            if let Some(s) = self.step(k) {
                todo.extend(s.targets());
            }
        }
        match self
            .steps
            .iter()
            .position(|s| !seen.contains(s.key.as_str()))
        {
            None => Ok(()),
            Some(i) => Err(err(
                format!("steps[{i}]"),
                format!(
                    "step {} ({:?}) cannot be reached from the first step",
                    i + 1,
                    self.steps[i].title
                ),
            )),
        }
    }
}

impl Step {
    /// Every step this one can lead to.
    pub fn targets(&self) -> impl Iterator<Item = &str> {
        self.branches
            .iter()
            .map(|b| b.to.as_str())
            .chain(self.next.as_deref())
    }

    fn validate(&self, i: usize, steps: &HashSet<&str>) -> Result<(), ValidationError> {
        let at = |f: &str| format!("steps[{i}].{f}");
        let name = format!("step {} ({:?})", i + 1, self.title);
        if self.title.trim().is_empty() {
            return Err(err(at("title"), format!("step {} needs a title", i + 1)));
        }
        if self.text.chars().count() > MAX_TEXT_CHARS {
            return Err(err(
                at("text"),
                format!("{name}: the text is longer than {MAX_TEXT_CHARS} characters"),
            ));
        }
        let mut keys = HashSet::new();
        for (j, f) in self.fields.iter().enumerate() {
            check_key(at(&format!("fields[{j}].key")), &f.key)?;
            if !keys.insert(f.key.as_str()) {
                return Err(err(
                    at(&format!("fields[{j}].key")),
                    format!("{name}: two fields use the key {:?}", f.key),
                ));
            }
            if f.label.trim().is_empty() {
                return Err(err(
                    at(&format!("fields[{j}].label")),
                    format!("{name}: field {} needs a label", j + 1),
                ));
            }
            if (f.kind == PropertyKind::Choice) == f.choices.is_empty() {
                return Err(err(
                    at(&format!("fields[{j}].choices")),
                    format!("{name}: only a choice field has choices, and it needs at least one"),
                ));
            }
        }
        for (j, d) in self.disclosures.iter().enumerate() {
            check_key(at(&format!("disclosures[{j}].key")), &d.key)?;
            if d.text.trim().is_empty() {
                return Err(err(
                    at(&format!("disclosures[{j}].text")),
                    format!("{name}: disclosure {} has no text", j + 1),
                ));
            }
        }
        for (j, b) in self.branches.iter().enumerate() {
            if !keys.contains(b.field.as_str()) {
                return Err(err(
                    at(&format!("branches[{j}].field")),
                    format!(
                        "{name}: branch {} asks about {:?}, which is not a field of this step",
                        j + 1,
                        b.field
                    ),
                ));
            }
            if !steps.contains(b.to.as_str()) {
                return Err(err(
                    at(&format!("branches[{j}].to")),
                    format!(
                        "{name}: branch {} goes to {:?}, which is not a step",
                        j + 1,
                        b.to
                    ),
                ));
            }
        }
        match self.next.as_deref() {
            Some(n) if !steps.contains(n) => Err(err(
                at("next"),
                format!("{name}: the next step {n:?} is not a step"),
            )),
            _ => Ok(()),
        }
    }
}

/// The values merge fields are filled from.
#[derive(Debug, Clone, Default)]
pub struct MergeValues {
    /// `contact.first_name`, `contact.properties.plan`, `agent.name`, `client.name`, …
    pub values: HashMap<String, String>,
}

/// Fills `{{name}}` merge fields. An unknown or empty value renders as a visible placeholder
/// (`[contact.first_name]`), never an error, so the agent sees what is missing.
pub fn render(text: &str, m: &MergeValues) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        match m.values.get(name).filter(|v| !v.trim().is_empty()) {
            Some(v) => out.push_str(v),
            None => {
                out.push('[');
                out.push_str(name);
                out.push(']');
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// One call's way through a script version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Run {
    pub step: String,
    /// Steps completed, in order.
    pub path: Vec<String>,
    /// Answers by field key (typed JSON values).
    #[schema(value_type = Object)]
    pub answers: BTreeMap<String, Value>,
    /// Acknowledged disclosures by key, with when.
    #[schema(value_type = Object)]
    pub acknowledged: BTreeMap<String, DateTime<Utc>>,
    pub finished: bool,
}

/// Why a run request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// The step's required fields or disclosures that are not done (their keys).
    #[error("finish this step first: {}", .0.join(", "))]
    Incomplete(Vec<String>),
    #[error("{0}")]
    Invalid(ValidationError),
    #[error("the script is finished")]
    Finished,
}

impl Run {
    pub fn start(script: &ScriptBody) -> Self {
        Self {
            step: script
                .steps
                .first()
                .map(|s| s.key.clone())
                .unwrap_or_default(),
            path: Vec::new(),
            answers: BTreeMap::new(),
            acknowledged: BTreeMap::new(),
            finished: false,
        }
    }

    fn current<'a>(&self, script: &'a ScriptBody) -> Result<&'a Step, RunError> {
        if self.finished {
            return Err(RunError::Finished);
        }
        script
            .step(&self.step)
            .ok_or_else(|| RunError::Invalid(err("step".into(), "the run is on no step")))
    }

    /// Records an answer to a field of the current step, typed like a contact property.
    /// An empty answer clears it.
    pub fn answer(
        &mut self,
        script: &ScriptBody,
        field: &str,
        value: &Value,
        default_country: Option<&str>,
    ) -> Result<Option<Value>, RunError> {
        let step = self.current(script)?;
        let f = step.fields.iter().find(|f| f.key == field).ok_or_else(|| {
            RunError::Invalid(err(
                field.to_string(),
                format!("{field:?} is not a field of this step"),
            ))
        })?;
        let mut def = f.as_property();
        def.required = false; // an empty answer clears; `advance` enforces required fields
        let typed = def
            .parse_json(value, default_country)
            .map_err(|r| RunError::Invalid(err(field.to_string(), format!("{}: {r}", f.label))))?;
        match &typed {
            Some(v) => self.answers.insert(field.to_string(), v.clone()),
            None => self.answers.remove(field),
        };
        Ok(typed)
    }

    /// Acknowledges a disclosure of the current step at `now` (the first time counts).
    pub fn acknowledge(
        &mut self,
        script: &ScriptBody,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<(), RunError> {
        let step = self.current(script)?;
        if !step.disclosures.iter().any(|d| d.key == key) {
            return Err(RunError::Invalid(err(
                key.to_string(),
                format!("{key:?} is not a disclosure of this step"),
            )));
        }
        self.acknowledged.entry(key.to_string()).or_insert(now);
        Ok(())
    }

    /// What the current step still needs before the run may move on.
    pub fn missing(&self, script: &ScriptBody) -> Vec<String> {
        let Ok(step) = self.current(script) else {
            return Vec::new();
        };
        let fields = step
            .fields
            .iter()
            .filter(|f| f.required && !self.answers.contains_key(&f.key))
            .map(|f| f.key.clone());
        let disclosures = step
            .disclosures
            .iter()
            .filter(|d| !self.acknowledged.contains_key(&d.key))
            .map(|d| d.key.clone());
        fields.chain(disclosures).collect()
    }

    /// Moves to the next step (the first matching branch, else the default), or finishes the
    /// run on a final step. Refused while the step's required tasks are not done.
    pub fn advance(&mut self, script: &ScriptBody) -> Result<(), RunError> {
        let step = self.current(script)?;
        let missing = self.missing(script);
        if !missing.is_empty() {
            return Err(RunError::Incomplete(missing));
        }
        let chosen = step.branches.iter().find(|b| {
            self.answers
                .get(&b.field)
                .is_some_and(|v| answer_text(v).eq_ignore_ascii_case(b.equals.trim()))
        });
        let next = chosen.map(|b| b.to.clone()).or_else(|| step.next.clone());
        self.path.push(self.step.clone());
        match next {
            Some(n) => self.step = n,
            None => self.finished = true,
        }
        Ok(())
    }
}

/// An answer as the text branches compare with.
pub fn answer_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
