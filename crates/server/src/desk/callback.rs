//! A callback's time: typed in the contact's local time (or given as an instant), turned into an
//! instant in the contact's zone and refused outside the calling window of the call's campaign
//! (the manual-call window for calls outside campaigns). Recorded on the agent's list once the
//! disposition is saved.

use crate::app::App;
use crate::http::error::ApiError;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use palera_core::campaign::settings::CallingWindow;
use palera_core::campaign::TimeZoneSource;
use palera_store::callbacks::NewCallback;
use palera_store::calls::Call;
use palera_store::campaigns::EffectKind;

/// The zones a call's contact may be in, the one shown to the agent, and the window.
pub struct CallZone {
    pub zones: TimeZoneSource,
    /// The zone the agent types callback times in (the contact's, else the number's first).
    pub shown: Tz,
    pub window: CallingWindow,
}

/// The contact's zones and the calling window of `call`.
pub async fn call_zone(app: &App, call: &Call) -> Result<CallZone, ApiError> {
    let Some(contact) = call.contact_id else {
        return Err(ApiError::invalid("call", "has no contact"));
    };
    let c = app.store.contact(call.client_id, contact).await?;
    let own = c.time_zone.as_deref().and_then(|z| z.parse::<Tz>().ok());
    let zones = TimeZoneSource::resolve(own, &c.phone);
    let shown = match &zones {
        TimeZoneSource::Contact(z) => *z,
        TimeZoneSource::Number(zs) => zs.first().copied().unwrap_or(chrono_tz::UTC),
        TimeZoneSource::Unknown => chrono_tz::UTC,
    };
    let window = match call.campaign_id {
        Some(id) => {
            app.store
                .campaign(call.client_id, id)
                .await?
                .settings
                .window
        }
        None => palera_core::desk::manual_window(),
    };
    Ok(CallZone {
        zones,
        shown,
        window,
    })
}

/// The instant of a callback: `local` (the contact's wall-clock time) wins over `at`; either
/// must fall inside the calling window. `None` when neither is given.
pub async fn plan(
    app: &App,
    call: &Call,
    local: Option<NaiveDateTime>,
    at: Option<DateTime<Utc>>,
) -> Result<Option<(DateTime<Utc>, Tz)>, ApiError> {
    if local.is_none() && at.is_none() {
        return Ok(None);
    }
    let z = call_zone(app, call).await?;
    let (field, at) = match local {
        Some(l) => {
            let at = z.shown.from_local_datetime(&l).earliest().ok_or_else(|| {
                ApiError::invalid(
                    "callback_local",
                    format!("{l} does not exist in {} (a clock change)", z.shown.name()),
                )
            })?;
            ("callback_local", at.with_timezone(&Utc))
        }
        None => ("callback_at", at.expect("one is given")),
    };
    if !z.zones.window_open(&z.window, at) {
        let shown = at.with_timezone(&z.shown).format("%a %-d %b %H:%M");
        return Err(ApiError::invalid(
            field,
            format!(
                "{shown} ({}) is outside the calling window ({}–{} in the contact's time)",
                z.shown.name(),
                z.window.start.format("%H:%M"),
                z.window.end.format("%H:%M"),
            ),
        ));
    }
    Ok(Some((at, z.shown)))
}

/// Puts a saved callback disposition on the agent's list (no-op for other effects).
pub async fn record(
    app: &App,
    call: &Call,
    disposition: i64,
    planned: Option<(DateTime<Utc>, Tz)>,
) -> Result<(), ApiError> {
    let (Some((at, tz)), Some(agent), Some(contact)) = (planned, call.agent_id, call.contact_id)
    else {
        return Ok(());
    };
    let set = match call.campaign_id {
        Some(c) => app.store.dispositions(call.client_id, c).await?,
        None => app.store.client_dispositions(call.client_id).await?,
    };
    let is_callback = set
        .iter()
        .any(|d| d.id == disposition && d.effect == EffectKind::Callback);
    if !is_callback {
        return Ok(());
    }
    let c = NewCallback {
        call: call.id,
        agent,
        client: call.client_id,
        contact,
        campaign: call.campaign_id,
        due_at: at.timestamp_millis(),
        time_zone: tz.name().to_string(),
    };
    app.store.add_agent_callback(&c, app.now_ms()).await?;
    Ok(())
}
