//! Inbound calls in the engine (DESIGN §2.5, issue 17): a caller rings a client's number, the
//! call is recorded (the caller's contact is found or created in no list), and the pure
//! [`Roster`] decides who is offered it: the caller's last agent within the affinity window if
//! Ready and free (waiting up to the affinity wait while that agent is busy), else the longest
//! idle eligible agent, else the queue. An offer rings at the agent's desktop with the caller's
//! card; accepting bridges the caller (the call then runs as a call outside campaigns: hold,
//! resume, hang-up), declining or letting it ring out gives it to the next agent, and an agent
//! who lets two offers in a row ring out goes to Standby and is told. A caller who waits past the
//! maximum wait leaves a voicemail (or, with voicemail off, the call ends missed); a caller who
//! hangs up waiting is a missed call. Both land in the tray of the client's agents.
//!
//! While an agent is being offered a call their activity is ringing, so no campaign dials for
//! them: inbound calls come first.

use super::manual::Manual;
use super::EngineError;
use super::{AgentActivity, Engine};
use crate::desk::ws::{change_voice_state, DesktopMessage, InboundPastCall};
use chrono::{DateTime, Duration as CDuration, Utc};
use palera_carrier::{CallSid, Carrier};
use palera_core::ids::{CallId, ClientId, ContactId, UserId};
use palera_core::phone::PhoneNumber;
use palera_core::routing::{AgentStatus, Roster, Route, RoutingSettings, WaitingCall};
use palera_core::user::{Role, VoiceState};
use palera_store::contacts::Actor;
use palera_store::inbound::{InboundEnd, InboundSettings};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many offers in a row an agent may let ring out before going to Standby.
const MISSES_TO_STANDBY: u32 = 2;
/// How long a simulated voicemail lasts (prompt and message).
const SIM_VOICEMAIL_SECONDS: f64 = 20.0;

/// A caller on the line, from the network's point of view.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Arrival {
    pub client: ClientId,
    pub from: PhoneNumber,
    /// The caller's leg at the carrier (Twilio: queued in the client's queue); `None` on the
    /// simulated network, which makes the leg itself.
    pub sid: Option<CallSid>,
    /// Simulated network only: how long the caller waits before hanging up, and talks once
    /// connected (network seconds).
    pub patience_seconds: f64,
    pub talk_seconds: f64,
}

/// An inbound call not yet taken by an agent.
pub(super) struct Waiting {
    client: ClientId,
    contact: ContactId,
    name: String,
    phone: String,
    sid: CallSid,
    carrier: Arc<dyn Carrier>,
    arrived: DateTime<Utc>,
    last_agent: Option<(UserId, DateTime<Utc>)>,
    tried: Vec<UserId>,
    /// The agent it rings at, and until when.
    offered: Option<(UserId, Instant)>,
    /// The caller is leaving a voicemail (the call ends as `voicemail`).
    voicemail: bool,
    settings: InboundSettings,
    /// The client's number the agent's leg shows.
    caller_id: PhoneNumber,
}

fn routing(s: &InboundSettings) -> RoutingSettings {
    RoutingSettings {
        affinity_window: CDuration::days(i64::from(s.affinity_window_days)),
        affinity_wait: CDuration::seconds(i64::from(s.affinity_wait_seconds)),
    }
}

impl Engine {
    pub(super) fn is_inbound_waiting(&self, call: CallId) -> bool {
        self.inbound.contains_key(&call)
    }

    /// Whether `agent` is kept free for a waiting inbound call: a caller of a client they are
    /// assigned to waits unoffered, and they may take it (Ready, voice enabled). Campaigns dial
    /// nothing for such an agent (inbound first); the next inbound step offers them the call.
    pub(super) fn kept_for_inbound(&self, agent: UserId) -> bool {
        let Some(u) = self.users.get(&agent) else {
            return false;
        };
        if u.voice_state != VoiceState::Ready || !u.voice_enabled {
            return false;
        }
        self.inbound.values().any(|w| {
            w.offered.is_none()
                && !w.voicemail
                && u.clients.contains(&w.client)
                && !w.tried.contains(&agent)
        })
    }

