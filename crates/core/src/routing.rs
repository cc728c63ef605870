//! Inbound routing (DESIGN §2.5), pure: which agent an inbound call is offered to, or whether it
//! waits for its affinity agent or in the client's queue. The engine keeps a [`Roster`] of the
//! client's agents up to date as their state changes and asks [`Roster::route`] whenever a call
//! arrives, an offer times out or is declined, or an agent becomes free. Nothing here reads the
//! clock: `now` is given.
//!
//! The order, for one call:
//! 1. the agent the caller last spoke to within the client's affinity window, if that agent is
//!    eligible (Ready, voice-enabled, assigned to the client) and free;
//! 2. if that agent is eligible but busy (ringing, on a call, in wrap-up), the call waits for them
//!    until the affinity wait has passed since it arrived;
//! 3. else the eligible free agent idle the longest (fewest calls today breaks ties, then the
//!    lower id so the choice is deterministic);
//! 4. else the queue.
//!
//! An agent who declined the call or let its offer ring out is not offered the same call again.

use crate::ids::{CallId, UserId};
use crate::user::VoiceState;
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeSet, HashMap};

/// The client's routing settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutingSettings {
    /// How far back the caller's last conversation makes its agent the affinity agent.
    pub affinity_window: Duration,
    /// How long a call waits for a busy affinity agent before going to anyone.
    pub affinity_wait: Duration,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        Self {
            affinity_window: Duration::days(30),
            affinity_wait: Duration::seconds(20),
        }
    }
}

/// What routing knows about one agent of the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentStatus {
    pub id: UserId,
    pub state: VoiceState,
    pub voice_enabled: bool,
    /// Assigned to the client the call is for.
    pub assigned: bool,
    /// Ringing, offered, previewing, on a call or in wrap-up.
    pub busy: bool,
    /// Since when the agent has been free (the end of their last call or wrap-up, or going Ready).
    pub idle_since: DateTime<Utc>,
    pub calls_today: u32,
}

impl AgentStatus {
    /// May be offered inbound calls of this client at all (busy or not).
    pub fn eligible(&self) -> bool {
        self.state == VoiceState::Ready && self.voice_enabled && self.assigned
    }
}

/// One inbound call waiting to be routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingCall {
    pub id: CallId,
    pub arrived: DateTime<Utc>,
    /// The agent the caller last spoke to, and when.
    pub last_agent: Option<(UserId, DateTime<Utc>)>,
    /// Agents who declined the call or let its offer ring out.
    pub tried: Vec<UserId>,
}

/// What to do with a call now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Ring this agent's desktop.
    Offer(UserId),
    /// Hold the call for its busy affinity agent until `until`, then route again.
    WaitFor { agent: UserId, until: DateTime<Utc> },
    /// No agent can take it: the client's queue.
    Queue,
}

/// Orders free agents: idle longest first, then fewest calls today, then lowest id.
type FreeKey = (DateTime<Utc>, u32, UserId);

fn free_key(a: &AgentStatus) -> FreeKey {
    (a.idle_since, a.calls_today, a.id)
}

/// The client's agents as routing sees them, indexed so that a decision costs a few map look-ups
/// however many agents there are.
#[derive(Debug, Default, Clone)]
pub struct Roster {
    agents: HashMap<UserId, AgentStatus>,
    /// Eligible and free agents, in the order they are offered calls.
    free: BTreeSet<FreeKey>,
}

impl Roster {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces what is known about an agent.
    pub fn upsert(&mut self, a: AgentStatus) {
        self.remove(a.id);
        if a.eligible() && !a.busy {
            self.free.insert(free_key(&a));
        }
        self.agents.insert(a.id, a);
    }

    pub fn remove(&mut self, id: UserId) {
        if let Some(old) = self.agents.remove(&id) {
            self.free.remove(&free_key(&old));
        }
    }

    pub fn get(&self, id: UserId) -> Option<&AgentStatus> {
        self.agents.get(&id)
    }

    /// Eligible agents free now.
    pub fn free_count(&self) -> usize {
        self.free.len()
    }

    /// Marks an agent busy (offered, ringing, on a call) or free again since `now`.
    pub fn set_busy(&mut self, id: UserId, busy: bool, now: DateTime<Utc>) {
        if let Some(mut a) = self.agents.get(&id).cloned() {
            if a.busy && !busy {
                a.idle_since = now;
            }
            a.busy = busy;
            self.upsert(a);
        }
    }

