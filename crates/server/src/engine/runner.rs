//! One running campaign on the server: the core campaign [`Driver`] — the same state machine the
//! simulator runs — fed from the store (enrolled and due contacts), the desktops (agents ready,
//! heartbeats, previews, dispositions) and the carrier (see `live`), with its commands carried
//! out here: holders persisted as `holder_id` (pages and other nodes see them), dials placed
//! after a fresh DNC lookup and an atomic claim in the store, previews offered to desktops.

use super::EngineError;
use super::{
    AgentActivity, ContactSummary, Engine, DUE_EVERY, ENROL_EVERY, USERS_EVERY, USERS_OVERLAP_MS,
};
use crate::desk::ws::DesktopMessage;
use chrono_tz::Tz;
use palera_carrier::Dial;
use palera_core::campaign::driver::{
    Activity as DriverActivity, Command, Driver, DueContact, Now, Refusal,
};
use palera_core::campaign::pacing::PacingStats;
use palera_core::campaign::{local_date, TimeZoneSource};
use palera_core::ids::{CallId, CampaignId, ContactId, UserId};
use palera_core::phone::PhoneNumber;
use palera_core::user::VoiceState;
use palera_store::calls::{CallUpdate, CampaignContact, Claim, PacingHistory};
use palera_store::campaigns::{Campaign, Leadership};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// A due contact with what dialing it needs.
#[derive(Debug, Clone)]
pub(super) struct Due {
    /// The contact's campaign record (holder, attempts, cycle).
    pub record: CampaignContact,
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
            record: cc,
            phone,
            zones,
            tz,
        })
    }

    fn for_driver(&self) -> DueContact {
        DueContact {
            id: self.record.contact_id,
            attempts: self.record.attempts.clone(),
            zones: self.zones.clone(),
            tz: self.tz,
        }
    }
}

/// The time zone cadence is counted in for a stored contact.
pub(super) fn contact_tz(cc: &CampaignContact) -> Tz {
    Due::new(cc.clone()).map_or(chrono_tz::UTC, |d| d.tz)
}

pub(super) struct Runner {
    pub campaign: Campaign,
    /// Tells this runner from an earlier one of the same campaign still finishing its calls.
    pub generation: u64,
    pub driver: Driver,
    /// What dialing and showing each contact known to the driver needs.
    pub due: HashMap<ContactId, Due>,
    /// The client's calls-per-second limit (its account's), shared with its other campaigns and
    /// manual calls; the campaign's own limit is kept inside it by the driver.
    pub client_cps: f64,
    /// Held while this node runs the campaign (released when it stops).
    _lead: Option<Leadership>,
    last_due: Option<Instant>,
    /// Where reading due contacts goes on (keyset position, see [`Engine::load_due`]).
    due_reader: DueReader,
    last_enrol: Option<Instant>,
    /// An enrolment runs off the loop.
    enrolling: bool,
}

impl Runner {
    /// A runner whose pacer starts from `stats` (see [`pacing_stats`]).
    pub fn new(
        c: Campaign,
        client_cps: f64,
        lead: Leadership,
        generation: u64,
        stats: PacingStats,
    ) -> Self {
        Self {
            _lead: Some(lead),
            client_cps,
            driver: Driver::with_stats(c.settings.clone(), stats),
            generation,
            campaign: c,
            due: HashMap::new(),
            last_due: None,
            due_reader: DueReader::default(),
            last_enrol: None,
            enrolling: false,
        }
    }

    pub fn summary(&self, contact: ContactId) -> Option<ContactSummary> {
        let d = self.due.get(&contact)?;
        Some(ContactSummary {
            contact_id: d.record.contact_id,
            name: d.record.name.clone(),
            phone: d.record.phone.clone(),
            campaign_id: self.campaign.id,
            campaign: self.campaign.name.clone(),
        })
    }

    /// Stops dialing: the leadership is given up; calls in hand finish.
    pub fn stop(&mut self, now: Now) -> Vec<Command> {
        self._lead = None;
        self.driver.stop(now)
    }
}

