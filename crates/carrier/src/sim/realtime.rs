//! A real-time simulated [`Carrier`] for the `demo` server: the same seeded [`Behaviour`] model
//! as the scenario simulator, played out with tokio timers, reporting [`CarrierEvent`]s on an
//! mpsc channel. `time_scale` speeds the network up (2.0 = twice as fast) for tests.
//!
//! [`SimCarrier::tap`] shows what the network does from outside: every event it reports and what
//! each simulated contact hears on their leg (ringing, the agent, hold music, a played message),
//! stamped with the monotonic time it happened — tests check voicemail drop with it, and the
//! desktop latency benchmark times events against what agents' desktops receive.
//!
//! Recording and transcription: a recorded call's pauses are kept in network time; when its leg
//! ends the network reports the file ready, and downloading it makes the dual-channel WAV of the
//! call's conversation ([`super::recording`]). A transcribed call hears that conversation live:
//! each line is reported as a final `Transcript` event once it has been said (none while paused).

use super::behaviour::{Behaviour, Fate};
use super::recording::{conversation, wav};
use crate::{
    AnsweredBy, Audio, CallSid, Carrier, CarrierError, CarrierEvent, Dial, LegEnd, RecordingFile,
};
use async_trait::async_trait;
use palera_core::recording::Pause;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

/// How long a played message lasts on the simulated network.
const MESSAGE_SECONDS: f64 = 15.0;

/// What a simulated contact hears on their leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hearing {
    Ringing,
    /// Answered; nobody is bridged in yet (an agent, a message or the detector to come).
    Silence,
    /// Talking with the agent.
    Agent,
    HoldMusic {
        url: String,
    },
    /// A played message (voicemail drop, identification message, machine message).
    Message {
        url: String,
    },
    /// The leg ended.
    HungUp,
}

/// Something the simulated network did.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// An event reported to the carrier's consumer.
    Event(CarrierEvent),
    /// The contact of `call_id` hears something else now.
    Hears { call_id: i64, hearing: Hearing },
}

/// An [`Observation`] and when it happened.
#[derive(Debug, Clone)]
pub struct Observed {
    pub at: Instant,
    pub what: Observation,
}

/// How many observations a slow tap reader may fall behind before it misses some.
const TAP_CAPACITY: usize = 65_536;

struct Leg {
    call_id: i64,
    fate: Fate,
    /// The timer currently driving the leg (ringing, talking, playing); replaced or aborted.
    timer: Option<JoinHandle<()>>,
}

/// What the network keeps of a recorded or transcribed call.
struct Media {
    started: Instant,
    recording: bool,
    /// In network milliseconds from `started`.
    pauses: Vec<Pause>,
    ended_ms: Option<u64>,
    transcript: Option<JoinHandle<()>>,
}

struct Inner {
    behaviour: Behaviour,
    seed: u64,
    time_scale: f64,
    events: UnboundedSender<CarrierEvent>,
    legs: Mutex<HashMap<CallSid, Leg>>,
    /// By call id.
    media: Mutex<HashMap<i64, Media>>,
    next: AtomicU64,
    tap: broadcast::Sender<Observed>,
    /// Agents whose bridging fails ([`SimCarrier::make_unreachable`]).
    unreachable: Mutex<HashSet<i64>>,
}

/// The simulated phone network, in real time.
#[derive(Clone)]
pub struct SimCarrier {
    inner: Arc<Inner>,
}

