//! `worker`: runs datahog's job queues. Start any number of them beside the API.

use clap::Parser;
use worker::config::{LogConfig, StoreConfig, WorkerConfig};
use worker::jobs::JobContext;
use worker::{db, runtime, telemetry};

/// The worker's configuration.
#[derive(Debug, Parser)]
#[command(
    name = "worker",
    version,
    about = "datahog worker: runs the platform's job queues and interval jobs. \
             Start any number of them beside the API (production mode)."
)]
struct Cli {
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
    cli.store.validate()?;
    cli.worker.validate()?;

    let db = db::connect(&cli.store).await?;
    let ctx = JobContext::connect(db, &cli.store, cli.worker).await?;

    runtime::run(ctx, runtime::cancel_on_signal()).await?;
    Ok(())
}
