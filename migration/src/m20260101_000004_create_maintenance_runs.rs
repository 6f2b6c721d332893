use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MaintenanceRuns {
    Table,
    Job,
    Slot,
    ClaimedBy,
    ClaimedAt,
    FinishedAt,
    Executions,
    Items,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MaintenanceRuns::Table)
                    .if_not_exists()
                    .col(text(MaintenanceRuns::Job))
                    .col(big_integer(MaintenanceRuns::Slot))
                    .col(text(MaintenanceRuns::ClaimedBy))
                    .col(timestamp_with_time_zone(MaintenanceRuns::ClaimedAt))
                    .col(timestamp_with_time_zone_null(MaintenanceRuns::FinishedAt))
                    .col(integer(MaintenanceRuns::Executions).default(0))
                    .col(big_integer(MaintenanceRuns::Items).default(0))
                    .primary_key(
                        Index::create()
                            .col(MaintenanceRuns::Job)
                            .col(MaintenanceRuns::Slot),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MaintenanceRuns::Table).to_owned())
            .await
    }
}
