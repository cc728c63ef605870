//! A fake Twilio for tests in Twilio mode: an axum server on port 0 that answers the REST calls
//! `TwilioCarrier` and the account pages make (Calls create/update, Conferences list,
//! Participants create/update/delete, Accounts fetch, IncomingPhoneNumbers list/update), records
//! every request, and sends webhooks back the way Twilio does: signed with the client's auth
//! token over the callback URL it was given (our public base URL), delivered to our server's
//! real address (as a proxy in front of it would), one at a time and in Twilio's order.
//!
//! A dialled call goes initiated → ringing → in-progress, then the async AMD verdict (when AMD
//! was asked for), then the contact joins its conference. Adding the agent participant gives the
//! agent leg's initiated → ringing → in-progress and the conference start and agent join. Hold
//! and resume give participant-hold/-unhold; hanging up gives `completed` and conference-end.
//! Redirecting a call to TwiML that `<Play>`s (voicemail drop) takes the contact out of its
//! conference (participant-leave, conference-end), plays for [`FakeTwilio::message_ms`], then
//! gives `completed`; removing a participant gives its leg's `completed`.
//! What each number does when dialled is set with [`FakeTwilio::answer`]; a campaign test can
//! drive many calls through one fake, since every call keeps its own state.
//!
//! Recordings and transcription: starting a call recording (dual channel) records until the call
//! ends, then the recording status callback says `completed` with the recording's URL; its
//! `.wav` downloads a two-channel WAV; pausing and resuming are recorded; deleting it makes the
//! download 404. Starting a real-time transcription sends `transcription-started` and then
//! [`FakeTwilio::transcript`] lines as `transcription-content` callbacks, one per track.
//!
//! Conversational Intelligence (`/v2/Transcripts`, on the same base URL): creating a transcript of
//! a recording the account still keeps queues it; each fetch moves it on (`in-progress`, then
//! `completed`); its sentences are [`FakeTwilio::sentences`]; it can be deleted.

#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use palera_carrier::twilio::signature::compute_signature;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};

/// What the person (or machine) at a dialled number does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Human,
    Machine,
    Busy,
    NoAnswer,
}

/// One REST request as the fake received it.
#[derive(Debug, Clone)]
pub struct RestRequest {
    pub method: String,
    /// Path without the `/2010-04-01/Accounts/{sid}` prefix (`/Calls.json`).
    pub path: String,
    pub form: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
}

impl RestRequest {
    /// The values of a form parameter, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.form
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.all(name).into_iter().next()
    }
}

/// One webhook the fake delivered.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The URL Twilio signed (on the public base URL).
    pub url: String,
    pub params: Vec<(String, String)>,
    pub status: u16,
    pub body: String,
}

