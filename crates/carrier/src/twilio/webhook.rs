//! Parsing of Twilio's webhook payloads (call status, async AMD, conference, recording and
//! real-time transcription callbacks) into [`CarrierEvent`]s. Owns the field names and value
//! spellings Twilio posts; pure functions over the decoded form parameters, run after
//! [`super::signature`] accepted the request.
//!
//! Our own call id travels in the callback URL's query (`?call_id=…`, set by the carrier when it
//! dials), so the server passes it in; Twilio's parameters never decide which call is meant.

use crate::{AnsweredBy, CallSid, CarrierEvent, LegEnd};

/// A webhook payload that is not what Twilio sends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("{0}: missing")]
    Missing(&'static str),
    #[error("{field}: unexpected value {value:?}")]
    Invalid { field: &'static str, value: String },
}

/// Decoded form parameters of one webhook (repeated keys kept).
#[derive(Debug, Clone, Copy)]
pub struct Params<'a>(pub &'a [(String, String)]);

impl<'a> Params<'a> {
    /// The first value of `name`, if present and not empty.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    fn require(&self, name: &'static str) -> Result<&'a str, WebhookError> {
        self.get(name).ok_or(WebhookError::Missing(name))
    }

    fn number(&self, name: &'static str) -> Result<Option<u32>, WebhookError> {
        self.get(name)
            .map(|v| v.trim().parse::<u32>().map_err(|_| invalid(name, v)))
            .transpose()
    }

    fn flag(&self, name: &'static str) -> Option<bool> {
        self.get(name).map(|v| v.eq_ignore_ascii_case("true"))
    }

    fn call_sid(&self) -> Result<CallSid, WebhookError> {
        self.require("CallSid").map(|s| CallSid(s.to_owned()))
    }
}

fn invalid(field: &'static str, value: &str) -> WebhookError {
    WebhookError::Invalid {
        field,
        value: value.to_owned(),
    }
}

/// Who is calling: an outside phone or one of our agents' browsers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A phone number as Twilio gives it (E.164 for PSTN callers; may be anonymous).
    Phone(String),
    /// A browser softphone calling out (`client:{identity}`).
    Client(String),
}

/// The TwiML request for a new call (`/twilio/{client}/voice`): an inbound call to one of the
/// client's numbers, or a call placed from an agent's browser through the TwiML App.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingCall {
    pub sid: CallSid,
    pub from: Caller,
    /// The dialled number, or the `To` parameter the browser passed to `device.connect`.
    pub to: String,
    pub status: Option<String>,
    pub direction: Option<String>,
}

/// Parses the voice webhook of a new call.
pub fn incoming_call(params: Params<'_>) -> Result<IncomingCall, WebhookError> {
    let from = params.require("From")?;
    let from = match from.strip_prefix("client:") {
        Some(identity) => Caller::Client(identity.to_owned()),
        None => Caller::Phone(from.to_owned()),
    };
    Ok(IncomingCall {
        sid: params.call_sid()?,
        from,
        to: params.require("To")?.to_owned(),
        status: params.get("CallStatus").map(str::to_owned),
        direction: params.get("Direction").map(str::to_owned),
    })
}

/// A call status callback (`/twilio/{client}/status`). Intermediate states we do not act on
/// (`queued`, `initiated`) give `None`.
pub fn call_status(call_id: i64, params: Params<'_>) -> Result<Option<CarrierEvent>, WebhookError> {
    let sid = params.call_sid()?;
    let status = params.require("CallStatus")?;
    let end = match status {
        "queued" | "initiated" => return Ok(None),
        "ringing" => return Ok(Some(CarrierEvent::Ringing { call_id, sid })),
        "in-progress" | "answered" => {
            // Without AMD Twilio sends no AnsweredBy; with async AMD the verdict comes later
            // on the AMD callback, so "unknown" here means "not decided by this event".
            let by = params
                .get("AnsweredBy")
                .map_or(AnsweredBy::Unknown, answered_by);
            return Ok(Some(CarrierEvent::Answered { call_id, sid, by }));
        }
        "completed" => LegEnd::Completed,
        "busy" => LegEnd::Busy,
        "no-answer" => LegEnd::NoAnswer,
        "failed" => LegEnd::Failed,
        "canceled" => LegEnd::Canceled,
        other => return Err(invalid("CallStatus", other)),
    };
    let duration_seconds = params.number("CallDuration")?.unwrap_or(0);
    Ok(Some(CarrierEvent::Ended {
        call_id,
        sid,
        end,
        duration_seconds,
    }))
}

