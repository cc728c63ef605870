//! Calls in flight: what each carrier event does to a call (ringing, answered by a person or a
//! machine, connected, ended — a dropped voicemail ends as `voicemail_dropped`), the 2-second
//! grace of predictive calls, wrap-up and its limit, dispositions and their effects, the restart
//! reconciliation, and the live snapshot pages show.

use super::runner::contact_tz;
use super::{Activity, ContactSummary, Engine, ABANDON_GRACE};
use crate::desktop::{CallAudio, DesktopMessage};
use crate::error::ApiError;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use palera_carrier::{agent_identity, AnsweredBy, Audio, CallSid, Carrier, LegEnd};
use palera_core::campaign::{
    local_date, pick_agent_predictive, AgentLoad, CallOutcome, CampaignSettings, Disposition,
    DispositionEffect, MachineAction,
};
use palera_core::ids::{CallId, CampaignId, ClientId, ContactId, UserId};
use palera_store::calls::{outcome_str, CallUpdate};
use palera_store::campaigns::EffectKind;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Phase {
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
    pub id: CallId,
    pub campaign: CampaignId,
    pub contact: ContactSummary,
    pub agent: Option<UserId>,
    pub sid: CallSid,
    pub carrier: Arc<dyn Carrier>,
    pub phase: Phase,
    pub dialled: Instant,
    /// A disposition was saved while the call was still up.
    pub disposed: bool,
    /// The contact is on hold (hears the campaign's hold music).
    pub on_hold: bool,
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
        Self {
            id,
            campaign,
            contact,
            agent,
            sid,
            carrier,
            phase: Phase::Ringing,
            dialled: Instant::now(),
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

fn conflict(field: &str, message: &str) -> ApiError {
    ApiError {
        status: StatusCode::CONFLICT,
        code: "conflict",
        message: format!("{field}: {message}"),
        field: Some(field.into()),
    }
}

impl Engine {
    pub(super) async fn settings_of(
        &self,
        id: CampaignId,
    ) -> Result<(CampaignSettings, Option<String>), ApiError> {
        if let Some(r) = self.runners.get(&id) {
            return Ok((r.c.settings.clone(), r.c.voicemail_url.clone()));
        }
        let c = self.app.store.campaign_by_id(id).await?;
        Ok((c.settings, c.voicemail_url))
    }

    pub(super) async fn event(
        &self,
        call: CallId,
        kind: &str,
        detail: &str,
    ) -> Result<(), ApiError> {
        self.app
            .store
            .add_call_event(call, kind, detail, self.app.now_ms())
            .await?;
        Ok(())
    }

    /// (ringing lines, humans waiting) of a campaign.
    pub(super) fn lines(&self, id: CampaignId) -> (usize, usize) {
        let mine = self.calls.values().filter(|l| l.campaign == id);
        let (mut ringing, mut waiting) = (0, 0);
        for l in mine {
            match l.phase {
                Phase::Ringing | Phase::Detecting { .. } => ringing += 1,
                Phase::Waiting { .. } => waiting += 1,
                _ => {}
            }
        }
        (ringing, waiting)
    }

    pub(super) async fn on_ringing(&mut self, call: CallId) -> Result<(), ApiError> {
        if !self.calls.contains_key(&call) {
            return Ok(());
        }
        let u = CallUpdate {
            outcome: Some(CallOutcome::Ringing),
            ..Default::default()
        };
        self.app.store.update_call(call, &u).await?;
        Ok(())
    }

    /// A call was answered. With AMD on, an answer of unknown kind is the first report of
    /// Twilio's async detection: the call waits for the verdict (a later `Answered` or the
    /// machine's beep) and nobody is connected yet; a verdict of unknown then counts as a person,
    /// as Twilio advises. Without AMD an unknown answer is a person.
    pub(super) async fn on_answered(
        &mut self,
        call: CallId,
        by: AnsweredBy,
    ) -> Result<(), ApiError> {
        let Some(l) = self.calls.get(&call) else {
            return Ok(());
        };
        let answered = match l.phase {
            Phase::Ringing => Instant::now(),
            Phase::Detecting { since } => since,
            _ => return Ok(()), // a repeated event
        };
        let campaign = l.campaign;
        if l.phase == Phase::Ringing && by == AnsweredBy::Unknown {
            let (settings, _) = self.settings_of(campaign).await?;
            if settings.amd {
                return self.await_verdict(call).await;
            }
        }
        self.verdict(call, by != AnsweredBy::Machine, answered)
            .await
    }

    /// Answered, the AMD verdict pending.
    async fn await_verdict(&mut self, call: CallId) -> Result<(), ApiError> {
        self.calls.get_mut(&call).expect("live call").phase = Phase::Detecting {
            since: Instant::now(),
        };
        let u = CallUpdate {
            outcome: Some(CallOutcome::InProgress),
            answered_at: Some(self.app.now_ms()),
            ..Default::default()
        };
        self.app.store.update_call(call, &u).await?;
        self.event(call, "answered_detecting", "").await
    }

    /// Who answered is known: a person reaches an agent, a machine never does.
    async fn verdict(
        &mut self,
        call: CallId,
        human: bool,
        answered: Instant,
    ) -> Result<(), ApiError> {
        let l = &self.calls[&call];
        let first_report = l.phase == Phase::Ringing;
        let ring = answered.saturating_duration_since(l.dialled).as_secs_f64();
        let id = l.campaign;
        if let Some(r) = self.runners.get_mut(&id) {
            r.stats.record_dial(human, human.then_some(ring));
        }
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
        self.app.store.update_call(call, &u).await?;
        if human {
            self.on_human(call).await
        } else {
            self.on_machine(call).await
        }
    }

    /// A machine answered: release the agent at once; leave the message after the beep, or hang
    /// up, by campaign setting.
    async fn on_machine(&mut self, call: CallId) -> Result<(), ApiError> {
        let (campaign, agent, sid, carrier) = {
            let l = self.calls.get_mut(&call).expect("live call");
            l.phase = Phase::Machine;
            (l.campaign, l.agent.take(), l.sid.clone(), l.carrier.clone())
        };
        if let Some(a) = agent {
            self.set_idle(a);
            self.tell(
                a,
                DesktopMessage::CallCleared {
                    call_id: Some(call),
                },
            );
        }
        self.event(call, "machine_detected", "").await?;
        let (settings, _) = self.settings_of(campaign).await?;
        if settings.machine_action == MachineAction::HangUp {
            if let Err(e) = carrier.hang_up(&sid).await {
                tracing::warn!(call = %call, error = %e, "hang-up failed");
            }
        }
        Ok(())
    }

    /// The machine's greeting ended: leave the campaign's message (or hang up without one).
    pub(super) async fn on_beep(&mut self, call: CallId) -> Result<(), ApiError> {
        let Some(l) = self.calls.get(&call) else {
            return Ok(());
        };
        if let Phase::Detecting { since } = l.phase {
            // The beep is the verdict: a machine.
            self.verdict(call, false, since).await?;
        }
        let Some(l) = self.calls.get(&call) else {
            return Ok(());
        };
        if l.phase != Phase::Machine {
            return Ok(());
        }
        let (campaign, sid, carrier) = (l.campaign, l.sid.clone(), l.carrier.clone());
        let (settings, url) = self.settings_of(campaign).await?;
        if settings.machine_action != MachineAction::LeaveMessage {
            return Ok(());
        }
        let done = match url {
            Some(url) => {
                self.event(call, "voicemail_left", &url).await?;
                carrier.play_and_hang_up(&sid, &Audio { url }).await
            }
            None => carrier.hang_up(&sid).await,
        };
        if let Err(e) = done {
            tracing::warn!(call = %call, error = %e, "leaving the machine message failed");
        }
        Ok(())
    }

    /// A person answered: the call's agent takes it (preview, progressive), or the free agent
    /// with the fewest calls today (predictive); with nobody free the person waits, at most 2 s.
    async fn on_human(&mut self, call: CallId) -> Result<(), ApiError> {
        let (campaign, reserved) = {
            let l = &self.calls[&call];
            (l.campaign, l.agent)
        };
        // A reserved agent (preview, progressive) always takes the call they were dialled for,
        // even if they changed state while it rang: progressive mode never abandons.
        let agent = reserved.or_else(|| self.pick_free_agent(campaign));
        match agent {
            Some(a) => self.connect(call, a).await,
            None => {
                self.calls.get_mut(&call).expect("live").phase = Phase::Waiting {
                    since: Instant::now(),
                };
                self.event(call, "waiting_for_agent", "").await
            }
        }
    }

    /// The ready, idle agent of the campaign with the fewest calls today, then idle longest.
    fn pick_free_agent(&self, campaign: CampaignId) -> Option<UserId> {
        let r = self.runners.get(&campaign)?;
        let today = local_date(chrono_tz::UTC, self.now());
        let loads: Vec<AgentLoad> = r
            .ready
            .iter()
            .filter_map(|a| match self.activity(*a) {
                Activity::Idle { since } => Some(AgentLoad {
                    agent: *a,
                    calls_today: r
                        .calls_today
                        .get(a)
                        .filter(|(d, _)| *d == today)
                        .map_or(0, |(_, n)| *n),
                    idle_since: since,
                }),
                _ => None,
            })
            .collect();
        pick_agent_predictive(&loads)
    }

    /// Bridges `agent` into the call.
    async fn connect(&mut self, call: CallId, agent: UserId) -> Result<(), ApiError> {
        let now = self.now();
        let (campaign, sid, carrier) = {
            let l = self.calls.get_mut(&call).expect("live call");
            l.agent = Some(agent);
            l.phase = Phase::Connected {
                since: Instant::now(),
            };
            (l.campaign, l.sid.clone(), l.carrier.clone())
        };
        self.agents
            .insert(agent, Activity::OnCall { call, since: now });
        if let Some(r) = self.runners.get_mut(&campaign) {
            r.stats.record_live_answer(now, false);
            let today = local_date(chrono_tz::UTC, now);
            let e = r.calls_today.entry(agent).or_insert((today, 0));
            if e.0 != today {
                *e = (today, 0);
            }
            e.1 += 1;
        }
        let u = CallUpdate {
            agent: Some(agent),
            connected_at: Some(now.timestamp_millis()),
            ..Default::default()
        };
        self.app.store.update_call(call, &u).await?;
        if let Err(e) = carrier.connect_agent(&sid, &agent_identity(agent.0)).await {
            tracing::warn!(call = %call, agent = %agent, error = %e, "connecting the agent failed");
        }
        self.tell(agent, DesktopMessage::CallConnected { call_id: call });
        tracing::info!(call = %call, agent = %agent, "connected");
        Ok(())
    }

    pub(super) async fn on_agent_connected(
        &mut self,
        call: CallId,
        agent: UserId,
    ) -> Result<(), ApiError> {
        self.event(call, "agent_connected", &agent.to_string())
            .await
    }

    /// Humans waiting for an agent: give them to agents who became free, and abandon those who
    /// waited the full grace, playing the identification message at once.
    pub(super) async fn abandon_waiting(&mut self) -> Result<(), ApiError> {
        let mut waiting: Vec<(Instant, CallId, CampaignId)> = self
            .calls
            .values()
            .filter_map(|l| match l.phase {
                Phase::Waiting { since } => Some((since, l.id, l.campaign)),
                _ => None,
            })
            .collect();
        waiting.sort();
        for (since, call, campaign) in waiting {
            if since.elapsed() >= ABANDON_GRACE {
                self.abandon(call).await?;
            } else if let Some(a) = self.pick_free_agent(campaign) {
                self.connect(call, a).await?;
            }
        }
        Ok(())
    }

    /// The earliest instant the engine must act without an event: a grace or wrap-up ending.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let graces = self.calls.values().filter_map(|l| match l.phase {
            Phase::Waiting { since } => Some(since + ABANDON_GRACE),
            _ => None,
        });
        let wraps = self.agents.values().filter_map(|a| match a {
            Activity::WrapUp { until, .. } => Some(*until),
            _ => None,
        });
        graces.chain(wraps).min()
    }

    async fn abandon(&mut self, call: CallId) -> Result<(), ApiError> {
        let now = self.now();
        let (campaign, sid, carrier) = {
            let l = self.calls.get_mut(&call).expect("live call");
            l.phase = Phase::Abandoned;
            (l.campaign, l.sid.clone(), l.carrier.clone())
        };
        if let Some(r) = self.runners.get_mut(&campaign) {
            r.stats.record_live_answer(now, true);
        }
        let (_, url) = self.settings_of(campaign).await?;
        let u = CallUpdate {
            outcome: Some(CallOutcome::AbandonedNoAgent),
            ..Default::default()
        };
        self.app.store.update_call(call, &u).await?;
        let done = match url {
            Some(url) => {
                self.event(call, "identification_played", &url).await?;
                carrier.play_and_hang_up(&sid, &Audio { url }).await
            }
            None => {
                self.event(call, "abandoned_without_message", "").await?;
                carrier.hang_up(&sid).await
            }
        };
        if let Err(e) = done {
            tracing::warn!(call = %call, error = %e, "playing the identification message failed");
        }
        tracing::info!(call = %call, "abandoned: no agent within 2 s");
        Ok(())
    }

    pub(super) async fn on_ended(
        &mut self,
        call: CallId,
        end: LegEnd,
        _duration_seconds: u32,
    ) -> Result<(), ApiError> {
        let Some(l) = self.calls.remove(&call) else {
            return Ok(()); // repeated, or ended before a restart
        };
        let now = self.now();
        let outcome = match l.phase {
            Phase::Connected { .. } => CallOutcome::Completed,
            // Answered, then gone before anyone (or the detector) could tell who it was.
            Phase::Waiting { .. } | Phase::Abandoned | Phase::Detecting { .. } => {
                CallOutcome::AbandonedNoAgent
            }
            Phase::Machine => CallOutcome::Machine,
            Phase::Dropped { .. } => CallOutcome::VoicemailDropped,
            Phase::Ringing => match end {
                LegEnd::Busy => CallOutcome::Busy,
                LegEnd::NoAnswer => CallOutcome::NoAnswer,
                _ => CallOutcome::Failed,
            },
        };
        if let Some(r) = self.runners.get_mut(&l.campaign) {
            match l.phase {
                Phase::Ringing => r.stats.record_dial(false, None),
                // The person hung up before an agent was free: that is an abandoned live answer.
                Phase::Waiting { .. } => r.stats.record_live_answer(now, true),
                Phase::Connected { since } => r.stats.record_talk(since.elapsed().as_secs_f64()),
                _ => {}
            }
        }
        let u = CallUpdate {
            outcome: Some(outcome),
            ended_at: Some(now.timestamp_millis()),
            ..Default::default()
        };
        self.app.store.update_call(call, &u).await?;
        self.event(call, "ended", outcome_str(outcome)).await?;
        match (l.phase, l.agent) {
            (Phase::Connected { .. }, Some(agent)) if !l.disposed => {
                self.start_wrap_up(l.campaign, call, agent).await
            }
            (Phase::Connected { .. }, agent) => {
                if let Some(a) = agent {
                    self.set_idle(a);
                    self.tell(
                        a,
                        DesktopMessage::CallCleared {
                            call_id: Some(call),
                        },
                    );
                }
                Ok(())
            }
            (_, agent) => {
                let system = Disposition {
                    name: outcome_str(outcome).into(),
                    effect: DispositionEffect::Retry,
                };
                self.complete_attempt(l.campaign, l.contact.contact_id, call, &system)
                    .await?;
                self.app
                    .store
                    .set_call_disposition(call, None, &system.name, "")
                    .await?;
                if let Phase::Dropped { agent } = l.phase {
                    let audio = CallAudio::Ended;
                    self.tell(
                        agent,
                        DesktopMessage::CallAudio {
                            call_id: call,
                            audio,
                        },
                    );
                }
                if let Some(a) = agent {
                    self.set_idle(a);
                    self.tell(
                        a,
                        DesktopMessage::CallCleared {
                            call_id: Some(call),
                        },
                    );
                }
                Ok(())
            }
        }
    }

    async fn start_wrap_up(
        &mut self,
        campaign: CampaignId,
        call: CallId,
        agent: UserId,
    ) -> Result<(), ApiError> {
        let (settings, _) = self.settings_of(campaign).await?;
        let wrap = Duration::from_secs(u64::from(settings.wrap_up_seconds));
        let until_at = self.now() + chrono::Duration::seconds(i64::from(settings.wrap_up_seconds));
        self.agents.insert(
            agent,
            Activity::WrapUp {
                call,
                until: Instant::now() + wrap,
                until_at,
            },
        );
        let dispositions = self.app.store.dispositions(campaign).await?;
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

    /// Agents whose wrap-up limit passed get the automatic disposition (retry on the cadence).
    pub(super) async fn expire_wrap_ups(&mut self) -> Result<(), ApiError> {
        let expired: Vec<(UserId, CallId)> = self
            .agents
            .iter()
            .filter_map(|(u, a)| match a {
                Activity::WrapUp { call, until, .. } if *until <= Instant::now() => {
                    Some((*u, *call))
                }
                _ => None,
            })
            .collect();
        for (agent, call) in expired {
            let row = self.app.store.call(call).await?;
            if let (Some(campaign), Some(contact)) = (row.campaign_id, row.contact_id) {
                let auto = Disposition {
                    name: "wrap_up_limit".into(),
                    effect: DispositionEffect::Retry,
                };
                self.complete_attempt(campaign, contact, call, &auto)
                    .await?;
                self.app
                    .store
                    .set_call_disposition(call, None, &auto.name, "")
                    .await?;
            }
            self.set_idle(agent);
            self.tell(
                agent,
                DesktopMessage::CallCleared {
                    call_id: Some(call),
                },
            );
        }
        Ok(())
    }

    /// Ends the contact's attempt of `call` with `disposition` (once: a claim already released
    /// is left alone).
    async fn complete_attempt(
        &mut self,
        campaign: CampaignId,
        contact: ContactId,
        call: CallId,
        disposition: &Disposition,
    ) -> Result<(), ApiError> {
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
    ) -> Result<(), ApiError> {
        let row = self.app.store.call(call).await?;
        if !staff && row.agent_id != Some(by) {
            return Err(ApiError::not_found());
        }
        let (Some(campaign), Some(contact)) = (row.campaign_id, row.contact_id) else {
            return Err(ApiError::invalid("call", "is not a campaign call"));
        };
        if row.disposition.is_some() {
            return Err(conflict(
                "disposition_id",
                "this call already has a disposition",
            ));
        }
        if let Some(l) = self.calls.get(&call) {
            if !matches!(l.phase, Phase::Connected { .. }) {
                return Err(ApiError::invalid(
                    "call",
                    "the call is not connected to an agent",
                ));
            }
        }
        let set = self.app.store.dispositions(campaign).await?;
        let Some(d) = set.iter().find(|d| d.id == disposition) else {
            return Err(ApiError::invalid(
                "disposition_id",
                "is not one of this campaign's dispositions",
            ));
        };
        let effect = self.effect(d.effect, d.target_list, callback_at)?;
        let core = Disposition {
            name: d.label.clone(),
            effect,
        };
        self.complete_attempt(campaign, contact, call, &core)
            .await?;
        self.apply_outside(row.client_id, contact, &row.phone, effect)
            .await?;
        self.app
            .store
            .set_call_disposition(call, Some(d.id), &d.label, notes)
            .await?;
        self.event(call, "disposition", &d.label).await?;
        tracing::info!(call = %call, disposition = %d.label, "disposition saved");
        self.release_after_disposition(call, row.agent_id).await;
        Ok(())
    }

    fn effect(
        &self,
        kind: EffectKind,
        target: Option<palera_core::ids::ListId>,
        callback_at: Option<DateTime<Utc>>,
    ) -> Result<DispositionEffect, ApiError> {
        Ok(match kind {
            EffectKind::Final => DispositionEffect::Final,
            EffectKind::Retry => DispositionEffect::Retry,
            EffectKind::Dnc => DispositionEffect::Dnc,
            EffectKind::Callback => {
                let at = callback_at.ok_or_else(|| {
                    ApiError::invalid("callback_at", "is required for a callback disposition")
                })?;
                if at <= self.now() {
                    return Err(ApiError::invalid("callback_at", "must be in the future"));
                }
                DispositionEffect::Callback { at }
            }
            EffectKind::MoveToList => DispositionEffect::MoveToList {
                list: target.ok_or_else(|| {
                    ApiError::invalid("disposition_id", "this disposition has no target list")
                })?,
            },
        })
    }

    /// What a disposition does beyond the campaign: DNC, or a move to another list.
    async fn apply_outside(
        &self,
        client: ClientId,
        contact: ContactId,
        phone: &str,
        effect: DispositionEffect,
    ) -> Result<(), ApiError> {
        match effect {
            DispositionEffect::Dnc => {
                let phone = palera_core::phone::PhoneNumber::parse_e164(phone)
                    .map_err(|e| ApiError::invalid("phone", e))?;
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
        if let Some(l) = self.calls.get_mut(&call) {
            l.disposed = true;
            if let Err(e) = l.carrier.hang_up(&l.sid).await {
                tracing::warn!(call = %call, error = %e, "hang-up failed");
            }
            return;
        }
        if let Some(a) = agent {
            if matches!(self.activity(a), Activity::WrapUp { call: c, .. } if c == call) {
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

    /// On start: calls the previous run left open are closed (hung up at the carrier when they
    /// were placed, with the outcome they had reached), claims are released, and attempts that
    /// never reached the carrier are given back — no attempt is lost or counted twice.
    pub(super) async fn reconcile(&mut self) -> Result<(), ApiError> {
        let now_ms = self.app.now_ms();
        for call in self.app.store.open_calls().await? {
            let (Some(campaign), Some(contact)) = (call.campaign_id, call.contact_id) else {
                continue;
            };
            let Some(sid) = call.carrier_sid.clone() else {
                self.app.store.unclaim(campaign, contact, call.id).await?;
                tracing::info!(call = %call.id, "unplaced dial given back");
                continue;
            };
            if let Ok(carrier) = self
                .app
                .carriers
                .for_client(&self.app.store, call.client_id)
                .await
            {
                let _ = carrier.hang_up(&CallSid(sid)).await; // it may be long gone
            }
            let dropped = self
                .app
                .store
                .call_event_kinds(call.id)
                .await?
                .iter()
                .any(|k| k == "voicemail_dropped");
            let outcome = match (call.connected_at, call.answered_by.as_deref()) {
                (Some(_), _) if dropped => CallOutcome::VoicemailDropped,
                (Some(_), _) => CallOutcome::Completed,
                (None, Some("human")) => CallOutcome::AbandonedNoAgent,
                (None, Some("machine")) => CallOutcome::Machine,
                _ => CallOutcome::Failed,
            };
            let u = CallUpdate {
                outcome: Some(outcome),
                ended_at: Some(now_ms),
                ..Default::default()
            };
            self.app.store.update_call(call.id, &u).await?;
            self.event(call.id, "reconciled", outcome_str(outcome))
                .await?;
        }
        for cc in self.app.store.claimed_contacts().await? {
            let Some(call) = cc.in_flight else { continue };
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

    /// What the live page shows about one campaign.
    pub(super) fn snapshot(&self, id: CampaignId) -> LiveSnapshot {
        let Some(r) = self.runners.get(&id) else {
            return LiveSnapshot::default();
        };
        let (_, waiting) = self.lines(id);
        let busy = self.calls.values().filter(|l| l.campaign == id).count();
        let agents =
            r.c.agents
                .iter()
                .map(|a| {
                    let u = self.users.get(a);
                    AgentLive {
                        id: *a,
                        name: u.map_or_else(|| a.to_string(), |u| u.name.clone()),
                        voice_state: u.map_or("offline", |u| u.voice_state.as_str()).into(),
                        activity: self.activity(*a).label().into(),
                        held: r.dist.held_by(*a).len(),
                        ready_for_campaign: r.ready.contains(a),
                    }
                })
                .collect();
        LiveSnapshot {
            running: true,
            agents,
            lines_in_use: busy,
            humans_waiting: waiting,
            due_contacts: r.due.len(),
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
            Activity::Idle { .. } => Vec::new(),
            Activity::Previewing { campaign, .. } => self
                .runners
                .get(&campaign)
                .and_then(|r| r.previews.get(&agent).map(|d| r.summary(d)))
                .map(|contact| DesktopMessage::CallOffered {
                    call_id: None,
                    preview: true,
                    contact,
                })
                .into_iter()
                .collect(),
            Activity::Dialing { call } => offered(call).into_iter().collect(),
            Activity::OnCall { call, .. } => {
                let held = self.calls.get(&call).is_some_and(|l| l.on_hold);
                offered(call)
                    .into_iter()
                    .chain([DesktopMessage::CallConnected { call_id: call }])
                    .chain(held.then_some(DesktopMessage::CallHold {
                        call_id: call,
                        on_hold: true,
                    }))
                    .collect()
            }
            Activity::WrapUp { call, until, .. } => {
                let Ok(row) = self.app.store.call(call).await else {
                    return Vec::new();
                };
                let Some(campaign) = row.campaign_id else {
                    return Vec::new();
                };
                let dispositions = self
                    .app
                    .store
                    .dispositions(campaign)
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