    /// A caller rings: the call is recorded and routed. Returns the call.
    pub(super) async fn inbound_arrived(&mut self, a: Arrival) -> Result<CallId, EngineError> {
        if let Some(sid) = &a.sid {
            // A replayed arrival (the process stopped after recording the call, before marking
            // the webhook applied): the call is there already.
            if let Some(call) = self.app.store.call_by_sid(a.client, &sid.0).await? {
                tracing::info!(call = %call.id, "inbound call already recorded");
                return Ok(call.id);
            }
        }
        let now = self.now();
        let contact = self.caller_contact(&a).await?;
        let settings = self.app.store.inbound_settings(a.client).await?;
        let call = self
            .app
            .store
            .create_inbound_call(
                a.client,
                contact.id,
                a.from.as_str(),
                None,
                now.timestamp_millis(),
            )
            .await?;
        let sid = self.caller_leg(&a, call.id).await?;
        let caller_id = self
            .app
            .store
            .numbers(a.client)
            .await?
            .into_iter()
            .next()
            .and_then(|n| PhoneNumber::parse_e164(&n.number).ok())
            .unwrap_or_else(|| a.from.clone());
        let carrier = self
            .app
            .carriers
            .for_client(&self.app.store, a.client)
            .await
            .map_err(super::control::carrier_failed)?;
        let since = now - CDuration::days(i64::from(settings.affinity_window_days));
        let last_agent = self
            .app
            .store
            .last_agent_of(a.client, contact.id, since.timestamp_millis())
            .await?
            .and_then(|(u, at)| DateTime::from_timestamp_millis(at).map(|t| (u, t)));
        let name = [contact.first_name.as_str(), contact.last_name.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let waiting = Waiting {
            client: a.client,
            contact: contact.id,
            name,
            phone: a.from.as_str().to_string(),
            sid,
            carrier,
            arrived: now,
            last_agent,
            tried: Vec::new(),
            offered: None,
            voicemail: false,
            settings,
            caller_id,
        };
        self.inbound.insert(call.id, waiting);
        tracing::info!(call = %call.id, client = %a.client, affinity = ?last_agent.map(|(u, _)| u), "inbound call arrived");
        // Agents as they are now (the tick's copy may be up to one tick old).
        self.read_users().await?;
        self.route_inbound(call.id).await?;
        Ok(call.id)
    }

    /// The caller's contact: found by number, or created in no list.
    async fn caller_contact(
        &self,
        a: &Arrival,
    ) -> Result<palera_store::contacts::Contact, EngineError> {
        if let Some(c) = self.app.store.contact_by_phone(a.client, &a.from).await? {
            return Ok(c);
        }
        let data = palera_core::contact::ContactData {
            phone: a.from.clone(),
            first_name: String::new(),
            last_name: String::new(),
            email: None,
            time_zone: palera_core::contact::derive_time_zone(&a.from),
            properties: Default::default(),
        };
        let actor = Actor::system("inbound");
        Ok(self
            .app
            .store
            .create_contact(a.client, None, &data, &actor, self.app.now_ms())
            .await?)
    }

    /// The caller's leg at the carrier (Twilio's, given; the simulated network makes one), kept
    /// with the call.
    async fn caller_leg(&self, a: &Arrival, call: CallId) -> Result<CallSid, EngineError> {
        let sid = match (a.sid.clone(), self.app.carriers.sim()) {
            (Some(sid), _) => sid,
            (None, Some(sim)) => sim.incoming(call.0, a.patience_seconds, a.talk_seconds),
            (None, None) => {
                return Err(EngineError::invalid(
                    "sid",
                    "an inbound call needs its carrier call SID",
                ))
            }
        };
        let update = palera_store::calls::CallUpdate {
            sid: Some(sid.0.clone()),
            ..Default::default()
        };
        self.journal.update(call, update);
        Ok(sid)
    }

    /// The client's agents as routing sees them now.
    async fn roster(&self, client: ClientId) -> Result<Roster, EngineError> {
        let midnight = self
            .now()
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis())
            .unwrap_or(0);
        let today = self.app.store.connected_calls_since(midnight).await?;
        let offered: Vec<UserId> = self
            .inbound
            .values()
            .filter_map(|w| w.offered.map(|(a, _)| a))
            .collect();
        let mut r = Roster::new();
        for u in self.users.values().filter(|u| u.role == Role::Agent) {
            let act = self.activity(u.id);
            let idle_since = match act {
                AgentActivity::Idle { since } => {
                    since.max(DateTime::from_timestamp_millis(u.voice_state_since).unwrap_or(since))
                }
                _ => self.now(),
            };
            r.upsert(AgentStatus {
                id: u.id,
                state: u.voice_state,
                voice_enabled: u.voice_enabled,
                assigned: u.clients.contains(&client),
                busy: !matches!(act, AgentActivity::Idle { .. }) || offered.contains(&u.id),
                idle_since,
                calls_today: today.get(&u.id).copied().unwrap_or(0),
            });
        }
        Ok(r)
    }

