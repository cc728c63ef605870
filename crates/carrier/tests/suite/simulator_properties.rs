//! Property test of the whole engine on the simulator: for random small scenarios (any dial
//! mode, team size, windows, DNC share, absences, network behaviour) the auditor finds no
//! violation — never two concurrent dials of one contact, never above max attempts, never outside
//! the window, never a DNC number, CPS kept, no contact left with an inactive agent — and
//! preview/progressive never abandon a call.

use palera_carrier::sim::run;
use proptest::prelude::*;

#[allow(clippy::too_many_arguments)]
fn scenario(
    seed: u64,
    mode: &str,
    agents: u32,
    contacts: u32,
    start_h: u32,
    len_h: u32,
    dnc: f64,
    human: f64,
    away_minute: u32,
    max_attempts: u32,
    cps: f64,
) -> String {
    format!(
        r#"
seed = {seed}
start = "2026-03-07T10:00:00Z"
days = 2
[campaign]
dial_mode = "{mode}"
max_attempts = {max_attempts}
retry_after_hours = 3
window = {{ start = "{start_h:02}:00", end = "{end_h:02}:00" }}
wrap_up_seconds = 10
calls_per_second = {cps}
inactivity_timeout_seconds = 120
[agents]
count = {agents}
preview_seconds = 5
inactive = [{{ agent = 1, at_minute = {away_minute}, back_at_minute = {back} }}]
[contacts]
count = {contacts}
time_zones = ["America/New_York", "America/Los_Angeles", "Europe/London"]
dnc_pct = {dnc}
[behaviour]
human_pct = {human}
machine_pct = 15.0
busy_pct = 5.0
failed_pct = 2.0
ring_seconds = {{ mean = 8.0, sd = 4.0 }}
talk_seconds = {{ mean = 90.0, sd = 40.0, min = 10.0 }}
human_hangup_if_waiting_seconds = 4.0
"#,
        end_h = start_h + len_h,
        back = away_minute + 90,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn random_scenarios_never_break_a_rule(
        seed in 0u64..1000,
        mode in prop::sample::select(vec!["preview", "progressive", "predictive"]),
        agents in 1u32..7,
        contacts in 20u32..250,
        start_h in 7u32..12,
        len_h in 1u32..9,
        dnc in 0.0f64..20.0,
        human in 10.0f64..60.0,
        away_minute in 0u32..900,
        max_attempts in 1u32..4,
        cps in prop::sample::select(vec![0.5, 1.0, 3.0]),
    ) {
        let text = scenario(seed, mode, agents, contacts, start_h, len_h, dnc, human, away_minute, max_attempts, cps);
        let r = run(&text).unwrap();
        prop_assert_eq!(r.violations.total(), 0, "{:#?}\n{}", r.violations, text);
        if mode != "predictive" {
            prop_assert_eq!(r.abandoned, 0, "{}", text);
        }
        prop_assert!(r.dials <= u64::from(contacts) * u64::from(max_attempts));
        prop_assert_eq!(r.answered_human, r.connected_to_agent + r.abandoned);
    }
}
