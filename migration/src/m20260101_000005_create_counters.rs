use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Counters {
    Table,
    Key,
    Value,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CounterFlushes {
    Table,
    BatchId,
    Keys,
    AppliedAt,
    DurationMs,
}

#[derive(DeriveIden)]
enum CounterRejections {
    Table,
    Id,
    BatchId,
    Key,
    Delta,
    Reason,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CounterBuffer {
    Table,
    BatchId,
    Key,
    Delta,
    FirstAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Counters::Table)
                    .if_not_exists()
                    .col(text(Counters::Key).primary_key())
                    .col(big_integer(Counters::Value))
                    .col(timestamp_with_time_zone(Counters::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // One row per applied batch: the flush inserts it in the transaction that applies
        // the batch, so applying a batch twice is refused by the primary key.
        manager
            .create_table(
                Table::create()
                    .table(CounterFlushes::Table)
                    .if_not_exists()
                    .col(text(CounterFlushes::BatchId).primary_key())
                    .col(big_integer(CounterFlushes::Keys))
                    .col(timestamp_with_time_zone(CounterFlushes::AppliedAt))
                    .col(big_integer(CounterFlushes::DurationMs).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CounterRejections::Table)
                    .if_not_exists()
                    .col(big_pk_auto(CounterRejections::Id))
                    .col(text(CounterRejections::BatchId))
                    .col(text(CounterRejections::Key))
                    .col(big_integer(CounterRejections::Delta))
                    .col(text(CounterRejections::Reason))
                    .col(timestamp_with_time_zone(CounterRejections::CreatedAt))
                    .to_owned(),
            )
            .await?;
        // The embedded mode's increment buffer (production buffers in Redis). Pending
        // increments have batch_id '', a batch being flushed has its id.
        if manager.get_database_backend() == sea_orm::DbBackend::Sqlite {
            manager
                .create_table(
                    Table::create()
                        .table(CounterBuffer::Table)
                        .if_not_exists()
                        .col(text(CounterBuffer::BatchId).default(""))
                        .col(text(CounterBuffer::Key))
                        .col(big_integer(CounterBuffer::Delta))
                        .col(timestamp_with_time_zone(CounterBuffer::FirstAt))
                        .primary_key(
                            Index::create()
                                .col(CounterBuffer::BatchId)
                                .col(CounterBuffer::Key),
                        )
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Counters::Table.into_iden(),
            CounterFlushes::Table.into_iden(),
            CounterRejections::Table.into_iden(),
            CounterBuffer::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
