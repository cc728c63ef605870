//! Report timings over many stored calls: fills a fresh database with N calls generated in bulk
//! inside the database (90 days, 10 campaigns, 50 agents, a realistic outcome mix: 40 %
//! answered with talk and a disposition, 2 % abandoned, no answer, busy, failed, machines,
//! voicemail drops), then times the call log's first and a deep page, a filtered page, the
//! campaign report (7 days by day, rolling 30 days and the campaign's life), an agent's report
//! and the team's, and streams the CSV export of one campaign's month while sampling the
//! process's resident memory.
//!
//! ```sh
//! cargo run --release -p palera-voice --example reports_bench -- [N] [sqlite|postgres]
//! ```
//! Defaults: 1,000,000 calls, SQLite. PostgreSQL uses `TEST_DATABASE_URL` as the tests do.

use palera_core::ids::{CampaignId, ClientId, UserId};
use palera_core::tenant::ClientFields;
use palera_server::config::{CarrierMode, Settings};
use palera_server::reports::build::{self, Range};
use palera_store::campaigns::CampaignInput;
use palera_store::clients::SecretInput;
use palera_store::reports::{CallFilter, CallSort};
use palera_store::users::NewUser;
use palera_store::{Backend, Store};
use std::time::{Duration, Instant};

const DAY_MS: i64 = 86_400_000;
const DAYS: i64 = 90;
const CAMPAIGNS: i64 = 10;
const AGENTS: i64 = 50;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: i64 = args
        .first()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let backend = match args.get(1).map(String::as_str) {
        Some("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    let db = palera_store::testing::fresh(backend)
        .await
        .expect("a database for the benchmark");
    let store = db.store.clone();
    let now = chrono::Utc::now().timestamp_millis();
    let start = now - DAYS * DAY_MS;
    let (client, campaigns, agents) = seed(&store).await;
    let t = Instant::now();
    fill(&store, backend, client, &campaigns, &agents, n, start).await;
    println!(
        "{backend:?}: filled {n} calls in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let settings = Settings {
        database_url: Some(db.url.clone()),
        carrier: CarrierMode::Simulated,
        ..Settings::default()
    };
    let app = palera_server::App::new(store.clone(), settings);
    time_call_log(&store, client, campaigns[0], agents[0]).await;
    let tz = build::client_zone(&app, client).await.unwrap();
    let week = Range::parse(tz, None, None, app.now_ms(), 7).unwrap();
    let campaign = store.campaign(client, campaigns[0]).await.unwrap();
    let t = Instant::now();
    let r = build::campaign_report(&app, &campaign, &week)
        .await
        .unwrap();
    report(
        "campaign report (7 days by day, 30 days, life)",
        t.elapsed(),
    );
    println!("  life dials {}", r.life.dialled);
    let agent = store.user(agents[0]).await.unwrap();
    let t = Instant::now();
    let a = build::agent_activity(&app, client, &agent, &week)
        .await
        .unwrap();
    report("agent report (7 days by day)", t.elapsed());
    println!("  agent calls out {}", a.total.calls_out);
    time_csv(&store, client, campaigns[0], now).await;
}

fn report(what: &str, d: Duration) {
    println!("{what}: {:.1} ms", d.as_secs_f64() * 1000.0);
}

async fn time_call_log(store: &Store, client: ClientId, campaign: CampaignId, agent: UserId) {
    let all = CallFilter::default();
    let t = Instant::now();
    let (_, next) = store
        .call_log(client, &all, CallSort::NewestFirst, None, 50)
        .await
        .unwrap();
    report("call log, first page of 50", t.elapsed());
    let mut after = next;
    for _ in 0..20 {
        let (_, n) = store
            .call_log(client, &all, CallSort::NewestFirst, after, 50)
            .await
            .unwrap();
        after = n;
    }
    let t = Instant::now();
    store
        .call_log(client, &all, CallSort::NewestFirst, after, 50)
        .await
        .unwrap();
    report("call log, 22nd page (keyset)", t.elapsed());
    let f = CallFilter {
        campaign: Some(campaign),
        agent: Some(agent),
        status: Some("answered".into()),
        ..Default::default()
    };
    let t = Instant::now();
    store
        .call_log(client, &f, CallSort::NewestFirst, None, 50)
        .await
        .unwrap();
    report(
        "call log, campaign + agent + status filter, first page",
        t.elapsed(),
    );
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

async fn time_csv(store: &Store, client: ClientId, campaign: CampaignId, now: i64) {
    let f = CallFilter {
        campaign: Some(campaign),
        from_ms: Some(now - 30 * DAY_MS),
        ..Default::default()
    };
    let before = rss_kb();
    let mut peak = before;
    let (mut bytes, mut rows, mut after) = (0usize, 0usize, None);
    let t = Instant::now();
    loop {
        let (chunk, next) = store
            .call_log_chunk(client, &f, CallSort::NewestFirst, after)
            .await
            .unwrap();
        bytes += chunk.len();
        rows += chunk.iter().filter(|b| **b == b'\n').count();
        peak = peak.max(rss_kb());
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    println!(
        "CSV export of one campaign's 30 days: {rows} rows, {:.1} MB in {:.1} s; resident memory {} MB before, peak {} MB (+{} MB)",
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64(),
        before / 1024,
        peak / 1024,
        (peak - before) / 1024
    );
}

async fn seed(store: &Store) -> (ClientId, Vec<CampaignId>, Vec<UserId>) {
    let f = ClientFields {
        name: "Bench".into(),
        time_zone: Some("America/New_York".into()),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let number = palera_core::phone::PhoneNumber::parse_e164("+14155550100").unwrap();
    let client = store
        .create_client(&f, &SecretInput::default(), &[number], 1)
        .await
        .unwrap()
        .id;
    let mut agents = Vec::new();
    for i in 0..AGENTS {
        let u = NewUser {
            email: palera_core::user::Email::parse("email", &format!("a{i}@bench.test")).unwrap(),
            name: format!("Agent {i}"),
            role: palera_core::user::Role::Agent,
            password_hash: "x".into(),
            voice_enabled: true,
            clients: vec![client],
        };
        agents.push(store.create_user(&u, 1).await.unwrap().id);
    }
    let mut campaigns = Vec::new();
    for i in 0..CAMPAIGNS {
        let input = CampaignInput {
            name: format!("Campaign {i}"),
            settings: Default::default(),
            caller_id: "+14155550100".into(),
            voicemail_url: None,
            hold_music_url: None,
            recording: false,
            transcription: false,
            lists: vec![],
            agents: agents.clone(),
        };
        campaigns.push(store.create_campaign(client, &input, 1).await.unwrap().id);
    }
    (client, campaigns, agents)
}

/// The generated columns of call `i` (an SQL expression over `i`), shared by both backends.
fn call_select(client: ClientId, c0: i64, a0: i64, n: i64, start: i64) -> String {
    let span = DAYS * DAY_MS;
    format!(
        "SELECT {client}, {c0} + (i % {CAMPAIGNS}), \
         CASE WHEN i % 100 < 42 THEN {a0} + (i % {AGENTS}) ELSE NULL END, 'outbound', \
         '+1212' || CAST(1000000 + (i % 8999999) AS TEXT), 'SIM' || CAST(i AS TEXT), \
         CASE WHEN i % 100 < 40 THEN 'answered' ELSE 'abandoned' END, \
         CASE WHEN i % 100 < 40 THEN 'completed' WHEN i % 100 < 42 THEN 'abandoned_no_agent' \
              WHEN i % 100 < 47 THEN 'voicemail_dropped' WHEN i % 100 < 75 THEN 'no_answer' \
              WHEN i % 100 < 85 THEN 'busy' WHEN i % 100 < 90 THEN 'failed' ELSE 'machine' END, \
         CASE WHEN i % 100 < 47 THEN 'human' WHEN i % 100 >= 90 THEN 'machine' ELSE NULL END, \
         {start} + CAST(i AS BIGINT) * {span} / {n}, \
         CASE WHEN i % 100 < 47 OR i % 100 >= 90 THEN {start} + CAST(i AS BIGINT) * {span} / {n} + 8000 ELSE NULL END, \
         CASE WHEN i % 100 < 40 THEN {start} + CAST(i AS BIGINT) * {span} / {n} + 9000 ELSE NULL END, \
         {start} + CAST(i AS BIGINT) * {span} / {n} + 9000 + (i % 97) * 3000, \
         CASE WHEN i % 100 < 20 THEN 'Interested' WHEN i % 100 < 40 THEN 'Try again' ELSE NULL END, ''"
    )
}

const CALL_COLUMNS: &str = "client_id, campaign_id, agent_id, direction, phone, carrier_sid, status, outcome, answered_by, placed_at, answered_at, connected_at, ended_at, disposition, notes";

async fn fill(
    store: &Store,
    backend: Backend,
    client: ClientId,
    campaigns: &[CampaignId],
    agents: &[UserId],
    n: i64,
    start: i64,
) {
    let batch = 250_000;
    let mut from = 0;
    while from < n {
        let to = (from + batch).min(n);
        let select = call_select(client, campaigns[0].0, agents[0].0, n, start);
        let sql = match backend {
            Backend::Sqlite => format!(
                "WITH RECURSIVE s(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM s WHERE i + 1 < {to}) \
                 INSERT INTO calls ({CALL_COLUMNS}) {select} FROM s"
            ),
            Backend::Postgres => format!(
                "INSERT INTO calls ({CALL_COLUMNS}) {select} FROM generate_series({from}::bigint, {to}::bigint - 1) AS s(i)"
            ),
        };
        sqlx::query(&sql).execute(store.pool()).await.unwrap();
        from = to;
        eprint!("\r{from} calls");
    }
    eprintln!();
    // Every answered call's disposition event (its wrap-up), and agents' state changes.
    sqlx::query(
        "INSERT INTO call_events (call_id, kind, detail, at) \
         SELECT id, 'disposition', disposition, ended_at + 15000 FROM calls WHERE disposition IS NOT NULL",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let mut tx = store.pool().begin().await.unwrap();
    for a in agents {
        for d in 0..DAYS {
            for (state, h) in [
                ("ready", 9),
                ("standby", 12),
                ("ready", 13),
                ("offline", 17),
            ] {
                sqlx::query("INSERT INTO voice_state_changes (user_id, state, source, at) VALUES ($1, $2, 'bench', $3)")
                    .bind(a.0)
                    .bind(state)
                    .bind(start + d * DAY_MS + h * 3_600_000)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
            }
        }
    }
    tx.commit().await.unwrap();
    // What autovacuum does on a live server: the rollup's updated rows leave old versions behind.
    let analyze = match backend {
        Backend::Sqlite => "ANALYZE",
        Backend::Postgres => "VACUUM (ANALYZE)",
    };
    sqlx::query(analyze).execute(store.pool()).await.unwrap();
}
