//! Configuration shared by the `worker` and `api` binaries, from flags and environment.

use std::time::Duration;

use clap::{ArgAction, Args, ValueEnum};
use secrecy::{ExposeSecret, SecretString};

mod values;

pub use values::{MaybeUrl, maybe_url, millis, positive_duration, ratio, secret, slot_interval};

/// Where the platform's state lives.
#[derive(Debug, Clone, Args)]
pub struct StoreConfig {
    /// Database: `sqlite://FILE?mode=rwc` (embedded) or `postgres://USER:PASS@HOST/DB`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://datahog.db?mode=rwc",
        value_parser = secret,
        hide_env_values = true
    )]
    pub database_url: SecretString,

    /// A streaming replica of the database (`postgres://…`), optional: vehicle lookups
    /// read from it, so they go on answering while the primary is away; everything else
    /// (writes, and whatever a job reads after writing) stays on `DATABASE_URL`.
    #[arg(long, env = "DATABASE_REPLICA_URL", value_parser = secret, hide_env_values = true)]
    pub database_replica_url: Option<SecretString>,

    /// Maximum connections in the database pool.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub database_max_connections: u32,

    /// Redis (`redis://HOST:PORT/DB`), or a Redis Cluster by its seed nodes
    /// (`redis+cluster://HOST:PORT,HOST:PORT`). Unset means embedded mode: the queue lives
    /// in the SQLite database and the `api` process runs the workers itself.
    #[arg(long, env = "REDIS_URL", value_parser = secret, hide_env_values = true)]
    pub redis_url: Option<SecretString>,

    /// `REDIS_URL` names a node of a Redis Cluster (a managed cluster's configuration
    /// endpoint, say): the rest of the cluster is discovered from it. Implied by a
    /// `redis+cluster://` URL.
    #[arg(long, env = "REDIS_CLUSTER", default_value_t = false, action = ArgAction::Set)]
    pub redis_cluster: bool,

    /// Prefix of every Redis key and queue name, so several deployments can share a Redis.
    #[arg(long, env = "REDIS_PREFIX", default_value = "datahog")]
    pub redis_prefix: String,

    /// How many shards each queue is split into: a job goes to one by a hash of what it is
    /// for (a webhook's id), and every worker fetches from all, a kind's concurrency split
    /// between them (at least one job each). On a Redis Cluster each shard is a hash slot of
    /// its own, so more shards spread a queue over more nodes. Every api and worker of a
    /// deployment must use the same number.
    #[arg(long, env = "QUEUE_SHARDS", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub queue_shards: u16,

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

    /// The database URL without its password, for the log.
    pub fn database_for_log(&self) -> String {
        redact_url(self.database_url.expose_secret())
    }

    /// The SQLite database's file, if the database is a SQLite file.
    pub fn sqlite_file(&self) -> Option<&str> {
        let rest = self.database_url.expose_secret().strip_prefix("sqlite:")?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let path = rest.split('?').next().unwrap_or(rest);
        (!path.is_empty() && path != ":memory:").then_some(path)
    }
}

