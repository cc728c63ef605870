//! Manual calls: an agent dials a number outside any campaign. The handler has already judged
//! the number (do-not-call, calling window) and found or created its contact; here the call is
//! placed through the client's [`palera_carrier::Carrier`] with the client's first number as
//! caller ID, the agent is bridged in as soon as the contact answers, hold/resume/hang-up work as
//! on campaign calls (hold plays the standard hold music: there is no campaign to take it from).
//! A manual call that was answered ends in wrap-up like a campaign call, with the client's own
//! disposition set (`Store::client_dispositions`) and the default wrap-up limit; at the limit it
//! is saved as `wrap_up_limit`. An unanswered one frees the agent at once. While a manual call is
//! up or in wrap-up the agent's activity is ringing/on call/wrap-up, so no campaign dials for
//! them.

use super::control::{carrier_failed, Pending};
use super::lane::{Lane, Op};
use super::EngineError;
use super::{AgentActivity, CallAction, Engine};
use crate::desk::ws::DesktopMessage;
use palera_carrier::{agent_identity, Audio, CallSid, Carrier, CarrierEvent, Dial, LegEnd};
use palera_core::campaign::{CallOutcome, CpsLimiter};
use palera_core::ids::{CallId, CampaignId, ClientId, ContactId, UserId};
use palera_core::phone::PhoneNumber;
use palera_store::calls::{outcome_str, CallUpdate};
use palera_store::campaigns::{EffectKind, StoredDisposition};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long a manual call rings before giving up (DESIGN §2.1: at least 15 s).
const MANUAL_RING_SECONDS: u32 = 30;

/// What the handler asks the engine to dial.
#[derive(Debug, Clone)]
pub struct ManualDial {
    pub agent: UserId,
    pub client: ClientId,
    pub contact: ContactId,
    pub name: String,
    pub phone: PhoneNumber,
}

/// A manual call in flight or in wrap-up, or an inbound call an agent took (it runs the same
/// way, wrap-up and the client's dispositions included).
pub(super) struct Manual {
    client: ClientId,
    /// The client's disposition set, read when the call went to wrap-up.
    dispositions: Vec<StoredDisposition>,
    agent: UserId,
    sid: CallSid,
    carrier: Arc<dyn Carrier>,
    /// The call's ordered carrier requests (hold, resume, hang-up), off the loop.
    lane: Lane,
    connected: Option<Instant>,
    on_hold: bool,
    offer: DesktopMessage,
    /// Set when an answered call ended: the agent's wrap-up runs until then.
    wrap_until: Option<Instant>,
    /// An inbound call: it ends `answered`.
    inbound: bool,
    /// A campaign call found again after a restart (no driver knows it): it wraps up with the
    /// campaign's dispositions, which end the contact's attempt.
    campaign: Option<CampaignId>,
}

impl Manual {
    /// An inbound call of `client` taken by `agent`, connected at `connected`.
    pub(super) fn inbound(
        call: CallId,
        client: ClientId,
        agent: UserId,
        sid: CallSid,
        carrier: Arc<dyn Carrier>,
        connected: Instant,
        offer: DesktopMessage,
    ) -> Self {
        Self {
            client,
            dispositions: Vec::new(),
            agent,
            lane: Lane::start(call, sid.clone(), carrier.clone()),
            sid,
            carrier,
            connected: Some(connected),
            on_hold: false,
            offer,
            wrap_until: None,
            inbound: true,
            campaign: None,
        }
    }
}

impl Manual {
    /// A call the previous run left connected to `agent`, still up at the carrier (found again
    /// at start): it goes on as a manual call does.
    pub(super) fn reattached(
        call: &palera_store::calls::Call,
        agent: UserId,
        sid: CallSid,
        carrier: Arc<dyn Carrier>,
        offer: DesktopMessage,
    ) -> Self {
        Self {
            client: call.client_id,
            dispositions: Vec::new(),
            agent,
            lane: Lane::start(call.id, sid.clone(), carrier.clone()),
            sid,
            carrier,
            connected: Some(Instant::now()),
            on_hold: false,
            offer,
            wrap_until: None,
            inbound: call.direction == "inbound",
            campaign: call.campaign_id,
        }
    }

