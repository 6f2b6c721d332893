//! `api`: datahog's HTTP API. Without REDIS_URL it runs the whole platform embedded.

use std::io::Write;

use api::config::ApiConfig;
use api::routes::SWAGGER_PATH;
use clap::Parser;
use tokio::net::TcpListener;
use worker::{runtime, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ApiConfig::parse();
    telemetry::init(&config.log);
    config.validate()?;

    let listener = TcpListener::bind(config.listen_addr).await?;
    let addr = listener.local_addr()?;
    let mode = if config.store.embedded() {
        "embedded: SQLite, workers in this process"
    } else {
        "production: Redis queue, workers in worker processes"
    };
    tracing::info!(%addr, mode, database = %config.store.database_for_log(), "datahog API starting");
    // Not println!: it panics when stdout is a closed pipe.
    let _ = writeln!(
        std::io::stdout(),
        "datahog API:  http://{addr}/  ({mode})\nSwagger UI:   http://{addr}{SWAGGER_PATH}/"
    );

    api::server::run(config, listener, runtime::cancel_on_signal()).await?;
    tracing::info!("datahog API stopped");
    Ok(())
}
