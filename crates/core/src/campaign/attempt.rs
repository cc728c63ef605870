//! The per-contact attempt state machine of a campaign: how many attempts were made, whether one is
//! in flight, when the contact is next due (cadence in the contact's local calendar), its cycle
//! status, and what a disposition does to it. Also the seed's call statuses (DESIGN §2.2) and the
//! detailed outcomes kept underneath them.

use super::settings::{CampaignSettings, RetryAfter};
use super::window::{local_date, start_of_local_day};
use crate::ids::ListId;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// The statuses reports and lists show (DESIGN §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeedStatus {
    NotCalled,
    Outbound,
    Answered,
    Abandoned,
}

/// The detailed outcome of an outbound call, under its seed status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    Queued,
    Ringing,
    InProgress,
    /// Picked up by a person and connected to an agent.
    Completed,
    AbandonedNoAgent,
    NoAnswer,
    Busy,
    Failed,
    Machine,
    VoicemailDropped,
}

impl CallOutcome {
    pub fn seed_status(self) -> SeedStatus {
        use CallOutcome::*;
        match self {
            Queued | Ringing | InProgress => SeedStatus::Outbound,
            Completed => SeedStatus::Answered,
            AbandonedNoAgent | NoAnswer | Busy | Failed | Machine | VoicemailDropped => {
                SeedStatus::Abandoned
            }
        }
    }

    /// Whether the call is over.
    pub fn is_final(self) -> bool {
        self.seed_status() != SeedStatus::Outbound
    }
}

/// What a disposition does to the contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "effect")]
pub enum DispositionEffect {
    /// Done: never dialled again by this campaign.
    Final,
    /// Dial again on the campaign cadence, while attempts remain.
    Retry,
    /// Dial again at this instant (still within max attempts and the calling window).
    Callback { at: DateTime<Utc> },
    /// The contact asked not to be called: joins the client's DNC list.
    Dnc,
    /// Moves to another list (stage); leaves this campaign unless that list is in it too.
    MoveToList { list: ListId },
}

/// A disposition of the campaign's set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disposition {
    pub name: String,
    pub effect: DispositionEffect,
}

impl Disposition {
    /// The disposition the system gives a call no agent handled (no answer, busy, machine, …).
    pub fn system_retry() -> Self {
        Self {
            name: "system_retry".into(),
            effect: DispositionEffect::Retry,
        }
    }
}

/// Where the contact stands in the campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactStatus {
    /// Still due on the cadence.
    Active,
    /// A final disposition was given.
    Completed,
    /// Reached `max_attempts` without a final disposition.
    Exhausted,
    /// Joined the do-not-call list.
    Dnc,
    /// Left the campaign's lists.
    Moved,
}

/// Status of the contact in its current cycle (DESIGN §1 "cycle").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CycleStatus {
    /// Due in this cycle; its attempt has not completed yet (it may be in flight).
    NotCalled,
    /// This cycle's attempt completed; due again in a later cycle.
    Called,
    /// No longer due at all.
    Done,
}

/// Why an attempt cannot start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AttemptError {
    #[error("the contact is no longer due in this campaign")]
    NotActive,
    #[error("an attempt is already in flight")]
    InFlight,
    #[error("the contact reached the maximum number of attempts")]
    MaxAttempts,
    #[error("the contact is not due yet")]
    NotDue,
}

/// A contact's attempts in one campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactAttempts {
    pub attempts: u32,
    pub status: ContactStatus,
    pub in_flight: bool,
    /// Earliest instant the next attempt may start.
    pub next_due: DateTime<Utc>,
    /// Local date (cycle) of the last attempt.
    pub last_cycle: Option<NaiveDate>,
}

impl ContactAttempts {
    /// A contact added to the campaign at `now`: due at once.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            attempts: 0,
            status: ContactStatus::Active,
            in_flight: false,
            next_due: now,
            last_cycle: None,
        }
    }

    /// Whether a new attempt may start at `now` (the calling window is checked separately).
    pub fn is_due(&self, now: DateTime<Utc>, max_attempts: u32) -> bool {
        self.can_start(now, max_attempts).is_ok()
    }

    fn can_start(&self, now: DateTime<Utc>, max_attempts: u32) -> Result<(), AttemptError> {
        if self.status != ContactStatus::Active {
            return Err(AttemptError::NotActive);
        }
        if self.in_flight {
            return Err(AttemptError::InFlight);
        }
        if self.attempts >= max_attempts {
            return Err(AttemptError::MaxAttempts);
        }
        if now < self.next_due {
            return Err(AttemptError::NotDue);
        }
        Ok(())
    }

    pub fn cycle_status(&self, now: DateTime<Utc>) -> CycleStatus {
        match self.status {
            ContactStatus::Active if self.in_flight || now >= self.next_due => {
                CycleStatus::NotCalled
            }
            ContactStatus::Active => CycleStatus::Called,
            _ => CycleStatus::Done,
        }
    }

    /// Starts an attempt: the contact is in flight until `complete` and cannot be dialled again.
    pub fn start(
        &mut self,
        now: DateTime<Utc>,
        tz: Tz,
        max_attempts: u32,
    ) -> Result<(), AttemptError> {
        self.can_start(now, max_attempts)?;
        self.attempts += 1;
        self.in_flight = true;
        self.last_cycle = Some(local_date(tz, now));
        Ok(())
    }

    /// Ends the attempt in flight with `disposition`, applying its effect and the cadence.
    pub fn complete(
        &mut self,
        disposition: &Disposition,
        settings: &CampaignSettings,
        tz: Tz,
        now: DateTime<Utc>,
    ) {
        self.in_flight = false;
        if self.status != ContactStatus::Active {
            return; // e.g. joined DNC while the call was in flight
        }
        match disposition.effect {
            DispositionEffect::Final => self.status = ContactStatus::Completed,
            DispositionEffect::Dnc => self.status = ContactStatus::Dnc,
            DispositionEffect::MoveToList { .. } => self.status = ContactStatus::Moved,
            DispositionEffect::Callback { at } => self.retry_at(at, settings.max_attempts),
            DispositionEffect::Retry => {
                let at = next_cycle_start(settings.retry_after, self.last_cycle, tz, now);
                self.retry_at(at, settings.max_attempts);
            }
        }
    }

    fn retry_at(&mut self, at: DateTime<Utc>, max_attempts: u32) {
        if self.attempts >= max_attempts {
            self.status = ContactStatus::Exhausted;
        } else {
            self.next_due = at;
        }
    }

    /// The contact joined the DNC list: never due again, even mid-call.
    pub fn mark_dnc(&mut self) {
        self.status = ContactStatus::Dnc;
    }
}

