//! The typed Twilio REST client of one account. Owns transport concerns: base URL (configurable,
//! so tests point it at a mock), HTTP basic auth, pacing of call-creating requests to the
//! account's CPS, retries with exponential backoff for requests that are safe to repeat, and the
//! translation of Twilio's error JSON into [`CarrierError`].

use super::limiter::RateLimiter;
use super::resources::*;
use crate::{CallSid, CarrierError};
use reqwest::{Method as HttpMethod, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::time::Duration;

/// Twilio's production API.
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";
/// Twilio's Conversational Intelligence API (post-call transcripts).
pub const DEFAULT_INTELLIGENCE_URL: &str = "https://intelligence.twilio.com";

/// How the client authenticates: the account's auth token, or an API key (preferred: revocable).
#[derive(Clone)]
pub enum Credentials {
    AuthToken(String),
    ApiKey { sid: String, secret: String },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AuthToken(_) => f.write_str("AuthToken(..)"),
            Self::ApiKey { sid, .. } => write!(f, "ApiKey({sid}, ..)"),
        }
    }
}

/// When to repeat a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Repeats after the first attempt (0 = never retry).
    pub max_retries: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(4),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// Settings of one account's client.
#[derive(Debug, Clone)]
pub struct RestConfig {
    pub base_url: String,
    /// The Conversational Intelligence API's base URL.
    pub intelligence_url: String,
    pub account_sid: String,
    pub credentials: Credentials,
    /// Calls per second the account allows (Twilio's default is 1).
    pub calls_per_second: f64,
    pub retry: RetryPolicy,
    /// Whole-request timeout.
    pub timeout: Duration,
}

impl RestConfig {
    pub fn new(account_sid: impl Into<String>, credentials: Credentials) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.into(),
            intelligence_url: DEFAULT_INTELLIGENCE_URL.into(),
            account_sid: account_sid.into(),
            credentials,
            calls_per_second: 1.0,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(15),
        }
    }
}

/// Whether a request may be sent again after a failure whose effect is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Safety {
    /// Repeating it leaves the same state (GET, DELETE, setting a status).
    Idempotent,
    /// Repeating it could act twice (creating a call dials a second time).
    Once,
}

/// Which of Twilio's APIs a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Host {
    Api,
    Intelligence,
}

/// One request, before sending.
struct Request {
    host: Host,
    method: HttpMethod,
    path: String,
    form: Option<Form>,
    query: Vec<(&'static str, String)>,
    safety: Safety,
    /// Counts against the CPS limit.
    creates_call: bool,
}

impl Request {
    fn get(path: String) -> Self {
        Self {
            host: Host::Api,
            method: HttpMethod::GET,
            path,
            form: None,
            query: Vec::new(),
            safety: Safety::Idempotent,
            creates_call: false,
        }
    }

    fn post(path: String, form: Form, safety: Safety) -> Self {
        Self {
            method: HttpMethod::POST,
            form: Some(form),
            safety,
            ..Self::get(path)
        }
    }

    fn delete(path: String) -> Self {
        Self {
            method: HttpMethod::DELETE,
            ..Self::get(path)
        }
    }

    fn on(self, host: Host) -> Self {
        Self { host, ..self }
    }
}

/// Twilio's error body: `{"code": 21211, "message": "…", "more_info": "…", "status": 400}`.
#[derive(Debug, Deserialize)]
struct ApiError {
    code: Option<i64>,
    message: Option<String>,
    #[serde(default)]
    more_info: Option<String>,
}

/// The REST client of one Twilio account.
#[derive(Debug)]
pub struct RestClient {
    http: reqwest::Client,
    config: RestConfig,
    limiter: RateLimiter,
}

impl RestClient {
    pub fn new(config: RestConfig) -> Result<Self, CarrierError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("palera-voice/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CarrierError::Unavailable(format!("HTTP client setup failed: {e}")))?;
        let limiter = RateLimiter::new(config.calls_per_second);
        Ok(Self {
            http,
            config,
            limiter,
        })
    }

    pub fn account_sid(&self) -> &str {
        &self.config.account_sid
    }

    /// Fetches the account: succeeds exactly when the credentials work.
    pub async fn fetch_account(&self) -> Result<Account, CarrierError> {
        let path = format!(
            "/2010-04-01/Accounts/{}.json",
            seg(&self.config.account_sid)
        );
        self.json(Request::get(path)).await
    }

    /// Places a call. Never retried after it may have reached Twilio: a retry could dial twice.
    pub async fn create_call(&self, call: &CreateCall) -> Result<Call, CarrierError> {
        let mut req = Request::post(self.account_path("Calls.json"), call.form(), Safety::Once);
        req.creates_call = true;
        self.json(req).await
    }

