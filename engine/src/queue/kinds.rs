//! The one list of job kinds. The queue names (which maintenance reaches), the supervised
//! workers and the periodic schedulers are all made from it, so a new kind is added here
//! once.

use super::Job;
use crate::periodic::Tick;

/// Calls macro `$then` with every job kind: the periodic ones (run by `periodic::run` on
/// their `Tick`), then the others with their handlers.
#[macro_export]
#[doc(hidden)]
macro_rules! with_job_kinds {
    ($then:ident ! ($($args:tt)*)) => {
        $then!(
            $($args)*
            periodic: [
                $crate::maintenance::vacuum::Vacuum,
                $crate::maintenance::prune::Prune,
                $crate::counters::job::FlushCounters,
                $crate::maintenance::sweep::Sweep,
            ],
            handled: [
                $crate::webhooks::Collect => $crate::webhooks::collect::run,
                $crate::webhooks::Recollect => $crate::webhooks::collect::run_again,
                $crate::webhooks::Deliver => $crate::webhooks::deliver::run,
                $crate::streams::StreamTick => $crate::streams::tick::run,
            ]
        )
    };
}

macro_rules! queue_names {
    (periodic: [$($periodic:ty),+ $(,)?], handled: [$($job:ty => $handler:path),+ $(,)?]) => {
        &[$(<Tick<$periodic> as Job>::QUEUE,)+ $(<$job as Job>::QUEUE,)+]
    };
}

/// Every queue of the platform, before the deployment's prefix.
pub const QUEUES: &[&str] = with_job_kinds!(queue_names!());