/// The pacer's record rebuilt from a campaign's stored calls (DESIGN §2.1): the abandon record
/// of its whole life, per UTC day (so the cap holds over the life and every rolling 30 days
/// across restarts and resumes), and the recent dials the answer, ring and talk estimates learn
/// from.
pub(super) fn pacing_stats(h: &PacingHistory) -> PacingStats {
    let mut stats = PacingStats::default();
    for d in &h.days {
        stats.record_day(d.day, d.live_answered, d.abandoned);
    }
    for s in &h.recent {
        stats.record_dial(s.human, s.ring_seconds);
        if let Some(t) = s.talk_seconds {
            stats.record_talk(t);
        }
    }
    stats
}

/// Which runner a command came from: the running one of a campaign, or an earlier one still
/// finishing its calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RunnerRef {
    pub campaign: CampaignId,
    pub generation: u64,
}

fn due_every(last: Option<Instant>, every: Duration) -> bool {
    last.is_none_or(|t| t.elapsed() >= every)
}

/// Due contacts read per page (one page a step, so a read never holds the loop long).
const DUE_PAGE: i64 = 1000;
/// How often the reading of due contacts starts again from the first one: rows that became due
/// behind the reader's position (a claim another campaign released, a dial that could not be
/// placed) are found again within this time.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// A runner's position in its due contacts, in the order `(next_due, contact)`. Each step reads
/// one page after it: first through the backlog, then only what came due since. Contacts
/// rescheduled after a call, and new enrolments (the sweep starts again for them), come due
/// ahead of the position, so the driver hears of them within a step; the campaign's contacts are
/// not read again and again once the driver holds them. A page is read off the loop (a page of
/// 1,000 took 16-75 ms, every step of a sweep) and handed back as [`super::Request::DuePage`].
#[derive(Debug, Default)]
pub(super) struct DueReader {
    after: Option<(i64, ContactId)>,
    /// When the current sweep started from the first contact.
    swept_at: Option<Instant>,
    /// The last page was full: read on at the next step rather than after [`DUE_EVERY`].
    more: bool,
    /// A page is being read.
    reading: bool,
    /// Counts the restarts: a page read before the latest one does not move the position.
    sweep: u64,
}

impl DueReader {
    /// Starts again from the first due contact at the next read.
    fn restart(&mut self) {
        self.after = None;
        self.more = false;
        self.sweep += 1;
        self.swept_at = Some(Instant::now());
    }
}

/// A page of due contacts read off the loop, for runner `generation` of `campaign`, in `sweep`.
#[derive(Debug)]
pub struct DuePage {
    pub(super) campaign: CampaignId,
    pub(super) generation: u64,
    pub(super) sweep: u64,
    pub(super) rows: Result<Vec<CampaignContact>, String>,
}

impl Engine {
    pub(super) fn clock(&self) -> Now {
        Now {
            at: self.now(),
            mono: self.mono(Instant::now()),
        }
    }

    /// An instant on the driver's monotonic scale (milliseconds since the engine started).
    pub(super) fn mono(&self, t: Instant) -> i64 {
        if t >= self.epoch {
            t.duration_since(self.epoch).as_millis() as i64
        } else {
            -(self.epoch.duration_since(t).as_millis() as i64)
        }
    }

    pub(super) fn instant(&self, mono: i64) -> Instant {
        if mono >= 0 {
            self.epoch + Duration::from_millis(mono as u64)
        } else {
            self.epoch
        }
    }

    pub(super) fn runner(&self, at: RunnerRef) -> Option<&Runner> {
        self.runners
            .get(&at.campaign)
            .filter(|r| r.generation == at.generation)
            .or_else(|| {
                self.draining
                    .iter()
                    .find(|r| r.campaign.id == at.campaign && r.generation == at.generation)
            })
    }

    pub(super) fn runner_mut(&mut self, at: RunnerRef) -> Option<&mut Runner> {
        match self.runners.get_mut(&at.campaign) {
            Some(r) if r.generation == at.generation => Some(r),
            _ => self
                .draining
                .iter_mut()
                .find(|r| r.campaign.id == at.campaign && r.generation == at.generation),
        }
    }

