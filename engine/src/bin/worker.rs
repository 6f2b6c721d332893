//! `worker`: runs datahog's job queues. Start any number of them beside the API.

use axum::Router;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use clap::Parser;
use engine::config::{LogConfig, StoreConfig, WorkerConfig};
use engine::context::JobContext;
use engine::dependencies::Dependencies;
use engine::{db, metrics, runtime, telemetry};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

/// mimalloc instead of glibc's allocator: a profile of the collect path put a quarter of
/// the worker's CPU in glibc's malloc and free (many small, short-lived allocations across
/// threads), which mimalloc's per-thread free lists serve for a fraction of that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The worker's configuration.
#[derive(Debug, Parser)]
#[command(
    name = "worker",
    version,
    about = "datahog worker: runs the platform's job queues and interval jobs. \
             Start any number of them beside the API (production mode)."
)]
struct Cli {
    /// Where to serve Prometheus metrics (`GET /metrics`); unset: not served.
    #[arg(long, env = "METRICS_LISTEN")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// When set, `/metrics` requires `Authorization: Bearer <token>`.
    #[arg(long, env = "METRICS_TOKEN", value_parser = engine::config::secret, hide_env_values = true)]
    metrics_token: Option<SecretString>,
    #[command(flatten)]
    store: StoreConfig,
    #[command(flatten)]
    log: LogConfig,
    #[command(flatten)]
    worker: WorkerConfig,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(&cli.log);
    // Installed before anything records a metric.
    let metrics = metrics::prometheus();
    cli.store.validate()?;
    cli.worker.validate()?;

    let cancel = runtime::cancel_on_signal();
    let Some(db) = db::connect_patiently(&cli.store, db::Use::Jobs, &cancel).await? else {
        return Ok(());
    };
    let ctx = JobContext::connect(db, &cli.store, cli.worker).await?;
    let deps = Dependencies::watch(ctx.db.clone(), ctx.queue.redis(), cancel.child_token());
    if let Some(addr) = cli.metrics_listen {
        let listener = engine::listen::bind(addr, "METRICS_LISTEN").await?;
        tracing::info!(addr = %listener.local_addr()?, "serving metrics at /metrics");
        tokio::spawn(serve_metrics(
            listener,
            metrics,
            cli.metrics_token,
            cancel.clone(),
        ));
    }
    let traces = ctx.traces.clone();
    let ran = runtime::run(ctx, deps, cancel).await;
    // Whatever the outcome, the spans that explain it are exported.
    traces.shutdown().await;
    ran?;
    Ok(())
}

/// Serves the process's Prometheus metrics until `cancel` fires.
async fn serve_metrics(
    listener: tokio::net::TcpListener,
    handle: metrics_exporter_prometheus::PrometheusHandle,
    token: Option<SecretString>,
    cancel: CancellationToken,
) {
    let app = Router::new().route(
        "/metrics",
        get(move |headers: HeaderMap| {
            let handle = handle.clone();
            let allowed = metrics::scrape_allowed(token.as_ref(), headers.get(AUTHORIZATION));
            async move {
                if allowed {
                    metrics::record_process_memory();
                    handle.render().into_response()
                } else {
                    (
                        StatusCode::UNAUTHORIZED,
                        "a valid metrics token is required\n",
                    )
                        .into_response()
                }
            }
        }),
    );
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await;
    if let Err(error) = served {
        tracing::error!(%error, "metrics listener failed");
    }
}
