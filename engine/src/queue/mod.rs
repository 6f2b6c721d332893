//! The queue, behind one type for both modes: apalis on Redis (production) or on the
//! SQLite database file (embedded); the poll strategy its workers wake with, and the one
//! list of job kinds.

pub mod connection;
pub mod durability;
pub mod kinds;
pub mod poll;
mod promote;
pub mod redis;
pub mod sqlite;

use secrecy::ExposeSecret;
use std::time::Duration;

use std::str::FromStr;

use apalis::prelude::{Status, TaskBuilder, TaskId};
use serde::{Serialize, de::DeserializeOwned};

use crate::config::{StoreConfig, WorkerConfig};

pub use self::connection::RedisConnection;
pub use self::kinds::QUEUES;
pub use self::redis::RedisQueue;
pub use self::sqlite::SqliteQueue;

/// The latest submission time (milliseconds since the epoch) `Queue::task_id_waiting`
/// orders by: the 48 bits it keeps of a ULID's 80 random ones.
const SUBMITTED_MAX: u64 = (1 << 48) - 1;

/// The whole second (since the epoch) at or after `at`.
fn due_second(at: chrono::DateTime<chrono::Utc>) -> u64 {
    let whole = at.timestamp() + i64::from(at.timestamp_subsec_nanos() > 0);
    u64::try_from(whole).unwrap_or(0)
}

/// A job payload and the queue it travels through. Payloads carry ids, not data.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static {
    /// The queue's name, before the deployment's prefix.
    const QUEUE: &'static str;

    /// How many of these one worker process runs at once.
    fn concurrency(config: &WorkerConfig) -> usize {
        config.worker_concurrency as usize
    }

    /// What picks the job's queue shard (`QUEUE_SHARDS`): the resource it is for, so
    /// one webhook's jobs share a shard; `None` picks by the task's id.
    fn shard_key(&self) -> Option<&str> {
        None
    }
}

/// One queue's backlog, as the queue layer can tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDepth {
    /// The queue's name, before the deployment's prefix.
    pub name: &'static str,
    /// Jobs due now, waiting for a worker.
    pub ready: u64,
    /// Jobs due later.
    pub scheduled: u64,
    /// Jobs fetched by a worker and not yet finished.
    pub running: u64,
    /// Since when the oldest job due has waited: its due time (for a job already moved to
    /// Redis's ready list, the time in its id, which `Queue::task_id_due` makes its due
    /// time).
    pub oldest_ready: Option<chrono::DateTime<chrono::Utc>>,
}

impl QueueDepth {
    /// How long the oldest job due has waited as of `now`, if one waits.
    pub fn waited(&self, now: chrono::DateTime<chrono::Utc>) -> Option<std::time::Duration> {
        self.oldest_ready
            .map(|at| (now - at).to_std().unwrap_or_default())
    }

    /// Whether the oldest job due has waited longer than `after` as of `now`.
    pub fn stalled(&self, now: chrono::DateTime<chrono::Utc>, after: std::time::Duration) -> bool {
        self.waited(now).is_some_and(|waited| waited > after)
    }
}

/// A worker registered with a queue, and its last heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerBeat {
    /// The worker's name.
    pub name: String,
    /// The queue it serves.
    pub queue: String,
    /// Its last heartbeat.
    pub last_seen: chrono::DateTime<chrono::Utc>,
    /// Whether that heartbeat is within the time after which its jobs count as orphaned.
    pub alive: bool,
}

