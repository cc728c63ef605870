//! One running campaign: which contacts are due (read from the store), who holds them (the core
//! `Distribution`, persisted as `holder_id` so pages and other nodes can see it), which agents
//! are ready for it, and the dialing decisions of its mode. The dial itself — fresh DNC lookup,
//! `check_dial`, calls per second, atomic claim, carrier — is [`Engine::dial`].

use super::{Activity, ContactSummary, Engine, DUE_EVERY, ENROL_EVERY};
use crate::desktop::DesktopMessage;
use crate::error::ApiError;
use chrono::NaiveDate;
use chrono_tz::Tz;
use palera_carrier::Dial;
use palera_core::campaign::{
    check_dial, local_date, CpsLimiter, DialCheck, DialMode, DialRefusal, Distribution, Move,
    PacingStats, TimeZoneSource,
};
use palera_core::ids::{CallId, CampaignId, ContactId, UserId};
use palera_core::phone::PhoneNumber;
use palera_core::user::VoiceState;
use palera_store::calls::{CallUpdate, CampaignContact, Claim, Enrolment};
use palera_store::campaigns::{Campaign, Leadership};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// A due contact with what dialing it needs.
#[derive(Debug, Clone)]
pub(super) struct Due {
    pub cc: CampaignContact,
    pub phone: PhoneNumber,
    pub zones: TimeZoneSource,
    pub tz: Tz,
}

impl Due {
    fn new(cc: CampaignContact) -> Option<Self> {
        let phone = PhoneNumber::parse_e164(&cc.phone).ok()?;
        let own: Option<Tz> = cc.time_zone.as_deref().and_then(|z| z.parse().ok());
        let zones = TimeZoneSource::resolve(own, &phone);
        let tz = own
            .or_else(|| {
                palera_core::campaign::zones_for_number(&phone)
                    .first()
                    .copied()
            })
            .unwrap_or(chrono_tz::UTC);
        Some(Self {
            cc,
            phone,
            zones,
            tz,
        })
    }
}

/// The time zone cadence is counted in for a stored contact.
pub(super) fn contact_tz(cc: &CampaignContact) -> Tz {
    Due::new(cc.clone()).map_or(chrono_tz::UTC, |d| d.tz)
}

pub(super) struct Runner {
    pub c: Campaign,
    pub dist: Distribution,
    /// Predictive mode: due contacts in calling order.
    pub pool: VecDeque<ContactId>,
    /// Due contacts known to the runner (held, pooled, or waiting for the window).
    pub due: HashMap<ContactId, Due>,
    /// The contact each previewing agent is looking at.
    pub previews: HashMap<UserId, Due>,
    pub ready: BTreeSet<UserId>,
    pub stats: PacingStats,
    pub calls_today: HashMap<UserId, (NaiveDate, u32)>,
    /// Calls per second allowed: the lower of the client's account limit and the campaign's.
    pub cps: f64,
    /// Held while this node runs the campaign (released on drop).
    _lead: Leadership,
    last_due: Option<Instant>,
    last_enrol: Option<Instant>,
}

impl Runner {
    pub fn new(c: Campaign, client_cps: f64, lead: Leadership) -> Self {
        Self {
            _lead: lead,
            cps: client_cps.min(c.settings.calls_per_second),
            c,
            dist: Distribution::new(),
            pool: VecDeque::new(),
            due: HashMap::new(),
            previews: HashMap::new(),
            ready: BTreeSet::new(),
            stats: PacingStats::default(),
            calls_today: HashMap::new(),
            last_due: None,
            last_enrol: None,
        }
    }

    fn mode(&self) -> DialMode {
        self.c.settings.dial_mode
    }

    pub fn summary(&self, d: &Due) -> ContactSummary {
        ContactSummary {
            contact_id: d.cc.contact_id,
            name: d.cc.name.clone(),
            phone: d.cc.phone.clone(),
            campaign_id: self.c.id,
            campaign: self.c.name.clone(),
        }
    }
}

fn holders(moves: &[Move]) -> Vec<(ContactId, Option<UserId>)> {
    moves.iter().map(|m| (m.contact, m.to)).collect()
}

fn due_every(last: Option<Instant>, every: Duration) -> bool {
    last.is_none_or(|t| t.elapsed() >= every)
}

