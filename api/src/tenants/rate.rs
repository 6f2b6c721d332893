//! A tenant's request rate on this instance: a token bucket refilled at its share of the
//! tenant's rate, holding at most twice that (the burst).

use std::sync::Mutex;
use std::time::Instant;

/// What the bucket said to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Admitted; `remaining` more would be admitted right now.
    Admitted {
        /// Whole tokens left.
        remaining: u64,
    },
    /// Refused; a token is back after `retry_after` seconds.
    Refused {
        /// Whole seconds, at least 1.
        retry_after: u64,
    },
}

#[derive(Debug)]
struct State {
    per_second: f64,
    tokens: f64,
    refilled: Instant,
}

/// One tenant's bucket on this instance.
#[derive(Debug)]
pub struct Bucket {
    state: Mutex<State>,
}

impl Bucket {
    /// A full bucket admitting `per_second` on average.
    pub fn new(per_second: f64) -> Self {
        Bucket {
            state: Mutex::new(State {
                per_second,
                tokens: burst(per_second),
                refilled: Instant::now(),
            }),
        }
    }

    /// Changes the rate (a tenant's limit was changed); the tokens held are kept, within
    /// the new burst.
    pub fn set_rate(&self, per_second: f64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.per_second != per_second {
            state.per_second = per_second;
            state.tokens = state.tokens.min(burst(per_second));
        }
    }

    /// Seconds until a token is there (at least 1), or `None` when one is there now; takes
    /// nothing.
    pub fn wait(&self) -> Option<u64> {
        self.wait_at(Instant::now())
    }

    fn wait_at(&self, now: Instant) -> Option<u64> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = now.saturating_duration_since(state.refilled).as_secs_f64();
        let tokens = (state.tokens + elapsed * state.per_second).min(burst(state.per_second));
        (tokens < 1.0).then(|| (((1.0 - tokens) / state.per_second).ceil() as u64).max(1))
    }

    /// Takes one token if there is one.
    pub fn admit(&self) -> Admission {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Admission {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = now.saturating_duration_since(state.refilled).as_secs_f64();
        state.tokens = (state.tokens + elapsed * state.per_second).min(burst(state.per_second));
        state.refilled = now;
        if state.tokens >= 1.0 {
            state.tokens -= 1.0;
            Admission::Admitted {
                remaining: state.tokens as u64,
            }
        } else {
            let wait = (1.0 - state.tokens) / state.per_second;
            Admission::Refused {
                retry_after: (wait.ceil() as u64).max(1),
            }
        }
    }
}

/// Tokens a bucket holds at most.
fn burst(per_second: f64) -> f64 {
    (per_second * 2.0).max(1.0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn admits_a_burst_of_twice_the_rate_then_refills() {
        let bucket = Bucket::new(5.0);
        let start = Instant::now();
        for expected in (0..10).rev() {
            assert_eq!(
                bucket.admit_at(start),
                Admission::Admitted {
                    remaining: expected
                }
            );
        }
        assert_eq!(
            bucket.admit_at(start),
            Admission::Refused { retry_after: 1 }
        );
        // A fifth of a second later one token is back.
        assert!(matches!(
            bucket.admit_at(start + Duration::from_millis(200)),
            Admission::Admitted { .. }
        ));
        assert!(matches!(
            bucket.admit_at(start + Duration::from_millis(200)),
            Admission::Refused { .. }
        ));
    }

    #[test]
    fn waiting_takes_no_token() {
        let bucket = Bucket::new(1.0);
        let start = Instant::now();
        assert_eq!(bucket.wait_at(start), None);
        assert!(matches!(bucket.admit_at(start), Admission::Admitted { .. }));
        assert!(matches!(bucket.admit_at(start), Admission::Admitted { .. }));
        assert_eq!(bucket.wait_at(start), Some(1));
        assert_eq!(bucket.wait_at(start), Some(1));
        assert_eq!(bucket.wait_at(start + Duration::from_secs(1)), None);
    }

    #[test]
    fn a_share_below_one_per_second_still_admits_and_asks_for_a_longer_wait() {
        let bucket = Bucket::new(0.25);
        let start = Instant::now();
        assert!(matches!(
            bucket.admit_at(start),
            Admission::Admitted { remaining: 0 }
        ));
        assert_eq!(
            bucket.admit_at(start),
            Admission::Refused { retry_after: 4 }
        );
    }
}