/// Maps an `AnsweredBy` value: `human`; the machine family (`machine_start`, `machine_end_*`,
/// `fax`); anything else (`unknown`) is unknown.
pub fn answered_by(value: &str) -> AnsweredBy {
    match value {
        "human" => AnsweredBy::Human,
        v if v.starts_with("machine") || v == "fax" => AnsweredBy::Machine,
        _ => AnsweredBy::Unknown,
    }
}

/// The asynchronous AMD result (`/twilio/{client}/amd`). With `DetectMessageEnd`, a
/// `machine_end_*` verdict means the greeting ended: the message can be left now.
pub fn amd_result(call_id: i64, params: Params<'_>) -> Result<CarrierEvent, WebhookError> {
    let sid = params.call_sid()?;
    let verdict = params.require("AnsweredBy")?;
    if verdict.starts_with("machine_end_") {
        return Ok(CarrierEvent::MachineMessageEnd { call_id, sid });
    }
    Ok(CarrierEvent::Answered {
        call_id,
        sid,
        by: answered_by(verdict),
    })
}

/// What a conference status callback reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConferenceUpdate {
    Started,
    Ended {
        reason: Option<String>,
    },
    Joined,
    Left,
    Held,
    Unheld,
    /// Events we subscribe to but do not act on (mute, speech, announcements…).
    Other(String),
}

/// A conference status callback (`/twilio/{client}/conference`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConferenceCallback {
    pub conference_sid: String,
    pub friendly_name: Option<String>,
    /// The participant's call for participant events.
    pub call_sid: Option<CallSid>,
    pub label: Option<String>,
    pub update: ConferenceUpdate,
    pub sequence_number: Option<u32>,
}

/// Parses a conference status callback.
pub fn conference(params: Params<'_>) -> Result<ConferenceCallback, WebhookError> {
    let event = params.require("StatusCallbackEvent")?;
    let update = match event {
        "conference-start" => ConferenceUpdate::Started,
        "conference-end" => ConferenceUpdate::Ended {
            reason: params.get("ReasonConferenceEnded").map(str::to_owned),
        },
        "participant-join" => ConferenceUpdate::Joined,
        "participant-leave" => ConferenceUpdate::Left,
        "participant-hold" => ConferenceUpdate::Held,
        "participant-unhold" => ConferenceUpdate::Unheld,
        other => ConferenceUpdate::Other(other.to_owned()),
    };
    Ok(ConferenceCallback {
        conference_sid: params.require("ConferenceSid")?.to_owned(),
        friendly_name: params.get("FriendlyName").map(str::to_owned),
        call_sid: params.get("CallSid").map(|s| CallSid(s.to_owned())),
        label: params.get("ParticipantLabel").map(str::to_owned),
        update,
        sequence_number: params.number("SequenceNumber")?,
    })
}

impl ConferenceCallback {
    /// The agent joined call `call_id`'s conference: participants labelled [`AGENT_LABEL`]
    /// are agents; `agent_id` is who the server bridged in.
    pub fn agent_connected(&self, call_id: i64, agent_id: i64) -> Option<CarrierEvent> {
        let is_agent = self.label.as_deref() == Some(AGENT_LABEL);
        (is_agent && self.update == ConferenceUpdate::Joined)
            .then_some(CarrierEvent::AgentConnected { call_id, agent_id })
    }
}

/// The participant label [`super::TwilioCarrier`] gives agent legs.
pub const AGENT_LABEL: &str = "agent";

/// A recording status callback (`/twilio/{client}/recording`): a completed recording is ready.
pub fn recording_status(
    call_id: i64,
    params: Params<'_>,
) -> Result<Option<CarrierEvent>, WebhookError> {
    if params.require("RecordingStatus")? != "completed" {
        return Ok(None);
    }
    let url = params.require("RecordingUrl")?.to_owned();
    let duration_seconds = params.number("RecordingDuration")?.unwrap_or(0);
    Ok(Some(CarrierEvent::RecordingReady {
        call_id,
        url,
        duration_seconds,
    }))
}

/// A real-time transcription callback (`/twilio/{client}/transcription`). Only
/// `transcription-content` carries text; started/stopped/error give `None` (errors are logged).
pub fn transcription(
    call_id: i64,
    params: Params<'_>,
) -> Result<Option<CarrierEvent>, WebhookError> {
    let event = params.require("TranscriptionEvent")?;
    if event != "transcription-content" {
        if event == "transcription-error" {
            tracing::warn!(
                call_id,
                error = params.get("TranscriptionError"),
                code = params.get("TranscriptionErrorCode"),
                "Twilio transcription error"
            );
        }
        return Ok(None);
    }
    let data = params.require("TranscriptionData")?;
    let text = transcript_text(data).ok_or_else(|| invalid("TranscriptionData", data))?;
    // Twilio reports the track; the track labels we set when starting name the speaker.
    let speaker = params
        .get("Track")
        .map(|t| t.trim_end_matches("_track").to_owned())
        .unwrap_or_else(|| "unknown".into());
    Ok(Some(CarrierEvent::Transcript {
        call_id,
        speaker,
        text,
        is_final: params.flag("Final").unwrap_or(true),
    }))
}

