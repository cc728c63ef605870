//! Predictive pacing (DESIGN §2.1): estimates answer rate, ring time and talk time from recent
//! calls, and decides how many lines to have in flight so agents stay busy while abandoned /
//! live-answered stays under the cap over the campaign's life and every rolling 30 days.
//!
//! The model: a new line is answered by a person with probability `p`; the answered person is
//! served if an agent is free within the 2-second grace. Agents count fully when idle and
//! partially when about to finish (weighted by the chance they free up before the person would
//! answer). With `X ~ Binomial(lines, p)` and `a` expected free agents, the expected abandon share
//! is `E[(X − a)+] / E[X]`; the pacer dials the most lines whose share stays under an allowed
//! rate. The allowed rate starts below the cap and falls to zero (progressive: one line per idle
//! agent, no abandon possible) as the measured rate approaches the cap — it slows down *before*
//! reaching it. With too little data or too few agents it dials progressively.

use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, VecDeque};

/// Completed dials needed before predicting.
pub const MIN_DIAL_SAMPLES: usize = 50;
/// Person-answered calls needed before predicting.
pub const MIN_HUMAN_SAMPLES: usize = 15;
/// Finished conversations needed before predicting when agents will be free.
pub const MIN_TALK_SAMPLES: usize = 30;
/// Fewer ready agents than this: dial progressively (small teams cannot absorb variance).
pub const MIN_PREDICTIVE_AGENTS: usize = 3;
/// The grace a person waits for an agent before the call counts as abandoned (DESIGN §2.1).
pub const ABANDON_GRACE_SECONDS: f64 = 2.0;
/// How many recent calls the answer-rate, ring and talk estimates keep.
pub const WINDOW: usize = 400;

/// A sliding sample of values, kept both in arrival order and sorted for quantile queries.
#[derive(Debug, Clone, Default)]
struct Samples {
    order: VecDeque<f64>,
    sorted: Vec<f64>,
}

impl Samples {
    fn push(&mut self, v: f64) {
        if self.order.len() == WINDOW {
            let old = self.order.pop_front().expect("non-empty");
            let i = self.sorted.partition_point(|x| *x < old);
            self.sorted.remove(i);
        }
        self.order.push_back(v);
        let i = self.sorted.partition_point(|x| *x < v);
        self.sorted.insert(i, v);
    }

    fn len(&self) -> usize {
        self.sorted.len()
    }

    fn mean(&self) -> Option<f64> {
        (!self.sorted.is_empty())
            .then(|| self.sorted.iter().sum::<f64>() / self.sorted.len() as f64)
    }

    /// Share of samples strictly above `x`.
    fn share_above(&self, x: f64) -> f64 {
        if self.sorted.is_empty() {
            return 0.0;
        }
        let i = self.sorted.partition_point(|v| *v <= x);
        (self.sorted.len() - i) as f64 / self.sorted.len() as f64
    }
}

/// What the pacer has learnt from recent calls, and the abandon record it must respect.
#[derive(Debug, Clone, Default)]
pub struct PacingStats {
    answered_human: VecDeque<bool>,
    human_ring: Samples,
    talk: Samples,
    humans_total: u64,
    abandoned_total: u64,
    /// Per UTC day: (live-answered, abandoned), for the rolling 30-day rate.
    daily: BTreeMap<i64, (u64, u64)>,
}

fn day_index(now: DateTime<Utc>) -> i64 {
    now.timestamp().div_euclid(86_400)
}

impl PacingStats {
    /// A dial ended its ringing phase: answered by a person (after `ring_seconds`) or not.
    pub fn record_dial(&mut self, human: bool, ring_seconds: Option<f64>) {
        if self.answered_human.len() == WINDOW {
            self.answered_human.pop_front();
        }
        self.answered_human.push_back(human);
        if let (true, Some(r)) = (human, ring_seconds) {
            self.human_ring.push(r);
        }
    }

    /// A connected call ended after `seconds` of talk.
    pub fn record_talk(&mut self, seconds: f64) {
        self.talk.push(seconds);
    }

    /// A person answered; `abandoned` when no agent was connected within the grace.
    pub fn record_live_answer(&mut self, now: DateTime<Utc>, abandoned: bool) {
        self.humans_total += 1;
        self.abandoned_total += u64::from(abandoned);
        let d = self.daily.entry(day_index(now)).or_default();
        d.0 += 1;
        d.1 += u64::from(abandoned);
        while self.daily.len() > 31 {
            self.daily.pop_first();
        }
    }

