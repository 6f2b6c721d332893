//! The database connection, the same for Postgres and SQLite, and the statements built by
//! hand for both (`group` writes many jobs' rows as one).

pub mod group;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr,
    TransactionTrait,
};

use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::config::StoreConfig;

/// How a process uses its pooled connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Requests: each connection is pinged before it is handed out, so a database restart
    /// costs no request an error, at one round trip more per statement.
    Requests,
    /// Jobs: no ping; a job retries a transient error (`retry_transient`) and its steps are
    /// idempotent, so a stale connection after a restart costs a retry, not a round trip
    /// on every statement.
    Jobs,
}

/// Connects to `DATABASE_URL` for `used_by` and, when configured, applies pending migrations.
pub async fn connect(store: &StoreConfig, used_by: Use) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(store.database_url.expose_secret());
    options
        .max_connections(store.database_max_connections)
        .test_before_acquire(used_by == Use::Requests)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false)
        // SQLite is shared with the queue: wait for its lock instead of failing at once, and
        // let readers run beside the writer.
        .map_sqlx_sqlite_opts(|opts| {
            opts.busy_timeout(Duration::from_secs(5))
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                .foreign_keys(true)
        });
    let mut db = Database::connect(options).await?;
    db.set_metric_callback(|info| crate::metrics::db_statement(&info.statement.sql));
    if store.migrate {
        migrate(&db).await?;
    }
    Ok(db)
}

/// The pool for `DATABASE_REPLICA_URL`, if set: opened lazily (a replica that is away at
/// start is reached once it answers) and never migrated (a replica is read-only and follows
/// the primary's schema).
pub async fn connect_replica(store: &StoreConfig) -> Result<Option<DatabaseConnection>, DbErr> {
    let Some(url) = &store.database_replica_url else {
        return Ok(None);
    };
    let mut options = ConnectOptions::new(url.expose_secret());
    options
        .max_connections(store.database_max_connections)
        .test_before_acquire(true)
        .connect_lazy(true)
        .connect_timeout(Duration::from_secs(2))
        .acquire_timeout(Duration::from_secs(2))
        .sqlx_logging(false);
    Ok(Some(Database::connect(options).await?))
}

/// How far the replica's data is behind the primary's, in seconds: 0 when it has replayed
/// everything it received, else the age of the last transaction it replayed.
pub async fn replica_lag(replica: &DatabaseConnection) -> Result<f64, DbErr> {
    let row = replica
        .query_one_raw(sea_orm::Statement::from_string(
            DbBackend::Postgres,
            "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 \
             ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) \
             END::float8 AS lag",
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the replica's lag".into()))?;
    row.try_get::<f64>("", "lag")
}

/// Connects like `connect`, but waits out a database that cannot be reached yet (capped
/// exponential backoff, logged once), so a process can start before its database. `None`
/// if `cancel` fired first.
pub async fn connect_patiently(
    store: &StoreConfig,
    used_by: Use,
    cancel: &CancellationToken,
) -> Result<Option<DatabaseConnection>, DbErr> {
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(10));
    let mut logged = false;
    loop {
        match connect(store, used_by).await {
            Ok(db) => {
                if logged {
                    tracing::warn!("database reachable; starting");
                }
                return Ok(Some(db));
            }
            Err(error @ (DbErr::Conn(_) | DbErr::ConnectionAcquire(_))) => {
                if !logged {
                    tracing::error!(%error, "database unreachable at start; waiting for it");
                    logged = true;
                }
            }
            Err(error) => return Err(error),
        }
        tokio::select! {
            () = cancel.cancelled() => return Ok(None),
            () = tokio::time::sleep(backoff.next_wait()) => {}
        }
    }
}

/// Names datahog's migration lock among Postgres advisory locks ("datahog" in ASCII).
const MIGRATION_LOCK: i64 = 0x0064_6174_6168_6f67;

/// Applies pending migrations, one process at a time: an api and several workers starting
/// together on a fresh database would otherwise race to create the same tables.
async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    if db.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
            .await?;
    }
    Migrator::up(&txn, None).await?;
    txn.commit().await
}

