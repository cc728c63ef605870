//! Access tokens for the Twilio Voice JavaScript SDK in agents' browsers. Owns the claims
//! Twilio expects (HS256 signed with an API key secret, header `cty: twilio-fpa;v=1`, a voice
//! grant) and minting; the JWT encoding and signing are `jsonwebtoken`'s. `now` comes from the
//! caller so minting is a pure function.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde::Serialize;

/// The longest lifetime we mint. Twilio allows 24 h; browsers refresh on `tokenWillExpire`, so
/// an hour limits what a leaked token is worth.
pub const MAX_TTL_SECONDS: u32 = 3600;

/// Why a token could not be minted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("{field}: {reason}")]
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
}

fn invalid(field: &'static str, reason: &'static str) -> TokenError {
    TokenError::Invalid { field, reason }
}

/// The API key that signs tokens (`SK…` and its secret) and the account it belongs to.
#[derive(Clone)]
pub struct SigningKey {
    pub account_sid: String,
    pub api_key_sid: String,
    pub api_key_secret: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("account_sid", &self.account_sid)
            .field("api_key_sid", &self.api_key_sid)
            .finish_non_exhaustive()
    }
}

/// What the browser may do with the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceGrant {
    /// Receive calls dialled to `client:{identity}` (the agent leg of the conference).
    pub incoming_allow: bool,
    /// TwiML App (`AP…`) whose Voice URL handles calls the browser places.
    pub outgoing_application_sid: Option<String>,
}

/// One token request: who, what, for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// Must equal the identity in `<Client>` / `client:{identity}` used to reach this agent.
    pub identity: String,
    pub voice: VoiceGrant,
    pub ttl_seconds: u32,
}

/// The token's claims, as Twilio's helper libraries write them.
#[derive(Serialize)]
struct Claims<'a> {
    jti: String,
    iss: &'a str,
    sub: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
    grants: Grants<'a>,
}

#[derive(Serialize)]
struct Grants<'a> {
    identity: &'a str,
    voice: VoicePayload<'a>,
}

/// Twilio's voice grant payload: each key only when set.
#[derive(Serialize)]
struct VoicePayload<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    incoming: Option<Incoming>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outgoing: Option<Outgoing<'a>>,
}

#[derive(Serialize)]
struct Incoming {
    allow: bool,
}

#[derive(Serialize)]
struct Outgoing<'a> {
    application_sid: &'a str,
}

impl<'a> VoicePayload<'a> {
    fn of(grant: &'a VoiceGrant) -> Self {
        Self {
            incoming: grant.incoming_allow.then_some(Incoming { allow: true }),
            outgoing: grant
                .outgoing_application_sid
                .as_deref()
                .map(|application_sid| Outgoing { application_sid }),
        }
    }
}

/// Mints a signed access token valid from `now_unix` for `ttl_seconds`.
pub fn mint(key: &SigningKey, request: &TokenRequest, now_unix: i64) -> Result<String, TokenError> {
    check(key, request)?;
    let mut header = Header::new(Algorithm::HS256);
    header.cty = Some("twilio-fpa;v=1".into());
    let claims = Claims {
        jti: format!("{}-{}", key.api_key_sid, now_unix),
        iss: &key.api_key_sid,
        sub: &key.account_sid,
        iat: now_unix,
        nbf: now_unix,
        exp: now_unix + i64::from(request.ttl_seconds),
        grants: Grants {
            identity: &request.identity,
            voice: VoicePayload::of(&request.voice),
        },
    };
    let secret = EncodingKey::from_secret(key.api_key_secret.as_bytes());
    encode(&header, &claims, &secret)
        .map_err(|_| invalid("api_key_secret", "cannot sign the token"))
}

