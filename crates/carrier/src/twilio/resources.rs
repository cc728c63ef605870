//! Typed requests and responses of the Twilio REST resources palera-voice uses (api v2010):
//! Calls, Conferences and Participants, Recordings, real-time Transcriptions, Accounts and
//! IncomingPhoneNumbers; and Conversational Intelligence v2 Transcripts (post-call transcripts).
//! Owns the wire format of requests — PascalCase form parameters, lowercase booleans, array
//! parameters as repeated keys — so callers never spell a parameter name.

use super::twiml::{ConferenceEvent, Method};
use crate::CallSid;
use serde::Deserialize;

/// An `application/x-www-form-urlencoded` body, in insertion order, repeated keys allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    pairs: Vec<(&'static str, String)>,
}

impl Form {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.pairs.push((name, value.into()));
        self
    }

    pub fn opt<V: ToString>(self, name: &'static str, value: Option<V>) -> Self {
        match value {
            Some(v) => self.set(name, v.to_string()),
            None => self,
        }
    }

    /// Twilio reads booleans as lowercase `true` / `false`.
    pub fn flag(self, name: &'static str, value: Option<bool>) -> Self {
        self.opt(name, value)
    }

    /// Array parameters go on the wire as one key per value (`K=a&K=b`), as Twilio's SDKs send.
    pub fn repeat<V: AsRef<str>>(mut self, name: &'static str, values: &[V]) -> Self {
        for v in values {
            self.pairs.push((name, v.as_ref().to_owned()));
        }
        self
    }

    pub fn pairs(&self) -> &[(&'static str, String)] {
        &self.pairs
    }

    pub fn encode(&self) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.pairs {
            s.append_pair(k, v);
        }
        s.finish()
    }
}

/// Call progress events a status callback subscribes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEvent {
    Initiated,
    Ringing,
    Answered,
    Completed,
}

impl AsRef<str> for CallEvent {
    fn as_ref(&self) -> &str {
        match self {
            Self::Initiated => "initiated",
            Self::Ringing => "ringing",
            Self::Answered => "answered",
            Self::Completed => "completed",
        }
    }
}

/// Every call progress event, which the engine needs to follow a dial.
pub const ALL_CALL_EVENTS: [CallEvent; 4] = [
    CallEvent::Initiated,
    CallEvent::Ringing,
    CallEvent::Answered,
    CallEvent::Completed,
];

/// What Twilio executes once a call is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instructions {
    /// TwiML fetched from our server.
    Url { url: String, method: Method },
    /// Inline TwiML (at most 4000 characters).
    Twiml(String),
}

impl Instructions {
    fn write(&self, form: Form) -> Form {
        match self {
            Self::Url { url, method } => form.set("Url", url).set("Method", method.as_str()),
            Self::Twiml(xml) => form.set("Twiml", xml),
        }
    }
}

/// Answering machine detection settings of a dial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineDetection {
    /// `DetectMessageEnd` waits for the greeting's end, so a message lands after the beep.
    pub detect_message_end: bool,
    /// Where the asynchronous result is posted; `None` means synchronous AMD (the call waits).
    pub async_callback: Option<String>,
    pub timeout_seconds: Option<u32>,
}

/// Recording channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channels {
    Mono,
    Dual,
}

impl Channels {
    fn as_str(self) -> &'static str {
        match self {
            Self::Mono => "mono",
            Self::Dual => "dual",
        }
    }
}

/// Recording progress events a recording status callback subscribes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingEvent {
    InProgress,
    Completed,
    Absent,
}

impl AsRef<str> for RecordingEvent {
    fn as_ref(&self) -> &str {
        match self {
            Self::InProgress => "in-progress",
            Self::Completed => "completed",
            Self::Absent => "absent",
        }
    }
}

/// Where and how a recording reports itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingOptions {
    pub channels: Channels,
    pub status_callback: Option<String>,
    pub events: Vec<RecordingEvent>,
}