impl Engine {
    /// Whether `user` may be given calls of `campaign` now: ready, voice-enabled, assigned to the
    /// campaign and its client, and heard from within the campaign's inactivity timeout.
    fn is_ready_for(&self, user: UserId, c: &Campaign) -> bool {
        let Some(u) = self.users.get(&user) else {
            return false;
        };
        let timeout = Duration::from_secs(u64::from(c.settings.inactivity_timeout_seconds));
        u.voice_state == VoiceState::Ready
            && u.voice_enabled
            && u.clients.contains(&c.client_id)
            && self.app.presence.active_within(user, timeout)
    }

    /// Reads users again and moves contacts away from agents who stopped being ready (and to
    /// agents who became ready).
    pub(super) async fn refresh_agents_now(&mut self) -> Result<(), ApiError> {
        let users = self.app.store.users(None).await?;
        self.users = users.into_iter().map(|u| (u.id, u)).collect();
        let ids: Vec<CampaignId> = self.runners.keys().copied().collect();
        for id in ids {
            let r = &self.runners[&id];
            let now_ready: BTreeSet<UserId> =
                r.c.agents
                    .iter()
                    .copied()
                    .filter(|a| self.is_ready_for(*a, &r.c))
                    .collect();
            let left: Vec<UserId> = r.ready.difference(&now_ready).copied().collect();
            let joined: Vec<UserId> = now_ready.difference(&r.ready).copied().collect();
            for a in left {
                self.agent_left(id, a).await?;
            }
            if !joined.is_empty() {
                let r = self.runners.get_mut(&id).expect("runner");
                r.ready.extend(joined.iter().copied());
                if r.mode() != DialMode::Predictive {
                    let moves = r.dist.add_agents(joined.iter().copied());
                    self.app.store.set_holders(id, &holders(&moves)).await?;
                }
                tracing::info!(campaign = %id, agents = ?joined, "agents ready for the campaign");
            }
        }
        Ok(())
    }

    /// An agent stopped being ready for a campaign: its un-called contacts go to the others.
    async fn agent_left(&mut self, id: CampaignId, agent: UserId) -> Result<(), ApiError> {
        let r = self.runners.get_mut(&id).expect("runner");
        r.ready.remove(&agent);
        let mut moves = r.dist.remove_agent(agent);
        if let Some(d) = r.previews.remove(&agent) {
            let c = d.cc.contact_id;
            r.due.insert(c, d);
            moves.extend(r.dist.add_contacts([c]));
            self.set_idle(agent);
            self.tell(agent, DesktopMessage::CallCleared { call_id: None });
        }
        tracing::info!(campaign = %id, agent = %agent, moved = moves.len(), "agent left: contacts redistributed");
        self.app.store.set_holders(id, &holders(&moves)).await?;
        Ok(())
    }

    /// One step of a running campaign: refresh its contacts, then dial by its mode.
    pub(super) async fn run_campaign(&mut self, id: CampaignId) -> Result<(), ApiError> {
        let Some(r) = self.runners.get(&id) else {
            return Ok(());
        };
        if due_every(r.last_enrol, ENROL_EVERY) {
            self.enrol(id).await?;
        }
        let r = self.runners.get(&id).expect("runner");
        if due_every(r.last_due, DUE_EVERY) {
            self.load_due(id).await?;
        }
        match self.runners[&id].mode() {
            DialMode::Progressive => self.dial_progressive(id).await,
            DialMode::Preview => self.offer_previews(id).await,
            DialMode::Predictive => self.dial_predictive(id).await,
        }
    }

    /// Adds the contacts of the campaign's lists it does not have yet; contacts that left the
    /// lists stop being due.
    async fn enrol(&mut self, id: CampaignId) -> Result<(), ApiError> {
        let r = self.runners.get_mut(&id).expect("runner");
        r.last_enrol = Some(Instant::now());
        let (client, lists) = (r.c.client_id, r.c.lists.clone());
        let mut listed = HashSet::new();
        let mut after = None;
        loop {
            let page = self
                .app
                .contacts
                .contacts_in_lists(client, &lists, after, 500)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            let batch: Vec<Enrolment> = page
                .iter()
                .map(|c| Enrolment {
                    contact_id: c.id,
                    phone: c.phone.as_str().to_string(),
                    time_zone: c.time_zone.clone(),
                    name: c.name.clone(),
                })
                .collect();
            listed.extend(page.iter().map(|c| c.id));
            let added = self
                .app
                .store
                .enrol_contacts(id, client, &batch, self.app.now_ms())
                .await?;
            if added > 0 {
                tracing::info!(campaign = %id, added, "contacts enrolled");
            }
        }
        self.retire_unlisted(id, &listed).await
    }

