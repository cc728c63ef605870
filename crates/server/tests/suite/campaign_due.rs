//! Due contacts the campaign cannot dial now do not hide the ones behind them (issue 16): the
//! runner reads due contacts in keyset pages past those its driver already holds. More than one
//! page (5,000) of contacts whose zone is closed come first; the one contact in an open zone
//! behind them is still dialled. On SQLite and PostgreSQL with the simulated carrier.

use crate::common::eventually;
use crate::common::sim_rig::{sim_rig, Setup};
use chrono::{Timelike, Utc};
use palera_store::Backend;
use std::time::Duration;

/// A zone where the default window (08:00–21:00) is closed for the next hour, and one where it
/// is open for the next hour.
fn closed_and_open_zones() -> (&'static str, &'static str) {
    let zones = [
        "Pacific/Kiritimati",
        "Asia/Tokyo",
        "Asia/Kolkata",
        "Europe/London",
        "America/New_York",
        "Pacific/Honolulu",
    ];
    let hour = |z: &str| {
        Utc::now()
            .with_timezone(&z.parse::<chrono_tz::Tz>().unwrap())
            .hour()
    };
    let closed = zones.iter().find(|z| hour(z) < 6 || hour(z) >= 22);
    let open = zones.iter().find(|z| (9..19).contains(&hour(z)));
    (
        *closed.expect("a zone at night"),
        *open.expect("a zone in working hours"),
    )
}

async fn a_contact_behind_a_page_of_undialable_ones_is_dialled(backend: Backend) {
    let Some(r) = sim_rig(
        backend,
        Setup {
            contacts: 5_001,
            all_day: false,
            ..Default::default()
        },
    )
    .await
    else {
        return;
    };
    let (closed, open) = closed_and_open_zones();
    let last = *r.contacts.last().unwrap();
    sqlx::query("UPDATE contacts SET time_zone = CASE WHEN id = $1 THEN $2 ELSE $3 END WHERE client_id = $4")
        .bind(last.0)
        .bind(open)
        .bind(closed)
        .bind(r.client.0)
        .execute(r.store().pool())
        .await
        .unwrap();
    let agent = r.login(0).await;
    let (s, body) = crate::common::json(
        agent
            .put(r.url("/api/v1/me/voice-state"))
            .json(&serde_json::json!({"state": "ready"})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    r.start().await;
    let call = eventually(
        "a dial to the contact in the open zone",
        Duration::from_secs(30),
        || async {
            r.calls()
                .await
                .into_iter()
                .find(|c| c.contact_id == Some(last))
        },
    )
    .await;
    assert_eq!(call.contact_id, Some(last));
    assert!(
        r.calls().await.iter().all(|c| c.contact_id == Some(last)),
        "nobody in the closed zone ({closed}) is called"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_behind_a_page_of_undialable_ones_is_dialled_sqlite() {
    a_contact_behind_a_page_of_undialable_ones_is_dialled(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_behind_a_page_of_undialable_ones_is_dialled_postgres() {
    a_contact_behind_a_page_of_undialable_ones_is_dialled(Backend::Postgres).await;
}
