//! The `TwilioWebhook` extractor: proof that a request to `/twilio/{client_id}/…` comes from
//! that client's Twilio account. It rebuilds the URL Twilio signed from the public base URL
//! setting (`PALERA_PUBLIC_URL`, never the `Host` header, since a proxy may sit in front), reads
//! the body, and checks `X-Twilio-Signature` with the client's auth token. An unknown client, a
//! client without an auth token and a bad signature all get the same 403, so the answer says
//! nothing about which clients exist; the handler never runs.

use crate::app::App;
use crate::http::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request};
use axum::http::{header, StatusCode};
use palera_carrier::twilio::signature::{self, BodyKind};
use palera_core::ids::ClientId;
use palera_store::StoreError;
use std::collections::HashMap;

/// The largest webhook body we read; Twilio's are a few kilobytes.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// A webhook whose signature checked out: the client it is for and its decoded parameters.
#[derive(Debug, Clone)]
pub struct TwilioWebhook {
    pub client: ClientId,
    /// Body parameters in arrival order, repeated keys kept (JSON bodies: top-level fields).
    pub params: Vec<(String, String)>,
    /// Query parameters of the callback URL (`call_id`, `leg`, `step`).
    pub query: Vec<(String, String)>,
}

impl TwilioWebhook {
    /// The first value of a query parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Our call id from the callback URL, when present; a malformed one is a 422.
    pub fn call_id(&self) -> Result<Option<i64>, ApiError> {
        self.query("call_id")
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| ApiError::invalid("call_id", "must be a whole number"))
            })
            .transpose()
    }

    /// Our call id, required for this kind of callback.
    pub fn require_call_id(&self) -> Result<i64, ApiError> {
        self.call_id()?
            .ok_or_else(|| ApiError::invalid("call_id", "missing from the callback URL"))
    }

    /// The call named in the URL, checked: it must be a call of the client in the path (a
    /// client's owner signs with their own token, so a signature alone does not prove the call
    /// is theirs), and when `leg_sid` is given (the contact leg's `CallSid`), it must be the
    /// call's stored SID. Anything else is refused like a bad signature, and nothing changes.
    /// An id no call has passes (nothing can change for it).
    pub async fn owned_call_id(
        &self,
        app: &App,
        leg_sid: Option<&str>,
    ) -> Result<Option<i64>, ApiError> {
        let Some(id) = self.call_id()? else {
            return Ok(None);
        };
        // A call we do not know is left to the engine, which ignores events of unknown calls.
        let call = match app.store.call_unscoped(palera_core::ids::CallId(id)).await {
            Ok(call) => call,
            Err(palera_store::StoreError::NotFound) => return Ok(Some(id)),
            Err(e) => return Err(e.into()),
        };
        if call.client_id != self.client {
            tracing::warn!(client = %self.client, call = id, "webhook names another client's call");
            return Err(rejected());
        }
        if let (Some(sent), Some(stored)) = (leg_sid, call.carrier_sid.as_deref()) {
            if sent != stored {
                tracing::warn!(client = %self.client, call = id, "webhook CallSid is not the call's");
                return Err(rejected());
            }
        }
        Ok(Some(id))
    }

    /// [`Self::owned_call_id`], required.
    pub async fn require_owned_call_id(
        &self,
        app: &App,
        leg_sid: Option<&str>,
    ) -> Result<i64, ApiError> {
        self.owned_call_id(app, leg_sid)
            .await?
            .ok_or_else(|| ApiError::invalid("call_id", "missing from the callback URL"))
    }
}

/// The one answer for every request we do not accept as Twilio's.
pub fn rejected() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "invalid_signature",
        "this request is not signed by Twilio for this client",
    )
}

impl FromRequest<App> for TwilioWebhook {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &App) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let client = path_client(&mut parts, app).await?;
        let token = auth_token(app, client).await?;
        let Some(public) = app.settings.public_url.as_deref() else {
            tracing::error!("PALERA_PUBLIC_URL is not set: Twilio webhooks cannot be verified");
            return Err(rejected());
        };
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or(parts.uri.path(), |p| p.as_str());
        let url = signature::webhook_url(public, path_and_query);
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let kind = BodyKind::from_content_type(content_type);
        let sent = parts
            .headers
            .get("x-twilio-signature")
            .and_then(|v| v.to_str().ok());
        let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    "the webhook body is too large",
                )
            })?;
        if let Err(why) = signature::validate_request(&token, &url, kind, &body, sent) {
            tracing::warn!(client = %client, path = parts.uri.path(), reason = %why, "Twilio webhook refused");
            return Err(rejected());
        }
        Ok(TwilioWebhook {
            client,
            params: body_params(kind, &body),
            query: parts
                .uri
                .query()
                .map(|q| signature::parse_form(q.as_bytes()))
                .unwrap_or_default(),
        })
    }
}

async fn path_client(
    parts: &mut axum::http::request::Parts,
    app: &App,
) -> Result<ClientId, ApiError> {
    use axum::extract::FromRequestParts;
    let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, app)
        .await
        .map_err(|_| rejected())?;
    params
        .get("client_id")
        .and_then(|v| v.parse().ok())
        .ok_or_else(rejected)
}

/// The client's auth token: what Twilio signs webhooks with. Missing client or token → 403.
async fn auth_token(app: &App, client: ClientId) -> Result<String, ApiError> {
    match app.store.client_credentials(client).await {
        Ok(creds) => creds.auth_token.ok_or_else(|| {
            tracing::warn!(client = %client, "Twilio webhook for a client without an auth token");
            rejected()
        }),
        Err(StoreError::NotFound) => Err(rejected()),
        Err(e) => Err(e.into()),
    }
}

/// The parameters of a verified body. JSON bodies give their top-level fields as strings.
fn body_params(kind: BodyKind, body: &Bytes) -> Vec<(String, String)> {
    match kind {
        BodyKind::Form => signature::parse_form(body),
        BodyKind::Json => match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(map)) => map
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, v)
                })
                .collect(),
            _ => Vec::new(),
        },
    }
}
