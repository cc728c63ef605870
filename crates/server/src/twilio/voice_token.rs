//! `GET /api/v1/clients/{client_id}/voice-token`: a Twilio Voice SDK access token for the
//! logged-in agent on one client's account (HS256 with the client's API key, `cty`
//! `twilio-fpa;v=1`, a voice grant for incoming calls and the client's TwiML App, lifetime from
//! the `voice_token_ttl_seconds` setting, at most an hour). The desktop asks again before it
//! expires. Only users assigned to the client with voice enabled get one; a client whose Twilio
//! settings are incomplete gets a 409 naming what is missing.

use crate::app::App;
use crate::http::auth::ScopedClient;
use crate::http::error::{ApiError, ErrorBody};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use palera_carrier::agent_identity;
use palera_carrier::twilio::token::{self, SigningKey, TokenRequest, VoiceGrant};
use serde::Serialize;
use utoipa::ToSchema;

/// A minted token and when to ask for the next one.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoiceToken {
    /// The JWT to give `new Twilio.Device(token)` / `device.updateToken(token)`.
    pub token: String,
    /// The softphone identity the token is for (`agent-{user_id}`).
    pub identity: String,
    /// Milliseconds since the epoch.
    pub expires_at: i64,
    pub ttl_seconds: u32,
}

fn missing(field: &str, what: &str) -> ApiError {
    ApiError {
        status: StatusCode::CONFLICT,
        code: "not_configured",
        message: format!("{field}: {what}"),
        field: Some(field.to_owned()),
    }
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/voice-token", params(("client_id" = i64, Path)),
    responses((status = 200, body = VoiceToken), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(client = %c.client, user = %c.auth.user.id))]
pub async fn voice_token(
    State(app): State<App>,
    c: ScopedClient,
) -> Result<Json<VoiceToken>, ApiError> {
    let user = &c.auth.user;
    if !user.clients.contains(&c.client) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_assigned",
            "voice tokens are for people assigned to this client",
        ));
    }
    if !user.voice_enabled {
        return Err(missing("voice_enabled", "voice is not enabled for you"));
    }
    let client = app.store.client(c.client).await?;
    if !client.voice_enabled {
        return Err(missing("voice_enabled", "voice is off for this client"));
    }
    let creds = app.store.client_credentials(c.client).await?;
    let need = |v: Option<String>, field: &str, what: &str| v.ok_or_else(|| missing(field, what));
    let key = SigningKey {
        account_sid: need(
            creds.account_sid,
            "account_sid",
            "the client has no Twilio account SID",
        )?,
        api_key_sid: need(
            creds.api_key_sid,
            "api_key_sid",
            "the client has no Twilio API key SID",
        )?,
        api_key_secret: need(
            creds.api_key_secret,
            "api_key_secret",
            "the client has no Twilio API key secret",
        )?,
    };
    let app_sid = need(
        creds.twiml_app_sid,
        "twiml_app_sid",
        "the client has no TwiML App SID",
    )?;
    let ttl = app.settings.voice_token_ttl_seconds;
    let request = TokenRequest {
        identity: agent_identity(user.id.0),
        voice: VoiceGrant {
            incoming_allow: true,
            outgoing_application_sid: Some(app_sid),
        },
        ttl_seconds: ttl,
    };
    let now = app.clock.now();
    let jwt = token::mint(&key, &request, now.timestamp())
        .map_err(|token::TokenError::Invalid { field, reason }| missing(field, reason))?;
    Ok(Json(VoiceToken {
        token: jwt,
        identity: request.identity,
        expires_at: (now.timestamp() + i64::from(ttl)) * 1000,
        ttl_seconds: ttl,
    }))
}

/// The clients whose voice token the agent's desktop should keep fresh: in Twilio mode, the
/// voice-enabled clients of a voice-enabled user (space-separated ids for a data attribute).
pub fn desktop_clients(
    app: &App,
    user: &palera_store::users::User,
    clients: &[palera_store::clients::Client],
) -> String {
    if app.carriers.mode() != crate::config::CarrierMode::Twilio || !user.voice_enabled {
        return String::new();
    }
    clients
        .iter()
        .filter(|c| c.voice_enabled && user.clients.contains(&c.id))
        .map(|c| c.id.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}