    /// Bridges `agent`'s browser into the call, on its lane (a failure is logged).
    pub(super) fn connect(&self, agent: UserId) {
        self.lane.send(Op::ConnectAgent(agent_identity(agent.0)));
    }
}

/// The carrier's answer to a manual call's dial, sent from the dial's own task.
pub struct ManualPlaced {
    dial: ManualDial,
    call: CallId,
    carrier: Arc<dyn Carrier>,
    placed: Result<CallSid, palera_carrier::CarrierError>,
    reply: oneshot::Sender<Result<CallId, EngineError>>,
}

/// The call an event is about.
pub(super) fn event_call(ev: &CarrierEvent) -> CallId {
    CallId(match ev {
        CarrierEvent::Ringing { call_id, .. }
        | CarrierEvent::Answered { call_id, .. }
        | CarrierEvent::MachineMessageEnd { call_id, .. }
        | CarrierEvent::AgentConnected { call_id, .. }
        | CarrierEvent::PlaybackFinished { call_id }
        | CarrierEvent::Ended { call_id, .. }
        | CarrierEvent::RecordingReady { call_id, .. }
        | CarrierEvent::Transcript { call_id, .. } => *call_id,
    })
}

impl Engine {
    pub(super) fn is_manual(&self, call: CallId) -> bool {
        self.manual.contains_key(&call)
    }

    /// Whether a manual call has ended and waits for its disposition.
    pub(super) fn manual_in_wrap_up(&self, call: CallId) -> bool {
        self.manual
            .get(&call)
            .is_some_and(|m| m.wrap_until.is_some())
    }

    /// The lane of a manual or taken inbound call.
    pub(super) fn manual_lane(&self, call: CallId) -> Option<&Lane> {
        self.manual.get(&call).map(|m| &m.lane)
    }

    /// A manual call's hold changed (nothing for other calls).
    pub(super) fn manual_hold_changed(&mut self, call: CallId, on_hold: bool) {
        if let Some(m) = self.manual.get_mut(&call) {
            m.on_hold = on_hold;
        }
    }

    /// A manual or inbound call's client, leg and carrier, and whether it is inbound.
    pub(super) fn manual_leg(
        &self,
        call: CallId,
    ) -> Option<(ClientId, CallSid, Arc<dyn Carrier>, bool)> {
        let m = self.manual.get(&call)?;
        Some((m.client, m.sid.clone(), m.carrier.clone(), m.inbound))
    }

    /// Places a manual call for `m.agent`, who must be free (not previewing, ringing, on a call
    /// or in wrap-up): the checks and the call's row here, the carrier's dial in a task of its own
    /// (a slow dial never holds up the loop); its answer comes back as
    /// [`super::Request::ManualPlaced`], and `reply` is answered then.
    pub(super) async fn manual_dial(
        &mut self,
        m: ManualDial,
        reply: oneshot::Sender<Result<CallId, EngineError>>,
    ) {
        let (call, carrier, dial) = match self.prepare_manual_dial(&m).await {
            Ok(ready) => ready,
            Err(e) => {
                self.answer(reply, Err(e));
                return;
            }
        };
        self.agents
            .insert(m.agent, AgentActivity::Dialling { call });
        self.placing.insert(call, Vec::new());
        let app = self.app.clone();
        tokio::spawn(async move {
            let placed = carrier.dial(dial).await;
            app.engine.send(super::Request::ManualPlaced(ManualPlaced {
                dial: m,
                call,
                carrier,
                placed,
                reply,
            }));
        });
    }

