//! `TestEngine`: the engine's stores and clients for one test, on its own database and
//! Redis key prefix, with workers run in this process when the test asks for them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use engine::config::{StoreConfig, WorkerConfig};
use engine::context::JobContext;
use engine::counters;
use engine::tenants::DEFAULT_TENANT;
pub use engine::testing::{Mode, WorkerGuard};
use engine::testing::{Settings, TEST_SECRET, fresh_postgres_database, redis_url, unique_name};
use entity::webhook::{self, WebhookStatus};
use entity::{counter, delivery_attempt, stream_batch, webhook_provider};
use futures::StreamExt;
use redis::AsyncCommands;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};
use wiremock::MockServer;

/// The engine of one test: its settings and the context every job handler gets.
pub struct TestEngine {
    /// Where its state lives.
    pub store: StoreConfig,
    /// The workers' settings.
    pub worker: WorkerConfig,
    /// The stores and clients, shared with the workers of `run_workers` (embedded, provider
    /// and receiver health live in this process's memory).
    pub ctx: JobContext,
    _dir: Option<tempfile::TempDir>,
}

impl TestEngine {
    /// An engine in `mode` with defaults suited to tests.
    pub async fn start(mode: Mode) -> TestEngine {
        Self::start_with(mode, |_| {}).await
    }

