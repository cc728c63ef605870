//! Reports read whole hours from `call_hours`, which triggers keep with the calls (and the hold,
//! resume and disposition events) in the same transaction. On SQLite and PostgreSQL: after a
//! random history of inserts, updates of every column a report reads, events and deletes, every
//! tally and the calls per hour read through the rollup equal the same figures counted from the
//! calls themselves, for ranges on and off whole hours, open at either end, inside one hour, and
//! per campaign.

use crate::common::new_client;
use palera_core::campaign::CampaignSettings;
use palera_core::ids::{CallId, CampaignId, ClientId};
use palera_store::campaigns::CampaignInput;
use palera_store::reports::CallFilter;
use palera_store::{conformance, Store};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const HOUR: i64 = 3_600_000;
const T0: i64 = 1_780_000_000_000 / HOUR * HOUR;
const OUTCOMES: &[(&str, &str)] = &[
    ("outbound", "queued"),
    ("outbound", "in_progress"),
    ("answered", "completed"),
    ("abandoned", "abandoned_no_agent"),
    ("abandoned", "no_answer"),
    ("abandoned", "machine"),
];

async fn campaign(store: &Store, c: ClientId, name: &str) -> CampaignId {
    let input = CampaignInput {
        name: name.into(),
        settings: CampaignSettings::default(),
        caller_id: "+14155550100".into(),
        voicemail_url: None,
        hold_music_url: None,
        recording: false,
        transcription: false,
        lists: vec![],
        agents: vec![],
    };
    store.create_campaign(c, &input, 1).await.unwrap().id
}

/// One random change: a new call, a change of the columns a report reads, an event, a delete.
async fn step(
    store: &Store,
    rng: &mut ChaCha8Rng,
    c: ClientId,
    campaigns: &[CampaignId],
    calls: &mut Vec<i64>,
) {
    let at = |rng: &mut ChaCha8Rng| T0 + rng.gen_range(0..30 * HOUR);
    let pool = store.pool();
    let choice = if calls.is_empty() {
        0
    } else {
        rng.gen_range(0..10)
    };
    match choice {
        0..=2 => {
            let campaign = campaigns
                .get(rng.gen_range(0..=campaigns.len()))
                .map(|x| x.0);
            let direction = if rng.gen_bool(0.2) {
                "inbound"
            } else {
                "outbound"
            };
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO calls (client_id, campaign_id, direction, phone, status, outcome, placed_at, notes) \
                 VALUES ($1, $2, $3, '+14155550123', 'outbound', 'queued', $4, '') RETURNING id",
            )
            .bind(c.0)
            .bind(campaign)
            .bind(direction)
            .bind(at(rng))
            .fetch_one(pool)
            .await
            .unwrap();
            calls.push(id);
        }
        3..=5 => {
            let id = calls[rng.gen_range(0..calls.len())];
            let placed: i64 = sqlx::query_scalar("SELECT placed_at FROM calls WHERE id = $1")
                .bind(id)
                .fetch_one(pool)
                .await
                .unwrap();
            let (status, outcome) = OUTCOMES[rng.gen_range(0..OUTCOMES.len())];
            let answered = rng.gen_bool(0.6).then(|| placed + rng.gen_range(0..30_000));
            let connected = answered.filter(|_| rng.gen_bool(0.7)).map(|a| a + 500);
            let ended = rng
                .gen_bool(0.7)
                .then(|| placed + rng.gen_range(1_000..600_000));
            let by = ["human", "machine_start"][rng.gen_range(0..2)];
            sqlx::query(
                "UPDATE calls SET status = $1, outcome = $2, answered_at = $3, connected_at = $4, ended_at = $5, \
                 answered_by = CASE WHEN $6 THEN $7 ELSE NULL END WHERE id = $8",
            )
            .bind(status)
            .bind(outcome)
            .bind(answered)
            .bind(connected)
            .bind(ended)
            .bind(rng.gen_bool(0.5))
            .bind(by)
            .bind(id)
            .execute(pool)
            .await
            .unwrap();
        }
        6 => {
            let id = calls[rng.gen_range(0..calls.len())];
            let label = ["Sale", "Call back", "No interest"][rng.gen_range(0..3)];
            store
                .set_call_disposition(CallId(id), None, label, "")
                .await
                .unwrap();
            store
                .add_call_event(CallId(id), "disposition", label, at(rng))
                .await
                .unwrap();
        }
        7 | 8 => {
            let id = calls[rng.gen_range(0..calls.len())];
            let kind = if rng.gen_bool(0.5) { "hold" } else { "resume" };
            store
                .add_call_event(CallId(id), kind, "", at(rng))
                .await
                .unwrap();
        }
        _ => {
            let id = calls.swap_remove(rng.gen_range(0..calls.len()));
            if rng.gen_bool(0.5) {
                sqlx::query("DELETE FROM calls WHERE id = $1")
                    .bind(id)
                    .execute(pool)
                    .await
                    .unwrap();
            } else {
                // Moved to another hour (and kept).
                sqlx::query("UPDATE calls SET placed_at = $1 WHERE id = $2")
                    .bind(at(rng))
                    .bind(id)
                    .execute(pool)
                    .await
                    .unwrap();
                calls.push(id);
            }
        }
    }
}