impl Delivery {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
struct FakeCall {
    sid: String,
    to: String,
    from: String,
    status_callback: Option<String>,
    amd_callback: Option<String>,
    conference_name: Option<String>,
    conference_callback: Option<String>,
    answered_at: Option<std::time::Instant>,
    ended: bool,
}

#[derive(Debug, Clone)]
pub struct FakeRecording {
    pub sid: String,
    pub call_sid: String,
    pub callback: Option<String>,
    pub started: std::time::Instant,
    /// Status values given by the API, in order (`paused`, `in-progress`, …).
    pub controls: Vec<String>,
    pub completed: bool,
    pub deleted: bool,
}

/// A Conversational Intelligence transcript on the fake account.
#[derive(Debug, Clone)]
pub struct FakeTranscript {
    pub sid: String,
    pub service_sid: String,
    /// The `Channel` JSON it was created with.
    pub channel: Value,
    pub fetches: u32,
    pub deleted: bool,
}

#[derive(Debug, Clone)]
struct FakeConference {
    sid: String,
    callback: Option<String>,
    sequence: u32,
    started: bool,
}

/// A phone number on the fake account.
#[derive(Debug, Clone)]
pub struct FakeNumber {
    pub sid: String,
    pub phone_number: String,
    pub voice_url: Option<String>,
    pub status_callback: Option<String>,
}

struct Shared {
    account_sid: String,
    auth_token: String,
    /// Also accepted as REST credentials: (API key SID, secret).
    api_key: Mutex<Option<(String, String)>>,
    public_url: String,
    deliver_to: Mutex<String>,
    http: reqwest::Client,
    counter: AtomicU64,
    requests: Mutex<Vec<RestRequest>>,
    deliveries: Mutex<Vec<Delivery>>,
    delivered: Notify,
    calls: Mutex<HashMap<String, FakeCall>>,
    conferences: Mutex<HashMap<String, FakeConference>>,
    numbers: Mutex<Vec<FakeNumber>>,
    answers: Mutex<HashMap<String, Outcome>>,
    /// How long a `<Play>` lasts.
    message: Mutex<Duration>,
    recordings: Mutex<HashMap<String, FakeRecording>>,
    /// What a transcribed call says: (track, text).
    transcript: Mutex<Vec<(String, String)>>,
    intelligence: Mutex<HashMap<String, FakeTranscript>>,
    /// What Intelligence transcripts say: (media channel, start seconds, text).
    sentences: Mutex<Vec<(u32, f64, String)>>,
    /// Intelligence transcripts end as `failed`.
    fail_transcripts: std::sync::atomic::AtomicBool,
    outbox: mpsc::UnboundedSender<(String, Vec<(String, String)>)>,
}

/// The running fake.
pub struct FakeTwilio {
    /// Give this to `CarrierHub::twilio_base_url`.
    pub base: String,
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for FakeTwilio {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl FakeTwilio {
    /// Starts a fake account `account_sid` whose webhooks are signed with `auth_token` over
    /// `public_url` and delivered to `deliver_to` (our server's local base URL).
    pub async fn start(
        account_sid: &str,
        auth_token: &str,
        public_url: &str,
        deliver_to: &str,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            account_sid: account_sid.into(),
            auth_token: auth_token.into(),
            api_key: Mutex::new(None),
            public_url: public_url.trim_end_matches('/').into(),
            deliver_to: Mutex::new(deliver_to.trim_end_matches('/').into()),
            http: reqwest::Client::new(),
            counter: AtomicU64::new(1),
            requests: Mutex::new(Vec::new()),
            deliveries: Mutex::new(Vec::new()),
            delivered: Notify::new(),
            calls: Mutex::new(HashMap::new()),
            conferences: Mutex::new(HashMap::new()),
            numbers: Mutex::new(Vec::new()),
            answers: Mutex::new(HashMap::new()),
            message: Mutex::new(Duration::from_millis(300)),
            recordings: Mutex::new(HashMap::new()),
            transcript: Mutex::new(vec![
                (
                    "outbound_track".into(),
                    "Hello, this is Ann calling about your renewal.".into(),
                ),
                (
                    "inbound_track".into(),
                    "Yes, I would like the premium plan.".into(),
                ),
            ]),
            intelligence: Mutex::new(HashMap::new()),
            sentences: Mutex::new(vec![
                (2, 0.4, "Good morning, Ann speaking.".into()),
                (1, 2.1, "Morning. I'd like to renew for two years.".into()),
            ]),
            fail_transcripts: Default::default(),
            outbox: tx,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let worker = tokio::spawn(deliver_loop(shared.clone(), rx));
        Self {
            base,
            shared,
            tasks: vec![server, worker],
        }
    }

    /// Accepts an API key as REST credentials too.
    pub fn accept_api_key(&self, sid: &str, secret: &str) {
        *self.shared.api_key.lock().unwrap() = Some((sid.into(), secret.into()));
    }

    /// What happens when `number` is dialled (default: a person answers).
    pub fn answer(&self, number: &str, outcome: Outcome) {
        self.shared
            .answers
            .lock()
            .unwrap()
            .insert(number.into(), outcome);
    }

    /// How long a played message lasts before the call hangs up (default 300 ms).
    pub fn message_ms(&self, ms: u64) {
        *self.shared.message.lock().unwrap() = Duration::from_millis(ms);
    }

    /// The recordings started so far.
    pub fn recordings(&self) -> Vec<FakeRecording> {
        self.shared
            .recordings
            .lock()
            .unwrap()
            .values()
            .cloned()
            .collect()
    }

    /// What transcribed calls say: (track, text) in order.
    pub fn transcript(&self, lines: &[(&str, &str)]) {
        *self.shared.transcript.lock().unwrap() = lines
            .iter()
            .map(|(t, x)| (t.to_string(), x.to_string()))
            .collect();
    }

    /// What Intelligence transcripts say: (media channel, start seconds, text), in order.
    pub fn sentences(&self, lines: &[(u32, f64, &str)]) {
        *self.shared.sentences.lock().unwrap() = lines
            .iter()
            .map(|(c, t, x)| (*c, *t, x.to_string()))
            .collect();
    }

    /// Every Intelligence transcript from now on ends as `failed`.
    pub fn fail_transcripts(&self) {
        self.shared.fail_transcripts.store(true, Ordering::Relaxed);
    }

    /// The Intelligence transcripts created so far.
    pub fn intelligence_transcripts(&self) -> Vec<FakeTranscript> {
        self.shared
            .intelligence
            .lock()
            .unwrap()
            .values()
            .cloned()
            .collect()
    }

    /// Puts a number on the account.
    pub fn add_number(&self, phone_number: &str, voice_url: Option<&str>) -> String {
        let sid = self.shared.sid("PN");
        self.shared.numbers.lock().unwrap().push(FakeNumber {
            sid: sid.clone(),
            phone_number: phone_number.into(),
            voice_url: voice_url.map(str::to_owned),
            status_callback: None,
        });
        sid
    }

    pub fn numbers(&self) -> Vec<FakeNumber> {
        self.shared.numbers.lock().unwrap().clone()
    }

    /// Every REST request so far.
    pub fn requests(&self) -> Vec<RestRequest> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// REST requests whose method and path match.
    pub fn requests_to(&self, method: &str, path_suffix: &str) -> Vec<RestRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path.ends_with(path_suffix))
            .collect()
    }

