//! One ordered lane of carrier requests per live call. The engine loop hands a call's requests
//! (connect the agent, hold, resume, play a message and hang up, hang up) to the call's lane and
//! goes on: a slow carrier request holds up only the later requests of the same call, in the
//! order they were given, never the other calls. A request whose result matters (an agent's call
//! control, bridging the agent) comes with what to do once it is done, which sends the result
//! back to the engine as a request of its own.

use palera_carrier::{Audio, CallSid, Carrier, CarrierError};
use palera_core::ids::CallId;
use std::sync::Arc;
use tokio::sync::mpsc;

/// A carrier request on one call.
#[derive(Debug, Clone)]
pub(super) enum Op {
    ConnectAgent(String),
    Hold(Audio),
    Resume,
    PlayAndHangUp(Audio),
    HangUp,
}

impl Op {
    /// Play `message` and hang up, or just hang up when there is none.
    pub fn message_or_hang_up(message: Option<&str>) -> Self {
        match message {
            Some(url) => Op::PlayAndHangUp(Audio { url: url.into() }),
            None => Op::HangUp,
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Op::ConnectAgent(_) => "connecting the agent",
            Op::Hold(_) => "hold",
            Op::Resume => "resume",
            Op::PlayAndHangUp(_) => "playing the message",
            Op::HangUp => "hang-up",
        }
    }
}

/// What to do once a request is done, given its failure if it failed (e.g. tell the agent's
/// desktop).
type After = Box<dyn FnOnce(Option<CarrierError>) + Send>;

/// The sending end of a call's lane; the lane's task ends when this is dropped and the
/// requests already given are done.
pub(super) struct Lane {
    tx: mpsc::UnboundedSender<(Op, Option<After>)>,
}

impl Lane {
    /// Starts the lane of `call` (`sid` at `carrier`).
    pub fn start(call: CallId, sid: CallSid, carrier: Arc<dyn Carrier>) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<(Op, Option<After>)>();
        tokio::spawn(async move {
            while let Some((op, after)) = rx.recv().await {
                let done = match &op {
                    Op::ConnectAgent(identity) => carrier.connect_agent(&sid, identity).await,
                    Op::Hold(music) => carrier.hold(&sid, music).await,
                    Op::Resume => carrier.resume(&sid).await,
                    Op::PlayAndHangUp(message) => carrier.play_and_hang_up(&sid, message).await,
                    Op::HangUp => carrier.hang_up(&sid).await,
                };
                let failure = done.err();
                if let Some(e) = &failure {
                    tracing::warn!(call = %call, error = %e, "{} failed", op.label());
                }
                if let Some(after) = after {
                    after(failure);
                }
            }
        });
        Self { tx }
    }

    /// Queues `op`; nothing waits for it (a failure is logged).
    pub fn send(&self, op: Op) {
        let _ = self.tx.send((op, None));
    }

    /// Queues `op` and runs `after` with its failure (if any) once it is done; a failure is also
    /// logged.
    pub fn send_then(&self, op: Op, after: impl FnOnce(Option<CarrierError>) + Send + 'static) {
        let _ = self.tx.send((op, Some(Box::new(after))));
    }
}
