//! Who calls whom (DESIGN §2.1). In preview and progressive modes every ready agent holds an equal
//! share of the contacts due — shares differ by at most one, a contact is held by at most one
//! agent — and the contacts of an agent who leaves (offline, or inactive past the timeout) are
//! spread equally over the agents who remain. In predictive mode a connected call goes to the
//! ready agent with the fewest campaign calls today, then the one idle longest.
//!
//! Every change is returned as a list of [`Move`]s so the driver can log and persist it.

use crate::ids::{ContactId, UserId};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// One contact changing hands. `from == None` means from the unassigned pool (or, when `entering`,
/// newly due); `to == None` means into the pool (no ready agent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    pub contact: ContactId,
    pub from: Option<UserId>,
    pub to: Option<UserId>,
    /// The contact just became due and entered the distribution.
    pub entering: bool,
}

/// The due contacts of a campaign and the ready agents holding them.
#[derive(Debug, Default, Clone)]
pub struct Distribution {
    holdings: BTreeMap<UserId, VecDeque<ContactId>>,
    holder: HashMap<ContactId, UserId>,
    pool: VecDeque<ContactId>,
    in_pool: HashSet<ContactId>,
}

impl Distribution {
    pub fn new() -> Self {
        Self::default()
    }

    /// The agent holding `contact`, if any.
    pub fn holder(&self, contact: ContactId) -> Option<UserId> {
        self.holder.get(&contact).copied()
    }

    /// How many contacts each ready agent holds.
    pub fn shares(&self) -> Vec<(UserId, usize)> {
        self.holdings.iter().map(|(a, q)| (*a, q.len())).collect()
    }

    /// Contacts held by `agent`, in calling order.
    pub fn held_by(&self, agent: UserId) -> Vec<ContactId> {
        self.holdings
            .get(&agent)
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Due contacts nobody holds, waiting for a ready agent.
    pub fn pooled(&self) -> impl Iterator<Item = ContactId> + '_ {
        self.pool.iter().copied()
    }

    /// Due contacts nobody holds (there is no ready agent).
    pub fn unassigned(&self) -> usize {
        self.pool.len()
    }

    pub fn is_ready(&self, agent: UserId) -> bool {
        self.holdings.contains_key(&agent)
    }

    /// An agent became ready: it takes its equal share from the pool and from the others.
    pub fn add_agent(&mut self, agent: UserId) -> Vec<Move> {
        self.add_agents([agent])
    }

    /// Several agents became ready at once (e.g. the window opened): the pool is shared among
    /// all of them, not handed to the first.
    pub fn add_agents(&mut self, agents: impl IntoIterator<Item = UserId>) -> Vec<Move> {
        for a in agents {
            self.holdings.entry(a).or_default();
        }
        let pooled: Vec<_> = self.pool.drain(..).collect();
        self.in_pool.clear();
        let mut moves = self.place(pooled, None, false);
        moves.extend(self.rebalance());
        moves
    }

    /// An agent went offline or inactive: its un-called contacts go equally to the others.
    pub fn remove_agent(&mut self, agent: UserId) -> Vec<Move> {
        let Some(held) = self.holdings.remove(&agent) else {
            return Vec::new();
        };
        for c in &held {
            self.holder.remove(c);
        }
        self.place(held.into_iter().collect(), Some(agent), false)
    }

    /// Newly due contacts: each goes to the agent holding fewest.
    pub fn add_contacts(&mut self, contacts: impl IntoIterator<Item = ContactId>) -> Vec<Move> {
        let fresh: Vec<_> = contacts
            .into_iter()
            .filter(|c| !self.holder.contains_key(c) && !self.in_pool.contains(c))
            .collect();
        self.place(fresh, None, true)
    }

    /// The agent's next contact that `callable` accepts; it leaves the holdings (it is being
    /// called) and shares are evened out again (the moves are returned with it).
    pub fn take_next(
        &mut self,
        agent: UserId,
        callable: impl Fn(ContactId) -> bool,
    ) -> Option<(ContactId, Vec<Move>)> {
        let q = self.holdings.get_mut(&agent)?;
        let pos = q.iter().position(|c| callable(*c))?;
        let c = q.remove(pos)?;
        self.holder.remove(&c);
        Some((c, self.rebalance()))
    }

    /// A contact stopped being due (DNC, window closed, left the list): nobody holds it any more.
    /// Returns whether it was in the distribution, and the moves that evened shares out.
    pub fn release(&mut self, contact: ContactId) -> (bool, Vec<Move>) {
        if let Some(a) = self.holder.remove(&contact) {
            if let Some(q) = self.holdings.get_mut(&a) {
                q.retain(|c| *c != contact);
            }
            return (true, self.rebalance());
        }
        if !self.in_pool.remove(&contact) {
            return (false, Vec::new());
        }
        self.pool.retain(|c| *c != contact);
        (true, Vec::new())
    }

    fn place(
        &mut self,
        contacts: Vec<ContactId>,
        from: Option<UserId>,
        entering: bool,
    ) -> Vec<Move> {
        let mut moves = Vec::with_capacity(contacts.len());
        for c in contacts {
            let to = self.smallest();
            match to {
                Some(a) => {
                    self.holdings
                        .get_mut(&a)
                        .expect("agent exists")
                        .push_back(c);
                    self.holder.insert(c, a);
                }
                None => {
                    self.pool.push_back(c);
                    self.in_pool.insert(c);
                }
            }
            moves.push(Move {
                contact: c,
                from,
                to,
                entering,
            });
        }
        moves
    }