    /// Adds a stored day of the abandon record (`live_answered` persons, `abandoned` of them),
    /// as when a runner is rebuilt from the calls already made (after a restart or a resume).
    pub fn record_day(&mut self, day: chrono::NaiveDate, live_answered: u64, abandoned: u64) {
        let abandoned = abandoned.min(live_answered);
        self.humans_total += live_answered;
        self.abandoned_total += abandoned;
        let index = day
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            .timestamp()
            .div_euclid(86_400);
        let d = self.daily.entry(index).or_default();
        d.0 += live_answered;
        d.1 += abandoned;
        while self.daily.len() > 31 {
            self.daily.pop_first();
        }
    }

    pub fn dial_samples(&self) -> usize {
        self.answered_human.len()
    }

    pub fn answer_rate(&self) -> f64 {
        let n = self.answered_human.len().max(1) as f64;
        self.answered_human.iter().filter(|h| **h).count() as f64 / n
    }

    pub fn mean_ring_seconds(&self) -> Option<f64> {
        self.human_ring.mean()
    }

    pub fn mean_talk_seconds(&self) -> Option<f64> {
        self.talk.mean()
    }

    /// Abandoned / live-answered over the campaign's life.
    pub fn life_rate(&self) -> f64 {
        ratio(self.abandoned_total, self.humans_total)
    }

    /// Abandoned / live-answered over the 30 days ending at `now`.
    pub fn rolling_30d_rate(&self, now: DateTime<Utc>) -> f64 {
        let today = day_index(now);
        let (h, a) = self
            .daily
            .range(today - 29..=today)
            .fold((0, 0), |(h, a), (_, (dh, da))| (h + dh, a + da));
        ratio(a, h)
    }

    /// Chance a person answering a line dialled now answers later than `seconds` from now.
    fn answers_later_than(&self, seconds: f64) -> f64 {
        self.human_ring.share_above(seconds)
    }

    /// Chance a call that has lasted `elapsed` seconds ends within `within` more seconds.
    fn talk_ends_within(&self, elapsed: f64, within: f64) -> f64 {
        if within <= 0.0 || self.talk.len() == 0 {
            return 0.0;
        }
        let alive = self.talk.share_above(elapsed);
        if alive <= 0.0 {
            // Already longer than every sample: nothing says when it ends. At a campaign's
            // start the samples are the first calls to finish, the shortest ones, so "it ends
            // soon" would have every ongoing call freeing its agent and the pacer over-dial.
            return 0.0;
        }
        (alive - self.talk.share_above(elapsed + within)) / alive
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// What a ready agent of the campaign is doing, as the pacer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentActivity {
    Idle,
    /// Talking to a contact since this instant.
    OnCall {
        since: DateTime<Utc>,
    },
    /// In wrap-up until this instant.
    WrapUp {
        until: DateTime<Utc>,
    },
}

/// The campaign's live state at one decision.
#[derive(Debug, Clone, Copy)]
pub struct PacingInput<'a> {
    /// Ready agents (logged in and active) and what they are doing.
    pub agents: &'a [AgentActivity],
    /// Lines dialled and not yet answered or ended.
    pub lines_in_flight: usize,
    /// Answered by a person, waiting for an agent.
    pub humans_waiting: usize,
    pub now: DateTime<Utc>,
}

/// How the pacer dialled this time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacingMode {
    /// One line per idle agent: not enough data, too few agents, or the abandon rate is near the cap.
    Progressive,
    Predictive,
}

/// The decision: start `new_lines` more calls now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacingDecision {
    pub new_lines: usize,
    pub mode: PacingMode,
    /// The abandon share the decision allowed itself.
    pub allowed_abandon: f64,
}

/// The predictive pacer of one campaign.
#[derive(Debug, Clone, Copy)]
pub struct Pacer {
    /// The abandon cap as a fraction (0.03).
    pub abandon_cap: f64,
    pub max_lines_per_agent: f64,
    pub wrap_up_seconds: f64,
}

