//! Starting and stopping the API: connect, (embedded) start the workers, serve until told
//! to stop, then let in-flight requests finish.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DbErr;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use worker::backend::QueueError;
use worker::config::ConfigError;
use worker::counters::CounterBuffer;
use worker::jobs::JobContext;
use worker::runtime::RuntimeError;

use crate::cache::{SharedTier, TieredCache};
use crate::config::ApiConfig;
use crate::http::auth::ApiKeys;
use crate::state::{AppState, Shared};
use crate::vehicles::VehicleStates;
use crate::{metrics, routes};

/// Why the API could not start, or stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A configuration value cannot work.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// The database could not be reached or migrated.
    #[error("database: {0}")]
    Database(#[from] DbErr),
    /// The Redis URL is unusable.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The embedded queue could not be opened.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The embedded workers stopped on their own.
    #[error("embedded workers: {0}")]
    Workers(#[from] RuntimeError),
    /// Serving failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    /// A task of the server panicked.
    #[error("server task: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Serves the API on `listener` until `shutdown` fires; when embedded (no Redis), runs the
/// workers in this process too, and stops everything if they die.
pub async fn run(
    config: ApiConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    config.validate()?;
    let db = worker::db::connect(&config.store).await?;
    let redis = match &config.store.redis_url {
        Some(url) => Some(worker::backend::redis::connection(
            url,
            config.store.redis_timeout,
        )?),
        None => None,
    };
    let shared = redis.clone().map(|conn| {
        SharedTier::new(
            conn,
            format!("{}:cache:", config.store.redis_prefix),
            config.cache.cache_redis_timeout,
        )
    });
    let cache = TieredCache::new(
        "vehicle_state",
        config.cache.cache_max_staleness,
        config.cache.cache_local_ttl,
        config.cache.cache_local_capacity,
        shared,
    );
    let counters = CounterBuffer::new(redis.clone(), &config.store.redis_prefix, &db);
    let state = AppState::new(Shared {
        db: db.clone(),
        counters,
        redis,
        vehicles: VehicleStates::new(db.clone(), cache),
        metrics: metrics::handle(),
    });

    let workers = if config.store.embedded() {
        let ctx = JobContext::connect(db, &config.store, config.worker.clone()).await?;
        Some(tokio::spawn(worker::runtime::run(
            ctx,
            shutdown.child_token(),
        )))
    } else {
        None
    };

    let keys = ApiKeys(Arc::new(config.http.key_set()));
    let app = routes::router(state, keys, &config.http);
    let stop = shutdown.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
    });
    let server = drain(server, shutdown.clone(), config.http.shutdown_timeout);

    let Some(mut workers) = workers else {
        return server.await;
    };
    tokio::pin!(server);
    tokio::select! {
        served = &mut server => {
            shutdown.cancel();
            served?;
            workers.await??;
        }
        stopped = &mut workers => {
            tracing::error!("embedded workers stopped; shutting the API down");
            shutdown.cancel();
            server.await?;
            stopped??;
        }
    }
    Ok(())
}

/// Waits for the server; once `shutdown` fires, gives in-flight requests `grace` to
/// finish, then drops them.
async fn drain(
    mut server: JoinHandle<std::io::Result<()>>,
    shutdown: CancellationToken,
    grace: Duration,
) -> Result<(), ServeError> {
    let deadline = async {
        shutdown.cancelled().await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        served = &mut server => Ok(served??),
        () = deadline => {
            tracing::warn!(?grace, "requests still in flight after the shutdown timeout; dropping them");
            server.abort();
            Ok(())
        }
    }
}