/// `CreateCall`: `POST /Accounts/{AC}/Calls.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateCall {
    /// E.164 number, `client:identity` or `sip:…`.
    pub to: String,
    pub from: String,
    pub instructions: Instructions,
    pub status_callback: Option<String>,
    pub status_callback_events: Vec<CallEvent>,
    /// Seconds to ring (Twilio adds a 5 s buffer).
    pub timeout_seconds: Option<u32>,
    pub machine_detection: Option<MachineDetection>,
    pub record: Option<RecordingOptions>,
    pub time_limit_seconds: Option<u32>,
}

impl CreateCall {
    pub fn new(to: impl Into<String>, from: impl Into<String>, instructions: Instructions) -> Self {
        Self {
            to: to.into(),
            from: from.into(),
            instructions,
            status_callback: None,
            status_callback_events: Vec::new(),
            timeout_seconds: None,
            machine_detection: None,
            record: None,
            time_limit_seconds: None,
        }
    }

    pub fn form(&self) -> Form {
        let mut f = Form::new().set("To", &self.to).set("From", &self.from);
        f = self.instructions.write(f);
        if let Some(url) = &self.status_callback {
            f = f
                .set("StatusCallback", url)
                .set("StatusCallbackMethod", "POST")
                .repeat("StatusCallbackEvent", &self.status_callback_events);
        }
        f = f
            .opt("Timeout", self.timeout_seconds)
            .opt("TimeLimit", self.time_limit_seconds);
        if let Some(amd) = &self.machine_detection {
            f = amd_form(f, amd);
        }
        match &self.record {
            Some(rec) => recording_form(f.set("Record", "true"), rec),
            None => f,
        }
    }
}

fn amd_form(f: Form, amd: &MachineDetection) -> Form {
    let mode = if amd.detect_message_end {
        "DetectMessageEnd"
    } else {
        "Enable"
    };
    let f = f
        .set("MachineDetection", mode)
        .opt("MachineDetectionTimeout", amd.timeout_seconds);
    match &amd.async_callback {
        Some(url) => f
            .set("AsyncAmd", "true")
            .set("AsyncAmdStatusCallback", url)
            .set("AsyncAmdStatusCallbackMethod", "POST"),
        None => f,
    }
}

fn recording_form(f: Form, rec: &RecordingOptions) -> Form {
    let f = f.set("RecordingChannels", rec.channels.as_str());
    match &rec.status_callback {
        Some(url) => f
            .set("RecordingStatusCallback", url)
            .set("RecordingStatusCallbackMethod", "POST")
            .repeat("RecordingStatusCallbackEvent", &rec.events),
        None => f,
    }
}

/// `UpdateCall`: `POST /Accounts/{AC}/Calls/{CA}.json` — new instructions or an end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateCall {
    /// Replace what the call is doing (leaves any conference the call is in).
    Redirect(Instructions),
    /// `Status=completed`: hang up an in-progress call.
    HangUp,
    /// `Status=canceled`: stop a call that is still queued or ringing.
    Cancel,
}

impl UpdateCall {
    pub fn form(&self) -> Form {
        match self {
            Self::Redirect(i) => i.write(Form::new()),
            Self::HangUp => Form::new().set("Status", "completed"),
            Self::Cancel => Form::new().set("Status", "canceled"),
        }
    }

    /// Setting the same instructions or end twice leaves the call as once: safe to retry.
    pub fn is_idempotent(&self) -> bool {
        matches!(self, Self::HangUp | Self::Cancel)
    }
}

/// `CreateParticipant`: dials a new leg into a conference (created on first use by name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateParticipant {
    pub from: String,
    /// E.164 number or `client:identity`.
    pub to: String,
    pub label: Option<String>,
    pub status_callback: Option<String>,
    pub status_callback_events: Vec<CallEvent>,
    pub timeout_seconds: Option<u32>,
    pub start_conference_on_enter: Option<bool>,
    pub end_conference_on_exit: Option<bool>,
    pub beep: Option<bool>,
    pub conference_status_callback: Option<String>,
    pub conference_status_callback_events: Vec<ConferenceEvent>,
}