    pub async fn update_call(
        &self,
        sid: &CallSid,
        update: &UpdateCall,
    ) -> Result<Call, CarrierError> {
        let safety = if update.is_idempotent() {
            Safety::Idempotent
        } else {
            Safety::Once
        };
        let path = self.account_path(&format!("Calls/{}.json", seg(&sid.0)));
        self.json(Request::post(path, update.form(), safety)).await
    }

    /// Hangs up (`Status=completed`).
    pub async fn hang_up(&self, sid: &CallSid) -> Result<Call, CarrierError> {
        self.update_call(sid, &UpdateCall::HangUp).await
    }

    pub async fn fetch_call(&self, sid: &CallSid) -> Result<Call, CarrierError> {
        let path = self.account_path(&format!("Calls/{}.json", seg(&sid.0)));
        self.json(Request::get(path)).await
    }

    /// Conferences named `friendly_name` that are still running.
    pub async fn find_conferences(
        &self,
        friendly_name: &str,
    ) -> Result<Vec<Conference>, CarrierError> {
        let mut req = Request::get(self.account_path("Conferences.json"));
        req.query = vec![
            ("FriendlyName", friendly_name.to_owned()),
            ("Status", "in-progress".to_owned()),
        ];
        let page: ConferencePage = self.json(req).await?;
        Ok(page.conferences)
    }

    /// Dials a participant into `conference` (a `CF…` SID or the conference's friendly name).
    pub async fn add_participant(
        &self,
        conference: &str,
        participant: &CreateParticipant,
    ) -> Result<Participant, CarrierError> {
        let path = self.account_path(&format!(
            "Conferences/{}/Participants.json",
            seg(conference)
        ));
        let mut req = Request::post(path, participant.form(), Safety::Once);
        req.creates_call = true;
        self.json(req).await
    }

    /// Updates a participant, addressed by its call SID or label.
    pub async fn update_participant(
        &self,
        conference_sid: &str,
        participant: &str,
        update: &UpdateParticipant,
    ) -> Result<Participant, CarrierError> {
        let path = self.participant_path(conference_sid, participant);
        self.json(Request::post(path, update.form(), Safety::Idempotent))
            .await
    }

    /// Removes (kicks) a participant: its call leaves the conference and ends.
    pub async fn remove_participant(
        &self,
        conference_sid: &str,
        participant: &str,
    ) -> Result<(), CarrierError> {
        let path = self.participant_path(conference_sid, participant);
        self.send(Request::delete(path)).await.map(drop)
    }

    pub async fn start_recording(
        &self,
        call: &CallSid,
        request: &CreateRecording,
    ) -> Result<Recording, CarrierError> {
        let path = self.account_path(&format!("Calls/{}/Recordings.json", seg(&call.0)));
        self.json(Request::post(path, request.form(), Safety::Once))
            .await
    }

    /// Pauses, resumes or stops a call's recording (`Twilio.CURRENT` names the active one).
    pub async fn control_recording(
        &self,
        call: &CallSid,
        recording_sid: &str,
        control: RecordingControl,
    ) -> Result<Recording, CarrierError> {
        let path = self.account_path(&format!(
            "Calls/{}/Recordings/{}.json",
            seg(&call.0),
            seg(recording_sid)
        ));
        self.json(Request::post(path, control.form(), Safety::Idempotent))
            .await
    }

    pub async fn fetch_recording(&self, recording_sid: &str) -> Result<Recording, CarrierError> {
        let path = self.account_path(&format!("Recordings/{}.json", seg(recording_sid)));
        self.json(Request::get(path)).await
    }

    /// Deletes a recording (its audio and metadata) from the account.
    pub async fn delete_recording(&self, recording_sid: &str) -> Result<(), CarrierError> {
        let path = self.account_path(&format!("Recordings/{}.json", seg(recording_sid)));
        self.send(Request::delete(path)).await.map(drop)
    }

    /// Downloads a recording's audio; `dual` asks for both channels (`RequestedChannels=2`).
    pub async fn download_recording(
        &self,
        recording_sid: &str,
        format: MediaFormat,
        dual: bool,
    ) -> Result<Vec<u8>, CarrierError> {
        let name = format!("Recordings/{}.{}", seg(recording_sid), format.extension());
        let mut req = Request::get(self.account_path(&name));
        if dual {
            req.query.push(("RequestedChannels", "2".into()));
        }
        let resp = self.send(req).await?;
        let bytes = resp.bytes().await.map_err(transport)?;
        Ok(bytes.to_vec())
    }

    pub async fn start_transcription(
        &self,
        call: &CallSid,
        request: &CreateTranscription,
    ) -> Result<RealtimeTranscription, CarrierError> {
        let path = self.account_path(&format!("Calls/{}/Transcriptions.json", seg(&call.0)));
        self.json(Request::post(path, request.form(), Safety::Once))
            .await
    }

