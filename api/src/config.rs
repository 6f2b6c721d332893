//! The API's configuration: one typed struct, from flags and environment.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser};
use engine::config::{
    ConfigError, LogConfig, StoreConfig, WorkerConfig, positive_duration, secret,
};
use mock_providers::MockConfig;
use secrecy::{ExposeSecret, SecretString};

/// datahog API: takes work over HTTP, records it durably and queues it.
///
/// Without REDIS_URL it runs embedded: SQLite for data and queue, workers in this process.
#[derive(Debug, Clone, Parser)]
#[command(name = "api", version, about)]
pub struct ApiConfig {
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
    pub listen_addr: SocketAddr,

    /// Database and Redis.
    #[command(flatten)]
    pub store: StoreConfig,

    /// What every request gets.
    #[command(flatten)]
    pub http: HttpConfig,

    /// Tenants: the operator key, rate limits and quotas.
    #[command(flatten)]
    pub tenants: TenantConfig,

    /// The vehicle-state cache.
    #[command(flatten)]
    pub cache: CacheConfig,

    /// Logging.
    #[command(flatten)]
    pub log: LogConfig,

    /// Worker settings, used when the workers run inside this process (embedded mode).
    #[command(flatten)]
    pub worker: WorkerConfig,

    /// Embedded mode without PROVIDERS: where the built-in mock providers listen.
    #[arg(long, env = "MOCK_PROVIDERS_LISTEN", default_value = "127.0.0.1:0")]
    pub mock_providers_listen: SocketAddr,

    /// The built-in mock providers (embedded mode without PROVIDERS).
    #[command(flatten)]
    pub mock: MockConfig,
}

/// What every HTTP request gets.
#[derive(Debug, Clone, Args)]
pub struct HttpConfig {
    /// Longest a request may take before it is answered 503 `timeout`.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "10s", value_parser = positive_duration)]
    pub request_timeout: Duration,

    /// Largest request body accepted, in bytes; larger ones are answered 413.
    #[arg(long, env = "BODY_LIMIT", default_value_t = 64 * 1024)]
    pub body_limit: usize,

    /// Comma-separated API keys of the `default` tenant (stored hashed at start). With
    /// these or ADMIN_API_KEY set, `/v1/*` and the classic routes require
    /// `Authorization: Bearer <key>`; health, readiness, metrics and docs stay open.
    #[arg(long, env = "API_KEYS", value_delimiter = ',', value_parser = secret, hide_env_values = true)]
    pub api_keys: Vec<SecretString>,

    /// When set, `/metrics` requires `Authorization: Bearer <token>` (the worker's too).
    #[arg(long, env = "METRICS_TOKEN", value_parser = secret, hide_env_values = true)]
    pub metrics_token: Option<SecretString>,

    /// Requests handled at once; beyond it the API answers 503 with `Retry-After` at once
    /// instead of queueing without bound.
    #[arg(long, env = "MAX_CONCURRENT_REQUESTS", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_requests: u32,

    /// Longest a client may take to send a request's headers before the connection is
    /// closed (slow clients cannot hold connections open).
    #[arg(long, env = "HEADER_READ_TIMEOUT", default_value = "10s", value_parser = positive_duration)]
    pub header_read_timeout: Duration,

    /// Connections held open at once; a connection beyond it is accepted and closed at once,
    /// so a flood of idle or half-sent requests cannot take the process's memory.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Largest request head (request line and headers) read from a connection, in bytes, and
    /// so the most a connection's read buffer holds while it waits; beyond it the request is
    /// answered 431. At least 8192.
    #[arg(long, env = "MAX_HEADER_BYTES", default_value_t = 16 * 1024,
          value_parser = clap::value_parser!(u32).range(8192..=1024 * 1024))]
    pub max_header_bytes: u32,

    /// How often memory freed after a burst of load is given back to the system (glibc keeps
    /// it otherwise); `0s` never.
    #[arg(long, env = "MEMORY_TRIM_INTERVAL", default_value = "10s", value_parser = humantime::parse_duration)]
    pub memory_trim_interval: Duration,

    /// On SIGTERM, how long in-flight requests get to finish.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,
}

