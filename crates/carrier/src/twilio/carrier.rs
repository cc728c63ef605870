//! [`TwilioCarrier`]: the [`Carrier`] of one client on its Twilio account. Owns the call model
//! of DESIGN §3 on Twilio: the contact leg is dialled into conference `call-{call_id}`, the agent's
//! browser joins it as a participant, hold is a participant hold with music, voicemail drop
//! redirects the contact leg to `<Play>` + `<Hangup>`. Callbacks go to
//! `{public}/twilio/{client_id}/{status,amd,conference,recording,transcription}?call_id={call_id}`
//! (DESIGN §4). Recording starts once both parties are connected (a dual-channel recording of the
//! contact leg, paused and resumed on request), and real-time transcription reports its lines.
//! Post-call transcripts come from the client's Conversational Intelligence service, made from
//! the recording while Twilio still keeps it.

use super::client::{
    Credentials, RestClient, RestConfig, RetryPolicy, DEFAULT_BASE_URL, DEFAULT_INTELLIGENCE_URL,
};
use super::resources::*;
use super::twiml::{self, ConferenceEvent, Method};
use super::webhook::AGENT_LABEL;
use crate::{Audio, CallSid, CallState, Carrier, CarrierError, Dial, LegEnd, RecordingFile};
use async_trait::async_trait;
use palera_core::phone::PhoneNumber;
use palera_core::recording::{Speaker, TranscriptLine};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The shortest ring we allow: DESIGN §2.1 lets unanswered calls ring at least 15 s.
const MIN_RING_SECONDS: u32 = 15;
/// How long the agent's browser rings before the participant dial gives up.
const AGENT_RING_SECONDS: u32 = 30;

/// The channel of a dual-channel recording that holds the contact's voice.
pub const CONTACT_CHANNEL: u32 = 1;
/// The channel that holds the agent's voice.
pub const AGENT_CHANNEL: u32 = 2;

/// A transcript's sentences as our lines: in Twilio's order, the speaker from the channel.
pub fn lines_of(mut sentences: Vec<Sentence>) -> Vec<TranscriptLine> {
    sentences.sort_by_key(|s| s.sentence_index.unwrap_or(u32::MAX));
    sentences
        .into_iter()
        .filter_map(|s| {
            let text = s
                .transcript
                .as_deref()
                .map(str::trim)
                .unwrap_or_default()
                .to_owned();
            (!text.is_empty()).then_some((text, s))
        })
        .enumerate()
        .map(|(i, (text, s))| {
            let start_ms = seconds_to_ms(s.start_time.as_ref());
            TranscriptLine {
                seq: i as u32,
                speaker: if s.media_channel == Some(AGENT_CHANNEL) {
                    Speaker::Agent
                } else {
                    Speaker::Contact
                },
                start_ms,
                end_ms: seconds_to_ms(s.end_time.as_ref()).max(start_ms),
                text,
            }
        })
        .collect()
}

/// Everything needed to run one client's calls on Twilio.
#[derive(Debug, Clone)]
pub struct TwilioConfig {
    pub account_sid: String,
    pub credentials: Credentials,
    /// Twilio's API (`https://api.twilio.com`), or a mock in tests.
    pub base_url: String,
    /// Twilio's Conversational Intelligence API, or a mock in tests.
    pub intelligence_url: String,
    /// Our server's public https base URL (`PALERA_PUBLIC_URL`), which Twilio calls back.
    pub public_base_url: String,
    pub client_id: i64,
    pub calls_per_second: f64,
}

impl TwilioConfig {
    pub fn new(
        client_id: i64,
        account_sid: impl Into<String>,
        credentials: Credentials,
        public_base_url: impl Into<String>,
    ) -> Self {
        Self {
            account_sid: account_sid.into(),
            credentials,
            base_url: DEFAULT_BASE_URL.into(),
            intelligence_url: DEFAULT_INTELLIGENCE_URL.into(),
            public_base_url: public_base_url.into(),
            client_id,
            calls_per_second: 1.0,
        }
    }
}

/// What we remember about a call in flight, keyed by the contact leg's SID.
#[derive(Debug, Clone)]
struct Leg {
    call_id: i64,
    from: PhoneNumber,
    conference_sid: Option<String>,
    agent_call_sid: Option<CallSid>,
}

/// One client's Twilio carrier.
#[derive(Debug)]
pub struct TwilioCarrier {
    rest: RestClient,
    public_base_url: String,
    client_id: i64,
    legs: Mutex<HashMap<CallSid, Leg>>,
}