    /// Waits (up to 10 s) until at least `n` REST requests match; returns them all. For requests
    /// the server makes after it has answered the API call that caused them.
    pub async fn wait_for_requests(
        &self,
        method: &str,
        path_suffix: &str,
        n: usize,
    ) -> Vec<RestRequest> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.requests_to(method, path_suffix);
            if got.len() >= n {
                return got;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "{} of {n} {method} …{path_suffix} requests: {:#?}",
                    got.len(),
                    self.requests()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every webhook delivered so far, in order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.deliveries.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until at least `n` webhooks were delivered.
    pub async fn wait_for_deliveries(&self, n: usize) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let notified = self.shared.delivered.notified();
            let got = self.deliveries();
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "only {} of {n} webhooks were delivered: {got:#?}",
                    got.len()
                );
            }
        }
    }

    /// Delivers webhook number `index` again, exactly as before (a Twilio retry).
    pub async fn redeliver(&self, index: usize) -> Delivery {
        let d = self.deliveries()[index].clone();
        let before = self.deliveries().len();
        self.shared.outbox.send((d.url, d.params)).unwrap();
        self.wait_for_deliveries(before + 1).await[before].clone()
    }

    /// Sends a webhook of our choosing, signed like the others (e.g. a recording callback).
    pub fn send(&self, url: &str, params: &[(&str, &str)]) {
        let params = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.shared.outbox.send((url.into(), params)).unwrap();
    }

    /// A caller rings one of the account's numbers: Twilio asks `voice_url` what to do (our
    /// server queues the caller) and later reports the call's status to `status_url` (the
    /// number's status callback). Returns the inbound call's SID.
    pub fn ring_in(&self, from: &str, to: &str, voice_url: &str, status_url: &str) -> String {
        let call = FakeCall {
            sid: self.shared.sid("CA"),
            to: to.into(),
            from: from.into(),
            status_callback: Some(status_url.into()),
            amd_callback: None,
            conference_name: None,
            conference_callback: None,
            answered_at: Some(std::time::Instant::now()),
            ended: false,
        };
        let mut params = status_params(&call, "ringing", &[]);
        for (k, v) in params.iter_mut() {
            if k == "Direction" {
                *v = "inbound".into();
            }
        }
        params.push(("AccountSid".into(), self.shared.account_sid.clone()));
        self.shared.queue(Some(voice_url), params);
        let sid = call.sid.clone();
        self.shared.calls.lock().unwrap().insert(sid.clone(), call);
        sid
    }

    /// The caller of `sid` hangs up: the call's status callback hears `completed`, and the
    /// conference it is in (if any) sees the leave and the end.
    pub fn caller_hangs_up(&self, sid: &str) {
        let mut calls = self.shared.calls.lock().unwrap();
        let Some(call) = calls.get_mut(sid).filter(|c| !c.ended) else {
            return;
        };
        call.ended = true;
        let secs = call
            .answered_at
            .map_or(0, |t| t.elapsed().as_secs())
            .to_string();
        self.shared.queue(
            call.status_callback.as_deref(),
            status_params(call, "completed", &[("CallDuration", &secs)]),
        );
        if let Some(name) = call.conference_name.clone() {
            if let Some(conf) = self.shared.conferences.lock().unwrap().get_mut(&name) {
                conference_event(
                    &self.shared,
                    conf,
                    &name,
                    "participant-leave",
                    Some(sid),
                    None,
                );
                conference_event(&self.shared, conf, &name, "conference-end", None, None);
            }
        }
    }

    /// From now on webhooks go to `base` (our server, started again elsewhere).
    pub fn deliver_to(&self, base: &str) {
        *self.shared.deliver_to.lock().unwrap() = base.trim_end_matches('/').into();
    }

    /// The SID of the call dialled to `to`, once dialled.
    pub fn call_to(&self, to: &str) -> Option<String> {
        self.shared
            .calls
            .lock()
            .unwrap()
            .values()
            .find(|c| c.to == to)
            .map(|c| c.sid.clone())
    }
}

