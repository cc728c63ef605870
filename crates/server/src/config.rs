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
    /// Where agents' desktops load the Twilio Voice JavaScript SDK from (Twilio mode): an
    /// `https://` URL or a path on this server.
    pub voice_sdk_url: Option<String>,
    /// The subresource-integrity hash of that file (`sha384-…`); browsers refuse to run a file
    /// that does not match it. Required with `voice_sdk_url`.
    pub voice_sdk_integrity: Option<String>,
    /// Simulated network only: inbound callers an hour (the demo's; 0 = none).
    pub sim_inbound_per_hour: f64,
    /// The folder call recordings are kept in (default: `recordings` beside the SQLite file, or
    /// in the working directory). Unused when an S3 bucket is set.
    pub recordings_dir: Option<String>,
    /// Keep recordings in this S3-compatible bucket instead of a folder.
    pub recordings_s3_bucket: Option<String>,
    /// The S3-compatible service's URL (empty for AWS).
    pub recordings_s3_endpoint: Option<String>,
    pub recordings_s3_region: String,
    pub recordings_s3_access_key_id: Option<String>,
    pub recordings_s3_secret_access_key: Option<String>,
    /// This process's name among the nodes sharing one PostgreSQL database (`PALERA_NODE`):
    /// after a restart a node reconciles its own manual and inbound calls and the campaigns it
    /// leads, never another running node's. Keep it stable across restarts of one node.
    pub node: String,
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
            voice_sdk_url: None,
            voice_sdk_integrity: None,
            sim_inbound_per_hour: 0.0,
            recordings_dir: None,
            recordings_s3_bucket: None,
            recordings_s3_endpoint: None,
            recordings_s3_region: "us-east-1".into(),
            recordings_s3_access_key_id: None,
            recordings_s3_secret_access_key: None,
            node: palera_store::DEFAULT_NODE.into(),
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
        if let Some(v) = text("PALERA_NODE") {
            s.node = v;
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
        if let Some(v) = text("PALERA_VOICE_SDK_URL") {
            s.voice_sdk_url = Some(v);
        }
        if let Some(v) = text("PALERA_VOICE_SDK_INTEGRITY") {
            s.voice_sdk_integrity = Some(v);
        }
        recording_settings_from_env(&mut s, &text);
        check_recordings(&s)?;
        check_voice_sdk(&s)?;
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

/// The `PALERA_RECORDINGS_*` variables.
fn recording_settings_from_env(s: &mut Settings, text: &dyn Fn(&str) -> Option<String>) {
    let fields: [(&str, &mut Option<String>); 5] = [
        ("PALERA_RECORDINGS_DIR", &mut s.recordings_dir),
        ("PALERA_RECORDINGS_S3_BUCKET", &mut s.recordings_s3_bucket),
        (
            "PALERA_RECORDINGS_S3_ENDPOINT",
            &mut s.recordings_s3_endpoint,
        ),
        (
            "PALERA_RECORDINGS_S3_ACCESS_KEY_ID",
            &mut s.recordings_s3_access_key_id,
        ),
        (
            "PALERA_RECORDINGS_S3_SECRET_ACCESS_KEY",
            &mut s.recordings_s3_secret_access_key,
        ),
    ];
    for (name, field) in fields {
        if let Some(v) = text(name) {
            *field = Some(v);
        }
    }
    if let Some(v) = text("PALERA_RECORDINGS_S3_REGION") {
        s.recordings_s3_region = v;
    }
}

/// An S3 bucket comes with its keys, and its endpoint is a URL.
fn check_recordings(s: &Settings) -> Result<(), ConfigError> {
    if s.recordings_s3_bucket.is_none() {
        return Ok(());
    }
    if s.recordings_s3_access_key_id.is_none() {
        return Err(ConfigError::Missing {
            name: "PALERA_RECORDINGS_S3_ACCESS_KEY_ID",
            key: "recordings_s3_access_key_id",
        });
    }
    if s.recordings_s3_secret_access_key.is_none() {
        return Err(ConfigError::Missing {
            name: "PALERA_RECORDINGS_S3_SECRET_ACCESS_KEY",
            key: "recordings_s3_secret_access_key",
        });
    }
    match &s.recordings_s3_endpoint {
        Some(e) if !(e.starts_with("https://") || e.starts_with("http://")) => {
            Err(ConfigError::Invalid {
                name: "PALERA_RECORDINGS_S3_ENDPOINT",
                reason: format!("{e:?} is not an https:// URL"),
            })
        }
        _ => Ok(()),
    }
}

/// The SDK's location and its hash come together: the desktop never loads the SDK unpinned.
fn check_voice_sdk(s: &Settings) -> Result<(), ConfigError> {
    match (&s.voice_sdk_url, &s.voice_sdk_integrity) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(ConfigError::Invalid {
            name: "PALERA_VOICE_SDK_INTEGRITY",
            reason: "is required with PALERA_VOICE_SDK_URL: the desktop loads the SDK only \
                     pinned to its hash (e.g. sha384-…)"
                .into(),
        }),
        (None, Some(_)) => Err(ConfigError::Invalid {
            name: "PALERA_VOICE_SDK_URL",
            reason: "is required with PALERA_VOICE_SDK_INTEGRITY: say where the SDK file is".into(),
        }),
        (Some(url), Some(hash)) => {
            let absolute = url.starts_with("https://") || url.starts_with("http://");
            if !(absolute || (url.starts_with('/') && !url.starts_with("//")))
                || url.contains(char::is_whitespace)
            {
                return Err(ConfigError::Invalid {
                    name: "PALERA_VOICE_SDK_URL",
                    reason: format!("{url:?} is not an https:// URL or a path on this server"),
                });
            }
            integrity_hashes(hash)
                .map(drop)
                .map_err(|reason| ConfigError::Invalid {
                    name: "PALERA_VOICE_SDK_INTEGRITY",
                    reason,
                })
        }
    }
}

