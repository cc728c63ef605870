//! Recording and live transcription of calls in progress, as the call engine runs them. When
//! both parties of a call are connected the engine hands the call here: with recording on, the
//! recording row is created and the carrier starts a dual-channel recording; with transcription
//! on, the live transcript starts. Carrier requests run on the call's own media lane, in order
//! and off the engine loop. Live transcript lines are stored in order and pushed to the desktop
//! of the call's agent and of the staff watching the call — nobody else's. Pause and resume mark
//! the recording's timeline and pause the carrier's recording.

use super::transcriber::Transcriber;
use crate::app::App;
use crate::desk::ws::{DesktopEvent, DesktopMessage};
use crate::engine::EngineError;
use palera_carrier::{CallSid, Carrier, CarrierError};
use palera_core::ids::{CallId, ClientId, RecordingId, UserId};
use palera_core::recording::{check_pause, Speaker, TranscriptLine};
use palera_store::recordings::{FetchFailure, Recording};
use palera_store::transcripts::TranscriptKind;
use palera_store::Store;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Staff watching calls: they receive the calls' live transcript lines.
#[derive(Default)]
pub struct Watchers {
    by_call: Mutex<HashMap<CallId, HashSet<UserId>>>,
}

impl Watchers {
    pub fn watch(&self, call: CallId, user: UserId) {
        self.lock().entry(call).or_default().insert(user);
    }

