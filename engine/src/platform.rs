//! The one composition root: the stores and shared state a process opens once, from which
//! both the api's handlers and the workers' `JobContext` are built.

use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret;

use crate::config::{StoreConfig, WorkerConfig};
use crate::context::ContextError;
use crate::counters::CounterBuffer;
use crate::delivery::receivers::Receivers;
use crate::delivery::secret_file::signing_secret;
use crate::delivery::signature::Secret;
use crate::flow::Flow;
use crate::providers::{ProviderHealth, Providers};
use crate::queue::Queue;
use crate::traces::Traces;

/// What a process opens once: the database, the queue (and with it the one Redis
/// connection), the counter buffer, provider and receiver health, the parsed providers and
/// the `default` tenant's secret, already applied.
#[derive(Clone)]
pub struct Platform {
    /// The database of record.
    pub db: DatabaseConnection,
    /// The job queue; in production it holds the process's one Redis connection.
    pub queue: Queue,
    /// The counter increment buffer (Redis, or the database when embedded).
    pub counters: CounterBuffer,
    /// Provider health, shared by every process.
    pub health: ProviderHealth,
    /// Receiver hosts' health and delivery slots, shared by every process.
    pub receivers: Receivers,
    /// The configured data providers.
    pub providers: Providers,
    /// Providers' and receivers' limits and pauses, shared by the api and the workers.
    pub flow: Flow,
    /// The process's OpenTelemetry tracer (off without an exporter).
    pub traces: Traces,
    /// The `default` tenant's secret: configured, or (embedded) kept beside the database;
    /// none in production without `WEBHOOK_SECRET`.
    pub default_secret: Option<Secret>,
    /// The store settings it was opened with.
    pub store: StoreConfig,
    /// The worker settings it was opened with.
    pub worker: WorkerConfig,
}

impl Platform {
    /// Connects to the database `store` names, then opens the rest (`with_database`).
    pub async fn open(store: &StoreConfig, worker: &WorkerConfig) -> Result<Self, ContextError> {
        let db = crate::db::connect(store, crate::db::Use::Requests).await?;
        Self::with_database(db, store, worker).await
    }

    /// Opens the queue, the buffer and both health stores over `db`, parses the providers,
    /// and makes the configured secret the `default` tenant's if it changed.
    pub async fn with_database(
        db: DatabaseConnection,
        store: &StoreConfig,
        worker: &WorkerConfig,
    ) -> Result<Self, ContextError> {
        let providers = Providers::parse(&worker.providers)?;
        let configured = worker.webhooks.webhook_secret.as_ref();
        let default_secret = signing_secret(store, configured.map(ExposeSecret::expose_secret))?;
        let traces = Traces::start(&worker.traces)?;
        let queue = Queue::connect(store, worker).await?;
        let redis = queue.redis();
        let platform = Platform {
            traces,
            counters: CounterBuffer::new(redis.clone(), &store.redis_prefix, &db),
            health: ProviderHealth::new(redis.clone(), &store.redis_prefix, &worker.providers),
            receivers: Receivers::new(redis.clone(), &store.redis_prefix, &worker.webhooks),
            flow: Flow::new(&db, redis, &store.redis_prefix, worker.tenant_queue_share),
            providers,
            default_secret,
            queue,
            db,
            store: store.clone(),
            worker: worker.clone(),
        };
        platform.apply_default_secret().await?;
        if let Some(conn) = platform.redis() {
            // In the background: Redis may still be down, and the process waits it out.
            tokio::spawn(crate::queue::durability::warn_at_start(conn));
        }
        Ok(platform)
    }

    /// The process's one Redis connection (none when embedded).
    pub fn redis(&self) -> Option<crate::queue::RedisConnection> {
        self.queue.redis()
    }

    /// Makes the configured secret the `default` tenant's, if it changed since last applied.
    pub async fn apply_default_secret(&self) -> Result<(), sea_orm::DbErr> {
        let Some(secret) = &self.default_secret else {
            return Ok(());
        };
        let applied = crate::tenants::apply_default_secret(
            &self.db,
            secret,
            self.worker.webhooks.secret_rotation_overlap,
        )
        .await?;
        if applied {
            // Named by where it came from: embedded without WEBHOOK_SECRET it is the file's.
            let file = self
                .store
                .sqlite_file()
                .filter(|_| self.worker.webhooks.webhook_secret.is_none());
            let source = file.map_or_else(|| "WEBHOOK_SECRET".to_owned(), |f| format!("{f}.whsec"));
            tracing::info!("the `default` tenant's signing secret is now the one from {source}");
        }
        Ok(())
    }
}
