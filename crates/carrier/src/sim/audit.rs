//! The independent auditor: replays the event log and counts every event that broke a rule of
//! DESIGN §2.1 (and, with inbound calls, §2.5: offers only to Ready, free agents). It shares no
//! state with the engine and re-derives everything it needs (local
//! times, DNC membership, attempts, open calls, holdings, agent inactivity) from the log and the
//! scenario's settings, using chrono-tz directly rather than the engine's window code.

use super::log::{Event, Ms};
use super::report::Violations;
use super::scenario::Scenario;
use chrono::{Datelike, Duration};
use palera_core::campaign::CallOutcome;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Redistribution must happen "within seconds" of the inactivity timeout.
pub const REDISTRIBUTION_GRACE_MS: Ms = 5_000;
/// A live-answered call must have an agent or the message within this long.
pub const ABANDON_GRACE_MS: Ms = 2_000;
const MIN_RING_MS: Ms = 15_000;
/// The resolution of logged times (whole milliseconds).
const CLOCK_RESOLUTION_MS: Ms = 1;

#[derive(Default)]
struct CallFacts {
    contact: u32,
    dialled: Ms,
    human_answer: Option<Ms>,
    abandoned: bool,
    message: bool,
}

#[derive(Default)]
struct Auditor {
    v: Violations,
    zone_of: HashMap<u32, u16>,
    dnc: HashSet<u32>,
    attempts: HashMap<u32, u32>,
    open_call: HashMap<u32, u32>,
    calls: HashMap<u32, CallFacts>,
    last_dial: Option<Ms>,
    holder: HashMap<u32, u32>,
    /// Agent → instant from which it counts as inactive (last heartbeat + timeout).
    inactive_from: HashMap<u32, Ms>,
    /// Pending "holds nothing by now" checks: time → agents.
    checks: BTreeMap<Ms, Vec<u32>>,
    /// Agent → (ready, busy), as last logged.
    agent_state: HashMap<u32, (bool, bool)>,
}

/// Counts the rule breaks in `log` under the scenario's settings.
pub fn audit(s: &Scenario, log: &[Event]) -> Violations {
    let mut a = Auditor::default();
    for e in log {
        a.run_checks_until(e.time());
        a.event(s, e);
    }
    a.run_checks_until(Ms::MAX);
    a.finish();
    a.v
}

impl Auditor {
    fn event(&mut self, s: &Scenario, e: &Event) {
        match *e {
            Event::Imported { contact, zone } => {
                self.zone_of.insert(contact, zone);
            }
            Event::DncAdded { contact, .. } => {
                self.dnc.insert(contact);
            }
            Event::Dial {
                t,
                call,
                contact,
                agent,
                ring_timeout_s,
            } => self.dial(s, t, call, contact, agent, ring_timeout_s),
            Event::Answered { t, call, human } => {
                if let (true, Some(c)) = (human, self.calls.get_mut(&call)) {
                    c.human_answer = Some(t);
                }
            }
            Event::AgentConnected { t, call, .. } => {
                if let Some(at) = self.calls.get(&call).and_then(|c| c.human_answer) {
                    self.v.message_after_2s += u64::from(t - at > ABANDON_GRACE_MS);
                }
            }
            Event::Abandoned { call, .. } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.abandoned = true;
                }
            }
            Event::MessagePlayed { t, call } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.message = true;
                    if let (true, Some(at)) = (c.abandoned, c.human_answer) {
                        self.v.message_after_2s += u64::from(t - at > ABANDON_GRACE_MS);
                    }
                }
            }
            Event::Ended { t, call, outcome } => self.ended(t, call, outcome),
            Event::Assigned { t, contact, agent } => {
                if self.is_inactive(agent, t) {
                    self.v.contact_held_by_inactive_agent += 1;
                }
                self.holder.insert(contact, agent);
            }
            Event::Unassigned { contact, agent, .. } => {
                if self.holder.get(&contact) == Some(&agent) {
                    self.holder.remove(&contact);
                }
            }
            Event::HeartbeatsStopped { agent, last, .. } => {
                let from = last + i64::from(s.campaign.inactivity_timeout_seconds) * 1000;
                self.inactive_from.insert(agent, from);
                self.checks
                    .entry(from + REDISTRIBUTION_GRACE_MS)
                    .or_default()
                    .push(agent);
            }
            Event::HeartbeatsResumed { agent, .. } => {
                self.inactive_from.remove(&agent);
            }
            Event::AgentState {
                agent, ready, busy, ..
            } => {
                self.agent_state.insert(agent, (ready, busy));
            }
            Event::InboundOffered { t, agent, .. } => {
                let eligible = self.agent_state.get(&agent) == Some(&(true, false))
                    && !self.is_inactive(agent, t);
                self.v.inbound_offered_to_ineligible_agent += u64::from(!eligible);
            }
        }
    }

    fn is_inactive(&self, agent: u32, t: Ms) -> bool {
        self.inactive_from
            .get(&agent)
            .is_some_and(|from| t >= *from)
    }

    fn dial(
        &mut self,
        s: &Scenario,
        t: Ms,
        call: u32,
        contact: u32,
        agent: Option<u32>,
        ring_timeout_s: u32,
    ) {
        let zone = self
            .zone_of
            .get(&contact)
            .map(|z| s.time_zones[usize::from(*z)]);
        if !zone.is_some_and(|tz| inside_window(s, tz, t)) {
            self.v.outside_window += 1;
        }
        self.v.dnc_dialled += u64::from(self.dnc.contains(&contact));
        let n = self.attempts.entry(contact).or_default();
        *n += 1;
        self.v.over_max_attempts += u64::from(*n > s.campaign.max_attempts);
        if self.open_call.insert(contact, call).is_some() {
            self.v.concurrent_dials_same_contact += 1;
        }
        if let Some(prev) = self.last_dial {
            // Calls must be at least 1/cps seconds apart. Times are whole milliseconds, and a
            // real server's stored times and its limiter's clock are read apart: a gap short by
            // less than one millisecond is within that resolution.
            let gap_ms = (t - prev + CLOCK_RESOLUTION_MS) as f64;
            if gap_ms * s.campaign.calls_per_second < 1000.0 - 1e-6 {
                self.v.cps_exceeded += 1;
            }
        }
        self.last_dial = Some(t);
        if agent.is_some_and(|a| self.is_inactive(a, t)) {
            self.v.contact_held_by_inactive_agent += 1;
        }
        self.v.ring_under_15s += u64::from(ring_timeout_s < 15);
        self.calls.insert(
            call,
            CallFacts {
                contact,
                dialled: t,
                ..Default::default()
            },
        );
    }

    fn ended(&mut self, t: Ms, call: u32, outcome: CallOutcome) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if outcome == CallOutcome::NoAnswer && t - c.dialled < MIN_RING_MS {
            self.v.ring_under_15s += 1;
        }
        if self.open_call.get(&c.contact) == Some(&call) {
            self.open_call.remove(&c.contact);
        }
    }

    fn run_checks_until(&mut self, t: Ms) {
        while let Some(entry) = self.checks.first_entry() {
            if *entry.key() > t {
                break;
            }
            let (at, agents) = entry.remove_entry();
            for agent in agents {
                if self.is_inactive(agent, at) {
                    let held = self.holder.values().filter(|h| **h == agent).count();
                    self.v.contact_held_by_inactive_agent += held as u64;
                }
            }
        }
    }

    /// Abandoned calls must all have had their message.
    fn finish(&mut self) {
        let silent = self
            .calls
            .values()
            .filter(|c| c.abandoned && c.human_answer.is_some() && !c.message)
            .count();
        self.v.message_after_2s += silent as u64;
    }
}

