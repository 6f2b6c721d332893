//! What every job handler gets: the stores, the outside world's clients and the
//! configuration, opened once per process.

use std::sync::Arc;

use sea_orm::{DatabaseConnection, DbErr};

use crate::config::{ConfigError, StoreConfig, WorkerConfig};
use crate::counters::CounterBuffer;
use crate::delivery::Sender;
use crate::delivery::receivers::Receivers;
use crate::delivery::secrets::SigningSecrets;
use crate::delivery::signature::Secret;
use crate::flow::Flow;
use crate::platform::Platform;
use crate::providers::{ProviderClient, ProviderHealth, Providers};
use crate::queue::{Queue, QueueError};
use crate::traces::Traces;
use crate::webhooks::group_commit::GroupCommit;

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
    /// Claims and provider results, written for many jobs at once.
    pub group_commit: GroupCommit,
    /// The tenants' signing secrets, cached for a second.
    pub secrets: SigningSecrets,
    /// Providers' and receivers' limits and pauses.
    pub flow: Flow,
    /// The process's OpenTelemetry tracer.
    pub traces: Traces,
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
    /// The trace exporter could not be set up.
    #[error(transparent)]
    Traces(#[from] crate::traces::TraceSetupError),
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
    /// Opens the platform over `db` and builds the workers' context from it.
    pub async fn connect(
        db: DatabaseConnection,
        store: &StoreConfig,
        config: WorkerConfig,
    ) -> Result<Self, ContextError> {
        Self::new(&Platform::with_database(db, store, &config).await?)
    }

    /// The workers' context over an open platform (which the embedded api shares with its
    /// workers): its stores, plus the clients that call providers and receivers.
    pub fn new(platform: &Platform) -> Result<Self, ContextError> {
        let default_secret = platform.default_secret.clone().ok_or_else(|| ConfigError {
            variable: "WEBHOOK_SECRET",
            reason: "required with REDIS_URL: every worker must sign with the same secret".into(),
        })?;
        let config = &platform.worker;
        let webhooks = &config.webhooks;
        let sender = Sender::new(
            webhooks.delivery_timeout,
            webhooks.allow_private(&platform.store),
        )?;
        Ok(JobContext {
            counters: platform.counters.clone(),
            providers: platform.providers.clone(),
            client: ProviderClient::new(config.providers.provider_max_body)?,
            health: platform.health.clone(),
            receivers: platform.receivers.clone(),
            sender,
            default_secret,
            queue: platform.queue.clone(),
            db: platform.db.clone(),
            config: Arc::new(config.clone()),
            group_commit: GroupCommit::new(&platform.db),
            secrets: SigningSecrets::default(),
            flow: platform.flow.clone(),
            traces: platform.traces.clone(),
        })
    }
}
