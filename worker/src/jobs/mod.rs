//! Job kinds: one module each, with its payload and handler.

pub mod collect;
pub mod deliver;
pub mod flush_counters;
pub mod prune;
pub mod stream_tick;
pub mod sweep;
pub mod vacuum;

use std::sync::Arc;

use std::future::Future;
use std::time::Duration;

use apalis::prelude::{AbortError, Data};
use sea_orm::{DatabaseConnection, DbErr};
use secrecy::ExposeSecret;

use crate::backend::{Job, Queue, QueueError};
use crate::config::{ConfigError, StoreConfig, WorkerConfig};
use crate::counters::CounterBuffer;
use crate::counters::flush::FlushError;
use crate::delivery::Sender;
use crate::delivery::receivers::Receivers;
use crate::delivery::signature::Secret;
use crate::dependencies::Backoff;
use crate::providers::{ProviderClient, ProviderHealth, Providers};
use crate::schedule;

/// Every queue of the platform, so maintenance reaches them all.
pub const QUEUES: &[&str] = &[
    vacuum::VacuumTick::QUEUE,
    prune::PruneTick::QUEUE,
    flush_counters::FlushCounters::QUEUE,
    sweep::Sweep::QUEUE,
    crate::streams::StreamTick::QUEUE,
    crate::webhooks::Collect::QUEUE,
    crate::webhooks::Deliver::QUEUE,
];

/// What every handler gets: the stores, the outside world's clients, the configuration.
#[derive(Clone)]
pub struct JobContext {
    /// The database of record.
    pub db: DatabaseConnection,
    /// The job queue.
    pub queue: Queue,
    /// The counter increment buffer.
    pub counters: CounterBuffer,
    /// The configured data providers.
    pub providers: Providers,
    /// Fetches providers.
    pub client: ProviderClient,
    /// Provider health, shared by every worker process.
    pub health: ProviderHealth,
    /// Sends callbacks.
    pub sender: Sender,
    /// The configured (or, embedded, the generated) secret of the `default` tenant.
    pub default_secret: Secret,
    /// Receiver hosts' health and delivery slots, shared by every worker process.
    pub receivers: Receivers,
    /// The worker settings.
    pub config: Arc<WorkerConfig>,
}

