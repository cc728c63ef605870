//! The [`Transcriber`] interface (DESIGN §2.6): the live transcript of a connected call, and the
//! post-call transcript of its stored recording, speaker-labelled and time-stamped.
//!
//! - [`SimTranscriber`] (demo): the simulated network says a known conversation
//!   (`palera_carrier::sim::recording`); live lines come from the network as it is said, and the
//!   post-call transcript is that conversation cut to the stored file's length, without the
//!   lines said while the recording was paused.
//! - [`RealtimeTranscriber`] (Twilio): live lines come from Twilio's real-time transcription
//!   webhooks; the post-call transcript is made of the final lines it delivered, in order —
//!   unless the client names its Conversational Intelligence service: then the recordings worker
//!   asks Twilio for the transcript of its copy of the recording and waits for the job
//!   ([`palera_carrier::Carrier::request_transcript`]), since that is not a call on the audio.

use async_trait::async_trait;
use palera_carrier::{CallSid, Carrier, CarrierError};
use palera_core::ids::CallId;
use palera_core::recording::{Pause, TranscriptLine};
use palera_store::recordings::Recording;

/// Why a transcript could not be made (retried, then shown on the recording).
#[derive(Debug, thiserror::Error)]
pub enum TranscribeError {
    #[error("the transcription service failed: {0}")]
    Carrier(#[from] CarrierError),
    #[error("the recording cannot be transcribed: {0}")]
    Audio(String),
}

/// Makes transcripts.
#[async_trait]
pub trait Transcriber: Send + Sync {
    /// Starts the live transcript of `call`, whose parties are connected on leg `sid`: its lines
    /// arrive as the carrier's `Transcript` events.
    async fn start_live(
        &self,
        carrier: &dyn Carrier,
        sid: &CallSid,
        call: CallId,
    ) -> Result<(), TranscribeError> {
        carrier.start_transcription(sid, call.0).await?;
        Ok(())
    }

    /// The post-call transcript of a stored recording (`audio` is its file, `live` the lines
    /// that arrived during the call).
    async fn post_call(
        &self,
        rec: &Recording,
        audio: &[u8],
        live: &[TranscriptLine],
    ) -> Result<Vec<TranscriptLine>, TranscribeError>;
}

/// The demo's transcriber (see the module doc).
pub struct SimTranscriber;

/// Milliseconds of audio in a 16-bit PCM WAV file (its header's rate and channels).
pub fn wav_duration_ms(wav: &[u8]) -> Option<u64> {
    if wav.len() < 44 || &wav[0..4] != b"RIFF" || &wav[8..12] != b"WAVE" {
        return None;
    }
    let channels = u64::from(u16::from_le_bytes([wav[22], wav[23]]));
    let rate = u64::from(u32::from_le_bytes([wav[24], wav[25], wav[26], wav[27]]));
    let bits = u64::from(u16::from_le_bytes([wav[34], wav[35]]));
    let per_second = rate * channels * bits / 8;
    (per_second > 0).then(|| (wav.len() as u64 - 44) * 1000 / per_second)
}

fn overlaps(p: &Pause, l: &TranscriptLine) -> bool {
    p.paused_ms < l.end_ms && p.resumed_ms.is_none_or(|r| r > l.start_ms)
}

#[async_trait]
impl Transcriber for SimTranscriber {
    async fn post_call(
        &self,
        rec: &Recording,
        audio: &[u8],
        _live: &[TranscriptLine],
    ) -> Result<Vec<TranscriptLine>, TranscribeError> {
        let ms = wav_duration_ms(audio)
            .ok_or_else(|| TranscribeError::Audio("the file is not 16-bit PCM WAV".into()))?;
        let lines = palera_carrier::sim::recording::conversation(rec.call_id.0 as u64, ms);
        Ok(lines
            .into_iter()
            .filter(|l| !rec.pauses.iter().any(|p| overlaps(p, l)))
            .enumerate()
            .map(|(i, l)| TranscriptLine { seq: i as u32, ..l })
            .collect())
    }
}

/// Twilio's transcriber (see the module doc).
pub struct RealtimeTranscriber;

#[async_trait]
impl Transcriber for RealtimeTranscriber {
    async fn post_call(
        &self,
        _rec: &Recording,
        _audio: &[u8],
        live: &[TranscriptLine],
    ) -> Result<Vec<TranscriptLine>, TranscribeError> {
        if live.is_empty() {
            return Err(TranscribeError::Audio(
                "no transcript lines arrived from the real-time transcription".into(),
            ));
        }
        let mut lines = live.to_vec();
        lines.sort_by_key(|l| (l.start_ms, l.seq));
        for (i, l) in lines.iter_mut().enumerate() {
            l.seq = i as u32;
        }
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palera_carrier::sim::recording::{conversation, wav};

    #[test]
    fn a_wav_files_length_comes_from_its_header() {
        let file = wav(&[], 2_500, &[]);
        assert_eq!(wav_duration_ms(&file), Some(2_500));
        assert_eq!(
            wav_duration_ms(b"ID3 not a wav file at all, long enough to be read........"),
            None
        );
    }

    #[test]
    fn the_simulated_post_call_transcript_leaves_out_what_was_said_while_paused() {
        let said = conversation(7, 30_000);
        let paused = Pause {
            paused_ms: said[1].start_ms,
            resumed_ms: Some(said[1].end_ms),
        };
        let rec = palera_store::recordings::Recording {
            id: palera_core::ids::RecordingId(1),
            client_id: palera_core::ids::ClientId(1),
            call_id: CallId(7),
            carrier_sid: None,
            source_url: None,
            status: palera_core::recording::RecordingStatus::Stored,
            attempts: 1,
            last_error: None,
            next_attempt_at: None,
            storage_key: None,
            content_type: None,
            bytes: None,
            channels: 2,
            duration_seconds: Some(30),
            transcription: true,
            transcript_status: "working".into(),
            transcript_attempts: 1,
            transcript_error: None,
            transcript_job: None,
            transcript_job_at: None,
            started_at: 0,
            ended_at: None,
            stored_at: None,
            carrier_deleted_at: None,
            pauses: vec![paused],
        };
        let audio = wav(&said, 30_000, &rec.pauses);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let lines = rt
            .block_on(SimTranscriber.post_call(&rec, &audio, &[]))
            .unwrap();
        assert_eq!(lines.len(), said.len() - 1);
        assert_eq!(lines[1].text, said[2].text);
        assert_eq!(
            lines.iter().map(|l| l.seq).collect::<Vec<_>>(),
            (0..lines.len() as u32).collect::<Vec<_>>()
        );
        let bad = rt.block_on(SimTranscriber.post_call(&rec, b"not audio", &[]));
        assert!(matches!(bad, Err(TranscribeError::Audio(_))));
    }
}