    /// Checks that `m.agent` may call now, and stores the call.
    async fn prepare_manual_dial(
        &mut self,
        m: &ManualDial,
    ) -> Result<(CallId, Arc<dyn Carrier>, Dial), EngineError> {
        self.check_free_for_manual(m.agent)?;
        let from = self.manual_caller_id(m.client).await?;
        let carrier = self
            .app
            .carriers
            .for_client(&self.app.store, m.client)
            .await
            .map_err(carrier_failed)?;
        let call = self
            .app
            .store
            .create_manual_call(
                m.client,
                m.contact,
                m.agent,
                m.phone.as_str(),
                self.app.now_ms(),
            )
            .await?;
        let dial = Dial {
            call_id: call.id.0,
            to: m.phone.clone(),
            from,
            amd: false,
            ring_timeout_seconds: MANUAL_RING_SECONDS,
            record: false,
        };
        Ok((call.id, carrier, dial))
    }

    /// The carrier answered a manual call's dial: the call is kept and its agent's desktop told
    /// (or the agent is free again), the handler hears it, then the carrier events of the call
    /// that came meanwhile are handled, in their order.
    pub(super) async fn manual_placed(&mut self, p: ManualPlaced) {
        let early = self.placing.remove(&p.call).unwrap_or_default();
        let (agent, call) = (p.dial.agent, p.call);
        let done = self.keep_manual(p.dial, call, p.carrier, p.placed).await;
        if done.is_err()
            && matches!(self.activity(agent), AgentActivity::Dialling { call: c } if c == call)
        {
            self.set_idle(agent);
        }
        self.answer(p.reply, done.map(|_| call));
        for ev in early {
            if let Err(e) = self.on_carrier(ev).await {
                tracing::error!(call = %call, error = %e, "carrier event failed");
            }
        }
    }

    async fn keep_manual(
        &mut self,
        m: ManualDial,
        call: CallId,
        carrier: Arc<dyn Carrier>,
        placed: Result<CallSid, palera_carrier::CarrierError>,
    ) -> Result<(), EngineError> {
        let sid = self.record_placed(call, placed).await?;
        self.event(call, "manual_dial", &m.agent.to_string());
        let offer = DesktopMessage::ManualCall {
            call_id: call,
            client_id: m.client,
            contact_id: m.contact,
            name: m.name.clone(),
            phone: m.phone.as_str().to_string(),
        };
        self.tell(m.agent, offer.clone());
        self.manual.insert(
            call,
            Manual {
                client: m.client,
                dispositions: Vec::new(),
                agent: m.agent,
                lane: Lane::start(call, sid.clone(), carrier.clone()),
                sid,
                carrier,
                connected: None,
                on_hold: false,
                offer,
                wrap_until: None,
                inbound: false,
                campaign: None,
            },
        );
        tracing::info!(call = %call, agent = %m.agent, "manual call dialled");
        Ok(())
    }

    /// Refuses a manual call for an agent who is busy with another call or a preview.
    fn check_free_for_manual(&self, agent: UserId) -> Result<(), EngineError> {
        match self.activity(agent) {
            AgentActivity::Idle { .. } => Ok(()),
            AgentActivity::Previewing { .. } => Err(EngineError::invalid(
                "number",
                "you are previewing a campaign contact: call or skip it first",
            )),
            _ => Err(EngineError::invalid(
                "number",
                "finish your current call (and its disposition) first",
            )),
        }
    }