impl SimCarrier {
    pub fn new(
        behaviour: Behaviour,
        seed: u64,
        time_scale: f64,
        events: UnboundedSender<CarrierEvent>,
    ) -> Self {
        let inner = Inner {
            behaviour,
            seed,
            time_scale,
            events,
            legs: Mutex::new(HashMap::new()),
            media: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            tap: broadcast::channel(TAP_CAPACITY).0,
            unreachable: Mutex::new(HashSet::new()),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// From now on, bridging `agent_id`'s browser into a call fails as a carrier would refuse it
    /// (the agent's browser is gone). Tests of the engine's failure paths use this.
    pub fn make_unreachable(&self, agent_id: i64) {
        self.inner
            .unreachable
            .lock()
            .expect("sim lock")
            .insert(agent_id);
    }

    /// Everything the network does from now on (see the module doc).
    pub fn tap(&self) -> broadcast::Receiver<Observed> {
        self.inner.tap.subscribe()
    }

    /// Seconds of network time a played message lasts.
    pub const MESSAGE_SECONDS: f64 = MESSAGE_SECONDS;

    /// How long `seconds` of network time take in real time.
    pub fn real(&self, seconds: f64) -> Duration {
        self.after(seconds)
    }

    fn observe(&self, what: Observation) {
        if self.inner.tap.receiver_count() > 0 {
            let _ = self.inner.tap.send(Observed {
                at: Instant::now(),
                what,
            });
        }
    }

    fn hears(&self, call_id: i64, hearing: Hearing) {
        self.observe(Observation::Hears { call_id, hearing });
    }

    fn after(&self, seconds: f64) -> Duration {
        Duration::from_secs_f64((seconds / self.inner.time_scale).max(0.0))
    }

    /// Runs `then` after `seconds` of network time, as the leg's current timer.
    fn schedule(
        &self,
        sid: &CallSid,
        seconds: f64,
        then: impl FnOnce(&SimCarrier) + Send + 'static,
    ) {
        let me = self.clone();
        let delay = self.after(seconds);
        let task = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            then(&me);
        });
        if let Some(old) = self.legs().get_mut(sid).and_then(|l| l.timer.replace(task)) {
            old.abort();
        }
    }

    fn legs(&self) -> std::sync::MutexGuard<'_, HashMap<CallSid, Leg>> {
        self.inner.legs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, e: CarrierEvent) {
        self.observe(Observation::Event(e.clone()));
        let _ = self.inner.events.send(e); // nobody listening: the demo is shutting down
    }

    fn end(&self, sid: &CallSid, end: LegEnd) {
        if let Some(leg) = self.legs().remove(sid) {
            self.hears(leg.call_id, Hearing::HungUp);
            self.emit(CarrierEvent::Ended {
                call_id: leg.call_id,
                sid: sid.clone(),
                end,
                duration_seconds: 0,
            });
            self.media_ended(leg.call_id);
        }
    }

    fn media(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Media>> {
        self.inner.media.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Network milliseconds since `started`.
    fn network_ms(&self, started: Instant) -> u64 {
        (started.elapsed().as_secs_f64() * self.inner.time_scale * 1000.0) as u64
    }

    /// The call's leg ended: its live transcript stops, open pauses close and a recording's
    /// file is ready.
    fn media_ended(&self, call_id: i64) {
        let ready = {
            let mut media = self.media();
            let Some(m) = media.get_mut(&call_id) else {
                return;
            };
            if let Some(t) = m.transcript.take() {
                t.abort();
            }
            let ms = self.network_ms(m.started);
            m.ended_ms = Some(ms);
            if let Some(p) = m.pauses.last_mut().filter(|p| p.resumed_ms.is_none()) {
                p.resumed_ms = Some(ms);
            }
            m.recording.then_some(ms)
        };
        if let Some(ms) = ready {
            self.emit(CarrierEvent::RecordingReady {
                call_id,
                url: format!("sim://recordings/{}", recording_sid(call_id)),
                duration_seconds: ms.div_ceil(1000) as u32,
            });
        }
    }

    /// Says the call's conversation: each line is reported once said, unless paused then.
    fn run_transcript(&self, call_id: i64, started: Instant) -> JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            for line in conversation(call_id as u64, u64::MAX) {
                let at = started + me.after(line.end_ms as f64 / 1000.0);
                tokio::time::sleep_until(at.into()).await;
                let paused = me.media().get(&call_id).is_some_and(|m| {
                    m.pauses.iter().any(|p| {
                        p.paused_ms < line.end_ms && p.resumed_ms.is_none_or(|r| r > line.start_ms)
                    })
                });
                if !paused {
                    me.emit(CarrierEvent::Transcript {
                        call_id,
                        speaker: line.speaker.as_str().into(),
                        text: line.text,
                        is_final: true,
                    });
                }
            }
        })
    }

    fn leg(&self, sid: &CallSid) -> Result<(i64, Fate), CarrierError> {
        self.legs()
            .get(sid)
            .map(|l| (l.call_id, l.fate))
            .ok_or_else(|| CarrierError::UnknownCall(sid.0.clone()))
    }

    fn ring_out(&self, sid: CallSid, call_id: i64, fate: Fate, timeout: f64) {
        let (at, what) = match fate {
            Fate::Human { ring, .. } if ring < timeout => (ring, Some(AnsweredBy::Human)),
            Fate::Machine { ring, .. } if ring < timeout => (ring, Some(AnsweredBy::Machine)),
            Fate::Busy { after } | Fate::Failed { after } => (after, None),
            _ => (timeout, None),
        };
        let s = sid.clone();
        self.schedule(&sid, at, move |me| match (what, fate) {
            (Some(by), _) => {
                me.hears(call_id, Hearing::Silence);
                me.emit(CarrierEvent::Answered {
                    call_id,
                    sid: s.clone(),
                    by,
                });
                if let Fate::Machine { greeting, .. } = fate {
                    let s2 = s.clone();
                    me.schedule(&s, greeting, move |me| {
                        me.emit(CarrierEvent::MachineMessageEnd { call_id, sid: s2 })
                    });
                }
            }
            (None, Fate::Busy { .. }) => me.end(&s, LegEnd::Busy),
            (None, Fate::Failed { .. }) => me.end(&s, LegEnd::Failed),
            _ => me.end(&s, LegEnd::NoAnswer),
        });
    }
}

