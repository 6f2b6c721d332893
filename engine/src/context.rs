//! What every job handler gets: the stores, the outside world's clients and the
//! configuration, opened once per process.

use std::sync::Arc;

use sea_orm::{DatabaseConnection, DbErr};
use secrecy::ExposeSecret;

use crate::config::{ConfigError, StoreConfig, WorkerConfig};
use crate::counters::CounterBuffer;
use crate::delivery::Sender;
use crate::delivery::receivers::Receivers;
use crate::delivery::secret_file::signing_secret;
use crate::delivery::signature::Secret;
use crate::providers::{ProviderClient, ProviderHealth, Providers};
use crate::queue::{Queue, QueueError};

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
