//! Call control by the agent on a call: hold (the contact hears the campaign's hold music),
//! resume, hang up and voicemail drop, through the call's [`palera_carrier::Carrier`]. Only the
//! agent connected to the call may control it (anyone else gets 404, as for a call that does not
//! exist). Every action is recorded as a call event, so the call's state survives a reload, and
//! the agent's desktop is told.
//!
//! Voicemail drop (DESIGN §2.3): the carrier releases the agent leg and plays the campaign's
//! voicemail message on the contact leg to its end, then hangs up. The agent is free at once —
//! idle, so the next call can come — and the call stays live without them until the carrier
//! reports its end, when it is logged as `voicemail_dropped` and the attempt completes with the
//! system disposition of that name.

use super::lane::Op;
use super::live::CallPhase;
use super::Engine;
use super::EngineError;
use crate::desk::ws::{CallAudio, DesktopMessage};
use palera_carrier::{Audio, CarrierError};
use palera_core::ids::{CallId, UserId};

/// What the agent does to their call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallAction {
    Hold,
    Resume,
    HangUp,
    /// Play the campaign's voicemail message to the contact and release the agent.
    VoicemailDrop,
    /// Pause the call's recording (the agent is about to hear a card number).
    PauseRecording,
    ResumeRecording,
}

impl CallAction {
    /// The call event recorded for the action.
    pub(super) fn event(self) -> &'static str {
        match self {
            CallAction::Hold => "hold",
            CallAction::Resume => "resume",
            CallAction::HangUp => "agent_hung_up",
            CallAction::VoicemailDrop => "voicemail_dropped",
            CallAction::PauseRecording => "recording_paused",
            CallAction::ResumeRecording => "recording_resumed",
        }
    }
}

/// A carrier request an agent's action needed was refused or failed.
pub(super) fn carrier_failed(e: CarrierError) -> EngineError {
    EngineError::Carrier(e)
}

/// A carrier request an agent's action gave to its call's lane; the engine finishes the action
/// when the lane is done ([`Engine::control_done`]).
pub(super) struct Pending {
    pub op: Op,
    /// What the action played (a voicemail drop's message).
    pub detail: String,
}

impl Pending {
    pub fn op(op: Op) -> Self {
        Self {
            op,
            detail: String::new(),
        }
    }
}

impl Engine {
    /// Judges `action` on `call` for `agent`. What needs the carrier comes back as the request
    /// for the call's lane: the loop never waits on the carrier for an agent's action.
    pub(super) async fn control(
        &mut self,
        call: CallId,
        agent: UserId,
        action: CallAction,
    ) -> Result<Option<Pending>, EngineError> {
        match action {
            CallAction::PauseRecording => {
                return self
                    .recording_control(call, agent, true)
                    .await
                    .map(|_| None)
            }
            CallAction::ResumeRecording => {
                return self
                    .recording_control(call, agent, false)
                    .await
                    .map(|_| None)
            }
            _ => {}
        }
        if self.is_manual(call) {
            return self.manual_control(call, agent, action).await;
        }
        let Some(l) = self.calls.get(&call).filter(|l| l.agent == Some(agent)) else {
            return Err(EngineError::NotFound);
        };
        if !matches!(l.phase, CallPhase::Connected { .. }) {
            return Err(EngineError::invalid(
                "call",
                "the call is not connected to an agent",
            ));
        }
        let (campaign, on_hold) = (l.campaign, l.on_hold);
        let op = match action {
            CallAction::Hold if on_hold => return Ok(None),
            CallAction::Resume if !on_hold => return Ok(None),
            CallAction::Hold => Op::Hold(Audio {
                url: self.hold_music(campaign).await?,
            }),
            CallAction::Resume => Op::Resume,
            CallAction::HangUp => {
                // The agent's act, recorded as it is asked (the call's end may come first).
                self.event(call, action.event(), "");
                Op::HangUp
            }
            CallAction::VoicemailDrop => return self.voicemail_drop(call).await.map(Some),
            CallAction::PauseRecording | CallAction::ResumeRecording => return Ok(None),
        };
        Ok(Some(Pending::op(op)))
    }