    fn smallest(&self) -> Option<UserId> {
        self.holdings
            .iter()
            .min_by_key(|(a, q)| (q.len(), **a))
            .map(|(a, _)| *a)
    }

    fn largest(&self) -> Option<UserId> {
        self.holdings
            .iter()
            .max_by_key(|(a, q)| (q.len(), std::cmp::Reverse(**a)))
            .map(|(a, _)| *a)
    }

    /// Moves contacts from the largest holder to the smallest until shares differ by at most one.
    fn rebalance(&mut self) -> Vec<Move> {
        let mut moves = Vec::new();
        while let (Some(min), Some(max)) = (self.smallest(), self.largest()) {
            if self.holdings[&max].len() <= self.holdings[&min].len() + 1 {
                break;
            }
            let c = self
                .holdings
                .get_mut(&max)
                .and_then(|q| q.pop_back())
                .expect("non-empty");
            self.holdings
                .get_mut(&min)
                .expect("agent exists")
                .push_back(c);
            self.holder.insert(c, min);
            moves.push(Move {
                contact: c,
                from: Some(max),
                to: Some(min),
                entering: false,
            });
        }
        moves
    }
}

/// A ready, idle agent offered a connected predictive call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentLoad {
    pub agent: UserId,
    pub calls_today: u32,
    pub idle_since: DateTime<Utc>,
}

/// The agent a connected predictive call goes to: fewest campaign calls today, then idle longest,
/// then lowest id (so the choice is deterministic).
pub fn pick_agent_predictive(candidates: &[AgentLoad]) -> Option<UserId> {
    candidates
        .iter()
        .min_by_key(|a| (a.calls_today, a.idle_since, a.agent))
        .map(|a| a.agent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spread(d: &Distribution) -> usize {
        let s: Vec<_> = d.shares().into_iter().map(|(_, n)| n).collect();
        s.iter().max().unwrap() - s.iter().min().unwrap()
    }

    fn contacts(r: std::ops::Range<i64>) -> Vec<ContactId> {
        r.map(ContactId).collect()
    }

    #[test]
    fn shares_differ_by_at_most_one() {
        let mut d = Distribution::new();
        for a in 1..=3 {
            d.add_agent(UserId(a));
        }
        d.add_contacts(contacts(0..10));
        assert!(spread(&d) <= 1);
        assert_eq!(d.shares().iter().map(|s| s.1).sum::<usize>(), 10);
        // Shares 4/3/3; agent 1 calls three in a row: the third leaves it two behind.
        for _ in 0..2 {
            let (_, moves) = d.take_next(UserId(1), |_| true).unwrap();
            assert!(moves.is_empty());
        }
        let (_, moves) = d.take_next(UserId(1), |_| true).unwrap();
        assert_eq!(moves.len(), 1);
        assert_eq!(moves[0].to, Some(UserId(1)));
        assert!(spread(&d) <= 1);
    }

    #[test]
    fn offline_agent_contacts_are_redistributed_equally() {
        let mut d = Distribution::new();
        for a in 1..=4 {
            d.add_agent(UserId(a));
        }
        d.add_contacts(contacts(0..12));
        let held = d.held_by(UserId(2));
        let moves = d.remove_agent(UserId(2));
        assert_eq!(moves.len(), held.len());
        assert!(moves
            .iter()
            .all(|m| m.from == Some(UserId(2)) && m.to.is_some()));
        assert!(held
            .iter()
            .all(|c| d.holder(*c).is_some_and(|a| a != UserId(2))));
        assert!(spread(&d) <= 1);
    }

    #[test]
    fn a_returning_agent_gets_an_equal_share_again() {
        let mut d = Distribution::new();
        d.add_agent(UserId(1));
        d.add_contacts(contacts(0..9));
        d.add_agent(UserId(2));
        d.add_agent(UserId(3));
        assert_eq!(
            d.shares(),
            vec![(UserId(1), 3), (UserId(2), 3), (UserId(3), 3)]
        );
    }

    #[test]
    fn without_ready_agents_contacts_wait_in_the_pool() {
        let mut d = Distribution::new();
        d.add_contacts(contacts(0..5));
        assert_eq!(d.unassigned(), 5);
        d.add_agent(UserId(7));
        assert_eq!(d.unassigned(), 0);
        assert_eq!(d.held_by(UserId(7)).len(), 5);
    }

    #[test]
    fn predictive_call_goes_to_fewest_calls_then_longest_idle() {
        let t0: DateTime<Utc> = "2026-03-02T15:00:00Z".parse().unwrap();
        let t1 = t0 + chrono::Duration::seconds(5);
        let c = [
            AgentLoad {
                agent: UserId(1),
                calls_today: 4,
                idle_since: t0,
            },
            AgentLoad {
                agent: UserId(2),
                calls_today: 3,
                idle_since: t1,
            },
            AgentLoad {
                agent: UserId(3),
                calls_today: 3,
                idle_since: t0,
            },
        ];
        assert_eq!(pick_agent_predictive(&c), Some(UserId(3)));
    }
}
