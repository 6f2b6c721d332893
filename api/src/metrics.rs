//! Prometheus metrics: the process-wide recorder and the per-request measurements.

use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::state::AppState;

/// The process's Prometheus recorder (shared with the embedded workers' metrics).
pub fn handle() -> PrometheusHandle {
    worker::metrics::prometheus()
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
type RouteMetrics = HashMap<(Method, u16), (Counter, Histogram)>;

impl HttpMetrics {
    /// Counts one request and records its latency.
    pub fn record(&self, method: &Method, route: &str, status: StatusCode, latency: Duration) {
        let status = status.as_u16();
        let known = self
            .by_route
            .read()
            .ok()
            .and_then(|routes| routes.get(route)?.get(&(method.clone(), status)).cloned());
        let (counter, histogram) = known.unwrap_or_else(|| self.register(method, route, status));
        counter.increment(1);
        histogram.record(latency.as_secs_f64());
    }

    fn register(&self, method: &Method, route: &str, status: u16) -> (Counter, Histogram) {
        let labels = [
            ("method", method.to_string()),
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
                .insert((method.clone(), status), handles.clone());
        }
        handles
    }
}

/// Sets the counter-flush gauges from the shared state (buffer and database), so that the
/// figures are right whichever worker process flushed.
pub async fn record_counter_gauges(state: &AppState) {
    use entity::{counter_flush, counter_rejection};
    use sea_orm::{EntityTrait, PaginatorTrait, QueryOrder};

    match state.counters.oldest_unflushed().await {
        Ok(oldest) => {
            let lag = oldest.map_or(0.0, |at| {
                (chrono::Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0
            });
            metrics::gauge!("datahog_counter_flush_lag_seconds").set(lag);
        }
        Err(error) => tracing::warn!(%error, "cannot read the counter flush lag"),
    }
    let last = counter_flush::Entity::find()
        .order_by_desc(counter_flush::Column::AppliedAt)
        .one(&state.db)
        .await;
    if let Ok(Some(last)) = last {
        metrics::gauge!("datahog_counter_last_flush_duration_seconds")
            .set(last.duration_ms as f64 / 1000.0);
        metrics::gauge!("datahog_counter_last_flush_keys").set(last.keys as f64);
    }
    if let Ok(rejected) = counter_rejection::Entity::find().count(&state.db).await {
        metrics::gauge!("datahog_counter_rejected_increments").set(rejected as f64);
    }
}

/// Sets the gauges an operator's dashboard reads from the shared state: webhooks by status
/// (every tenant), each queue's backlog, each provider's health, this process's memory.
pub async fn record_platform_gauges(state: &AppState) {
    worker::metrics::record_process_memory();
    match crate::stats::webhooks_by_status(&state.db, None).await {
        Ok(counts) => {
            for c in counts {
                metrics::gauge!("datahog_webhooks", "status" => c.status).set(c.count as f64);
            }
        }
        Err(error) => tracing::warn!(%error, "cannot count webhooks by status"),
    }
    match state.queue.depths(worker::jobs::QUEUES).await {
        Ok(depths) => {
            let now = chrono::Utc::now();
            for q in depths {
                metrics::gauge!("datahog_queue_ready_jobs", "queue" => q.name).set(q.ready as f64);
                metrics::gauge!("datahog_queue_scheduled_jobs", "queue" => q.name)
                    .set(q.scheduled as f64);
                metrics::gauge!("datahog_queue_running_jobs", "queue" => q.name)
                    .set(q.running as f64);
                let age = q.oldest_ready.map_or(0.0, |at| {
                    (now - at).num_milliseconds().max(0) as f64 / 1000.0
                });
                metrics::gauge!("datahog_queue_oldest_ready_seconds", "queue" => q.name).set(age);
            }
        }
        Err(error) => tracing::warn!(%error, "cannot read the queue depths"),
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