impl CreateParticipant {
    pub fn new(from: impl Into<String>, to: impl Into<String>) -> Self {
        Self {
            from: from.into(),
            to: to.into(),
            label: None,
            status_callback: None,
            status_callback_events: Vec::new(),
            timeout_seconds: None,
            start_conference_on_enter: None,
            end_conference_on_exit: None,
            beep: None,
            conference_status_callback: None,
            conference_status_callback_events: Vec::new(),
        }
    }

    pub fn form(&self) -> Form {
        let mut f = Form::new()
            .set("From", &self.from)
            .set("To", &self.to)
            .opt("Label", self.label.as_ref());
        if let Some(url) = &self.status_callback {
            f = f
                .set("StatusCallback", url)
                .set("StatusCallbackMethod", "POST")
                .repeat("StatusCallbackEvent", &self.status_callback_events);
        }
        f = f
            .opt("Timeout", self.timeout_seconds)
            .flag("StartConferenceOnEnter", self.start_conference_on_enter)
            .flag("EndConferenceOnExit", self.end_conference_on_exit)
            .flag("Beep", self.beep);
        match &self.conference_status_callback {
            Some(url) => f
                .set("ConferenceStatusCallback", url)
                .set("ConferenceStatusCallbackMethod", "POST")
                .repeat(
                    "ConferenceStatusCallbackEvent",
                    &self.conference_status_callback_events,
                ),
            None => f,
        }
    }
}

/// `UpdateParticipant`: hold with music, or back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateParticipant {
    /// `Hold=true` with the audio (or TwiML) at `url` played to the held participant.
    Hold {
        url: String,
        method: Method,
    },
    Resume,
    Mute(bool),
}

impl UpdateParticipant {
    pub fn form(&self) -> Form {
        match self {
            Self::Hold { url, method } => Form::new()
                .set("Hold", "true")
                .set("HoldUrl", url)
                .set("HoldMethod", method.as_str()),
            Self::Resume => Form::new().set("Hold", "false"),
            Self::Mute(on) => Form::new().flag("Muted", Some(*on)),
        }
    }
}

/// `CreateCallRecording`: starts recording a call in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRecording(pub RecordingOptions);

impl CreateRecording {
    pub fn form(&self) -> Form {
        let o = &self.0;
        let f = Form::new().set("RecordingChannels", o.channels.as_str());
        match &o.status_callback {
            Some(url) => f
                .set("RecordingStatusCallback", url)
                .set("RecordingStatusCallbackMethod", "POST")
                .repeat("RecordingStatusCallbackEvent", &o.events),
            None => f,
        }
    }
}

/// The state to put a call recording in (`UpdateCallRecording`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingControl {
    Pause,
    Resume,
    Stop,
}

impl RecordingControl {
    pub fn form(self) -> Form {
        let status = match self {
            Self::Pause => "paused",
            Self::Resume => "in-progress",
            Self::Stop => "stopped",
        };
        let f = Form::new().set("Status", status);
        // While paused, leave silence rather than cutting it out, so channel timing stays true.
        match self {
            Self::Pause => f.set("PauseBehavior", "silence"),
            _ => f,
        }
    }
}

/// `CreateRealtimeTranscription`: live transcription of a call, events to `status_callback_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTranscription {
    pub name: String,
    pub status_callback_url: String,
    /// `inbound_track`, `outbound_track` or `both_tracks`.
    pub track: super::twiml::Track,
    pub inbound_track_label: Option<String>,
    pub outbound_track_label: Option<String>,
    pub partial_results: Option<bool>,
    pub language_code: Option<String>,
}

