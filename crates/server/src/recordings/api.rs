//! The recordings JSON API, scoped like every client route (another client's recording, link or
//! transcript answers 404; agents reach only the calls they took): a call's recording with its
//! status, pauses, transcript and a download link signed for a few minutes; the audio behind that
//! link (which also needs the session, so a leaked link alone opens nothing); search across the
//! client's transcripts; the client's recording settings (retention, deleting the carrier's copy).

use crate::app::App;
use crate::desk::calls::control;
use crate::engine::CallAction;
use crate::http::auth::{Auth, ScopedClient, StaffClient};
use crate::http::error::{ApiError, ErrorBody, JsonBody};
use crate::http::signed::{LinkError, Signer};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use palera_core::ids::{CallId, ClientId, RecordingId};
use palera_core::recording::{
    check_intelligence_service, check_retention_days, RecordingStatus, SearchQuery, TranscriptLine,
};
use palera_core::user::Role;
use palera_store::calls::Call;
use palera_store::recordings::{Recording, RecordingSettings};
use palera_store::transcripts::{SearchHit, TranscriptKind};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::{IntoParams, OpenApi, ToSchema};

/// Path segments by name (an alias: the OpenAPI macro reads the path from `params`).
type Params = Path<HashMap<String, String>>;

/// How long a download link works.
pub const LINK_SECONDS: i64 = 300;

#[derive(OpenApi)]
#[openapi(
    paths(
        call_recording,
        recording_audio,
        search,
        get_settings,
        put_settings,
        pause,
        resume,
        watch
    ),
    components(schemas(RecordingView, Recording, RecordingSettings, SearchHit, TranscriptLine))
)]
pub struct RecordingsApiDoc;

const BASE: &str = "/api/v1/clients/{client_id}";

pub fn routes() -> Router<App> {
    Router::new()
        .route(
            &format!("{BASE}/calls/{{call_id}}/recording"),
            get(call_recording),
        )
        .route(
            &format!("{BASE}/recordings/{{recording_id}}/audio"),
            get(recording_audio),
        )
        .route(&format!("{BASE}/transcripts/search"), get(search))
        .route(
            &format!("{BASE}/recording-settings"),
            get(get_settings).put(put_settings),
        )
        .route("/api/v1/calls/{call_id}/recording/pause", post(pause))
        .route("/api/v1/calls/{call_id}/recording/resume", post(resume))
        .route(&format!("{BASE}/calls/{{call_id}}/watch"), post(watch))
}

/// A call's recording as its page and the API show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecordingView {
    pub recording: Recording,
    /// A download link of the stored file, working until `link_expires_at` (Unix seconds).
    pub audio_url: Option<String>,
    pub link_expires_at: Option<i64>,
    /// `final` (the post-call transcript) once made, else `live` (the lines of the call).
    pub transcript_kind: String,
    pub transcript: Vec<TranscriptLine>,
}

/// The signer of recording download links.
pub fn signer(app: &App) -> Signer {
    Signer::new(
        "palera recording download",
        app.settings.secret_key.as_deref().unwrap_or_default(),
    )
}

fn link_parts(client: ClientId, rec: RecordingId) -> [String; 2] {
    [client.0.to_string(), rec.0.to_string()]
}

/// The call `id` of `client` as `auth` may see it: agents only their own calls.
pub async fn visible_call(
    app: &App,
    auth: &Auth,
    client: ClientId,
    id: CallId,
) -> Result<Call, ApiError> {
    let call = app.store.call(client, id).await?;
    if auth.user.role == Role::Agent && call.agent_id != Some(auth.user.id) {
        return Err(ApiError::not_found());
    }
    Ok(call)
}

/// The view of `call`'s recording (404 when it was not recorded).
pub async fn recording_view(app: &App, call: &Call) -> Result<RecordingView, ApiError> {
    let recording = app
        .store
        .recording_for_call(call.client_id, call.id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let (audio_url, link_expires_at) = if recording.status == RecordingStatus::Stored {
        let expires = app.clock.now().timestamp() + LINK_SECONDS;
        let [c, r] = link_parts(call.client_id, recording.id);
        let token = signer(app).expiring(&[c.as_bytes(), r.as_bytes()], expires);
        let url = format!(
            "/api/v1/clients/{}/recordings/{}/audio?token={token}",
            call.client_id, recording.id
        );
        (Some(url), Some(expires))
    } else {
        (None, None)
    };
    let final_lines = app
        .store
        .transcript(call.client_id, call.id, TranscriptKind::Final)
        .await?;
    let (transcript_kind, transcript) = if recording.transcript_status == "done" {
        ("final", final_lines)
    } else {
        (
            "live",
            app.store
                .transcript(call.client_id, call.id, TranscriptKind::Live)
                .await?,
        )
    };
    Ok(RecordingView {
        recording,
        audio_url,
        link_expires_at,
        transcript_kind: transcript_kind.into(),
        transcript,
    })
}

/// The recording views of those of `client`'s `calls` that were recorded and that `auth` may
/// hear (agents: their own calls), by call id.
pub async fn views_of(
    app: &App,
    auth: &Auth,
    client: ClientId,
    calls: &[CallId],
) -> Result<HashMap<i64, RecordingView>, ApiError> {
    let mut out = HashMap::new();
    for id in calls {
        if app.store.recording_for_call(client, *id).await?.is_none() {
            continue;
        }
        let call = app.store.call(client, *id).await?;
        if auth.user.role == Role::Agent && call.agent_id != Some(auth.user.id) {
            continue;
        }
        out.insert(id.0, recording_view(app, &call).await?);
    }
    Ok(out)
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/calls/{call_id}/recording",
    params(("client_id" = i64, Path), ("call_id" = i64, Path)),
    responses((status = 200, body = RecordingView), (status = 404, body = ErrorBody)))]
