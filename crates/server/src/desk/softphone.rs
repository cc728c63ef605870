//! The desktop's phone: what the softphone panel of the agent desktop needs. In demo (simulated
//! network) a simulated softphone shows the call's audio from the server's events; in Twilio mode
//! the page loads the Twilio Voice JavaScript SDK from the `voice_sdk_url` setting, pinned with
//! its `voice_sdk_integrity` hash (`integrity` + `crossorigin`, so the browser refuses any other
//! file), registers a Device per client with the tokens of the voice-token endpoint, and answers
//! the agent legs the server bridges in. The panel's script is `static/softphone.js`.

use crate::app::App;
use crate::config::CarrierMode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

pub fn routes() -> Router<App> {
    Router::new().route("/static/softphone.js", get(script))
}

async fn script() -> Response {
    crate::http::pages::javascript(include_str!("../../static/softphone.js"))
}

/// The SDK file the page loads, and the hash it must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdk {
    pub url: String,
    pub integrity: String,
}

/// What the desktop's phone panel is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftphoneView {
    /// `simulated` (demo), `twilio`, or `none` (Twilio mode without a voice-enabled client).
    pub mode: &'static str,
    /// The SDK to load (Twilio mode, when configured).
    pub sdk: Option<Sdk>,
    /// Why the phone cannot work, for the agent to pass on.
    pub problem: Option<String>,
}

/// The phone panel of a desktop whose voice-token clients are `voice_clients` (space-separated,
/// from [`crate::twilio::voice_token::desktop_clients`]).
pub fn view(app: &App, voice_clients: &str) -> SoftphoneView {
    if app.carriers.mode() == CarrierMode::Simulated {
        return SoftphoneView {
            mode: "simulated",
            sdk: None,
            problem: None,
        };
    }
    if voice_clients.trim().is_empty() {
        return SoftphoneView {
            mode: "none",
            sdk: None,
            problem: None,
        };
    }
    let s = &app.settings;
    match (&s.voice_sdk_url, &s.voice_sdk_integrity) {
        (Some(url), Some(integrity)) => SoftphoneView {
            mode: "twilio",
            sdk: Some(Sdk {
                url: url.clone(),
                integrity: integrity.clone(),
            }),
            problem: None,
        },
        _ => SoftphoneView {
            mode: "twilio",
            sdk: None,
            problem: Some(
                "The softphone is not set up: an administrator must set PALERA_VOICE_SDK_URL \
                 and PALERA_VOICE_SDK_INTEGRITY (the Twilio Voice SDK file and its hash)."
                    .into(),
            ),
        },
    }
}