    async fn retire_unlisted(
        &mut self,
        id: CampaignId,
        listed: &HashSet<ContactId>,
    ) -> Result<(), ApiError> {
        let now_ms = self.app.now_ms();
        for cc in self.app.store.campaign_contacts(id).await? {
            let active = cc.attempts.status == palera_core::campaign::ContactStatus::Active;
            if active && cc.in_flight.is_none() && !listed.contains(&cc.contact_id) {
                let mut a = cc.attempts.clone();
                a.status = palera_core::campaign::ContactStatus::Moved;
                self.app
                    .store
                    .save_attempts(id, cc.contact_id, &a, now_ms)
                    .await?;
                self.forget_contact(id, cc.contact_id).await?;
            }
        }
        Ok(())
    }

    /// A contact stopped being due: nobody holds it.
    async fn forget_contact(&mut self, id: CampaignId, c: ContactId) -> Result<(), ApiError> {
        let Some(r) = self.runners.get_mut(&id) else {
            return Ok(());
        };
        r.due.remove(&c);
        r.pool.retain(|x| *x != c);
        let (_, mut moves) = r.dist.release(c);
        moves.push(Move {
            contact: c,
            from: None,
            to: None,
            entering: false,
        });
        self.app.store.set_holders(id, &holders(&moves)).await?;
        Ok(())
    }

    /// Reads the contacts due now and hands the new ones out.
    async fn load_due(&mut self, id: CampaignId) -> Result<(), ApiError> {
        let now = self.now();
        let r = self.runners.get_mut(&id).expect("runner");
        r.last_due = Some(Instant::now());
        let rows = self
            .app
            .store
            .due_contacts(id, now.timestamp_millis(), r.c.settings.max_attempts, 5000)
            .await?;
        let r = self.runners.get_mut(&id).expect("runner");
        let previewed: HashSet<ContactId> = r.previews.values().map(|d| d.cc.contact_id).collect();
        let mut fresh = Vec::new();
        for cc in rows {
            let c = cc.contact_id;
            if r.due.contains_key(&c) || previewed.contains(&c) {
                continue;
            }
            if let Some(d) = Due::new(cc) {
                r.due.insert(c, d);
                fresh.push(c);
            }
        }
        if fresh.is_empty() {
            return Ok(());
        }
        if r.mode() == DialMode::Predictive {
            r.pool.extend(fresh);
        } else {
            let moves = r.dist.add_contacts(fresh);
            self.app.store.set_holders(id, &holders(&moves)).await?;
        }
        Ok(())
    }

    fn idle_ready(&self, id: CampaignId) -> Vec<UserId> {
        self.runners[&id]
            .ready
            .iter()
            .copied()
            .filter(|a| matches!(self.activity(*a), Activity::Idle { .. }))
            .collect()
    }

    /// The agent's next contact whose calling window is open now.
    async fn next_for(&mut self, id: CampaignId, agent: UserId) -> Result<Option<Due>, ApiError> {
        let now = self.now();
        let Some(r) = self.runners.get_mut(&id) else {
            return Ok(None);
        };
        let window = r.c.settings.window.clone();
        let due = &r.due;
        let Some((c, moves)) = r.dist.take_next(agent, |c| {
            due.get(&c)
                .is_some_and(|d| d.zones.window_open(&window, now))
        }) else {
            return Ok(None);
        };
        let d = r.due.remove(&c);
        let mut changes = holders(&moves);
        changes.push((c, None));
        self.app.store.set_holders(id, &changes).await?;
        Ok(d)
    }

    async fn dial_progressive(&mut self, id: CampaignId) -> Result<(), ApiError> {
        for agent in self.idle_ready(id) {
            if !self.cps_free(id) {
                return Ok(());
            }
            while let Some(d) = self.next_for(id, agent).await? {
                if self.dial(id, d, Some(agent)).await?.is_some() {
                    break;
                }
            }
        }
        Ok(())
    }