/// `first` as a data-modifying common table expression of `then`, both built for Postgres:
/// one statement, so one round trip and no transaction, and both or neither take effect.
/// The row count is `then`'s. `then`'s placeholders are renumbered after `first`'s.
pub fn before(first: sea_orm::Statement, then: sea_orm::Statement) -> sea_orm::Statement {
    let mut values = first.values.map(|v| v.0).unwrap_or_default();
    let sql = format!(
        "WITH first AS ({}) {}",
        first.sql,
        renumber(&then.sql, values.len())
    );
    values.extend(then.values.map(|v| v.0).unwrap_or_default());
    sea_orm::Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// Placeholder `n` (from 1) of a statement built by hand: numbered on both backends, so
/// one value may be used twice.
pub fn placeholder(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => format!("?{n}"),
    }
}

/// `rows` rows of `columns` placeholders each, numbered from `first`, for a `VALUES` list:
/// `($3, $4), ($5, $6)`.
pub fn values_rows(backend: DbBackend, rows: usize, columns: usize, first: usize) -> String {
    let mut out = String::with_capacity(rows * columns * 6);
    for row in 0..rows {
        if row > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for column in 0..columns {
            if column > 0 {
                out.push_str(", ");
            }
            out.push_str(&placeholder(backend, first + row * columns + column));
        }
        out.push(')');
    }
    out
}

/// The placeholders of column `column` of every row of `values_rows(backend, rows,
/// columns, first)`, comma-separated: the same values again, for an `IN` list. A statement
/// joining a partitioned table to its `VALUES` by the partition key names the keys this way
/// too, so Postgres plans it for the partitions they fall in, not for every one.
pub fn values_column(
    backend: DbBackend,
    rows: usize,
    columns: usize,
    first: usize,
    column: usize,
) -> String {
    (0..rows)
        .map(|row| placeholder(backend, first + row * columns + column))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `sql` with each `$n` placeholder outside quotes made `$(n + by)`.
fn renumber(sql: &str, by: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut quote = None;
    while let Some(c) = chars.next() {
        out.push(c);
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '$') => {
                let mut digits = String::new();
                while let Some(d) = chars.next_if(char::is_ascii_digit) {
                    digits.push(d);
                }
                match digits.parse::<usize>() {
                    Ok(n) => out.push_str(&(n + by).to_string()),
                    Err(_) => out.push_str(&digits),
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use sea_orm::{Statement, Value};

    use super::*;

    #[test]
    fn a_values_list_numbers_its_placeholders_on_from_the_first() {
        assert_eq!(
            values_rows(DbBackend::Postgres, 2, 2, 3),
            "($3, $4), ($5, $6)"
        );
        assert_eq!(values_rows(DbBackend::Sqlite, 1, 3, 1), "(?1, ?2, ?3)");
    }

    #[test]
    fn a_statement_before_another_keeps_every_value_in_its_place() {
        let first = Statement::from_sql_and_values(
            DbBackend::Postgres,
            r#"UPDATE "a" SET "x" = $1 WHERE "id" = $2"#,
            [Value::from(1), Value::from("a")],
        );
        let then = Statement::from_sql_and_values(
            DbBackend::Postgres,
            r#"UPDATE "b$1" SET "y" = $1 WHERE "id" = $2 AND 'it''s $3' <> $3"#,
            [Value::from(2), Value::from("b"), Value::from("c")],
        );
        let both = before(first, then);
        assert_eq!(
            both.sql,
            r#"WITH first AS (UPDATE "a" SET "x" = $1 WHERE "id" = $2) UPDATE "b$1" SET "y" = $3 WHERE "id" = $4 AND 'it''s $3' <> $5"#
        );
        assert_eq!(both.values.unwrap().0.len(), 5);
    }
}