    /// Offers a waiting call to the agent routing picks, if any is free now.
    async fn route_inbound(&mut self, call: CallId) -> Result<(), EngineError> {
        let Some(w) = self.inbound.get(&call) else {
            return Ok(());
        };
        if w.offered.is_some() || w.voicemail {
            return Ok(());
        }
        let waiting = WaitingCall {
            id: call,
            arrived: w.arrived,
            last_agent: w.last_agent,
            tried: w.tried.clone(),
        };
        let route = self
            .roster(w.client)
            .await?
            .route(&waiting, &routing(&w.settings), self.now());
        if let Route::Offer(agent) = route {
            self.offer_inbound(call, agent).await?;
        }
        Ok(())
    }

    async fn offer_inbound(&mut self, call: CallId, agent: UserId) -> Result<(), EngineError> {
        let Some(w) = self.inbound.get_mut(&call) else {
            return Ok(());
        };
        let ring = w.settings.ring_timeout_seconds.max(1);
        w.offered = Some((agent, Instant::now() + Duration::from_secs(u64::from(ring))));
        let affinity = w.last_agent.is_some_and(|(a, _)| a == agent);
        let (client, contact, name, phone) = (w.client, w.contact, w.name.clone(), w.phone.clone());
        self.agents.insert(agent, AgentActivity::Dialling { call });
        self.app.store.set_inbound_offer(call, true).await?;
        let list = match self.app.store.contact(client, contact).await?.list_id {
            Some(l) => self.app.store.list(client, l).await.ok().map(|l| l.name),
            None => None,
        };
        let last_calls = self
            .app
            .store
            .contact_calls(client, contact, 3)
            .await?
            .into_iter()
            .filter(|c| c.id != call)
            .map(|c| InboundPastCall {
                at: c.placed_at,
                agent: c.agent,
                disposition: c.disposition,
                notes: c.notes,
            })
            .collect();
        self.tell(
            agent,
            DesktopMessage::InboundOffer {
                call_id: call,
                client_id: client,
                contact_id: contact,
                name,
                phone,
                list,
                last_calls,
                ring_timeout_seconds: ring,
                affinity,
            },
        );
        tracing::info!(call = %call, agent = %agent, affinity, "inbound call offered");
        Ok(())
    }

    /// The offer leaves `agent` (declined, rang out or the caller left): they are free again.
    fn withdraw_offer(&mut self, call: CallId, agent: UserId, reason: &str) {
        if matches!(self.activity(agent), AgentActivity::Dialling { call: c } if c == call) {
            self.set_idle(agent);
        }
        self.tell(
            agent,
            DesktopMessage::InboundWithdrawn {
                call_id: call,
                reason: reason.into(),
            },
        );
    }