impl HttpConfig {
    /// The configured keys, blanks dropped; empty means no authentication.
    pub fn key_set(&self) -> HashSet<String> {
        self.api_keys
            .iter()
            .map(|k| k.expose_secret().trim())
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// Tenants: who may call, how fast, and how much they may hold.
#[derive(Debug, Clone, Args)]
pub struct TenantConfig {
    /// The operator's key: manages tenants (`/v1/admin/*`) and reads every tenant's
    /// resources. Never logged.
    #[arg(long, env = "ADMIN_API_KEY", hide_env_values = true, value_parser = secret)]
    pub admin_api_key: Option<SecretString>,

    /// Serve without keys even in production (every request is the `default` tenant).
    /// Embedded mode with no keys configured is open anyway.
    #[arg(long, env = "AUTH_DISABLED", default_value_t = false, action = clap::ArgAction::Set)]
    pub auth_disabled: bool,

    /// Requests per second a tenant may make by default (burst: twice that); a tenant's
    /// own `rateLimitPerSecond` overrides it.
    #[arg(long, env = "RATE_LIMIT_PER_SECOND", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_per_second: u32,

    /// How many api instances share each tenant's rate: each instance admits its share
    /// (rate / instances), so N instances behind a balancer admit the whole rate.
    #[arg(long, env = "RATE_LIMIT_INSTANCES", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_instances: u32,

    /// Streams a tenant may have active at once, by default.
    #[arg(long, env = "QUOTA_ACTIVE_STREAMS", default_value_t = 100)]
    pub quota_active_streams: u32,

    /// Webhooks a tenant may have unfinished (collecting or delivering) at once, by default.
    #[arg(long, env = "QUOTA_PENDING_WEBHOOKS", default_value_t = 100_000)]
    pub quota_pending_webhooks: u32,

    /// How long an instance trusts what it learnt of a key (and its tenant's limits) before
    /// asking the database again: a revoked key is refused everywhere within this time.
    #[arg(long, env = "KEY_CACHE_TTL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub key_cache_ttl: Duration,
}

impl TenantConfig {
    /// The operator key, if one is set (a blank value sets none).
    pub fn admin_key(&self) -> Option<&SecretString> {
        self.admin_api_key
            .as_ref()
            .filter(|key| !key.expose_secret().trim().is_empty())
    }
}

/// The vehicle-state cache.
#[derive(Debug, Clone, Args)]
pub struct CacheConfig {
    /// Longest a cached answer may be stale, across every API instance and both tiers.
    #[arg(long, env = "CACHE_MAX_STALENESS", default_value = "60s", value_parser = positive_duration)]
    pub cache_max_staleness: Duration,

    /// Longest an answer stays in this process's own tier (always within the bound above).
    #[arg(long, env = "CACHE_LOCAL_TTL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub cache_local_ttl: Duration,

    /// Entries this process's own tier holds at most.
    #[arg(long, env = "CACHE_LOCAL_CAPACITY", default_value_t = 100_000)]
    pub cache_local_capacity: u64,

    /// Longest a shared-tier (Redis) lookup may take before the database is asked instead.
    #[arg(long, env = "CACHE_REDIS_TIMEOUT", default_value = "250ms", value_parser = humantime::parse_duration)]
    pub cache_redis_timeout: Duration,
}

impl ApiConfig {
    /// Whether requests without a key are served, as the `default` tenant: embedded with no
    /// key configured, or `AUTH_DISABLED=true`.
    pub fn open_access(&self) -> bool {
        self.tenants.auth_disabled
            || (self.store.embedded()
                && self.tenants.admin_key().is_none()
                && self.http.key_set().is_empty())
    }

    /// Whether the API starts its own mock providers: embedded, with none configured.
    pub fn runs_mock_providers(&self) -> bool {
        self.store.embedded()
            && self
                .worker
                .providers
                .providers
                .iter()
                .all(|p| p.trim().is_empty())
    }

    /// Checks what clap's parsers cannot; the error names the variable at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.store.validate()?;
        self.worker.validate()?;
        self.mock.validate()?;
        if self.cache.cache_local_ttl > self.cache.cache_max_staleness {
            return Err(ConfigError {
                variable: "CACHE_LOCAL_TTL",
                reason: "must not exceed CACHE_MAX_STALENESS".into(),
            });
        }
        let no_keys = self.tenants.admin_key().is_none() && self.http.key_set().is_empty();
        if !self.store.embedded() && no_keys && !self.tenants.auth_disabled {
            return Err(ConfigError {
                variable: "ADMIN_API_KEY",
                reason: "with REDIS_URL (production) the api needs ADMIN_API_KEY or API_KEYS \
                         (or AUTH_DISABLED=true to serve without keys on purpose)"
                    .into(),
            });
        }
        if self.tenants.key_cache_ttl.is_zero()
            || self.tenants.key_cache_ttl > Duration::from_secs(300)
        {
            return Err(ConfigError {
                variable: "KEY_CACHE_TTL",
                reason: "must be above zero and at most 5m (revoked keys live on that long)".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_webhook_secret_stops_the_api_in_validation() {
        let config = ApiConfig::try_parse_from([
            "api",
            "--database-url",
            "sqlite://unused.db?mode=rwc",
            "--webhook-secret",
            "not-a-whsec",
        ])
        .expect("parses");
        // `main` validates before it binds, connects or migrates: this error is the whole
        // report.
        let error = config.validate().expect_err("refused");
        assert_eq!(error.variable, "WEBHOOK_SECRET", "{error}");
        assert!(std::error::Error::source(&error).is_none());
    }
}
