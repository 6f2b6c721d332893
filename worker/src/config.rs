//! Configuration shared by the `worker` and `api` binaries, from flags and environment.

use std::time::Duration;

use clap::{ArgAction, Args, ValueEnum};

/// Where the platform's state lives.
#[derive(Debug, Clone, Args)]
pub struct StoreConfig {
    /// Database: `sqlite://FILE?mode=rwc` (embedded) or `postgres://USER:PASS@HOST/DB`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://datahog.db?mode=rwc"
    )]
    pub database_url: String,

    /// Maximum connections in the database pool.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub database_max_connections: u32,

    /// Redis (`redis://HOST:PORT/DB`). Unset means embedded mode: the queue lives in the
    /// SQLite database and the `api` process runs the workers itself.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key and queue name, so several deployments can share a Redis.
    #[arg(long, env = "REDIS_PREFIX", default_value = "datahog")]
    pub redis_prefix: String,

    /// How long a Redis command may take before it fails (redis-rs defaults to 500 ms,
    /// which kills apalis workers under load).
    #[arg(long, env = "REDIS_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub redis_timeout: Duration,

    /// Apply pending database migrations at start.
    #[arg(long, env = "MIGRATE", default_value_t = true, action = ArgAction::Set)]
    pub migrate: bool,
}

impl StoreConfig {
    /// Whether this process runs embedded (no Redis: SQLite queue, workers in the api).
    pub fn embedded(&self) -> bool {
        self.redis_url.is_none()
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// JSON lines, unless standard output is a terminal.
    Auto,
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Pretty,
}

/// Logging.
#[derive(Debug, Clone, Args)]
pub struct LogConfig {
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,

    /// Log filter, in `tracing` `EnvFilter` syntax.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

/// The workers and their schedules.
#[derive(Debug, Clone, Args)]
pub struct WorkerConfig {
    /// Jobs one worker process runs at once, per queue.
    #[arg(long, env = "WORKER_CONCURRENCY", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub worker_concurrency: u32,

    /// How often an idle worker looks for new jobs.
    #[arg(long, env = "WORKER_POLL_INTERVAL", default_value = "200ms", value_parser = humantime::parse_duration)]
    pub worker_poll_interval: Duration,

    /// How often a worker tells the queue it is alive.
    #[arg(long, env = "WORKER_HEARTBEAT_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub worker_heartbeat_interval: Duration,

    /// Heartbeats a worker may miss before its jobs are handed to another worker.
    #[arg(long, env = "WORKER_MISSED_HEARTBEATS", default_value_t = 6,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub worker_missed_heartbeats: u32,

    /// Longest a single job may run before it is abandoned.
    #[arg(long, env = "WORKER_JOB_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub worker_job_timeout: Duration,

    /// On SIGTERM, how long running jobs get to finish before the process exits anyway.
    #[arg(long, env = "WORKER_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub worker_shutdown_timeout: Duration,

    /// How often finished queue tasks are vacuumed (once per interval across all workers).
    #[arg(long, env = "VACUUM_INTERVAL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub vacuum_interval: Duration,

    /// Finished and dead queue tasks older than this are removed by the vacuum.
    #[arg(long, env = "VACUUM_MAX_AGE", default_value = "24h", value_parser = humantime::parse_duration)]
    pub vacuum_max_age: Duration,

    /// How often buffered counter increments are flushed to the database (once per
    /// interval across all workers, and once more when a worker stops).
    #[arg(long, env = "COUNTER_FLUSH_INTERVAL", default_value = "10s", value_parser = humantime::parse_duration)]
    pub counter_flush_interval: Duration,

    /// How long the record of each maintenance run (`maintenance_runs`) is kept.
    #[arg(long, env = "MAINTENANCE_RETENTION", default_value = "7d", value_parser = humantime::parse_duration)]
    pub maintenance_retention: Duration,
}

/// A configuration value that cannot work, named by its variable.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    /// The environment variable (or flag) at fault.
    pub variable: &'static str,
    /// Why it was refused.
    pub reason: String,
}

impl WorkerConfig {
    /// Checks what clap's parsers cannot: relations between values.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.worker_poll_interval.is_zero() {
            return Err(ConfigError {
                variable: "WORKER_POLL_INTERVAL",
                reason: "must be above zero".into(),
            });
        }
        if self.counter_flush_interval < Duration::from_secs(1) {
            return Err(ConfigError {
                variable: "COUNTER_FLUSH_INTERVAL",
                reason: "must be at least 1s (slots are whole seconds)".into(),
            });
        }
        if self.vacuum_interval < Duration::from_secs(1) {
            return Err(ConfigError {
                variable: "VACUUM_INTERVAL",
                reason: "must be at least 1s (slots are whole seconds)".into(),
            });
        }
        Ok(())
    }
}

impl StoreConfig {
    /// Checks the combination of stores.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.embedded() && !self.database_url.starts_with("sqlite:") {
            return Err(ConfigError {
                variable: "DATABASE_URL",
                reason: "REDIS_URL is unset (embedded mode), so the queue lives in the database, \
                         which must then be a sqlite: URL"
                    .into(),
            });
        }
        Ok(())
    }
}
