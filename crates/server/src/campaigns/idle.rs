//! Why a campaign places no calls now, in words for the live page and the live API: its status
//! (draft, paused, stopped), no agent Ready for it, nothing due, the calling window closed for
//! every due contact, or the calls-per-second limit. Worked out from what the server already
//! has — the campaign, the engine's live snapshot and the store — without asking the engine
//! anything new.

use crate::app::App;
use crate::engine::LiveSnapshot;
use crate::http::error::ApiError;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use palera_core::campaign::{CallingWindow, TimeZoneSource};
use palera_core::phone::PhoneNumber;
use palera_store::calls::CampaignContact;
use palera_store::campaigns::{Campaign, CampaignStatus};
use serde::Serialize;
use utoipa::ToSchema;

/// How many due contacts are looked at to decide whether the window is closed for all of them.
const DUE_SAMPLE: i64 = 5000;

/// The reason nothing is being dialled, when nothing is.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct IdleReason {
    /// draft, paused, stopped, starting, no_agent_ready, nothing_due, window_closed,
    /// calls_per_second.
    pub code: String,
    /// The reason in words.
    pub text: String,
}

impl IdleReason {
    fn new(code: &str, text: impl Into<String>) -> Self {
        Self {
            code: code.to_string(),
            text: text.into(),
        }
    }
}

/// The reason a campaign of this status never dials, if its status is one.
pub fn status_reason(status: CampaignStatus) -> Option<IdleReason> {
    match status {
        CampaignStatus::Draft => Some(IdleReason::new(
            "draft",
            "The campaign is a draft: no calls are placed until it is started.",
        )),
        CampaignStatus::Paused => Some(IdleReason::new(
            "paused",
            "The campaign is paused: no calls are placed until it is resumed.",
        )),
        CampaignStatus::Stopped => Some(IdleReason::new(
            "stopped",
            "The campaign is stopped: no calls are placed until it is started again.",
        )),
        CampaignStatus::Running => None,
    }
}

/// The reason a running campaign's agents cannot take calls, if none is Ready for it.
pub fn agent_reason(engine: &LiveSnapshot) -> Option<IdleReason> {
    if engine.agents.iter().any(|a| a.ready_for_campaign) {
        return None;
    }
    let text = match engine.agents.len() {
        0 => "No agents are assigned to the campaign.".to_string(),
        1 => "The campaign's one agent is not Ready.".to_string(),
        n => format!("None of the campaign's {n} agents is Ready."),
    };
    Some(IdleReason::new("no_agent_ready", text))
}

/// Whether the calling window is open now for a contact (in its own zone, else in every zone
/// its number may be in; never when no zone is known).
pub fn window_open(cc: &CampaignContact, window: &CallingWindow, now: DateTime<Utc>) -> bool {
    let Ok(phone) = PhoneNumber::parse_e164(&cc.phone) else {
        return false;
    };
    let own: Option<Tz> = cc.time_zone.as_deref().and_then(|z| z.parse().ok());
    let zones = TimeZoneSource::resolve(own, &phone);
    zones.window_open(window, now)
}

/// The reason in the due contacts: none due, or the window closed for every one of them.
pub fn due_reason(
    due: &[CampaignContact],
    window: &CallingWindow,
    now: DateTime<Utc>,
) -> Option<IdleReason> {
    if due.is_empty() {
        return Some(IdleReason::new(
            "nothing_due",
            "No contact is due now: every contact has been called, is on a call, or waits for its next attempt.",
        ));
    }
    if due.iter().any(|cc| window_open(cc, window, now)) {
        return None;
    }
    let n = due.len();
    let whom = if n == 1 {
        "the one due contact".to_string()
    } else {
        format!("all {n} due contacts")
    };
    Some(IdleReason::new(
        "window_closed",
        format!(
            "The calling window ({}–{} in the contact's own time) is closed for {whom}.",
            window.start.format("%H:%M"),
            window.end.format("%H:%M")
        ),
    ))
}