impl SimCarrier {
    /// A caller rings one of the client's numbers (inbound call `call_id`, already recorded):
    /// the caller hears the queue's music and waits up to `patience` seconds of network time,
    /// then hangs up (an `Ended` with `Canceled`) unless an agent is connected first
    /// ([`Carrier::connect_agent`]: they talk `talk` seconds, then the caller hangs up).
    pub fn incoming(&self, call_id: i64, patience: f64, talk: f64) -> CallSid {
        let n = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let sid = CallSid(format!("SIMIN{n:08}"));
        self.legs().insert(
            sid.clone(),
            Leg {
                call_id,
                fate: Fate::Human { ring: 0.0, talk },
                timer: None,
            },
        );
        self.hears(
            call_id,
            Hearing::HoldMusic {
                url: "queue".into(),
            },
        );
        let s = sid.clone();
        self.schedule(&sid, patience, move |me| me.end(&s, LegEnd::Canceled));
        sid
    }

    /// The waiting caller leaves a voicemail: the prompt and the message take `seconds`, then
    /// the leg ends (`Completed`).
    pub fn take_voicemail(&self, sid: &CallSid, seconds: f64) -> Result<(), CarrierError> {
        let (call_id, _) = self.leg(sid)?;
        self.hears(
            call_id,
            Hearing::Message {
                url: "voicemail-prompt".into(),
            },
        );
        let s = sid.clone();
        self.schedule(sid, seconds, move |me| me.end(&s, LegEnd::Completed));
        Ok(())
    }
}

#[async_trait]
impl Carrier for SimCarrier {
    async fn dial(&self, dial: Dial) -> Result<CallSid, CarrierError> {
        let n = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let sid = CallSid(format!("SIM{n:08}"));
        let fate = self
            .inner
            .behaviour
            .fate(self.inner.seed, dial.call_id as u64, n as u32);
        self.legs().insert(
            sid.clone(),
            Leg {
                call_id: dial.call_id,
                fate,
                timer: None,
            },
        );
        self.hears(dial.call_id, Hearing::Ringing);
        self.emit(CarrierEvent::Ringing {
            call_id: dial.call_id,
            sid: sid.clone(),
        });
        self.ring_out(
            sid.clone(),
            dial.call_id,
            fate,
            f64::from(dial.ring_timeout_seconds.max(15)),
        );
        Ok(sid)
    }

