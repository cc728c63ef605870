//! The short soak (issue 16): the real server on the simulated network with 25 virtual agents
//! working over the desktop's WebSocket and API, a predictive campaign for 60 s of wall time,
//! then the simulator's auditor over the stored calls. The figures are printed (speed targets
//! belong to the `soak` example's full run); the test holds the rules: no violation of any
//! kind, no call left open, every connected call ended by its agent and given a disposition.
//! On SQLite and PostgreSQL.

#[path = "../../examples/soak/harness.rs"]
mod harness;

use palera_store::Backend;

async fn a_short_soak_through_the_real_server_breaks_no_rule(backend: Backend) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios/soak.toml");
    let scenario =
        palera_carrier::sim::Scenario::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cfg = harness::Config {
        agents: 25,
        contacts: 3_000,
        seconds: 60,
        backend,
        scenario,
    };
    let out = match harness::soak(cfg).await {
        Ok(out) => out,
        // No PostgreSQL here and none required (`scripts/test` requires it).
        Err(e) if e.to_string().starts_with("no ") => return,
        Err(e) => panic!("{e:#}"),
    };
    let report = out.lines().join("\n");
    println!("{report}");
    assert_eq!(out.violations.total(), 0, "{report}");
    assert_eq!(out.left_open, 0, "{report}");
    assert!(out.dials >= 25, "the campaign dialled: {report}");
    assert!(out.connected >= 10, "agents took calls: {report}");
    assert_eq!(
        out.dispositions_saved, out.connected,
        "every connected call got its disposition: {report}"
    );
}

heavy_twins!(a_short_soak_through_the_real_server_breaks_no_rule);
