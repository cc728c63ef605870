//! Calls in flight on the server: carrier events become inputs of the campaign's driver (answered
//! by a person or a machine, the beep, ended), and the driver's call commands are carried out
//! here with the store, the carrier and the desktops (bridge the agent, the identification
//! message of an abandoned call, the machine message, wrap-up, the contact's attempt). Also the
//! agent's disposition and the live snapshot pages show.

use super::lane::Op;
use super::runner::{contact_tz, RunnerRef};
use super::EngineError;
use super::{AgentActivity, ContactSummary, Engine};
use crate::desk::ws::{CallAudio, DesktopMessage};
use chrono::{DateTime, Utc};
use palera_carrier::{agent_identity, AnsweredBy, CallSid, Carrier, LegEnd};
use palera_core::campaign::driver::{Answer, Command, LineEnd, Now};
use palera_core::campaign::{CallOutcome, CampaignSettings, Disposition, DispositionEffect};
use palera_core::ids::{CallId, CampaignId, ClientId, ContactId, UserId};
use palera_store::calls::{outcome_str, CallUpdate};
use palera_store::campaigns::EffectKind;
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// Where a live campaign call is, with the instants the engine times it by (the core driver's
/// `Phase` has the same steps without the clock).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum CallPhase {
    Ringing,
    /// Answered, the answering-machine verdict still to come (Twilio's async AMD reports the
    /// answer first, then who answered): nobody is connected yet.
    Detecting {
        since: Instant,
    },
    /// A person answered and waits for an agent (predictive).
    Waiting {
        since: Instant,
    },
    Connected {
        since: Instant,
    },
    /// An answering machine: never given to an agent.
    Machine,
    /// Playing the identification message to a person nobody could take.
    Abandoned,
    /// The agent dropped the voicemail message and was released; it plays to the contact, then
    /// the call ends.
    Dropped {
        agent: UserId,
    },
}

pub(super) struct Live {
    pub campaign: CampaignId,
    /// The campaign runner whose driver placed the call.
    pub generation: u64,
    pub contact: ContactSummary,
    pub agent: Option<UserId>,
    pub phase: CallPhase,
    /// When the agent's bridge was asked for (stored as `connected_at` once the carrier bridged
    /// them; the carrier reports the agent connected before it answers the request).
    pub bridging_at: Option<i64>,
    /// A disposition was saved while the call was still up.
    pub disposed: bool,
    /// The contact is on hold (hears the campaign's hold music).
    pub on_hold: bool,
    /// The call's carrier requests, in order, off the engine loop.
    pub lane: super::lane::Lane,
    /// The contact's leg and its carrier (recording and transcription run beside the lane).
    pub sid: CallSid,
    pub carrier: Arc<dyn Carrier>,
}

impl Live {
    pub fn new(
        id: CallId,
        campaign: CampaignId,
        contact: ContactSummary,
        agent: Option<UserId>,
        sid: CallSid,
        carrier: Arc<dyn Carrier>,
    ) -> Self {
        let lane = super::lane::Lane::start(id, sid.clone(), carrier.clone());
        Self {
            sid,
            carrier,
            campaign,
            generation: 0,
            contact,
            agent,
            lane,
            phase: CallPhase::Ringing,
            bridging_at: None,
            disposed: false,
            on_hold: false,
        }
    }
}

/// One agent of a campaign on the live page.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct AgentLive {
    pub id: UserId,
    pub name: String,
    pub voice_state: String,
    /// idle, previewing, ringing, on_call, wrap_up.
    pub activity: String,
    /// Contacts the agent holds in this campaign (preview, progressive).
    pub held: usize,
    pub ready_for_campaign: bool,
}

/// The engine's live view of one campaign.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct LiveSnapshot {
    pub running: bool,
    pub agents: Vec<AgentLive>,
    pub lines_in_use: usize,
    pub humans_waiting: usize,
    pub due_contacts: usize,
}

impl Engine {
    pub(super) async fn settings_of(
        &self,
        id: CampaignId,
    ) -> Result<(CampaignSettings, Option<String>), EngineError> {
        if let Some(r) = self.runners.get(&id) {
            return Ok((
                r.campaign.settings.clone(),
                r.campaign.voicemail_url.clone(),
            ));
        }
        if let Some(r) = self.draining.iter().find(|r| r.campaign.id == id) {
            return Ok((
                r.campaign.settings.clone(),
                r.campaign.voicemail_url.clone(),
            ));
        }
        let c = self.app.store.campaign_unscoped(id).await?;
        Ok((c.settings, c.voicemail_url))
    }