    /// An engine in `mode` with defaults suited to tests, then `tweak`ed.
    pub async fn start_with(mode: Mode, tweak: impl FnOnce(&mut WorkerConfig)) -> TestEngine {
        let (database_url, redis, dir) = match mode {
            Mode::Production => (fresh_postgres_database().await, Some(redis_url()), None),
            Mode::Embedded => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}/datahog.db?mode=rwc", dir.path().display());
                (url, None, Some(dir))
            }
        };
        let Settings {
            mut store,
            mut worker,
        } = Settings::on(&database_url, redis.as_deref(), &unique_name());
        store.database_max_connections = 5;
        // Tests flush, vacuum and sweep by hand; the ones about schedules set their own.
        worker.counter_flush_interval = Duration::from_secs(24 * 3600);
        worker.maintenance.vacuum_interval = Duration::from_secs(24 * 3600);
        worker.maintenance.sweep_interval = Duration::from_secs(24 * 3600);
        worker.webhooks.webhook_secret = Some(TEST_SECRET.into());
        // Providers and receivers are wiremock servers on loopback.
        worker.webhooks.callback_allow_private = Some(true);
        worker.webhooks.delivery_jitter = 0.0;
        tweak(&mut worker);
        let db = engine::db::connect(&store, engine::db::Use::Jobs)
            .await
            .expect("database");
        let ctx = JobContext::connect(db, &store, worker.clone())
            .await
            .expect("job context");
        TestEngine {
            store,
            worker,
            ctx,
            _dir: dir,
        }
    }

    /// The database.
    pub fn db(&self) -> &DatabaseConnection {
        &self.ctx.db
    }

    /// Runs every worker and scheduler on this engine's context until the guard drops.
    pub fn run_workers(&self) -> WorkerGuard {
        engine::testing::run_workers(self.ctx.clone())
    }

    /// In production mode, another worker process's workers on the same stores, with their
    /// settings changed by `tweak`, until the guard drops.
    pub fn spawn_worker_with(&self, tweak: impl FnOnce(&mut WorkerConfig)) -> WorkerGuard {
        assert!(
            !self.store.embedded(),
            "embedded mode has one worker process"
        );
        let mut worker = self.worker.clone();
        tweak(&mut worker);
        engine::testing::spawn_worker(self.store.clone(), worker)
    }

    /// In production mode, another worker process on the same stores.
    pub fn spawn_worker(&self) -> WorkerGuard {
        self.spawn_worker_with(|_| {})
    }

    /// Submits a webhook collecting `providers` for `callback`, as the api would; its id.
    pub async fn submit(&self, providers: &[&str], callback: &str) -> String {
        let ctx = &self.ctx;
        engine::testing::submit(
            &ctx.db,
            &ctx.queue,
            &ctx.config.webhooks,
            providers,
            callback,
        )
        .await
    }

    /// Webhook `id`, which must exist.
    pub async fn webhook(&self, id: &str) -> webhook::Model {
        webhook::Entity::find_by_id(id)
            .one(self.db())
            .await
            .expect("read the webhook")
            .unwrap_or_else(|| panic!("no webhook {id}"))
    }

    /// Waits until webhook `id` is `status`; panics after `deadline`.
    pub async fn webhook_in(
        &self,
        id: &str,
        status: WebhookStatus,
        deadline: Duration,
    ) -> webhook::Model {
        let until = Instant::now() + deadline;
        loop {
            let found = self.webhook(id).await;
            if found.status == status {
                return found;
            }
            assert!(
                Instant::now() < until,
                "webhook never became {status:?}; last seen: {found:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Webhook `id`'s delivery attempts, oldest first.
    pub async fn attempts(&self, id: &str) -> Vec<delivery_attempt::Model> {
        delivery_attempt::Entity::find()
            .filter(delivery_attempt::Column::WebhookId.eq(id))
            .order_by_asc(delivery_attempt::Column::Number)
            .order_by_asc(delivery_attempt::Column::Id)
            .all(self.db())
            .await
            .expect("read the attempts")
    }

    /// Stream `id`'s batches, newest first.
    pub async fn batches(&self, id: &str) -> Vec<stream_batch::Model> {
        stream_batch::Entity::find()
            .filter(stream_batch::Column::StreamId.eq(id))
            .order_by_desc(stream_batch::Column::Slot)
            .all(self.db())
            .await
            .expect("read the batches")
    }

    /// Adds each `(key, delta)` to the `default` tenant's counters, straight into the
    /// buffer as the api does, many at once; every one must be accepted.
    pub async fn buffer(&self, increments: &[(String, i64)]) {
        let failed = futures::stream::iter(increments)
            .map(|(key, delta)| self.ctx.counters.increment(DEFAULT_TENANT, key, *delta))
            .buffer_unordered(64)
            .filter(|result| std::future::ready(result.is_err()))
            .count()
            .await;
        assert_eq!(failed, 0, "every increment is buffered");
    }

    /// The `default` tenant's counter `key` as the api shows it.
    pub async fn counter(&self, key: &str) -> CounterView {
        let state = counters::read(self.db(), &self.ctx.counters, DEFAULT_TENANT, key)
            .await
            .expect("read the counter");
        let persisted = state.persisted.map_or(0, |(value, _)| value);
        CounterView {
            value: persisted.saturating_add(state.pending),
            pending: state.pending,
        }
    }

    /// Every persisted counter, by key.
    pub async fn persisted(&self) -> BTreeMap<String, i64> {
        counter::Entity::find()
            .all(self.db())
            .await
            .expect("read the counters")
            .into_iter()
            .map(|c| (c.key, c.value))
            .collect()
    }

    /// Tasks of job queue `queue` in Redis, whatever their state (production mode).
    pub async fn queued_tasks(&self, queue: &str) -> usize {
        // The platform's own connection, so this reads a cluster too.
        let mut redis =
            engine::queue::redis::connection(&redis_url(), Duration::from_secs(5)).unwrap();
        redis
            .hlen(format!("{{{}:{queue}}}:data", self.store.redis_prefix))
            .await
            .unwrap()
    }
}

/// The settings of the webhook tests: providers `gas` and `internet` at `server`, two
/// delivery attempts a second apart, and provider cool-downs short enough to wait out.
pub fn webhook_settings(worker: &mut WorkerConfig, server: &MockServer) {
    worker.providers.providers = vec![
        format!("gas={}/gas", server.uri()),
        format!("internet={}/internet", server.uri()),
    ];
    worker.webhooks.delivery_schedule = vec![Duration::ZERO, Duration::from_secs(1)];
    worker.providers.provider_cooldown_min = Duration::from_millis(500);
    worker.providers.provider_cooldown_max = Duration::from_secs(1);
}

/// A counter as `GET /v1/counters/{key}` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterView {
    /// The persisted total plus what is buffered.
    pub value: i64,
    /// What is buffered, not yet in the persisted total.
    pub pending: i64,
}

/// Webhook `id`'s provider results and delivery attempts: how many of each.
pub async fn rows_of(db: &DatabaseConnection, id: &str) -> (u64, u64) {
    let providers = webhook_provider::Entity::find()
        .filter(webhook_provider::Column::WebhookId.eq(id))
        .count(db)
        .await
        .unwrap();
    let attempts = delivery_attempt::Entity::find()
        .filter(delivery_attempt::Column::WebhookId.eq(id))
        .count(db)
        .await
        .unwrap();
    (providers, attempts)
}