    async fn offer_previews(&mut self, id: CampaignId) -> Result<(), ApiError> {
        for agent in self.idle_ready(id) {
            let Some(d) = self.next_for(id, agent).await? else {
                continue;
            };
            let r = self.runners.get_mut(&id).expect("runner");
            let contact = r.summary(&d);
            self.agents.insert(
                agent,
                Activity::Previewing {
                    campaign: id,
                    contact: d.cc.contact_id,
                },
            );
            r.previews.insert(agent, d);
            self.tell(
                agent,
                DesktopMessage::CallOffered {
                    call_id: None,
                    preview: true,
                    contact,
                },
            );
        }
        Ok(())
    }

    async fn dial_predictive(&mut self, id: CampaignId) -> Result<(), ApiError> {
        let now = self.now();
        let r = &self.runners[&id];
        let agents: Vec<_> = r
            .ready
            .iter()
            .filter_map(|a| match self.activity(*a) {
                Activity::Idle { .. } => Some(palera_core::campaign::AgentActivity::Idle),
                Activity::OnCall { since, .. } => {
                    Some(palera_core::campaign::AgentActivity::OnCall { since })
                }
                Activity::WrapUp { until_at, .. } => {
                    Some(palera_core::campaign::AgentActivity::WrapUp { until: until_at })
                }
                _ => None,
            })
            .collect();
        let (ringing, waiting) = self.lines(id);
        let pacer = palera_core::campaign::Pacer {
            cap: r.c.settings.abandon_cap(),
            max_lines_per_agent: r.c.settings.max_lines_per_agent,
            wrap_up_seconds: f64::from(r.c.settings.wrap_up_seconds),
        };
        let decision = pacer.decide(
            &r.stats,
            palera_core::campaign::PacingInput {
                agents: &agents,
                lines_in_flight: ringing,
                humans_waiting: waiting,
                now,
            },
        );
        let mut left = decision.new_lines;
        while left > 0 && self.cps_free(id) {
            let r = self.runners.get_mut(&id).expect("runner");
            let window = r.c.settings.window.clone();
            let pos = r.pool.iter().position(|c| {
                r.due
                    .get(c)
                    .is_some_and(|d| d.zones.window_open(&window, now))
            });
            let Some(pos) = pos else { break };
            let c = r.pool.remove(pos).expect("position exists");
            let Some(d) = r.due.remove(&c) else { continue };
            if self.dial(id, d, None).await?.is_some() {
                left -= 1;
            }
        }
        Ok(())
    }

    /// Whether the client's calls-per-second limit leaves room for a dial now (real time: the
    /// limit is the carrier's, not the business clock's).
    fn cps_free(&mut self, id: CampaignId) -> bool {
        let r = &self.runners[&id];
        let (client, cps) = (r.c.client_id, r.cps);
        let now = chrono::Utc::now();
        self.cps
            .entry(client)
            .or_insert_with(|| CpsLimiter::new(cps))
            .next_slot(now)
            <= now
    }

    /// Places one call to a due contact, for `agent` or (predictive) for whoever is free when a
    /// person answers. DNC, window and attempts are judged right before; the claim is atomic.
    /// `None` when the contact was not dialled (it is then forgotten until due again).
    pub(super) async fn dial(
        &mut self,
        id: CampaignId,
        d: Due,
        agent: Option<UserId>,
    ) -> Result<Option<CallId>, ApiError> {
        let now = self.now();
        let r = &self.runners[&id];
        let (client, settings) = (r.c.client_id, r.c.settings.clone());
        let on_dnc = self.app.contacts.is_on_dnc(client, &d.phone).await?;
        let check = check_dial(DialCheck {
            contact: &d.cc.attempts,
            on_dnc,
            window_open: d.zones.window_open(&settings.window, now),
            max_attempts: settings.max_attempts,
            now,
        });
        if let Err(refusal) = check {
            tracing::info!(campaign = %id, contact = %d.cc.contact_id, %refusal, "dial refused");
            if refusal == DialRefusal::OnDnc {
                let mut a = d.cc.attempts.clone();
                a.mark_dnc();
                self.app
                    .store
                    .save_attempts(id, d.cc.contact_id, &a, now.timestamp_millis())
                    .await?;
            }
            self.forget_contact(id, d.cc.contact_id).await?;
            return Ok(None);
        }
        let claim = Claim {
            campaign: id,
            client,
            contact: d.cc.contact_id,
            agent,
            phone: d.cc.phone.clone(),
            max_attempts: settings.max_attempts,
            now_ms: now.timestamp_millis(),
            cycle: local_date(d.tz, now).to_string(),
        };
        let Some(call) = self.app.store.claim_contact(&claim).await? else {
            tracing::info!(campaign = %id, contact = %d.cc.contact_id, "contact already claimed");
            return Ok(None);
        };
        if let Some(l) = self.cps.get_mut(&client) {
            l.try_acquire(chrono::Utc::now());
        }
        if let Some(a) = agent {
            self.agents.insert(a, Activity::Dialing { call: call.id });
        }
        self.place(id, d, call.id, agent).await
    }

