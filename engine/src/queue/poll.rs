//! A poll strategy that wakes idle workers reliably.

use std::task::{Context, Poll};
use std::time::Duration;

use apalis::prelude::{PollSnapshot, PollStrategy};
use tokio::time::{Interval, MissedTickBehavior};

/// Wakes the worker every interval.
///
/// apalis's own interval strategy can return ready without leaving a waker registered, and
/// then new jobs wait for the next heartbeat (seconds later). Draining the ticks until the
/// interval returns `Pending` always leaves one registered.
pub struct EveryTick(Interval);

impl EveryTick {
    /// A strategy that fires every `period`.
    pub fn new(period: Duration) -> Self {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self(interval)
    }
}

impl PollStrategy for EveryTick {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        let mut fired = false;
        while self.0.poll_tick(cx).is_ready() {
            fired = true;
        }
        if fired {
            Poll::Ready(Some(()))
        } else {
            Poll::Pending
        }
    }
}