    /// The runner whose driver owns `call` of `campaign`.
    pub(super) fn runner_of_call(&self, campaign: CampaignId, call: CallId) -> Option<RunnerRef> {
        self.runners
            .get(&campaign)
            .into_iter()
            .chain(self.draining.iter().filter(|r| r.campaign.id == campaign))
            .find(|r| r.driver.owns_call(call))
            .map(|r| RunnerRef {
                campaign,
                generation: r.generation,
            })
    }

    pub(super) fn current(&self, id: CampaignId) -> Option<RunnerRef> {
        self.runners.get(&id).map(|r| RunnerRef {
            campaign: id,
            generation: r.generation,
        })
    }

    /// Whether `user` may be given calls of `campaign` now: ready, voice-enabled, assigned to the
    /// campaign and its client (heartbeats are the driver's to judge).
    fn is_ready_for(&self, user: UserId, c: &Campaign) -> bool {
        let Some(u) = self.users.get(&user) else {
            return false;
        };
        u.voice_state == VoiceState::Ready && u.voice_enabled && u.clients.contains(&c.client_id)
    }

    /// Reads users again when they changed (a write through this process's store, or every
    /// [`USERS_EVERY`] for other nodes' writes); tells each driver who became ready, who left,
    /// when each desktop was last heard from, and who is busy elsewhere (another campaign, a
    /// manual call). Between reads this is memory only.
    /// Brings the engine's copy of the users up to date: every user the first time, then only
    /// those changed since the last read (users are never deleted).
    pub(super) async fn read_users(&mut self) -> Result<(), EngineError> {
        let since = self
            .users_mark
            .map_or(i64::MIN, |m| m.saturating_sub(USERS_OVERLAP_MS));
        let (users, latest) = self.app.store.users_changed_since(since).await?;
        if self.users_mark.is_none() {
            self.users.clear();
        }
        self.users.extend(users.into_iter().map(|u| (u.id, u)));
        self.users_mark = Some(self.users_mark.map_or(latest, |m| m.max(latest)));
        self.users_read_at = Some(Instant::now());
        Ok(())
    }

    pub(super) async fn refresh_agents_now(&mut self) -> Result<(), EngineError> {
        let generation = self.app.store.users_generation();
        if generation != self.users_seen || due_every(self.users_read_at, USERS_EVERY) {
            // The generation is taken before the read: a write during it is read next time.
            self.read_users().await?;
            self.users_seen = generation;
        }
        let now = self.clock();
        let ids: Vec<CampaignId> = self.runners.keys().copied().collect();
        for id in ids {
            let r = &self.runners[&id];
            let at = RunnerRef {
                campaign: id,
                generation: r.generation,
            };
            let timeout =
                Duration::from_secs(u64::from(r.campaign.settings.inactivity_timeout_seconds));
            let wanted: BTreeSet<UserId> = r
                .campaign
                .agents
                .iter()
                .copied()
                .filter(|a| self.is_ready_for(*a, &r.campaign))
                .collect();
            let ready: BTreeSet<UserId> = r.driver.ready_agents().into_iter().collect();
            let left: Vec<UserId> = ready.difference(&wanted).copied().collect();
            // An agent the driver found silent comes back once its desktop is heard from again.
            let joined: Vec<UserId> = wanted
                .difference(&ready)
                .copied()
                .filter(|a| self.app.presence.active_within(*a, timeout))
                .collect();
            let seen: Vec<(UserId, i64)> = wanted
                .iter()
                .map(|a| {
                    let t = self.app.presence.last_seen(*a).unwrap_or_else(Instant::now);
                    (*a, self.mono(t))
                })
                .collect();
            let mut cmds = Vec::new();
            let r = self.runners.get_mut(&id).expect("runner");
            for (a, t) in seen {
                r.driver.agent_seen(a, t);
            }
            for a in &left {
                cmds.extend(r.driver.agent_left(now, *a));
            }
            if !joined.is_empty() {
                cmds.extend(r.driver.agents_ready(now, joined.iter().copied()));
                tracing::info!(campaign = %id, agents = ?joined, "agents ready for the campaign");
            }
            if !left.is_empty() {
                tracing::info!(campaign = %id, agents = ?left, "agents left: contacts redistributed");
            }
            self.execute(at, cmds).await;
        }
        Ok(())
    }

