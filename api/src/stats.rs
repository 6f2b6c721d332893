//! The figures of `GET /v1/stats`, read from the state of record: webhooks and streams by
//! status, the last hour minute by minute, and submission-to-callback latency.
//!
//! Minutes are grouped in SQL (the last hour may hold millions of rows), with the one
//! expression that differs between Postgres and SQLite chosen here.

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use entity::stream::{self, StreamStatus};
use entity::{delivery_attempt, webhook};
use openapi::stats::{LastHour, MinuteStats, StatusCount};
use openapi::webhooks::WebhookStatus;
use sea_orm::JoinType;
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ActiveEnum, ColumnTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, Iterable,
    QueryFilter, QueryOrder, QuerySelect, RelationTrait,
};

use engine::webhooks::id_floor;

/// Minutes in the window.
pub const WINDOW_MINUTES: i64 = 60;
/// The most deliveries the latency percentiles are computed from: the newest ones.
pub const LATENCY_SAMPLE: u64 = 10_000;

/// Webhooks of `tenant` (every tenant's for `None`) in each status, zeros included.
pub async fn webhooks_by_status(
    db: &DatabaseConnection,
    tenant: Option<&str>,
) -> Result<Vec<StatusCount>, DbErr> {
    let counted: Vec<(webhook::WebhookStatus, i64)> = webhook::Entity::find()
        .select_only()
        .column(webhook::Column::Status)
        .column_as(webhook::Column::Id.count(), "n")
        .filter(engine::webhooks::owned_by(tenant))
        .group_by(webhook::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    Ok(WebhookStatus::ALL
        .iter()
        .map(|status| StatusCount {
            status: status.as_str().to_owned(),
            count: counted
                .iter()
                .find(|(s, _)| WebhookStatus::from(*s) == *status)
                .map_or(0, |(_, n)| *n as u64),
        })
        .collect())
}

/// Streams of `tenant` (every tenant's for `None`) in each status, zeros included.
pub async fn streams_by_status(
    db: &DatabaseConnection,
    tenant: Option<&str>,
) -> Result<Vec<StatusCount>, DbErr> {
    let mut query = stream::Entity::find()
        .select_only()
        .column(stream::Column::Status)
        .column_as(stream::Column::Id.count(), "n")
        .group_by(stream::Column::Status);
    if let Some(tenant) = tenant {
        query = query.filter(stream::Column::TenantId.eq(tenant));
    }
    let counted: Vec<(StreamStatus, i64)> = query.into_tuple().all(db).await?;
    Ok(StreamStatus::iter()
        .map(|status| StatusCount {
            status: status.to_value(),
            count: counted
                .iter()
                .find(|(s, _)| *s == status)
                .map_or(0, |(_, n)| *n as u64),
        })
        .collect())
}

/// The last hour of `tenant` (every tenant's for `None`), up to `now`.
pub async fn last_hour(
    db: &DatabaseConnection,
    tenant: Option<&str>,
    now: DateTime<Utc>,
) -> Result<LastHour, DbErr> {
    let first_minute = minute_start(now) - TimeDelta::minutes(WINDOW_MINUTES - 1);
    let first = first_minute.timestamp() / 60;
    let submitted = submitted_by_minute(db, tenant, first_minute).await?;
    let attempts = attempts_by_minute(db, tenant, first_minute).await?;
    let latencies = latencies_since(db, tenant, now - TimeDelta::minutes(WINDOW_MINUTES)).await?;

    let minutes: Vec<MinuteStats> = (0..WINDOW_MINUTES)
        .map(|i| {
            let m = first + i;
            let (ok, all) = attempts
                .iter()
                .find(|a| a.0 == m)
                .map_or((0, 0), |a| (a.1, a.2));
            MinuteStats {
                minute: first_minute + TimeDelta::minutes(i),
                submitted: submitted.iter().find(|s| s.0 == m).map_or(0, |s| s.1) as u64,
                delivered: ok.max(0) as u64,
                failed: (all - ok).max(0) as u64,
            }
        })
        .collect();
    let submitted = minutes.iter().map(|m| m.submitted).sum();
    let delivered: u64 = minutes.iter().map(|m| m.delivered).sum();
    let attempts = delivered + minutes.iter().map(|m| m.failed).sum::<u64>();
    Ok(LastHour {
        submitted,
        attempts,
        delivered,
        success_rate: (attempts > 0).then(|| delivered as f64 / attempts as f64),
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
        sample_size: latencies.len() as u64,
        minutes,
    })
}

/// Webhooks submitted since `first_minute`: (minute, count), by minute.
async fn submitted_by_minute(
    db: &DatabaseConnection,
    tenant: Option<&str>,
    first_minute: DateTime<Utc>,
) -> Result<Vec<(i64, i64)>, DbErr> {
    let backend = db.get_database_backend();
    webhook::Entity::find()
        .select_only()
        .column_as(minute_of(backend, "webhooks", "created_at"), "m")
        .column_as(webhook::Column::Id.count(), "n")
        .filter(engine::webhooks::owned_by(tenant))
        // Ids are ULIDs: the time range is a primary-key range.
        .filter(webhook::Column::Id.gte(id_floor(first_minute - TimeDelta::seconds(1))))
        .filter(webhook::Column::CreatedAt.gte(first_minute))
        .group_by(minute_of(backend, "webhooks", "created_at"))
        .into_tuple()
        .all(db)
        .await
}

/// Delivery attempts since `first_minute`: (minute, 2xx answers, all), by minute.
async fn attempts_by_minute(
    db: &DatabaseConnection,
    tenant: Option<&str>,
    first_minute: DateTime<Utc>,
) -> Result<Vec<(i64, i64, i64)>, DbErr> {
    let backend = db.get_database_backend();
    let mut attempts = delivery_attempt::Entity::find()
        .select_only()
        .column_as(minute_of(backend, "delivery_attempts", "started_at"), "m")
        .column_as(
            Expr::cust(
                "SUM(CASE WHEN delivery_attempts.status_code BETWEEN 200 AND 299 THEN 1 ELSE 0 END)",
            ),
            "ok",
        )
        .column_as(delivery_attempt::Column::Id.count(), "n")
        .filter(delivery_attempt::Column::StartedAt.gte(first_minute))
        .group_by(minute_of(backend, "delivery_attempts", "started_at"));
    if let Some(tenant) = tenant {
        attempts = attempts
            .join(
                JoinType::InnerJoin,
                delivery_attempt::Relation::Webhook.def(),
            )
            .filter(webhook::Column::TenantId.eq(tenant));
    }
    attempts.into_tuple().all(db).await
}

/// Submission-to-callback milliseconds of the newest deliveries since `since`, sorted: each
/// webhook's first delivery only, the scheduled attempt a receiver acknowledged. A manual
/// redelivery (of a webhook delivered long ago, say) says nothing of how fast the platform
/// delivers; counting it made one redelivery of a minute-old webhook the hour's p99.
async fn latencies_since(
    db: &DatabaseConnection,
    tenant: Option<&str>,
    since: DateTime<Utc>,
) -> Result<Vec<i64>, DbErr> {
    let mut first = delivery_attempt::Entity::find()
        .select_only()
        .column(webhook::Column::CreatedAt)
        .column(delivery_attempt::Column::StartedAt)
        .column(delivery_attempt::Column::DurationMs)
        .join(
            JoinType::InnerJoin,
            delivery_attempt::Relation::Webhook.def(),
        )
        .filter(delivery_attempt::Column::Trigger.eq(entity::webhook::DeliveryTrigger::Scheduled))
        .filter(delivery_attempt::Column::StatusCode.between(200, 299))
        .filter(delivery_attempt::Column::StartedAt.gte(since));
    if let Some(tenant) = tenant {
        first = first.filter(webhook::Column::TenantId.eq(tenant));
    }
    let delivered: Vec<(DateTime<Utc>, DateTime<Utc>, i64)> = first
        .order_by_desc(delivery_attempt::Column::StartedAt)
        .limit(LATENCY_SAMPLE)
        .into_tuple()
        .all(db)
        .await?;
    let mut latencies: Vec<i64> = delivered
        .into_iter()
        .map(|(created, started, took)| (started - created).num_milliseconds() + took)
        .collect();
    latencies.sort_unstable();
    Ok(latencies)
}

/// The start of `at`'s minute.
fn minute_start(at: DateTime<Utc>) -> DateTime<Utc> {
    at.with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(at)
}

/// Minutes since the epoch of `table.column`, in this backend's SQL.
fn minute_of(backend: DbBackend, table: &str, column: &str) -> SimpleExpr {
    match backend {
        DbBackend::Postgres => Expr::cust(format!(
            "CAST(FLOOR(EXTRACT(EPOCH FROM {table}.{column}) / 60) AS BIGINT)"
        )),
        // SQLite keeps times as RFC 3339 text, which its date functions read.
        _ => Expr::cust(format!(
            "CAST(strftime('%s', {table}.{column}) AS INTEGER) / 60"
        )),
    }
}

/// The `p`th percentile (nearest rank) of sorted `values`.
fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let values: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&values, 50.0), Some(50));
        assert_eq!(percentile(&values, 99.0), Some(99));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn a_minute_starts_on_its_zeroth_second() {
        let at = DateTime::parse_from_rfc3339("2026-03-01T12:34:56.789Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(minute_start(at).to_rfc3339(), "2026-03-01T12:34:00+00:00");
    }
}