impl WebhookConfig {
    /// Whether callbacks may target private addresses: as configured, else only embedded.
    pub fn allow_private(&self, store: &StoreConfig) -> bool {
        self.callback_allow_private.unwrap_or(store.embedded())
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

    /// Collect and deliver jobs one worker process runs at once, per queue (they mostly
    /// wait on the network).
    #[arg(long, env = "WEBHOOK_CONCURRENCY", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub webhook_concurrency: u32,

    /// Fairness between tenants: how many of one tenant's collections may wait in the
    /// collect queue at once, per unit of its weight; beyond that they wait their turn in
    /// the database, so another tenant's collection is not queued behind a whole burst.
    /// 0 turns it off.
    #[arg(long, env = "TENANT_QUEUE_SHARE", default_value_t = 500)]
    pub tenant_queue_share: u32,

    /// How often an idle worker looks for new jobs.
    #[arg(long, env = "WORKER_POLL_INTERVAL", default_value = "200ms", value_parser = positive_duration)]
    pub worker_poll_interval: Duration,

    /// A queue whose oldest due job has waited longer than this is reported stalled
    /// (`/v1/stats`, `datahog_queue_stalled`, the console): wedged, unserved, or behind a
    /// backlog its workers do not drain in that time.
    #[arg(long, env = "QUEUE_STALL_AFTER", default_value = "2m", value_parser = positive_duration)]
    pub queue_stall_after: Duration,

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

    /// How often buffered counter increments are flushed to the database (once per
    /// interval across all workers, and once more when a worker stops).
    #[arg(long, env = "COUNTER_FLUSH_INTERVAL", default_value = "10s", value_parser = slot_interval)]
    pub counter_flush_interval: Duration,

    /// The data providers and their health.
    #[command(flatten)]
    pub providers: ProviderConfig,

    /// Webhook collections and their deliveries.
    #[command(flatten)]
    pub webhooks: WebhookConfig,

    /// Streams.
    #[command(flatten)]
    pub streams: StreamConfig,

    /// The maintenance jobs: sweeper, vacuum and pruning.
    #[command(flatten)]
    pub maintenance: MaintenanceConfig,

    /// OpenTelemetry traces.
    #[command(flatten)]
    pub traces: TraceConfig,
}

/// OpenTelemetry traces, exported over OTLP/HTTP (protobuf) when an endpoint is set; the
/// variables are OpenTelemetry's own.
#[derive(Debug, Clone, Args)]
pub struct TraceConfig {
    /// The OTLP/HTTP collector (`http://collector:4318`): spans go to its `/v1/traces`.
    /// Unset (and no traces endpoint): no spans are recorded, and a client's `traceparent`
    /// is passed on to providers and receivers as it came.
    /// An empty value is no endpoint, as OpenTelemetry reads its variables.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_parser = maybe_url)]
    pub otel_exporter_otlp_endpoint: Option<MaybeUrl>,

    /// The traces URL itself, used as given instead of the endpoint's `/v1/traces`.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", value_parser = maybe_url)]
    pub otel_exporter_otlp_traces_endpoint: Option<MaybeUrl>,

    /// Headers sent with every export, `name=value` pairs separated by commas, values
    /// percent-encoded (a collector's API key).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_HEADERS", value_parser = secret, hide_env_values = true)]
    pub otel_exporter_otlp_headers: Option<SecretString>,

    /// The export protocol: only `http/protobuf` is spoken.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_PROTOCOL", default_value = "http/protobuf",
          value_parser = ["http/protobuf"])]
    pub otel_exporter_otlp_protocol: String,

    /// How long one export may take, in milliseconds.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TIMEOUT", default_value = "10000", value_parser = millis)]
    pub otel_exporter_otlp_timeout: Duration,

    /// The service the spans are reported as (`service.name`).
    #[arg(long, env = "OTEL_SERVICE_NAME", default_value = "datahog")]
    pub otel_service_name: String,

    /// Which traces are recorded. A client's sampling decision is followed by the
    /// `parentbased_*` samplers.
    #[arg(long, env = "OTEL_TRACES_SAMPLER", value_enum, default_value_t = SamplerKind::ParentBasedAlwaysOn)]
    pub otel_traces_sampler: SamplerKind,

    /// The share of traces the `*traceidratio` samplers record, from 0 to 1.
    #[arg(long, env = "OTEL_TRACES_SAMPLER_ARG", default_value_t = 1.0, value_parser = ratio)]
    pub otel_traces_sampler_arg: f64,

    /// How long finished spans wait to be exported together, in milliseconds.
    #[arg(long, env = "OTEL_BSP_SCHEDULE_DELAY", default_value = "5000", value_parser = millis)]
    pub otel_bsp_schedule_delay: Duration,
}

impl TraceConfig {
    /// Where spans are sent, if anywhere.
    pub fn traces_url(&self) -> Option<url::Url> {
        let given = |url: &Option<MaybeUrl>| url.as_ref().and_then(|u| u.0.clone());
        if let Some(url) = given(&self.otel_exporter_otlp_traces_endpoint) {
            return Some(url);
        }
        let mut url = given(&self.otel_exporter_otlp_endpoint)?;
        let path = format!("{}/v1/traces", url.path().trim_end_matches('/'));
        url.set_path(&path);
        Some(url)
    }
}