    /// Adds an event to a call's log (written behind the loop: [`super::journal`]).
    pub(super) fn event(&self, call: CallId, kind: &str, detail: &str) {
        self.journal.event(call, kind, detail, self.app.now_ms());
    }

    /// The runner whose driver placed a live call.
    pub(super) fn runner_of_live(&self, call: CallId) -> Option<RunnerRef> {
        self.calls.get(&call).map(|l| RunnerRef {
            campaign: l.campaign,
            generation: l.generation,
        })
    }

    pub(super) async fn on_ringing(&mut self, call: CallId) -> Result<(), EngineError> {
        if !self.calls.contains_key(&call) {
            return Ok(());
        }
        let u = CallUpdate {
            outcome: Some(CallOutcome::Ringing),
            ..Default::default()
        };
        self.journal.update(call, u);
        Ok(())
    }

    /// A call was answered: the driver decides (with AMD on, an answer of unknown kind waits for
    /// the verdict; a verdict of unknown then counts as a person, as Twilio advises).
    pub(super) async fn on_answered(
        &mut self,
        call: CallId,
        by: AnsweredBy,
    ) -> Result<(), EngineError> {
        let Some(at) = self.runner_of_live(call) else {
            return Ok(());
        };
        let now = self.clock();
        let detecting = matches!(self.calls[&call].phase, CallPhase::Detecting { .. });
        let by = match by {
            AnsweredBy::Human => Answer::Human,
            AnsweredBy::Machine => Answer::Machine,
            // The second report of async AMD: unknown is a person.
            AnsweredBy::Unknown if detecting => Answer::Human,
            AnsweredBy::Unknown => Answer::Unknown,
        };
        let Some(r) = self.runner_mut(at) else {
            return Ok(());
        };
        let cmds = r.driver.answered(now, call, by);
        self.execute(at, cmds).await;
        Ok(())
    }

    /// The machine's greeting ended.
    pub(super) async fn on_beep(&mut self, call: CallId) -> Result<(), EngineError> {
        let Some(at) = self.runner_of_live(call) else {
            return Ok(());
        };
        let now = self.clock();
        let Some(r) = self.runner_mut(at) else {
            return Ok(());
        };
        let cmds = r.driver.beep(now, call);
        self.execute(at, cmds).await;
        Ok(())
    }

    /// The line ended.
    pub(super) async fn on_ended(
        &mut self,
        call: CallId,
        end: LegEnd,
        _duration_seconds: u32,
    ) -> Result<(), EngineError> {
        let Some(at) = self.runner_of_live(call) else {
            return Ok(()); // repeated, or ended before a restart
        };
        let now = self.clock();
        let end = match end {
            LegEnd::Completed => LineEnd::Completed,
            LegEnd::Busy => LineEnd::Busy,
            LegEnd::NoAnswer => LineEnd::NoAnswer,
            LegEnd::Failed | LegEnd::Canceled => LineEnd::Failed,
        };
        let cmds = match self.runner_mut(at) {
            Some(r) => r.driver.ended(now, call, end),
            None => Vec::new(),
        };
        if cmds.is_empty() {
            self.calls.remove(&call);
        }
        self.execute(at, cmds).await;
        Ok(())
    }

    pub(super) async fn on_agent_connected(
        &mut self,
        call: CallId,
        agent: UserId,
    ) -> Result<(), EngineError> {
        self.event(call, "agent_connected", &agent.to_string());
        Ok(())
    }

