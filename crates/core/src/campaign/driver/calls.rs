//! Calls from answer to disposition: the answer and the machine verdict, bridging an agent,
//! the grace of a waiting person, the voicemail message, the line's end with its outcome,
//! statistics and wrap-up, and the disposition's effect on the contact's attempts.

use super::{
    Activity, Answer, CallSlot, Command, DailyCalls, Driver, DriverError, LineEnd, Mono, Now,
    Phase, Place, ABANDON_DECIDE_MS,
};
use crate::campaign::attempt::{CallOutcome, ContactStatus, Disposition, DispositionEffect};
use crate::campaign::settings::MachineAction;
use crate::campaign::window::local_date;
use crate::ids::{CallId, ContactId, UserId};
use chrono::Duration;
use std::cmp::Reverse;

/// The disposition the system gives an attempt that ended without an agent's.
fn system(outcome: CallOutcome) -> Disposition {
    let name = match outcome {
        CallOutcome::AbandonedNoAgent => "abandoned_no_agent",
        CallOutcome::NoAnswer => "no_answer",
        CallOutcome::Busy => "busy",
        CallOutcome::Failed => "failed",
        CallOutcome::Machine => "machine",
        CallOutcome::VoicemailDropped => "voicemail_dropped",
        _ => "system_retry",
    };
    Disposition {
        name: name.into(),
        effect: DispositionEffect::Retry,
    }
}

impl Driver {
    /// A disposition for `call`: its effect on the contact's attempts now; the agent is free at
    /// once when in wrap-up, or when the call (hung up now) ends.
    pub fn disposed(
        &mut self,
        now: Now,
        call: CallId,
        disposition: Disposition,
    ) -> Result<Vec<Command>, DriverError> {
        if let Some(c) = self.calls.get_mut(&call) {
            if !matches!(c.phase, Phase::Connected { .. }) || c.disposed {
                return Err(DriverError::NotConnected);
            }
            c.disposed = true;
            let contact = c.contact;
            self.complete(now, call, contact, disposition);
            self.commands.push(Command::HangUp { call });
            return Ok(self.take());
        }
        let wrapping = self.agents.iter().find_map(|(u, a)| match a.activity {
            Activity::WrapUp {
                call: c, contact, ..
            } if c == call => Some((*u, contact)),
            _ => None,
        });
        let Some((agent, contact)) = wrapping else {
            return Err(DriverError::UnknownCall);
        };
        self.complete(now, call, contact, disposition);
        self.free_agent(agent, Some(call), now);
        Ok(self.take())
    }

    /// The attempt on `contact` ends with `disposition`; a contact still due waits for its next
    /// cycle.
    pub(super) fn complete(
        &mut self,
        now: Now,
        call: CallId,
        contact: ContactId,
        disposition: Disposition,
    ) {
        let Some(s) = self.contacts.get_mut(&contact) else {
            return;
        };
        if s.place != Place::Calling(call) {
            return;
        }
        s.attempts
            .complete(&disposition, &self.settings, s.tz, now.at);
        let attempts = s.attempts.clone();
        if attempts.status == ContactStatus::Active
            && attempts.attempts < self.settings.max_attempts
        {
            s.place = Place::Pending;
            let g = s.group as usize;
            self.groups[g]
                .pending
                .push(Reverse((attempts.next_due.timestamp_millis(), contact)));
        } else {
            self.contacts.remove(&contact);
        }
        self.commands.push(Command::Completed {
            call,
            contact,
            disposition,
            attempts,
        });
    }

    // ---- the network's answers --------------------------------------------------------------

    /// The line was answered (`by` as far as known).
    pub fn answered(&mut self, now: Now, call: CallId, by: Answer) -> Vec<Command> {
        let Some(c) = self.calls.get_mut(&call) else {
            return Vec::new();
        };
        let first = match c.phase {
            Phase::Ringing => true,
            Phase::Detecting => false,
            _ => return Vec::new(), // a repeated event
        };
        if first && by == Answer::Unknown && self.settings.amd {
            c.phase = Phase::Detecting;
            self.commands.push(Command::Detecting { call });
            return self.take();
        }
        self.verdict(now, call, by != Answer::Machine);
        self.take()
    }

    /// Who answered is known: a person reaches an agent, a machine never does.
    pub(super) fn verdict(&mut self, now: Now, call: CallId, human: bool) {
        let ring = (now.mono - self.calls[&call].dialled_at) as f64 / 1000.0;
        self.ringing -= 1;
        self.stats.record_dial(human, human.then_some(ring));
        self.commands.push(Command::Verdict { call, human });
        if human {
            self.place_human(call, now.mono, now);
            return;
        }
        let c = self.calls.get_mut(&call).expect("live call");
        c.phase = Phase::Machine;
        let agent = c.agent.take();
        self.commands.push(Command::Machine {
            call,
            hang_up: self.settings.machine_action == MachineAction::HangUp,
        });
        if let Some(a) = agent {
            if self.activity(a) == Some(Activity::Reserved { call }) {
                self.free_agent(a, Some(call), now);
            }
        }
    }