    /// Stops a real-time transcription, named by its SID or name.
    pub async fn stop_transcription(
        &self,
        call: &CallSid,
        sid_or_name: &str,
    ) -> Result<RealtimeTranscription, CarrierError> {
        let path = self.account_path(&format!(
            "Calls/{}/Transcriptions/{}.json",
            seg(&call.0),
            seg(sid_or_name)
        ));
        let form = Form::new().set("Status", "stopped");
        self.json(Request::post(path, form, Safety::Idempotent))
            .await
    }

    /// Asks the Intelligence service for a post-call transcript of a recording kept at Twilio.
    pub async fn create_transcript(
        &self,
        request: &CreateTranscript,
    ) -> Result<IntelligenceTranscript, CarrierError> {
        let req = Request::post("/v2/Transcripts".into(), request.form(), Safety::Once);
        self.json(req.on(Host::Intelligence)).await
    }

    pub async fn fetch_transcript(
        &self,
        sid: &str,
    ) -> Result<IntelligenceTranscript, CarrierError> {
        let req = Request::get(format!("/v2/Transcripts/{}", seg(sid)));
        self.json(req.on(Host::Intelligence)).await
    }

    /// Every sentence of a completed transcript, following `next_page_url` (pages of 5000).
    pub async fn transcript_sentences(&self, sid: &str) -> Result<Vec<Sentence>, CarrierError> {
        let mut out = Vec::new();
        let mut req = Request::get(format!("/v2/Transcripts/{}/Sentences", seg(sid)));
        req.query = vec![("PageSize", "5000".to_owned())];
        // A bound on pages, so a misbehaving server cannot keep us looping.
        for _ in 0..50 {
            let page: SentencePage = self.json(req.on(Host::Intelligence)).await?;
            out.extend(page.sentences);
            let next = page.meta.and_then(|m| m.next_page_url);
            match next.as_deref().and_then(path_and_query) {
                Some(next) => req = Request::get(next),
                None => break,
            }
        }
        Ok(out)
    }

    /// Deletes a transcript (its sentences and results) from the Intelligence service.
    pub async fn delete_transcript(&self, sid: &str) -> Result<(), CarrierError> {
        let req = Request::delete(format!("/v2/Transcripts/{}", seg(sid)));
        self.send(req.on(Host::Intelligence)).await.map(drop)
    }

    /// The account's phone numbers, following `next_page_uri` (Twilio's pages hold up to 1000).
    pub async fn list_incoming_numbers(&self) -> Result<Vec<IncomingPhoneNumber>, CarrierError> {
        let mut out = Vec::new();
        let mut req = Request::get(self.account_path("IncomingPhoneNumbers.json"));
        req.query = vec![("PageSize", "1000".to_owned())];
        // A bound on pages, so a misbehaving server cannot keep us looping.
        for _ in 0..50 {
            let page: IncomingPhoneNumberPage = self.json(req).await?;
            out.extend(page.incoming_phone_numbers);
            match page.next_page_uri.filter(|u| u.starts_with('/')) {
                Some(next) => req = Request::get(next),
                None => break,
            }
        }
        Ok(out)
    }

    /// Points one of the account's numbers (`PN…`) at our voice webhook.
    pub async fn point_number(
        &self,
        number_sid: &str,
        point: &PointNumber,
    ) -> Result<IncomingPhoneNumber, CarrierError> {
        let path = self.account_path(&format!("IncomingPhoneNumbers/{}.json", seg(number_sid)));
        self.json(Request::post(path, point.form(), Safety::Idempotent))
            .await
    }

    fn account_path(&self, rest: &str) -> String {
        format!(
            "/2010-04-01/Accounts/{}/{rest}",
            seg(&self.config.account_sid)
        )
    }

    fn participant_path(&self, conference_sid: &str, participant: &str) -> String {
        self.account_path(&format!(
            "Conferences/{}/Participants/{}.json",
            seg(conference_sid),
            seg(participant)
        ))
    }

    async fn json<T: DeserializeOwned>(&self, req: Request) -> Result<T, CarrierError> {
        let resp = self.send(req).await?;
        let bytes = resp.bytes().await.map_err(transport)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| CarrierError::Unavailable(format!("unexpected response from Twilio: {e}")))
    }

    /// Sends with pacing and retries; returns the successful response or the mapped error.
    async fn send(&self, req: Request) -> Result<reqwest::Response, CarrierError> {
        if req.creates_call {
            self.limiter.acquire().await;
        }
        let mut attempt = 0;
        loop {
            let outcome = self.send_once(&req).await;
            let retry = attempt < self.config.retry.max_retries && should_retry(&req, &outcome);
            if !retry {
                return finish(outcome).await;
            }
            tracing::debug!(path = %req.path, attempt, "retrying Twilio request");
            tokio::time::sleep(self.config.retry.backoff(attempt)).await;
            attempt += 1;
        }
    }

