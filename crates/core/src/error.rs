//! The validation error of the domain: the field that was wrong and why, in words a user can act on.

use serde::Serialize;

/// A rejected input: which field, and the reason. Shown to users as-is, so it never holds secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    pub field: String,
    pub reason: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
