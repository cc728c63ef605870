//! Settings: read from an optional TOML file, then overridden by `PALERA_*` environment variables.
//! `serve` refuses to start when a required setting is missing, naming the setting and where to
//! put it.

use serde::Deserialize;
use std::path::Path;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Which phone network the server drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CarrierMode {
    /// Each client's own Twilio account.
    #[default]
    Twilio,
    /// The built-in simulated network (demo).
    Simulated,
}

/// Every setting of the server. Field names are the TOML keys; `PALERA_` + upper case is the
/// environment variable.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub database_url: Option<String>,
    pub listen: String,
    pub public_url: Option<String>,
    pub secret_key: Option<String>,
    pub log_format: LogFormat,
    pub carrier: CarrierMode,
    /// Seconds without a desktop heartbeat before an agent is set offline.
    pub heartbeat_timeout_seconds: u64,
    /// Hours a login session lasts.
    pub session_hours: u64,
    /// Failed logins allowed per e-mail and address within `login_window_seconds`.
    pub login_attempts: u32,
    pub login_window_seconds: u64,
    /// Lifetime of the Twilio Voice SDK access tokens agents' browsers get (at most 3600).
    pub voice_token_ttl_seconds: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            database_url: None,
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            secret_key: None,
            log_format: LogFormat::Text,
            carrier: CarrierMode::Twilio,
            heartbeat_timeout_seconds: 60,
            session_hours: 12,
            login_attempts: 5,
            login_window_seconds: 300,
            voice_token_ttl_seconds: 3600,
        }
    }
}

