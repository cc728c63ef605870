//! Call control by the agent on a call: hold (the contact hears the campaign's hold music),
//! resume and hang up, through the call's [`palera_carrier::Carrier`]. Only the agent connected
//! to the call may control it (anyone else gets 404, as for a call that does not exist). Hold and
//! resume are recorded as call events, so the call's state survives a reload, and the agent's
//! desktop is told.

use super::live::Phase;
use super::Engine;
use crate::desktop::DesktopMessage;
use crate::error::ApiError;
use axum::http::StatusCode;
use palera_carrier::{Audio, CarrierError};
use palera_core::ids::{CallId, UserId};

/// What the agent does to their call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallAction {
    Hold,
    Resume,
    HangUp,
}

impl CallAction {
    /// The call event recorded for the action.
    fn event(self) -> &'static str {
        match self {
            CallAction::Hold => "hold",
            CallAction::Resume => "resume",
            CallAction::HangUp => "agent_hung_up",
        }
    }
}

fn carrier_failed(e: CarrierError) -> ApiError {
    ApiError::new(StatusCode::BAD_GATEWAY, "carrier_error", e.to_string())
}

impl Engine {
    /// Applies `action` to `call` for `agent`.
    pub(super) async fn control(
        &mut self,
        call: CallId,
        agent: UserId,
        action: CallAction,
    ) -> Result<(), ApiError> {
        if self.is_manual(call) {
            return self.manual_control(call, agent, action).await;
        }
        let Some(l) = self.calls.get(&call).filter(|l| l.agent == Some(agent)) else {
            return Err(ApiError::not_found());
        };
        if !matches!(l.phase, Phase::Connected { .. }) {
            return Err(ApiError::invalid(
                "call",
                "the call is not connected to an agent",
            ));
        }
        let (campaign, sid, carrier, on_hold) =
            (l.campaign, l.sid.clone(), l.carrier.clone(), l.on_hold);
        let hold = match action {
            CallAction::Hold if on_hold => return Ok(()),
            CallAction::Resume if !on_hold => return Ok(()),
            CallAction::Hold => {
                let url = self.hold_music(campaign).await?;
                carrier
                    .hold(&sid, &Audio { url })
                    .await
                    .map_err(carrier_failed)?;
                Some(true)
            }
            CallAction::Resume => {
                carrier.resume(&sid).await.map_err(carrier_failed)?;
                Some(false)
            }
            CallAction::HangUp => {
                carrier.hang_up(&sid).await.map_err(carrier_failed)?;
                None
            }
        };
        self.event(call, action.event(), "").await?;
        if let Some(on_hold) = hold {
            if let Some(l) = self.calls.get_mut(&call) {
                l.on_hold = on_hold;
            }
            self.tell(
                agent,
                DesktopMessage::CallHold {
                    call_id: call,
                    on_hold,
                },
            );
        }
        tracing::info!(call = %call, agent = %agent, action = ?action, "call control");
        Ok(())
    }

    /// The campaign's hold music URL.
    async fn hold_music(&self, campaign: palera_core::ids::CampaignId) -> Result<String, ApiError> {
        let url = match self.runners.get(&campaign) {
            Some(r) => r.c.hold_music_url.clone(),
            None => {
                self.app
                    .store
                    .campaign_by_id(campaign)
                    .await?
                    .hold_music_url
            }
        };
        url.ok_or_else(|| ApiError::invalid("hold_music_url", "the campaign has no hold music"))
    }
}
