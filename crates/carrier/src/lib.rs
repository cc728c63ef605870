//! The carrier side of palera-voice: the [`Carrier`] trait every phone network implements, the
//! events a network reports back, and the two implementations — the Twilio adapter (`twilio`) and
//! the simulated carrier (`sim`) used by `demo`, `simulate` and the tests.
//!
//! The model is the one of DESIGN §3: every call is a conference of two legs, the contact leg
//! (dialled to a phone number) and the agent leg (the agent's browser). A [`Carrier`] instance
//! belongs to one client: it dials with that client's account and numbers.

pub mod sim;
pub mod twilio;

use async_trait::async_trait;
use palera_core::phone::PhoneNumber;
use serde::{Deserialize, Serialize};

/// The carrier's id of a call leg (a Twilio Call SID, or a simulated one).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallSid(pub String);

impl std::fmt::Display for CallSid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The identity of an agent's browser softphone (Twilio Voice SDK `identity`, simulated softphone).
pub fn agent_identity(user_id: i64) -> String {
    format!("agent-{user_id}")
}

/// The agent a softphone identity names, if it is one of ours.
pub fn parse_agent_identity(identity: &str) -> Option<i64> {
    identity.strip_prefix("agent-")?.parse().ok()
}

/// What a machine-answered call gets (DESIGN §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MachineAction {
    /// Leave the campaign's voicemail message after the beep.
    LeaveMessage,
    /// Hang up.
    HangUp,
}

/// A request to dial a contact.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dial {
    /// Our call id, echoed back in every event (`palera_core::ids::CallId`).
    pub call_id: i64,
    pub to: PhoneNumber,
    /// The client's number shown as caller ID.
    pub from: PhoneNumber,
    /// Answering-machine detection on or off.
    pub amd: bool,
    /// Seconds to ring before giving up (at least 15, DESIGN §2.1).
    pub ring_timeout_seconds: u32,
    /// Record the call once both parties are connected.
    pub record: bool,
}

/// Audio to play: a URL the carrier can fetch (our own server serves uploaded audio).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audio {
    pub url: String,
}

/// Who answered a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnsweredBy {
    Human,
    Machine,
    Unknown,
}

/// How a leg ended, in carrier terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegEnd {
    Completed,
    Busy,
    NoAnswer,
    Failed,
    Canceled,
}

/// Where a call stands at the carrier, asked after a restart ([`Carrier::reattach`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    /// The call goes on: `answered` once the contact picked up (Twilio `in-progress`), not yet
    /// while it is queued or ringing.
    Live { answered: bool },
    /// The call is over, as the carrier ended it.
    Ended(LegEnd),
}

/// What the network reports about a call. Events may arrive twice (carriers retry); consumers
/// must treat a repeated event as a no-op.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CarrierEvent {
    Ringing {
        call_id: i64,
        sid: CallSid,
    },
    Answered {
        call_id: i64,
        sid: CallSid,
        by: AnsweredBy,
    },
    /// The answering machine's greeting ended (the beep): a message can be left now.
    MachineMessageEnd {
        call_id: i64,
        sid: CallSid,
    },
    AgentConnected {
        call_id: i64,
        agent_id: i64,
    },
    PlaybackFinished {
        call_id: i64,
    },
    Ended {
        call_id: i64,
        sid: CallSid,
        end: LegEnd,
        duration_seconds: u32,
    },
    /// A recording's file is ready at the carrier (`url` names it; its last segment is the
    /// carrier's id of the recording).
    RecordingReady {
        call_id: i64,
        url: String,
        duration_seconds: u32,
    },
    Transcript {
        call_id: i64,
        speaker: String,
        text: String,
        is_final: bool,
    },
}

/// A carrier failure, with the carrier's own code when it gave one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CarrierError {
    #[error("the carrier refused the request ({code}): {message}")]
    Rejected { code: i64, message: String },
    #[error("the carrier is rate limiting requests")]
    RateLimited,
    #[error("the carrier could not be reached: {0}")]
    Unavailable(String),
    #[error("unknown call {0}")]
    UnknownCall(String),
    #[error("the client has no carrier credentials")]
    NotConfigured,
}