    /// The decision for one call at `now`.
    pub fn route(&self, call: &WaitingCall, s: &RoutingSettings, now: DateTime<Utc>) -> Route {
        if let Some(r) = self.affinity(call, s, now) {
            return r;
        }
        self.free
            .iter()
            .map(|(_, _, id)| *id)
            .find(|id| !call.tried.contains(id))
            .map_or(Route::Queue, Route::Offer)
    }

    /// The affinity agent's decision, when the caller has one that is eligible and untried.
    fn affinity(
        &self,
        call: &WaitingCall,
        s: &RoutingSettings,
        now: DateTime<Utc>,
    ) -> Option<Route> {
        let (agent, spoke) = call.last_agent?;
        if now - spoke > s.affinity_window || call.tried.contains(&agent) {
            return None;
        }
        let a = self.agents.get(&agent).filter(|a| a.eligible())?;
        if !a.busy {
            return Some(Route::Offer(agent));
        }
        let until = call.arrived + s.affinity_wait;
        (now < until).then_some(Route::WaitFor { agent, until })
    }

    /// Offers for the queue (oldest call first) now, each agent at most once: what the engine
    /// does when agents become free or a wait runs out. Calls that stay get `WaitFor` or nothing.
    pub fn serve_queue(
        &self,
        queue: &[WaitingCall],
        s: &RoutingSettings,
        now: DateTime<Utc>,
    ) -> Vec<(CallId, Route)> {
        let mut roster = self.clone();
        let mut out = Vec::new();
        let mut order: Vec<&WaitingCall> = queue.iter().collect();
        order.sort_by_key(|c| (c.arrived, c.id));
        for call in order {
            let r = roster.route(call, s, now);
            match r {
                Route::Offer(agent) => {
                    roster.set_busy(agent, true, now);
                    out.push((call.id, r));
                }
                Route::WaitFor { .. } => out.push((call.id, r)),
                Route::Queue => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        "2026-03-02T15:00:00Z".parse().unwrap()
    }

    fn agent(id: i64, idle_secs_ago: i64) -> AgentStatus {
        AgentStatus {
            id: UserId(id),
            state: VoiceState::Ready,
            voice_enabled: true,
            assigned: true,
            busy: false,
            idle_since: t0() - Duration::seconds(idle_secs_ago),
            calls_today: 0,
        }
    }

    fn call(last: Option<(i64, i64)>) -> WaitingCall {
        WaitingCall {
            id: CallId(1),
            arrived: t0(),
            last_agent: last.map(|(a, days_ago)| (UserId(a), t0() - Duration::days(days_ago))),
            tried: vec![],
        }
    }

    fn roster(agents: Vec<AgentStatus>) -> Roster {
        let mut r = Roster::new();
        for a in agents {
            r.upsert(a);
        }
        r
    }

    #[test]
    fn the_affinity_agent_gets_the_call_when_ready_and_free() {
        let r = roster(vec![agent(1, 500), agent(2, 10)]);
        let s = RoutingSettings::default();
        assert_eq!(
            r.route(&call(Some((2, 3))), &s, t0()),
            Route::Offer(UserId(2))
        );
    }

    #[test]
    fn a_busy_affinity_agent_is_waited_for_up_to_the_affinity_wait_then_the_longest_idle_agent_gets_it(
    ) {
        let mut busy = agent(2, 10);
        busy.busy = true;
        let r = roster(vec![agent(1, 500), busy, agent(3, 900)]);
        let s = RoutingSettings::default();
        let c = call(Some((2, 1)));
        assert_eq!(
            r.route(&c, &s, t0() + Duration::seconds(5)),
            Route::WaitFor {
                agent: UserId(2),
                until: t0() + Duration::seconds(20)
            }
        );
        assert_eq!(
            r.route(&c, &s, t0() + Duration::seconds(20)),
            Route::Offer(UserId(3)),
            "after the wait: the agent idle the longest"
        );
    }

    #[test]
    fn affinity_ends_with_the_affinity_window() {
        let r = roster(vec![agent(1, 500), agent(2, 10)]);
        let s = RoutingSettings::default();
        assert_eq!(
            r.route(&call(Some((2, 31))), &s, t0()),
            Route::Offer(UserId(1))
        );
    }

    #[test]
    fn an_affinity_agent_who_is_not_ready_is_not_waited_for() {
        let mut standby = agent(2, 10);
        standby.state = VoiceState::Standby;
        let r = roster(vec![agent(1, 500), standby]);
        let s = RoutingSettings::default();
        assert_eq!(
            r.route(&call(Some((2, 1))), &s, t0()),
            Route::Offer(UserId(1))
        );
    }

    #[test]
    fn fewest_calls_today_breaks_a_tie_in_idle_time() {
        let mut a = agent(1, 60);
        a.calls_today = 5;
        let mut b = agent(2, 60);
        b.calls_today = 2;
        let r = roster(vec![a, b]);
        assert_eq!(
            r.route(&call(None), &RoutingSettings::default(), t0()),
            Route::Offer(UserId(2))
        );
    }

    #[test]
    fn no_eligible_free_agent_means_the_queue() {
        let mut off = agent(1, 60);
        off.state = VoiceState::Offline;
        let mut novoice = agent(2, 60);
        novoice.voice_enabled = false;
        let mut other = agent(3, 60);
        other.assigned = false;
        let mut busy = agent(4, 60);
        busy.busy = true;
        let r = roster(vec![off, novoice, other, busy]);
        assert_eq!(
            r.route(&call(None), &RoutingSettings::default(), t0()),
            Route::Queue
        );
    }

    #[test]
    fn an_agent_who_let_the_call_ring_out_is_not_offered_it_again() {
        let r = roster(vec![agent(1, 500), agent(2, 10)]);
        let mut c = call(None);
        c.tried.push(UserId(1));
        assert_eq!(
            r.route(&c, &RoutingSettings::default(), t0()),
            Route::Offer(UserId(2))
        );
    }

    #[test]
    fn the_queue_is_served_oldest_call_first_one_agent_each() {
        let r = roster(vec![agent(1, 500), agent(2, 10)]);
        let calls: Vec<WaitingCall> = (0..3)
            .map(|i| WaitingCall {
                id: CallId(10 + i),
                arrived: t0() - Duration::seconds(100 - i),
                last_agent: None,
                tried: vec![],
            })
            .collect();
        let offers = r.serve_queue(&calls, &RoutingSettings::default(), t0());
        assert_eq!(
            offers,
            vec![
                (CallId(10), Route::Offer(UserId(1))),
                (CallId(11), Route::Offer(UserId(2)))
            ]
        );
    }

    fn any_agent() -> impl Strategy<Value = AgentStatus> {
        (
            1i64..40,
            prop_oneof![
                Just(VoiceState::Ready),
                Just(VoiceState::Standby),
                Just(VoiceState::Offline)
            ],
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            0i64..3600,
            0u32..20,
        )
            .prop_map(|(id, state, voice_enabled, assigned, busy, idle, calls)| {
                AgentStatus {
                    id: UserId(id),
                    state,
                    voice_enabled,
                    assigned,
                    busy,
                    idle_since: t0() - Duration::seconds(idle),
                    calls_today: calls,
                }
            })
    }

    proptest! {
        /// Never offered to an agent who is not Ready, not voice-enabled, not assigned to the
        /// client, busy, or who already had the call; and an offer goes to the affinity agent
        /// when that agent may take it, else to the free eligible agent idle the longest.
        #[test]
        fn a_call_is_never_offered_to_an_ineligible_agent(
            agents in proptest::collection::vec(any_agent(), 0..30),
            last in proptest::option::of((1i64..40, 0i64..60)),
            tried in proptest::collection::vec(1i64..40, 0..5),
            after in 0i64..40,
        ) {
            let r = roster(agents);
            let mut c = call(last);
            c.tried = tried.into_iter().map(UserId).collect();
            let now = t0() + Duration::seconds(after);
            let route = r.route(&c, &RoutingSettings::default(), now);
            if let Route::Offer(id) = route {
                let a = r.get(id).unwrap();
                prop_assert!(a.eligible() && !a.busy && !c.tried.contains(&id));
                let best = r
                    .agents
                    .values()
                    .filter(|a| a.eligible() && !a.busy && !c.tried.contains(&a.id))
                    .min_by_key(|a| free_key(a))
                    .map(|a| a.id);
                let affinity = c.last_agent.map(|(a, _)| a);
                prop_assert!(Some(id) == best || Some(id) == affinity);
            }
            if route == Route::Queue {
                prop_assert!(r
                    .agents
                    .values()
                    .all(|a| !a.eligible() || a.busy || c.tried.contains(&a.id)));
            }
        }
    }
}
