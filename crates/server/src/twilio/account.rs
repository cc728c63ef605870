//! A client's Twilio account as seen from the settings page and the API: "check credentials"
//! (fetch the account with each stored credential, report Twilio's own error message, never
//! the secret), the plan for pointing the client's numbers at this server, and carrying it out
//! (each IncomingPhoneNumber's VoiceUrl and StatusCallback set to our webhooks).

use crate::app::App;
use crate::http::error::ApiError;
use axum::http::StatusCode;
use palera_carrier::twilio::resources::PointNumber;
use palera_carrier::twilio::signature::webhook_url;
use palera_carrier::twilio::{Credentials, RestClient, RestConfig};
use palera_carrier::CarrierError;
use palera_core::ids::ClientId;
use serde::Serialize;
use utoipa::ToSchema;

/// The result of trying one credential against Twilio.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CredentialResult {
    /// `auth_token` (signs webhooks, REST fallback) or `api_key` (REST, browser tokens).
    pub credential: String,
    pub ok: bool,
    /// The account's friendly name when ok, else why not (Twilio's message).
    pub message: String,
}

/// What "Check credentials" found.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CredentialCheck {
    /// Every stored credential works (and at least one is stored).
    pub ok: bool,
    pub account_sid: Option<String>,
    pub results: Vec<CredentialResult>,
}

fn rest_client(
    app: &App,
    account_sid: &str,
    credentials: Credentials,
) -> Result<RestClient, CarrierError> {
    let mut config = RestConfig::new(account_sid, credentials);
    config.base_url = app
        .carriers
        .twilio_base_url
        .lock()
        .expect("hub lock")
        .clone();
    config.retry.max_retries = 0;
    config.timeout = std::time::Duration::from_secs(10);
    RestClient::new(config)
}

async fn try_credential(
    app: &App,
    account_sid: &str,
    name: &str,
    credentials: Credentials,
) -> CredentialResult {
    let outcome = match rest_client(app, account_sid, credentials) {
        Ok(rest) => rest.fetch_account().await,
        Err(e) => Err(e),
    };
    let (ok, message) = match outcome {
        Ok(account) => (
            true,
            format!(
                "works: account {}{}",
                account.friendly_name.as_deref().unwrap_or(&account.sid),
                account
                    .status
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default()
            ),
        ),
        Err(e) => (false, e.to_string()),
    };
    CredentialResult {
        credential: name.to_owned(),
        ok,
        message,
    }
}

/// Fetches the account with the auth token and with the API key, whichever are stored.
#[tracing::instrument(skip(app))]
pub async fn check_credentials(app: &App, client: ClientId) -> Result<CredentialCheck, ApiError> {
    let creds = app.store.client_credentials(client).await?;
    let Some(account_sid) = creds.account_sid.clone() else {
        return Ok(CredentialCheck {
            ok: false,
            account_sid: None,
            results: vec![CredentialResult {
                credential: "account_sid".into(),
                ok: false,
                message: "no Twilio account SID is set".into(),
            }],
        });
    };
    let mut results = Vec::new();
    if let Some(token) = creds.auth_token.clone() {
        results.push(
            try_credential(
                app,
                &account_sid,
                "auth_token",
                Credentials::AuthToken(token),
            )
            .await,
        );
    }
    if let (Some(sid), Some(secret)) = (creds.api_key_sid.clone(), creds.api_key_secret.clone()) {
        results.push(
            try_credential(
                app,
                &account_sid,
                "api_key",
                Credentials::ApiKey { sid, secret },
            )
            .await,
        );
    }
    if results.is_empty() {
        results.push(CredentialResult {
            credential: "auth_token".into(),
            ok: false,
            message: "neither an auth token nor an API key is set".into(),
        });
    }
    let ok = results.iter().all(|r| r.ok);
    tracing::info!(client = %client, ok, "Twilio credentials checked");
    Ok(CredentialCheck {
        ok,
        account_sid: Some(account_sid),
        results,
    })
}

/// One of the client's numbers and where its calls would go.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NumberPlan {
    pub number: String,
    /// The IncomingPhoneNumber SID (`PN…`), or `None` when the number is not on the account.
    pub sid: Option<String>,
    pub current_voice_url: Option<String>,
    pub voice_url: String,
    pub status_callback: String,
    /// Already pointed at this server.
    pub up_to_date: bool,
}

/// The outcome of pointing one number.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PointResult {
    pub number: String,
    pub ok: bool,
    pub message: String,
}

fn twilio_error(e: CarrierError) -> ApiError {
    match e {
        CarrierError::NotConfigured => ApiError {
            status: StatusCode::CONFLICT,
            code: "not_configured",
            message: "account_sid: set the Twilio account SID and a credential first".into(),
            field: Some("account_sid".into()),
        },
        other => ApiError::new(StatusCode::BAD_GATEWAY, "twilio_error", other.to_string()),
    }
}

/// Our webhook URLs for a client's numbers.
pub fn number_urls(app: &App, client: ClientId) -> (String, String) {
    let public = app.settings.public_url.as_deref().unwrap_or_default();
    (
        webhook_url(public, &format!("/twilio/{client}/voice")),
        webhook_url(public, &format!("/twilio/{client}/status")),
    )
}

/// Matches the client's stored numbers with the account's numbers.
#[tracing::instrument(skip(app))]
pub async fn number_plan(app: &App, client: ClientId) -> Result<Vec<NumberPlan>, ApiError> {
    let carrier = app
        .carriers
        .build_twilio(&app.store, client)
        .await
        .map_err(twilio_error)?;
    let on_account = carrier
        .rest()
        .list_incoming_numbers()
        .await
        .map_err(twilio_error)?;
    let (voice_url, status_callback) = number_urls(app, client);
    let stored = app.store.numbers(client).await?;
    Ok(stored
        .into_iter()
        .map(|n| {
            let found = on_account.iter().find(|a| a.phone_number == n.number);
            let current = found.and_then(|a| a.voice_url.clone());
            NumberPlan {
                up_to_date: current.as_deref() == Some(voice_url.as_str()),
                sid: found.map(|a| a.sid.clone()),
                current_voice_url: current,
                number: n.number,
                voice_url: voice_url.clone(),
                status_callback: status_callback.clone(),
            }
        })
        .collect())
}

/// Points every number of the plan that is on the account at our webhooks.
#[tracing::instrument(skip(app))]
pub async fn point_numbers(app: &App, client: ClientId) -> Result<Vec<PointResult>, ApiError> {
    let plan = number_plan(app, client).await?;
    let carrier = app
        .carriers
        .build_twilio(&app.store, client)
        .await
        .map_err(twilio_error)?;
    let mut out = Vec::new();
    for n in plan {
        let Some(sid) = &n.sid else {
            out.push(PointResult {
                number: n.number,
                ok: false,
                message: "not found on this Twilio account".into(),
            });
            continue;
        };
        let point = PointNumber {
            voice_url: n.voice_url.clone(),
            status_callback: Some(n.status_callback.clone()),
        };
        let (ok, message) = match carrier.rest().point_number(sid, &point).await {
            Ok(_) => (true, format!("voice calls now go to {}", n.voice_url)),
            Err(e) => (false, e.to_string()),
        };
        tracing::info!(client = %client, number = %n.number, ok, "number pointed at this server");
        out.push(PointResult {
            number: n.number,
            ok,
            message,
        });
    }
    Ok(out)
}