impl TwilioCarrier {
    pub fn new(config: TwilioConfig) -> Result<Self, CarrierError> {
        let rest = RestClient::new(RestConfig {
            base_url: config.base_url,
            intelligence_url: config.intelligence_url,
            account_sid: config.account_sid,
            credentials: config.credentials,
            calls_per_second: config.calls_per_second,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(15),
        })?;
        Ok(Self {
            rest,
            public_base_url: config.public_base_url.trim_end_matches('/').to_owned(),
            client_id: config.client_id,
            legs: Mutex::new(HashMap::new()),
        })
    }

    /// The REST client, for operations beyond the [`Carrier`] trait (recordings, transcription,
    /// credential checks).
    pub fn rest(&self) -> &RestClient {
        &self.rest
    }

    /// Re-attaches a call in flight after a restart (calls are reconciled from the store), so
    /// later commands know its conference.
    pub fn track(&self, sid: CallSid, call_id: i64, from: PhoneNumber) {
        let leg = Leg {
            call_id,
            from,
            conference_sid: None,
            agent_call_sid: None,
        };
        self.legs().insert(sid, leg);
    }

    /// The URL Twilio calls for `kind` events of `call_id`.
    pub fn callback_url(&self, kind: &str, call_id: i64) -> String {
        format!(
            "{}/twilio/{}/{kind}?call_id={call_id}",
            self.public_base_url, self.client_id
        )
    }

    /// The conference every call lives in.
    pub fn conference_name(call_id: i64) -> String {
        format!("call-{call_id}")
    }

    /// TwiML that puts the contact in the call's conference. The conference starts when the
    /// agent joins, so a recording from the start covers exactly the connected conversation.
    pub fn contact_twiml(&self, call_id: i64, record: bool) -> String {
        let events = [
            ConferenceEvent::Start,
            ConferenceEvent::End,
            ConferenceEvent::Join,
            ConferenceEvent::Leave,
            ConferenceEvent::Hold,
        ];
        let mut conf = twiml::Conference::new(Self::conference_name(call_id))
            .start_conference_on_enter(false)
            .end_conference_on_exit(true)
            .beep(false)
            // An empty waitUrl is Twilio's way to wait in silence instead of hold music.
            .wait_url("", Method::Post)
            .status_callback(self.callback_url("conference", call_id), &events);
        if record {
            conf = conf.record_from_start(self.callback_url("recording", call_id));
        }
        twiml::Response::new()
            .dial(twiml::Dial::conference(conf))
            .to_xml()
    }

    fn create_call(&self, dial: &Dial) -> CreateCall {
        let mut c = CreateCall::new(
            dial.to.as_str(),
            dial.from.as_str(),
            Instructions::Twiml(self.contact_twiml(dial.call_id, dial.record)),
        );
        c.status_callback = Some(self.callback_url("status", dial.call_id));
        c.status_callback_events = ALL_CALL_EVENTS.to_vec();
        c.timeout_seconds = Some(dial.ring_timeout_seconds.max(MIN_RING_SECONDS));
        if dial.amd {
            c.machine_detection = Some(MachineDetection {
                detect_message_end: true,
                async_callback: Some(self.callback_url("amd", dial.call_id)),
                timeout_seconds: None,
            });
        }
        c
    }

    fn agent_participant(&self, leg: &Leg, identity: &str) -> CreateParticipant {
        let mut p = CreateParticipant::new(leg.from.as_str(), format!("client:{identity}"));
        p.label = Some(AGENT_LABEL.into());
        p.start_conference_on_enter = Some(true);
        // The agent hanging up ends the call for the contact too.
        p.end_conference_on_exit = Some(true);
        p.beep = Some(false);
        p.timeout_seconds = Some(AGENT_RING_SECONDS);
        p.status_callback = Some(self.callback_url("status", leg.call_id) + "&leg=agent");
        p.status_callback_events = ALL_CALL_EVENTS.to_vec();
        p
    }

    fn legs(&self) -> std::sync::MutexGuard<'_, HashMap<CallSid, Leg>> {
        // A panic elsewhere cannot leave the map half-updated: every update is one insert.
        self.legs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn leg(&self, sid: &CallSid) -> Result<Leg, CarrierError> {
        self.legs()
            .get(sid)
            .cloned()
            .ok_or_else(|| CarrierError::UnknownCall(sid.0.clone()))
    }

    /// The conference SID of a call, asking Twilio when we have not seen it yet.
    async fn conference_sid(&self, sid: &CallSid) -> Result<String, CarrierError> {
        let leg = self.leg(sid)?;
        if let Some(cf) = leg.conference_sid {
            return Ok(cf);
        }
        let name = Self::conference_name(leg.call_id);
        let found = self.rest.find_conferences(&name).await?;
        let cf = found
            .into_iter()
            .next()
            .ok_or_else(|| CarrierError::UnknownCall(format!("no running conference {name}")))?
            .sid;
        if let Some(l) = self.legs().get_mut(sid) {
            l.conference_sid = Some(cf.clone());
        }
        Ok(cf)
    }
}

