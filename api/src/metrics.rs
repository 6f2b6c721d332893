//! Prometheus metrics: the process-wide recorder and the per-request measurements.

use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::state::AppState;

/// The process's Prometheus recorder (shared with the embedded workers' metrics), with
/// the API's families described.
pub fn handle() -> PrometheusHandle {
    let handle = engine::metrics::prometheus();
    describe();
    handle
}

/// Gives every family of the API its `# HELP` line (the recorder writes `# TYPE` itself).
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "datahog_http_requests_total",
        "HTTP requests answered, by method, route template and status"
    );
    describe_histogram!(
        "datahog_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer HTTP requests, by method, route template and status"
    );
    describe_counter!(
        "datahog_connections_refused_total",
        "Connections closed as soon as accepted because MAX_CONNECTIONS were open"
    );
    describe_counter!(
        "datahog_cache_requests_total",
        "Vehicle cache lookups, by cache, tier and result"
    );
    describe_counter!(
        "datahog_cache_errors_total",
        "Cache tier failures (the database answered instead), by cache and tier"
    );
    describe_gauge!(
        "datahog_increment_flush_lag_seconds",
        Unit::Seconds,
        "Age of the oldest increment not yet flushed to the database"
    );
    describe_gauge!(
        "datahog_increment_last_flush_duration_seconds",
        Unit::Seconds,
        "Duration of the last counter flush"
    );
    describe_gauge!(
        "datahog_increment_last_flush_keys",
        "Counters written by the last counter flush"
    );
    describe_gauge!(
        "datahog_rejected_increments",
        "Increments set aside because the counter's total would overflow"
    );
    describe_gauge!(
        "datahog_webhooks",
        "Webhooks by status, every tenant's, read when /metrics is scraped"
    );
    describe_gauge!(
        "datahog_database_replica_lag_seconds",
        Unit::Seconds,
        "How far the database replica (DATABASE_REPLICA_URL) is behind the primary: 0 when it replayed all it received"
    );
    describe_gauge!(
        "datahog_webhooks_waiting",
        "Webhooks waiting without spending an attempt, by reason: a provider or receiver down, paused, at its limit, or asking to wait"
    );
    describe_gauge!(
        "datahog_provider_paused",
        "1 while the operator has a provider paused (in maintenance)"
    );
    describe_gauge!(
        "datahog_provider_limit",
        "The operator's limit on a provider, by limit (concurrent, per_second); 0 is unlimited"
    );
    describe_gauge!(
        "datahog_receivers_paused",
        "Receiver hosts the tenants have paused"
    );
    describe_gauge!(
        "datahog_receivers_limited",
        "Receiver hosts the tenants have set limits on"
    );
    describe_gauge!("datahog_queue_ready_jobs", "Jobs ready to run, by queue");
    describe_gauge!(
        "datahog_queue_scheduled_jobs",
        "Jobs scheduled for later, by queue"
    );
    describe_gauge!("datahog_queue_running_jobs", "Jobs running, by queue");
    describe_gauge!(
        "datahog_queue_oldest_ready_seconds",
        Unit::Seconds,
        "How long the oldest ready job of each queue has waited"
    );
    describe_gauge!(
        "datahog_queue_stalled",
        "1 when the oldest due job of a queue has waited longer than QUEUE_STALL_AFTER"
    );
    describe_gauge!(
        "datahog_provider_health",
        "Provider health: 1 up, 0.5 failing, 0 down"
    );
    describe_gauge!(
        "datahog_provider_consecutive_failures",
        "Failures in a row of each provider"
    );
    describe_gauge!(
        "datahog_process_resident_memory_bytes",
        Unit::Bytes,
        "Resident memory of this process"
    );
}

/// The request counters and latency histograms, by method, route template and status.
pub static HTTP_METRICS: LazyLock<HttpMetrics> = LazyLock::new(HttpMetrics::default);

/// Metric handles kept per (route, method, status): registering them anew on each request
/// allocates and hashes their labels, a measurable cost on the hot endpoints.
#[derive(Default)]
pub struct HttpMetrics {
    by_route: RwLock<HashMap<String, RouteMetrics>>,
}