/// A setting that is missing or malformed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the settings file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("setting {name} is required: set it in the settings file as `{key} = \"…\"` or in the environment as {name}")]
    Missing {
        name: &'static str,
        key: &'static str,
    },
    #[error("setting {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl Settings {
    /// Reads the file (when given) and the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, |k| std::env::var(k).ok())
    }

    /// As [`Settings::load`], with the environment given as a function (for tests).
    pub fn load_from(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut s: Settings = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::File {
                    path: path.display().to_string(),
                    reason: e.message().to_string(),
                })?
            }
            None => Settings::default(),
        };
        let text = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = text("PALERA_DATABASE_URL") {
            s.database_url = Some(v);
        }
        if let Some(v) = text("PALERA_LISTEN") {
            s.listen = v;
        }
        if let Some(v) = text("PALERA_PUBLIC_URL") {
            s.public_url = Some(v);
        }
        if let Some(v) = text("PALERA_SECRET_KEY") {
            s.secret_key = Some(v);
        }
        if let Some(v) = text("PALERA_LOG_FORMAT") {
            s.log_format = match v.as_str() {
                "json" => LogFormat::Json,
                "text" => LogFormat::Text,
                other => {
                    return Err(ConfigError::Invalid {
                        name: "PALERA_LOG_FORMAT",
                        reason: format!("{other:?} is not text or json"),
                    })
                }
            };
        }
        if let Some(v) = text("PALERA_HEARTBEAT_TIMEOUT_SECONDS") {
            s.heartbeat_timeout_seconds = v.parse().map_err(|_| ConfigError::Invalid {
                name: "PALERA_HEARTBEAT_TIMEOUT_SECONDS",
                reason: format!("{v:?} is not a whole number of seconds"),
            })?;
        }
        if let Some(v) = text("PALERA_VOICE_TOKEN_TTL_SECONDS") {
            s.voice_token_ttl_seconds = v.parse().map_err(|_| ConfigError::Invalid {
                name: "PALERA_VOICE_TOKEN_TTL_SECONDS",
                reason: format!("{v:?} is not a whole number of seconds"),
            })?;
        }
        if !(60..=palera_carrier::twilio::token::MAX_TTL_SECONDS)
            .contains(&s.voice_token_ttl_seconds)
        {
            return Err(ConfigError::Invalid {
                name: "PALERA_VOICE_TOKEN_TTL_SECONDS",
                reason: format!(
                    "{} is outside 60..=3600 seconds (Twilio tokens here last at most an hour)",
                    s.voice_token_ttl_seconds
                ),
            });
        }
        Ok(s)
    }

    /// Checks what `serve` needs: a database, a secret key, and the public URL Twilio calls.
    pub fn require_for_serve(&self) -> Result<(), ConfigError> {
        if self.database_url.is_none() {
            return Err(ConfigError::Missing {
                name: "PALERA_DATABASE_URL",
                key: "database_url",
            });
        }
        let Some(key) = &self.secret_key else {
            return Err(ConfigError::Missing {
                name: "PALERA_SECRET_KEY",
                key: "secret_key",
            });
        };
        palera_store::SecretBox::from_base64(key).map_err(|e| ConfigError::Invalid {
            name: "PALERA_SECRET_KEY",
            reason: e.to_string(),
        })?;
        let Some(public) = &self.public_url else {
            return Err(ConfigError::Missing {
                name: "PALERA_PUBLIC_URL",
                key: "public_url",
            });
        };
        if !(public.starts_with("https://") || public.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                name: "PALERA_PUBLIC_URL",
                reason: "must start with https:// (or http:// for local use)".into(),
            });
        }
        self.listen
            .parse::<std::net::SocketAddr>()
            .map_err(|_| ConfigError::Invalid {
                name: "PALERA_LISTEN",
                reason: format!("{:?} is not an address:port", self.listen),
            })?;
        Ok(())
    }

    /// Cookies get the `Secure` flag when the public URL is https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn serve_refuses_to_start_without_a_database_url() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        let e = s.require_for_serve().unwrap_err().to_string();
        assert!(e.contains("PALERA_DATABASE_URL"), "{e}");
    }

    #[test]
    fn serve_refuses_a_malformed_secret_key() {
        let s = Settings::load_from(
            None,
            env(&[
                ("PALERA_DATABASE_URL", "sqlite://x.db"),
                ("PALERA_SECRET_KEY", "short"),
                ("PALERA_PUBLIC_URL", "https://voice.example.com"),
            ]),
        )
        .unwrap();
        let e = s.require_for_serve().unwrap_err().to_string();
        assert!(e.contains("PALERA_SECRET_KEY"), "{e}");
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = std::env::temp_dir().join(format!("palera-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("s.toml");
        std::fs::write(&f, "listen = \"127.0.0.1:9000\"\nlog_format = \"json\"\n").unwrap();
        let s = Settings::load_from(Some(&f), env(&[("PALERA_LISTEN", "0.0.0.0:7000")])).unwrap();
        assert_eq!(s.listen, "0.0.0.0:7000");
        assert_eq!(s.log_format, LogFormat::Json);
        std::fs::write(&f, "colour = \"blue\"\n").unwrap();
        let e = Settings::load_from(Some(&f), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn voice_token_lifetime_is_at_most_an_hour() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(s.voice_token_ttl_seconds, 3600);
        let ok = Settings::load_from(None, env(&[("PALERA_VOICE_TOKEN_TTL_SECONDS", "900")]));
        assert_eq!(ok.unwrap().voice_token_ttl_seconds, 900);
        for bad in ["3601", "0", "soon"] {
            let e = Settings::load_from(None, env(&[("PALERA_VOICE_TOKEN_TTL_SECONDS", bad)]))
                .unwrap_err()
                .to_string();
            assert!(e.contains("PALERA_VOICE_TOKEN_TTL_SECONDS"), "{e}");
        }
    }

    #[test]
    fn a_complete_configuration_is_accepted() {
        let s = Settings::load_from(
            None,
            env(&[
                ("PALERA_DATABASE_URL", "sqlite://x.db"),
                (
                    "PALERA_SECRET_KEY",
                    &palera_store::SecretBox::generate_base64(),
                ),
                ("PALERA_PUBLIC_URL", "https://voice.example.com"),
            ]),
        )
        .unwrap();
        s.require_for_serve().unwrap();
        assert!(s.secure_cookies());
    }
}