    async fn connect_agent(&self, sid: &CallSid, agent_identity: &str) -> Result<(), CarrierError> {
        let (call_id, fate) = self.leg(sid)?;
        let agent_id = crate::parse_agent_identity(agent_identity).unwrap_or(0);
        if self
            .inner
            .unreachable
            .lock()
            .expect("sim lock")
            .contains(&agent_id)
        {
            return Err(CarrierError::Rejected {
                code: 0,
                message: format!("{agent_identity} is not connected to the network"),
            });
        }
        self.hears(call_id, Hearing::Agent);
        self.emit(CarrierEvent::AgentConnected { call_id, agent_id });
        let talk = match fate {
            Fate::Human { talk, .. } => talk,
            _ => 5.0,
        };
        let s = sid.clone();
        self.schedule(sid, talk, move |me| me.end(&s, LegEnd::Completed));
        Ok(())
    }

    async fn hold(&self, sid: &CallSid, music: &Audio) -> Result<(), CarrierError> {
        let (call_id, _) = self.leg(sid)?;
        let url = music.url.clone();
        self.hears(call_id, Hearing::HoldMusic { url });
        Ok(())
    }

    async fn resume(&self, sid: &CallSid) -> Result<(), CarrierError> {
        let (call_id, _) = self.leg(sid)?;
        self.hears(call_id, Hearing::Agent);
        Ok(())
    }

    /// The agent leg is released at once (nothing more reaches the agent); the contact hears the
    /// message for [`MESSAGE_SECONDS`] of network time, listening to its end (the talk timer is
    /// replaced), then the leg ends.
    async fn play_and_hang_up(&self, sid: &CallSid, message: &Audio) -> Result<(), CarrierError> {
        let (call_id, _) = self.leg(sid)?;
        let url = message.url.clone();
        self.hears(call_id, Hearing::Message { url });
        let s = sid.clone();
        self.schedule(sid, MESSAGE_SECONDS, move |me| {
            me.emit(CarrierEvent::PlaybackFinished { call_id });
            me.end(&s, LegEnd::Completed);
        });
        Ok(())
    }

    async fn hang_up(&self, sid: &CallSid) -> Result<(), CarrierError> {
        if let Some(t) = self.legs().get_mut(sid).and_then(|l| l.timer.take()) {
            t.abort();
        }
        self.end(sid, LegEnd::Canceled);
        Ok(())
    }

    async fn start_recording(&self, sid: &CallSid, call_id: i64) -> Result<String, CarrierError> {
        self.leg(sid)?;
        self.media()
            .entry(call_id)
            .or_insert_with(|| Media {
                started: Instant::now(),
                recording: true,
                pauses: Vec::new(),
                ended_ms: None,
                transcript: None,
            })
            .recording = true;
        Ok(recording_sid(call_id))
    }

    async fn pause_recording(
        &self,
        _sid: &CallSid,
        recording: &str,
        pause: bool,
    ) -> Result<(), CarrierError> {
        let call_id = recording_call(recording)?;
        let mut media = self.media();
        let m = media
            .get_mut(&call_id)
            .filter(|m| m.recording && m.ended_ms.is_none())
            .ok_or_else(|| CarrierError::UnknownCall(recording.into()))?;
        let ms = self.network_ms(m.started);
        match (pause, m.pauses.last_mut()) {
            (true, Some(p)) if p.resumed_ms.is_none() => {}
            (true, _) => m.pauses.push(Pause {
                paused_ms: ms,
                resumed_ms: None,
            }),
            (false, Some(p)) if p.resumed_ms.is_none() => p.resumed_ms = Some(ms),
            (false, _) => {}
        }
        Ok(())
    }