/// One route's handles, by method and status.
type RouteMetrics = HashMap<(&'static str, u16), (Counter, Histogram)>;

/// The route label of a request that matched no route: its path would make a series per
/// path a client cares to invent.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The method label: the method's name if it is a standard one, else `other`, for the
/// same reason.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

impl HttpMetrics {
    /// Counts one request and records its latency. `route` must be a route template (or
    /// [`UNMATCHED_ROUTE`]), never a raw path.
    pub fn record(&self, method: &Method, route: &str, status: StatusCode, latency: Duration) {
        let method = method_label(method);
        let status = status.as_u16();
        let known = self
            .by_route
            .read()
            .ok()
            .and_then(|routes| routes.get(route)?.get(&(method, status)).cloned());
        let (counter, histogram) = known.unwrap_or_else(|| self.register(method, route, status));
        counter.increment(1);
        histogram.record(latency.as_secs_f64());
    }

    fn register(&self, method: &'static str, route: &str, status: u16) -> (Counter, Histogram) {
        let labels = [
            ("method", method.to_owned()),
            ("route", route.to_owned()),
            ("status", status.to_string()),
        ];
        let handles = (
            metrics::counter!("datahog_http_requests_total", &labels),
            metrics::histogram!("datahog_http_request_duration_seconds", &labels),
        );
        if let Ok(mut routes) = self.by_route.write() {
            routes
                .entry(route.to_owned())
                .or_default()
                .insert((method, status), handles.clone());
        }
        handles
    }
}

/// The newest applied counter batch: an indexed lookup (`idx_counter_flushes_applied`).
pub fn last_flush() -> sea_orm::Select<entity::counter_flush::Entity> {
    use entity::counter_flush;
    use sea_orm::{EntityTrait, QueryOrder, QuerySelect};
    counter_flush::Entity::find()
        .order_by_desc(counter_flush::Column::AppliedAt)
        .limit(1)
}

/// How many increments were ever set aside: the newest rejection's id, since ids count
/// them from 1 and are never reused. An indexed lookup, where counting the rows would scan
/// the table (and forget what was pruned).
pub fn rejections_recorded() -> sea_orm::Select<entity::counter_rejection::Entity> {
    use entity::counter_rejection;
    use sea_orm::{EntityTrait, QueryOrder, QuerySelect};
    counter_rejection::Entity::find()
        .order_by_desc(counter_rejection::Column::Id)
        .limit(1)
}

/// Sets the counter-flush gauges from the shared state (buffer and database), so that the
/// figures are right whichever worker process flushed. Every database read is an indexed
/// lookup: a scrape costs no table scan however long the tables grow.
pub async fn record_counter_gauges(state: &AppState) {
    match state.counters.oldest_unflushed().await {
        Ok(oldest) => {
            let lag = oldest.map_or(0.0, |at| {
                (chrono::Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0
            });
            metrics::gauge!("datahog_increment_flush_lag_seconds").set(lag);
        }
        Err(error) => tracing::warn!(%error, "cannot read the counter flush lag"),
    }
    if let Ok(Some(last)) = last_flush().one(&state.db).await {
        metrics::gauge!("datahog_increment_last_flush_duration_seconds")
            .set(last.duration_ms as f64 / 1000.0);
        metrics::gauge!("datahog_increment_last_flush_keys").set(last.keys as f64);
    }
    if let Ok(newest) = rejections_recorded().one(&state.db).await {
        let recorded = newest.map_or(0, |rejection| rejection.id);
        metrics::gauge!("datahog_rejected_increments").set(recorded as f64);
    }
}

/// Sets the gauges an operator's dashboard reads from the shared state: webhooks by status
/// (every tenant), each queue's backlog, each provider's health, this process's memory.
pub async fn record_platform_gauges(state: &AppState) {
    engine::metrics::record_process_memory();
    if let Some(conn) = &state.redis {
        engine::queue::durability::check(conn).await;
    }
    match crate::stats::webhooks_by_status(&state.db, None).await {
        Ok(counts) => {
            for c in counts {
                metrics::gauge!("datahog_webhooks", "status" => c.status).set(c.count as f64);
            }
        }
        Err(error) => tracing::warn!(%error, "cannot count webhooks by status"),
    }
    match state.queue.depths(engine::queue::QUEUES).await {
        Ok(depths) => {
            let now = chrono::Utc::now();
            for q in depths {
                metrics::gauge!("datahog_queue_ready_jobs", "queue" => q.name).set(q.ready as f64);
                metrics::gauge!("datahog_queue_scheduled_jobs", "queue" => q.name)
                    .set(q.scheduled as f64);
                metrics::gauge!("datahog_queue_running_jobs", "queue" => q.name)
                    .set(q.running as f64);
                let age = q.waited(now).unwrap_or_default().as_secs_f64();
                metrics::gauge!("datahog_queue_oldest_ready_seconds", "queue" => q.name).set(age);
                let stalled = q.stalled(now, state.queue_stall_after);
                metrics::gauge!("datahog_queue_stalled", "queue" => q.name).set(if stalled {
                    1.0
                } else {
                    0.0
                });
            }
        }
        Err(error) => tracing::warn!(%error, "cannot read the queue depths"),
    }
    record_flow_gauges(state).await;
    if let Some(replica) = &state.replica {
        match engine::db::replica_lag(replica).await {
            Ok(lag) => metrics::gauge!("datahog_database_replica_lag_seconds").set(lag),
            Err(error) => tracing::warn!(%error, "cannot read the replica's lag"),
        }
    }
    for provider in state.providers.iter() {
        match state.health.view(&provider.name).await {
            Ok(view) => {
                let health = if view.down {
                    0.0
                } else if view.failures > 0 {
                    0.5
                } else {
                    1.0
                };
                metrics::gauge!("datahog_provider_health", "provider" => provider.name.clone())
                    .set(health);
                metrics::gauge!("datahog_provider_consecutive_failures", "provider" => provider.name.clone())
                    .set(f64::from(view.failures));
            }
            Err(error) => tracing::warn!(%error, "cannot read provider health"),
        }
    }
}

/// Sets the flow-control gauges: webhooks waiting by reason, each provider's pause and
/// limits, and how many receiver hosts the tenants paused or limited.
async fn record_flow_gauges(state: &AppState) {
    use engine::flow::manage;
    use entity::webhook::Waiting;
    use sea_orm::{ActiveEnum, Iterable};
    match manage::waiting(&state.db, None).await {
        Ok(rows) => {
            for reason in Waiting::iter() {
                let count: i64 = rows
                    .iter()
                    .filter(|r| r.waiting_for == reason)
                    .map(|r| r.count)
                    .sum();
                metrics::gauge!("datahog_webhooks_waiting", "reason" => reason.to_value())
                    .set(count as f64);
            }
        }
        Err(error) => tracing::warn!(%error, "cannot count waiting webhooks"),
    }
    match manage::providers(&state.db).await {
        Ok(settings) => {
            for provider in state.providers.iter() {
                let set = settings.iter().find(|s| s.provider == provider.name);
                let name = provider.name.clone();
                let paused = set.is_some_and(|s| s.paused_at.is_some());
                metrics::gauge!("datahog_provider_paused", "provider" => name.clone())
                    .set(if paused { 1.0 } else { 0.0 });
                let concurrent = set.and_then(|s| s.max_concurrent).map_or(0.0, f64::from);
                metrics::gauge!("datahog_provider_limit", "provider" => name.clone(), "limit" => "concurrent")
                    .set(concurrent);
                let rate = set.and_then(|s| s.max_per_second).unwrap_or(0.0);
                metrics::gauge!("datahog_provider_limit", "provider" => name, "limit" => "per_second")
                    .set(rate);
            }
        }
        Err(error) => tracing::warn!(%error, "cannot read the provider settings"),
    }
    match manage::receivers(&state.db, None).await {
        Ok(settings) => {
            let paused = settings.iter().filter(|s| s.paused_at.is_some()).count();
            let limited = settings
                .iter()
                .filter(|s| s.max_concurrent.is_some() || s.max_per_second.is_some())
                .count();
            metrics::gauge!("datahog_receivers_paused").set(paused as f64);
            metrics::gauge!("datahog_receivers_limited").set(limited as f64);
        }
        Err(error) => tracing::warn!(%error, "cannot read the receiver settings"),
    }
}