impl Pacer {
    pub fn decide(&self, stats: &PacingStats, input: PacingInput<'_>) -> PacingDecision {
        let ready = input.agents.len();
        let ceiling = (self.max_lines_per_agent * ready as f64).floor() as usize;
        let idle = input
            .agents
            .iter()
            .filter(|a| **a == AgentActivity::Idle)
            .count();
        let safe_total = idle.saturating_sub(input.humans_waiting).min(ceiling);
        let progressive = PacingDecision {
            new_lines: safe_total.saturating_sub(input.lines_in_flight),
            mode: PacingMode::Progressive,
            allowed_abandon: 0.0,
        };
        let enough_data = stats.dial_samples() >= MIN_DIAL_SAMPLES
            && stats.human_ring.len() >= MIN_HUMAN_SAMPLES
            && stats.talk.len() >= MIN_TALK_SAMPLES;
        let allowed = self.allowed_abandon(stats, input.now);
        if ready < MIN_PREDICTIVE_AGENTS || !enough_data || allowed <= 0.0 {
            return progressive;
        }
        let p = stats.answer_rate().max(0.01);
        let avail = self.expected_free(stats, input) - input.humans_waiting as f64;
        let total =
            largest_lines_within(p, avail, allowed, input.lines_in_flight, ceiling).max(safe_total);
        PacingDecision {
            new_lines: total.saturating_sub(input.lines_in_flight),
            mode: PacingMode::Predictive,
            allowed_abandon: allowed,
        }
    }

    /// The abandon share new dials may risk: 70 % of the cap while the measured rate (life and
    /// rolling 30 days) is under half the cap, falling linearly to zero at 90 % of the cap.
    pub fn allowed_abandon(&self, stats: &PacingStats, now: DateTime<Utc>) -> f64 {
        let worst = stats.life_rate().max(stats.rolling_30d_rate(now));
        let (lo, hi) = (0.5 * self.abandon_cap, 0.9 * self.abandon_cap);
        let gain = if worst <= lo {
            0.7
        } else if worst >= hi {
            0.0
        } else {
            0.7 * (hi - worst) / (hi - lo)
        };
        self.abandon_cap * gain
    }

    /// Agents expected to be free when a line dialled now is answered (plus the grace).
    fn expected_free(&self, stats: &PacingStats, input: PacingInput<'_>) -> f64 {
        let ring = stats.mean_ring_seconds().unwrap_or(10.0);
        input
            .agents
            .iter()
            .map(|a| match *a {
                AgentActivity::Idle => 1.0,
                AgentActivity::WrapUp { until } => {
                    let left = secs(until - input.now);
                    stats.answers_later_than(left - ABANDON_GRACE_SECONDS)
                }
                AgentActivity::OnCall { since } => {
                    let elapsed = secs(input.now - since);
                    let within = ring + ABANDON_GRACE_SECONDS - self.wrap_up_seconds;
                    stats.talk_ends_within(elapsed, within)
                }
            })
            .sum()
    }
}

fn secs(d: Duration) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