impl Shared {
    fn sid(&self, prefix: &str) -> String {
        format!(
            "{prefix}{:032x}",
            self.counter.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn queue(&self, url: Option<&str>, params: Vec<(String, String)>) {
        if let Some(url) = url {
            let _ = self.outbox.send((url.to_owned(), params));
        }
    }

    fn authorised(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
        else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(value) else {
            return false;
        };
        let text = String::from_utf8_lossy(&decoded).to_string();
        let Some((user, pass)) = text.split_once(':') else {
            return false;
        };
        if user == self.account_sid && pass == self.auth_token {
            return true;
        }
        matches!(&*self.api_key.lock().unwrap(), Some((sid, secret)) if sid == user && secret == pass)
    }
}

async fn deliver_loop(
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<(String, Vec<(String, String)>)>,
) {
    while let Some((url, params)) = rx.recv().await {
        let signature = compute_signature(&shared.auth_token, &url, &params);
        let local = {
            let base = shared.deliver_to.lock().unwrap().clone();
            format!(
                "{base}{}",
                url.strip_prefix(&shared.public_url).unwrap_or(&url)
            )
        };
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter())
            .finish();
        let resp = shared
            .http
            .post(&local)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(body)
            .send()
            .await;
        let (status, text) = match resp {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(e) => (0, e.to_string()),
        };
        shared.deliveries.lock().unwrap().push(Delivery {
            url,
            params,
            status,
            body: text,
        });
        shared.delivered.notify_waiters();
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn twilio_error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"code": code, "message": message, "status": status.as_u16()})),
    )
        .into_response()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let prefix = format!("/2010-04-01/Accounts/{}", shared.account_sid);
    let full = uri.path().to_owned();
    if !shared.authorised(&headers) {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    if let Some(rest) = full.strip_prefix("/v2/Transcripts") {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
        let req = RestRequest {
            method: method.to_string(),
            path: full.clone(),
            form,
            query: Vec::new(),
        };
        shared.requests.lock().unwrap().push(req.clone());
        return intelligence(&shared, rest, &req);
    }
    let path = if full == format!("{prefix}.json") {
        "".to_owned()
    } else if let Some(rest) = full.strip_prefix(&prefix) {
        rest.to_owned()
    } else {
        return twilio_error(
            StatusCode::NOT_FOUND,
            20404,
            "The requested resource was not found",
        );
    };
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let req = RestRequest {
        method: method.to_string(),
        path: path.clone(),
        form,
        query,
    };
    shared.requests.lock().unwrap().push(req.clone());
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", [""]) => axum::Json(json!({
            "sid": shared.account_sid, "friendly_name": "Fake account", "status": "active"
        }))
        .into_response(),
        ("POST", ["Calls.json"]) => create_call(&shared, &req),
        ("POST", ["Calls", sid]) => update_call(&shared, sid.trim_end_matches(".json"), &req),
        ("GET", ["Calls", sid]) => fetch_call(&shared, sid.trim_end_matches(".json")),
        ("GET", ["Conferences.json"]) => list_conferences(&shared, &req),
        ("POST", ["Conferences", conf, "Participants.json"]) => {
            add_participant(&shared, conf, &req)
        }
        ("POST", ["Conferences", conf, "Participants", who]) => {
            update_participant(&shared, conf, who.trim_end_matches(".json"), &req)
        }
        ("DELETE", ["Conferences", _, "Participants", who]) => {
            remove_participant(&shared, who.trim_end_matches(".json"))
        }
        ("POST", ["Calls", sid, "Recordings.json"]) => start_recording(&shared, sid, &req),
        ("POST", ["Calls", _, "Recordings", re]) => {
            control_recording(&shared, re.trim_end_matches(".json"), &req)
        }
        ("POST", ["Calls", sid, "Transcriptions.json"]) => start_transcription(&shared, sid, &req),
        ("GET", ["Recordings", file]) if file.ends_with(".wav") => {
            download_recording(&shared, file.trim_end_matches(".wav"), &req)
        }
        ("DELETE", ["Recordings", re]) => delete_recording(&shared, re.trim_end_matches(".json")),
        ("GET", ["IncomingPhoneNumbers.json"]) => list_numbers(&shared),
        ("POST", ["IncomingPhoneNumbers", sid]) => {
            update_number(&shared, sid.trim_end_matches(".json"), &req)
        }
        _ => twilio_error(
            StatusCode::NOT_FOUND,
            20404,
            "The requested resource was not found",
        ),
    }
}

/// `<Conference … statusCallback="URL" …>NAME</Conference>` from the call's TwiML.
fn conference_of(twiml: &str) -> (Option<String>, Option<String>) {
    let Some(start) = twiml.find("<Conference") else {
        return (None, None);
    };
    let rest = &twiml[start..];
    let tag_end = rest.find('>').unwrap_or(rest.len());
    let tag = &rest[..tag_end];
    let callback = tag.find("statusCallback=\"").map(|i| {
        let v = &tag[i + "statusCallback=\"".len()..];
        v[..v.find('"').unwrap_or(v.len())].replace("&amp;", "&")
    });
    let name = rest[tag_end + 1..]
        .split('<')
        .next()
        .map(str::to_owned)
        .filter(|s| !s.is_empty());
    (name, callback)
}

fn call_json(c: &FakeCall, status: &str) -> Response {
    (
        StatusCode::CREATED,
        axum::Json(json!({"sid": c.sid, "status": status, "to": c.to, "from": c.from, "direction": "outbound-api"})),
    )
        .into_response()
}

/// `GET /Calls/{sid}.json`: where the call stands.
fn fetch_call(shared: &Arc<Shared>, sid: &str) -> Response {
    let calls = shared.calls.lock().unwrap();
    let Some(c) = calls.get(sid) else {
        return twilio_error(
            StatusCode::NOT_FOUND,
            20404,
            "The requested resource was not found",
        );
    };
    let status = match (c.ended, c.answered_at) {
        (true, _) => "completed",
        (false, Some(_)) => "in-progress",
        (false, None) => "ringing",
    };
    let mut r = call_json(c, status);
    *r.status_mut() = StatusCode::OK;
    r
}