    /// Carries out one driver command; returns the driver's answer to what happened. A dial is
    /// stamped with the instant the driver `decided` it at, when it came from a poll (calls per
    /// second are counted there).
    pub(super) async fn carry_out(
        &mut self,
        at: RunnerRef,
        cmd: Command,
        decided: Option<Now>,
    ) -> Result<Vec<Command>, EngineError> {
        match cmd {
            Command::Hold { .. } => {} // batched by `execute`
            Command::Dial { contact, agent } => {
                return Ok(self.dial(at, contact, agent, decided).await)
            }
            Command::Preview { agent, contact } => self.offer_preview(at, agent, contact),
            Command::PreviewWithdrawn { agent, .. } => {
                self.set_idle(agent);
                self.tell(agent, DesktopMessage::CallCleared { call_id: None });
            }
            // The driver hears "connected" once the carrier bridged the agent (`agent_bridged`).
            Command::Connect { call, agent } => self.connect(call, agent).await?,
            Command::Wait { call } => {
                if let Some(l) = self.calls.get_mut(&call) {
                    l.phase = CallPhase::Waiting {
                        since: Instant::now(),
                    };
                }
                self.event(call, "waiting_for_agent", "");
            }
            Command::Abandoned { call, play_message } => {
                if play_message {
                    self.abandon(call).await?;
                }
            }
            Command::Detecting { call } => self.await_verdict(call).await?,
            Command::Verdict { call, human } => self.verdict(call, human).await?,
            Command::Machine { call, hang_up } => self.on_machine(call, hang_up).await?,
            Command::LeaveMessage { call } => self.leave_message(call).await?,
            Command::HangUp { call } => {
                if let Some(l) = self.calls.get_mut(&call) {
                    l.disposed = true;
                    l.lane.send(Op::HangUp);
                }
            }
            Command::Ended { call, outcome, .. } => self.call_ended(call, outcome).await?,
            Command::WrapUp { agent, call, until } => {
                self.start_wrap_up(at.campaign, call, agent, until).await?
            }
            Command::Completed {
                call,
                contact,
                disposition,
                ..
            } => {
                self.attempt_completed(at, call, contact, &disposition)
                    .await?
            }
            Command::AgentFree { agent, call } => {
                if !matches!(self.activity(agent), AgentActivity::Idle { .. }) {
                    self.set_idle(agent);
                    self.tell(agent, DesktopMessage::CallCleared { call_id: call });
                }
            }
            Command::AgentInactive { agent } => {
                tracing::info!(campaign = %at.campaign, agent = %agent, "agent inactive: contacts redistributed");
            }
        }
        Ok(Vec::new())
    }

    /// The call is over at the carrier: its outcome is stored.
    async fn call_ended(&mut self, call: CallId, outcome: CallOutcome) -> Result<(), EngineError> {
        if let Some(Live {
            phase: CallPhase::Dropped { agent },
            ..
        }) = self.calls.remove(&call)
        {
            // The dropped message played to its end: the agent's phone panel is told once the
            // attempt is completed and stored (`attempt_completed`).
            self.dropped.insert(call, agent);
        }
        let u = CallUpdate {
            outcome: Some(outcome),
            ended_at: Some(self.app.now_ms()),
            ..Default::default()
        };
        self.journal.update(call, u);
        self.event(call, "ended", outcome_str(outcome));
        Ok(())
    }

    /// The attempt is over (disposed by the agent or the system): the store is the record, the
    /// same core rule applied to its row, once.
    async fn attempt_completed(
        &mut self,
        at: RunnerRef,
        call: CallId,
        contact: ContactId,
        disposition: &Disposition,
    ) -> Result<(), EngineError> {
        self.complete_attempt(at.campaign, contact, call, disposition)
            .await?;
        if self.disposing != Some(call) {
            self.app
                .store
                .set_call_disposition(call, None, &disposition.name, "")
                .await?;
        }
        if let Some(agent) = self.dropped.remove(&call) {
            self.tell(
                agent,
                DesktopMessage::CallAudio {
                    call_id: call,
                    audio: CallAudio::Ended,
                },
            );
        }
        Ok(())
    }

    /// Answered, the AMD verdict pending.
    async fn await_verdict(&mut self, call: CallId) -> Result<(), EngineError> {
        if let Some(l) = self.calls.get_mut(&call) {
            l.phase = CallPhase::Detecting {
                since: Instant::now(),
            };
        }
        let u = CallUpdate {
            outcome: Some(CallOutcome::InProgress),
            answered_at: Some(self.app.now_ms()),
            ..Default::default()
        };
        self.journal.update(call, u);
        self.event(call, "answered_detecting", "");
        Ok(())
    }