    /// The number a client's manual calls come from, once the client's calls-per-second limit
    /// (shared with its campaigns, on the same monotonic clock) leaves room for one.
    async fn manual_caller_id(&mut self, client_id: ClientId) -> Result<PhoneNumber, EngineError> {
        let client = self.app.store.client(client_id).await?;
        let from = self
            .app
            .store
            .numbers(client_id)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| {
                EngineError::invalid("client_id", "the client has no phone number to call from")
            })?;
        let from =
            PhoneNumber::parse_e164(&from.number).map_err(|e| EngineError::invalid("from", e))?;
        // The same monotonic clock as the campaigns' dials: they share this limiter.
        let now = self.mono(Instant::now());
        let limiter = self
            .cps
            .entry(client_id)
            .or_insert_with(|| CpsLimiter::new(client.calls_per_second));
        if !limiter.try_acquire(now) {
            return Err(EngineError::RateLimited);
        }
        Ok(from)
    }

    /// Stores the carrier's answer to a dial: its call SID, or the call failed.
    async fn record_placed(
        &mut self,
        call: CallId,
        placed: Result<CallSid, palera_carrier::CarrierError>,
    ) -> Result<CallSid, EngineError> {
        let u = match &placed {
            Ok(sid) => CallUpdate {
                sid: Some(sid.0.clone()),
                ..Default::default()
            },
            Err(_) => CallUpdate {
                outcome: Some(CallOutcome::Failed),
                ended_at: Some(self.app.now_ms()),
                ..Default::default()
            },
        };
        self.journal.update(call, u);
        placed.map_err(carrier_failed)
    }

    /// A carrier event about a manual call.
    pub(super) async fn on_manual_event(&mut self, ev: CarrierEvent) -> Result<(), EngineError> {
        let call = event_call(&ev);
        match ev {
            CarrierEvent::Ringing { .. } => {
                let u = CallUpdate {
                    outcome: Some(CallOutcome::Ringing),
                    ..Default::default()
                };
                self.journal.update(call, u);
                Ok(())
            }
            CarrierEvent::Answered { .. } => self.manual_answered(call).await,
            CarrierEvent::AgentConnected { agent_id, .. } => {
                self.event(call, "agent_connected", &agent_id.to_string());
                Ok(())
            }
            CarrierEvent::Ended { end, .. } => self.manual_ended(call, end).await,
            _ => Ok(()),
        }
    }

    /// The contact picked up: the agent is bridged in.
    async fn manual_answered(&mut self, call: CallId) -> Result<(), EngineError> {
        let now = self.now();
        let Some(m) = self.manual.get_mut(&call).filter(|m| m.connected.is_none()) else {
            return Ok(()); // a repeated event
        };
        m.connected = Some(Instant::now());
        let agent = m.agent;
        // On the call's lane: the loop does not wait for the carrier (a failure is logged).
        m.connect(agent);
        self.agents
            .insert(agent, AgentActivity::OnCall { call, since: now });
        let u = CallUpdate {
            outcome: Some(CallOutcome::InProgress),
            answered_by: Some("human".into()),
            answered_at: Some(now.timestamp_millis()),
            connected_at: Some(now.timestamp_millis()),
            agent: Some(agent),
            ..Default::default()
        };
        self.journal.update(call, u);
        self.tell(
            agent,
            DesktopMessage::CallConnected {
                call_id: call,
                contact: None,
            },
        );
        Ok(())
    }

    /// The call ended: it is logged with its outcome; an answered call goes to wrap-up, an
    /// unanswered one frees the agent at once.
    async fn manual_ended(&mut self, call: CallId, end: LegEnd) -> Result<(), EngineError> {
        if self
            .manual
            .get(&call)
            .is_none_or(|m| m.wrap_until.is_some())
        {
            return Ok(()); // unknown, or a repeated end
        }
        let Some(m) = self.manual.remove(&call) else {
            return Ok(());
        };
        if m.inbound {
            // An inbound call was answered by definition: it ends `answered`, then the agent
            // wraps up with the client's dispositions like after a manual call.
            let now = self.app.now_ms();
            let answered = palera_store::inbound::InboundEnd::Answered;
            self.journal.flush().await; // the queued record goes before the direct end
            self.app.store.end_inbound_call(call, answered, now).await?;
            self.event(call, "ended", "answered");
            tracing::info!(call = %call, "inbound call ended");
            return self.manual_wrap_up(call, m).await;
        }
        let outcome = match (m.connected, end) {
            (Some(_), _) => CallOutcome::Completed,
            (None, LegEnd::Busy) => CallOutcome::Busy,
            (None, LegEnd::NoAnswer | LegEnd::Canceled) => CallOutcome::NoAnswer,
            (None, _) => CallOutcome::Failed,
        };
        let u = CallUpdate {
            outcome: Some(outcome),
            ended_at: Some(self.app.now_ms()),
            ..Default::default()
        };
        self.journal.update(call, u);
        self.event(call, "ended", outcome_str(outcome));
        if m.connected.is_some() {
            return self.manual_wrap_up(call, m).await;
        }
        self.set_idle(m.agent);
        self.tell(
            m.agent,
            DesktopMessage::CallCleared {
                call_id: Some(call),
            },
        );
        tracing::info!(call = %call, outcome = outcome_str(outcome), "manual call ended");
        Ok(())
    }

    /// Hold, resume or hang up a manual call (only its agent may): the request for its lane.
    pub(super) async fn manual_control(
        &mut self,
        call: CallId,
        agent: UserId,
        action: CallAction,
    ) -> Result<Option<Pending>, EngineError> {
        let Some(m) = self.manual.get(&call).filter(|m| m.agent == agent) else {
            return Err(EngineError::NotFound);
        };
        if m.wrap_until.is_some() {
            return Err(EngineError::invalid("call", "the call has ended"));
        }
        let op = match action {
            CallAction::HangUp => {
                // The agent's act, recorded as it is asked (the call's end may come first).
                self.event(call, action.event(), "");
                Op::HangUp
            }
            _ if m.connected.is_none() => {
                return Err(EngineError::invalid(
                    "call",
                    "the call is not connected yet",
                ))
            }
            CallAction::VoicemailDrop => {
                return Err(EngineError::invalid(
                    "call",
                    "a manual call has no campaign voicemail message to drop",
                ))
            }
            CallAction::Hold if m.on_hold => return Ok(None),
            CallAction::Resume if !m.on_hold => return Ok(None),
            CallAction::Hold => Op::Hold(Audio {
                url: crate::twilio::inbound::HOLD_MUSIC.into(),
            }),
            CallAction::Resume => Op::Resume,
            // Handled before (`recording_control`).
            CallAction::PauseRecording | CallAction::ResumeRecording => return Ok(None),
        };
        Ok(Some(Pending::op(op)))
    }

    /// The desktop messages of the agent's manual call, for a desktop that (re)connects.
    pub(super) fn manual_current(&self, agent: UserId) -> Option<Vec<DesktopMessage>> {
        let (id, m) = self.manual.iter().find(|(_, m)| m.agent == agent)?;
        let mut out = vec![m.offer.clone()];
        if let AgentActivity::WrapUp { call, until, .. } = self.activity(agent) {
            if call == *id {
                let left = until.saturating_duration_since(Instant::now()).as_secs() as u32;
                out.push(DesktopMessage::CallEnded {
                    call_id: call,
                    wrap_up_seconds: left,
                    dispositions: m.dispositions.clone(),
                });
                return Some(out);
            }
        }
        if m.connected.is_some() {
            out.push(DesktopMessage::CallConnected {
                call_id: *id,
                contact: None,
            });
        }
        if m.on_hold {
            out.push(DesktopMessage::CallHold {
                call_id: *id,
                on_hold: true,
            });
        }
        Some(out)
    }

    /// An answered manual call ended: the agent wraps up with the client's dispositions.
    async fn manual_wrap_up(&mut self, call: CallId, mut m: Manual) -> Result<(), EngineError> {
        let seconds = palera_core::campaign::CampaignSettings::default().wrap_up_seconds;
        let limit = Duration::from_secs(u64::from(seconds));
        let until = Instant::now() + limit;
        let until_at = self.now() + chrono::Duration::seconds(i64::from(seconds));
        m.dispositions = match m.campaign {
            Some(c) => self.app.store.dispositions(m.client, c).await?,
            None => self.app.store.client_dispositions(m.client).await?,
        };
        m.wrap_until = Some(until);
        let (agent, dispositions) = (m.agent, m.dispositions.clone());
        self.manual.insert(call, m);
        self.agents.insert(
            agent,
            AgentActivity::WrapUp {
                call,
                until,
                until_at,
            },
        );
        self.tell(
            agent,
            DesktopMessage::CallEnded {
                call_id: call,
                wrap_up_seconds: seconds,
                dispositions,
            },
        );
        tracing::info!(call = %call, agent = %agent, "manual call in wrap-up");
        Ok(())
    }

    /// The disposition of a manual call, from the client's set: DNC and list moves apply to
    /// the contact (a callback is the agent's to keep: it goes on their callback list); the
    /// agent is free again.
    pub(super) async fn dispose_manual(
        &mut self,
        row: &palera_store::calls::Call,
        disposition: i64,
        notes: &str,
        callback_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<(), EngineError> {
        let call = row.id;
        let Some(contact) = row.contact_id else {
            return Err(EngineError::invalid("call", "has no contact"));
        };
        if self.is_manual(call) && !self.manual_in_wrap_up(call) {
            return Err(EngineError::invalid(
                "call",
                "the call is still up: hang up first",
            ));
        }
        let set = self.app.store.client_dispositions(row.client_id).await?;
        let Some(d) = set.iter().find(|d| d.id == disposition) else {
            return Err(EngineError::invalid(
                "disposition_id",
                "is not one of the client's dispositions for calls outside campaigns",
            ));
        };
        if d.effect == EffectKind::Callback && callback_at.is_none() {
            return Err(EngineError::invalid(
                "callback_at",
                "is required for a callback disposition",
            ));
        }
        if d.effect != EffectKind::Callback {
            let effect = self.effect(d.effect, d.target_list, callback_at)?;
            self.apply_outside(row.client_id, contact, &row.phone, effect)
                .await?;
        }
        self.app
            .store
            .set_call_disposition(call, None, &d.label, notes)
            .await?;
        self.event(call, "disposition", &d.label);
        self.end_manual_wrap_up(call);
        tracing::info!(call = %call, disposition = %d.label, "manual call disposition saved");
        Ok(())
    }

    /// Frees the agent of a manual call in wrap-up.
    pub(super) fn end_manual_wrap_up(&mut self, call: CallId) {
        let Some(m) = self.manual.remove(&call) else {
            return;
        };
        if matches!(self.activity(m.agent), AgentActivity::WrapUp { call: c, .. } if c == call) {
            self.set_idle(m.agent);
            self.tell(
                m.agent,
                DesktopMessage::CallCleared {
                    call_id: Some(call),
                },
            );
        }
    }

    /// Manual wrap-ups past their limit are saved as `wrap_up_limit` (as campaign calls are).
    pub(super) async fn manual_wrap_ups_expired(&mut self) -> Result<(), EngineError> {
        let now = Instant::now();
        let due: Vec<CallId> = self
            .manual
            .iter()
            .filter(|(_, m)| m.wrap_until.is_some_and(|u| u <= now))
            .map(|(id, _)| *id)
            .collect();
        for call in due {
            let campaign = self.manual.get(&call).and_then(|m| m.campaign);
            if let Some(campaign) = campaign {
                // As the campaign driver does at the limit: the attempt ends, to be retried.
                self.journal.flush().await; // the row is read back
                let row = self.app.store.call_unscoped(call).await?;
                if let Some(contact) = row.contact_id {
                    let auto = palera_core::campaign::Disposition {
                        name: "wrap_up_limit".into(),
                        effect: palera_core::campaign::DispositionEffect::Retry,
                    };
                    self.complete_attempt(campaign, contact, call, &auto)
                        .await?;
                }
            }
            self.app
                .store
                .set_call_disposition(call, None, "wrap_up_limit", "")
                .await?;
            self.event(call, "disposition", "wrap_up_limit");
            self.end_manual_wrap_up(call);
            tracing::info!(call = %call, "manual call wrap-up limit reached");
        }
        Ok(())
    }
}
