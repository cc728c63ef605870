//! The checks made right before each dial (DESIGN §2.1): do-not-call, calling window, max
//! attempts, one attempt at a time per contact, and the carrier's calls-per-second limit. The
//! driver gathers the facts fresh at dial time; this module only judges them.

use super::attempt::ContactAttempts;
use super::driver::Mono;
use chrono::{DateTime, Utc};

/// The facts about one prospective dial, gathered right before it.
#[derive(Debug, Clone, Copy)]
pub struct DialCheck<'a> {
    pub contact: &'a ContactAttempts,
    /// Looked up in the client's DNC list just now.
    pub on_dnc: bool,
    /// The calling window is open in the contact's zone(s) now.
    pub window_open: bool,
    pub max_attempts: u32,
    pub now: DateTime<Utc>,
}

/// Why a dial was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DialRefusal {
    #[error("the number is on the do-not-call list")]
    OnDnc,
    #[error("outside the calling window")]
    OutsideWindow,
    #[error("maximum attempts reached")]
    MaxAttempts,
    #[error("the contact is already being dialled")]
    AlreadyDialling,
    #[error("the contact is not due")]
    NotDue,
}

/// Judges a prospective dial. The CPS limit is separate ([`CpsLimiter`]) because it is about the
/// account, not the contact.
pub fn check_dial(c: DialCheck<'_>) -> Result<(), DialRefusal> {
    if c.on_dnc {
        return Err(DialRefusal::OnDnc);
    }
    if c.contact.in_flight {
        return Err(DialRefusal::AlreadyDialling);
    }
    if c.contact.attempts >= c.max_attempts {
        return Err(DialRefusal::MaxAttempts);
    }
    if !c.window_open {
        return Err(DialRefusal::OutsideWindow);
    }
    if !c.contact.is_due(c.now, c.max_attempts) {
        return Err(DialRefusal::NotDue);
    }
    Ok(())
}

/// Spaces new calls at least `1 / calls_per_second` apart, so no one-second span ever holds more
/// than the account's limit. It keeps time on the driver's monotonic scale ([`Mono`]) only: every
/// caller that shares one limiter (a client's campaigns and its manual calls) must feed it instants
/// of the same engine clock, never wall time, or one of them would see the next slot years away.
#[derive(Debug, Clone)]
pub struct CpsLimiter {
    interval_ms: Mono,
    next_allowed: Option<Mono>,
}

impl CpsLimiter {
    pub fn new(calls_per_second: f64) -> Self {
        Self {
            interval_ms: (1000.0 / calls_per_second).ceil().max(1.0) as Mono,
            next_allowed: None,
        }
    }

    /// The earliest instant the next call may start.
    pub fn next_slot(&self, now: Mono) -> Mono {
        self.next_allowed.map_or(now, |n| n.max(now))
    }

    /// Takes a slot at `now` if one is free.
    pub fn try_acquire(&mut self, now: Mono) -> bool {
        if self.next_slot(now) > now {
            return false;
        }
        self.next_allowed = Some(now + self.interval_ms);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-03-02T15:00:00Z".parse().unwrap()
    }

    fn check(c: &ContactAttempts, on_dnc: bool, window_open: bool) -> Result<(), DialRefusal> {
        check_dial(DialCheck {
            contact: c,
            on_dnc,
            window_open,
            max_attempts: 3,
            now: now(),
        })
    }

    #[test]
    fn dnc_is_checked_right_before_the_dial() {
        let c = ContactAttempts::new(now());
        assert_eq!(check(&c, true, true), Err(DialRefusal::OnDnc));
        assert_eq!(check(&c, false, true), Ok(()));
    }

    #[test]
    fn never_dials_outside_the_window() {
        let c = ContactAttempts::new(now());
        assert_eq!(check(&c, false, false), Err(DialRefusal::OutsideWindow));
    }

    #[test]
    fn never_dials_a_contact_already_in_flight() {
        let mut c = ContactAttempts::new(now());
        c.in_flight = true;
        assert_eq!(check(&c, false, true), Err(DialRefusal::AlreadyDialling));
    }

    #[test]
    fn calls_per_second_are_never_exceeded() {
        let mut l = CpsLimiter::new(5.0);
        let t0: Mono = 7_000;
        assert!(l.try_acquire(t0));
        assert!(!l.try_acquire(t0 + 199));
        assert!(l.try_acquire(t0 + 200));
        assert_eq!(l.next_slot(t0), t0 + 400);
    }
}
