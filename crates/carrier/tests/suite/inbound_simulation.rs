//! Inbound calls in the simulator (`[inbound]`): where queueing theory's assumptions hold
//! (Poisson arrivals, exponential talk times, no wrap-up, infinitely patient callers, no
//! affinity), the share answered within 20 s agrees with Erlang C; blended with a predictive
//! campaign on the same agents, inbound keeps its service level while the campaign keeps its
//! abandon cap; and the auditor finds no call offered to an agent who was not Ready and free.

use palera_carrier::sim::run;

/// Erlang C's probability that a caller waits, for `n` agents and `a` Erlangs of traffic.
fn erlang_c(n: u32, a: f64) -> f64 {
    // Erlang B by its recursion, then C from B.
    let mut b = 1.0;
    for k in 1..=n {
        b = a * b / (f64::from(k) + a * b);
    }
    let rho = a / f64::from(n);
    b / (1.0 - rho + rho * b)
}

/// Share (percent) answered within `t` seconds, talk times of mean `aht` seconds.
fn service_level(n: u32, a: f64, aht: f64, t: f64) -> f64 {
    let wait = erlang_c(n, a);
    (1.0 - wait * (-(f64::from(n) - a) * t / aht).exp()) * 100.0
}

fn inbound_only(seed: u64, agents: u32, per_hour: f64, aht: f64, days: u32) -> String {
    format!(
        r#"
seed = {seed}
start = "2026-03-02T00:00:00Z"
days = {days}
[campaign]
dial_mode = "progressive"
[agents]
count = {agents}
[contacts]
count = 0
[behaviour]
human_pct = 30.0
[inbound]
arrivals_per_hour = {per_hour}
talk_seconds = {aht}
wrap_up_seconds = 0
answer_seconds = 0
repeat_callers_pct = 0
"#
    )
}

#[test]
fn simulate_agrees_with_erlang_c_where_its_assumptions_hold() {
    let aht = 180.0;
    // (agents, occupancy): small and larger teams, moderate to heavy load.
    for (n, occupancy, days) in [(5, 0.7, 12), (10, 0.85, 8), (25, 0.9, 4)] {
        let a = f64::from(n) * occupancy;
        let per_hour = a * 3600.0 / aht;
        let r = run(&inbound_only(11, n, per_hour, aht, days)).unwrap();
        let i = r.inbound.expect("an inbound report");
        let expected = service_level(n, a, aht, 20.0);
        eprintln!(
            "{n} agents at {occupancy}: {} calls, simulated {:.2} % answered within 20 s, Erlang C {expected:.2} %",
            i.calls, i.service_level_pct
        );
        assert!(i.calls > 5_000, "{} calls", i.calls);
        assert_eq!(i.abandoned_in_queue + i.voicemails, 0, "infinitely patient");
        assert!(
            (i.service_level_pct - expected).abs() <= 3.0,
            "{n} agents, {a:.1} Erlangs: simulated {} % vs Erlang C {expected:.2} %",
            i.service_level_pct
        );
        assert_eq!(r.violations.total(), 0, "{:?}", r.violations);
    }
}

#[test]
fn erlang_c_matches_a_textbook_value() {
    // 10 Erlangs on 11 agents wait with probability 0.682 (standard tables).
    assert!(
        (erlang_c(11, 10.0) - 0.682).abs() < 0.001,
        "{}",
        erlang_c(11, 10.0)
    );
}

const BLENDED: &str = include_str!("../../../../scenarios/blended-25.toml");

#[test]
fn a_blended_team_answers_inbound_within_20_s_and_keeps_the_campaigns_abandon_cap() {
    let r = run(BLENDED).unwrap();
    let i = r.inbound.clone().expect("an inbound report");
    eprintln!("blended: {r:#?}");
    assert!(i.calls > 500, "{} inbound calls", i.calls);
    assert!(
        i.service_level_pct >= 80.0,
        "inbound service level {} %",
        i.service_level_pct
    );
    assert!(r.dials > 1_000, "the campaign dialled {}", r.dials);
    assert!(
        r.abandon_rate_pct <= 3.0,
        "abandon rate {} %",
        r.abandon_rate_pct
    );
    assert!(
        i.affinity_hit_rate_pct > 0.0,
        "repeat callers reach their agent"
    );
    assert_eq!(r.violations.total(), 0, "{:?}", r.violations);
}
