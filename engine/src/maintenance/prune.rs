//! The prune: every table that grows with use is trimmed to its retention, once per
//! `PRUNE_INTERVAL` across all workers, at most `BATCH` rows per statement so that it never
//! holds long locks.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{stream, stream_batch, webhook};
use openapi::webhooks::WebhookStatus;
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use super::partitions;
use crate::config::WorkerConfig;
use crate::context::JobContext;
use crate::error::JobError;
use crate::periodic::Periodic;

/// Most rows one statement deletes.
pub const BATCH: u64 = 1_000;

/// How long counter flush and rejection records are kept. A flush record guards its batch
/// against being applied twice, so it must outlive any batch left in the buffer: a week is
/// far longer than any flush takes.
pub const COUNTER_RECORD_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// A table whose rows expire by age, independently of any other.
struct Aged {
    /// The table.
    table: &'static str,
    /// Its primary key's columns.
    key: &'static [&'static str],
    /// The column holding each row's age.
    at: &'static str,
    /// How long its rows are kept.
    keep: fn(&WorkerConfig) -> Duration,
}

/// The tables pruned by age alone: one line each.
const AGED: &[Aged] = &[
    Aged {
        table: "counter_flushes",
        key: &["batch_id"],
        at: "applied_at",
        keep: |_| COUNTER_RECORD_RETENTION,
    },
    Aged {
        table: "counter_rejections",
        key: &["id"],
        at: "created_at",
        keep: |_| COUNTER_RECORD_RETENTION,
    },
    Aged {
        table: "idempotency_records",
        key: &["tenant_id", "route", "key"],
        at: "created_at",
        keep: |config| config.webhooks.idempotency_ttl,
    },
    Aged {
        table: "maintenance_runs",
        key: &["job", "slot"],
        at: "claimed_at",
        keep: |config| config.maintenance.maintenance_retention,
    },
];

/// The prune of the database: rows past their retention removed.
pub struct Prune;

impl Periodic for Prune {
    const NAME: &'static str = "prune";
    const QUEUE: &'static str = "prune";

    fn interval(config: &WorkerConfig) -> Duration {
        config.maintenance.prune_interval
    }

    async fn work(ctx: &JobContext) -> Result<u64, JobError> {
        Ok(prune(&ctx.db, &ctx.config, Utc::now()).await?)
    }
}

/// Removes every row past its retention as of `now`; returns how many, counted by table in
/// `datahog_pruned_rows_total`.
pub async fn prune(
    db: &DatabaseConnection,
    config: &WorkerConfig,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    prune_with(db, config, now, Days::Drop).await
}

/// Whether the prune drops whole days of webhooks where it can (Postgres).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Days {
    /// Drop each day whose webhooks are all expired, then delete what is left row by row.
    Drop,
    /// Delete every expired webhook row by row (what the prune did before partitions; the
    /// bench compares the two).
    Keep,
}

/// `prune`, with the choice of dropping whole days or not.
pub async fn prune_with(
    db: &DatabaseConnection,
    config: &WorkerConfig,
    now: DateTime<Utc>,
    days: Days,
) -> Result<u64, DbErr> {
    let mut total = 0;
    let delivered_cutoff = now - config.maintenance.retention;
    let parked_cutoff = now - config.maintenance.parked_retention;
    if db.get_database_backend() == DbBackend::Postgres {
        // The days ahead first: a submission must never find its day missing.
        partitions::make_ahead(db, now.date_naive()).await;
        if days == Days::Drop {
            let dropped = partitions::drop_expired(db, delivered_cutoff, parked_cutoff).await?;
            counted("webhooks", dropped.webhooks);
            counted("webhook_providers", dropped.providers);
            counted("delivery_attempts", dropped.attempts);
            metrics::counter!("datahog_pruned_days_total").increment(dropped.days);
            total += dropped.webhooks + dropped.providers + dropped.attempts;
        }
    }
    let finished = [
        (WebhookStatus::Delivered, delivered_cutoff),
        (WebhookStatus::Parked, parked_cutoff),
    ];
    for (status, cutoff) in finished {
        total += prune_webhooks(db, status, cutoff).await?;
    }
    for aged in AGED {
        let cutoff = now - (aged.keep)(config);
        let condition = Condition::all().add(Expr::col(Alias::new(aged.at)).lt(cutoff));
        let mut removed = 0;
        loop {
            let deleted = delete_batch(db, aged.table, aged.key, condition.clone()).await?;
            removed += deleted;
            if deleted < BATCH {
                break;
            }
        }
        counted(aged.table, removed);
        total += removed;
    }
    total += prune_stream_batches(db, config.streams.stream_retention).await?;
    tracing::info!(removed = total, "pruned rows past their retention");
    Ok(total)
}

fn counted(table: &'static str, rows: u64) {
    metrics::counter!("datahog_pruned_rows_total", "table" => table).increment(rows);
}

