//! Users, roles and the agent's voice state.

use crate::ValidationError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a user may do: `admin` (whole installation), `supervisor` (their clients), `agent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Supervisor,
    Agent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Agent => "agent",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "supervisor" => Ok(Role::Supervisor),
            "agent" => Ok(Role::Agent),
            _ => Err(format!("{s:?} is not a role (admin, supervisor, agent)")),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The state an agent chooses for the voice channel (DESIGN §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VoiceState {
    /// Ready for Voice: may be offered calls.
    Ready,
    /// Available for other channels only: no calls.
    Standby,
    /// Offline for Voice.
    Offline,
}

impl VoiceState {
    pub fn as_str(self) -> &'static str {
        match self {
            VoiceState::Ready => "ready",
            VoiceState::Standby => "standby",
            VoiceState::Offline => "offline",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            VoiceState::Ready => "Ready for Voice",
            VoiceState::Standby => "Standby",
            VoiceState::Offline => "Offline for Voice",
        }
    }

    /// Whether an agent in this state may be offered calls (voice enablement is checked separately).
    pub fn takes_calls(self) -> bool {
        matches!(self, VoiceState::Ready)
    }
}

impl FromStr for VoiceState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ready" => Ok(VoiceState::Ready),
            "standby" => Ok(VoiceState::Standby),
            "offline" => Ok(VoiceState::Offline),
            _ => Err(format!(
                "{s:?} is not a voice state (ready, standby, offline)"
            )),
        }
    }
}

/// A login e-mail address, trimmed and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, input: &str) -> Result<Self, ValidationError> {
        let s = input.trim().to_lowercase();
        let valid = s.len() <= 254
            && s.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !s.chars().any(|c| c.is_whitespace())
                    && !domain.contains('@')
            });
        if valid {
            Ok(Self(s))
        } else {
            Err(ValidationError::new(
                field,
                format!("{:?} is not an e-mail address", input.trim()),
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a new password: long enough to resist guessing, short enough to hash quickly.
pub fn check_password(field: &str, password: &str) -> Result<(), ValidationError> {
    let n = password.chars().count();
    if n < 8 {
        return Err(ValidationError::new(field, "must be at least 8 characters"));
    }
    if n > 256 {
        return Err(ValidationError::new(
            field,
            "must be at most 256 characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_states_round_trip() {
        for r in [Role::Admin, Role::Supervisor, Role::Agent] {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        for v in [VoiceState::Ready, VoiceState::Standby, VoiceState::Offline] {
            assert_eq!(v.as_str().parse::<VoiceState>().unwrap(), v);
        }
        assert!("busy".parse::<VoiceState>().is_err());
    }

    #[test]
    fn only_ready_takes_calls() {
        assert!(VoiceState::Ready.takes_calls());
        assert!(!VoiceState::Standby.takes_calls());
        assert!(!VoiceState::Offline.takes_calls());
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("email", " A@B.io ").unwrap().as_str(),
            "a@b.io"
        );
        for bad in ["", "a", "a@b", "@b.io", "a b@c.io", "a@.io"] {
            assert!(Email::parse("email", bad).is_err(), "{bad}");
        }
    }
}
