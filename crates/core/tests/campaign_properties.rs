//! Property tests of the campaign invariants (DESIGN §2.1): equal shares, one holder per contact,
//! attempts never above the maximum and never concurrent, no dial outside the window or to a DNC
//! number, pacing never above its line ceiling.

use chrono::{DateTime, Duration, NaiveTime, Offset, TimeZone, Timelike, Utc};
use palera_core::campaign::compliance::{check_dial, DialCheck, DialRefusal};
use palera_core::campaign::pacing::{AgentActivity, Pacer, PacingInput, PacingStats};
use palera_core::campaign::settings::{CallingWindow, CampaignSettings, RetryAfter};
use palera_core::campaign::{
    is_open_in_zone, ContactAttempts, ContactStatus, Disposition, DispositionEffect, Distribution,
};
use palera_core::ids::{ContactId, UserId};
use proptest::prelude::*;
use std::collections::HashSet;

#[derive(Debug, Clone)]
enum Op {
    AddAgent(i64),
    RemoveAgent(i64),
    AddContacts(i64, i64),
    Take(i64),
    Release(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1i64..8).prop_map(Op::AddAgent),
        (1i64..8).prop_map(Op::RemoveAgent),
        (0i64..200, 1i64..30).prop_map(|(a, n)| Op::AddContacts(a, n)),
        (1i64..8).prop_map(Op::Take),
        (0i64..230).prop_map(Op::Release),
    ]
}

fn base() -> DateTime<Utc> {
    "2026-03-01T00:00:00Z".parse().unwrap()
}

proptest! {
    #[test]
    fn shares_differ_by_at_most_one_and_no_contact_has_two_holders(ops in prop::collection::vec(op(), 1..80)) {
        let mut d = Distribution::new();
        let mut removed: HashSet<i64> = HashSet::new();
        for op in ops {
            match op {
                Op::AddAgent(a) => { d.add_agent(UserId(a)); removed.remove(&a); }
                Op::RemoveAgent(a) => { d.remove_agent(UserId(a)); removed.insert(a); }
                Op::AddContacts(from, n) => { d.add_contacts((from..from + n).map(ContactId)); }
                Op::Take(a) => { d.take_next(UserId(a), |_| true); }
                Op::Release(c) => { d.release(ContactId(c)); }
            }
            let shares: Vec<usize> = d.shares().iter().map(|s| s.1).collect();
            if let (Some(max), Some(min)) = (shares.iter().max(), shares.iter().min()) {
                prop_assert!(max - min <= 1, "shares {:?}", shares);
            }
            let mut seen = HashSet::new();
            for (agent, _) in d.shares() {
                prop_assert!(!removed.contains(&agent.0), "removed agent {} holds contacts", agent.0);
                for c in d.held_by(agent) {
                    prop_assert!(seen.insert(c), "{:?} held twice", c);
                    prop_assert_eq!(d.holder(c), Some(agent));
                }
            }
            if !d.shares().is_empty() {
                prop_assert_eq!(d.unassigned(), 0);
            }
        }
    }

    #[test]
    fn never_above_max_attempts_and_never_two_dials_at_once(
        max in 1u32..5,
        steps in prop::collection::vec((0u8..6, 0i64..72), 1..40),
    ) {
        let tz = chrono_tz::America::Chicago;
        let settings = CampaignSettings { max_attempts: max, retry_after: RetryAfter::Hours(1), ..Default::default() };
        let mut c = ContactAttempts::new(base());
        let mut now = base();
        for (action, hours) in steps {
            now += Duration::hours(hours);
            match action {
                0..=2 => {
                    let was_in_flight = c.in_flight;
                    let ok = c.start(now, tz, max).is_ok();
                    prop_assert!(!(ok && was_in_flight), "started while in flight");
                }
                _ if c.in_flight => {
                    let effect = match action { 3 => DispositionEffect::Retry, 4 => DispositionEffect::Callback { at: now + Duration::hours(2) }, _ => DispositionEffect::Retry };
                    c.complete(&Disposition { name: "x".into(), effect }, &settings, tz, now);
                }
                _ => {}
            }
            prop_assert!(c.attempts <= max);
            if c.attempts == max && !c.in_flight {
                prop_assert!(c.status != ContactStatus::Active || !c.is_due(now, max));
            }
        }
    }

    #[test]
    fn never_dials_outside_the_window_or_to_a_dnc_number(
        secs in 0i64..(400 * 86_400),
        zone in 0usize..5,
        start_h in 6u32..12,
        len_h in 1u32..12,
        on_dnc: bool,
    ) {
        let zones = [chrono_tz::America::New_York, chrono_tz::America::Los_Angeles, chrono_tz::Europe::London, chrono_tz::Australia::Sydney, chrono_tz::America::Phoenix];
        let tz = zones[zone];
        let window = CallingWindow {
            start: NaiveTime::from_hms_opt(start_h, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(start_h + len_h, 0, 0).unwrap(),
            ..Default::default()
        };
        let now = base() + Duration::seconds(secs);
        let open = is_open_in_zone(&window, tz, now);
        // Independent local time: UTC plus the zone's offset at that instant.
        let offset = tz.offset_from_utc_datetime(&now.naive_utc()).fix().local_minus_utc();
        let local = (now + Duration::seconds(i64::from(offset))).naive_utc().time();
        let inside = local.hour() >= start_h && local.hour() < start_h + len_h;
        prop_assert_eq!(open, inside);
        let contact = ContactAttempts::new(base());
        let r = check_dial(DialCheck { contact: &contact, on_dnc, window_open: open, max_attempts: 3, now });
        if on_dnc {
            prop_assert_eq!(r, Err(DialRefusal::OnDnc));
        } else if !inside {
            prop_assert_eq!(r, Err(DialRefusal::OutsideWindow));
        } else {
            prop_assert_eq!(r, Ok(()));
        }
    }

    #[test]
    fn pacing_never_exceeds_max_lines_per_agent(
        idle in 0usize..30, busy in 0usize..30, in_flight in 0usize..100, waiting in 0usize..5,
        answer in 1u32..9, max_lines in 1u32..5, abandons in 0u64..10,
    ) {
        let now = base();
        let mut stats = PacingStats::default();
        for i in 0..300 {
            stats.record_dial(i % 10 < answer as usize, Some(5.0 + (i % 9) as f64));
        }
        for i in 0..100 {
            stats.record_talk(60.0 + i as f64);
            stats.record_live_answer(now, (i as u64) < abandons);
        }
        let mut agents = vec![AgentActivity::Idle; idle];
        agents.extend((0..busy).map(|i| if i % 2 == 0 {
            AgentActivity::OnCall { since: now - Duration::seconds(i as i64 * 10) }
        } else {
            AgentActivity::WrapUp { until: now + Duration::seconds(i as i64) }
        }));
        let pacer = Pacer { abandon_cap: 0.03, max_lines_per_agent: f64::from(max_lines), wrap_up_seconds: 15.0 };
        let d = pacer.decide(&stats, PacingInput { agents: &agents, lines_in_flight: in_flight, humans_waiting: waiting, now });
        let ceiling = max_lines as usize * agents.len();
        prop_assert!(d.new_lines == 0 || in_flight + d.new_lines <= ceiling, "{:?}", d);
        // At or above 90 % of the cap the pacer only dials for idle agents.
        if stats.life_rate() >= 0.027 {
            prop_assert!(in_flight + d.new_lines <= idle.max(in_flight));
        }
    }
}
