//! Where an import's time goes, phase by phase, summed over its batches: what the import
//! benchmark prints, so that a slow import says whether it waits on parsing, on reading what is
//! stored, on writing, or on committing.

use std::time::{Duration, Instant};

/// Wall time per phase of one import run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ImportTimings {
    /// Reading and parsing the file, on the reader's threads (beside the writes).
    pub parse: Duration,
    /// The writer waiting for the next parsed batch.
    pub wait: Duration,
    /// Reading the batch's DNC and stored numbers and deciding each row's bucket.
    pub classify: Duration,
    /// Claiming the job, inserting and updating contacts with their history, recording
    /// rejections and advancing the job's counters.
    pub write: Duration,
    /// Committing the batch transactions.
    pub commit: Duration,
}

/// A phase of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Classify,
    Write,
    Commit,
}

/// Charges the time since the previous lap to a phase.
pub(super) struct Laps<'a> {
    timings: &'a mut ImportTimings,
    at: Instant,
}

impl<'a> Laps<'a> {
    pub fn start(timings: &'a mut ImportTimings) -> Self {
        Self {
            timings,
            at: Instant::now(),
        }
    }

    pub fn lap(&mut self, phase: Phase) {
        let now = Instant::now();
        let slot = match phase {
            Phase::Classify => &mut self.timings.classify,
            Phase::Write => &mut self.timings.write,
            Phase::Commit => &mut self.timings.commit,
        };
        *slot += now - self.at;
        self.at = now;
    }
}