fn inside_window(s: &Scenario, tz: chrono_tz::Tz, t: Ms) -> bool {
    let local = (s.start + Duration::milliseconds(t))
        .with_timezone(&tz)
        .naive_local();
    let w = &s.campaign.window;
    if w.excluded_weekdays.contains(&local.weekday()) || w.excluded_dates.contains(&local.date()) {
        return false;
    }
    let time = local.time();
    time >= w.start && time < w.end
}

/// The abandon record of a log (DESIGN §2.1), re-derived from its events alone: the persons who
/// answered a call, and how many of those calls were abandoned (no agent within the grace).
/// Reports compare their abandon rate with it.
pub fn abandon_record(log: &[Event]) -> (u64, u64) {
    let mut calls: HashMap<u32, (bool, bool)> = HashMap::new();
    for e in log {
        match *e {
            Event::Answered {
                call, human: true, ..
            } => calls.entry(call).or_default().0 = true,
            Event::Abandoned { call, .. } => calls.entry(call).or_default().1 = true,
            _ => {}
        }
    }
    let answered = calls.values().filter(|c| c.0).count() as u64;
    let abandoned = calls.values().filter(|c| c.0 && c.1).count() as u64;
    (answered, abandoned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario() -> Scenario {
        Scenario::parse(
            r#"
            start = "2026-03-02T13:00:00Z"
            [campaign]
            dial_mode = "predictive"
            [agents]
            count = 2
            [contacts]
            count = 0
            [behaviour]
            human_pct = 30.0
            [inbound]
            arrivals_per_hour = 10
            "#,
        )
        .unwrap()
    }

    fn offered_to(agent: u32, ready: bool, busy: bool) -> u64 {
        let log = [
            Event::AgentState {
                t: 0,
                agent,
                ready,
                busy,
            },
            Event::InboundOffered {
                t: 10,
                call: 0,
                agent,
            },
        ];
        audit(&scenario(), &log).inbound_offered_to_ineligible_agent
    }

    #[test]
    fn an_inbound_call_offered_to_a_busy_or_not_ready_agent_is_a_violation() {
        assert_eq!(offered_to(1, true, false), 0, "Ready and free");
        assert_eq!(offered_to(1, true, true), 1, "busy");
        assert_eq!(offered_to(1, false, false), 1, "not Ready");
        // An agent never seen logged in is not Ready either.
        let log = [Event::InboundOffered {
            t: 10,
            call: 0,
            agent: 2,
        }];
        assert_eq!(
            audit(&scenario(), &log).inbound_offered_to_ineligible_agent,
            1
        );
    }
}