    /// Hands a claimed call to the carrier; a refused dial gives the claim back.
    async fn place(
        &mut self,
        id: CampaignId,
        d: Due,
        call: CallId,
        agent: Option<UserId>,
    ) -> Result<Option<CallId>, ApiError> {
        let r = &self.runners[&id];
        let (client, c) = (r.c.client_id, r.c.clone());
        let from =
            PhoneNumber::parse_e164(&c.caller_id).map_err(|e| ApiError::invalid("caller_id", e))?;
        let placed = match self.app.carriers.for_client(&self.app.store, client).await {
            Ok(carrier) => carrier
                .dial(Dial {
                    call_id: call.0,
                    to: d.phone.clone(),
                    from,
                    amd: c.settings.amd,
                    ring_timeout_seconds: c.settings.ring_timeout_seconds,
                    record: c.recording,
                })
                .await
                .map(|sid| (carrier, sid)),
            Err(e) => Err(e),
        };
        let (carrier, sid) = match placed {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(campaign = %id, call = %call, error = %e, "dial failed; claim given back");
                self.app.store.unclaim(id, d.cc.contact_id, call).await?;
                if let Some(a) = agent {
                    self.set_idle(a);
                }
                return Ok(None);
            }
        };
        self.app
            .store
            .update_call(
                call,
                &CallUpdate {
                    sid: Some(sid.0.clone()),
                    ..Default::default()
                },
            )
            .await?;
        tracing::info!(campaign = %id, call = %call, contact = %d.cc.contact_id, agent = ?agent, "dialled");
        let summary = self.runners[&id].summary(&d);
        if let Some(a) = agent {
            self.tell(
                a,
                DesktopMessage::CallOffered {
                    call_id: Some(call),
                    preview: false,
                    contact: summary.clone(),
                },
            );
        }
        self.calls.insert(
            call,
            super::live::Live::new(call, id, summary, agent, sid, carrier),
        );
        Ok(Some(call))
    }

    /// The agent calls the contact they are previewing.
    pub(super) async fn preview_call(&mut self, agent: UserId) -> Result<CallId, ApiError> {
        let Activity::Previewing { campaign, .. } = self.activity(agent) else {
            return Err(ApiError::invalid("preview", "you have no contact to call"));
        };
        if !self.cps_free(campaign) {
            return Err(ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "the carrier's calls-per-second limit is reached; try again in a moment",
            ));
        }
        let d = self
            .runners
            .get_mut(&campaign)
            .and_then(|r| r.previews.remove(&agent))
            .ok_or_else(|| ApiError::invalid("preview", "you have no contact to call"))?;
        match self.dial(campaign, d, Some(agent)).await? {
            Some(call) => Ok(call),
            None => {
                self.set_idle(agent);
                self.tell(agent, DesktopMessage::CallCleared { call_id: None });
                Err(ApiError::invalid(
                    "preview",
                    "this contact cannot be called now (do-not-call, window or attempts)",
                ))
            }
        }
    }

    /// The agent skips the contact they are previewing: it goes to the back of the queue.
    pub(super) async fn preview_skip(&mut self, agent: UserId) -> Result<(), ApiError> {
        let Activity::Previewing { campaign, .. } = self.activity(agent) else {
            return Err(ApiError::invalid("preview", "you have no contact to skip"));
        };
        self.set_idle(agent);
        self.tell(agent, DesktopMessage::CallCleared { call_id: None });
        let Some(r) = self.runners.get_mut(&campaign) else {
            return Ok(());
        };
        let Some(d) = r.previews.remove(&agent) else {
            return Ok(());
        };
        let c = d.cc.contact_id;
        r.due.insert(c, d);
        let moves = r.dist.add_contacts([c]);
        self.app
            .store
            .set_holders(campaign, &holders(&moves))
            .await?;
        Ok(())
    }
}
