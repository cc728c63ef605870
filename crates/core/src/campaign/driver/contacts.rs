//! Contacts and calling windows: contacts entering the driver, grouped by the zones their
//! window is judged in, coming due on their cadence, shared among the agents, and leaving.

use super::{Activity, Command, ContactSlot, Driver, DueContact, Group, Now, Place};
use crate::campaign::attempt::ContactStatus;
use crate::campaign::distribution::Move;
use crate::campaign::window::TimeZoneSource;
use crate::ids::ContactId;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

impl Driver {
    // ---- contacts ---------------------------------------------------------------------------

    pub(super) fn group(&mut self, zones: TimeZoneSource, now: Now) -> u32 {
        if let Some(g) = self.group_by_zones.get(&zones) {
            return *g;
        }
        let g = self.groups.len() as u32;
        let open = zones.window_open(&self.settings.window, now.at);
        self.groups.push(Group {
            zones: zones.clone(),
            open,
            pending: BinaryHeap::new(),
            waiting: VecDeque::new(),
            held: 0,
        });
        self.group_by_zones.insert(zones, g);
        g
    }

    /// Contacts enrolled or read again; those already known are left alone. Each is due now,
    /// later (its cadence), or never (not active).
    pub fn add_contacts(
        &mut self,
        now: Now,
        contacts: impl IntoIterator<Item = DueContact>,
    ) -> Vec<Command> {
        let mut due = Vec::new();
        for c in contacts {
            if self.contacts.contains_key(&c.id) || c.attempts.status != ContactStatus::Active {
                continue;
            }
            if c.attempts.in_flight || c.attempts.attempts >= self.settings.max_attempts {
                continue;
            }
            let group = self.group(c.zones, now);
            let at = c.attempts.next_due;
            self.contacts.insert(
                c.id,
                ContactSlot {
                    group,
                    tz: c.tz,
                    attempts: c.attempts,
                    place: Place::Pending,
                },
            );
            if at <= now.at {
                due.push(c.id);
            } else {
                self.groups[group as usize]
                    .pending
                    .push(Reverse((at.timestamp_millis(), c.id)));
            }
        }
        self.enter(due, false);
        self.take()
    }

    /// Due contacts enter: shared among the agents when their window is open (preview,
    /// progressive), else queued in their group.
    pub(super) fn enter(&mut self, due: Vec<ContactId>, redistributed: bool) {
        let predictive = self.predictive();
        let mut hand = Vec::new();
        for c in due {
            let Some(s) = self.contacts.get_mut(&c) else {
                continue;
            };
            let g = &mut self.groups[s.group as usize];
            if !predictive {
                s.place = Place::Held;
                g.held += 1;
                hand.push(c);
            } else {
                s.place = Place::Waiting;
                g.waiting.push_back(c);
            }
        }
        if !hand.is_empty() {
            let moves = self.distribution.add_contacts(hand);
            self.apply(&moves, redistributed);
        }
    }

    /// A contact stopped being due (left the lists, joined DNC): nobody holds it any more. A
    /// contact being called is left to its call.
    pub fn contact_gone(&mut self, now: Now, contact: ContactId) -> Vec<Command> {
        let Some(s) = self.contacts.get(&contact) else {
            return Vec::new();
        };
        match s.place {
            Place::Dialling | Place::Calling(_) => return Vec::new(),
            Place::Held => {
                let g = s.group as usize;
                let holder = self.distribution.holder(contact);
                let (_, moves) = self.distribution.release(contact);
                self.groups[g].held -= 1;
                self.commands.push(Command::Hold {
                    contact,
                    from: holder,
                    to: None,
                    redistributed: false,
                });
                self.apply(&moves, false);
            }
            Place::Previewed => {
                let agent = self.agents.iter().find_map(|(u, a)| {
                    matches!(a.activity, Activity::Previewing { contact: c, .. } if c == contact)
                        .then_some(*u)
                });
                if let Some(a) = agent {
                    self.set_idle(a, now);
                    self.commands.push(Command::AgentFree {
                        agent: a,
                        call: None,
                    });
                }
            }
            Place::Pending | Place::Waiting => {} // their queue entries are skipped later
        }
        self.contacts.remove(&contact);
        self.take()
    }

    pub(super) fn apply(&mut self, moves: &[Move], redistributed: bool) {
        for m in moves.iter().filter(|m| m.from.is_some() || m.to.is_some()) {
            self.commands.push(Command::Hold {
                contact: m.contact,
                from: m.from,
                to: m.to,
                redistributed,
            });
        }
    }

    // ---- the periodic tick ------------------------------------------------------------------

    /// Windows opening and closing, contacts coming due, agents gone silent.
    pub fn tick(&mut self, now: Now) -> Vec<Command> {
        self.update_windows(now);
        self.release_due(now);
        self.detect_inactivity(now);
        self.take()
    }

    pub(super) fn update_windows(&mut self, now: Now) {
        for g in 0..self.groups.len() {
            let open = self.groups[g]
                .zones
                .window_open(&self.settings.window, now.at);
            if open == self.groups[g].open {
                continue;
            }
            self.groups[g].open = open;
            if self.predictive() {
                continue;
            }
            if open {
                let waiting: Vec<ContactId> = self.groups[g].waiting.drain(..).collect();
                let waiting = waiting
                    .into_iter()
                    .filter(|c| {
                        self.contacts
                            .get(c)
                            .is_some_and(|s| s.place == Place::Waiting)
                    })
                    .collect();
                self.enter(waiting, false);
            }
        }
        if self.groups.iter().any(|g| g.open) {
            self.poll_wanted = true;
        }
    }

    pub(super) fn release_due(&mut self, now: Now) {
        let now_ms = now.at.timestamp_millis();
        for g in 0..self.groups.len() {
            let mut due = Vec::new();
            while let Some(Reverse((t, c))) = self.groups[g].pending.peek().copied() {
                if t > now_ms {
                    break;
                }
                self.groups[g].pending.pop();
                let current = self.contacts.get(&c).is_some_and(|s| {
                    s.place == Place::Pending && s.attempts.next_due.timestamp_millis() == t
                });
                if current {
                    due.push(c);
                }
            }
            if !due.is_empty() {
                self.poll_wanted = true;
                self.enter(due, false);
            }
        }
    }
}
