//! The virtual phone network's behaviour model: for one dial, who (if anyone) answers, after how
//! long, and how long they talk. Sampling is a pure function of the scenario seed, the contact and
//! the attempt number, so a dial's fate does not depend on the order calls were placed in — the
//! discrete-event simulator and a real-time simulated carrier can share it and stay reproducible.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::Serialize;

/// A normal distribution of seconds, cut at `min`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Seconds {
    pub mean: f64,
    pub sd: f64,
    pub min: f64,
}

impl Seconds {
    /// One draw: normal around the mean, never below the minimum.
    pub fn sample<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let v = match Normal::new(self.mean, self.sd.max(0.0)) {
            Ok(n) => n.sample(rng),
            Err(_) => self.mean,
        };
        v.max(self.min)
    }
}

/// Shares (percent of all dials) and timings of the network.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Behaviour {
    pub human_pct: f64,
    pub machine_pct: f64,
    pub busy_pct: f64,
    pub failed_pct: f64,
    pub ring_seconds: Seconds,
    pub talk_seconds: Seconds,
    /// A live person hangs up after waiting this long for an agent.
    pub human_hangup_if_waiting_seconds: f64,
}

/// What will happen to one dial if nobody intervenes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fate {
    /// A person answers after `ring` seconds and talks `talk` seconds once connected.
    Human { ring: f64, talk: f64 },
    /// A machine answers after `ring`; its greeting lasts `greeting` until the beep.
    Machine { ring: f64, greeting: f64 },
    /// Busy signal after `after` seconds.
    Busy { after: f64 },
    /// The network fails the call after `after` seconds.
    Failed { after: f64 },
    /// Nobody answers: it rings until the caller gives up.
    NoAnswer,
}

impl Behaviour {
    /// A talk time drawn from `talk_seconds` for draw `n` under `seed` (inbound calls that talk
    /// as outbound ones do).
    pub fn talk_sample(&self, seed: u64, n: u64) -> f64 {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(seed ^ 0x7a1c, n, u32::MAX));
        self.talk_seconds.sample(&mut rng)
    }

    /// The fate of attempt `attempt` on contact `contact` under `seed`.
    pub fn fate(&self, seed: u64, contact: u64, attempt: u32) -> Fate {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, contact, attempt));
        let roll: f64 = rng.gen_range(0.0..100.0);
        let human = self.human_pct;
        let machine = human + self.machine_pct;
        let busy = machine + self.busy_pct;
        let failed = busy + self.failed_pct;
        if roll < human {
            let ring = self.ring_seconds.sample(&mut rng).max(1.0);
            Fate::Human {
                ring,
                talk: self.talk_seconds.sample(&mut rng),
            }
        } else if roll < machine {
            let ring = self.ring_seconds.sample(&mut rng).max(1.0);
            Fate::Machine {
                ring,
                greeting: rng.gen_range(4.0..12.0),
            }
        } else if roll < busy {
            Fate::Busy {
                after: rng.gen_range(2.0..6.0),
            }
        } else if roll < failed {
            Fate::Failed {
                after: rng.gen_range(0.5..3.0),
            }
        } else {
            Fate::NoAnswer
        }
    }
}

/// SplitMix64-style mixing of the seed and the call's identity into one RNG seed.
fn mix(seed: u64, contact: u64, attempt: u32) -> u64 {
    let mut z = seed ^ contact.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (u64::from(attempt) << 48);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Behaviour {
        Behaviour {
            human_pct: 30.0,
            machine_pct: 15.0,
            busy_pct: 5.0,
            failed_pct: 2.0,
            ring_seconds: Seconds {
                mean: 9.0,
                sd: 4.0,
                min: 0.0,
            },
            talk_seconds: Seconds {
                mean: 150.0,
                sd: 60.0,
                min: 10.0,
            },
            human_hangup_if_waiting_seconds: 4.0,
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_fate() {
        let m = model();
        assert_eq!(m.fate(7, 42, 1), m.fate(7, 42, 1));
    }

    #[test]
    fn shares_follow_the_behaviour() {
        let m = model();
        let n = 20_000;
        let humans = (0..n)
            .filter(|c| matches!(m.fate(1, *c, 1), Fate::Human { .. }))
            .count();
        let share = humans as f64 / n as f64 * 100.0;
        assert!((share - 30.0).abs() < 1.5, "{share}");
        let talk_ok = (0..n).all(|c| match m.fate(1, c, 1) {
            Fate::Human { talk, .. } => talk >= 10.0,
            _ => true,
        });
        assert!(talk_ok);
    }
}