    /// Who answered is known.
    async fn verdict(&mut self, call: CallId, human: bool) -> Result<(), EngineError> {
        let first_report = self
            .calls
            .get(&call)
            .is_some_and(|l| l.phase == CallPhase::Ringing);
        let u = CallUpdate {
            outcome: Some(if human {
                CallOutcome::InProgress
            } else {
                CallOutcome::Machine
            }),
            answered_by: Some(if human { "human" } else { "machine" }.into()),
            answered_at: first_report.then(|| self.app.now_ms()),
            ..Default::default()
        };
        self.journal.update(call, u);
        Ok(())
    }

    /// A machine answered: the driver released the agent; hang up now, or wait for the beep.
    async fn on_machine(&mut self, call: CallId, hang_up: bool) -> Result<(), EngineError> {
        let Some(l) = self.calls.get_mut(&call) else {
            return Ok(());
        };
        l.phase = CallPhase::Machine;
        l.agent = None;
        if hang_up {
            l.lane.send(Op::HangUp);
        }
        self.event(call, "machine_detected", "");
        Ok(())
    }

    /// The machine's greeting ended: leave the campaign's message (or hang up without one).
    async fn leave_message(&mut self, call: CallId) -> Result<(), EngineError> {
        let Some(l) = self.calls.get(&call) else {
            return Ok(());
        };
        let campaign = l.campaign;
        let (_, url) = self.settings_of(campaign).await?;
        self.to_lane(call, Op::message_or_hang_up(url.as_deref()));
        if let Some(url) = url {
            self.event(call, "voicemail_left", &url);
        }
        Ok(())
    }

    /// Bridges `agent` into the call.
    async fn connect(&mut self, call: CallId, agent: UserId) -> Result<(), EngineError> {
        let now = self.now();
        let Some(l) = self.calls.get_mut(&call) else {
            return Ok(());
        };
        l.agent = Some(agent);
        l.phase = CallPhase::Connected {
            since: Instant::now(),
        };
        l.bridging_at = Some(now.timestamp_millis());
        self.agents
            .insert(agent, AgentActivity::OnCall { call, since: now });
        // The store, the driver and the desktop hear "connected" once the carrier bridged the
        // agent, through the loop (`agent_bridged`).
        if let Some(l) = self.calls.get(&call) {
            let engine = self.app.clone();
            l.lane
                .send_then(Op::ConnectAgent(agent_identity(agent.0)), move |failure| {
                    engine.engine.send(super::Request::AgentBridged {
                        call,
                        agent,
                        failure: failure.map(|e| e.to_string()),
                    });
                });
        }
        tracing::info!(call = %call, agent = %agent, "connected");
        Ok(())
    }

    /// Queues `op` on the call's lane (nothing when the call is gone).
    fn to_lane(&self, call: CallId, op: Op) {
        if let Some(l) = self.calls.get(&call) {
            l.lane.send(op);
        }
    }

    /// The carrier's answer to bridging `agent` into `call`. Bridged: the driver and the desktop
    /// hear "connected". Refused (the agent's browser is gone): the agent goes to Standby and is
    /// told, and the driver places the person with another agent or, past the grace, abandons
    /// the call with its identification message; the desktop never hears "connected".
    pub(super) async fn agent_bridged(
        &mut self,
        call: CallId,
        agent: UserId,
        failure: Option<String>,
    ) -> Result<(), EngineError> {
        let Some(l) = self.calls.get(&call).filter(|l| l.agent == Some(agent)) else {
            return Ok(());
        };
        let at = self.runner_of_call(l.campaign, call);
        let now = self.clock();
        if let Some(reason) = failure {
            return self.bridge_failed(at, call, agent, &reason).await;
        }
        if !matches!(l.phase, CallPhase::Connected { .. }) {
            return Ok(());
        }
        let contact = Some(l.contact.clone());
        let u = CallUpdate {
            agent: Some(agent),
            connected_at: Some(
                l.bridging_at
                    .unwrap_or_else(|| self.now().timestamp_millis()),
            ),
            ..Default::default()
        };
        // The agent hears first: the person is on the line now, and the write below may wait
        // its turn behind other writers (SQLite has one).
        self.tell(
            agent,
            DesktopMessage::CallConnected {
                call_id: call,
                contact,
            },
        );
        self.journal.update(call, u);
        if let Some(at) = at {
            let cmds = match self.runner_mut(at) {
                Some(r) => r.driver.connected(now, call),
                None => Vec::new(),
            };
            self.execute(at, cmds).await;
        }
        Ok(())
    }