    /// The agent takes the call rung at their desktop: the caller is bridged to them.
    pub(super) async fn inbound_accept(
        &mut self,
        call: CallId,
        agent: UserId,
    ) -> Result<(), EngineError> {
        let offered_here = self
            .inbound
            .get(&call)
            .is_some_and(|w| w.offered.is_some_and(|(a, _)| a == agent));
        if !offered_here {
            return Err(EngineError::NotFound);
        }
        if let Some(w) = self.inbound.get(&call) {
            // Out of the carrier's queue into the call's conference; on failure the offer stays.
            // Recording starts once the agent is connected (`engine::media`), not here.
            w.carrier
                .bridge_inbound(&w.sid, call.0, &w.caller_id, false)
                .await
                .map_err(super::control::carrier_failed)?;
        }
        let w = self.inbound.remove(&call).expect("checked above");
        self.missed_offers.remove(&agent);
        let now = self.now();
        self.agents
            .insert(agent, AgentActivity::OnCall { call, since: now });
        // Written directly (it sets the call's outcome): the queued record goes first.
        self.journal.flush().await;
        self.app
            .store
            .inbound_connected(call, agent, now.timestamp_millis())
            .await?;
        let offer = DesktopMessage::InboundCall {
            call_id: call,
            client_id: w.client,
            contact_id: w.contact,
            name: w.name.clone(),
            phone: w.phone.clone(),
        };
        self.tell(agent, offer.clone());
        let taken = Manual::inbound(
            call,
            w.client,
            agent,
            w.sid,
            w.carrier,
            Instant::now(),
            offer,
        );
        // On the call's lane: the loop does not wait for the carrier (a failure is logged).
        taken.connect(agent);
        self.manual.insert(call, taken);
        self.tell(
            agent,
            DesktopMessage::CallConnected {
                call_id: call,
                contact: None,
            },
        );
        tracing::info!(call = %call, agent = %agent, "inbound call accepted");
        Ok(())
    }

    /// The agent declines the call rung at their desktop: the next agent gets it.
    pub(super) async fn inbound_decline(
        &mut self,
        call: CallId,
        agent: UserId,
    ) -> Result<(), EngineError> {
        let Some(w) = self
            .inbound
            .get_mut(&call)
            .filter(|w| w.offered.is_some_and(|(a, _)| a == agent))
        else {
            return Err(EngineError::NotFound);
        };
        w.offered = None;
        w.tried.push(agent);
        self.app.store.set_inbound_offer(call, false).await?;
        self.withdraw_offer(call, agent, "declined");
        self.route_inbound(call).await
    }

    /// Offers that rang out, callers who waited too long, and waiting calls an agent is free for.
    pub(super) async fn inbound_tick(&mut self) -> Result<(), EngineError> {
        let now = self.now();
        let mut order: Vec<(DateTime<Utc>, CallId)> = self
            .inbound
            .iter()
            .map(|(id, w)| (w.arrived, *id))
            .collect();
        order.sort();
        let mut queued = Vec::new();
        for (_, call) in order {
            let Some(w) = self.inbound.get(&call) else {
                continue;
            };
            if let Some((agent, until)) = w.offered {
                if Instant::now() >= until {
                    self.offer_rang_out(call, agent).await?;
                }
                continue;
            }
            if w.voicemail {
                continue;
            }
            let max_wait = CDuration::seconds(i64::from(w.settings.max_wait_seconds));
            if now - w.arrived >= max_wait {
                self.inbound_max_wait(call).await?;
                continue;
            }
            queued.push(call);
        }
        self.serve_queues(queued).await
    }