fn status_params(c: &FakeCall, status: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut p = pairs(&[
        ("CallSid", &c.sid),
        ("CallStatus", status),
        ("To", &c.to),
        ("From", &c.from),
        ("Direction", "outbound-api"),
    ]);
    p.extend(pairs(extra));
    p
}

fn create_call(shared: &Arc<Shared>, req: &RestRequest) -> Response {
    let (conference_name, conference_callback) = conference_of(req.get("Twiml").unwrap_or(""));
    let call = FakeCall {
        sid: shared.sid("CA"),
        to: req.get("To").unwrap_or_default().into(),
        from: req.get("From").unwrap_or_default().into(),
        status_callback: req.get("StatusCallback").map(str::to_owned),
        amd_callback: req.get("AsyncAmdStatusCallback").map(str::to_owned),
        conference_name,
        conference_callback,
        answered_at: None,
        ended: false,
    };
    let answer = shared
        .answers
        .lock()
        .unwrap()
        .get(&call.to)
        .copied()
        .unwrap_or(Outcome::Human);
    let status_cb = call.status_callback.clone();
    let cb = status_cb.as_deref();
    shared.queue(
        cb,
        status_params(&call, "initiated", &[("SequenceNumber", "0")]),
    );
    shared.queue(
        cb,
        status_params(&call, "ringing", &[("SequenceNumber", "1")]),
    );
    let mut call = call;
    match answer {
        Outcome::Busy | Outcome::NoAnswer => {
            let s = if answer == Outcome::Busy {
                "busy"
            } else {
                "no-answer"
            };
            shared.queue(
                cb,
                status_params(&call, s, &[("SequenceNumber", "2"), ("CallDuration", "0")]),
            );
            call.ended = true;
        }
        Outcome::Human | Outcome::Machine => {
            shared.queue(
                cb,
                status_params(&call, "in-progress", &[("SequenceNumber", "2")]),
            );
            call.answered_at = Some(std::time::Instant::now());
            let verdict = if answer == Outcome::Human {
                "human"
            } else {
                "machine_end_beep"
            };
            shared.queue(
                call.amd_callback.as_deref(),
                pairs(&[
                    ("CallSid", &call.sid),
                    ("AnsweredBy", verdict),
                    ("MachineDetectionDuration", "2100"),
                ]),
            );
            if let Some(name) = call.conference_name.clone() {
                let mut confs = shared.conferences.lock().unwrap();
                let conf = confs.entry(name.clone()).or_insert_with(|| FakeConference {
                    sid: shared.sid("CF"),
                    callback: call.conference_callback.clone(),
                    sequence: 0,
                    started: false,
                });
                conference_event(
                    shared,
                    conf,
                    &name,
                    "participant-join",
                    Some(&call.sid),
                    None,
                );
            }
        }
    }
    let resp = call_json(&call, "queued");
    shared.calls.lock().unwrap().insert(call.sid.clone(), call);
    resp
}

fn conference_event(
    shared: &Shared,
    conf: &mut FakeConference,
    name: &str,
    event: &str,
    call_sid: Option<&str>,
    label: Option<&str>,
) {
    conf.sequence += 1;
    let seq = conf.sequence.to_string();
    let mut p = pairs(&[
        ("ConferenceSid", &conf.sid),
        ("FriendlyName", name),
        ("StatusCallbackEvent", event),
        ("SequenceNumber", &seq),
    ]);
    if let Some(sid) = call_sid {
        p.push(("CallSid".into(), sid.into()));
    }
    if let Some(label) = label {
        p.push(("ParticipantLabel".into(), label.into()));
    }
    shared.queue(conf.callback.as_deref(), p);
}

fn update_call(shared: &Arc<Shared>, sid: &str, req: &RestRequest) -> Response {
    let mut calls = shared.calls.lock().unwrap();
    let Some(call) = calls.get_mut(sid) else {
        return twilio_error(
            StatusCode::NOT_FOUND,
            20404,
            "The requested resource was not found",
        );
    };
    if matches!(req.get("Status"), Some("completed") | Some("canceled")) && !call.ended {
        call.ended = true;
        let secs = call
            .answered_at
            .map_or(0, |t| t.elapsed().as_secs())
            .to_string();
        shared.queue(
            call.status_callback.as_deref(),
            status_params(
                call,
                "completed",
                &[("SequenceNumber", "3"), ("CallDuration", &secs)],
            ),
        );
        if let Some(name) = call.conference_name.clone() {
            if let Some(conf) = shared.conferences.lock().unwrap().get_mut(&name) {
                conference_event(shared, conf, &name, "participant-leave", Some(sid), None);
                conference_event(shared, conf, &name, "conference-end", None, None);
            }
        }
        finish_recordings(shared, sid);
    }
    // A redirect into a conference (an inbound caller taken out of the queue): it joins.
    let (joins, joins_callback) = conference_of(req.get("Twiml").unwrap_or(""));
    if let (Some(name), None, false) = (joins, &call.conference_name, call.ended) {
        call.conference_name = Some(name.clone());
        call.conference_callback = joins_callback.clone();
        let mut confs = shared.conferences.lock().unwrap();
        let conf = confs.entry(name.clone()).or_insert_with(|| FakeConference {
            sid: shared.sid("CF"),
            callback: joins_callback,
            sequence: 0,
            started: false,
        });
        conference_event(shared, conf, &name, "participant-join", Some(sid), None);
    }
    let plays = req.get("Twiml").is_some_and(|t| t.contains("<Play"));
    if plays && !call.ended {
        play_then_hang_up(shared, call, sid);
    }
    let c = call.clone();
    let mut r = call_json(&c, if c.ended { "completed" } else { "in-progress" });
    *r.status_mut() = StatusCode::OK;
    r
}