    async fn send_once(&self, req: &Request) -> Result<reqwest::Response, reqwest::Error> {
        let base = match req.host {
            Host::Api => &self.config.base_url,
            Host::Intelligence => &self.config.intelligence_url,
        };
        let url = format!("{}{}", base.trim_end_matches('/'), req.path);
        let (user, pass) = match &self.config.credentials {
            Credentials::AuthToken(token) => (self.config.account_sid.as_str(), token.as_str()),
            Credentials::ApiKey { sid, secret } => (sid.as_str(), secret.as_str()),
        };
        let mut builder = self
            .http
            .request(req.method.clone(), url)
            .basic_auth(user, Some(pass))
            .header(reqwest::header::ACCEPT, "application/json");
        if !req.query.is_empty() {
            builder = builder.query(&req.query);
        }
        if let Some(form) = &req.form {
            builder = builder
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(form.encode());
        }
        builder.send().await
    }
}

/// The path and query of a next-page URL that Twilio gives in full (`https://host/v2/…?…`).
fn path_and_query(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    Some(match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_owned(),
    })
}

/// Retry 429 and 5xx for safe requests; retry connection failures for all, since the request
/// never reached Twilio.
fn should_retry(req: &Request, outcome: &Result<reqwest::Response, reqwest::Error>) -> bool {
    match outcome {
        Ok(resp) => {
            let s = resp.status();
            req.safety == Safety::Idempotent
                && (s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error())
        }
        Err(e) => e.is_connect() || req.safety == Safety::Idempotent,
    }
}

async fn finish(
    outcome: Result<reqwest::Response, reqwest::Error>,
) -> Result<reqwest::Response, CarrierError> {
    let resp = outcome.map_err(transport)?;
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    Err(map_error(status, &body))
}

/// Translates an error response into our error: 429 → rate limited, 5xx → unavailable, other
/// statuses → rejected with Twilio's error code (or the HTTP status when the body has none).
pub fn map_error(status: u16, body: &str) -> CarrierError {
    let api: Option<ApiError> = serde_json::from_str(body).ok();
    let message = api
        .as_ref()
        .and_then(|a| a.message.clone())
        .unwrap_or_else(|| snippet(body));
    match status {
        429 => CarrierError::RateLimited,
        500..=599 => CarrierError::Unavailable(format!("Twilio answered {status}: {message}")),
        _ => {
            let code = api
                .as_ref()
                .and_then(|a| a.code)
                .unwrap_or(i64::from(status));
            let more = api.and_then(|a| a.more_info);
            tracing::debug!(
                status,
                code,
                more_info = more.as_deref(),
                "Twilio refused a request"
            );
            CarrierError::Rejected { code, message }
        }
    }
}

fn snippet(body: &str) -> String {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return "no details".into();
    }
    trimmed.chars().take(200).collect()
}

fn transport(e: reqwest::Error) -> CarrierError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    CarrierError::Unavailable(format!("Twilio {what}: {e}"))
}

/// Percent-encodes one path segment (SIDs are safe; labels and friendly names may not be).
fn seg(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for b in input.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_error_json_becomes_rejected_with_its_code() {
        let body = r#"{"code": 21211, "message": "The 'To' number is not valid.",
            "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}"#;
        assert_eq!(
            map_error(400, body),
            CarrierError::Rejected {
                code: 21211,
                message: "The 'To' number is not valid.".into()
            }
        );
    }

    #[test]
    fn too_many_requests_is_rate_limited() {
        let body = r#"{"code": 20429, "message": "Too Many Requests", "status": 429}"#;
        assert_eq!(map_error(429, body), CarrierError::RateLimited);
    }

    #[test]
    fn server_errors_are_unavailable() {
        assert!(
            matches!(map_error(503, "oops"), CarrierError::Unavailable(m) if m.contains("503"))
        );
    }

    #[test]
    fn non_json_refusal_keeps_the_http_status_as_code() {
        assert_eq!(
            map_error(404, "<html>nope</html>"),
            CarrierError::Rejected {
                code: 404,
                message: "<html>nope</html>".into()
            }
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            max_retries: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
        };
        let waits: Vec<_> = (0..4).map(|a| p.backoff(a).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500]);
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(seg("CA0123abcd"), "CA0123abcd");
        assert_eq!(seg("call-7 a/b"), "call-7%20a%2Fb");
        assert_eq!(seg("client:ä"), "client%3A%C3%A4");
    }
}