/// Why the workers' context could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// The queue could not be opened.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// A configuration value cannot work.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// The database failed while the context was set up.
    #[error("database: {0}")]
    Database(#[from] DbErr),
    /// An HTTP client could not be built.
    #[error("http client: {0}")]
    Http(#[from] reqwest::Error),
    /// The embedded signing secret could not be read or created.
    #[error("signing secret file {path}: {reason}")]
    SecretFile {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

impl JobContext {
    /// Opens the queue, the counter buffer and provider health that `store` selects.
    pub async fn connect(
        db: DatabaseConnection,
        store: &StoreConfig,
        config: WorkerConfig,
    ) -> Result<Self, ContextError> {
        let queue = Queue::connect(store, &config).await?;
        let health = ProviderHealth::new(queue.redis(), &store.redis_prefix, &config.providers);
        let receivers = Receivers::new(queue.redis(), &store.redis_prefix, &config.webhooks);
        let ctx = Self::new(db, queue, health, receivers, store, config)?;
        ctx.apply_default_secret().await?;
        Ok(ctx)
    }

    /// Makes the configured secret the `default` tenant's, if it changed since last applied.
    pub async fn apply_default_secret(&self) -> Result<(), DbErr> {
        crate::tenants::apply_default_secret(
            &self.db,
            &self.default_secret,
            self.config.webhooks.secret_rotation_overlap,
        )
        .await
    }

    /// Builds the context around an open queue, provider and receiver health (which the
    /// embedded API shares with its workers).
    pub fn new(
        db: DatabaseConnection,
        queue: Queue,
        health: ProviderHealth,
        receivers: Receivers,
        store: &StoreConfig,
        config: WorkerConfig,
    ) -> Result<Self, ContextError> {
        let webhooks = &config.webhooks;
        let default_secret = signing_secret(
            store,
            webhooks
                .webhook_secret
                .as_ref()
                .map(ExposeSecret::expose_secret),
        )?;
        let sender = Sender::new(webhooks.delivery_timeout, webhooks.allow_private(store))?;
        Ok(JobContext {
            // The buffer shares the queue's Redis connection (embedded: the database).
            counters: CounterBuffer::new(queue.redis(), &store.redis_prefix, &db),
            providers: Providers::parse(&config.providers)?,
            client: ProviderClient::new(config.providers.provider_max_body)?,
            health,
            receivers,
            sender,
            default_secret,
            queue,
            db,
            config: Arc::new(config),
        })
    }
}

/// The callbacks' signing secret: the configured one, or (embedded) the one kept beside
/// the database file, created on first start.
fn signing_secret(store: &StoreConfig, configured: Option<&str>) -> Result<Secret, ContextError> {
    if let Some(text) = configured {
        return Secret::parse(text).map_err(|reason| {
            ContextError::Config(ConfigError {
                variable: "WEBHOOK_SECRET",
                reason,
            })
        });
    }
    let Some(path) = store.sqlite_file().filter(|_| store.embedded()) else {
        return Err(ContextError::Config(ConfigError {
            variable: "WEBHOOK_SECRET",
            reason: "required with REDIS_URL: every worker must sign with the same secret".into(),
        }));
    };
    let path = format!("{path}.whsec");
    let failed = |reason: String| ContextError::SecretFile {
        path: path.clone(),
        reason,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => Secret::parse(&text).map_err(failed),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = Secret::generate().map_err(|e| failed(e.to_string()))?;
            write_private(&path, &secret.to_text()).map_err(|e| failed(e.to_string()))?;
            tracing::info!(path = %path, "created the callback signing secret; receivers verify signatures with it (or set WEBHOOK_SECRET)");
            Ok(secret)
        }
        Err(e) => Err(failed(e.to_string())),
    }
}

/// Writes a file only its owner can read.
fn write_private(path: &str, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")
}

/// A job that runs once per interval slot across every worker process (see `schedule`).
pub trait IntervalJob: Job {
    /// Its name in `maintenance_runs`.
    const NAME: &'static str;

    /// The job of the slot starting at `slot` (unix seconds).
    fn for_slot(slot: i64) -> Self;

    /// The slot it was claimed for.
    fn slot(&self) -> i64;

    /// How often it runs.
    fn interval(config: &WorkerConfig) -> Duration;

    /// Does the work; returns how many items it handled (tasks removed, keys flushed).
    fn work(ctx: &JobContext) -> impl Future<Output = Result<u64, JobError>> + Send;
}

/// The handler of every interval job: does the work and records it on its slot. A failure
/// is logged and ends the task for good: the next slot does the same work from the
/// database's truth, while apalis would retry up to 25 times (immediately, on SQLite).
pub async fn run_interval<J: IntervalJob>(
    job: J,
    ctx: Data<JobContext>,
) -> Result<u64, AbortError> {
    let done = async {
        let items = J::work(&ctx).await?;
        schedule::finish(&ctx.db, J::NAME, job.slot(), items).await?;
        Ok::<_, JobError>(items)
    };
    done.await.map_err(|error| {
        let (job, slot) = (J::NAME, job.slot());
        tracing::error!(job, slot, %error, "interval job failed; the next slot will do its work");
        AbortError::new(error)
    })
}

/// In-process retries of a job after a transient store error, before it gives up and
/// leaves its webhook or stream to orphan recovery and the sweeper.
const TRANSIENT_RETRIES: u32 = 3;

/// Runs `attempt` again after a transient store error (a dropped connection, a timeout),
/// up to `TRANSIENT_RETRIES` times with a growing wait; handlers are idempotent, so a
/// second run reads the truth and carries on.
pub async fn retry_transient<F, Fut>(what: &str, mut attempt: F) -> Result<(), JobError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), JobError>>,
{
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(2));
    let mut retries = 0;
    loop {
        match attempt().await {
            Err(error) if error.is_transient() && retries < TRANSIENT_RETRIES => {
                retries += 1;
                let wait = backoff.next_wait();
                tracing::warn!(job = what, %error, retries, ?wait, "transient store error; retrying in-process");
                tokio::time::sleep(wait).await;
            }
            done => return done,
        }
    }
}

/// Why a job failed; apalis records it as the task's result.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The database refused or did not answer.
    #[error("database: {0}")]
    Database(#[from] DbErr),
    /// The queue refused or did not answer.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// A counter flush failed; its batch waits for the next one.
    #[error(transparent)]
    Flush(#[from] FlushError),
    /// Provider health could not be read or written.
    #[error(transparent)]
    Health(#[from] crate::providers::health::HealthError),
    /// A callback body could not be built.
    #[error("callback body: {0}")]
    Payload(String),
}

impl JobError {
    /// Whether trying again soon may succeed: a store that did not answer, not a bug or
    /// bad data.
    pub fn is_transient(&self) -> bool {
        match self {
            JobError::Database(error) => matches!(
                error,
                DbErr::Conn(_) | DbErr::ConnectionAcquire(_) | DbErr::Exec(_) | DbErr::Query(_)
            ),
            JobError::Queue(_) | JobError::Health(_) => true,
            JobError::Flush(_) | JobError::Payload(_) => false,
        }
    }
}