/// The call leaves its conference for the message, hears it, then `<Hangup/>` ends it.
fn play_then_hang_up(shared: &Arc<Shared>, call: &mut FakeCall, sid: &str) {
    call.ended = true;
    if let Some(name) = call.conference_name.clone() {
        if let Some(conf) = shared.conferences.lock().unwrap().get_mut(&name) {
            conference_event(shared, conf, &name, "participant-leave", Some(sid), None);
            conference_event(shared, conf, &name, "conference-end", None, None);
        }
    }
    let secs = call
        .answered_at
        .map_or(0, |t| t.elapsed().as_secs())
        .to_string();
    let params = status_params(
        call,
        "completed",
        &[("SequenceNumber", "3"), ("CallDuration", &secs)],
    );
    let callback = call.status_callback.clone();
    let playing = *shared.message.lock().unwrap();
    let shared = shared.clone();
    tokio::spawn(async move {
        tokio::time::sleep(playing).await;
        shared.queue(callback.as_deref(), params);
    });
}

/// A participant removed from its conference: its leg ends.
fn remove_participant(shared: &Arc<Shared>, who: &str) -> Response {
    let mut calls = shared.calls.lock().unwrap();
    if let Some(leg) = calls.get_mut(who).filter(|c| !c.ended) {
        leg.ended = true;
        let params = status_params(leg, "completed", &[("SequenceNumber", "3")]);
        shared.queue(leg.status_callback.as_deref(), params);
    }
    StatusCode::NO_CONTENT.into_response()
}

fn list_conferences(shared: &Arc<Shared>, req: &RestRequest) -> Response {
    let name = req
        .query
        .iter()
        .find(|(k, _)| k == "FriendlyName")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let confs = shared.conferences.lock().unwrap();
    let list: Vec<Value> = confs
        .get(&name)
        .filter(|c| c.started)
        .map(|c| json!({"sid": c.sid, "friendly_name": name, "status": "in-progress"}))
        .into_iter()
        .collect();
    axum::Json(json!({"conferences": list})).into_response()
}