/// The largest total of lines in `[from, ceiling]` whose expected abandon share stays within
/// `allowed` (binary search: the share grows with the number of lines).
fn largest_lines_within(p: f64, avail: f64, allowed: f64, from: usize, ceiling: usize) -> usize {
    if from >= ceiling || abandon_share(from + 1, p, avail) > allowed {
        return from;
    }
    let (mut lo, mut hi) = (from + 1, ceiling);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if abandon_share(mid, p, avail) <= allowed {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// `E[(X − a)+] / E[X]` for `X ~ Binomial(n, p)`.
pub fn abandon_share(n: usize, p: f64, avail: f64) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let q = 1.0 - p;
    let mut pmf = q.powi(n as i32);
    let mut overflow = 0.0;
    for k in 0..=n {
        if k > 0 {
            pmf *= (n - k + 1) as f64 / k as f64 * p / q;
        }
        let excess = k as f64 - avail;
        if excess > 0.0 {
            overflow += pmf * excess;
        }
    }
    overflow / (n as f64 * p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-03-02T15:00:00Z".parse().unwrap()
    }

    fn pacer() -> Pacer {
        Pacer {
            abandon_cap: 0.03,
            max_lines_per_agent: 3.0,
            wrap_up_seconds: 15.0,
        }
    }

    fn trained() -> PacingStats {
        let mut s = PacingStats::default();
        for i in 0..200 {
            s.record_dial(i % 4 == 0, Some(9.0 + (i % 7) as f64));
        }
        for i in 0..50 {
            s.record_talk(100.0 + i as f64 * 2.0);
        }
        s
    }

    #[test]
    fn a_call_longer_than_every_finished_one_is_not_expected_to_end_soon() {
        let mut s = PacingStats::default();
        for i in 0..40 {
            s.record_talk(10.0 + f64::from(i) * 0.1);
        }
        assert_eq!(s.talk_ends_within(60.0, 10.0), 0.0);
        assert!(s.talk_ends_within(10.5, 10.0) > 0.9);
    }

    #[test]
    fn dials_progressively_until_enough_conversations_have_ended() {
        let mut s = PacingStats::default();
        for i in 0..200 {
            s.record_dial(i % 4 == 0, Some(9.0));
        }
        for i in 0..MIN_TALK_SAMPLES - 1 {
            s.record_talk(20.0 + i as f64);
        }
        let agents = vec![AgentActivity::Idle; 10];
        let input = PacingInput {
            agents: &agents,
            lines_in_flight: 0,
            humans_waiting: 0,
            now: now(),
        };
        assert_eq!(pacer().decide(&s, input).mode, PacingMode::Progressive);
        s.record_talk(30.0);
        assert_eq!(pacer().decide(&s, input).mode, PacingMode::Predictive);
    }

    #[test]
    fn falls_back_to_progressive_with_too_little_data() {
        let agents = [AgentActivity::Idle; 10];
        let input = PacingInput {
            agents: &agents,
            lines_in_flight: 0,
            humans_waiting: 0,
            now: now(),
        };
        let d = pacer().decide(&PacingStats::default(), input);
        assert_eq!((d.mode, d.new_lines), (PacingMode::Progressive, 10));
    }

    #[test]
    fn falls_back_to_progressive_with_too_few_agents() {
        let agents = [AgentActivity::Idle; 2];
        let input = PacingInput {
            agents: &agents,
            lines_in_flight: 0,
            humans_waiting: 0,
            now: now(),
        };
        let d = pacer().decide(&trained(), input);
        assert_eq!((d.mode, d.new_lines), (PacingMode::Progressive, 2));
    }

    #[test]
    fn dials_ahead_of_idle_agents_but_never_above_max_lines_per_agent() {
        let agents = [AgentActivity::Idle; 10];
        let input = PacingInput {
            agents: &agents,
            lines_in_flight: 0,
            humans_waiting: 0,
            now: now(),
        };
        let d = pacer().decide(&trained(), input);
        assert_eq!(d.mode, PacingMode::Predictive);
        assert!(d.new_lines > 10, "{d:?}");
        assert!(d.new_lines <= 30);
    }

    #[test]
    fn slows_down_before_the_cap() {
        let mut s = trained();
        for i in 0..100 {
            s.record_live_answer(now(), i < 2); // 2 %: above half the 3 % cap
        }
        let p = pacer();
        let allowed = p.allowed_abandon(&s, now());
        assert!(allowed > 0.0 && allowed < 0.7 * p.abandon_cap, "{allowed}");
        s.record_live_answer(now(), true);
        s.record_live_answer(now(), true); // ~3.9 %: at the cap
        assert_eq!(p.allowed_abandon(&s, now()), 0.0);
        let agents = [AgentActivity::Idle; 10];
        let input = PacingInput {
            agents: &agents,
            lines_in_flight: 4,
            humans_waiting: 0,
            now: now(),
        };
        let d = p.decide(&s, input);
        assert_eq!((d.mode, d.new_lines), (PacingMode::Progressive, 6));
    }

    #[test]
    fn rolling_30_day_rate_forgets_old_days() {
        let mut s = PacingStats::default();
        s.record_live_answer(now(), true);
        let later = now() + Duration::days(31);
        s.record_live_answer(later, false);
        assert_eq!(s.life_rate(), 0.5);
        assert_eq!(s.rolling_30d_rate(later), 0.0);
    }

    #[test]
    fn stored_days_count_like_recorded_answers() {
        let mut s = PacingStats::default();
        let today = now().date_naive();
        s.record_day(today - Duration::days(40), 10, 10);
        s.record_day(today - Duration::days(3), 97, 3);
        s.record_day(today, 3, 0);
        // Life: 13 of 110; the last 30 days: 3 of 100.
        assert!(
            (s.life_rate() - 13.0 / 110.0).abs() < 1e-12,
            "{}",
            s.life_rate()
        );
        assert!((s.rolling_30d_rate(now()) - 0.03).abs() < 1e-12);
        // Further answers of a stored day add to it.
        s.record_live_answer(now(), true);
        assert!((s.rolling_30d_rate(now()) - 4.0 / 101.0).abs() < 1e-12);
        // More abandoned than answered is clamped (a count cannot exceed its whole).
        let mut t = PacingStats::default();
        t.record_day(today, 1, 5);
        assert_eq!(t.life_rate(), 1.0);
    }

    #[test]
    fn abandon_share_grows_with_lines() {
        let a = abandon_share(10, 0.25, 3.0);
        let b = abandon_share(20, 0.25, 3.0);
        assert!(a < b);
        assert_eq!(abandon_share(3, 0.25, 3.0), 0.0);
    }
}