    /// Gives an action's request to its call's lane (after the call's earlier requests, in
    /// order); the lane's answer comes back as [`super::Request::ControlDone`].
    pub(super) fn control_on_lane(
        &self,
        call: CallId,
        agent: UserId,
        action: CallAction,
        pending: Pending,
        reply: tokio::sync::oneshot::Sender<Result<(), EngineError>>,
    ) {
        let lane = match self.calls.get(&call) {
            Some(l) => Some(&l.lane),
            None => self.manual_lane(call),
        };
        let Some(lane) = lane else {
            self.answer(reply, Err(EngineError::NotFound));
            return;
        };
        let app = self.app.clone();
        let detail = pending.detail;
        lane.send_then(pending.op, move |failure| {
            app.engine.send(super::Request::ControlDone {
                call,
                agent,
                action,
                detail,
                failure,
                reply,
            });
        });
    }

    /// The lane carried out (or failed) an agent's action: it is recorded and the desktop is
    /// told, as the action needs.
    pub(super) async fn control_done(
        &mut self,
        call: CallId,
        agent: UserId,
        action: CallAction,
        detail: &str,
        failure: Option<CarrierError>,
    ) -> Result<(), EngineError> {
        if let Some(e) = failure {
            if action == CallAction::HangUp {
                self.event(call, "hang_up_failed", &e.to_string());
            }
            return Err(carrier_failed(e));
        }
        let on_hold = match action {
            CallAction::VoicemailDrop => return self.voicemail_dropped(call, agent, detail).await,
            CallAction::Hold => true,
            CallAction::Resume => false,
            _ => return Ok(()),
        };
        self.event(call, action.event(), "");
        if let Some(l) = self.calls.get_mut(&call) {
            l.on_hold = on_hold;
        }
        self.manual_hold_changed(call, on_hold);
        self.tell(
            agent,
            DesktopMessage::CallHold {
                call_id: call,
                on_hold,
            },
        );
        tracing::info!(call = %call, agent = %agent, action = ?action, "call control");
        Ok(())
    }

    /// The request that plays the campaign's voicemail message to the contact.
    async fn voicemail_drop(&mut self, call: CallId) -> Result<Pending, EngineError> {
        let campaign = self.calls[&call].campaign;
        let (_, url) = self.settings_of(campaign).await?;
        let url = url.ok_or_else(|| {
            EngineError::invalid(
                "voicemail_url",
                "the campaign has no voicemail message to drop",
            )
        })?;
        Ok(Pending {
            op: Op::PlayAndHangUp(Audio { url: url.clone() }),
            detail: url,
        })
    }

    /// The message plays: `agent` is free at once — the campaign's driver releases the agent,
    /// and the line ends as `voicemail_dropped`.
    async fn voicemail_dropped(
        &mut self,
        call: CallId,
        agent: UserId,
        url: &str,
    ) -> Result<(), EngineError> {
        self.event(call, CallAction::VoicemailDrop.event(), url);
        let Some(l) = self.calls.get_mut(&call).filter(|l| l.agent == Some(agent)) else {
            return Ok(()); // the call ended or left the agent meanwhile: that was handled
        };
        l.agent = None;
        l.on_hold = false;
        l.phase = CallPhase::Dropped { agent };
        self.tell(
            agent,
            DesktopMessage::CallAudio {
                call_id: call,
                audio: CallAudio::MessagePlaying,
            },
        );
        let now = self.clock();
        let at = self.runner_of_live(call);
        let cmds = at
            .and_then(|at| self.runner_mut(at))
            .map(|r| r.driver.voicemail_dropped(now, call));
        match (at, cmds) {
            (Some(at), Some(Ok(cmds))) => self.execute(at, cmds).await,
            _ => {
                // No driver knows the call (it cannot happen for a connected campaign call):
                // the agent is still freed, as the rule says.
                self.set_idle(agent);
                self.tell(
                    agent,
                    DesktopMessage::CallCleared {
                        call_id: Some(call),
                    },
                );
            }
        }
        tracing::info!(call = %call, agent = %agent, "voicemail dropped; agent released");
        Ok(())
    }

    /// The campaign's hold music URL, or the classical track Twilio plays by default (the same
    /// default as the inbound queue), so hold always works.
    async fn hold_music(
        &self,
        campaign: palera_core::ids::CampaignId,
    ) -> Result<String, EngineError> {
        let url = match self.runners.get(&campaign) {
            Some(r) => r.campaign.hold_music_url.clone(),
            None => {
                self.app
                    .store
                    .campaign_unscoped(campaign)
                    .await?
                    .hold_music_url
            }
        };
        Ok(url
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| crate::twilio::inbound::HOLD_MUSIC.to_string()))
    }
}
