//! Fewer index entries per collection. A `webhooks` row is written four times in its life
//! (submitted, claimed, collected, delivered) and none of those writes is a HOT update, so
//! each one adds an entry to every index of the table:
//!
//! - the two `delivered_at` indexes served the console's last-hour figures, which now read
//!   `delivery_attempts`; nothing reads them;
//! - the sweeper only looks for unfinished webhooks, and retention only for finished ones,
//!   so each of their indexes holds only the rows it is asked about (partial indexes);
//! - `idempotency_key` has been unused since idempotency moved to `idempotency_records`;
//!   its unique index indexed a NULL per row (dropped on Postgres; SQLite cannot drop a
//!   UNIQUE column, and an embedded instance does not feel it);
//! - a provider row's result is written in place when its page has room (HOT), which needs
//!   free space on the page it was inserted into (Postgres `fillfactor`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The partial indexes, by name: (table, columns, which rows).
const PARTIAL: [(&str, &str, &str); 2] = [
    (
        "idx_webhooks_status_next_run",
        "webhooks (status, next_run_at)",
        "status IN ('collecting', 'delivering')",
    ),
    (
        "idx_webhooks_status_updated",
        "webhooks (status, updated_at)",
        "status IN ('delivered', 'parked')",
    ),
];

/// The indexes nothing reads any more: (name, table and columns).
const UNUSED: [(&str, &str); 2] = [
    ("idx_webhooks_delivered_at", "webhooks (delivered_at)"),
    (
        "idx_webhooks_tenant_delivered_at",
        "webhooks (tenant_id, delivered_at)",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, _) in UNUSED {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
        }
        for (name, on, rows) in PARTIAL {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
            db.execute_unprepared(&format!("CREATE INDEX {name} ON {on} WHERE {rows}"))
                .await?;
        }
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("ALTER TABLE webhooks DROP COLUMN IF EXISTS idempotency_key")
                .await?;
            db.execute_unprepared("ALTER TABLE webhook_providers SET (fillfactor = 70)")
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("ALTER TABLE webhook_providers RESET (fillfactor)")
                .await?;
            db.execute_unprepared(
                "ALTER TABLE webhooks ADD COLUMN IF NOT EXISTS idempotency_key text UNIQUE",
            )
            .await?;
        }
        // The partial indexes as they were: the same columns, every row.
        for (name, on, _) in PARTIAL {
            db.execute_unprepared(&format!("DROP INDEX {name}")).await?;
            db.execute_unprepared(&format!("CREATE INDEX {name} ON {on}"))
                .await?;
        }
        for (name, on) in UNUSED {
            db.execute_unprepared(&format!("CREATE INDEX IF NOT EXISTS {name} ON {on}"))
                .await?;
        }
        Ok(())
    }
}
