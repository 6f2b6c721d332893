//! `api`: datahog's HTTP API. Without REDIS_URL it runs the whole platform embedded.

use std::io::Write;

use api::config::ApiConfig;
use api::routes::SWAGGER_PATH;
use clap::Parser;
use engine::{runtime, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ApiConfig::parse();
    telemetry::init(&config.log);
    config.validate()?;

    let listener = engine::listen::bind(config.listen_addr, "LISTEN_ADDR").await?;
    let addr = listener.local_addr()?;
    let mode = if config.store.embedded() {
        "embedded: SQLite, workers in this process"
    } else {
        "production: Redis queue, workers in worker processes"
    };
    let access = if config.open_access() {
        "open: no key needed, every request is tenant `default` (set ADMIN_API_KEY or API_KEYS to require keys)"
    } else {
        "keys required: Authorization: Bearer <key>"
    };
    tracing::info!(%addr, mode, access, database = %config.store.database_for_log(), "datahog API starting");
    // Printed once every route answers (the database may keep it waiting). Not println!:
    // it panics when stdout is a closed pipe.
    let banner = move || {
        let _ = writeln!(
            std::io::stdout(),
            "datahog API:  http://{addr}/  ({mode})\nConsole:      http://{addr}/console/\nSwagger UI:   http://{addr}{SWAGGER_PATH}/\nAccess:       {access}"
        );
    };
    api::server::run_announcing(config, listener, runtime::cancel_on_signal(), banner).await?;
    tracing::info!("datahog API stopped");
    Ok(())
}