/// Why the queue could not be reached or written.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Redis refused or did not answer.
    #[error("redis queue: {0}")]
    Redis(#[from] ::redis::RedisError),
    /// The SQLite queue failed.
    #[error("sqlite queue: {0}")]
    Sqlite(#[from] apalis_sqlite::Error),
    /// apalis refused the task.
    #[error("could not push to queue `{queue}`: {message}")]
    Push {
        /// The queue.
        queue: &'static str,
        /// apalis's reason.
        message: String,
    },
}

/// The job queue of this deployment.
#[derive(Clone)]
pub enum Queue {
    /// Production: apalis-redis.
    Redis(RedisQueue),
    /// Embedded: apalis-sqlite, in the same file as the data.
    Sqlite(SqliteQueue),
}

impl Queue {
    /// Connects the queue that `store` selects (Redis when `REDIS_URL` is set).
    pub async fn connect(store: &StoreConfig, worker: &WorkerConfig) -> Result<Self, QueueError> {
        match &store.redis_url {
            Some(url) => Ok(Queue::Redis(
                RedisQueue::connect(url.expose_secret(), store, worker).await?,
            )),
            None => Ok(Queue::Sqlite(
                SqliteQueue::connect(store.database_url.expose_secret(), worker).await?,
            )),
        }
    }

    /// The queue's Redis connection (production), for other Redis users to share.
    pub fn redis(&self) -> Option<RedisConnection> {
        match self {
            Queue::Redis(q) => Some(q.connection()),
            Queue::Sqlite(_) => None,
        }
    }

    /// A new task id, for a push whose id is recorded before the push.
    pub fn task_id() -> TaskId {
        TaskId::from(ulid::Ulid::generate())
    }

    /// A new task id for a job due at `at`: its time part is when the job is due (now, if
    /// that is past), so a ready job's id says since when it has waited.
    pub fn task_id_due(at: chrono::DateTime<chrono::Utc>) -> TaskId {
        let due = Ord::max(at, chrono::Utc::now());
        let millis = u64::try_from(due.timestamp_millis()).unwrap_or(0);
        TaskId::from(ulid::Ulid::from_parts(millis, fastrand::u128(..)))
    }

    /// A task id for a job that waits until `at` for work submitted at `submitted` (its
    /// provider or receiver is down): its time part is the second it falls due, and among
    /// the tasks due in one second the latest submitted sorts first. A queue's schedule
    /// scores tasks by the second and orders equal scores by id, and an outage's whole
    /// backlog falls due at the same probe: ordered so, a collection submitted while the
    /// backlog waits or drains is taken first, not at a random place in it.
    pub fn task_id_waiting(
        at: chrono::DateTime<chrono::Utc>,
        submitted: chrono::DateTime<chrono::Utc>,
    ) -> TaskId {
        let second = due_second(Ord::max(at, chrono::Utc::now())) * 1000;
        // 48 bits of "how long before the end of time it was submitted", then 32 random.
        let submitted = u64::try_from(submitted.timestamp_millis()).unwrap_or(0);
        let newest_first = u128::from(SUBMITTED_MAX - submitted.min(SUBMITTED_MAX));
        let random = (newest_first << 32) | u128::from(fastrand::u32(..));
        TaskId::from(ulid::Ulid::from_parts(second, random))
    }

    /// Queues `job` to run now; returns the task's id.
    pub async fn push<J: Job>(&self, job: J) -> Result<TaskId, QueueError> {
        let id = Self::task_id();
        self.push_as(job, id.clone(), None).await.map(|()| id)
    }

    /// Queues `job` to run at `at` (at the whole second at or after it); returns the task's id.
    pub async fn push_at<J: Job>(
        &self,
        job: J,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<TaskId, QueueError> {
        let id = Self::task_id_due(at);
        self.push_as(job, id.clone(), Some(at)).await.map(|()| id)
    }

    /// Queues `job` as task `id`, now or at `at`: at the whole second at or after it, as a
    /// queue's schedule counts in seconds. Rounded down, a job would run up to a second
    /// before its time, find that what it waits for is not due yet (a provider's probe),
    /// and be put back at the end of the line.
    pub async fn push_as<J: Job>(
        &self,
        job: J,
        id: TaskId,
        at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<(), QueueError> {
        let builder = TaskBuilder::new(job).task_id(id);
        let task = match at {
            Some(at) => builder.run_at_timestamp(due_second(at)).build(),
            None => builder.build(),
        };
        self.send(task).await
    }

    /// Whether task `id` of job kind `J` is still to run or running: neither finished,
    /// killed nor gone.
    pub async fn is_live<J: Job>(&self, id: &str) -> Result<bool, QueueError> {
        let id = TaskId::from_str(id).map_err(|e| QueueError::Push {
            queue: J::QUEUE,
            message: format!("task id `{id}`: {e}"),
        })?;
        let status = match self {
            Queue::Redis(q) => q.status::<J>(&id).await?,
            Queue::Sqlite(q) => q.status(&id).await?,
        };
        Ok(matches!(
            status,
            Some(Status::Pending | Status::Queued | Status::Running)
        ))
    }

    async fn send<J: Job>(&self, task: apalis::prelude::Task<J>) -> Result<(), QueueError> {
        let pushed = match self {
            Queue::Redis(q) => q.push_task(task).await,
            Queue::Sqlite(q) => q.push_task(task).await,
        };
        pushed.map_err(|message| QueueError::Push {
            queue: J::QUEUE,
            message,
        })
    }

    /// The backlog of each of `queues`, in that order.
    pub async fn depths(&self, queues: &[&'static str]) -> Result<Vec<QueueDepth>, QueueError> {
        match self {
            Queue::Redis(q) => q.depths(queues).await,
            Queue::Sqlite(q) => q.depths(queues).await,
        }
    }

    /// The workers registered with `queues`, by queue then name.
    pub async fn workers(&self, queues: &[&'static str]) -> Result<Vec<WorkerBeat>, QueueError> {
        match self {
            Queue::Redis(q) => q.workers(queues).await,
            Queue::Sqlite(q) => q.workers(queues).await,
        }
    }

    /// Removes finished and dead tasks older than `max_age` from `queues`; returns how many.
    pub async fn vacuum(&self, queues: &[&str], max_age: Duration) -> Result<u64, QueueError> {
        match self {
            Queue::Redis(q) => q.vacuum(queues, max_age).await,
            Queue::Sqlite(q) => q.vacuum(max_age).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, Utc};

    use super::*;

    fn time_of(id: &TaskId) -> chrono::DateTime<Utc> {
        let ulid = ulid::Ulid::from_string(&id.to_string()).unwrap();
        chrono::DateTime::<Utc>::from(ulid.datetime())
    }

    #[test]
    fn a_task_id_carries_when_its_job_is_due() {
        let later = Utc::now() + TimeDelta::minutes(5);
        let gap = (time_of(&Queue::task_id_due(later)) - later).num_milliseconds();
        assert!(gap.abs() <= 1, "{gap} ms from the due time");
        // A due time already past is now: the job waits from when it was queued.
        let before = Utc::now();
        let past = time_of(&Queue::task_id_due(before - TimeDelta::hours(1)));
        assert!(
            past >= before - TimeDelta::milliseconds(1),
            "{past} before {before}"
        );
        let depth = QueueDepth {
            name: "collect",
            ready: 1,
            scheduled: 0,
            running: 0,
            oldest_ready: Some(before - TimeDelta::seconds(90)),
        };
        assert!(depth.stalled(before, std::time::Duration::from_secs(60)));
        assert!(!depth.stalled(before, std::time::Duration::from_secs(120)));
    }

    #[test]
    fn among_tasks_waiting_for_one_second_the_latest_submitted_sorts_first() {
        // Half past a second, so a millisecond later is the same second.
        let probe =
            chrono::DateTime::from_timestamp(Utc::now().timestamp() + 30, 500_000_000).unwrap();
        let submitted = |ago| probe - TimeDelta::minutes(ago);
        let older = Queue::task_id_waiting(probe, submitted(10)).to_string();
        let newer = Queue::task_id_waiting(probe, submitted(1)).to_string();
        let same = Queue::task_id_waiting(probe, submitted(1)).to_string();
        assert!(newer < older, "{newer} sorts before {older}");
        assert_ne!(newer, same, "two tasks of one submission time differ");
        // Within the second it is due, the milliseconds do not reorder them: it is due at
        // the whole second after.
        let jittered = Queue::task_id_waiting(probe + TimeDelta::milliseconds(1), submitted(10));
        let due = time_of(&Queue::task_id_waiting(probe, submitted(1)));
        assert_eq!(time_of(&jittered), due);
        assert_eq!(due.timestamp(), probe.timestamp() + 1);
        assert_eq!(due.timestamp_subsec_millis(), 0);
        assert_eq!(
            due_second(due),
            due.timestamp() as u64,
            "a whole second stays"
        );
        // A later second still sorts after an earlier one, whatever was submitted when.
        let later = Queue::task_id_waiting(probe + TimeDelta::seconds(1), submitted(0));
        assert!(older < later.to_string());
    }
}
