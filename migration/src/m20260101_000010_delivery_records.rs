use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DeliveryAttempts {
    Table,
    Status,
}

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    QueuedTask,
}

/// A delivery attempt is recorded `in_flight` before its POST and completed after it, so
/// the history never has fewer attempts than the receiver saw. Rows from before this
/// migration were all recorded after their POST: `completed`. A webhook records the queue
/// task its next job was pushed as, so the sweeper can tell a backlog from a lost job.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(DeliveryAttempts::Table)
                    .add_column(text(DeliveryAttempts::Status).default("completed"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Webhooks::Table)
                    .add_column(text_null(Webhooks::QueuedTask))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(DeliveryAttempts::Table)
                    .drop_column(DeliveryAttempts::Status)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Webhooks::Table)
                    .drop_column(Webhooks::QueuedTask)
                    .to_owned(),
            )
            .await
    }
}
