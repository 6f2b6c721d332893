//! Starting and stopping the API: connect, (embedded) start the workers, serve until told
//! to stop, then let in-flight requests finish.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::ConnectInfo;
use engine::config::ConfigError;
use engine::context::{ContextError, JobContext};
use engine::dependencies::Dependencies;
use engine::platform::Platform;
use engine::queue::QueueError;
use engine::runtime::RuntimeError;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use sea_orm::DbErr;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::config::{ApiConfig, HttpConfig};
use crate::starting::Gate;
use crate::state::{AppState, Shared};
use crate::tenants::keys::KeyRing;
use crate::vehicles::VehicleStates;
use crate::vehicles::cache::{SharedTier, TieredCache};
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
    /// The embedded queue could not be opened.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The embedded workers could not be set up.
    #[error(transparent)]
    Context(#[from] ContextError),
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
/// workers in this process too, and stops everything if they die. `config` has passed
/// `ApiConfig::validate` (the binary checks it before printing where it serves).
pub async fn run(
    config: ApiConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    run_announcing(config, listener, shutdown, || {}).await
}

/// `run`, calling `announce` once the API serves every route: it answers `/health` (and
/// 503s elsewhere) from the start, and waits out a database that does not answer yet
/// instead of exiting, as the workers do.
pub async fn run_announcing(
    mut config: ApiConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
    announce: impl FnOnce(),
) -> Result<(), ServeError> {
    // Detached: it stops with `shutdown`.
    let _mocks = if config.runs_mock_providers() {
        Some(start_mock_providers(&mut config, &shutdown).await?)
    } else {
        None
    };
    let gate = Gate::new(config.store.embedded());
    let server = tokio::spawn(serve(
        listener,
        gate.clone(),
        ConnectionLimits::from(&config.http),
        shutdown.clone(),
    ));
    // What the trim also tidies once the app is open: its vehicle cache.
    let opened_state = Arc::new(OnceLock::new());
    if !config.http.memory_trim_interval.is_zero() {
        // Detached: it stops with `shutdown`.
        tokio::spawn(crate::memory::trim_periodically(
            config.http.memory_trim_interval,
            shutdown.child_token(),
            opened_state.clone(),
        ));
    }
    let server = drain(server, shutdown.clone(), config.http.shutdown_timeout);
    tokio::pin!(server);
    let opened = tokio::select! {
        opened = open(&config, &shutdown) => opened,
        // Serving stopped on its own before the database answered.
        served = &mut server => return served,
    };
    let workers = match opened {
        Ok(Some((state, app, workers))) => {
            let _ = opened_state.set(state);
            gate.open(app);
            announce();
            workers
        }
        Ok(None) => None,
        Err(error) => {
            shutdown.cancel();
            return Err(error);
        }
    };

    let Some(mut workers) = workers else {
        let served = server.await;
        export_last_spans(&opened_state).await;
        return served;
    };
    let stopped = async {
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
    .await;
    export_last_spans(&opened_state).await;
    stopped
}

/// Exports the spans still waiting, once the app has stopped.
async fn export_last_spans(state: &OnceLock<AppState>) {
    if let Some(state) = state.get() {
        state.traces.shutdown().await;
    }
}

/// The embedded workers' task.
type Workers = JoinHandle<Result<(), RuntimeError>>;

/// Once the database answers (`None` if `shutdown` fires first, the wait logged as the
/// workers log theirs): the platform over it, the app's state and router over the platform
/// and, embedded, the workers started.
async fn open(
    config: &ApiConfig,
    shutdown: &CancellationToken,
) -> Result<Option<(AppState, axum::Router, Option<Workers>)>, ServeError> {
    let Some(db) =
        engine::db::connect_patiently(&config.store, engine::db::Use::Requests, shutdown).await?
    else {
        return Ok(None);
    };
    let platform = Platform::with_database(db, &config.store, &config.worker).await?;
    let db = platform.db.clone();
    crate::tenants::keys::register_configured(
        &db,
        &config.http.key_set().into_iter().collect::<Vec<_>>(),
    )
    .await?;
    let keys = Arc::new(KeyRing::new(
        db.clone(),
        &config.tenants,
        config.open_access(),
    ));
    let redis = platform.redis();
    // Probed for the whole life of the process: the gauge, the outage log, and (embedded)
    // when the workers may restart.
    let deps = Dependencies::watch(db.clone(), redis.clone(), shutdown.child_token());
    let workers = if config.store.embedded() {
        // The workers share this process's platform (queue, health, buffer) with the handlers.
        let ctx = JobContext::new(&platform)?;
        Some(tokio::spawn(engine::runtime::run(
            ctx,
            deps,
            shutdown.child_token(),
        )))
    } else {
        None
    };
    let replica = engine::db::connect_replica(&config.store).await?;
    let state = app_state(config, platform, keys, replica);
    Ok(Some((
        state.clone(),
        routes::router(state, &config.http),
        workers,
    )))
}

/// What the handlers share: the platform's stores and health, the vehicle cache, the keys.
fn app_state(
    config: &ApiConfig,
    platform: Platform,
    keys: Arc<KeyRing>,
    replica: Option<sea_orm::DatabaseConnection>,
) -> AppState {
    let redis = platform.redis();
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
    AppState::new(Shared {
        inserts: engine::webhooks::inserts::Inserts::new(&platform.db),
        db: platform.db.clone(),
        counters: platform.counters,
        redis,
        // Lookups read the replica when there is one: they answer while the primary is away.
        vehicles: VehicleStates::new(replica.clone().unwrap_or(platform.db), cache),
        replica,
        metrics: metrics::handle(),
        queue: platform.queue,
        providers: platform.providers,
        health: platform.health,
        receivers: platform.receivers,
        flow: platform.flow,
        traces: platform.traces,
        allow_private_callbacks: config.worker.webhooks.allow_private(&config.store),
        webhooks: config.worker.webhooks.clone(),
        streams: config.worker.streams.clone(),
        queue_stall_after: config.worker.queue_stall_after,
        keys,
        metrics_token: config.http.metrics_token.clone(),
    })
}

/// What one client connection may hold.
#[derive(Debug, Clone, Copy)]
struct ConnectionLimits {
    /// Connections open at once; beyond it a new one is closed as soon as it is accepted.
    max_connections: usize,
    /// Largest request head, and so the most a connection's read buffer grows to.
    max_header_bytes: usize,
    /// Longest a client may take to send a request's headers.
    header_read_timeout: Duration,
}

impl From<&HttpConfig> for ConnectionLimits {
    fn from(http: &HttpConfig) -> Self {
        Self {
            max_connections: http.max_connections as usize,
            max_header_bytes: http.max_header_bytes as usize,
            header_read_timeout: http.header_read_timeout,
        }
    }
}

/// Serves `app` on `listener` over HTTP/1.1 until `stop` fires, then waits for the open
/// connections to finish their requests. Unlike `axum::serve`, it closes a connection whose
/// request headers take longer than `header_read_timeout` to arrive or exceed
/// `max_header_bytes`, and holds at most `max_connections` connections at once.
async fn serve(
    listener: TcpListener,
    app: Gate,
    limits: ConnectionLimits,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        // hyper lets a read buffer grow to ~400 KiB while a head is incomplete: a few
        // thousand half-sent heads then held hundreds of megabytes.
        .max_buf_size(limits.max_header_bytes);
    let places = Arc::new(Semaphore::new(limits.max_connections));
    let connections = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, mostly: wait a little rather than spin.
                    tracing::warn!(%error, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // Closed rather than left in the backlog: a client told at once can go elsewhere.
        let Ok(place) = places.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "too many connections; closing a new one");
            ::metrics::counter!("datahog_connections_refused_total").increment(1);
            drop(stream);
            continue;
        };
        // The client's address goes with each request: failed authentications count per
        // address.
        let service = TowerToHyperService::new(app.clone().map_request(
            move |request: hyper::Request<Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        ));
        let connection = connections.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection closed with an error");
            }
            drop(place);
        });
    }
    drop(listener);
    connections.shutdown().await;
    Ok(())
}

/// Starts the built-in mock providers on their own port and points the providers at
/// them, so the embedded demo works with nothing else running.
async fn start_mock_providers(
    config: &mut ApiConfig,
    shutdown: &CancellationToken,
) -> Result<JoinHandle<std::io::Result<()>>, ServeError> {
    let listener =
        engine::listen::bind(config.mock_providers_listen, "MOCK_PROVIDERS_LISTEN").await?;
    let addr = listener.local_addr()?;
    config.worker.providers.providers = ["gas", "internet"]
        .iter()
        .map(|name| format!("{name}=http://{addr}/providers/{name}"))
        .collect();
    tracing::info!(%addr, "mock providers started for the embedded demo (set PROVIDERS to use real ones)");
    Ok(tokio::spawn(mock_providers::serve(
        listener,
        config.mock.clone(),
        shutdown.child_token(),
    )))
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