/// Twilio answers 404 (error 20404) for calls and participants that no longer exist.
fn not_found(e: &CarrierError) -> bool {
    matches!(
        e,
        CarrierError::Rejected {
            code: 20404 | 404,
            ..
        }
    )
}

fn unknown_if_missing(sid: &CallSid) -> impl FnOnce(CarrierError) -> CarrierError + '_ {
    move |e| {
        if not_found(&e) {
            CarrierError::UnknownCall(sid.0.clone())
        } else {
            e
        }
    }
}

#[async_trait]
impl Carrier for TwilioCarrier {
    async fn dial(&self, dial: Dial) -> Result<CallSid, CarrierError> {
        let call = self.rest.create_call(&self.create_call(&dial)).await?;
        self.track(call.sid.clone(), dial.call_id, dial.from);
        Ok(call.sid)
    }

    /// The queued caller leaves the client's queue for the call's conference (a REST redirect
    /// with the same conference TwiML outbound contacts get); the leg is tracked from here on.
    async fn bridge_inbound(
        &self,
        sid: &CallSid,
        call_id: i64,
        caller_id: &PhoneNumber,
        record: bool,
    ) -> Result<(), CarrierError> {
        self.track(sid.clone(), call_id, caller_id.clone());
        let twiml = Instructions::Twiml(self.contact_twiml(call_id, record));
        self.rest
            .update_call(sid, &UpdateCall::Redirect(twiml))
            .await
            .map(drop)
    }

    async fn connect_agent(&self, sid: &CallSid, agent_identity: &str) -> Result<(), CarrierError> {
        let leg = self.leg(sid)?;
        let conference = leg
            .conference_sid
            .clone()
            .unwrap_or_else(|| Self::conference_name(leg.call_id));
        let request = self.agent_participant(&leg, agent_identity);
        let p = self.rest.add_participant(&conference, &request).await?;
        if let Some(l) = self.legs().get_mut(sid) {
            l.conference_sid = Some(p.conference_sid);
            l.agent_call_sid = Some(p.call_sid);
        }
        Ok(())
    }

    async fn hold(&self, sid: &CallSid, music: &Audio) -> Result<(), CarrierError> {
        let cf = self.conference_sid(sid).await?;
        let hold = UpdateParticipant::Hold {
            url: music.url.clone(),
            // GET lets Twilio cache static audio.
            method: Method::Get,
        };
        self.rest
            .update_participant(&cf, &sid.0, &hold)
            .await
            .map_err(unknown_if_missing(sid))
            .map(drop)
    }

    async fn resume(&self, sid: &CallSid) -> Result<(), CarrierError> {
        let cf = self.conference_sid(sid).await?;
        self.rest
            .update_participant(&cf, &sid.0, &UpdateParticipant::Resume)
            .await
            .map_err(unknown_if_missing(sid))
            .map(drop)
    }

    async fn play_and_hang_up(&self, sid: &CallSid, message: &Audio) -> Result<(), CarrierError> {
        // Redirect the contact first: it leaves the conference for the message. Removing the
        // agent first would end the conference and hang the contact up before the message.
        let xml = twiml::Response::new()
            .play(twiml::Play::new(&message.url))
            .hangup()
            .to_xml();
        let redirect = UpdateCall::Redirect(Instructions::Twiml(xml));
        self.rest
            .update_call(sid, &redirect)
            .await
            .map_err(unknown_if_missing(sid))?;
        let leg = self.leg(sid).ok();
        if let Some(Leg {
            conference_sid: Some(cf),
            agent_call_sid: Some(agent),
            ..
        }) = leg
        {
            // The conference usually ends with the contact leaving; a 404 here is that.
            if let Err(e) = self.rest.remove_participant(&cf, &agent.0).await {
                if !not_found(&e) {
                    tracing::warn!(error = %e, call_sid = %sid, "could not release the agent leg");
                }
            }
        }
        Ok(())
    }

    /// Records the contact's call leg on two channels: what Twilio hears from the contact and
    /// what it plays to them (the agent), reporting to the recording callback.
    async fn start_recording(&self, sid: &CallSid, call_id: i64) -> Result<String, CarrierError> {
        let request = CreateRecording(RecordingOptions {
            channels: Channels::Dual,
            status_callback: Some(self.callback_url("recording", call_id)),
            events: vec![RecordingEvent::Completed, RecordingEvent::Absent],
        });
        let rec = self
            .rest
            .start_recording(sid, &request)
            .await
            .map_err(unknown_if_missing(sid))?;
        Ok(rec.sid)
    }