/// OpenTelemetry's samplers, named as `OTEL_TRACES_SAMPLER` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SamplerKind {
    /// Every trace.
    #[value(name = "always_on")]
    AlwaysOn,
    /// None.
    #[value(name = "always_off")]
    AlwaysOff,
    /// A share of traces, by trace id.
    #[value(name = "traceidratio")]
    TraceIdRatio,
    /// The client's decision; every trace it did not decide.
    #[value(name = "parentbased_always_on")]
    ParentBasedAlwaysOn,
    /// The client's decision; no trace it did not decide.
    #[value(name = "parentbased_always_off")]
    ParentBasedAlwaysOff,
    /// The client's decision; a share of the traces it did not decide.
    #[value(name = "parentbased_traceidratio")]
    ParentBasedTraceIdRatio,
}

/// The maintenance jobs, each once per interval across all workers: the sweeper re-queues
/// what lost its job, the vacuum removes finished queue tasks, pruning removes old rows.
#[derive(Debug, Clone, Args)]
pub struct MaintenanceConfig {
    /// How often unfinished webhooks and active streams whose job went missing are re-queued.
    #[arg(long, env = "SWEEP_INTERVAL", default_value = "30s", value_parser = slot_interval)]
    pub sweep_interval: Duration,

    /// How long past its due time a job may be missing before the sweeper re-queues it.
    #[arg(long, env = "SWEEP_GRACE", default_value = "60s", value_parser = humantime::parse_duration)]
    pub sweep_grace: Duration,

    /// How often finished queue tasks are vacuumed (once per interval across all workers).
    #[arg(long, env = "VACUUM_INTERVAL", default_value = "1h", value_parser = slot_interval)]
    pub vacuum_interval: Duration,

    /// Finished and dead queue tasks older than this are removed by the vacuum.
    #[arg(long, env = "VACUUM_MAX_AGE", default_value = "24h", value_parser = humantime::parse_duration)]
    pub vacuum_max_age: Duration,

    /// How often old rows are pruned (once per interval across all workers).
    #[arg(long, env = "PRUNE_INTERVAL", default_value = "1h", value_parser = slot_interval)]
    pub prune_interval: Duration,

    /// How long a finished (delivered) webhook, its provider results and its attempts are
    /// kept after it finished.
    #[arg(long, env = "RETENTION", default_value = "30d", value_parser = humantime::parse_duration)]
    pub retention: Duration,

    /// How long a parked webhook is kept after it was parked.
    #[arg(long, env = "PARKED_RETENTION", default_value = "90d", value_parser = humantime::parse_duration)]
    pub parked_retention: Duration,

    /// How long the record of each maintenance run (`maintenance_runs`) is kept.
    #[arg(long, env = "MAINTENANCE_RETENTION", default_value = "7d", value_parser = humantime::parse_duration)]
    pub maintenance_retention: Duration,
}

/// Streams: providers fetched on an interval.
#[derive(Debug, Clone, Args)]
pub struct StreamConfig {
    /// Shortest interval a stream may ask for.
    #[arg(long, env = "STREAM_MIN_INTERVAL", default_value = "10s", value_parser = humantime::parse_duration)]
    pub stream_min_interval: Duration,

    /// Batches kept per stream; older ones are removed after each run.
    #[arg(long, env = "STREAM_RETENTION", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub stream_retention: u64,
}

/// The data providers webhooks collect from, and how their failures are handled.
#[derive(Debug, Clone, Args)]
pub struct ProviderConfig {
    /// Comma-separated providers, `name=URL` with an optional `;timeout=5s` each. Unset:
    /// embedded mode starts its own mock providers and uses them; otherwise
    /// `gas` and `internet` at `http://127.0.0.1:3000/providers/{name}`. Credentials go in
    /// PROVIDER_HEADERS, not in the URL.
    #[arg(long, env = "PROVIDERS", value_delimiter = ',', hide_env_values = true)]
    pub providers: Vec<String>,

