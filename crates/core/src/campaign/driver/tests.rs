//! The driver's behaviour end to end through its public inputs and commands.

use super::*;
use crate::campaign::attempt::{
    CallOutcome, ContactAttempts, ContactStatus, Disposition, DispositionEffect,
};
use crate::campaign::compliance::CpsLimiter;
use crate::campaign::settings::{CampaignSettings, DialMode};
use crate::campaign::window::TimeZoneSource;
use crate::campaign::RetryAfter;
use crate::ids::{CallId, ContactId, UserId};
use chrono::{DateTime, Duration, Utc};

fn t0() -> DateTime<Utc> {
    "2026-03-02T15:00:00Z".parse().unwrap() // 10:00 in New York
}

fn at(secs: i64) -> Now {
    Now {
        at: t0() + Duration::seconds(secs),
        mono: secs * 1000,
    }
}

fn contact(id: i64) -> DueContact {
    DueContact {
        id: ContactId(id),
        attempts: ContactAttempts::new(t0()),
        zones: TimeZoneSource::Contact(chrono_tz::America::New_York),
        tz: chrono_tz::America::New_York,
    }
}

fn driver(mode: DialMode) -> Driver {
    Driver::new(CampaignSettings {
        dial_mode: mode,
        retry_after: RetryAfter::Hours(1),
        calls_per_second: 100.0,
        ..Default::default()
    })
}

fn dials(cmds: &[Command]) -> Vec<(ContactId, Option<UserId>)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Dial { contact, agent } => Some((*contact, *agent)),
            _ => None,
        })
        .collect()
}

#[test]
fn progressive_dials_one_line_per_ready_agent_and_never_abandons() {
    let mut d = driver(DialMode::Progressive);
    let mut cps = CpsLimiter::new(100.0);
    d.add_contacts(at(0), (0..6).map(contact));
    d.agents_ready(at(0), [UserId(1), UserId(2)]);
    // Calls per second: one dial now, the next one a slot later.
    let mut placed = dials(&d.poll(at(0), &mut cps));
    assert_eq!(placed.len(), 1);
    assert_eq!(d.next_deadline(), Some(10));
    placed.extend(dials(&d.poll(at(1), &mut cps)));
    assert_eq!(placed.len(), 2);
    for (i, (c, a)) in placed.iter().enumerate() {
        assert!(a.is_some());
        d.dialled(at(0), *c, CallId(i as i64));
    }
    // Agent 2's line is answered by a person: it goes to agent 2 and nobody else.
    let agent = placed[1].1.unwrap();
    let cmds = d.answered(at(8), CallId(1), Answer::Human);
    assert_eq!(
        cmds,
        vec![
            Command::Verdict {
                call: CallId(1),
                human: true
            },
            Command::Connect {
                call: CallId(1),
                agent
            }
        ]
    );
    d.connected(at(8), CallId(1));
    assert!(dials(&d.poll(at(8), &mut cps)).is_empty(), "no second line");
    let cmds = d.ended(at(60), CallId(1), LineEnd::Completed);
    assert!(cmds.iter().any(|c| matches!(c, Command::WrapUp { .. })));
    let cmds = d
        .disposed(
            at(70),
            CallId(1),
            Disposition {
                name: "sale".into(),
                effect: DispositionEffect::Final,
            },
        )
        .unwrap();
    assert!(cmds.iter().any(|c| matches!(c,
        Command::Completed { attempts, .. } if attempts.status == ContactStatus::Completed)));
    assert_eq!(
        dials(&d.poll(at(70), &mut cps)).len(),
        1,
        "the agent's next contact"
    );
}

#[test]
fn an_agent_gone_silent_loses_its_contacts_to_the_others() {
    let mut d = driver(DialMode::Preview);
    d.add_contacts(at(0), (0..10).map(contact));
    d.agents_ready(at(0), [UserId(1), UserId(2)]);
    let held = d.held_by(UserId(1)).len();
    assert_eq!(held, 5);
    d.agent_seen(UserId(2), 299_000);
    let cmds = d.tick(at(300));
    assert!(cmds.contains(&Command::AgentInactive { agent: UserId(1) }));
    let moved = cmds
        .iter()
        .filter(|c| {
            matches!(
                c,
                Command::Hold {
                    to: Some(UserId(2)),
                    redistributed: true,
                    ..
                }
            )
        })
        .count();
    assert_eq!(moved, held);
    assert_eq!(d.held_by(UserId(1)).len(), 0);
    assert_eq!(d.held_by(UserId(2)).len(), 10);
}