impl CreateTranscription {
    pub fn form(&self) -> Form {
        Form::new()
            .set("Name", &self.name)
            .set("Track", self.track.as_str())
            .set("StatusCallbackUrl", &self.status_callback_url)
            .set("StatusCallbackMethod", "POST")
            .opt("InboundTrackLabel", self.inbound_track_label.as_ref())
            .opt("OutboundTrackLabel", self.outbound_track_label.as_ref())
            .flag("PartialResults", self.partial_results)
            .opt("LanguageCode", self.language_code.as_ref())
    }
}

/// `CreateTranscript` (Conversational Intelligence v2): a post-call transcript of a recording
/// kept at Twilio, by the account's Intelligence service `service_sid` (`GA…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTranscript {
    pub service_sid: String,
    /// The recording (`RE…`) to transcribe.
    pub recording_sid: String,
    /// Our own key, echoed back (the call's id).
    pub customer_key: String,
    /// Who speaks on which channel of a dual-channel recording: (channel from 1, role).
    pub participants: Vec<(u32, &'static str)>,
}

impl CreateTranscript {
    /// The `Channel` parameter is a JSON document: the media's source and its participants.
    pub fn form(&self) -> Form {
        let participants: Vec<serde_json::Value> = self
            .participants
            .iter()
            .map(
                |(channel, role)| serde_json::json!({"channel_participant": channel, "role": role}),
            )
            .collect();
        let channel = serde_json::json!({
            "media_properties": {"source_sid": self.recording_sid},
            "participants": participants,
        });
        Form::new()
            .set("ServiceSid", &self.service_sid)
            .set("Channel", channel.to_string())
            .set("CustomerKey", &self.customer_key)
    }
}

/// An Intelligence transcript (the fields we read).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IntelligenceTranscript {
    pub sid: String,
    /// `queued`, `in-progress`, `completed`, `new`, `failed`, `canceled` or `error`.
    #[serde(default)]
    pub status: Option<String>,
}

/// One sentence of an Intelligence transcript. Times are offsets in seconds from the start of
/// the media; the spec types them as strings, and they may come as numbers or be absent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Sentence {
    #[serde(default)]
    pub media_channel: Option<u32>,
    #[serde(default)]
    pub sentence_index: Option<u32>,
    #[serde(default)]
    pub start_time: Option<serde_json::Value>,
    #[serde(default)]
    pub end_time: Option<serde_json::Value>,
    #[serde(default)]
    pub transcript: Option<String>,
}

/// Seconds as Twilio writes them (`"1.28"` or `1.28`) to whole milliseconds; absent is 0.
pub fn seconds_to_ms(v: Option<&serde_json::Value>) -> u64 {
    let secs = match v {
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    secs.filter(|s| s.is_finite() && *s > 0.0)
        .map_or(0, |s| (s * 1000.0).round() as u64)
}

/// A page of sentences.
#[derive(Debug, Clone, Deserialize)]
pub struct SentencePage {
    #[serde(default)]
    pub sentences: Vec<Sentence>,
    #[serde(default)]
    pub meta: Option<PageMeta>,
}

/// The paging part of a v2 list.
#[derive(Debug, Clone, Deserialize)]
pub struct PageMeta {
    #[serde(default)]
    pub next_page_url: Option<String>,
}

/// A call resource (the fields we read; Twilio sends more).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Call {
    pub sid: CallSid,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub direction: Option<String>,
    #[serde(default)]
    pub answered_by: Option<String>,
    /// Seconds, as a string.
    #[serde(default)]
    pub duration: Option<String>,
    #[serde(default)]
    pub parent_call_sid: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
}

/// A conference participant.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Participant {
    pub call_sid: CallSid,
    pub conference_sid: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub hold: Option<bool>,
    #[serde(default)]
    pub muted: Option<bool>,
    #[serde(default)]
    pub status: Option<String>,
}

