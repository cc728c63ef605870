//! Dialing and pacing: the poll that decides the next lines (one per agent, or the predictive
//! pacer's count), the checks right before each dial, the calls-per-second slot, the adapter's
//! confirmation or refusal of a dial, and the previewing agent's Call and Skip.

use super::{
    Activity, CallSlot, Command, Driver, DriverError, Now, PendingDial, Phase, Place, Refusal,
};
use crate::campaign::compliance::{check_dial, CpsLimiter, DialCheck, DialRefusal};
use crate::campaign::pacing::{AgentActivity, PacingInput};
use crate::campaign::settings::DialMode;
use crate::ids::{CallId, ContactId, UserId};
use chrono::{DateTime, Utc};
use std::cmp::Reverse;

impl Driver {
    // ---- dialing ----------------------------------------------------------------------------

    /// Graces and wrap-up limits that ran out, then the dialing decisions of the campaign's mode.
    /// `cps` is the client's calls-per-second limiter (shared by its campaigns and manual calls);
    /// the campaign's own limit is kept inside it, whichever campaign dials first.
    pub fn poll(&mut self, now: Now, cps: &mut CpsLimiter) -> Vec<Command> {
        self.poll_wanted = false;
        if self.cps_wake_at.is_some_and(|w| w <= now.mono) {
            self.cps_wake_at = None;
        }
        self.expire(now);
        self.serve_waiting(now);
        if self.stopped {
            return self.take();
        }
        if self.predictive() {
            self.pace(now, cps);
        } else {
            self.dial_for_agents(now, cps);
        }
        self.take()
    }

    pub(super) fn cps_free(&mut self, now: Now, cps: &CpsLimiter) -> bool {
        let slot = cps
            .next_slot(now.mono)
            .max(self.own_cps.next_slot(now.mono));
        if slot > now.mono {
            self.cps_wake_at = Some(self.cps_wake_at.map_or(slot, |w| w.min(slot)));
            return false;
        }
        true
    }

    /// Right before a dial: the compliance checks, the calls-per-second slot, the attempt.
    pub(super) fn dial(
        &mut self,
        now: Now,
        c: ContactId,
        agent: Option<UserId>,
        cps: &mut CpsLimiter,
    ) -> bool {
        let Some(s) = self.contacts.get(&c) else {
            return false;
        };
        let g = s.group as usize;
        let check = DialCheck {
            contact: &s.attempts,
            on_dnc: false, // the adapter looks DNC up right before placing the call
            window_open: self.groups[g]
                .zones
                .window_open(&self.settings.window, now.at),
            max_attempts: self.settings.max_attempts,
            now: now.at,
        };
        match check_dial(check) {
            Ok(()) => {}
            Err(DialRefusal::OutsideWindow) => {
                self.contacts.get_mut(&c).expect("slot").place = Place::Waiting;
                self.groups[g].waiting.push_back(c);
                return false;
            }
            Err(_) => {
                self.contacts.remove(&c);
                return false;
            }
        }
        if self.own_cps.next_slot(now.mono) > now.mono || !cps.try_acquire(now.mono) {
            self.enter(vec![c], false);
            return false;
        }
        self.own_cps.try_acquire(now.mono);
        let max = self.settings.max_attempts;
        let s = self.contacts.get_mut(&c).expect("slot");
        let before = s.attempts.clone();
        if s.attempts.start(now.at, s.tz, max).is_err() {
            return false;
        }
        s.place = Place::Dialling;
        self.dialling.insert(c, PendingDial { agent, before });
        if let Some(a) = agent {
            if let Some(slot) = self.agents.get_mut(&a) {
                slot.activity = Activity::Dialling { contact: c };
            }
        }
        self.commands.push(Command::Dial { contact: c, agent });
        true
    }
    /// Preview/progressive: each ready agent asking for work gets its next held contact; a
    /// clicked preview is dialled.
    pub(super) fn dial_for_agents(&mut self, now: Now, cps: &mut CpsLimiter) {
        let mut idle: Vec<(DateTime<Utc>, UserId)> = self
            .agents
            .iter()
            .filter(|(_, a)| self.available(a))
            .filter_map(|(u, a)| match a.activity {
                Activity::Idle => Some((a.idle_since, *u)),
                Activity::Previewing { clicked: true, .. } => Some((DateTime::<Utc>::MIN_UTC, *u)),
                _ => None,
            })
            .collect();
        idle.sort_unstable();
        let preview = self.settings.dial_mode == DialMode::Preview;
        for (_, a) in idle {
            if let Some(Activity::Previewing {
                contact,
                clicked: true,
            }) = self.activity(a)
            {
                if !self.cps_free(now, cps) {
                    return;
                }
                if !self.dial(now, contact, Some(a), cps) {
                    self.free_agent(a, None, now);
                }
                continue;
            }
            if !preview && !self.cps_free(now, cps) {
                return;
            }
            self.next_contact_for(a, preview, now, cps);
        }
    }

