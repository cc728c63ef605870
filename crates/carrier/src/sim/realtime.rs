//! A real-time simulated [`Carrier`] for the `demo` server: the same seeded [`Behaviour`] model
//! as the scenario simulator, played out with tokio timers, reporting [`CarrierEvent`]s on an
//! mpsc channel. `time_scale` speeds the network up (2.0 = twice as fast) for tests.

use super::behaviour::{Behaviour, Fate};
use crate::{AnsweredBy, Audio, CallSid, Carrier, CarrierError, CarrierEvent, Dial, LegEnd};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

/// How long a played message lasts on the simulated network.
const MESSAGE_SECONDS: f64 = 15.0;

struct Leg {
    call_id: i64,
    fate: Fate,
    /// The timer currently driving the leg (ringing, talking, playing); replaced or aborted.
    timer: Option<JoinHandle<()>>,
}

struct Inner {
    behaviour: Behaviour,
    seed: u64,
    time_scale: f64,
    events: UnboundedSender<CarrierEvent>,
    legs: Mutex<HashMap<CallSid, Leg>>,
    next: AtomicU64,
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
            next: AtomicU64::new(1),
        };
        Self {
            inner: Arc::new(inner),
        }
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
        let _ = self.inner.events.send(e); // nobody listening: the demo is shutting down
    }

    fn end(&self, sid: &CallSid, end: LegEnd) {
        if let Some(leg) = self.legs().remove(sid) {
            self.emit(CarrierEvent::Ended {
                call_id: leg.call_id,
                sid: sid.clone(),
                end,
                duration_seconds: 0,
            });
        }
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
        self.emit(CarrierEvent::AgentConnected { call_id, agent_id });
        let talk = match fate {
            Fate::Human { talk, .. } => talk,
            _ => 5.0,
        };
        let s = sid.clone();
        self.schedule(sid, talk, move |me| me.end(&s, LegEnd::Completed));
        Ok(())
    }

    async fn hold(&self, sid: &CallSid, _music: &Audio) -> Result<(), CarrierError> {
        self.leg(sid).map(|_| ())
    }

    async fn resume(&self, sid: &CallSid) -> Result<(), CarrierError> {
        self.leg(sid).map(|_| ())
    }

    async fn play_and_hang_up(&self, sid: &CallSid, _message: &Audio) -> Result<(), CarrierError> {
        let (call_id, _) = self.leg(sid)?;
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
}