fn add_participant(shared: &Arc<Shared>, conf_name: &str, req: &RestRequest) -> Response {
    let agent = FakeCall {
        sid: shared.sid("CA"),
        to: req.get("To").unwrap_or_default().into(),
        from: req.get("From").unwrap_or_default().into(),
        status_callback: req.get("StatusCallback").map(str::to_owned),
        amd_callback: None,
        conference_name: Some(conf_name.into()),
        conference_callback: None,
        answered_at: Some(std::time::Instant::now()),
        ended: false,
    };
    let label = req.get("Label").map(str::to_owned);
    let cb = agent.status_callback.as_deref();
    for (i, s) in ["initiated", "ringing", "in-progress"].iter().enumerate() {
        let n = i.to_string();
        shared.queue(cb, status_params(&agent, s, &[("SequenceNumber", &n)]));
    }
    let conf_sid = {
        let mut confs = shared.conferences.lock().unwrap();
        let conf = confs
            .entry(conf_name.into())
            .or_insert_with(|| FakeConference {
                sid: shared.sid("CF"),
                callback: req.get("ConferenceStatusCallback").map(str::to_owned),
                sequence: 0,
                started: false,
            });
        if !conf.started {
            conf.started = true;
            conference_event(shared, conf, conf_name, "conference-start", None, None);
        }
        conference_event(
            shared,
            conf,
            conf_name,
            "participant-join",
            Some(&agent.sid),
            label.as_deref(),
        );
        conf.sid.clone()
    };
    let body = json!({"call_sid": agent.sid, "conference_sid": conf_sid, "label": label, "status": "connected", "hold": false});
    shared
        .calls
        .lock()
        .unwrap()
        .insert(agent.sid.clone(), agent);
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

fn update_participant(
    shared: &Arc<Shared>,
    conf_sid: &str,
    who: &str,
    req: &RestRequest,
) -> Response {
    let mut confs = shared.conferences.lock().unwrap();
    let Some((name, conf)) = confs.iter_mut().find(|(_, c)| c.sid == conf_sid) else {
        return twilio_error(
            StatusCode::NOT_FOUND,
            20404,
            "The requested resource was not found",
        );
    };
    let name = name.clone();
    let hold = req.get("Hold");
    match hold {
        Some("true") => conference_event(shared, conf, &name, "participant-hold", Some(who), None),
        Some("false") => {
            conference_event(shared, conf, &name, "participant-unhold", Some(who), None)
        }
        _ => {}
    }
    axum::Json(json!({"call_sid": who, "conference_sid": conf_sid, "hold": hold == Some("true")}))
        .into_response()
}

fn number_json(n: &FakeNumber) -> Value {
    json!({"sid": n.sid, "phone_number": n.phone_number, "friendly_name": n.phone_number,
           "voice_url": n.voice_url, "voice_method": "POST", "status_callback": n.status_callback})
}

fn list_numbers(shared: &Arc<Shared>) -> Response {
    let list: Vec<Value> = shared
        .numbers
        .lock()
        .unwrap()
        .iter()
        .map(number_json)
        .collect();
    axum::Json(json!({"incoming_phone_numbers": list, "next_page_uri": null})).into_response()
}

fn update_number(shared: &Arc<Shared>, sid: &str, req: &RestRequest) -> Response {
    let mut numbers = shared.numbers.lock().unwrap();
    let Some(n) = numbers.iter_mut().find(|n| n.sid == sid) else {
        return twilio_error(
            StatusCode::NOT_FOUND,
            20404,
            "The requested resource was not found",
        );
    };
    if let Some(v) = req.get("VoiceUrl") {
        n.voice_url = Some(v.into());
    }
    if let Some(v) = req.get("StatusCallback") {
        n.status_callback = Some(v.into());
    }
    axum::Json(number_json(n)).into_response()
}

fn not_found() -> Response {
    twilio_error(
        StatusCode::NOT_FOUND,
        20404,
        "The requested resource was not found",
    )
}

fn recording_json(r: &FakeRecording, status: &str) -> Response {
    axum::Json(json!({"sid": r.sid, "call_sid": r.call_sid, "status": status, "channels": 2, "duration": "-1"}))
        .into_response()
}

/// `POST /Calls/{sid}/Recordings.json`: records the live call until it ends.
fn start_recording(shared: &Arc<Shared>, call_sid: &str, req: &RestRequest) -> Response {
    let live = shared
        .calls
        .lock()
        .unwrap()
        .get(call_sid)
        .is_some_and(|c| !c.ended && c.answered_at.is_some());
    if !live {
        return twilio_error(StatusCode::BAD_REQUEST, 21220, "Call is not in-progress");
    }
    let rec = FakeRecording {
        sid: shared.sid("RE"),
        call_sid: call_sid.into(),
        callback: req.get("RecordingStatusCallback").map(str::to_owned),
        started: std::time::Instant::now(),
        controls: Vec::new(),
        completed: false,
        deleted: false,
    };
    let mut r = recording_json(&rec, "in-progress");
    *r.status_mut() = StatusCode::CREATED;
    shared
        .recordings
        .lock()
        .unwrap()
        .insert(rec.sid.clone(), rec);
    r
}

fn control_recording(shared: &Arc<Shared>, re: &str, req: &RestRequest) -> Response {
    let mut recs = shared.recordings.lock().unwrap();
    let Some(rec) = recs
        .values_mut()
        .find(|r| r.sid == re || re == "Twilio.CURRENT")
    else {
        return not_found();
    };
    let status = req.get("Status").unwrap_or_default().to_string();
    rec.controls.push(status.clone());
    recording_json(rec, &status)
}

/// The call ended: its recordings are complete and say so to their callbacks.
fn finish_recordings(shared: &Arc<Shared>, call_sid: &str) {
    let account = shared.account_sid.clone();
    for rec in shared.recordings.lock().unwrap().values_mut() {
        if rec.call_sid != call_sid || rec.completed {
            continue;
        }
        rec.completed = true;
        let url = format!(
            "https://api.twilio.com/2010-04-01/Accounts/{account}/Recordings/{}",
            rec.sid
        );
        let secs = rec.started.elapsed().as_secs().max(1).to_string();
        shared.queue(
            rec.callback.as_deref(),
            pairs(&[
                ("AccountSid", &account),
                ("CallSid", call_sid),
                ("RecordingSid", &rec.sid),
                ("RecordingUrl", &url),
                ("RecordingStatus", "completed"),
                ("RecordingDuration", &secs),
                ("RecordingChannels", "2"),
                ("RecordingSource", "StartCallRecordingAPI"),
            ]),
        );
    }
}

/// A short two-channel 8 kHz WAV: a tone on the left, another on the right.
fn fake_wav() -> Vec<u8> {
    let frames: u32 = 8_000;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + frames * 4).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    for v in [1u16, 2] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [8_000u32, 32_000] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [4u16, 16] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(frames * 4).to_le_bytes());
    for i in 0..frames {
        let t = f64::from(i) / 8_000.0;
        let l = ((t * 440.0 * std::f64::consts::TAU).sin() * 6_000.0) as i16;
        let r = ((t * 660.0 * std::f64::consts::TAU).sin() * 6_000.0) as i16;
        out.extend_from_slice(&l.to_le_bytes());
        out.extend_from_slice(&r.to_le_bytes());
    }
    out
}

