//! The subjects this process last found healthy, remembered for a moment so a busy
//! provider or receiver is not asked about in Redis on every call: a healthy subject's
//! admission is a Redis script call per job, and a success on it records nothing. A
//! failure this process sees forgets the subject at once; failures other processes see
//! reach it within `KNOWN_HEALTHY_FOR`, and the calls it makes meanwhile only count
//! toward the same circuit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::time::Instant;

/// How long a subject found healthy is admitted without asking the shared store.
pub const KNOWN_HEALTHY_FOR: Duration = Duration::from_millis(200);

/// Above this many subjects remembered, the stale ones are dropped.
const PRUNE_ABOVE: usize = 4096;

/// Subjects found healthy, and when.
#[derive(Clone, Default)]
pub(super) struct KnownHealthy(Arc<Mutex<HashMap<String, Instant>>>);

impl KnownHealthy {
    /// Whether `name` was found healthy within `KNOWN_HEALTHY_FOR`.
    pub(super) fn fresh(&self, name: &str) -> bool {
        self.fresh_at(name, Instant::now())
    }

    /// `name` was just found healthy.
    pub(super) fn seen(&self, name: &str) {
        self.seen_at(name, Instant::now());
    }

    fn fresh_at(&self, name: &str, now: Instant) -> bool {
        self.lock()
            .get(name)
            .is_some_and(|seen| now.duration_since(*seen) < KNOWN_HEALTHY_FOR)
    }

    fn seen_at(&self, name: &str, now: Instant) {
        let mut known = self.lock();
        if known.len() >= PRUNE_ABOVE && !known.contains_key(name) {
            known.retain(|_, seen| now.duration_since(*seen) < KNOWN_HEALTHY_FOR);
        }
        known.insert(name.to_owned(), now);
    }

    /// A call to `name` failed: ask the shared store from now on.
    pub(super) fn forget(&self, name: &str) {
        self.lock().remove(name);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_healthy_subject_is_known_for_a_moment_and_forgotten_on_a_failure() {
        let known = KnownHealthy::default();
        let start = Instant::now();
        assert!(!known.fresh_at("gas", start), "never seen");
        known.seen_at("gas", start);
        assert!(known.fresh_at("gas", start));
        assert!(
            !known.fresh_at("internet", start),
            "one subject says nothing of another"
        );
        let later = start + KNOWN_HEALTHY_FOR;
        assert!(
            !known.fresh_at("gas", later),
            "asked again once the moment passed"
        );
        known.seen_at("gas", later);
        known.forget("gas");
        assert!(
            !known.fresh_at("gas", later),
            "a failure forgets it at once"
        );
    }

    #[test]
    fn stale_subjects_are_dropped_once_many_are_known() {
        let known = KnownHealthy::default();
        let start = Instant::now();
        for n in 0..PRUNE_ABOVE {
            known.seen_at(&format!("host-{n}"), start);
        }
        known.seen_at("fresh", start + KNOWN_HEALTHY_FOR);
        assert_eq!(known.lock().len(), 1, "only the fresh one is kept");
    }
}