    /// One step of a running campaign: refresh its contacts, then let its driver decide.
    pub(super) async fn run_campaign(&mut self, id: CampaignId) -> Result<(), EngineError> {
        let Some(r) = self.runners.get(&id) else {
            return Ok(());
        };
        if due_every(r.last_enrol, ENROL_EVERY) {
            self.enrol(id);
        }
        let r = self.runners.get(&id).expect("runner");
        if !r.due_reader.reading && (r.due_reader.more || due_every(r.last_due, DUE_EVERY)) {
            self.read_due(id);
        }
        let now = self.clock();
        let Some(at) = self.current(id) else {
            return Ok(());
        };
        let r = self.runners.get_mut(&id).expect("runner");
        let cmds = r.driver.tick(now);
        self.execute(at, cmds).await;
        self.poll(at).await;
        Ok(())
    }

    /// Agents busy with something this driver did not start (another campaign's call, a manual
    /// or inbound call), or kept free for a waiting inbound caller, are offered nothing by it
    /// meanwhile; nor is an agent this engine no longer sees as ready while the driver still
    /// counts them (set to Standby inside a step, e.g. by two rung-out inbound offers: the
    /// driver hears they left at the next users refresh, which may come after this poll).
    fn busy_elsewhere(&self, r: &Runner) -> Vec<(UserId, bool)> {
        r.campaign
            .agents
            .iter()
            .map(|a| {
                let idle_here = r
                    .driver
                    .activity(*a)
                    .is_none_or(|m| m == DriverActivity::Idle);
                let busy = !matches!(self.activity(*a), AgentActivity::Idle { .. })
                    || !self.is_ready_for(*a, &r.campaign);
                (*a, (idle_here && busy) || self.kept_for_inbound(*a))
            })
            .collect()
    }

    /// The driver's graces, wrap-up limits and dialing decisions, carried out.
    pub(super) async fn poll(&mut self, at: RunnerRef) {
        let now = self.clock();
        let Some(r) = self.runner(at) else {
            return;
        };
        let elsewhere = self.busy_elsewhere(r);
        let (client, cps) = (r.campaign.client_id, r.client_cps);
        let limiter = self
            .cps
            .entry(client)
            .or_insert_with(|| palera_core::campaign::CpsLimiter::new(cps));
        let r = match self.runners.get_mut(&at.campaign) {
            Some(r) if r.generation == at.generation => r,
            _ => match self
                .draining
                .iter_mut()
                .find(|r| r.campaign.id == at.campaign && r.generation == at.generation)
            {
                Some(r) => r,
                None => return,
            },
        };
        for (a, busy) in elsewhere {
            r.driver.set_elsewhere(a, busy);
        }
        let cmds = r.driver.poll(now, limiter);
        // A dial is stamped with the instant it was decided at (calls per second are kept there).
        self.execute_decided(at, cmds, Some(now)).await;
    }

    /// Whether the client's calls-per-second limit leaves room for a dial now.
    pub(super) fn cps_free(&self, id: CampaignId) -> bool {
        let Some(r) = self.runners.get(&id) else {
            return false;
        };
        let now = self.clock().mono;
        self.cps
            .get(&r.campaign.client_id)
            .is_none_or(|l| l.next_slot(now) <= now)
    }

    /// Carries out a driver's commands, feeding its answers back, until it has nothing more to
    /// say. A failed step is logged; the others go on.
    pub(super) async fn execute(&mut self, at: RunnerRef, cmds: Vec<Command>) {
        self.execute_decided(at, cmds, None).await
    }