/// `TranscriptionData` is a JSON string: `{"transcript": "...", "confidence": 0.97}`.
fn transcript_text(data: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(data).ok()?;
    value.get("transcript")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn inbound_call_from_a_phone() {
        let p = form(&[
            ("CallSid", "CA9"),
            ("AccountSid", "AC1"),
            ("From", "+14155550100"),
            ("To", "+14155550199"),
            ("CallStatus", "ringing"),
            ("Direction", "inbound"),
        ]);
        let call = incoming_call(Params(&p)).unwrap();
        assert_eq!(call.from, Caller::Phone("+14155550100".into()));
        assert_eq!(call.to, "+14155550199");
        assert_eq!(call.direction.as_deref(), Some("inbound"));
    }

    #[test]
    fn browser_call_names_the_agent_identity() {
        let p = form(&[
            ("CallSid", "CA9"),
            ("From", "client:agent-3"),
            ("To", "+14155550100"),
        ]);
        assert_eq!(
            incoming_call(Params(&p)).unwrap().from,
            Caller::Client("agent-3".into())
        );
        let p = form(&[("CallSid", "CA9"), ("From", "client:agent-3")]);
        assert_eq!(incoming_call(Params(&p)), Err(WebhookError::Missing("To")));
    }

    #[test]
    fn ringing_status_becomes_ringing() {
        let p = form(&[
            ("CallSid", "CA1"),
            ("CallStatus", "ringing"),
            ("SequenceNumber", "1"),
        ]);
        assert_eq!(
            call_status(9, Params(&p)),
            Ok(Some(CarrierEvent::Ringing {
                call_id: 9,
                sid: CallSid("CA1".into())
            }))
        );
    }

    #[test]
    fn queued_and_initiated_are_not_events() {
        for s in ["queued", "initiated"] {
            let p = form(&[("CallSid", "CA1"), ("CallStatus", s)]);
            assert_eq!(call_status(9, Params(&p)), Ok(None));
        }
    }

    #[test]
    fn answered_status_reads_sync_amd() {
        let p = form(&[
            ("CallSid", "CA1"),
            ("CallStatus", "in-progress"),
            ("AnsweredBy", "machine_start"),
        ]);
        let ev = call_status(9, Params(&p)).unwrap().unwrap();
        assert!(matches!(
            ev,
            CarrierEvent::Answered {
                by: AnsweredBy::Machine,
                ..
            }
        ));
        let p = form(&[("CallSid", "CA1"), ("CallStatus", "in-progress")]);
        let ev = call_status(9, Params(&p)).unwrap().unwrap();
        assert!(matches!(
            ev,
            CarrierEvent::Answered {
                by: AnsweredBy::Unknown,
                ..
            }
        ));
    }

    #[test]
    fn final_statuses_become_ended_with_duration() {
        let cases = [
            ("completed", LegEnd::Completed, "42"),
            ("busy", LegEnd::Busy, "0"),
            ("no-answer", LegEnd::NoAnswer, "0"),
            ("failed", LegEnd::Failed, "0"),
            ("canceled", LegEnd::Canceled, "0"),
        ];
        for (status, end, dur) in cases {
            let p = form(&[
                ("CallSid", "CA1"),
                ("CallStatus", status),
                ("CallDuration", dur),
            ]);
            assert_eq!(
                call_status(3, Params(&p)),
                Ok(Some(CarrierEvent::Ended {
                    call_id: 3,
                    sid: CallSid("CA1".into()),
                    end,
                    duration_seconds: dur.parse().unwrap()
                })),
                "{status}"
            );
        }
    }

    #[test]
    fn bad_status_payloads_name_the_field() {
        let p = form(&[("CallStatus", "ringing")]);
        assert_eq!(
            call_status(1, Params(&p)),
            Err(WebhookError::Missing("CallSid"))
        );
        let p = form(&[("CallSid", "CA1"), ("CallStatus", "exploded")]);
        assert_eq!(
            call_status(1, Params(&p)),
            Err(invalid("CallStatus", "exploded"))
        );
        let p = form(&[
            ("CallSid", "CA1"),
            ("CallStatus", "completed"),
            ("CallDuration", "x"),
        ]);
        assert_eq!(
            call_status(1, Params(&p)),
            Err(invalid("CallDuration", "x"))
        );
    }

    #[test]
    fn amd_message_end_means_leave_the_message_now() {
        for v in [
            "machine_end_beep",
            "machine_end_silence",
            "machine_end_other",
        ] {
            let p = form(&[
                ("CallSid", "CA1"),
                ("AnsweredBy", v),
                ("MachineDetectionDuration", "4100"),
            ]);
            assert_eq!(
                amd_result(5, Params(&p)),
                Ok(CarrierEvent::MachineMessageEnd {
                    call_id: 5,
                    sid: CallSid("CA1".into())
                })
            );
        }
    }

    #[test]
    fn amd_human_fax_and_unknown() {
        let by = |v: &str| {
            let p = form(&[("CallSid", "CA1"), ("AnsweredBy", v)]);
            match amd_result(5, Params(&p)).unwrap() {
                CarrierEvent::Answered { by, .. } => by,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(by("human"), AnsweredBy::Human);
        assert_eq!(by("fax"), AnsweredBy::Machine);
        assert_eq!(by("machine_start"), AnsweredBy::Machine);
        assert_eq!(by("unknown"), AnsweredBy::Unknown);
    }

    #[test]
    fn agent_join_is_agent_connected_and_contact_join_is_not() {
        let agent = form(&[
            ("ConferenceSid", "CF1"),
            ("FriendlyName", "call-5"),
            ("StatusCallbackEvent", "participant-join"),
            ("CallSid", "CA2"),
            ("ParticipantLabel", "agent"),
            ("SequenceNumber", "3"),
        ]);
        let cb = conference(Params(&agent)).unwrap();
        assert_eq!(cb.update, ConferenceUpdate::Joined);
        assert_eq!(cb.sequence_number, Some(3));
        assert_eq!(
            cb.agent_connected(5, 77),
            Some(CarrierEvent::AgentConnected {
                call_id: 5,
                agent_id: 77
            })
        );
        let contact = form(&[
            ("ConferenceSid", "CF1"),
            ("StatusCallbackEvent", "participant-join"),
            ("CallSid", "CA1"),
        ]);
        assert_eq!(
            conference(Params(&contact)).unwrap().agent_connected(5, 77),
            None
        );
    }

    #[test]
    fn conference_end_keeps_its_reason() {
        let p = form(&[
            ("ConferenceSid", "CF1"),
            ("StatusCallbackEvent", "conference-end"),
            (
                "ReasonConferenceEnded",
                "participant-with-end-conference-on-exit-left",
            ),
        ]);
        assert_eq!(
            conference(Params(&p)).unwrap().update,
            ConferenceUpdate::Ended {
                reason: Some("participant-with-end-conference-on-exit-left".into())
            }
        );
        let p = form(&[
            ("ConferenceSid", "CF1"),
            ("StatusCallbackEvent", "participant-hold"),
        ]);
        assert_eq!(
            conference(Params(&p)).unwrap().update,
            ConferenceUpdate::Held
        );
    }

    #[test]
    fn completed_recording_is_ready() {
        let p = form(&[
            ("RecordingSid", "RE1"),
            (
                "RecordingUrl",
                "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
            ),
            ("RecordingStatus", "completed"),
            ("RecordingDuration", "61"),
        ]);
        assert_eq!(
            recording_status(4, Params(&p)),
            Ok(Some(CarrierEvent::RecordingReady {
                call_id: 4,
                url: "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1".into(),
                duration_seconds: 61
            }))
        );
        let p = form(&[("RecordingStatus", "in-progress")]);
        assert_eq!(recording_status(4, Params(&p)), Ok(None));
    }

    #[test]
    fn transcription_content_becomes_a_transcript_line() {
        let p = form(&[
            ("TranscriptionEvent", "transcription-content"),
            ("CallSid", "CA1"),
            (
                "TranscriptionData",
                r#"{"transcript":"Hello, is this Ann?","confidence":0.97}"#,
            ),
            ("Track", "inbound_track"),
            ("Final", "false"),
        ]);
        assert_eq!(
            transcription(4, Params(&p)),
            Ok(Some(CarrierEvent::Transcript {
                call_id: 4,
                speaker: "inbound".into(),
                text: "Hello, is this Ann?".into(),
                is_final: false
            }))
        );
    }

    #[test]
    fn transcription_lifecycle_events_carry_no_text() {
        for e in [
            "transcription-started",
            "transcription-stopped",
            "transcription-error",
        ] {
            let p = form(&[("TranscriptionEvent", e)]);
            assert_eq!(transcription(4, Params(&p)), Ok(None), "{e}");
        }
        let p = form(&[
            ("TranscriptionEvent", "transcription-content"),
            ("TranscriptionData", "not json"),
        ]);
        assert!(transcription(4, Params(&p)).is_err());
    }
}
