//! The engine's side of recordings and transcripts: when a call's agent is connected (its
//! contact answered before), the call's recording and live transcription start as its campaign
//! (or, for an inbound call, the client's inbound settings; for a manual call, the client's
//! recording settings) says; transcript lines and finished recordings reported by the carrier are handed to
//! [`crate::recordings::live`]; the agent pauses and resumes the recording (call control).

use super::EngineError;
use super::{CallAction, Engine};
use crate::desk::ws::DesktopMessage;
use crate::recordings::live::{recording_ready, Connected};
use palera_carrier::CarrierEvent;
use palera_core::ids::{CallId, UserId};

impl Engine {
    /// Handles the media side of a carrier event; true when the event is only about media.
    pub(super) async fn on_media_event(&mut self, ev: &CarrierEvent) -> Result<bool, EngineError> {
        match ev {
            CarrierEvent::Transcript {
                call_id,
                speaker,
                text,
                is_final,
            } => {
                if *is_final {
                    self.media
                        .line(&self.app, CallId(*call_id), speaker, text)
                        .await?;
                }
                Ok(true)
            }
            CarrierEvent::RecordingReady {
                call_id,
                url,
                duration_seconds,
            } => {
                recording_ready(&self.app, CallId(*call_id), url, *duration_seconds).await?;
                Ok(true)
            }
            CarrierEvent::AgentConnected { call_id, agent_id } => {
                let (call, agent) = (CallId(*call_id), UserId(*agent_id));
                if let Err(e) = self.media_connected(call, agent).await {
                    tracing::error!(call = %call, error = %e, "starting the call's recording failed");
                }
                Ok(false)
            }
            CarrierEvent::Ended { call_id, .. } => {
                self.media.ended(&self.app, CallId(*call_id));
                Ok(false)
            }
            _ => Ok(false),
        }
    }

    /// Both parties of `call` are connected: recording and live transcription start if its
    /// switches say so.
    async fn media_connected(&mut self, call: CallId, agent: UserId) -> Result<(), EngineError> {
        let connected = if let Some(l) = self.calls.get(&call) {
            let (campaign, sid, carrier) = (l.campaign, l.sid.clone(), l.carrier.clone());
            let c = match self.runners.get(&campaign) {
                Some(r) => r.campaign.clone(),
                None => self.app.store.campaign_unscoped(campaign).await?,
            };
            Connected {
                call,
                client: c.client_id,
                agent,
                sid,
                carrier,
                recording: c.recording,
                transcription: c.transcription,
            }
        } else if let Some((client, sid, carrier, inbound)) = self.manual_leg(call) {
            let (recording, transcription) = if inbound {
                let s = self.app.store.inbound_settings(client).await?;
                (s.recording, s.transcription)
            } else {
                // Manual calls: the client's recording settings say.
                let s = self.app.store.recording_settings(client).await?;
                (s.record_manual_calls, s.transcribe_manual_calls)
            };
            Connected {
                call,
                client,
                agent,
                sid,
                carrier,
                recording,
                transcription,
            }
        } else {
            return Ok(());
        };
        self.media.connected(&self.app, connected).await
    }

    /// The agent pauses (`pause`) or resumes their call's recording; the pause is marked on the
    /// recording's timeline and the agent's desktops are told.
    pub(super) async fn recording_control(
        &mut self,
        call: CallId,
        agent: UserId,
        pause: bool,
    ) -> Result<(), EngineError> {
        self.media.pause(&self.app, call, agent, pause).await?;
        let action = if pause {
            CallAction::PauseRecording
        } else {
            CallAction::ResumeRecording
        };
        self.event(call, action.event(), "");
        self.tell(
            agent,
            DesktopMessage::RecordingPaused {
                call_id: call,
                paused: pause,
            },
        );
        Ok(())
    }
}