    /// Headers sent on each request to a provider, its credentials: comma-separated
    /// `provider:Header-Name=value` (e.g. `gas:Authorization=Bearer <token>`). Kept secret:
    /// never shown by the API, `--help` or the logs.
    #[arg(long, env = "PROVIDER_HEADERS", value_parser = secret, hide_env_values = true)]
    pub provider_headers: Option<SecretString>,

    /// How long a provider request may take, unless its entry says otherwise.
    #[arg(long, env = "PROVIDER_TIMEOUT", default_value = "5s", value_parser = positive_duration)]
    pub provider_timeout: Duration,

    /// Largest provider answer read, in bytes; a longer one is a failure ("response larger
    /// than 1 MiB") and the rest of it is not read.
    #[arg(long, env = "PROVIDER_MAX_BODY", default_value_t = 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub provider_max_body: u64,

    /// Consecutive failures that take a provider down (then only probes reach it).
    #[arg(long, env = "PROVIDER_FAILURE_THRESHOLD", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub provider_failure_threshold: u32,

    /// First cool-down of a provider that went down; doubles after each failed probe.
    #[arg(long, env = "PROVIDER_COOLDOWN_MIN", default_value = "1s", value_parser = positive_duration)]
    pub provider_cooldown_min: Duration,

    /// Longest cool-down between two probes of a provider that stays down.
    #[arg(long, env = "PROVIDER_COOLDOWN_MAX", default_value = "5m", value_parser = humantime::parse_duration)]
    pub provider_cooldown_max: Duration,
}

/// Webhook collections and the delivery of their callbacks.
#[derive(Debug, Clone, Args)]
pub struct WebhookConfig {
    /// Past this age, a collection stops and delivers what arrived, with status `failed`.
    #[arg(long, env = "COLLECTION_DEADLINE", default_value = "24h", value_parser = positive_duration)]
    pub collection_deadline: Duration,