    /// [`Self::execute`] for commands a driver poll decided at `decided`.
    async fn execute_decided(&mut self, at: RunnerRef, cmds: Vec<Command>, decided: Option<Now>) {
        let mut todo: VecDeque<Command> = cmds.into();
        let mut holds = Vec::new();
        while let Some(cmd) = todo.pop_front() {
            if let Command::Hold { contact, to, .. } = cmd {
                holds.push((contact, to));
                continue;
            }
            self.flush_holds(at.campaign, &mut holds).await;
            match self.carry_out(at, cmd, decided).await {
                Ok(more) => todo.extend(more),
                Err(e) => {
                    tracing::error!(campaign = %at.campaign, error = %e, "engine command failed")
                }
            }
        }
        self.flush_holds(at.campaign, &mut holds).await;
    }

    async fn flush_holds(&mut self, id: CampaignId, holds: &mut Vec<(ContactId, Option<UserId>)>) {
        if holds.is_empty() {
            return;
        }
        if let Err(e) = self.app.store.set_holders(id, holds).await {
            tracing::error!(campaign = %id, error = %e, "saving holders failed");
        }
        holds.clear();
    }

    /// Brings the campaign's enrolment up to date with its lists, off the loop (a set-based
    /// statement in the directory, however long the lists): contacts new in them are enrolled
    /// (the next due read finds them), those that left stop being due. The answer comes back as
    /// [`super::Request::Enrolled`]; one at a time per campaign.
    fn enrol(&mut self, id: CampaignId) {
        let r = self.runners.get_mut(&id).expect("runner");
        r.last_enrol = Some(Instant::now());
        if r.enrolling {
            return;
        }
        r.enrolling = true;
        let (client, lists, generation) =
            (r.campaign.client_id, r.campaign.lists.clone(), r.generation);
        let app = self.app.clone();
        tokio::spawn(async move {
            let result = app
                .contacts
                .sync_enrolment(id, client, &lists, app.now_ms())
                .await
                .map_err(|e| e.to_string());
            app.engine.send(super::Request::Enrolled {
                campaign: id,
                generation,
                result,
            });
        });
    }

    /// The campaign's enrolment is up to date: new contacts are read as due at once, retired
    /// ones are forgotten by the driver.
    pub(super) async fn enrolled(
        &mut self,
        id: CampaignId,
        generation: u64,
        result: Result<(u64, Vec<ContactId>), String>,
    ) {
        let Some(r) = self
            .runners
            .get_mut(&id)
            .filter(|r| r.generation == generation)
        else {
            return;
        };
        r.enrolling = false;
        match result {
            Ok((added, retired)) => {
                if added > 0 {
                    tracing::info!(campaign = %id, added, "contacts enrolled");
                    r.last_due = None;
                    r.due_reader.restart();
                }
                for c in retired {
                    self.forget_contact(id, c).await;
                }
            }
            Err(e) => tracing::error!(campaign = %id, error = %e, "enrolling contacts failed"),
        }
    }

    /// A contact stopped being due: nobody holds it.
    async fn forget_contact(&mut self, id: CampaignId, c: ContactId) {
        let now = self.clock();
        let Some(at) = self.current(id) else {
            return;
        };
        let r = self.runners.get_mut(&id).expect("runner");
        let mut cmds = r.driver.contact_gone(now, c);
        if !r.driver.knows(c) {
            r.due.remove(&c);
        }
        cmds.push(Command::Hold {
            contact: c,
            from: None,
            to: None,
            redistributed: false,
        });
        self.execute(at, cmds).await;
    }

    /// Starts reading one page of the contacts due now, after the runner's position, off the
    /// loop (see [`DueReader`]); [`Engine::due_page`] takes it.
    fn read_due(&mut self, id: CampaignId) {
        let now_ms = self.app.now_ms();
        let r = self.runners.get_mut(&id).expect("runner");
        r.last_due = Some(Instant::now());
        let reader = &mut r.due_reader;
        if reader.swept_at.is_none_or(|t| t.elapsed() >= SWEEP_EVERY) && !reader.more {
            reader.restart();
        }
        reader.reading = true;
        let (after, sweep) = (reader.after, reader.sweep);
        let (max_attempts, generation) = (r.campaign.settings.max_attempts, r.generation);
        let app = self.app.clone();
        tokio::spawn(async move {
            let rows = app
                .store
                .due_contacts_after(id, now_ms, max_attempts, after, DUE_PAGE)
                .await
                .map_err(|e| e.to_string());
            app.engine.send(super::Request::DuePage(DuePage {
                campaign: id,
                generation,
                sweep,
                rows,
            }));
        });
    }