    /// A person answered at `answered`: the call's reserved agent takes it (preview,
    /// progressive), else the free agent with the fewest calls today; with nobody free the
    /// person waits, at most the grace.
    pub(super) fn place_human(&mut self, call: CallId, answered: Mono, now: Now) {
        let reserved = self.calls[&call].agent;
        let agent = reserved.or_else(|| self.pick_free(now));
        match agent {
            Some(a) => self.connect(call, a, answered),
            None => {
                let c = self.calls.get_mut(&call).expect("live call");
                c.phase = Phase::Waiting { since: answered };
                self.waiting.push_back(call);
                self.commands.push(Command::Wait { call });
            }
        }
    }

    pub(super) fn connect(&mut self, call: CallId, agent: UserId, answered: Mono) {
        let c = self.calls.get_mut(&call).expect("live call");
        c.agent = Some(agent);
        c.phase = Phase::Connecting { agent, answered };
        if let Some(slot) = self.agents.get_mut(&agent) {
            slot.activity = Activity::Connecting { call };
        }
        self.commands.push(Command::Connect { call, agent });
    }

    /// People waiting for an agent go to agents who became free.
    pub(super) fn serve_waiting(&mut self, now: Now) {
        while let Some(&call) = self.waiting.front() {
            let Some(a) = self.pick_free(now) else {
                return;
            };
            self.waiting.pop_front();
            let since = match self.calls[&call].phase {
                Phase::Waiting { since } => since,
                _ => now.mono,
            };
            self.connect(call, a, since);
        }
    }

    /// The agent's leg joined the call.
    pub fn connected(&mut self, now: Now, call: CallId) -> Vec<Command> {
        let Some(c) = self.calls.get_mut(&call) else {
            return Vec::new();
        };
        let Phase::Connecting { agent, .. } = c.phase else {
            return Vec::new();
        };
        c.phase = Phase::Connected { since: now.mono };
        self.stats.record_live_answer(now.at, false);
        let today = local_date(chrono_tz::UTC, now.at);
        if let Some(a) = self.agents.get_mut(&agent) {
            a.activity = Activity::OnCall {
                call,
                since: now.at,
            };
            if a.calls_today.day != today {
                a.calls_today = DailyCalls {
                    day: today,
                    count: 0,
                };
            }
            a.calls_today.count += 1;
        }
        self.take()
    }

    /// The machine's greeting ended (the beep): leave the message, by campaign setting.
    pub fn beep(&mut self, now: Now, call: CallId) -> Vec<Command> {
        if self.phase(call) == Some(Phase::Detecting) {
            self.verdict(now, call, false); // the beep is the verdict
        }
        let leave = self.settings.machine_action == MachineAction::LeaveMessage;
        if let Some(c) = self.calls.get_mut(&call) {
            if c.phase == Phase::Machine && leave {
                c.phase = Phase::Message { machine: true };
                self.commands.push(Command::LeaveMessage { call });
            }
        }
        self.take()
    }

    /// Graces and wrap-up limits that ran out.
    pub(super) fn expire(&mut self, now: Now) {
        while let Some(&call) = self.waiting.front() {
            let Phase::Waiting { since } = self.calls[&call].phase else {
                self.waiting.pop_front();
                continue;
            };
            if now.mono - since < ABANDON_DECIDE_MS {
                break;
            }
            self.waiting.pop_front();
            self.calls.get_mut(&call).expect("live call").phase = Phase::Message { machine: false };
            self.stats.record_live_answer(now.at, true);
            self.commands.push(Command::Abandoned {
                call,
                play_message: true,
            });
        }
        let expired: Vec<(UserId, CallId)> = self
            .agents
            .iter()
            .filter_map(|(u, a)| match a.activity {
                Activity::WrapUp { call, until, .. } if now.mono > until => Some((*u, call)),
                _ => None,
            })
            .collect();
        for (agent, call) in expired {
            let auto = Disposition {
                name: "wrap_up_limit".into(),
                effect: DispositionEffect::Retry,
            };
            let _ = self
                .disposed(now, call, auto)
                .map(|c| self.commands.extend(c));
            if self.activity(agent) != Some(Activity::Idle) {
                self.free_agent(agent, Some(call), now);
            }
        }
    }

