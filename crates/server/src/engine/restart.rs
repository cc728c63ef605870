//! What a start finds (a new process, or the engine rebuilt after a panic): the calls the previous
//! run left open. A node answers only for what it owns: the calls of campaigns it can lead now
//! (another running node leads the rest and keeps their calls) and the manual and inbound calls
//! it ran itself (`PALERA_NODE`).
//!
//! Each open call is looked up at its carrier. One still in progress with its agent stays with
//! that agent: it runs on as a manual call does (its own lane for hold, resume and hang-up, then
//! wrap-up with the campaign's or the client's dispositions), and a campaign contact's claim is
//! kept until that disposition ends the attempt. One that ended while nobody listened gets the
//! outcome the carrier reports. Anything else (still ringing, waiting for an agent, or a network
//! that cannot tell, as the simulated one, which does not outlive the process) is hung up and
//! ends with the outcome it had reached. Claims of calls that did not stay are released with the
//! `engine_restart` disposition (the attempt is retried); dials that never reached the carrier
//! are given back: no attempt is lost or counted twice.

use super::manual::Manual;
use super::Engine;
use super::{AgentActivity, EngineError};
use crate::desk::ws::DesktopMessage;
use futures::StreamExt;
use palera_carrier::{CallSid, CallState, Carrier, LegEnd};
use palera_core::campaign::{CallOutcome, Disposition, DispositionEffect};
use palera_core::ids::{CallId, CampaignId};
use palera_core::phone::PhoneNumber;
use palera_store::calls::{outcome_str, Call, CallUpdate};
use palera_store::inbound::InboundEnd;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// How many calls the carrier is asked about at once at start.
const ASK_AT_ONCE: usize = 16;

/// A call's carrier, and where it says the call stands.
type Asked = (Option<Arc<dyn Carrier>>, Option<CallState>);

/// What became of one open call.
enum Found {
    /// Still up with its agent: it stays.
    Kept,
    /// Ended now (hung up, or found over).
    Closed,
}

impl Engine {
    /// Looks at every open call this node owns; see the module's description.
    pub(super) async fn reconcile(&mut self) -> Result<(), EngineError> {
        let mut leads: HashMap<CampaignId, bool> = HashMap::new();
        let mut kept: HashSet<CallId> = HashSet::new();
        // What an earlier life of the engine queued is stored before the open calls are read.
        self.journal.flush().await;
        let node = self.app.store.node().to_string();
        let mut owned = Vec::new();
        for call in self.app.store.open_calls_of_node(&node).await? {
            if let Some(c) = call.campaign_id {
                if !self.may_lead(c, &mut leads).await? {
                    continue;
                }
            }
            owned.push(call);
        }
        // The carrier is asked about every call at once (a few at a time), before any is acted
        // on: a slow or unreachable carrier costs its timeout once, not once per call.
        let app = self.app.clone();
        let asked: Vec<Asked> = futures::stream::iter(owned.clone())
            .map(move |c| ask_carrier(app.clone(), c))
            .buffered(ASK_AT_ONCE)
            .collect()
            .await;
        for (call, asked) in owned.iter().zip(asked) {
            if let Found::Kept = self.reconcile_call(call, asked).await? {
                kept.insert(call.id);
            }
        }
        for cc in self.app.store.claimed_contacts().await? {
            let Some(call) = cc.in_flight else { continue };
            if kept.contains(&call) || !self.may_lead(cc.campaign_id, &mut leads).await? {
                continue;
            }
            let restart = Disposition {
                name: "engine_restart".into(),
                effect: DispositionEffect::Retry,
            };
            self.complete_attempt(cc.campaign_id, cc.contact_id, call, &restart)
                .await?;
            self.app
                .store
                .set_call_disposition(call, None, &restart.name, "")
                .await?;
            tracing::info!(call = %call, contact = %cc.contact_id, "claim released after restart");
        }
        Ok(())
    }

    /// Whether this node may sort out `campaign`'s calls: it can lead the campaign now. The
    /// lead is given back at once; the campaign's runner takes it again when it runs.
    async fn may_lead(
        &self,
        campaign: CampaignId,
        leads: &mut HashMap<CampaignId, bool>,
    ) -> Result<bool, EngineError> {
        if let Some(known) = leads.get(&campaign) {
            return Ok(*known);
        }
        let free = self.app.store.try_lead_campaign(campaign).await?.is_some();
        if !free {
            tracing::info!(campaign = %campaign, "another node leads the campaign; its calls are left to it");
        }
        leads.insert(campaign, free);
        Ok(free)
    }

    async fn reconcile_call(&mut self, call: &Call, asked: Asked) -> Result<Found, EngineError> {
        let Some(sid) = call.carrier_sid.clone().map(CallSid) else {
            return self.never_placed(call).await;
        };
        let (carrier, state) = asked;
        match (state, carrier) {
            (Some(CallState::Live { answered: true }), Some(carrier))
                if call.connected_at.is_some() && call.agent_id.is_some() =>
            {
                self.reattach(call, sid, carrier).await?;
                Ok(Found::Kept)
            }
            (Some(CallState::Ended(end)), _) => {
                self.close(call, Some(end), "ended_while_down").await?;
                Ok(Found::Closed)
            }
            (_, carrier) => {
                if let Some(c) = carrier {
                    // Off the start: it may be long gone, or the carrier unreachable.
                    tokio::spawn(async move {
                        let _ = c.hang_up(&sid).await;
                    });
                }
                self.close(call, None, "reconciled").await?;
                Ok(Found::Closed)
            }
        }
    }