    /// Offers waiting calls (oldest first) to the agents free now, reading each client's
    /// agents once for all its waiting calls rather than once per call.
    async fn serve_queues(&mut self, queued: Vec<CallId>) -> Result<(), EngineError> {
        let mut rosters: HashMap<ClientId, Roster> = HashMap::new();
        let now = self.now();
        for call in queued {
            let Some(w) = self.inbound.get(&call).filter(|w| w.offered.is_none()) else {
                continue;
            };
            let (client, settings) = (w.client, routing(&w.settings));
            let waiting = WaitingCall {
                id: call,
                arrived: w.arrived,
                last_agent: w.last_agent,
                tried: w.tried.clone(),
            };
            if let std::collections::hash_map::Entry::Vacant(e) = rosters.entry(client) {
                e.insert(self.roster(client).await?);
            }
            let roster = rosters.get_mut(&client).expect("inserted above");
            if let Route::Offer(agent) = roster.route(&waiting, &settings, now) {
                roster.set_busy(agent, true, now);
                self.offer_inbound(call, agent).await?;
            }
        }
        Ok(())
    }

    async fn offer_rang_out(&mut self, call: CallId, agent: UserId) -> Result<(), EngineError> {
        if let Some(w) = self.inbound.get_mut(&call) {
            w.offered = None;
            w.tried.push(agent);
        }
        self.app.store.set_inbound_offer(call, false).await?;
        self.withdraw_offer(call, agent, "rang out");
        let misses = self.missed_offers.entry(agent).or_insert(0);
        *misses += 1;
        if *misses >= MISSES_TO_STANDBY {
            self.missed_offers.remove(&agent);
            if let Ok(user) = self.app.store.user(agent).await {
                change_voice_state(&self.app, &user, VoiceState::Standby, "missed_calls").await?;
                self.tell(
                    agent,
                    DesktopMessage::Error {
                        field: None,
                        message: "Two calls in a row rang out at your desktop, so you are on Standby now. Go Ready when you can take calls.".into(),
                    },
                );
                if let Some(u) = self.users.get_mut(&agent) {
                    u.voice_state = VoiceState::Standby;
                }
                tracing::info!(agent = %agent, "two inbound offers rang out: agent set to standby");
            }
        }
        self.route_inbound(call).await
    }

    /// The caller waited the maximum: a voicemail, or with voicemail off the call ends missed.
    async fn inbound_max_wait(&mut self, call: CallId) -> Result<(), EngineError> {
        let Some(w) = self.inbound.get_mut(&call) else {
            return Ok(());
        };
        if w.settings.voicemail {
            // Twilio takes the caller out of the queue to the voicemail itself (the wait
            // document); the simulated caller is told here.
            w.voicemail = true;
            if let Some(sim) = self.app.carriers.sim() {
                sim.take_voicemail(&w.sid, SIM_VOICEMAIL_SECONDS)
                    .map_err(super::control::carrier_failed)?;
            }
            tracing::info!(call = %call, "inbound caller leaves a voicemail");
            return Ok(());
        }
        let (sid, carrier) = (w.sid.clone(), w.carrier.clone());
        carrier
            .hang_up(&sid)
            .await
            .map_err(super::control::carrier_failed)?;
        Ok(())
    }

    /// The caller's line ended before an agent took it: missed, or a voicemail left.
    pub(super) async fn inbound_ended(&mut self, call: CallId) -> Result<(), EngineError> {
        let Some(w) = self.inbound.remove(&call) else {
            return Ok(());
        };
        if let Some((agent, _)) = w.offered {
            self.withdraw_offer(call, agent, "the caller hung up");
        }
        let end = if w.voicemail {
            InboundEnd::Voicemail
        } else {
            InboundEnd::Missed
        };
        self.journal.flush().await; // as for `inbound_connected`
        self.app
            .store
            .end_inbound_call(call, end, self.app.now_ms())
            .await?;
        tracing::info!(call = %call, outcome = end.as_str(), "inbound call ended unanswered");
        Ok(())
    }
}