    /// Who watches `call`.
    pub fn of(&self, call: CallId) -> Vec<UserId> {
        self.lock()
            .get(&call)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The call ended: nobody watches it any more.
    pub fn forget(&self, call: CallId) {
        self.lock().remove(&call);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CallId, HashSet<UserId>>> {
        self.by_call.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A request on a call's media lane.
enum MediaOp {
    Start {
        recording: Option<RecordingId>,
        transcribe: bool,
    },
    Pause {
        pause: bool,
        reply: oneshot::Sender<Result<(), CarrierError>>,
    },
}

/// One call's media requests, in order, off the engine loop.
struct MediaLane {
    tx: mpsc::UnboundedSender<MediaOp>,
}

/// What the media lane needs.
struct LaneParts {
    call: CallId,
    sid: CallSid,
    carrier: Arc<dyn Carrier>,
    transcriber: Arc<dyn Transcriber>,
    store: Store,
}

impl MediaLane {
    fn start(p: LaneParts) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<MediaOp>();
        tokio::spawn(async move {
            let mut carrier_recording: Option<String> = None;
            while let Some(op) = rx.recv().await {
                match op {
                    MediaOp::Start {
                        recording,
                        transcribe,
                    } => {
                        if let Some(rec) = recording {
                            carrier_recording = start_recording(&p, rec).await;
                        }
                        if transcribe {
                            let started =
                                p.transcriber.start_live(&*p.carrier, &p.sid, p.call).await;
                            if let Err(e) = started {
                                tracing::warn!(call = %p.call, error = %e, "live transcription did not start");
                            }
                        }
                    }
                    MediaOp::Pause { pause, reply } => {
                        let done = match &carrier_recording {
                            Some(r) => p.carrier.pause_recording(&p.sid, r, pause).await,
                            None => Err(CarrierError::Rejected {
                                code: 0,
                                message: "the call's recording did not start".into(),
                            }),
                        };
                        let _ = reply.send(done);
                    }
                }
            }
        });
        Self { tx }
    }
}

/// Starts the carrier's recording; a refusal is kept on the recording (failed, with the reason).
async fn start_recording(p: &LaneParts, rec: RecordingId) -> Option<String> {
    match p.carrier.start_recording(&p.sid, p.call.0).await {
        Ok(sid) => {
            if let Err(e) = p.store.set_recording_sid(rec, &sid).await {
                tracing::error!(call = %p.call, error = %e, "saving the recording id failed");
            }
            Some(sid)
        }
        Err(e) => {
            tracing::warn!(call = %p.call, error = %e, "the recording did not start");
            let error = format!("the recording did not start: {e}");
            let f = FetchFailure {
                error: &error,
                retry_at_ms: None,
            };
            if let Err(e) = p.store.recording_fetch_failed(rec, &f).await {
                tracing::error!(call = %p.call, error = %e, "saving the recording failure failed");
            }
            None
        }
    }
}

/// A call whose parties are both connected.
pub struct Connected {
    pub call: CallId,
    pub client: ClientId,
    pub agent: UserId,
    pub sid: CallSid,
    pub carrier: Arc<dyn Carrier>,
    /// The campaign's (or the client's inbound) switches.
    pub recording: bool,
    pub transcription: bool,
}

struct CallMedia {
    lane: MediaLane,
    recording: Option<RecordingId>,
    agent: UserId,
    client: ClientId,
    /// When the recording (or the transcript) started, Unix milliseconds.
    started_ms: i64,
    next_seq: u32,
    /// When the call ended: lines that arrive late (carriers send the last ones after the end)
    /// are still kept for a while.
    ended: Option<std::time::Instant>,
}

/// How long after its end a call's late transcript lines are still taken.
const LATE_LINES: std::time::Duration = std::time::Duration::from_secs(120);

/// The media of the engine's calls in progress.
#[derive(Default)]
pub struct LiveMedia {
    calls: HashMap<CallId, CallMedia>,
}

impl LiveMedia {
    /// Both parties of a call are connected: recording and live transcription start as the
    /// call's switches say (once; a repeated connection changes nothing).
    pub async fn connected(&mut self, app: &App, c: Connected) -> Result<(), EngineError> {
        if self.calls.contains_key(&c.call) || !(c.recording || c.transcription) {
            return Ok(());
        }
        let now = app.now_ms();
        let recording = if c.recording {
            let rec = app
                .store
                .start_recording(c.call, None, c.transcription, now)
                .await?;
            Some(rec.id)
        } else {
            None
        };
        let lane = MediaLane::start(LaneParts {
            call: c.call,
            sid: c.sid,
            carrier: c.carrier,
            transcriber: app.recordings.transcriber.clone(),
            store: app.store.clone(),
        });
        let _ = lane.tx.send(MediaOp::Start {
            recording,
            transcribe: c.transcription,
        });
        tracing::info!(call = %c.call, recording = c.recording, transcription = c.transcription, "call media started");
        self.calls.insert(
            c.call,
            CallMedia {
                lane,
                recording,
                agent: c.agent,
                client: c.client,
                started_ms: now,
                next_seq: 0,
                ended: None,
            },
        );
        Ok(())
    }

    /// A final line of a call's live transcript: stored in order, then pushed to the call's
    /// agent and its watchers. Lines of calls not transcribed here are ignored.
    pub async fn line(
        &mut self,
        app: &App,
        call: CallId,
        speaker: &str,
        text: &str,
    ) -> Result<(), EngineError> {
        let Some(m) = self.calls.get_mut(&call) else {
            tracing::debug!(call = %call, "a transcript line for a call without live media");
            return Ok(());
        };
        let now = app.now_ms();
        let end_ms = (now - m.started_ms).max(0) as u64;
        let words = text.split_whitespace().count() as u64;
        let line = TranscriptLine {
            seq: m.next_seq,
            speaker: Speaker::parse(speaker).unwrap_or(Speaker::Contact),
            start_ms: end_ms.saturating_sub(words * 330),
            end_ms,
            text: text.trim().to_string(),
        };
        m.next_seq += 1;
        let (client, agent) = (m.client, m.agent);
        app.store
            .add_transcript_line(client, call, TranscriptKind::Live, &line)
            .await?;
        let mut to: Vec<UserId> = app.watchers.of(call);
        to.retain(|u| *u != agent);
        to.push(agent);
        for user in to {
            let body = DesktopMessage::TranscriptLine {
                call_id: call,
                line: line.clone(),
            };
            let _ = app.events.send(DesktopEvent::new(user, body));
        }
        Ok(())
    }

    /// The agent of a recorded call pauses (`pause`) or resumes its recording.
    pub async fn pause(
        &mut self,
        app: &App,
        call: CallId,
        agent: UserId,
        pause: bool,
    ) -> Result<Recording, EngineError> {
        let m = self
            .calls
            .get(&call)
            .filter(|m| m.agent == agent && m.ended.is_none())
            .ok_or(EngineError::NotFound)?;
        let rec = m
            .recording
            .ok_or_else(|| EngineError::invalid("recording", "this call is not being recorded"))?;
        let current = app.store.recording_unscoped(rec).await?;
        // Pausing twice, or resuming a running recording, conflicts with its state (409).
        check_pause(&current.pauses, pause)
            .map_err(|e| EngineError::conflict(e.field, e.reason))?;
        let (tx, rx) = oneshot::channel();
        let _ = m.lane.tx.send(MediaOp::Pause { pause, reply: tx });
        let done = rx.await.unwrap_or_else(|_| {
            Err(CarrierError::Unavailable(
                "the call's media lane stopped".into(),
            ))
        });
        // Marked once the carrier did it, so the timeline says what the file holds.
        done.map_err(EngineError::Carrier)?;
        let marked = app.store.mark_pause(rec, pause, app.now_ms()).await?;
        Ok(marked)
    }

    /// The call ended. Its late lines are still taken for [`LATE_LINES`]; calls ended longer
    /// ago are forgotten (their lanes close after their last request, nobody watches them).
    pub fn ended(&mut self, app: &App, call: CallId) {
        if let Some(m) = self.calls.get_mut(&call) {
            m.ended.get_or_insert_with(std::time::Instant::now);
        }
        let old: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, m)| m.ended.is_some_and(|t| t.elapsed() > LATE_LINES))
            .map(|(id, _)| *id)
            .collect();
        for id in old {
            self.calls.remove(&id);
            app.watchers.forget(id);
        }
    }
}

/// The carrier has a call's recording file: it waits to be fetched into storage.
pub async fn recording_ready(
    app: &App,
    call: CallId,
    url: &str,
    duration_seconds: u32,
) -> Result<(), EngineError> {
    let sid = url
        .rsplit('/')
        .next()
        .and_then(|s| s.split(['.', '?']).next())
        .filter(|s| !s.is_empty());
    let rec = app
        .store
        .recording_ready(call, sid, url, duration_seconds, app.now_ms())
        .await?;
    tracing::info!(call = %call, recording = %rec.id, "recording ready at the carrier");
    Ok(())
}