#[test]
fn an_abandoned_call_plays_the_identification_message_before_the_grace_ends() {
    let mut d = driver(DialMode::Predictive);
    let mut cps = CpsLimiter::new(100.0);
    d.add_contacts(at(0), (0..3).map(contact));
    d.agents_ready(at(0), [UserId(1)]);
    let placed = dials(&d.poll(at(0), &mut cps));
    assert_eq!(placed, vec![(ContactId(0), None)]);
    d.dialled(at(0), ContactId(0), CallId(7));
    // The agent leaves while the line rings; the person who answers waits.
    d.agent_left(at(1), UserId(1));
    let cmds = d.answered(at(5), CallId(7), Answer::Human);
    assert_eq!(cmds.last(), Some(&Command::Wait { call: CallId(7) }));
    // The driver gives up 1.7 s after the answer, so the carrier starts the message within 2 s.
    assert_eq!(d.next_deadline(), Some(5_000 + ABANDON_DECIDE_MS));
    assert!(d.poll(at(6), &mut cps).is_empty());
    let cmds = d.poll(at(7), &mut cps);
    assert!(cmds.contains(&Command::Abandoned {
        call: CallId(7),
        play_message: true
    }));
    let cmds = d.ended(at(20), CallId(7), LineEnd::Completed);
    assert!(cmds.iter().any(|c| matches!(
        c,
        Command::Ended {
            outcome: CallOutcome::AbandonedNoAgent,
            ..
        }
    )));
    assert!(d.stats().life_rate() > 0.99);
}

#[test]
fn a_machine_never_reaches_an_agent() {
    let mut d = driver(DialMode::Progressive);
    let mut cps = CpsLimiter::new(100.0);
    d.add_contacts(at(0), (0..2).map(contact));
    d.agents_ready(at(0), [UserId(1)]);
    let placed = dials(&d.poll(at(0), &mut cps));
    d.dialled(at(0), placed[0].0, CallId(1));
    assert_eq!(
        d.answered(at(4), CallId(1), Answer::Unknown),
        vec![Command::Detecting { call: CallId(1) }]
    );
    let cmds = d.beep(at(9), CallId(1));
    assert!(cmds.contains(&Command::LeaveMessage { call: CallId(1) }));
    assert!(cmds.contains(&Command::AgentFree {
        agent: UserId(1),
        call: Some(CallId(1))
    }));
    assert!(!cmds.iter().any(|c| matches!(c, Command::Connect { .. })));
}

#[test]
fn an_unreachable_agent_gives_its_dial_back() {
    let mut d = driver(DialMode::Progressive);
    let mut cps = CpsLimiter::new(100.0);
    d.add_contacts(at(0), (0..4).map(contact));
    d.agents_ready(at(0), [UserId(1), UserId(2)]);
    let mut placed = dials(&d.poll(at(0), &mut cps));
    placed.extend(dials(&d.poll(at(1), &mut cps)));
    let (c1, _) = *placed.iter().find(|(_, a)| *a == Some(UserId(1))).unwrap();
    let cmds = d.agent_unreachable(at(0), UserId(1));
    assert!(cmds.iter().any(
        |c| matches!(c, Command::Hold { contact, to: Some(UserId(2)), .. } if *contact == c1)
    ));
    assert_eq!(
        d.attempts(c1).unwrap().attempts,
        0,
        "the attempt is given back"
    );
    assert!(!d.is_ready(UserId(1)));
}

#[test]
fn a_campaigns_own_calls_per_second_hold_inside_a_faster_client_limit() {
    // The client allows 100 a second; the campaign 1: one dial a second, and the driver wakes
    // at the campaign's next slot.
    let mut d = Driver::new(CampaignSettings {
        dial_mode: DialMode::Progressive,
        calls_per_second: 1.0,
        ..Default::default()
    });
    let mut client = CpsLimiter::new(100.0);
    d.add_contacts(at(0), (0..6).map(contact));
    d.agents_ready(at(0), [UserId(1), UserId(2), UserId(3)]);
    assert_eq!(dials(&d.poll(at(0), &mut client)).len(), 1);
    assert_eq!(d.next_deadline(), Some(1_000));
    let half = Now {
        at: t0() + Duration::milliseconds(500),
        mono: 500,
    };
    assert!(dials(&d.poll(half, &mut client)).is_empty());
    assert_eq!(dials(&d.poll(at(1), &mut client)).len(), 1);
    // A slot the campaign could not use is not taken from the client.
    assert!(
        client.try_acquire(1_010),
        "the client's limiter is free again"
    );
}
