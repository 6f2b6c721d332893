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
            describe();
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

/// Gives every family of the jobs its `# HELP` line (the recorder writes `# TYPE` itself).
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(
        "datahog_process_resident_memory_bytes",
        Unit::Bytes,
        "Resident memory of this process"
    );
    describe_counter!(
        "datahog_queue_promoted_total",
        "Due tasks moved from a queue's schedule to its ready list by the chunked promoter."
    );
    describe_counter!(
        "datahog_db_statements_total",
        "SQL statements sent to the database, by their first word (BEGIN and COMMIT not counted)"
    );
    describe_gauge!(
        "datahog_redis_durability",
        "Whether Redis keeps acknowledged work through a restart, by state (durable, at_risk, unknown): 1 for the state found at the last check"
    );
    describe_gauge!(
        "datahog_dependency_up",
        "Whether a dependency (database, redis) answers: 1 up, 0 down"
    );
    describe_counter!(
        "datahog_health_probes_total",
        "Probe requests made to a down provider or receiver host, by kind"
    );
    describe_counter!(
        "datahog_health_transitions_total",
        "Providers and receiver hosts going down or coming back up, by kind and state"
    );
    describe_counter!(
        "datahog_delivery_deferred_total",
        "Deliveries put off without spending an attempt, by reason (receiver down, paused, at its limit, asking to wait)"
    );
    describe_counter!(
        "datahog_collection_deferred_total",
        "Collections put off without spending a provider attempt, by reason (provider down, paused, at its limit, asking to wait)"
    );
    describe_counter!(
        "datahog_webhook_collections_total",
        "Webhook collections ended, by outcome (completed or failed)"
    );
    describe_counter!(
        "datahog_provider_requests_total",
        "Requests to providers, for webhooks and streams, by provider and result (ok or error)"
    );
    describe_counter!(
        "datahog_delivery_attempts_total",
        "Callback delivery attempts, by result (delivered, retrying or parked)"
    );
    describe_histogram!(
        "datahog_delivery_duration_seconds",
        Unit::Seconds,
        "Duration of callback delivery attempts"
    );
    describe_counter!(
        "datahog_stream_runs_total",
        "Stream runs ended, by status (complete, failed or skipped)"
    );
    describe_counter!(
        "datahog_pruned_rows_total",
        "Rows the prune job removed past their retention, by table"
    );
    describe_counter!(
        "datahog_sweeper_requeued_total",
        "Jobs the sweeper found missing and queued again, by kind"
    );
}

/// Whether a `/metrics` request may read the metrics: no token is configured, or its
/// `Authorization` header is `Bearer <token>`.
pub fn scrape_allowed(
    token: Option<&secrecy::SecretString>,
    authorization: Option<&axum::http::HeaderValue>,
) -> bool {
    use secrecy::ExposeSecret;
    let Some(token) = token else {
        return true;
    };
    let Some(given) = authorization
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    // Compared in full whatever the first difference, so timing does not reveal a prefix.
    let expected = token.expose_secret().as_bytes();
    let given = given.trim().as_bytes();
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
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

/// A delivery attempt ended: `delivered`, `retrying`, `snoozed` (the receiver asked to wait)
/// or `parked`.
pub fn delivery_attempt(result: &'static str, duration: Duration) {
    metrics::counter!("datahog_delivery_attempts_total", "result" => result).increment(1);
    metrics::histogram!("datahog_delivery_duration_seconds").record(duration.as_secs_f64());
}

/// `moved` due tasks went from a queue's schedule to its ready list, in bounded chunks.
pub fn tasks_promoted(moved: u64) {
    metrics::counter!("datahog_queue_promoted_total").increment(moved);
}

/// A delivery waited for `reason` instead of being attempted.
pub fn delivery_deferred(reason: entity::webhook::Waiting) {
    use sea_orm::ActiveEnum;
    metrics::counter!("datahog_delivery_deferred_total", "reason" => reason.to_value())
        .increment(1);
}

/// A collection waited for `reason` instead of fetching a provider.
pub fn collection_deferred(reason: entity::webhook::Waiting) {
    use sea_orm::ActiveEnum;
    metrics::counter!("datahog_collection_deferred_total", "reason" => reason.to_value())
        .increment(1);
}

/// A stream run ended: `complete`, `failed` or `skipped`.
pub fn stream_run(status: String) {
    metrics::counter!("datahog_stream_runs_total", "status" => status).increment(1);
}

/// Jobs the sweeper found missing and queued again.
pub fn swept(kind: &'static str, count: u64) {
    metrics::counter!("datahog_sweeper_requeued_total", "kind" => kind).increment(count);
}

/// Sets the process's resident memory gauge from `/proc/self/status` (Linux; elsewhere
/// the gauge is not set).
pub fn record_process_memory() {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return;
    };
    let resident_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        });
    if let Some(kib) = resident_kib {
        metrics::gauge!("datahog_process_resident_memory_bytes").set(kib * 1024.0);
    }
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
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_metrics_token_needs_the_bearer_header() {
        let token = secrecy::SecretString::from("s3cret");
        let header = |v: &str| HeaderValue::from_str(v).unwrap();
        assert!(scrape_allowed(None, None));
        assert!(scrape_allowed(Some(&token), Some(&header("Bearer s3cret"))));
        assert!(!scrape_allowed(Some(&token), None));
        assert!(!scrape_allowed(Some(&token), Some(&header("Bearer s3cre"))));
        assert!(!scrape_allowed(
            Some(&token),
            Some(&header("Bearer s3cretx"))
        ));
        assert!(!scrape_allowed(Some(&token), Some(&header("s3cret"))));
    }

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
