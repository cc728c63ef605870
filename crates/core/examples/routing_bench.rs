//! Inbound routing decisions at scale (issue 17's benchmark): 10,000 agents of one client, 1,000
//! calls in its queue. Times each single decision (`Roster::route`), agent state changes
//! (`Roster::set_busy`), and serving the whole queue at once, and prints p50/p99/max.
//!
//! `cargo run --release -p palera-core --example routing_bench [-- AGENTS QUEUED]`

use chrono::{DateTime, Duration, Utc};
use palera_core::ids::{CallId, UserId};
use palera_core::routing::{AgentStatus, Roster, RoutingSettings, WaitingCall};
use palera_core::user::VoiceState;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let agents: i64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let queued: i64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let t0: DateTime<Utc> = "2026-03-02T15:00:00Z".parse().unwrap();
    // A small deterministic generator: states, idle times and calls today vary per agent.
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut roster = Roster::new();
    for i in 0..agents {
        let r = next();
        roster.upsert(AgentStatus {
            id: UserId(i + 1),
            state: match r % 10 {
                0 => VoiceState::Offline,
                1 => VoiceState::Standby,
                _ => VoiceState::Ready,
            },
            voice_enabled: r % 17 != 0,
            assigned: r % 13 != 0,
            busy: r % 3 != 0,
            idle_since: t0 - Duration::seconds((r >> 8) as i64 % 3600),
            calls_today: ((r >> 20) % 40) as u32,
        });
    }
    let calls: Vec<WaitingCall> = (0..queued)
        .map(|i| {
            let r = next();
            WaitingCall {
                id: CallId(i + 1),
                arrived: t0 - Duration::seconds(i),
                last_agent: (r % 2 == 0)
                    .then(|| (UserId((r >> 4) as i64 % agents + 1), t0 - Duration::days(3))),
                tried: (0..(r % 3)).map(|k| UserId(k as i64 * 7 + 1)).collect(),
            }
        })
        .collect();
    let s = RoutingSettings::default();
    let mut route_ns = Vec::new();
    let mut change_ns = Vec::new();
    for round in 0..20 {
        for c in &calls {
            let start = Instant::now();
            let r = roster.route(c, &s, t0);
            route_ns.push(start.elapsed().as_nanos() as u64);
            std::hint::black_box(r);
        }
        // Agents come and go between rounds.
        for i in 0..1000 {
            let id = UserId((next() as i64 % agents) + 1);
            let start = Instant::now();
            roster.set_busy(id, (i + round) % 2 == 0, t0 + Duration::seconds(i));
            change_ns.push(start.elapsed().as_nanos() as u64);
        }
    }
    let start = Instant::now();
    let offers = roster.serve_queue(&calls, &s, t0);
    let serve = start.elapsed();
    println!(
        "agents {agents}, queued {queued}, free eligible {}",
        roster.free_count()
    );
    report("route (one decision)", &mut route_ns);
    report("agent state change", &mut change_ns);
    println!(
        "serve the whole queue: {:.3} ms ({} offers)",
        serve.as_secs_f64() * 1e3,
        offers.len()
    );
}

fn report(what: &str, ns: &mut [u64]) {
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() as f64 - 1.0) * q) as usize] as f64 / 1000.0;
    println!(
        "{what}: n {}, p50 {:.2} µs, p99 {:.2} µs, max {:.2} µs",
        ns.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}
