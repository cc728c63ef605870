//! The soak through the real server (see `harness.rs`): starts the server on the simulated
//! network over a fresh database, connects virtual agents over the desktop's WebSocket and API,
//! runs the scenario's predictive campaign for a wall time, audits the stored calls and prints
//! the figures. Exits 1 when the auditor finds a violation or a call was left open.
//!
//! ```sh
//! cargo run --release -p palera-voice --example soak -- \
//!     [--scenario scenarios/soak.toml] [--agents 25] [--contacts 5000] [--seconds 60] [--postgres]
//! ```
//! PostgreSQL uses `TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`), as the
//! tests do. The issue's target run: `--agents 200 --contacts 100000 --seconds 600`. With
//! `RUST_LOG` set (for example `palera_server=info`) the server's log goes to standard error.

mod harness;

use palera_store::Backend;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let mut args = std::env::args().skip(1);
    let mut scenario = "scenarios/soak.toml".to_string();
    let (mut agents, mut contacts, mut seconds) = (None, None, 60u64);
    let mut backend = Backend::Sqlite;
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{name} needs a value"))
        };
        match a.as_str() {
            "--scenario" => scenario = value("--scenario")?,
            "--agents" => agents = Some(value("--agents")?.parse()?),
            "--contacts" => contacts = Some(value("--contacts")?.parse()?),
            "--seconds" => seconds = value("--seconds")?.parse()?,
            "--postgres" => backend = Backend::Postgres,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let text =
        std::fs::read_to_string(&scenario).map_err(|e| anyhow::anyhow!("{scenario}: {e}"))?;
    let scenario = palera_carrier::sim::Scenario::parse(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", e.field(), e.reason()))?;
    let cfg = harness::Config {
        agents: agents.unwrap_or(scenario.agents),
        contacts: contacts.unwrap_or(scenario.contacts),
        seconds,
        backend,
        scenario,
    };
    let out = harness::soak(cfg).await?;
    for line in out.lines() {
        println!("{line}");
    }
    if out.violations.total() > 0 || out.left_open > 0 {
        std::process::exit(1);
    }
    Ok(())
}
