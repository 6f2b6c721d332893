//! A capped exponential backoff, the one wait every retry loop of the platform uses
//! (restarts, reconnects, probes, transient store errors).

use std::time::Duration;

/// A capped exponential backoff: `min`, doubling up to `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Starts at `min` and never waits longer than `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max,
            next: min,
        }
    }

    /// The wait to make now; the one after is twice as long, up to the cap.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }

    /// Back to the shortest wait.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}
