//! Prometheus metrics of the jobs, and the process's recorder (the `api` renders it at
//! `/metrics`; a `worker` serves it on `METRICS_LISTEN`).

use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use metrics::Counter;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds: fine below 10 ms, where the hot endpoints answer.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process's Prometheus recorder; installed on first use, since a process has one recorder (and
/// tests start many apps in one process).
pub fn prometheus() -> PrometheusHandle {
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
            // Histograms keep raw samples until upkeep folds them in; without it memory
            // grows with every request until /metrics is scraped.
            let upkeep = handle.clone();
            std::thread::spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                }
            });
            handle
        })
        .clone()
}

/// A collection ended (`completed` or `failed`).
pub fn collection_ended(outcome: &'static str) {
    metrics::counter!("datahog_webhook_collections_total", "outcome" => outcome).increment(1);
}

/// A provider was called (`ok` or `error`), for a webhook or a stream.
pub fn provider_request(provider: &str, ok: bool) {
    let result = if ok { "ok" } else { "error" };
    metrics::counter!("datahog_provider_requests_total", "provider" => provider.to_owned(), "result" => result)
        .increment(1);
}

/// A delivery attempt ended: `delivered`, `retrying` or `parked`.
pub fn delivery_attempt(result: &'static str, duration: Duration) {
    metrics::counter!("datahog_delivery_attempts_total", "result" => result).increment(1);
    metrics::histogram!("datahog_delivery_duration_seconds").record(duration.as_secs_f64());
}

/// A stream run ended: `complete`, `failed` or `skipped`.
pub fn stream_run(status: &'static str) {
    metrics::counter!("datahog_stream_runs_total", "status" => status).increment(1);
}

/// Jobs the sweeper found missing and queued again.
pub fn swept(kind: &'static str, count: u64) {
    metrics::counter!("datahog_sweeper_requeued_total", "kind" => kind).increment(count);
}

/// The SQL verbs statements are counted by; the last catches the rest.
const VERBS: [&str; 6] = ["select", "insert", "update", "delete", "with", "other"];

/// One counter handle per verb, registered once: the callback runs on every statement.
static STATEMENTS: LazyLock<[Counter; 6]> = LazyLock::new(|| {
    // Handles taken before the recorder is installed would count into nothing.
    prometheus();
    VERBS.map(|verb| metrics::counter!("datahog_db_statements_total", "verb" => verb))
});

/// A statement was sent to the database (called by the connection for each one, inside
/// transactions too; `BEGIN` and `COMMIT` are not statements here). Counting them lets the
/// benchmark divide by the work done instead of estimating what an operation costs.
pub fn db_statement(sql: &str) {
    STATEMENTS[verb_of(sql)].increment(1);
}

/// The index in `VERBS` of a statement's first word.
fn verb_of(sql: &str) -> usize {
    let word = sql.trim_start().as_bytes();
    VERBS[..5]
        .iter()
        .position(|verb| {
            word.get(..verb.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(verb.as_bytes()))
        })
        .unwrap_or(5)
}

#[cfg(test)]
mod tests {
    use super::{VERBS, verb_of};

    #[test]
    fn statements_are_counted_by_their_first_word() {
        let verb = |sql| VERBS[verb_of(sql)];
        assert_eq!(verb("SELECT 1"), "select");
        assert_eq!(verb("  insert into t values (1)"), "insert");
        assert_eq!(verb("UPDATE \"webhooks\" SET"), "update");
        assert_eq!(verb("DELETE FROM t"), "delete");
        assert_eq!(
            verb("WITH x AS (INSERT INTO t VALUES (1)) INSERT INTO u VALUES (2)"),
            "with"
        );
        assert_eq!(verb("CREATE TABLE t ()"), "other");
        assert_eq!(verb("SEL"), "other");
        assert_eq!(verb("é"), "other");
    }
}
