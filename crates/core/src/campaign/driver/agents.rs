//! Agents: becoming ready, heartbeats, going silent or unreachable, leaving (their contacts
//! go equally to the others), becoming free, and which free agent takes a person who answered.

use super::{
    Activity, AgentSlot, Command, DailyCalls, Driver, Leave, Mono, Now, PendingDial, Phase,
};
use crate::campaign::distribution::{pick_agent_predictive, AgentLoad};
use crate::campaign::window::local_date;
use crate::ids::{CallId, UserId};

impl Driver {
    pub(super) fn detect_inactivity(&mut self, now: Now) {
        let timeout = i64::from(self.settings.inactivity_timeout_seconds) * 1000;
        let silent: Vec<UserId> = self
            .agents
            .iter()
            .filter(|(_, a)| a.ready && now.mono - a.last_seen >= timeout)
            .map(|(u, _)| *u)
            .collect();
        for a in silent {
            self.leave(a, Leave::Inactive, now);
            self.commands.push(Command::AgentInactive { agent: a });
        }
    }

    // ---- agents -----------------------------------------------------------------------------

    pub(super) fn agent_slot(&mut self, agent: UserId, now: Now) -> &mut AgentSlot {
        self.agents.entry(agent).or_insert_with(|| AgentSlot {
            ready: false,
            elsewhere: false,
            activity: Activity::Idle,
            idle_since: now.at,
            last_seen: now.mono,
            calls_today: DailyCalls {
                day: local_date(chrono_tz::UTC, now.at),
                count: 0,
            },
        })
    }

    /// Agents became ready for the campaign (and are heard from now): they take their equal
    /// share of the due contacts.
    pub fn agents_ready(
        &mut self,
        now: Now,
        agents: impl IntoIterator<Item = UserId>,
    ) -> Vec<Command> {
        let mut joined = Vec::new();
        if self.stopped {
            return Vec::new();
        }
        for a in agents {
            let slot = self.agent_slot(a, now);
            slot.last_seen = now.mono;
            if slot.ready {
                continue;
            }
            slot.ready = true;
            if slot.activity == Activity::Idle {
                slot.idle_since = now.at;
            }
            joined.push(a);
        }
        if !joined.is_empty() {
            self.poll_wanted = true;
            if !self.predictive() {
                let moves = self.distribution.add_agents(joined);
                self.apply(&moves, false);
            }
        }
        self.take()
    }

    /// The agent's desktop was heard from at `seen` (a heartbeat).
    pub fn agent_seen(&mut self, agent: UserId, seen: Mono) {
        if let Some(a) = self.agents.get_mut(&agent) {
            a.last_seen = a.last_seen.max(seen);
        }
    }

    /// The agent is busy with another campaign (or not): it is offered nothing here meanwhile.
    pub fn set_elsewhere(&mut self, agent: UserId, busy: bool) {
        if let Some(a) = self.agents.get_mut(&agent) {
            if a.elsewhere && !busy {
                self.poll_wanted = true;
            }
            a.elsewhere = busy;
        }
    }

    /// The agent stopped being ready (offline, standby, unassigned): its contacts not yet called
    /// go equally to the others. A call in hand is finished normally.
    pub fn agent_left(&mut self, now: Now, agent: UserId) -> Vec<Command> {
        self.leave(agent, Leave::Offline, now);
        self.take()
    }

    /// Work offered to the agent could not reach it (its browser is gone): it stops being
    /// offered calls at once, its contacts go to the others, and the offer is taken back — a
    /// preview returns to the others, a dial asked for it is not placed, a call being bridged
    /// to it goes to another agent or waits.
    pub fn agent_unreachable(&mut self, now: Now, agent: UserId) -> Vec<Command> {
        self.leave(agent, Leave::Unreachable, now);
        self.take()
    }

    pub(super) fn leave(&mut self, agent: UserId, why: Leave, now: Now) {
        let Some(slot) = self.agents.get_mut(&agent) else {
            return;
        };
        let was_ready = slot.ready;
        slot.ready = false;
        let activity = slot.activity;
        let redistributed = why != Leave::Offline;
        if was_ready {
            let moves = self.distribution.remove_agent(agent);
            self.apply(&moves, redistributed);
        }
        match activity {
            Activity::Previewing { contact, .. } => {
                self.set_idle(agent, now);
                self.commands
                    .push(Command::PreviewWithdrawn { agent, contact });
                self.enter(vec![contact], true);
            }
            Activity::Dialling { contact } if why == Leave::Unreachable => {
                self.set_idle(agent, now);
                if let Some(PendingDial { before, .. }) = self.dialling.remove(&contact) {
                    if let Some(s) = self.contacts.get_mut(&contact) {
                        s.attempts = before;
                    }
                    self.enter(vec![contact], true);
                }
                self.poll_wanted = true;
            }
            Activity::Connecting { call } if why == Leave::Unreachable => {
                self.set_idle(agent, now);
                if let Some(c) = self.calls.get_mut(&call) {
                    c.agent = None;
                    if let Phase::Connecting { answered, .. } = c.phase {
                        self.place_human(call, answered, now);
                    }
                }
            }
            _ => {}
        }
    }

    pub(super) fn set_idle(&mut self, agent: UserId, now: Now) {
        if let Some(a) = self.agents.get_mut(&agent) {
            a.activity = Activity::Idle;
            a.idle_since = now.at;
        }
    }

    /// The agent's work is done: it is idle and may be offered the next call.
    pub(super) fn free_agent(&mut self, agent: UserId, call: Option<CallId>, now: Now) {
        self.set_idle(agent, now);
        self.poll_wanted = true;
        self.commands.push(Command::AgentFree { agent, call });
    }

    pub(super) fn available(&self, a: &AgentSlot) -> bool {
        a.ready && !a.elsewhere
    }

    /// The ready idle agent with the fewest calls today, then idle longest.
    pub(super) fn pick_free(&self, now: Now) -> Option<UserId> {
        let today = local_date(chrono_tz::UTC, now.at);
        let loads: Vec<AgentLoad> = self
            .agents
            .iter()
            .filter(|(_, a)| self.available(a) && a.activity == Activity::Idle)
            .map(|(u, a)| AgentLoad {
                agent: *u,
                calls_today: if a.calls_today.day == today {
                    a.calls_today.count
                } else {
                    0
                },
                idle_since: a.idle_since,
            })
            .collect();
        pick_agent_predictive(&loads)
    }
}