/// One client's phone network. Commands return once the carrier accepted them; results arrive
/// later as [`CarrierEvent`]s.
#[async_trait]
pub trait Carrier: Send + Sync {
    /// Starts the contact leg of an outbound call.
    async fn dial(&self, dial: Dial) -> Result<CallSid, CarrierError>;
    /// Bridges the agent's browser (`agent_identity`) into the call's conference.
    async fn connect_agent(&self, sid: &CallSid, agent_identity: &str) -> Result<(), CarrierError>;
    /// Puts the contact on hold with music.
    async fn hold(&self, sid: &CallSid, music: &Audio) -> Result<(), CarrierError>;
    /// Takes the contact off hold.
    async fn resume(&self, sid: &CallSid) -> Result<(), CarrierError>;
    /// Releases the agent leg and plays `message` to the contact to its end, then hangs up
    /// (voicemail drop, the identification message on abandon, a machine message).
    async fn play_and_hang_up(&self, sid: &CallSid, message: &Audio) -> Result<(), CarrierError>;
    /// Ends the call.
    async fn hang_up(&self, sid: &CallSid) -> Result<(), CarrierError>;
    /// After a restart: where the call `sid` (our call `call_id`, shown from `from`) stands at
    /// the carrier; a live call is known to this carrier again, so hold, resume and hang-up work
    /// on it. Networks that do not outlive the process (the simulated one) cannot tell.
    async fn reattach(
        &self,
        _sid: &CallSid,
        _call_id: i64,
        _from: &PhoneNumber,
    ) -> Result<CallState, CarrierError> {
        Err(unsupported("finding calls again after a restart"))
    }
    /// Takes an inbound caller waiting at the carrier (Twilio: in the client's queue) into call
    /// `call_id`'s conference, so an agent can be connected ([`Carrier::connect_agent`]);
    /// `caller_id` is the client's number the agent's leg shows. Networks whose inbound legs
    /// are already theirs (the simulated one) need nothing.
    async fn bridge_inbound(
        &self,
        _sid: &CallSid,
        _call_id: i64,
        _caller_id: &PhoneNumber,
        _record: bool,
    ) -> Result<(), CarrierError> {
        Ok(())
    }
    /// Starts recording the call on both channels (agent / contact); called once both parties
    /// are connected. Returns the carrier's id of the recording; its file is announced later by
    /// a [`CarrierEvent::RecordingReady`].
    async fn start_recording(&self, _sid: &CallSid, _call_id: i64) -> Result<String, CarrierError> {
        Err(unsupported("recording calls"))
    }
    /// Pauses (`pause`) or resumes a call's recording; a paused stretch stays as silence.
    async fn pause_recording(
        &self,
        _sid: &CallSid,
        _recording: &str,
        _pause: bool,
    ) -> Result<(), CarrierError> {
        Err(unsupported("pausing recordings"))
    }
    /// Starts the call's live transcript: its lines arrive as [`CarrierEvent::Transcript`]s.
    async fn start_transcription(&self, _sid: &CallSid, _call_id: i64) -> Result<(), CarrierError> {
        Err(unsupported("transcribing calls"))
    }
    /// The audio of a finished recording (dual channel), named as its
    /// [`CarrierEvent::RecordingReady`] named it.
    async fn download_recording(
        &self,
        _recording: &str,
        _url: &str,
    ) -> Result<RecordingFile, CarrierError> {
        Err(unsupported("recordings"))
    }
    /// Deletes the carrier's copy of a recording (ours is stored).
    async fn delete_recording(&self, _recording: &str) -> Result<(), CarrierError> {
        Err(unsupported("recordings"))
    }
    /// Asks the carrier's post-call transcription service (`service`, the client's) for a
    /// speaker-labelled transcript of a finished recording that the carrier still keeps; returns
    /// the job's id. Call [`Carrier::transcript_result`] later.
    async fn request_transcript(
        &self,
        _service: &str,
        _recording: &str,
        _call_id: i64,
    ) -> Result<String, CarrierError> {
        Err(unsupported("post-call transcripts"))
    }
    /// Where a post-call transcript job stands: `None` while it runs, its lines once done, an
    /// error when it failed (a new job is needed then).
    async fn transcript_result(
        &self,
        _job: &str,
    ) -> Result<Option<Vec<palera_core::recording::TranscriptLine>>, CarrierError> {
        Err(unsupported("post-call transcripts"))
    }
    /// Deletes a post-call transcript job's result at the carrier (ours is stored).
    async fn delete_transcript(&self, _job: &str) -> Result<(), CarrierError> {
        Err(unsupported("post-call transcripts"))
    }
}

/// The audio of a recording and its MIME type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingFile {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

fn unsupported(what: &str) -> CarrierError {
    CarrierError::Rejected {
        code: 0,
        message: format!("this network does not support {what}"),
    }
}
