//! `mock-providers`: flaky `gas` and `internet` providers for demos, tests and benchmarks.

use std::net::SocketAddr;

use clap::Parser;
use engine::config::LogConfig;
use engine::{runtime, telemetry};
use mock_providers::{self, MockConfig};

/// datahog mock providers: `GET /providers/{gas,internet}` with bills, a share of 500s,
/// latency and outages; `POST /admin/providers/{name}/down?seconds=N` takes one down.
#[derive(Debug, Parser)]
#[command(name = "mock-providers", version)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "MOCK_LISTEN", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    #[command(flatten)]
    mock: MockConfig,
    #[command(flatten)]
    log: LogConfig,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(&cli.log);
    cli.mock.validate()?;
    let listener = engine::listen::bind(cli.listen, "MOCK_LISTEN").await?;
    tracing::info!(addr = %listener.local_addr()?, "mock providers serving /providers/gas and /providers/internet");
    mock_providers::serve(listener, cli.mock, runtime::cancel_on_signal()).await?;
    Ok(())
}