    async fn start_transcription(&self, sid: &CallSid, call_id: i64) -> Result<(), CarrierError> {
        self.leg(sid)?;
        let mut media = self.media();
        let m = media.entry(call_id).or_insert_with(|| Media {
            started: Instant::now(),
            recording: false,
            pauses: Vec::new(),
            ended_ms: None,
            transcript: None,
        });
        if m.transcript.is_none() {
            m.transcript = Some(self.run_transcript(call_id, m.started));
        }
        Ok(())
    }

    async fn download_recording(
        &self,
        recording: &str,
        _url: &str,
    ) -> Result<RecordingFile, CarrierError> {
        let call_id = recording_call(recording)?;
        let media = self.media();
        let (ms, pauses) = media
            .get(&call_id)
            .filter(|m| m.recording)
            .and_then(|m| Some((m.ended_ms?, m.pauses.clone())))
            .ok_or_else(|| CarrierError::UnknownCall(recording.into()))?;
        drop(media);
        let lines = conversation(call_id as u64, ms);
        Ok(RecordingFile {
            content_type: "audio/wav".into(),
            bytes: wav(&lines, ms, &pauses),
        })
    }

    async fn delete_recording(&self, recording: &str) -> Result<(), CarrierError> {
        let call_id = recording_call(recording)?;
        self.media().remove(&call_id);
        Ok(())
    }
}

/// The simulated network's id of a call's recording.
pub fn recording_sid(call_id: i64) -> String {
    format!("SIMRE{call_id:08}")
}

