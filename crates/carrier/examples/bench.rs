//! The simulator benchmark (DESIGN §5: performance targets are measured, not asserted in tests):
//! runs `shared/scenarios/predictive-medium.toml` and a generated 200-agent × 100,000-contact ×
//! 1-day predictive scenario, printing occupancy, abandon rate and wall time. Run it with
//! `cargo run --release -p palera-carrier --example bench`.
//! Targets: predictive-medium occupancy ≥ 85 % with abandon ≤ 3 %; the big run under 60 s.

use palera_carrier::sim::{run, Report};

fn large_scenario() -> String {
    r#"
seed = 11
start = "2026-03-02T13:00:00Z"
days = 1

[campaign]
dial_mode = "predictive"
max_attempts = 3
retry_after_days = 1
window = { start = "09:00", end = "17:00" }
abandon_cap_pct = 3.0
max_lines_per_agent = 3.0
wrap_up_seconds = 15
amd = true
calls_per_second = 10.0
inactivity_timeout_seconds = 300

[agents]
count = 200
inactive = [{ agent = 10, at_minute = 90 }, { agent = 50, at_minute = 200, back_at_minute = 260 }]

[contacts]
count = 100000
time_zones = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"]
dnc_pct = 1.0

[behaviour]
human_pct = 25.0
machine_pct = 15.0
busy_pct = 5.0
failed_pct = 3.0
ring_seconds = { mean = 9.0, sd = 4.0 }
talk_seconds = { mean = 150.0, sd = 60.0, min = 10.0 }
human_hangup_if_waiting_seconds = 4.0
"#
    .to_string()
}

fn show(name: &str, r: &Report) {
    println!(
        "{name}: dials {} answered_human {} connected {} abandoned {} abandon_rate {:.2} % \
         occupancy {:.2} % talk_min/agent_h {:.1} violations {} wall {:.2} s",
        r.dials,
        r.answered_human,
        r.connected_to_agent,
        r.abandoned,
        r.abandon_rate_pct,
        r.agent_occupancy_pct,
        r.talk_minutes_per_agent_hour,
        r.violations.total(),
        r.wall_seconds
    );
}

fn main() {
    let path = format!(
        "{}/../../../shared/scenarios/predictive-medium.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let medium =
        std::fs::read_to_string(&path).expect("predictive-medium.toml beside the checkout");
    show("predictive-medium", &run(&medium).expect("valid scenario"));
    show(
        "predictive-200x100k",
        &run(&large_scenario()).expect("valid scenario"),
    );
}