/// When the next cycle opens: the start of the local day `n` days after the attempt's day, or `n`
/// hours after the attempt ended.
pub fn next_cycle_start(
    retry: RetryAfter,
    last_cycle: Option<NaiveDate>,
    tz: Tz,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    match retry {
        RetryAfter::Hours(h) => now + Duration::hours(i64::from(h)),
        RetryAfter::Days(d) => {
            let day = last_cycle.unwrap_or_else(|| local_date(tz, now));
            start_of_local_day(tz, day + Duration::days(i64::from(d)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NY: Tz = chrono_tz::America::New_York;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn settings(max: u32) -> CampaignSettings {
        CampaignSettings {
            max_attempts: max,
            ..Default::default()
        }
    }

    #[test]
    fn cycle_status_is_not_called_until_this_cycles_attempt_completes() {
        let now = t("2026-03-02T15:00:00Z");
        let mut c = ContactAttempts::new(now);
        assert_eq!(c.cycle_status(now), CycleStatus::NotCalled);
        c.start(now, NY, 3).unwrap();
        assert_eq!(c.cycle_status(now), CycleStatus::NotCalled);
        c.complete(&Disposition::system_retry(), &settings(3), NY, now);
        assert_eq!(c.cycle_status(now), CycleStatus::Called);
        // Next cycle: the next local day in New York (05:00 UTC in winter).
        assert_eq!(c.next_due, t("2026-03-03T05:00:00Z"));
        assert_eq!(
            c.cycle_status(t("2026-03-03T05:00:00Z")),
            CycleStatus::NotCalled
        );
    }

    #[test]
    fn a_contact_is_never_dialled_twice_at_the_same_time() {
        let now = t("2026-03-02T15:00:00Z");
        let mut c = ContactAttempts::new(now);
        c.start(now, NY, 3).unwrap();
        assert_eq!(c.start(now, NY, 3), Err(AttemptError::InFlight));
    }

    #[test]
    fn never_above_max_attempts() {
        let mut now = t("2026-03-02T15:00:00Z");
        let mut c = ContactAttempts::new(now);
        for _ in 0..2 {
            c.start(now, NY, 2).unwrap();
            c.complete(&Disposition::system_retry(), &settings(2), NY, now);
            now += Duration::days(1);
        }
        assert_eq!(c.status, ContactStatus::Exhausted);
        assert_eq!(c.start(now, NY, 2), Err(AttemptError::NotActive));
        assert_eq!(c.attempts, 2);
    }

    #[test]
    fn retry_after_hours_counts_from_the_end_of_the_attempt() {
        let now = t("2026-03-02T15:00:00Z");
        let mut c = ContactAttempts::new(now);
        let s = CampaignSettings {
            retry_after: RetryAfter::Hours(4),
            ..Default::default()
        };
        c.start(now, NY, 3).unwrap();
        c.complete(&Disposition::system_retry(), &s, NY, now);
        assert_eq!(c.next_due, t("2026-03-02T19:00:00Z"));
    }

    #[test]
    fn dispositions_apply_their_effects() {
        let now = t("2026-03-02T15:00:00Z");
        let run = |effect| {
            let mut c = ContactAttempts::new(now);
            c.start(now, NY, 3).unwrap();
            c.complete(
                &Disposition {
                    name: "x".into(),
                    effect,
                },
                &settings(3),
                NY,
                now,
            );
            c
        };
        assert_eq!(
            run(DispositionEffect::Final).status,
            ContactStatus::Completed
        );
        assert_eq!(run(DispositionEffect::Dnc).status, ContactStatus::Dnc);
        assert_eq!(
            run(DispositionEffect::MoveToList { list: ListId(2) }).status,
            ContactStatus::Moved
        );
        let at = t("2026-03-02T18:30:00Z");
        let c = run(DispositionEffect::Callback { at });
        assert_eq!((c.status, c.next_due), (ContactStatus::Active, at));
    }

    #[test]
    fn outcomes_map_to_seed_statuses() {
        assert_eq!(CallOutcome::Ringing.seed_status(), SeedStatus::Outbound);
        assert_eq!(CallOutcome::Completed.seed_status(), SeedStatus::Answered);
        for o in [
            CallOutcome::AbandonedNoAgent,
            CallOutcome::NoAnswer,
            CallOutcome::Busy,
            CallOutcome::Failed,
            CallOutcome::Machine,
            CallOutcome::VoicemailDropped,
        ] {
            assert_eq!(o.seed_status(), SeedStatus::Abandoned);
        }
    }
}