async fn call_recording(
    State(app): State<App>,
    c: ScopedClient,
    Path(p): Params,
) -> Result<Json<RecordingView>, ApiError> {
    let id = path_id(&p, "call_id")?;
    let call = visible_call(&app, &c.auth, c.client, CallId(id)).await?;
    Ok(Json(recording_view(&app, &call).await?))
}

fn path_id(p: &HashMap<String, String>, name: &str) -> Result<i64, ApiError> {
    p.get(name)
        .and_then(|v| v.parse().ok())
        .ok_or_else(ApiError::not_found)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AudioQuery {
    /// The token of the link `recording` gave.
    pub token: String,
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/recordings/{recording_id}/audio",
    params(("client_id" = i64, Path), ("recording_id" = i64, Path), AudioQuery),
    responses((status = 200, content_type = "audio/wav", body = Vec<u8>), (status = 404, body = ErrorBody), (status = 410, body = ErrorBody)))]
async fn recording_audio(
    State(app): State<App>,
    c: ScopedClient,
    Path(p): Params,
    Query(q): Query<AudioQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let id = RecordingId(path_id(&p, "recording_id")?);
    let [cp, rp] = link_parts(c.client, id);
    let now = app.clock.now().timestamp();
    match signer(&app).check_expiring(&[cp.as_bytes(), rp.as_bytes()], &q.token, now) {
        Ok(()) => {}
        Err(LinkError::Invalid) => return Err(ApiError::not_found()),
        Err(LinkError::Expired) => {
            return Err(ApiError::new(
                StatusCode::GONE,
                "link_expired",
                "this download link has expired: open the recording again for a new one",
            ))
        }
    }
    let rec = app.store.recording(c.client, id).await?;
    visible_call(&app, &c.auth, c.client, rec.call_id).await?;
    let key = rec.storage_key.as_deref().ok_or_else(ApiError::not_found)?;
    let media = &app.recordings.media;
    let bytes = media.get(key).await.map_err(|e| match e {
        super::storage::StorageError::NotFound => ApiError::not_found(),
        other => ApiError::internal(&other),
    })?;
    let ct = rec.content_type.unwrap_or_else(|| "audio/wav".into());
    let ext = if ct == "audio/mpeg" { "mp3" } else { "wav" };
    let total = bytes.len();
    let (status, body, range) = match byte_range(headers.get(header::RANGE), total) {
        Some((from, to)) => (
            StatusCode::PARTIAL_CONTENT,
            bytes[from..=to].to_vec(),
            Some(format!("bytes {from}-{to}/{total}")),
        ),
        None => (StatusCode::OK, bytes, None),
    };
    let mut resp = (
        status,
        [
            (header::CONTENT_TYPE, ct),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
            (header::CACHE_CONTROL, "private, no-store".into()),
            (header::ACCEPT_RANGES, "bytes".into()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"call-{}.{ext}\"", rec.call_id),
            ),
        ],
        body,
    )
        .into_response();
    if let Some(v) = range.and_then(|r| header::HeaderValue::from_str(&r).ok()) {
        resp.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    Ok(resp)
}