    /// The agent on `call` dropped the voicemail message (DESIGN §2.3): the agent is free at
    /// once, and the call stays up without them until the message has played and the line ends.
    pub fn voicemail_dropped(
        &mut self,
        now: Now,
        call: CallId,
    ) -> Result<Vec<Command>, DriverError> {
        let Some(c) = self.calls.get_mut(&call) else {
            return Err(DriverError::NotConnected);
        };
        let (Phase::Connected { since }, Some(agent)) = (c.phase, c.agent) else {
            return Err(DriverError::NotConnected);
        };
        c.phase = Phase::Dropped;
        c.agent = None;
        self.stats.record_talk((now.mono - since) as f64 / 1000.0);
        self.free_agent(agent, Some(call), now);
        Ok(self.take())
    }

    /// The line ended: its outcome, the statistics it teaches, the ended command, then the step
    /// after the call (wrap-up, a free agent, or the contact's attempt completed).
    pub fn ended(&mut self, now: Now, call: CallId, end: LineEnd) -> Vec<Command> {
        let Some(c) = self.calls.remove(&call) else {
            return Vec::new(); // repeated
        };
        let outcome = outcome_of(c.phase, end);
        self.record_end(now, call, c.phase);
        self.commands.push(Command::Ended {
            call,
            contact: c.contact,
            outcome,
            agent: c.agent,
        });
        self.after_call(now, call, &c, outcome);
        self.take()
    }

    /// What the line's end teaches the statistics; a person who hung up while waiting for an
    /// agent is an abandoned live answer.
    fn record_end(&mut self, now: Now, call: CallId, phase: Phase) {
        match phase {
            Phase::Ringing => {
                self.ringing -= 1;
                self.stats.record_dial(false, None);
            }
            Phase::Detecting => self.ringing -= 1,
            Phase::Waiting { .. } | Phase::Connecting { .. } => {
                self.waiting.retain(|w| *w != call);
                self.stats.record_live_answer(now.at, true);
                self.commands.push(Command::Abandoned {
                    call,
                    play_message: false,
                });
            }
            Phase::Connected { since } => {
                self.stats.record_talk((now.mono - since) as f64 / 1000.0)
            }
            _ => {}
        }
    }

    /// After the line ended: an agent who talked wraps up (or is free when the disposition came
    /// first); any other call completes the contact's attempt with the system disposition of its
    /// outcome, freeing an agent still reserved for it.
    fn after_call(&mut self, now: Now, call: CallId, ended: &CallSlot, outcome: CallOutcome) {
        match (ended.phase, ended.agent) {
            (Phase::Connected { .. }, Some(agent)) if !ended.disposed => {
                self.start_wrap_up(now, agent, call, ended.contact);
            }
            (Phase::Connected { .. }, agent) => {
                if let Some(a) = agent {
                    self.free_agent(a, Some(call), now);
                }
            }
            (_, agent) => {
                self.complete(now, call, ended.contact, system(outcome));
                if let Some(a) = agent {
                    let busy_with_it = matches!(
                        self.activity(a),
                        Some(Activity::Reserved { call: x } | Activity::Connecting { call: x }) if x == call
                    );
                    if busy_with_it {
                        self.free_agent(a, Some(call), now);
                    }
                }
            }
        }
    }

    /// The agent's call ended before a disposition: wrap-up, at most the campaign's limit.
    fn start_wrap_up(&mut self, now: Now, agent: UserId, call: CallId, contact: ContactId) {
        let until = now.mono + i64::from(self.settings.wrap_up_seconds) * 1000;
        let until_at = now.at + Duration::seconds(i64::from(self.settings.wrap_up_seconds));
        if let Some(slot) = self.agents.get_mut(&agent) {
            slot.activity = Activity::WrapUp {
                call,
                contact,
                until,
                until_at,
            };
        }
        self.commands.push(Command::WrapUp { agent, call, until });
    }
}

/// The detailed outcome of a line that ended in `phase` with the carrier's `end`.
fn outcome_of(phase: Phase, end: LineEnd) -> CallOutcome {
    match phase {
        Phase::Connected { .. } => CallOutcome::Completed,
        Phase::Waiting { .. }
        | Phase::Connecting { .. }
        | Phase::Detecting
        | Phase::Message { machine: false } => CallOutcome::AbandonedNoAgent,
        Phase::Machine | Phase::Message { machine: true } => CallOutcome::Machine,
        Phase::Dropped => CallOutcome::VoicemailDropped,
        Phase::Ringing => match end {
            LineEnd::Busy => CallOutcome::Busy,
            LineEnd::NoAnswer | LineEnd::Completed => CallOutcome::NoAnswer,
            LineEnd::Failed => CallOutcome::Failed,
        },
    }
}
