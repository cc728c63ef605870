//! The campaigns' uploaded audio as the carrier fetches it: a public route (no login; Twilio
//! fetches it) under an unguessable URL, a MAC over the campaign, the kind and the file itself.
//! The file is read by the campaign's id alone (`campaign_audio_unscoped`) and nothing is served
//! unless the MAC of the URL matches it, so this is the one campaign read that names no client.

use crate::app::App;
use crate::http::error::ApiError;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hmac::{Hmac, Mac};
use palera_core::ids::CampaignId;
use sha2::Sha256;

pub fn routes() -> Router<App> {
    Router::new().route(
        "/media/campaigns/{campaign_id}/{kind}/{token}",
        get(get_audio),
    )
}

/// The MAC of one uploaded audio file: HMAC-SHA256 under the installation's secret key over the
/// campaign, the kind and a digest of the file itself (a new upload gets a new URL; the old one
/// stops working).
fn audio_mac(
    settings: &crate::config::Settings,
    campaign: CampaignId,
    kind: &str,
    data: &[u8],
) -> Hmac<Sha256> {
    use sha2::Digest;
    let key = settings.secret_key.as_deref().unwrap_or_default();
    let id = campaign.0.to_string();
    let digest = Sha256::digest(data);
    crate::http::signed::Signer::new("palera campaign audio", key).mac(&[
        id.as_bytes(),
        kind.as_bytes(),
        &digest,
    ])
}

/// The unguessable part of an audio file's public URL (hex).
pub fn audio_token(
    settings: &crate::config::Settings,
    campaign: CampaignId,
    kind: &str,
    data: &[u8],
) -> String {
    hex::encode(
        audio_mac(settings, campaign, kind, data)
            .finalize()
            .into_bytes(),
    )
}

/// Uploaded audio, fetched by the carrier (no login: Twilio fetches it), by the URL given at
/// upload: a missing or wrong token is answered like an unknown file (404).
async fn get_audio(
    State(app): State<App>,
    Path((id, kind, token)): Path<(i64, String, String)>,
) -> Result<Response, ApiError> {
    let (_, data) = app
        .store
        .campaign_audio_unscoped(CampaignId(id), &kind)
        .await?;
    let given = hex::decode(&token).map_err(|_| ApiError::not_found())?;
    audio_mac(&app.settings, CampaignId(id), &kind, &data)
        .verify_slice(&given)
        .map_err(|_| ApiError::not_found())?;
    // The stored type is never echoed: the bytes are judged again, and anything that is not
    // audio (a file stored before uploads were sniffed) is not served at all.
    let audio = AudioKind::sniff(&data).ok_or_else(ApiError::not_found)?;
    let disposition = format!("inline; filename=\"{kind}.{}\"", audio.extension());
    Ok((
        [
            (header::CONTENT_TYPE, audio.content_type().to_string()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox".to_string(),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        data,
    )
        .into_response())
}

/// The audio formats an upload may be, told from the file's own first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioKind {
    Mp3,
    Wav,
}

impl AudioKind {
    /// MP3: an ID3v2 tag or an MPEG audio frame sync (11 set bits, a valid layer and bitrate);
    /// WAV: a RIFF container of type `WAVE`.
    pub fn sniff(data: &[u8]) -> Option<Self> {
        match data {
            [b'I', b'D', b'3', major, ..] if *major <= 4 => Some(Self::Mp3),
            [0xFF, b1, b2, ..] if b1 & 0xE0 == 0xE0 && b1 & 0x06 != 0 && b2 & 0xF0 != 0xF0 => {
                Some(Self::Mp3)
            }
            [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'A', b'V', b'E', ..] => Some(Self::Wav),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Mp3 => "audio/mpeg",
            Self::Wav => "audio/wav",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Self::Mp3 => "mp3",
            Self::Wav => "wav",
        }
    }
}