/// A conference.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Conference {
    pub sid: String,
    #[serde(default)]
    pub friendly_name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

/// One page of `ListConference`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ConferencePage {
    #[serde(default)]
    pub conferences: Vec<Conference>,
}

/// A recording resource.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Recording {
    pub sid: String,
    #[serde(default)]
    pub call_sid: Option<String>,
    #[serde(default)]
    pub conference_sid: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    /// Seconds, as a string; `-1` while recording.
    #[serde(default)]
    pub duration: Option<String>,
    #[serde(default)]
    pub channels: Option<i64>,
    #[serde(default)]
    pub source: Option<String>,
}

/// A real-time transcription session of a call.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RealtimeTranscription {
    pub sid: String,
    #[serde(default)]
    pub call_sid: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

/// The account the credentials belong to ("check credentials").
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Account {
    pub sid: String,
    #[serde(default)]
    pub friendly_name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

/// A phone number of the account (`IncomingPhoneNumber`), with where its calls go now.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IncomingPhoneNumber {
    /// `PN…`
    pub sid: String,
    /// E.164.
    pub phone_number: String,
    #[serde(default)]
    pub friendly_name: Option<String>,
    #[serde(default)]
    pub voice_url: Option<String>,
    #[serde(default)]
    pub voice_method: Option<String>,
    #[serde(default)]
    pub status_callback: Option<String>,
}

/// One page of `ListIncomingPhoneNumber`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IncomingPhoneNumberPage {
    #[serde(default)]
    pub incoming_phone_numbers: Vec<IncomingPhoneNumber>,
    #[serde(default)]
    pub next_page_uri: Option<String>,
}

/// Points a number's voice calls (and their status callbacks) at a URL
/// (`UpdateIncomingPhoneNumber`). Clearing `VoiceApplicationSid` is not needed: Twilio uses the
/// URL when no application is set, and we never set one on numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointNumber {
    pub voice_url: String,
    pub status_callback: Option<String>,
}

impl PointNumber {
    pub fn form(&self) -> Form {
        Form::new()
            .set("VoiceUrl", &self.voice_url)
            .set("VoiceMethod", Method::Post.as_str())
            .opt("StatusCallback", self.status_callback.as_ref())
            .opt(
                "StatusCallbackMethod",
                self.status_callback.as_ref().map(|_| Method::Post.as_str()),
            )
    }
}

/// Recording media formats Twilio serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaFormat {
    Wav,
    Mp3,
}