fn download_recording(shared: &Arc<Shared>, re: &str, req: &RestRequest) -> Response {
    let recs = shared.recordings.lock().unwrap();
    let Some(rec) = recs.get(re).filter(|r| r.completed && !r.deleted) else {
        return not_found();
    };
    let dual = req
        .query
        .iter()
        .any(|(k, v)| k == "RequestedChannels" && v == "2");
    assert!(
        dual,
        "recordings are downloaded with both channels: {req:?}"
    );
    let _ = rec;
    ([("content-type", "audio/x-wav")], fake_wav()).into_response()
}

fn delete_recording(shared: &Arc<Shared>, re: &str) -> Response {
    match shared.recordings.lock().unwrap().get_mut(re) {
        Some(r) if !r.deleted => {
            r.deleted = true;
            StatusCode::NO_CONTENT.into_response()
        }
        _ => not_found(),
    }
}

/// `POST /Calls/{sid}/Transcriptions.json`: started, then the transcript's lines, final.
fn start_transcription(shared: &Arc<Shared>, call_sid: &str, req: &RestRequest) -> Response {
    let Some(callback) = req.get("StatusCallbackUrl").map(str::to_owned) else {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21201,
            "StatusCallbackUrl is required",
        );
    };
    let gt = shared.sid("GT");
    let base = pairs(&[
        ("AccountSid", &shared.account_sid),
        ("CallSid", call_sid),
        ("TranscriptionSid", &gt),
    ]);
    let mut started = base.clone();
    started.push(("TranscriptionEvent".into(), "transcription-started".into()));
    shared.queue(Some(&callback), started);
    for (i, (track, text)) in shared.transcript.lock().unwrap().iter().enumerate() {
        let mut p = base.clone();
        let data = json!({"transcript": text, "confidence": 0.95}).to_string();
        p.extend(pairs(&[
            ("TranscriptionEvent", "transcription-content"),
            ("Track", track),
            ("TranscriptionData", &data),
            ("Final", "true"),
            ("SequenceId", &(i + 1).to_string()),
        ]));
        shared.queue(Some(&callback), p);
    }
    (
        StatusCode::CREATED,
        axum::Json(json!({"sid": gt, "call_sid": call_sid, "status": "in-progress", "name": req.get("Name")})),
    )
        .into_response()
}

/// `/v2/Transcripts…` of Conversational Intelligence (`rest` is the path after it).
fn intelligence(shared: &Arc<Shared>, rest: &str, req: &RestRequest) -> Response {
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    match (req.method.as_str(), segments.as_slice()) {
        ("POST", [""]) => create_transcript(shared, req),
        ("GET", [gt]) => {
            let mut all = shared.intelligence.lock().unwrap();
            match all.get_mut(*gt) {
                Some(t) if !t.deleted => {
                    t.fetches += 1;
                    let status = match t.fetches {
                        _ if shared.fail_transcripts.load(Ordering::Relaxed) => "failed",
                        1 => "in-progress",
                        _ => "completed",
                    };
                    axum::Json(
                        json!({"sid": t.sid, "service_sid": t.service_sid, "status": status}),
                    )
                    .into_response()
                }
                _ => not_found(),
            }
        }
        ("GET", [gt, "Sentences"]) => {
            let sentences: Vec<Value> = shared
                .sentences
                .lock()
                .unwrap()
                .iter()
                .enumerate()
                .map(|(i, (channel, start, text))| {
                    json!({"media_channel": channel, "sentence_index": i,
                           "start_time": format!("{start:.2}"), "end_time": format!("{:.2}", start + 1.5),
                           "transcript": text, "confidence": "0.93"})
                })
                .collect();
            match shared.intelligence.lock().unwrap().get(*gt) {
                Some(t) if !t.deleted => axum::Json(
                    json!({"sentences": sentences, "meta": {"key": "sentences", "next_page_url": null}}),
                )
                .into_response(),
                _ => not_found(),
            }
        }
        ("DELETE", [gt]) => match shared.intelligence.lock().unwrap().get_mut(*gt) {
            Some(t) if !t.deleted => {
                t.deleted = true;
                StatusCode::NO_CONTENT.into_response()
            }
            _ => not_found(),
        },
        _ => not_found(),
    }
}

/// `POST /v2/Transcripts`: the source must be a recording the account still keeps.
fn create_transcript(shared: &Arc<Shared>, req: &RestRequest) -> Response {
    let (Some(service), Some(channel)) = (req.get("ServiceSid"), req.get("Channel")) else {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            20001,
            "ServiceSid and Channel are required",
        );
    };
    let channel: Value = serde_json::from_str(channel).unwrap_or(Value::Null);
    let source = channel["media_properties"]["source_sid"]
        .as_str()
        .unwrap_or("");
    let kept = matches!(shared.recordings.lock().unwrap().get(source), Some(r) if r.completed && !r.deleted);
    if !kept {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            20001,
            "the media source was not found",
        );
    }
    let sid = shared.sid("GT");
    let t = FakeTranscript {
        sid: sid.clone(),
        service_sid: service.into(),
        channel,
        fetches: 0,
        deleted: false,
    };
    shared.intelligence.lock().unwrap().insert(sid.clone(), t);
    (
        StatusCode::CREATED,
        axum::Json(json!({"sid": sid, "service_sid": service, "status": "queued"})),
    )
        .into_response()
}
