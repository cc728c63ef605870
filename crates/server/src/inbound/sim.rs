//! Callers of the simulated network (demo and tests): a Poisson stream of inbound calls to the
//! clients whose voice is on. About half the callers spoke to an agent before (so affinity shows
//! in the demo); the others are new numbers, who become contacts in no list.

use crate::app::App;
use crate::engine::{Arrival, Request};
use palera_core::phone::PhoneNumber;
use rand::Rng;
use std::time::Duration;
use tokio::sync::watch;

/// Places about `per_hour` inbound calls an hour until `stop` flips.
pub async fn arrivals(app: App, per_hour: f64, mut stop: watch::Receiver<bool>) {
    if per_hour <= 0.0 {
        return;
    }
    let mean = 3600.0 / per_hour;
    loop {
        let wait = {
            let mut rng = rand::thread_rng();
            -mean * (1.0 - rng.gen::<f64>()).ln()
        };
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs_f64(wait.clamp(1.0, 3600.0))) => {}
            _ = stop.changed() => return,
        }
        if let Err(e) = one_caller(&app).await {
            tracing::warn!(error = %e, "simulated inbound caller not placed");
        }
    }
}

async fn one_caller(app: &App) -> anyhow::Result<()> {
    let clients: Vec<_> = app
        .store
        .clients(&palera_store::clients::Scope::All)
        .await?
        .into_iter()
        .filter(|c| c.voice_enabled)
        .collect();
    if clients.is_empty() {
        return Ok(());
    }
    let (pick, repeat, patience, talk, n) = {
        let mut rng = rand::thread_rng();
        (
            rng.gen_range(0..clients.len()),
            rng.gen_bool(0.5),
            rng.gen_range(45.0..150.0),
            rng.gen_range(20.0..90.0),
            rng.gen_range(100..1000),
        )
    };
    let client = clients[pick].id;
    let earlier = if repeat {
        let known = app.store.recent_callers(client).await?;
        let i = rand::thread_rng().gen_range(0..known.len().max(1));
        known.get(i).cloned()
    } else {
        None
    };
    let from = match earlier {
        Some(p) => p,
        None => {
            PhoneNumber::parse_e164(&format!("+1718555{n:04}")).map_err(|e| anyhow::anyhow!(e))?
        }
    };
    app.engine.send(Request::InboundArrived {
        arrival: Arrival {
            client,
            from,
            sid: None,
            patience_seconds: patience,
            talk_seconds: talk,
        },
        reply: None,
    });
    Ok(())
}
