//! Indexes the prune job (and `/metrics`) read by: each table's rows by age, and each
//! stream's batches by status.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (index, table, columns): one line per index.
const INDEXES: &[(&str, &str, &[&str])] = &[
    // Finished and parked webhooks by when they last changed.
    (
        "idx_webhooks_status_updated",
        "webhooks",
        &["status", "updated_at"],
    ),
    // The newest applied batch (`/metrics`) and the old ones (prune).
    (
        "idx_counter_flushes_applied",
        "counter_flushes",
        &["applied_at"],
    ),
    (
        "idx_counter_rejections_created",
        "counter_rejections",
        &["created_at"],
    ),
    (
        "idx_maintenance_runs_claimed",
        "maintenance_runs",
        &["claimed_at"],
    ),
    // A stream's latest complete batch, which pruning always keeps.
    (
        "idx_stream_batches_stream_status_slot",
        "stream_batches",
        &["stream_id", "status", "slot"],
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, columns) in INDEXES {
            let mut index = Index::create();
            index.name(*name).table(Alias::new(*table)).if_not_exists();
            for column in *columns {
                index.col(Alias::new(*column));
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _) in INDEXES {
            manager
                .drop_index(
                    Index::drop()
                        .name(*name)
                        .table(Alias::new(*table))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
