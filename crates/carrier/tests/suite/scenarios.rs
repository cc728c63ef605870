//! The scenario simulator against the rules: the shipped scenarios run with zero violations,
//! predictive abandon stays under the cap, progressive never abandons, runs are reproducible,
//! inactive agents' contacts are redistributed — and the auditor really catches rule breaks.

use palera_carrier::sim::audit::audit;
use palera_carrier::sim::log::Event;
use palera_carrier::sim::{run, Report, Scenario};
use palera_core::campaign::CallOutcome;

fn shipped(name: &str) -> String {
    let path = format!(
        "{}/../../../shared/scenarios/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json_without_wall_clock(r: &Report) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap();
    v.as_object_mut().unwrap().remove("wall_seconds");
    v
}

fn assert_no_violations(r: &Report) {
    assert_eq!(r.violations.total(), 0, "{:#?}", r.violations);
}

#[test]
fn progressive_small_runs_without_violations_or_abandons() {
    let r = run(&shipped("progressive-small.toml")).unwrap();
    assert_no_violations(&r);
    assert!(r.dials > 0 && r.connected_to_agent > 0);
    assert_eq!(r.abandoned, 0, "progressive keeps a line per ready agent");
    assert_eq!(r.connected_to_agent, r.answered_human);
    assert_eq!(r.simulated_seconds, 2 * 86_400);
}

#[test]
fn abandon_rate_stays_under_cap_in_predictive() {
    let r = run(&shipped("predictive-medium.toml")).unwrap();
    assert_no_violations(&r);
    assert!(
        r.abandon_rate_pct <= 3.0,
        "abandon {} %",
        r.abandon_rate_pct
    );
    assert!(r.abandoned > 0 || r.connected_to_agent > 0);
    assert_eq!(r.answered_human, r.connected_to_agent + r.abandoned);
    assert_eq!(r.agents.len(), 25);
}

#[test]
fn same_scenario_and_seed_give_identical_results() {
    let text = shipped("progressive-small.toml");
    let a = run(&text).unwrap();
    let b = run(&text).unwrap();
    assert_eq!(json_without_wall_clock(&a), json_without_wall_clock(&b));
    let c = run(&text.replace("seed = 1", "seed = 99")).unwrap();
    assert_ne!(json_without_wall_clock(&a), json_without_wall_clock(&c));
}

const PROGRESSIVE: &str = r#"
seed = 5
start = "2026-03-02T13:00:00Z"
days = 1
[campaign]
dial_mode = "progressive"
max_attempts = 2
retry_after_days = 1
window = { start = "09:00", end = "17:00" }
wrap_up_seconds = 10
calls_per_second = 1.0
inactivity_timeout_seconds = 300
[agents]
count = 4
preview_seconds = 6
inactive = [{ agent = 2, at_minute = 120 }, { agent = 3, at_minute = 150, back_at_minute = 240 }]
[contacts]
count = 600
time_zones = ["America/New_York", "America/Chicago"]
dnc_pct = 3.0
[behaviour]
human_pct = 30.0
machine_pct = 15.0
busy_pct = 5.0
failed_pct = 2.0
ring_seconds = { mean = 8.0, sd = 3.0 }
talk_seconds = { mean = 120.0, sd = 40.0, min = 10.0 }
human_hangup_if_waiting_seconds = 4.0
"#;

#[test]
fn inactive_agents_contacts_are_redistributed_within_seconds() {
    let r = run(PROGRESSIVE).unwrap();
    assert_no_violations(&r);
    assert!(r.redistributed_contacts > 0, "{r:#?}");
    assert_eq!(r.abandoned, 0);
    // Agent 3 came back and was given a share again.
    assert!(r.agents[2].calls > r.agents[1].calls);
}

#[test]
fn preview_mode_runs_without_violations() {
    let r = run(&PROGRESSIVE.replace("\"progressive\"", "\"preview\"")).unwrap();
    assert_no_violations(&r);
    assert!(r.dials > 0);
    assert_eq!(r.abandoned, 0);
}

#[test]
fn never_dials_outside_the_calling_window_across_dst() {
    // US spring-forward is 2026-03-08; three days straddle it, with default 08:00-21:00 windows.
    let text = PROGRESSIVE
        .replace(
            "start = \"2026-03-02T13:00:00Z\"",
            "start = \"2026-03-07T00:00:00Z\"",
        )
        .replace("days = 1", "days = 3")
        .replace("window = { start = \"09:00\", end = \"17:00\" }\n", "")
        .replace("max_attempts = 2", "max_attempts = 3")
        .replace("count = 600", "count = 1500");
    let r = run(&text).unwrap();
    assert_no_violations(&r);
    assert!(r.dials > 1500);
}

#[test]
fn retry_after_hours_and_max_attempts_hold_in_predictive() {
    let text = shipped("predictive-medium.toml")
        .replace("retry_after_days = 1", "retry_after_hours = 2")
        .replace("count = 20000", "count = 3000")
        .replace("count = 25", "count = 10");
    let r = run(&text).unwrap();
    assert_no_violations(&r);
    assert!(
        r.contacts_exhausted > 0,
        "2-hour cadence reaches max attempts in a day"
    );
    assert!(r.abandon_rate_pct <= 3.0);
}

#[test]
fn invalid_scenarios_name_the_field() {
    let e = run(&PROGRESSIVE.replace("[contacts]", "[contacts]\nfavourite = 1")).unwrap_err();
    assert_eq!(e.field(), "contacts.favourite");
    let e = run(&PROGRESSIVE.replace("count = 4", "count = -4")).unwrap_err();
    assert_eq!(e.field(), "agents.count");
    let e = run(&PROGRESSIVE.replace("human_pct = 30.0", "human_pct = 90.0")).unwrap_err();
    assert_eq!(e.field(), "behaviour.human_pct");
    let e = run(&PROGRESSIVE.replace("end = \"17:00\"", "end = \"08:00\"")).unwrap_err();
    assert_eq!(e.field(), "campaign.window.end");
}

#[test]
fn the_auditor_catches_every_kind_of_violation() {
    let s = Scenario::parse(PROGRESSIVE).unwrap();
    // 13:00Z is 08:00 in New York: before the 09:00 window.
    let dial = |t, call, contact, agent| Event::Dial {
        t,
        call,
        contact,
        agent,
        ring_timeout_s: 20,
    };
    let open = 3_600_000; // 14:00Z = 09:00 New York
    let log = vec![
        Event::Imported {
            contact: 0,
            zone: 0,
        },
        Event::Imported {
            contact: 1,
            zone: 0,
        },
        Event::DncAdded { t: 0, contact: 1 },
        dial(0, 0, 0, None), // outside the window
        Event::Ended {
            t: 5_000,
            call: 0,
            outcome: CallOutcome::NoAnswer,
        }, // rang 5 s
        dial(open, 1, 1, None), // DNC
        dial(open + 10_000, 2, 0, None), // second attempt while... fine, then
        dial(open + 10_500, 3, 0, None), // concurrent, third attempt (> 2), CPS 1 broken
        Event::Answered {
            t: open + 20_000,
            call: 2,
            human: true,
        },
        Event::Abandoned {
            t: open + 23_000,
            call: 2,
        },
        Event::MessagePlayed {
            t: open + 23_000,
            call: 2,
        }, // message after 3 s
        Event::HeartbeatsStopped {
            t: open,
            agent: 1,
            last: open,
        },
        Event::Assigned {
            t: open,
            contact: 0,
            agent: 1,
        }, // still held at timeout + grace
    ];
    let v = audit(&s, &log);
    assert_eq!(v.outside_window, 1);
    assert_eq!(v.ring_under_15s, 1);
    assert_eq!(v.dnc_dialled, 1);
    assert_eq!(v.concurrent_dials_same_contact, 1);
    assert_eq!(v.over_max_attempts, 1);
    assert_eq!(v.cps_exceeded, 1);
    assert_eq!(v.message_after_2s, 1);
    assert_eq!(v.contact_held_by_inactive_agent, 1);
}

#[test]
fn dials_one_millisecond_inside_the_cps_spacing_are_within_the_clock_resolution() {
    // The real server's stored dial times and its limiter's clock are whole milliseconds read
    // apart (the soak met 99 ms gaps at 10 calls per second); two milliseconds is a violation.
    let s = Scenario::parse(PROGRESSIVE).unwrap();
    let open = 3_600_000; // 14:00Z = 09:00 New York
    let dial = |t, call, contact| Event::Dial {
        t,
        call,
        contact,
        agent: None,
        ring_timeout_s: 20,
    };
    let log = |gap| {
        vec![
            Event::Imported {
                contact: 0,
                zone: 0,
            },
            Event::Imported {
                contact: 1,
                zone: 0,
            },
            dial(open, 1, 0),
            dial(open + gap, 2, 1),
        ]
    };
    assert_eq!(audit(&s, &log(1_000)).cps_exceeded, 0);
    assert_eq!(audit(&s, &log(999)).cps_exceeded, 0);
    assert_eq!(audit(&s, &log(998)).cps_exceeded, 1);
    assert_eq!(audit(&s, &log(10)).cps_exceeded, 1);
}