/// Parses a subresource-integrity value: one or more `sha256-`/`sha384-`/`sha512-` hashes (base64
/// of a digest of the right length), separated by spaces. Returns them normalised.
pub fn integrity_hashes(value: &str) -> Result<Vec<String>, String> {
    use base64::Engine;
    let hashes: Vec<&str> = value.split_whitespace().collect();
    if hashes.is_empty() {
        return Err("is empty; give the file's hash as sha384-<base64>".into());
    }
    for h in &hashes {
        let (alg, digest) = h.split_once('-').unwrap_or(("", ""));
        let len = match alg {
            "sha256" => 32,
            "sha384" => 48,
            "sha512" => 64,
            _ => {
                return Err(format!(
                    "{h:?} does not start with sha256-, sha384- or sha512-"
                ))
            }
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(digest)
            .map_err(|_| format!("{h:?}: the part after {alg}- is not base64"))?;
        if bytes.len() != len {
            return Err(format!(
                "{h:?}: a {alg} digest is {len} bytes, this one is {}",
                bytes.len()
            ));
        }
    }
    Ok(hashes.into_iter().map(str::to_owned).collect())
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

    #[test]
    fn the_voice_sdk_location_needs_its_integrity_hash() {
        let hash = "sha384-oqVuAfXRKap7fdgcCY5uykM6+R9GqQ8K/uxy9rx7HNQlGYl1kPzQho1wx4JwY8wC";
        let url = "https://cdn.example.com/twilio.min.js";
        let s = Settings::load_from(
            None,
            env(&[
                ("PALERA_VOICE_SDK_URL", url),
                ("PALERA_VOICE_SDK_INTEGRITY", hash),
            ]),
        )
        .unwrap();
        assert_eq!(s.voice_sdk_url.as_deref(), Some(url));
        assert_eq!(s.voice_sdk_integrity.as_deref(), Some(hash));
        let refused = |pairs: &[(&str, &str)], name: &str| {
            let e = Settings::load_from(None, env(pairs))
                .unwrap_err()
                .to_string();
            assert!(e.contains(name), "{pairs:?}: {e}");
        };
        refused(
            &[("PALERA_VOICE_SDK_URL", url)],
            "PALERA_VOICE_SDK_INTEGRITY",
        );
        refused(
            &[("PALERA_VOICE_SDK_INTEGRITY", hash)],
            "PALERA_VOICE_SDK_URL",
        );
        for bad in ["md5-abc", "sha384-not base64!", "sha256-AAAA", "sha384-"] {
            refused(
                &[
                    ("PALERA_VOICE_SDK_URL", url),
                    ("PALERA_VOICE_SDK_INTEGRITY", bad),
                ],
                "PALERA_VOICE_SDK_INTEGRITY",
            );
        }
        for bad in ["ftp://x/sdk.js", "//cdn.example.com/sdk.js", "sdk.js"] {
            refused(
                &[
                    ("PALERA_VOICE_SDK_URL", bad),
                    ("PALERA_VOICE_SDK_INTEGRITY", hash),
                ],
                "PALERA_VOICE_SDK_URL",
            );
        }
    }
}