    /// Delay before each delivery attempt (the first is usually `0s`); after the last,
    /// the webhook is parked.
    #[arg(long, env = "DELIVERY_SCHEDULE", value_delimiter = ',',
          default_value = "0s,5s,30s,2m,5m,30m,1h,2h,5h,10h,10h",
          value_parser = humantime::parse_duration)]
    pub delivery_schedule: Vec<Duration>,

    /// Random spread of each retry delay, as a fraction (0.2 = ±20 %).
    #[arg(long, env = "DELIVERY_JITTER", default_value_t = 0.2)]
    pub delivery_jitter: f64,

    /// How long a callback request may take.
    #[arg(long, env = "DELIVERY_TIMEOUT", default_value = "10s", value_parser = positive_duration)]
    pub delivery_timeout: Duration,

    /// Longest wait a receiver's `Retry-After` may impose before the next attempt.
    #[arg(long, env = "DELIVERY_RETRY_AFTER_MAX", default_value = "1h", value_parser = humantime::parse_duration)]
    pub delivery_retry_after_max: Duration,

    /// How many times one webhook's receiver may ask to wait (429 or 503 with
    /// `Retry-After`) without the attempt counting against the schedule; past it, such an
    /// answer is a failed attempt like any other.
    #[arg(long, env = "DELIVERY_SNOOZE_LIMIT", default_value_t = 10)]
    pub delivery_snooze_limit: u32,

    /// Signing secret of the `default` tenant's callbacks, `whsec_<base64>` (applied at
    /// start whenever it changes). Required by workers with REDIS_URL; embedded mode
    /// creates one beside its database file when unset. Other tenants get their own.
    #[arg(long, env = "WEBHOOK_SECRET", value_parser = secret, hide_env_values = true)]
    pub webhook_secret: Option<SecretString>,

    /// Allow callbacks to loopback, private, link-local and metadata addresses.
    /// Default: allowed in embedded mode (a local demo), refused with REDIS_URL.
    #[arg(long, env = "CALLBACK_ALLOW_PRIVATE")]
    pub callback_allow_private: Option<bool>,

    /// Consecutive failed deliveries to one receiver host (scheme, host, port) that open
    /// its circuit: then only one probe per cool-down reaches it.
    #[arg(long, env = "RECEIVER_FAILURE_THRESHOLD", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub receiver_failure_threshold: u32,

    /// A receiver host's first cool-down once its circuit opens; doubles after each failed
    /// probe.
    #[arg(long, env = "RECEIVER_COOLDOWN_MIN", default_value = "5s", value_parser = positive_duration)]
    pub receiver_cooldown_min: Duration,

    /// A receiver host's longest cool-down.
    #[arg(long, env = "RECEIVER_COOLDOWN_MAX", default_value = "10m", value_parser = humantime::parse_duration)]
    pub receiver_cooldown_max: Duration,

    /// Deliveries one worker process makes to one receiver host at once.
    #[arg(long, env = "RECEIVER_CONCURRENCY", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub receiver_concurrency: u32,

    /// How long an `Idempotency-Key` replays the first answer it got (per tenant and route).
    #[arg(long, env = "IDEMPOTENCY_TTL", default_value = "24h", value_parser = humantime::parse_duration)]
    pub idempotency_ttl: Duration,

    /// After a signing-secret rotation, how long the previous secret keeps signing beside
    /// the new one (`webhook-signature: v1,<new> v1,<old>`).
    #[arg(long, env = "SECRET_ROTATION_OVERLAP", default_value = "24h", value_parser = humantime::parse_duration)]
    pub secret_rotation_overlap: Duration,
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
        let w = &self.webhooks;
        if w.delivery_schedule.is_empty() {
            return Err(ConfigError {
                variable: "DELIVERY_SCHEDULE",
                reason: "needs at least one attempt".into(),
            });
        }
        if !(0.0..1.0).contains(&w.delivery_jitter) {
            return Err(ConfigError {
                variable: "DELIVERY_JITTER",
                reason: "must be from 0 up to (not including) 1".into(),
            });
        }
        if self.providers.provider_cooldown_max < self.providers.provider_cooldown_min {
            return Err(ConfigError {
                variable: "PROVIDER_COOLDOWN_MAX",
                reason: "must not be below PROVIDER_COOLDOWN_MIN".into(),
            });
        }
        // Read here, not when the platform opens: a bad secret then stops the process before
        // it has connected or migrated anything, with one message.
        if let Some(secret) = &w.webhook_secret {
            crate::delivery::signature::Secret::parse(secret.expose_secret()).map_err(
                |reason| ConfigError {
                    variable: "WEBHOOK_SECRET",
                    reason,
                },
            )?;
        }
        crate::providers::Providers::parse(&self.providers)?;
        Ok(())
    }
}

impl StoreConfig {
    /// Checks the combination of stores.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.embedded() && !self.database_url.expose_secret().starts_with("sqlite:") {
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

/// `url` with any user and password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// The worker settings alone, as a command line.
    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        worker: WorkerConfig,
    }

    fn validate(args: &[&str]) -> Result<(), ConfigError> {
        let args = std::iter::once("worker").chain(args.iter().copied());
        Cli::try_parse_from(args).expect("parses").worker.validate()
    }

    #[test]
    fn a_bad_webhook_secret_is_refused_with_the_configuration() {
        for bad in ["secret", "whsec_not-base64!", "whsec_c2hvcnQ="] {
            let error = validate(&["--webhook-secret", bad]).expect_err(bad);
            assert_eq!(error.variable, "WEBHOOK_SECRET", "{bad}: {error}");
            // No source: the message is printed once, without a "Caused by:" repeating it.
            assert!(std::error::Error::source(&error).is_none());
            assert!(
                !error.to_string().contains(bad),
                "the value is not echoed: {error}"
            );
        }
        let good = crate::delivery::signature::Secret::generate()
            .unwrap()
            .to_text();
        validate(&["--webhook-secret", &good]).expect("a whsec_ secret of 32 bytes");
    }
}