fn check(key: &SigningKey, request: &TokenRequest) -> Result<(), TokenError> {
    if !key.account_sid.starts_with("AC") {
        return Err(invalid("account_sid", "must start with AC"));
    }
    if !key.api_key_sid.starts_with("SK") {
        return Err(invalid("api_key_sid", "must start with SK"));
    }
    if key.api_key_secret.is_empty() {
        return Err(invalid("api_key_secret", "is empty"));
    }
    if request.identity.trim().is_empty() {
        return Err(invalid("identity", "is empty"));
    }
    if request.ttl_seconds == 0 || request.ttl_seconds > MAX_TTL_SECONDS {
        return Err(invalid("ttl_seconds", "must be between 1 and 3600"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use hmac::{Hmac, Mac};
    use serde_json::{json, Value};
    use sha2::Sha256;

    fn key() -> SigningKey {
        SigningKey {
            account_sid: "AC00000000000000000000000000000001".into(),
            api_key_sid: "SK00000000000000000000000000000002".into(),
            api_key_secret: "the-secret".into(),
        }
    }

    fn request() -> TokenRequest {
        TokenRequest {
            identity: "agent-17".into(),
            voice: VoiceGrant {
                incoming_allow: true,
                outgoing_application_sid: Some("AP00000000000000000000000000000003".into()),
            },
            ttl_seconds: 3600,
        }
    }

    /// Splits a token, verifies its HS256 signature independently, and returns header + claims.
    fn decode_verified(token: &str, secret: &str) -> (Value, Value) {
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3, "three dot-separated parts");
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
        let sig = URL_SAFE_NO_PAD
            .decode(parts[2])
            .expect("base64url signature");
        mac.verify_slice(&sig).expect("signature verifies");
        let part = |p: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
        (part(parts[0]), part(parts[1]))
    }

    #[test]
    fn token_verifies_with_the_api_key_secret() {
        let token = mint(&key(), &request(), 1_450_471_147).unwrap();
        decode_verified(&token, "the-secret");
    }

    #[test]
    fn token_does_not_verify_with_another_secret() {
        let token = mint(&key(), &request(), 1_450_471_147).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let mut mac = Hmac::<Sha256>::new_from_slice(b"other").unwrap();
        mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        assert!(mac.verify_slice(&sig).is_err());
    }

    #[test]
    fn header_is_twilios() {
        let token = mint(&key(), &request(), 1_450_471_147).unwrap();
        let (header, _) = decode_verified(&token, "the-secret");
        assert_eq!(
            header,
            json!({"typ": "JWT", "alg": "HS256", "cty": "twilio-fpa;v=1"})
        );
    }

    #[test]
    fn claims_name_key_account_time_and_grants() {
        let now = 1_450_471_147;
        let token = mint(&key(), &request(), now).unwrap();
        let (_, claims) = decode_verified(&token, "the-secret");
        assert_eq!(
            claims["jti"],
            "SK00000000000000000000000000000002-1450471147"
        );
        assert_eq!(claims["iss"], "SK00000000000000000000000000000002");
        assert_eq!(claims["sub"], "AC00000000000000000000000000000001");
        assert_eq!(claims["iat"], now);
        assert_eq!(claims["nbf"], now);
        assert_eq!(claims["exp"], now + 3600);
        assert_eq!(
            claims["grants"],
            json!({
                "identity": "agent-17",
                "voice": {
                    "incoming": {"allow": true},
                    "outgoing": {"application_sid": "AP00000000000000000000000000000003"}
                }
            })
        );
    }

    #[test]
    fn grant_omits_what_is_not_allowed() {
        let mut req = request();
        req.voice = VoiceGrant {
            incoming_allow: false,
            outgoing_application_sid: None,
        };
        req.ttl_seconds = 60;
        let token = mint(&key(), &req, 100).unwrap();
        let (_, claims) = decode_verified(&token, "the-secret");
        assert_eq!(claims["grants"]["voice"], json!({}));
        assert_eq!(claims["exp"], 160);
    }

    #[test]
    fn ttl_over_an_hour_is_refused() {
        let mut req = request();
        req.ttl_seconds = MAX_TTL_SECONDS + 1;
        assert_eq!(
            mint(&key(), &req, 0),
            Err(invalid("ttl_seconds", "must be between 1 and 3600"))
        );
        req.ttl_seconds = 0;
        assert!(mint(&key(), &req, 0).is_err());
    }

    #[test]
    fn bad_key_or_identity_is_refused_naming_the_field() {
        let mut k = key();
        k.api_key_sid = "AC123".into();
        assert_eq!(
            mint(&k, &request(), 0),
            Err(invalid("api_key_sid", "must start with SK"))
        );
        let mut req = request();
        req.identity = " ".into();
        assert_eq!(mint(&key(), &req, 0), Err(invalid("identity", "is empty")));
    }

    #[test]
    fn debug_output_hides_the_secret() {
        assert!(!format!("{:?}", key()).contains("the-secret"));
    }
}