    /// The agent's next held contact whose window is open: offered (preview) or dialled.
    pub(super) fn next_contact_for(
        &mut self,
        a: UserId,
        preview: bool,
        now: Now,
        cps: &mut CpsLimiter,
    ) {
        loop {
            let (groups, contacts) = (&self.groups, &self.contacts);
            let taken = self.distribution.take_next(a, |c| {
                contacts
                    .get(&c)
                    .is_some_and(|s| groups[s.group as usize].open)
            });
            let Some((c, moves)) = taken else {
                return;
            };
            if let Some(s) = self.contacts.get_mut(&c) {
                s.place = Place::Previewed;
                self.groups[s.group as usize].held -= 1;
            }
            self.commands.push(Command::Hold {
                contact: c,
                from: Some(a),
                to: None,
                redistributed: false,
            });
            self.apply(&moves, false);
            if preview {
                if let Some(slot) = self.agents.get_mut(&a) {
                    slot.activity = Activity::Previewing {
                        contact: c,
                        clicked: false,
                    };
                }
                self.commands.push(Command::Preview {
                    agent: a,
                    contact: c,
                });
                return;
            }
            if self.dial(now, c, Some(a), cps) {
                return;
            }
        }
    }

    /// Predictive: the pacer says how many lines to add; contacts come from the open groups.
    pub(super) fn pace(&mut self, now: Now, cps: &mut CpsLimiter) {
        let activity: Vec<AgentActivity> = self
            .agents
            .values()
            .filter(|a| self.available(a))
            .filter_map(|a| match a.activity {
                Activity::Idle => Some(AgentActivity::Idle),
                Activity::OnCall { since, .. } => Some(AgentActivity::OnCall { since }),
                Activity::Connecting { .. } => Some(AgentActivity::OnCall { since: now.at }),
                Activity::WrapUp { until_at, .. } => {
                    Some(AgentActivity::WrapUp { until: until_at })
                }
                _ => None,
            })
            .collect();
        let (lines_in_flight, humans_waiting) = self.lines();
        let input = PacingInput {
            agents: &activity,
            lines_in_flight,
            humans_waiting,
            now: now.at,
        };
        let mut lines = self.pacer.decide(&self.stats, input).new_lines;
        while lines > 0 && self.cps_free(now, cps) {
            let Some(c) = self.next_pool_contact() else {
                return;
            };
            if self.dial(now, c, None, cps) {
                lines -= 1;
            }
        }
    }

    /// The next due contact of an open group, taking groups in turn (longest queue first).
    pub(super) fn next_pool_contact(&mut self) -> Option<ContactId> {
        loop {
            let g = (0..self.groups.len())
                .filter(|g| self.groups[*g].open && !self.groups[*g].waiting.is_empty())
                .max_by_key(|g| (self.groups[*g].waiting.len(), Reverse(*g)))?;
            let c = self.groups[g].waiting.pop_front()?;
            if self
                .contacts
                .get(&c)
                .is_some_and(|s| s.place == Place::Waiting)
            {
                return Some(c);
            }
        }
    }

    /// The adapter placed the dial asked for `contact`: it is call `call` now, ringing.
    pub fn dialled(&mut self, now: Now, contact: ContactId, call: CallId) -> Vec<Command> {
        let Some(PendingDial { agent, .. }) = self.dialling.remove(&contact) else {
            return Vec::new();
        };
        if let Some(s) = self.contacts.get_mut(&contact) {
            s.place = Place::Calling(call);
        }
        self.calls.insert(
            call,
            CallSlot {
                contact,
                agent,
                phase: Phase::Ringing,
                dialled_at: now.mono,
                disposed: false,
            },
        );
        self.ringing += 1;
        if let Some(a) = agent {
            if let Some(slot) = self.agents.get_mut(&a) {
                if slot.activity == (Activity::Dialling { contact }) {
                    slot.activity = Activity::Reserved { call };
                }
            }
        }
        self.take()
    }

    /// The dial asked for `contact` did not happen. On DNC the contact stops being due; otherwise
    /// the attempt is given back and the contact forgotten until it is added again.
    pub fn dial_refused(&mut self, now: Now, contact: ContactId, why: Refusal) -> Vec<Command> {
        let Some(PendingDial { agent, before }) = self.dialling.remove(&contact) else {
            return Vec::new();
        };
        if let Some(mut s) = self.contacts.remove(&contact) {
            if why == Refusal::OnDnc {
                s.attempts = before;
                s.attempts.mark_dnc();
            }
        }
        if let Some(a) = agent {
            if self.activity(a) == Some(Activity::Dialling { contact }) {
                self.free_agent(a, None, now);
            }
        }
        self.poll_wanted = true;
        self.take()
    }

    // ---- agents' requests -------------------------------------------------------------------

    /// The previewing agent clicks Call: the contact is dialled at the next poll (at once when
    /// the calls-per-second limit allows).
    pub fn preview_call(&mut self, agent: UserId) -> Result<ContactId, DriverError> {
        let slot = self.agents.get_mut(&agent).ok_or(DriverError::NoPreview)?;
        let Activity::Previewing { contact, .. } = slot.activity else {
            return Err(DriverError::NoPreview);
        };
        slot.activity = Activity::Previewing {
            contact,
            clicked: true,
        };
        self.poll_wanted = true;
        Ok(contact)
    }

    /// The previewing agent skips: the contact goes back to the others, the agent is free.
    pub fn preview_skip(&mut self, now: Now, agent: UserId) -> Result<Vec<Command>, DriverError> {
        let Some(Activity::Previewing { contact, .. }) = self.activity(agent) else {
            return Err(DriverError::NoPreview);
        };
        self.free_agent(agent, None, now);
        self.enter(vec![contact], false);
        Ok(self.take())
    }
}
