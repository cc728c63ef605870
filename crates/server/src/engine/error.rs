//! What can go wrong inside the call engine, in the engine's own words. The HTTP edge turns an
//! [`EngineError`] into a status code ([`crate::http::error::ApiError`]'s `From`); the engine
//! itself knows nothing of HTTP.

use palera_carrier::CarrierError;
use palera_core::ValidationError;
use palera_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The request cannot be done as asked: `field` names what is wrong, `reason` says why.
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// The request conflicts with the call's current state (someone else already did it).
    #[error("{field}: {reason}")]
    Conflict { field: String, reason: String },
    /// The call, campaign or agent is not there (or not the caller's).
    #[error("not found")]
    NotFound,
    /// The carrier's calls-per-second limit is reached for now.
    #[error("the carrier's calls-per-second limit is reached; try again in a moment")]
    RateLimited,
    /// The engine loop is not running (shutting down).
    #[error("the call engine is not running")]
    Unavailable,
    /// The carrier refused or failed a request the action needed.
    #[error("{0}")]
    Carrier(#[from] CarrierError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl EngineError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        EngineError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn conflict(field: impl Into<String>, reason: impl Into<String>) -> Self {
        EngineError::Conflict {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<ValidationError> for EngineError {
    fn from(e: ValidationError) -> Self {
        EngineError::invalid(e.field, e.reason)
    }
}