/// Deletes up to `BATCH` rows of `table` (primary key `key`) that match `condition`.
async fn delete_batch<C: ConnectionTrait>(
    db: &C,
    table: &str,
    key: &[&str],
    condition: Condition,
) -> Result<u64, DbErr> {
    let mut chosen = Query::select();
    chosen
        .from(Alias::new(table))
        .cond_where(condition)
        .limit(BATCH);
    for column in key {
        chosen.column(Alias::new(*column));
    }
    let key: SimpleExpr = match key {
        [one] => Expr::col(Alias::new(*one)),
        many => Expr::tuple(many.iter().map(|c| Expr::col(Alias::new(*c)))),
    };
    let delete = Query::delete()
        .from_table(Alias::new(table))
        .and_where(key.in_subquery(chosen))
        .to_owned();
    Ok(db.execute(&delete).await?.rows_affected())
}

/// Deletes the webhooks in `status` that last changed before `cutoff`, with their provider
/// results and delivery attempts: `BATCH` webhooks per transaction, their rows locked
/// (Postgres) or the database written alone (SQLite), so that a redelivery asked
/// meanwhile either comes first, and the webhook is kept, or finds it gone.
async fn prune_webhooks(
    db: &DatabaseConnection,
    status: WebhookStatus,
    cutoff: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let (mut webhooks, mut providers, mut attempts) = (0, 0, 0);
    loop {
        let txn = db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await?;
        let ids: Vec<String> = webhook::Entity::find()
            .select_only()
            .column(webhook::Column::Id)
            .filter(webhook::Column::Status.eq(status.as_str()))
            .filter(webhook::Column::UpdatedAt.lt(cutoff))
            .order_by_asc(webhook::Column::UpdatedAt)
            .limit(BATCH)
            .lock_exclusive()
            .into_tuple()
            .all(&txn)
            .await?;
        if ids.is_empty() {
            txn.rollback().await?;
            break;
        }
        let of_these =
            || Condition::all().add(Expr::col(Alias::new("webhook_id")).is_in(ids.iter().cloned()));
        loop {
            // By the full key: on Postgres it finds each attempt in its day's partition.
            let key = &["webhook_id", "id"];
            let deleted = delete_batch(&txn, "delivery_attempts", key, of_these()).await?;
            attempts += deleted;
            if deleted < BATCH {
                break;
            }
        }
        loop {
            let key = &["webhook_id", "provider"];
            let deleted = delete_batch(&txn, "webhook_providers", key, of_these()).await?;
            providers += deleted;
            if deleted < BATCH {
                break;
            }
        }
        let deleted = webhook::Entity::delete_many()
            .filter(webhook::Column::Id.is_in(ids.iter().cloned()))
            .exec(&txn)
            .await?;
        webhooks += deleted.rows_affected;
        txn.commit().await?;
        if (ids.len() as u64) < BATCH {
            break;
        }
    }
    counted("webhooks", webhooks);
    counted("webhook_providers", providers);
    counted("delivery_attempts", attempts);
    Ok(webhooks + providers + attempts)
}

/// Keeps each stream's newest `keep` batches, and its latest complete batch however old
/// (what `GET /v1/streams/{id}/data` answers).
async fn prune_stream_batches(db: &DatabaseConnection, keep: u64) -> Result<u64, DbErr> {
    let streams: Vec<String> = stream::Entity::find()
        .select_only()
        .column(stream::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let mut removed = 0;
    for id in streams {
        removed += prune_batches_of(db, &id, keep).await?;
    }
    counted("stream_batches", removed);
    Ok(removed)
}

/// Keeps the newest `keep` batches of stream `id` and its latest complete one; returns how
/// many were removed.
pub async fn prune_batches_of<C: ConnectionTrait>(
    db: &C,
    id: &str,
    keep: u64,
) -> Result<u64, DbErr> {
    let slot_of = |nth_newest: u64, complete: bool| {
        let mut query = stream_batch::Entity::find()
            .select_only()
            .column(stream_batch::Column::Slot)
            .filter(stream_batch::Column::StreamId.eq(id))
            .order_by_desc(stream_batch::Column::Slot)
            .offset(nth_newest)
            .limit(1);
        if complete {
            query = query.filter(stream_batch::Column::Status.eq("complete"));
        }
        query.into_tuple::<i64>().one(db)
    };
    let Some(oldest_kept) = slot_of(keep.saturating_sub(1), false).await? else {
        return Ok(0);
    };
    let latest_complete = slot_of(0, true).await?;
    let mut condition = Condition::all()
        .add(Expr::col(stream_batch::Column::StreamId).eq(id))
        .add(Expr::col(stream_batch::Column::Slot).lt(oldest_kept));
    if let Some(slot) = latest_complete {
        condition = condition.add(Expr::col(stream_batch::Column::Slot).ne(slot));
    }
    let mut removed = 0;
    loop {
        let deleted = delete_batch(db, "stream_batches", &["id"], condition.clone()).await?;
        removed += deleted;
        if deleted < BATCH {
            return Ok(removed);
        }
    }
}
