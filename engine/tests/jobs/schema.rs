//! The schema's migrations go down and up again on both backends, and leaves the
//! webhooks' indexes as the hot path needs them: no index nothing reads, the sweeper's and
//! retention's indexes holding only the rows they are asked about.

use engine::both_modes;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};
use secrecy::ExposeSecret;

use crate::helpers::{Mode, TestEngine};

/// The webhooks table's indexes: (name, definition), by name.
async fn webhook_indexes(db: &DatabaseConnection) -> Vec<(String, String)> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT indexname AS name, indexdef AS def FROM pg_indexes \
             WHERE tablename = 'webhooks' ORDER BY indexname"
        }
        _ => {
            "SELECT name, COALESCE(sql, '') AS def FROM sqlite_master \
             WHERE type = 'index' AND tbl_name = 'webhooks' ORDER BY name"
        }
    };
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("list indexes");
    rows.iter()
        .map(|row| {
            (
                row.try_get::<String>("", "name").expect("name"),
                row.try_get::<String>("", "def").expect("def"),
            )
        })
        .collect()
}

/// The definition of index `name`, if there is one.
fn definition<'a>(indexes: &'a [(String, String)], name: &str) -> Option<&'a str> {
    indexes
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, def)| def.as_str())
}

/// Whether the indexes are the lean ones: the partial two filter, the unused two are gone.
fn lean(indexes: &[(String, String)]) -> bool {
    let partial = |name| definition(indexes, name).is_some_and(|d| d.contains("WHERE"));
    partial("idx_webhooks_status_next_run")
        && partial("idx_webhooks_status_updated")
        && definition(indexes, "idx_webhooks_delivered_at").is_none()
        && definition(indexes, "idx_webhooks_tenant_delivered_at").is_none()
}

both_modes!(the_migrations_go_down_and_up_again);
async fn the_migrations_go_down_and_up_again(mode: Mode) {
    let engine = TestEngine::start(mode).await;
    // One connection: SQLite's pooled connections may each read an older schema.
    let mut options = ConnectOptions::new(engine.store.database_url.expose_secret());
    options.max_connections(1);
    let db = &Database::connect(options).await.expect("connect");
    assert!(
        lean(&webhook_indexes(db).await),
        "{:?}",
        webhook_indexes(db).await
    );

    // Down, one migration at a time, to the one before the lean indexes.
    let mut before = webhook_indexes(db).await;
    for _ in 0..Migrator::migrations().len() {
        if !lean(&before) {
            break;
        }
        Migrator::down(db, Some(1)).await.expect("down");
        before = webhook_indexes(db).await;
    }
    assert!(!lean(&before), "{before:?}");
    assert!(definition(&before, "idx_webhooks_delivered_at").is_some());
    let whole = definition(&before, "idx_webhooks_status_next_run").expect("sweeper index");
    assert!(!whole.contains("WHERE"), "{whole}");

    Migrator::up(db, None).await.expect("up again");
    let after = webhook_indexes(db).await;
    assert!(lean(&after), "{after:?}");
    let sweeper = definition(&after, "idx_webhooks_status_next_run").expect("sweeper index");
    assert!(
        sweeper.contains("collecting") && sweeper.contains("delivering"),
        "{sweeper}"
    );
}