    /// A call that never reached the carrier: a campaign's dial is given back (no attempt
    /// counted); a manual call failed; an inbound one was missed.
    async fn never_placed(&mut self, call: &Call) -> Result<Found, EngineError> {
        match (call.campaign_id, call.contact_id) {
            (Some(campaign), Some(contact)) => {
                self.app.store.unclaim(campaign, contact, call.id).await?;
                tracing::info!(call = %call.id, "unplaced dial given back");
            }
            _ => self.close(call, None, "reconciled").await?,
        }
        Ok(Found::Closed)
    }

    /// Ends an open call with the outcome it reached (and, when the carrier reported its end,
    /// how the line ended); `kind` is the call event that says so.
    async fn close(
        &mut self,
        call: &Call,
        end: Option<LegEnd>,
        kind: &str,
    ) -> Result<(), EngineError> {
        let now_ms = self.app.now_ms();
        if call.direction == "inbound" {
            let how = if call.connected_at.is_some() {
                InboundEnd::Answered
            } else {
                InboundEnd::Missed
            };
            self.app
                .store
                .end_inbound_call(call.id, how, now_ms)
                .await?;
            let label = if call.connected_at.is_some() {
                "answered"
            } else {
                "missed"
            };
            self.event(call.id, kind, label);
            return Ok(());
        }
        let dropped = self
            .app
            .store
            .call_event_kinds(call.id)
            .await?
            .iter()
            .any(|k| k == "voicemail_dropped");
        let outcome = outcome_after_restart(call, dropped, end);
        let u = CallUpdate {
            outcome: Some(outcome),
            ended_at: Some(now_ms),
            ..Default::default()
        };
        self.journal.update(call.id, u);
        self.event(call.id, kind, outcome_str(outcome));
        Ok(())
    }

    /// A call still up with its agent after a restart: the agent is on it again (their desktop
    /// is told), and it runs on as a manual call does.
    async fn reattach(
        &mut self,
        call: &Call,
        sid: CallSid,
        carrier: Arc<dyn Carrier>,
    ) -> Result<(), EngineError> {
        let (Some(agent), Some(contact)) = (call.agent_id, call.contact_id) else {
            return Ok(());
        };
        let person = self.app.store.contact(call.client_id, contact).await?;
        let name = format!("{} {}", person.first_name, person.last_name)
            .trim()
            .to_string();
        let offer = DesktopMessage::ManualCall {
            call_id: call.id,
            client_id: call.client_id,
            contact_id: contact,
            name,
            phone: call.phone.clone(),
        };
        let since = call
            .connected_at
            .and_then(chrono::DateTime::from_timestamp_millis)
            .unwrap_or_else(|| self.now());
        self.manual.insert(
            call.id,
            Manual::reattached(call, agent, sid, carrier, offer.clone()),
        );
        self.agents.insert(
            agent,
            AgentActivity::OnCall {
                call: call.id,
                since,
            },
        );
        self.tell(agent, offer);
        self.tell(
            agent,
            DesktopMessage::CallConnected {
                call_id: call.id,
                contact: None,
            },
        );
        self.event(call.id, "reattached", &agent.to_string());
        tracing::info!(call = %call.id, agent = %agent, "call still in progress after the restart stays with its agent");
        Ok(())
    }
}

/// The call's carrier, and where it says the call stands (`None`: it cannot tell).
async fn ask_carrier(app: crate::app::App, call: Call) -> Asked {
    let Some(sid) = call.carrier_sid.clone().map(CallSid) else {
        return (None, None);
    };
    let Ok(carrier) = app.carriers.for_client(&app.store, call.client_id).await else {
        return (None, None);
    };
    let state = match shown_number(&app, &call).await {
        Ok(from) => match carrier.reattach(&sid, call.id.0, &from).await {
            Ok(state) => Some(state),
            Err(e) => {
                tracing::info!(call = %call.id, error = %e, "the carrier cannot tell where the call stands");
                None
            }
        },
        Err(_) => None,
    };
    (Some(carrier), state)
}

/// The number the call shows (the client's first number; the contact's for an inbound call or a
/// client without numbers).
async fn shown_number(app: &crate::app::App, call: &Call) -> Result<PhoneNumber, EngineError> {
    let own = app.store.numbers(call.client_id).await?;
    let number = match own.first() {
        Some(n) if call.direction != "inbound" => n.number.clone(),
        _ => call.phone.clone(),
    };
    PhoneNumber::parse_e164(&number).map_err(|e| EngineError::invalid("phone", e))
}

/// The outcome of a call closed at start: what it had reached, and for one nobody answered, how
/// the carrier says the line ended.
fn outcome_after_restart(call: &Call, dropped: bool, end: Option<LegEnd>) -> CallOutcome {
    match (call.connected_at, call.answered_by.as_deref()) {
        (Some(_), _) if dropped => CallOutcome::VoicemailDropped,
        (Some(_), _) => CallOutcome::Completed,
        (None, Some("human")) => CallOutcome::AbandonedNoAgent,
        (None, Some("machine")) => CallOutcome::Machine,
        _ => match end {
            Some(LegEnd::Busy) => CallOutcome::Busy,
            Some(LegEnd::NoAnswer | LegEnd::Canceled) => CallOutcome::NoAnswer,
            _ => CallOutcome::Failed,
        },
    }
}