/// The reason in the calls-per-second limit: as many dials in the last second as it allows.
pub fn rate_reason(dials_last_second: i64, cps: f64) -> Option<IdleReason> {
    if (dials_last_second as f64) < cps {
        return None;
    }
    Some(IdleReason::new(
        "calls_per_second",
        format!(
            "The calls-per-second limit ({cps} a second) is reached: the next call waits for it."
        ),
    ))
}

/// Why the campaign places no calls now, or `None` when it is dialling (a line is in use) or
/// nothing stops it.
pub async fn idle_reason(
    app: &App,
    camp: &Campaign,
    engine: &LiveSnapshot,
    client_cps: f64,
) -> Result<Option<IdleReason>, ApiError> {
    if let Some(r) = status_reason(camp.status) {
        return Ok(Some(r));
    }
    if !engine.running {
        return Ok(Some(IdleReason::new(
            "starting",
            "The dialler is starting the campaign.",
        )));
    }
    if engine.lines_in_use > 0 {
        return Ok(None);
    }
    if let Some(r) = agent_reason(engine) {
        return Ok(Some(r));
    }
    let now = app.clock.now();
    let due = app
        .store
        .due_contacts(
            camp.client_id,
            camp.id,
            now.timestamp_millis(),
            camp.settings.max_attempts,
            DUE_SAMPLE,
        )
        .await?;
    if let Some(r) = due_reason(&due, &camp.settings.window, now) {
        return Ok(Some(r));
    }
    let recent = app
        .store
        .call_counts(camp.client_id, camp.id, now.timestamp_millis() - 1000)
        .await?;
    Ok(rate_reason(
        recent.dials,
        client_cps.min(camp.settings.calls_per_second),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use palera_core::campaign::ContactAttempts;
    use palera_core::ids::{CampaignId, ClientId, ContactId};

    fn due(phone: &str, zone: Option<&str>) -> CampaignContact {
        CampaignContact {
            campaign_id: CampaignId(1),
            contact_id: ContactId(1),
            client_id: ClientId(1),
            phone: phone.into(),
            time_zone: zone.map(str::to_string),
            name: "Ann".into(),
            attempts: ContactAttempts::new(Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()),
            holder: None,
            in_flight: None,
        }
    }

    #[test]
    fn the_window_is_closed_only_when_closed_for_every_due_contact() {
        let w = CallingWindow::default();
        // 15:00 UTC: 10:00 in New York, 00:00 in Tokyo the next day.
        let now = Utc.with_ymd_and_hms(2026, 3, 10, 15, 0, 0).unwrap();
        let tokyo = due("+81312345678", Some("Asia/Tokyo"));
        let ny = due("+12125550100", None);
        let closed = due_reason(std::slice::from_ref(&tokyo), &w, now).unwrap();
        assert_eq!(closed.code, "window_closed");
        assert_eq!(
            closed.text,
            "The calling window (08:00–21:00 in the contact's own time) is closed for the one due contact."
        );
        assert_eq!(due_reason(&[tokyo.clone(), ny], &w, now), None);
        let two = due_reason(&[tokyo.clone(), tokyo], &w, now).unwrap();
        assert!(
            two.text.ends_with("closed for all 2 due contacts."),
            "{}",
            two.text
        );
        assert_eq!(due_reason(&[], &w, now).unwrap().code, "nothing_due");
    }

    #[test]
    fn agents_and_the_rate_limit_are_reasons_only_when_they_stop_dialling() {
        let mut snap = LiveSnapshot {
            running: true,
            ..Default::default()
        };
        assert_eq!(
            agent_reason(&snap).unwrap().text,
            "No agents are assigned to the campaign."
        );
        let agent = |ready| crate::engine::AgentLive {
            id: palera_core::ids::UserId(7),
            name: "Ann".into(),
            voice_state: "ready".into(),
            activity: "idle".into(),
            held: 0,
            ready_for_campaign: ready,
        };
        snap.agents = vec![agent(false), agent(false)];
        assert_eq!(
            agent_reason(&snap).unwrap().text,
            "None of the campaign's 2 agents is Ready."
        );
        snap.agents.push(agent(true));
        assert_eq!(agent_reason(&snap), None);
        assert_eq!(rate_reason(0, 1.0), None);
        assert_eq!(rate_reason(2, 2.0).unwrap().code, "calls_per_second");
    }
}