    async fn bridge_failed(
        &mut self,
        at: Option<RunnerRef>,
        call: CallId,
        agent: UserId,
        reason: &str,
    ) -> Result<(), EngineError> {
        tracing::warn!(call = %call, agent = %agent, reason, "the agent could not be bridged");
        if let Some(l) = self.calls.get_mut(&call) {
            l.agent = None;
            l.phase = CallPhase::Waiting {
                since: Instant::now(),
            };
        }
        self.set_idle(agent);
        self.event(call, "agent_unreachable", &agent.to_string());
        let user = self.app.store.user(agent).await?;
        crate::desk::ws::change_voice_state(
            &self.app,
            &user,
            palera_core::user::VoiceState::Standby,
            "bridge_failed",
        )
        .await?;
        self.tell(
            agent,
            DesktopMessage::CallCleared {
                call_id: Some(call),
            },
        );
        self.tell(
            agent,
            DesktopMessage::Error {
                field: None,
                message: format!(
                    "A call could not be connected to you ({reason}); you are on Standby. \
                     Check your headset and connection, then go Ready again."
                ),
            },
        );
        if let Some(at) = at {
            let now = self.clock();
            let cmds = match self.runner_mut(at) {
                Some(r) => r.driver.agent_unreachable(now, agent),
                None => Vec::new(),
            };
            self.execute(at, cmds).await;
        }
        Ok(())
    }