/// Random ranges: whole hours, minutes off the hour, open ends, inside one hour, per campaign.
fn filters(rng: &mut ChaCha8Rng, campaigns: &[CampaignId]) -> Vec<CallFilter> {
    let mut out = vec![CallFilter::default()];
    for _ in 0..12 {
        let a = T0 - HOUR + rng.gen_range(0..32 * HOUR);
        let a = if rng.gen_bool(0.3) {
            a / HOUR * HOUR
        } else {
            a
        };
        let b = a + if rng.gen_bool(0.2) {
            rng.gen_range(1..HOUR / 2)
        } else {
            rng.gen_range(0..20 * HOUR)
        };
        out.push(CallFilter {
            campaign: campaigns.get(rng.gen_range(0..=campaigns.len())).copied(),
            from_ms: rng.gen_bool(0.85).then_some(a),
            to_ms: rng.gen_bool(0.85).then_some(b),
            ..Default::default()
        });
    }
    out
}

conformance!(
    every_report_figure_read_through_the_hourly_rollup_equals_a_count_of_the_calls,
    |store: Store| async move {
        let c = new_client("Rollup").country("US").create(&store).await;
        let other = new_client("Other").country("US").create(&store).await;
        let campaigns = vec![
            campaign(&store, c, "Spring").await,
            campaign(&store, c, "Autumn").await,
        ];
        let mut rng = ChaCha8Rng::seed_from_u64(15);
        let (mut calls, mut theirs) = (Vec::new(), Vec::new());
        for round in 0..6 {
            for _ in 0..80 {
                step(&store, &mut rng, c, &campaigns, &mut calls).await;
            }
            for _ in 0..10 {
                step(&store, &mut rng, other, &[], &mut theirs).await;
            }
            for f in filters(&mut rng, &campaigns) {
                let fast = store.tally(c, &f).await.unwrap();
                let counted = store.tally_from_calls(c, &f).await.unwrap();
                assert_eq!(fast, counted, "round {round}, {f:?}");
                let origin = f.from_ms.map(|a| a / HOUR * HOUR).unwrap_or(T0 - HOUR);
                let hourly = store.hourly_counts(c, &f, origin).await.unwrap();
                let counted = store.hourly_counts_from_calls(c, &f, origin).await.unwrap();
                assert_eq!(hourly, counted, "calls per hour, round {round}, {f:?}");
            }
        }
        let all = store.tally(c, &CallFilter::default()).await.unwrap();
        assert_eq!(
            all.calls as usize,
            calls.len(),
            "every call is counted once"
        );
        assert!(
            all.hold_ms > 0 && all.wrapped > 0 && all.talk_ms > 0,
            "{all:?}"
        );
    }
);