impl MediaFormat {
    pub fn extension(self) -> &'static str {
        match self {
            Self::Wav => "wav",
            Self::Mp3 => "mp3",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_call_encodes_repeated_events_and_amd() {
        let mut c = CreateCall::new(
            "+14155550100",
            "+14155550199",
            Instructions::Twiml("<Response><Hangup/></Response>".into()),
        );
        c.status_callback = Some("https://p.test/twilio/1/status?call_id=5".into());
        c.status_callback_events = ALL_CALL_EVENTS.to_vec();
        c.timeout_seconds = Some(25);
        c.machine_detection = Some(MachineDetection {
            detect_message_end: true,
            async_callback: Some("https://p.test/twilio/1/amd?call_id=5".into()),
            timeout_seconds: None,
        });
        assert_eq!(
            c.form().encode(),
            "To=%2B14155550100&From=%2B14155550199\
             &Twiml=%3CResponse%3E%3CHangup%2F%3E%3C%2FResponse%3E\
             &StatusCallback=https%3A%2F%2Fp.test%2Ftwilio%2F1%2Fstatus%3Fcall_id%3D5\
             &StatusCallbackMethod=POST&StatusCallbackEvent=initiated&StatusCallbackEvent=ringing\
             &StatusCallbackEvent=answered&StatusCallbackEvent=completed&Timeout=25\
             &MachineDetection=DetectMessageEnd&AsyncAmd=true\
             &AsyncAmdStatusCallback=https%3A%2F%2Fp.test%2Ftwilio%2F1%2Famd%3Fcall_id%3D5\
             &AsyncAmdStatusCallbackMethod=POST"
        );
    }

    #[test]
    fn create_call_with_url_and_recording() {
        let mut c = CreateCall::new(
            "+1",
            "+2",
            Instructions::Url {
                url: "https://p.test/t".into(),
                method: Method::Get,
            },
        );
        c.record = Some(RecordingOptions {
            channels: Channels::Dual,
            status_callback: Some("https://p.test/r".into()),
            events: vec![RecordingEvent::InProgress, RecordingEvent::Completed],
        });
        let pairs: Vec<_> = c.form().pairs().to_vec();
        let get = |k: &str| -> Vec<&str> {
            pairs
                .iter()
                .filter(|(n, _)| *n == k)
                .map(|(_, v)| v.as_str())
                .collect()
        };
        assert_eq!(get("Url"), ["https://p.test/t"]);
        assert_eq!(get("Method"), ["GET"]);
        assert_eq!(get("Twiml"), Vec::<&str>::new());
        assert_eq!(get("Record"), ["true"]);
        assert_eq!(get("RecordingChannels"), ["dual"]);
        assert_eq!(
            get("RecordingStatusCallbackEvent"),
            ["in-progress", "completed"]
        );
    }

    #[test]
    fn hang_up_is_status_completed_and_safe_to_retry() {
        assert_eq!(UpdateCall::HangUp.form().encode(), "Status=completed");
        assert!(UpdateCall::HangUp.is_idempotent());
        let redirect = UpdateCall::Redirect(Instructions::Twiml("<Response/>".into()));
        assert!(!redirect.is_idempotent());
    }

    #[test]
    fn hold_sends_hold_url_and_method() {
        let f = UpdateParticipant::Hold {
            url: "https://p.test/music.mp3".into(),
            method: Method::Get,
        };
        assert_eq!(
            f.form().encode(),
            "Hold=true&HoldUrl=https%3A%2F%2Fp.test%2Fmusic.mp3&HoldMethod=GET"
        );
        assert_eq!(UpdateParticipant::Resume.form().encode(), "Hold=false");
    }

    #[test]
    fn participant_encodes_conference_events_repeated() {
        let mut p = CreateParticipant::new("+14155550199", "client:agent-3");
        p.conference_status_callback = Some("https://p.test/c".into());
        p.conference_status_callback_events = vec![ConferenceEvent::Join, ConferenceEvent::Leave];
        p.end_conference_on_exit = Some(true);
        let enc = p.form().encode();
        assert!(enc.contains("To=client%3Aagent-3"), "{enc}");
        assert!(enc.contains("EndConferenceOnExit=true"), "{enc}");
        assert!(
            enc.ends_with("ConferenceStatusCallbackEvent=join&ConferenceStatusCallbackEvent=leave"),
            "{enc}"
        );
    }

    #[test]
    fn point_number_sets_voice_url_and_status_callback_with_post() {
        let p = PointNumber {
            voice_url: "https://p.test/twilio/1/voice".into(),
            status_callback: Some("https://p.test/twilio/1/status".into()),
        };
        assert_eq!(
            p.form().encode(),
            "VoiceUrl=https%3A%2F%2Fp.test%2Ftwilio%2F1%2Fvoice&VoiceMethod=POST\
             &StatusCallback=https%3A%2F%2Fp.test%2Ftwilio%2F1%2Fstatus&StatusCallbackMethod=POST"
        );
    }

    #[test]
    fn recording_pause_keeps_silence() {
        assert_eq!(
            RecordingControl::Pause.form().encode(),
            "Status=paused&PauseBehavior=silence"
        );
        assert_eq!(
            RecordingControl::Resume.form().encode(),
            "Status=in-progress"
        );
    }
}