    /// The earliest instant the engine must act without an event: a driver's deadline.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.runners
            .values()
            .chain(self.draining.iter())
            .filter_map(|r| r.driver.next_deadline())
            .min()
            .map(|m| self.instant(m))
    }

    /// Nobody could take the person within the grace: play the identification message at once.
    async fn abandon(&mut self, call: CallId) -> Result<(), EngineError> {
        let Some(l) = self.calls.get_mut(&call) else {
            return Ok(());
        };
        l.phase = CallPhase::Abandoned;
        let campaign = l.campaign;
        let (_, url) = self.settings_of(campaign).await?;
        // The message goes to the carrier first: it must start within 2 s of the answer.
        self.to_lane(call, Op::message_or_hang_up(url.as_deref()));
        let u = CallUpdate {
            outcome: Some(CallOutcome::AbandonedNoAgent),
            ..Default::default()
        };
        self.journal.update(call, u);
        match url {
            Some(url) => self.event(call, "identification_played", &url),
            None => self.event(call, "abandoned_without_message", ""),
        }
        tracing::info!(call = %call, "abandoned: no agent within 2 s");
        Ok(())
    }

    async fn start_wrap_up(
        &mut self,
        campaign: CampaignId,
        call: CallId,
        agent: UserId,
        until: i64,
    ) -> Result<(), EngineError> {
        let (settings, _) = self.settings_of(campaign).await?;
        let until_at = self.now() + chrono::Duration::seconds(i64::from(settings.wrap_up_seconds));
        self.agents.insert(
            agent,
            AgentActivity::WrapUp {
                call,
                until: self.instant(until),
                until_at,
            },
        );
        let dispositions = self.app.store.dispositions_unscoped(campaign).await?;
        self.tell(
            agent,
            DesktopMessage::CallEnded {
                call_id: call,
                wrap_up_seconds: settings.wrap_up_seconds,
                dispositions,
            },
        );
        Ok(())
    }

    /// Ends the contact's attempt of `call` with `disposition` (once: a claim already released
    /// is left alone).
    pub(super) async fn complete_attempt(
        &mut self,
        campaign: CampaignId,
        contact: ContactId,
        call: CallId,
        disposition: &Disposition,
    ) -> Result<(), EngineError> {
        let cc = self.app.store.campaign_contact(campaign, contact).await?;
        if cc.in_flight != Some(call) {
            return Ok(());
        }
        let (settings, _) = self.settings_of(campaign).await?;
        let now = self.now();
        let mut a = cc.attempts.clone();
        a.complete(disposition, &settings, contact_tz(&cc), now);
        self.app
            .store
            .save_attempts(campaign, contact, &a, now.timestamp_millis())
            .await?;
        Ok(())
    }

    /// An agent's (or supervisor's) disposition: checked against the campaign's set, its effect
    /// applied to the contact (and to DNC or lists), then the agent is free again.
    pub(super) async fn dispose(
        &mut self,
        call: CallId,
        by: UserId,
        staff: bool,
        disposition: i64,
        notes: &str,
        callback_at: Option<DateTime<Utc>>,
    ) -> Result<(), EngineError> {
        // The row is read back (its agent is written behind the loop).
        self.journal.flush().await;
        let row = self.app.store.call_unscoped(call).await?;
        if !staff && row.agent_id != Some(by) {
            return Err(EngineError::NotFound);
        }
        if row.campaign_id.is_none() && self.is_manual(call) {
            return self
                .dispose_manual(&row, disposition, notes, callback_at)
                .await;
        }
        if self.is_manual(call) && !self.manual_in_wrap_up(call) {
            return Err(EngineError::invalid(
                "call",
                "the call is still up: hang up first",
            ));
        }
        let (campaign, contact) = self.disposable(&row)?;
        let set = self.app.store.dispositions(row.client_id, campaign).await?;
        let Some(d) = set.iter().find(|d| d.id == disposition) else {
            return Err(EngineError::invalid(
                "disposition_id",
                "is not one of this campaign's dispositions",
            ));
        };
        let effect = self.effect(d.effect, d.target_list, callback_at)?;
        let core = Disposition {
            name: d.label.clone(),
            effect,
        };
        let now = self.clock();
        let driven = match self.runner_of_call(campaign, call) {
            Some(at) => {
                let r = self.runner_mut(at).expect("runner");
                let cmds = r
                    .driver
                    .disposed(now, call, core.clone())
                    .map_err(|e| EngineError::invalid("call", e.to_string()))?;
                Some((at, cmds))
            }
            None => None,
        };
        self.apply_outside(row.client_id, contact, &row.phone, effect)
            .await?;
        self.app
            .store
            .set_call_disposition(call, Some(d.id), &d.label, notes)
            .await?;
        self.event(call, "disposition", &d.label);
        tracing::info!(call = %call, disposition = %d.label, "disposition saved");
        match driven {
            Some((at, cmds)) => {
                self.disposing = Some(call);
                self.execute(at, cmds).await;
                self.disposing = None;
            }
            None => {
                // No driver knows the call (its campaign was restarted): the store alone.
                self.complete_attempt(campaign, contact, call, &core)
                    .await?;
                self.release_after_disposition(call, row.agent_id).await;
            }
        }
        Ok(())
    }

    /// The campaign and contact of a campaign call that may get its disposition now: not yet
    /// disposed, and (while live) connected to an agent.
    fn disposable(
        &self,
        row: &palera_store::calls::Call,
    ) -> Result<(CampaignId, ContactId), EngineError> {
        let (Some(campaign), Some(contact)) = (row.campaign_id, row.contact_id) else {
            return Err(EngineError::invalid("call", "is not a campaign call"));
        };
        if row.disposition.is_some() {
            return Err(EngineError::conflict(
                "disposition_id",
                "this call already has a disposition",
            ));
        }
        match self.calls.get(&row.id) {
            Some(l) if !matches!(l.phase, CallPhase::Connected { .. }) => Err(
                EngineError::invalid("call", "the call is not connected to an agent"),
            ),
            _ => Ok((campaign, contact)),
        }
    }

    pub(super) fn effect(
        &self,
        kind: EffectKind,
        target: Option<palera_core::ids::ListId>,
        callback_at: Option<DateTime<Utc>>,
    ) -> Result<DispositionEffect, EngineError> {
        Ok(match kind {
            EffectKind::Final => DispositionEffect::Final,
            EffectKind::Retry => DispositionEffect::Retry,
            EffectKind::Dnc => DispositionEffect::Dnc,
            EffectKind::Callback => {
                let at = callback_at.ok_or_else(|| {
                    EngineError::invalid("callback_at", "is required for a callback disposition")
                })?;
                if at <= self.now() {
                    return Err(EngineError::invalid("callback_at", "must be in the future"));
                }
                DispositionEffect::Callback { at }
            }
            EffectKind::MoveToList => DispositionEffect::MoveToList {
                list: target.ok_or_else(|| {
                    EngineError::invalid("disposition_id", "this disposition has no target list")
                })?,
            },
        })
    }

    /// What a disposition does beyond the campaign: DNC, or a move to another list.
    pub(super) async fn apply_outside(
        &self,
        client: ClientId,
        contact: ContactId,
        phone: &str,
        effect: DispositionEffect,
    ) -> Result<(), EngineError> {
        match effect {
            DispositionEffect::Dnc => {
                let phone = palera_core::phone::PhoneNumber::parse_e164(phone)
                    .map_err(|e| EngineError::invalid("phone", e))?;
                self.app.contacts.add_dnc(client, &phone).await?;
            }
            DispositionEffect::MoveToList { list } => {
                self.app
                    .contacts
                    .move_contact(client, contact, list)
                    .await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// After a disposition the agent is free: at once when in wrap-up, when the call ends if it
    /// is still up (it is hung up now).
    async fn release_after_disposition(&mut self, call: CallId, agent: Option<UserId>) {
        if self.is_manual(call) {
            // A campaign call found again after a restart runs as a manual call does.
            self.end_manual_wrap_up(call);
            return;
        }
        if let Some(l) = self.calls.get_mut(&call) {
            l.disposed = true;
            l.lane.send(Op::HangUp);
            return;
        }
        if let Some(a) = agent {
            if matches!(self.activity(a), AgentActivity::WrapUp { call: c, .. } if c == call) {
                self.set_idle(a);
                self.tell(
                    a,
                    DesktopMessage::CallCleared {
                        call_id: Some(call),
                    },
                );
            }
        }
    }

    /// What the live page shows about one campaign.
    pub(super) fn snapshot(&self, id: CampaignId) -> LiveSnapshot {
        let Some(r) = self.runners.get(&id) else {
            return LiveSnapshot::default();
        };
        let (_, waiting) = r.driver.lines();
        let busy = self.calls.values().filter(|l| l.campaign == id).count();
        let agents = r
            .campaign
            .agents
            .iter()
            .map(|a| {
                let u = self.users.get(a);
                AgentLive {
                    id: *a,
                    name: u.map_or_else(|| a.to_string(), |u| u.name.clone()),
                    voice_state: u.map_or("offline", |u| u.voice_state.as_str()).into(),
                    activity: self.activity(*a).label().into(),
                    held: r.driver.held_by(*a).len(),
                    ready_for_campaign: r.driver.is_ready(*a),
                }
            })
            .collect();
        LiveSnapshot {
            running: true,
            agents,
            lines_in_use: busy,
            humans_waiting: waiting,
            due_contacts: r.driver.due_count(),
        }
    }

    /// The agent's call as desktop messages (offer, connection, wrap-up), for a desktop that
    /// connects mid-call.
    pub(super) async fn current_call(&self, agent: UserId) -> Vec<DesktopMessage> {
        let offered = |call: CallId| {
            self.calls.get(&call).map(|l| DesktopMessage::CallOffered {
                call_id: Some(call),
                preview: false,
                contact: l.contact.clone(),
            })
        };
        match self.activity(agent) {
            AgentActivity::Idle { .. } => Vec::new(),
            AgentActivity::Previewing { campaign, contact } => self
                .runners
                .get(&campaign)
                .and_then(|r| r.summary(contact))
                .map(|contact| DesktopMessage::CallOffered {
                    call_id: None,
                    preview: true,
                    contact,
                })
                .into_iter()
                .collect(),
            AgentActivity::Dialling { call } => offered(call).into_iter().collect(),
            AgentActivity::OnCall { call, .. } => {
                let held = self.calls.get(&call).is_some_and(|l| l.on_hold);
                offered(call)
                    .into_iter()
                    .chain([DesktopMessage::CallConnected {
                        call_id: call,
                        contact: self.calls.get(&call).map(|l| l.contact.clone()),
                    }])
                    .chain(held.then_some(DesktopMessage::CallHold {
                        call_id: call,
                        on_hold: true,
                    }))
                    .collect()
            }
            AgentActivity::WrapUp { call, until, .. } => {
                let Ok(row) = self.app.store.call_unscoped(call).await else {
                    return Vec::new();
                };
                let Some(campaign) = row.campaign_id else {
                    return Vec::new();
                };
                let dispositions = self
                    .app
                    .store
                    .dispositions(row.client_id, campaign)
                    .await
                    .unwrap_or_default();
                let left = until.saturating_duration_since(Instant::now()).as_secs() as u32;
                vec![DesktopMessage::CallEnded {
                    call_id: call,
                    wrap_up_seconds: left,
                    dispositions,
                }]
            }
        }
    }
}