/// The one byte range a player asks for (`bytes=from-` or `bytes=from-to`), clamped to the
/// file; `None` for the whole file (no header, several ranges, or one that does not fit).
fn byte_range(h: Option<&header::HeaderValue>, total: usize) -> Option<(usize, usize)> {
    let spec = h?.to_str().ok()?.strip_prefix("bytes=")?;
    let (from, to) = spec.split_once('-')?;
    let from: usize = from.trim().parse().ok()?;
    let to = match to.trim() {
        "" => total.checked_sub(1)?,
        t => t.parse::<usize>().ok()?.min(total.checked_sub(1)?),
    };
    (from <= to).then_some((from, to))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchParams {
    /// A word or a phrase.
    pub q: String,
    /// Calls to return, 1 to 100 (default 20).
    pub limit: Option<i64>,
}

/// Searches `client`'s transcripts as `auth` may see them (agents: their own calls).
pub async fn search_hits(
    app: &App,
    auth: &Auth,
    client: ClientId,
    q: &str,
    limit: Option<i64>,
) -> Result<Vec<SearchHit>, ApiError> {
    let query = SearchQuery::parse(q)?;
    let limit = limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 100"));
    }
    let hits = app.store.search_transcripts(client, &query, limit).await?;
    if auth.user.role != Role::Agent {
        return Ok(hits);
    }
    let mut own = Vec::new();
    for h in hits {
        if app.store.call(client, h.call_id).await?.agent_id == Some(auth.user.id) {
            own.push(h);
        }
    }
    Ok(own)
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/transcripts/search",
    params(("client_id" = i64, Path), SearchParams),
    responses((status = 200, body = Vec<SearchHit>), (status = 422, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn search(
    State(app): State<App>,
    c: ScopedClient,
    Query(p): Query<SearchParams>,
) -> Result<Json<Vec<SearchHit>>, ApiError> {
    Ok(Json(
        search_hits(&app, &c.auth, c.client, &p.q, p.limit).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/clients/{client_id}/recording-settings",
    params(("client_id" = i64, Path)),
    responses((status = 200, body = RecordingSettings), (status = 404, body = ErrorBody)))]
async fn get_settings(
    State(app): State<App>,
    c: StaffClient,
) -> Result<Json<RecordingSettings>, ApiError> {
    Ok(Json(app.store.recording_settings(c.client).await?))
}

#[utoipa::path(put, path = "/api/v1/clients/{client_id}/recording-settings",
    params(("client_id" = i64, Path)), request_body = RecordingSettings,
    responses((status = 200, body = RecordingSettings), (status = 422, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn put_settings(
    State(app): State<App>,
    c: StaffClient,
    JsonBody(s): JsonBody<RecordingSettings>,
) -> Result<Json<RecordingSettings>, ApiError> {
    check_retention_days(s.retention_days)?;
    check_intelligence_service(s.intelligence_service_sid.as_deref())?;
    let now = app.now_ms();
    Ok(Json(
        app.store.save_recording_settings(c.client, &s, now).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/calls/{call_id}/recording/pause", params(("call_id" = i64, Path)),
    responses((status = 204, description = "the recording is paused; the pause is marked on its timeline"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn pause(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    control(&app, &auth, CallId(id), CallAction::PauseRecording).await
}

#[utoipa::path(post, path = "/api/v1/calls/{call_id}/recording/resume", params(("call_id" = i64, Path)),
    responses((status = 204, description = "the recording goes on"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn resume(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    control(&app, &auth, CallId(id), CallAction::ResumeRecording).await
}

#[utoipa::path(post, path = "/api/v1/clients/{client_id}/calls/{call_id}/watch",
    params(("client_id" = i64, Path), ("call_id" = i64, Path)),
    responses((status = 200, description = "the call's live transcript so far; later lines arrive on the desktop channel", body = Vec<TranscriptLine>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn watch(
    State(app): State<App>,
    c: StaffClient,
    Path(p): Params,
) -> Result<Json<Vec<TranscriptLine>>, ApiError> {
    let call = visible_call(&app, &c.auth, c.client, CallId(path_id(&p, "call_id")?)).await?;
    app.watchers.watch(call.id, c.auth.user.id);
    Ok(Json(
        app.store
            .transcript(call.client_id, call.id, TranscriptKind::Live)
            .await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::byte_range;
    use axum::http::HeaderValue;

    #[test]
    fn a_player_gets_the_one_byte_range_it_asks_for() {
        let h = |v: &str| HeaderValue::from_str(v).unwrap();
        assert_eq!(byte_range(None, 100), None);
        assert_eq!(byte_range(Some(&h("bytes=0-")), 100), Some((0, 99)));
        assert_eq!(byte_range(Some(&h("bytes=10-19")), 100), Some((10, 19)));
        assert_eq!(byte_range(Some(&h("bytes=90-500")), 100), Some((90, 99)));
        assert_eq!(
            byte_range(Some(&h("bytes=100-")), 100),
            None,
            "past the end"
        );
        assert_eq!(byte_range(Some(&h("bytes=5-1")), 100), None);
        assert_eq!(
            byte_range(Some(&h("bytes=0-1,5-6")), 100),
            None,
            "several ranges"
        );
        assert_eq!(byte_range(Some(&h("items=0-1")), 100), None);
        assert_eq!(byte_range(Some(&h("bytes=0-")), 0), None, "an empty file");
    }
}
