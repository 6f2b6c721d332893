//! Prometheus metrics: the process-wide recorder and the per-request measurements.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

/// Latency buckets in seconds: fine below 10 ms, where the hot endpoints answer.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The recorder's handle; installed on first use, since a process has one recorder (and
/// tests start many apps in one process).
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), LATENCY_BUCKETS)
                .map(PrometheusBuilder::build_recorder)
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            // Fails only if another recorder is installed; then ours just stays unused.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Counts every request by method, route template and status, and times it.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("datahog_http_requests_total", &labels).increment(1);
    metrics::histogram!("datahog_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
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