    async fn pause_recording(
        &self,
        sid: &CallSid,
        recording: &str,
        pause: bool,
    ) -> Result<(), CarrierError> {
        let control = if pause {
            RecordingControl::Pause
        } else {
            RecordingControl::Resume
        };
        self.rest
            .control_recording(sid, recording, control)
            .await
            .map(drop)
    }

    /// Real-time transcription of both tracks of the contact's leg: the inbound track is the
    /// contact, the outbound one the agent; final lines only.
    async fn start_transcription(&self, sid: &CallSid, call_id: i64) -> Result<(), CarrierError> {
        let request = CreateTranscription {
            name: format!("call-{call_id}"),
            status_callback_url: self.callback_url("transcription", call_id),
            track: twiml::Track::Both,
            inbound_track_label: Some("contact".into()),
            outbound_track_label: Some("agent".into()),
            partial_results: Some(false),
            language_code: None,
        };
        self.rest
            .start_transcription(sid, &request)
            .await
            .map(drop)
            .map_err(unknown_if_missing(sid))
    }

    async fn download_recording(
        &self,
        recording: &str,
        _url: &str,
    ) -> Result<RecordingFile, CarrierError> {
        let bytes = self
            .rest
            .download_recording(recording, MediaFormat::Wav, true)
            .await?;
        Ok(RecordingFile {
            content_type: "audio/wav".into(),
            bytes,
        })
    }

    async fn delete_recording(&self, recording: &str) -> Result<(), CarrierError> {
        self.rest.delete_recording(recording).await
    }

    /// The recording is dual channel: the contact leg's own audio (what Twilio receives from the
    /// contact) on channel [`CONTACT_CHANNEL`], what the leg hears (the agent) on the other.
    async fn request_transcript(
        &self,
        service: &str,
        recording: &str,
        call_id: i64,
    ) -> Result<String, CarrierError> {
        let request = CreateTranscript {
            service_sid: service.into(),
            recording_sid: recording.into(),
            customer_key: format!("call-{call_id}"),
            participants: vec![(CONTACT_CHANNEL, "Customer"), (AGENT_CHANNEL, "Agent")],
        };
        Ok(self.rest.create_transcript(&request).await?.sid)
    }

    async fn transcript_result(
        &self,
        job: &str,
    ) -> Result<Option<Vec<TranscriptLine>>, CarrierError> {
        let t = self.rest.fetch_transcript(job).await?;
        match t.status.as_deref().unwrap_or("queued") {
            "completed" => {
                let sentences = self.rest.transcript_sentences(job).await?;
                Ok(Some(lines_of(sentences)))
            }
            "failed" | "canceled" | "error" => Err(CarrierError::Rejected {
                code: 0,
                message: format!(
                    "Twilio's transcript {job} ended as {}",
                    t.status.unwrap_or_default()
                ),
            }),
            _ => Ok(None),
        }
    }

    async fn delete_transcript(&self, job: &str) -> Result<(), CarrierError> {
        self.rest.delete_transcript(job).await
    }

    async fn reattach(
        &self,
        sid: &CallSid,
        call_id: i64,
        from: &PhoneNumber,
    ) -> Result<CallState, CarrierError> {
        let call = match self.rest.fetch_call(sid).await {
            Ok(call) => call,
            // Twilio forgets nothing it placed within a year; a 404 is a call that is gone.
            Err(e) if not_found(&e) => return Ok(CallState::Ended(LegEnd::Failed)),
            Err(e) => return Err(e),
        };
        let state = match call.status.as_deref().unwrap_or_default() {
            "queued" | "initiated" | "ringing" => CallState::Live { answered: false },
            "in-progress" => CallState::Live { answered: true },
            "busy" => CallState::Ended(LegEnd::Busy),
            "no-answer" => CallState::Ended(LegEnd::NoAnswer),
            "canceled" => CallState::Ended(LegEnd::Canceled),
            "failed" => CallState::Ended(LegEnd::Failed),
            _ => CallState::Ended(LegEnd::Completed),
        };
        if matches!(state, CallState::Live { .. }) {
            self.track(sid.clone(), call_id, from.clone());
        }
        Ok(state)
    }

    async fn hang_up(&self, sid: &CallSid) -> Result<(), CarrierError> {
        let result = self
            .rest
            .hang_up(sid)
            .await
            .map_err(unknown_if_missing(sid));
        self.legs().remove(sid);
        result.map(drop)
    }
}