fn recording_call(recording: &str) -> Result<i64, CarrierError> {
    recording
        .strip_prefix("SIMRE")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| CarrierError::UnknownCall(recording.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::behaviour::Seconds;
    use palera_core::phone::PhoneNumber;

    fn everyone_answers() -> Behaviour {
        Behaviour {
            human_pct: 100.0,
            machine_pct: 0.0,
            busy_pct: 0.0,
            failed_pct: 0.0,
            ring_seconds: Seconds {
                mean: 5.0,
                sd: 0.0,
                min: 1.0,
            },
            talk_seconds: Seconds {
                mean: 20.0,
                sd: 0.0,
                min: 1.0,
            },
            human_hangup_if_waiting_seconds: 4.0,
        }
    }

    #[tokio::test]
    async fn a_dialled_call_rings_is_answered_connected_and_ends() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let carrier = SimCarrier::new(everyone_answers(), 1, 1000.0, tx);
        let number = PhoneNumber::parse_e164("+14155550100").unwrap();
        let dial = Dial {
            call_id: 7,
            to: number.clone(),
            from: number,
            amd: true,
            ring_timeout_seconds: 20,
            record: false,
        };
        let sid = carrier.dial(dial).await.unwrap();
        assert!(matches!(
            rx.recv().await,
            Some(CarrierEvent::Ringing { call_id: 7, .. })
        ));
        assert!(matches!(
            rx.recv().await,
            Some(CarrierEvent::Answered {
                by: AnsweredBy::Human,
                ..
            })
        ));
        carrier.connect_agent(&sid, "agent-3").await.unwrap();
        assert_eq!(
            rx.recv().await,
            Some(CarrierEvent::AgentConnected {
                call_id: 7,
                agent_id: 3
            })
        );
        assert!(matches!(
            rx.recv().await,
            Some(CarrierEvent::Ended {
                end: LegEnd::Completed,
                ..
            })
        ));
        assert!(carrier.hang_up(&sid).await.is_ok());
        assert!(matches!(
            carrier.hold(&sid, &Audio { url: "x".into() }).await,
            Err(CarrierError::UnknownCall(_))
        ));
    }

    #[tokio::test]
    async fn a_recorded_transcribed_call_reports_its_lines_then_its_file() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut b = everyone_answers();
        b.talk_seconds.mean = 20.0;
        let carrier = SimCarrier::new(b, 1, 50.0, tx);
        let number = PhoneNumber::parse_e164("+14155550100").unwrap();
        let dial = Dial {
            call_id: 4,
            to: number.clone(),
            from: number,
            amd: false,
            ring_timeout_seconds: 20,
            record: false,
        };
        let sid = carrier.dial(dial).await.unwrap();
        while !matches!(rx.recv().await, Some(CarrierEvent::Answered { .. })) {}
        carrier.connect_agent(&sid, "agent-3").await.unwrap();
        let rec = carrier.start_recording(&sid, 4).await.unwrap();
        carrier.start_transcription(&sid, 4).await.unwrap();
        let mut lines = Vec::new();
        let (url, seconds) = loop {
            match rx.recv().await.unwrap() {
                CarrierEvent::Transcript { speaker, text, .. } => lines.push((speaker, text)),
                CarrierEvent::RecordingReady {
                    url,
                    duration_seconds,
                    ..
                } => break (url, duration_seconds),
                _ => {}
            }
        };
        let want: Vec<(String, String)> = conversation(4, u64::MAX)
            .iter()
            .map(|l| (l.speaker.as_str().to_string(), l.text.clone()))
            .collect();
        // Lines said well before the end all arrive, in order; none said after it.
        let surely = conversation(4, 19_000).len();
        assert!(surely >= 3 && lines.len() >= surely, "{lines:?}");
        assert!(lines.len() <= conversation(4, 21_500).len(), "{lines:?}");
        assert_eq!(lines[..], want[..lines.len()], "in order");
        assert!(url.ends_with(&rec));
        assert!((20..=22).contains(&seconds), "{seconds}");
        let file = carrier.download_recording(&rec, &url).await.unwrap();
        assert_eq!(file.content_type, "audio/wav");
        assert_eq!(&file.bytes[8..12], b"WAVE");
        carrier.delete_recording(&rec).await.unwrap();
        assert!(carrier.download_recording(&rec, &url).await.is_err());
    }

    #[tokio::test]
    async fn a_played_message_is_heard_to_its_end_before_the_leg_ends() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let carrier = SimCarrier::new(everyone_answers(), 1, 100.0, tx);
        let mut tap = carrier.tap();
        let number = PhoneNumber::parse_e164("+14155550100").unwrap();
        let dial = Dial {
            call_id: 9,
            to: number.clone(),
            from: number,
            amd: false,
            ring_timeout_seconds: 20,
            record: false,
        };
        let sid = carrier.dial(dial).await.unwrap();
        while !matches!(rx.recv().await, Some(CarrierEvent::Answered { .. })) {}
        carrier.connect_agent(&sid, "agent-3").await.unwrap();
        let message = Audio {
            url: "https://media.test/vm.mp3".into(),
        };
        carrier.play_and_hang_up(&sid, &message).await.unwrap();
        let mut seen = Vec::new();
        loop {
            let o = tap.recv().await.unwrap();
            let ended = matches!(o.what, Observation::Event(CarrierEvent::Ended { .. }));
            seen.push(o);
            if ended {
                break;
            }
        }
        let at = |want: &dyn Fn(&Observation) -> bool| {
            seen.iter()
                .find(|o| want(&o.what))
                .map(|o| o.at)
                .unwrap_or_else(|| panic!("missing from {seen:#?}"))
        };
        let started = at(
            &|w| matches!(w, Observation::Hears { hearing: Hearing::Message { url }, .. } if url == &message.url),
        );
        let finished = at(&|w| {
            matches!(
                w,
                Observation::Event(CarrierEvent::PlaybackFinished { call_id: 9 })
            )
        });
        let hung_up = at(&|w| {
            matches!(
                w,
                Observation::Hears {
                    hearing: Hearing::HungUp,
                    ..
                }
            )
        });
        assert!(finished.duration_since(started) >= carrier.real(MESSAGE_SECONDS));
        assert!(
            hung_up >= finished,
            "the leg ends after the message: {seen:#?}"
        );
    }
}