    /// A page of due contacts: the position moves on (unless the sweep started again
    /// meanwhile), and the driver is given those it does not know.
    pub(super) async fn due_page(&mut self, page: DuePage) {
        let now = self.clock();
        let id = page.campaign;
        let Some(r) = self
            .runners
            .get_mut(&id)
            .filter(|r| r.generation == page.generation)
        else {
            return;
        };
        r.due_reader.reading = false;
        let rows = match page.rows {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(campaign = %id, error = %e, "reading due contacts failed");
                return;
            }
        };
        if page.sweep == r.due_reader.sweep {
            r.due_reader.more = rows.len() as i64 == DUE_PAGE;
            if let Some(last) = rows.last() {
                r.due_reader.after =
                    Some((last.attempts.next_due.timestamp_millis(), last.contact_id));
            }
        }
        let mut fresh = Vec::new();
        for cc in rows {
            if r.driver.knows(cc.contact_id) {
                continue;
            }
            if let Some(d) = Due::new(cc) {
                fresh.push(d.for_driver());
                r.due.insert(d.record.contact_id, d);
            }
        }
        let Some(at) = self.current(id) else {
            return;
        };
        if fresh.is_empty() {
            return;
        }
        let r = self.runners.get_mut(&id).expect("runner");
        let cmds = r.driver.add_contacts(now, fresh);
        self.execute(at, cmds).await;
    }

    /// Places the dial the driver asked for: a fresh DNC lookup, the atomic claim, the carrier.
    /// The driver hears how it went.
    pub(super) async fn dial(
        &mut self,
        at: RunnerRef,
        contact: ContactId,
        agent: Option<UserId>,
        decided: Option<Now>,
    ) -> Vec<Command> {
        let now = self.clock();
        let result = self.try_dial(at, contact, agent, decided).await;
        let Some(r) = self.runner_mut(at) else {
            return Vec::new();
        };
        match result {
            // The carrier's answer comes back through the loop (`on_placed`); the driver keeps
            // the contact as being dialled (a line in flight) until then.
            Ok(Placing::Sent) => Vec::new(),
            Ok(Placing::NotPlaced) => r.driver.dial_refused(now, contact, Refusal::NotPlaced),
            Err(Refused::OnDnc) => r.driver.dial_refused(now, contact, Refusal::OnDnc),
            Err(Refused::Failed(e)) => {
                tracing::error!(campaign = %at.campaign, contact = %contact, error = %e, "dial failed");
                r.driver.dial_refused(now, contact, Refusal::NotPlaced)
            }
        }
    }

    async fn try_dial(
        &mut self,
        at: RunnerRef,
        contact: ContactId,
        agent: Option<UserId>,
        decided: Option<Now>,
    ) -> Result<Placing, Refused> {
        let now = decided.map_or_else(|| self.now(), |d| d.at);
        let Some(r) = self.runner(at) else {
            return Ok(Placing::NotPlaced);
        };
        let Some(d) = r.due.get(&contact).cloned() else {
            return Ok(Placing::NotPlaced);
        };
        let (client, settings) = (r.campaign.client_id, r.campaign.settings.clone());
        let on_dnc = self.app.contacts.is_on_dnc(client, &d.phone).await?;
        if on_dnc {
            tracing::info!(campaign = %at.campaign, contact = %contact, "dial refused: on the do-not-call list");
            let mut a = d.record.attempts.clone();
            a.mark_dnc();
            self.app
                .store
                .save_attempts(at.campaign, contact, &a, now.timestamp_millis())
                .await?;
            return Err(Refused::OnDnc);
        }
        let claim = Claim {
            campaign: at.campaign,
            client,
            contact,
            agent,
            phone: d.record.phone.clone(),
            max_attempts: settings.max_attempts,
            now_ms: now.timestamp_millis(),
            cycle: local_date(d.tz, now).to_string(),
        };
        let Some(call) = self.app.store.claim_contact(&claim).await? else {
            tracing::info!(campaign = %at.campaign, contact = %contact, "contact already claimed");
            return Ok(Placing::NotPlaced);
        };
        if let Some(a) = agent {
            self.agents
                .insert(a, AgentActivity::Dialling { call: call.id });
        }
        Ok(self.send_dial(at, d, call.id, agent).await?)
    }

    /// Hands a claimed call to the carrier in a task of its own, so a slow carrier request
    /// never holds up the loop: its answer comes back as [`Placed`] (see [`Engine::on_placed`]).
    async fn send_dial(
        &mut self,
        at: RunnerRef,
        d: Due,
        call: CallId,
        agent: Option<UserId>,
    ) -> Result<Placing, EngineError> {
        let Some(r) = self.runner(at) else {
            return Ok(Placing::NotPlaced);
        };
        let (client, c) = (r.campaign.client_id, r.campaign.clone());
        let from = PhoneNumber::parse_e164(&c.caller_id)
            .map_err(|e| EngineError::invalid("caller_id", e))?;
        let carrier = match self.app.carriers.for_client(&self.app.store, client).await {
            Ok(carrier) => carrier,
            Err(e) => {
                tracing::warn!(campaign = %at.campaign, call = %call, error = %e, "dial failed; claim given back");
                self.app
                    .store
                    .unclaim(at.campaign, d.record.contact_id, call)
                    .await?;
                return Ok(Placing::NotPlaced);
            }
        };
        let dial = Dial {
            call_id: call.0,
            to: d.phone.clone(),
            from,
            amd: c.settings.amd,
            ring_timeout_seconds: c.settings.ring_timeout_seconds,
            // Recording starts once the agent is connected too (`engine::media`), not at dial.
            record: false,
        };
        self.placing.insert(call, Vec::new());
        let sent = self.clock();
        let tx = self.placed_tx.clone();
        tokio::spawn(async move {
            let result = carrier
                .dial(dial)
                .await
                .map(|sid| (carrier, sid))
                .map_err(|e| e.to_string());
            let _ = tx.send(Placed {
                at,
                sent,
                due: d,
                call,
                agent,
                result,
            });
        });
        Ok(Placing::Sent)
    }

    /// The carrier answered a dial sent by [`Engine::send_dial`]: the driver hears how it went,
    /// then the carrier events of the call that came meanwhile are handled, in their order.
    pub(super) async fn on_placed(&mut self, p: Placed) {
        let contact = p.due.record.contact_id;
        let early = self.placing.remove(&p.call).unwrap_or_default();
        let now = self.clock();
        let placed = match self.placed(&p).await {
            Ok(placed) => placed,
            Err(e) => {
                tracing::error!(campaign = %p.at.campaign, call = %p.call, error = %e, "dial failed");
                false
            }
        };
        let cmds = match self.runner_mut(p.at) {
            // Rings from when the dial was sent (the driver's ring times are measured so).
            Some(r) if placed => r.driver.dialled(p.sent, contact, p.call),
            Some(r) => r.driver.dial_refused(now, contact, Refusal::NotPlaced),
            None => Vec::new(),
        };
        self.execute(p.at, cmds).await;
        for ev in early {
            if let Err(e) = self.on_carrier(ev).await {
                tracing::error!(call = %p.call, error = %e, "carrier event failed");
            }
        }
    }

    /// Records the carrier's answer to a dial; `false` when no call was placed (the claim is
    /// given back).
    async fn placed(&mut self, p: &Placed) -> Result<bool, EngineError> {
        let (at, d, call, agent) = (p.at, &p.due, p.call, p.agent);
        let (carrier, sid) = match &p.result {
            Ok((carrier, sid)) => (carrier.clone(), sid.clone()),
            Err(e) => {
                tracing::warn!(campaign = %at.campaign, call = %call, error = %e, "dial failed; claim given back");
                self.app
                    .store
                    .unclaim(at.campaign, d.record.contact_id, call)
                    .await?;
                return Ok(false);
            }
        };
        let Some(summary) = self.runner(at).and_then(|r| r.summary(d.record.contact_id)) else {
            // The runner is gone: nobody would handle this call (nothing waits on the hang-up).
            let hang = (carrier.clone(), sid.clone());
            tokio::spawn(async move {
                let _ = hang.0.hang_up(&hang.1).await;
            });
            self.app
                .store
                .unclaim(at.campaign, d.record.contact_id, call)
                .await?;
            return Ok(false);
        };
        self.journal.update(
            call,
            CallUpdate {
                sid: Some(sid.0.clone()),
                ..Default::default()
            },
        );
        tracing::info!(campaign = %at.campaign, call = %call, contact = %d.record.contact_id, agent = ?agent, "dialled");
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
        let mut live = super::live::Live::new(call, at.campaign, summary, agent, sid, carrier);
        live.generation = at.generation;
        self.calls.insert(call, live);
        Ok(true)
    }

    /// The driver shows the agent its next contact.
    pub(super) fn offer_preview(&mut self, at: RunnerRef, agent: UserId, contact: ContactId) {
        let Some(summary) = self.runner(at).and_then(|r| r.summary(contact)) else {
            return;
        };
        self.agents.insert(
            agent,
            AgentActivity::Previewing {
                campaign: at.campaign,
                contact,
            },
        );
        self.tell(
            agent,
            DesktopMessage::CallOffered {
                call_id: None,
                preview: true,
                contact: summary,
            },
        );
    }

    /// The agent calls the contact they are previewing.
    pub(super) async fn preview_call(&mut self, agent: UserId) -> Result<CallId, EngineError> {
        let AgentActivity::Previewing { campaign, .. } = self.activity(agent) else {
            return Err(EngineError::invalid(
                "preview",
                "you have no contact to call",
            ));
        };
        if !self.cps_free(campaign) {
            return Err(EngineError::RateLimited);
        }
        let at = self
            .current(campaign)
            .ok_or_else(|| EngineError::invalid("preview", "you have no contact to call"))?;
        self.runner_mut(at)
            .expect("runner")
            .driver
            .preview_call(agent)
            .map_err(|e| EngineError::invalid("preview", e.to_string()))?;
        self.poll(at).await;
        match self.activity(agent) {
            AgentActivity::Dialling { call } => Ok(call),
            _ => Err(EngineError::invalid(
                "preview",
                "this contact cannot be called now (do-not-call, window or attempts)",
            )),
        }
    }

    /// The agent skips the contact they are previewing: it goes back to the others.
    pub(super) async fn preview_skip(&mut self, agent: UserId) -> Result<(), EngineError> {
        let AgentActivity::Previewing { campaign, .. } = self.activity(agent) else {
            return Err(EngineError::invalid(
                "preview",
                "you have no contact to skip",
            ));
        };
        let now = self.clock();
        let Some(at) = self.current(campaign) else {
            self.set_idle(agent);
            self.tell(agent, DesktopMessage::CallCleared { call_id: None });
            return Ok(());
        };
        let cmds = self
            .runner_mut(at)
            .expect("runner")
            .driver
            .preview_skip(now, agent)
            .map_err(|e| EngineError::invalid("preview", e.to_string()))?;
        self.execute(at, cmds).await;
        Ok(())
    }
}

/// How far [`Engine::try_dial`] got.
enum Placing {
    /// The dial is with the carrier; its answer comes back as [`Placed`].
    Sent,
    NotPlaced,
}

/// The carrier's answer to a dial, sent back into the engine loop.
pub(super) struct Placed {
    at: RunnerRef,
    /// When the dial was sent.
    sent: Now,
    due: Due,
    call: CallId,
    agent: Option<UserId>,
    result: Result<
        (
            std::sync::Arc<dyn palera_carrier::Carrier>,
            palera_carrier::CallSid,
        ),
        String,
    >,
}

/// Why [`Engine::try_dial`] placed no call.
enum Refused {
    OnDnc,
    Failed(EngineError),
}

impl From<EngineError> for Refused {
    fn from(e: EngineError) -> Self {
        Refused::Failed(e)
    }
}

impl From<palera_store::StoreError> for Refused {
    fn from(e: palera_store::StoreError) -> Self {
        Refused::Failed(e.into())
    }
}
