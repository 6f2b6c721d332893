use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Streams {
    Table,
    Id,
    Provider,
    IntervalSeconds,
    Status,
    AnchorAt,
    NextRunAt,
    CreatedAt,
    UpdatedAt,
    StoppedAt,
}

#[derive(DeriveIden)]
enum StreamBatches {
    Table,
    Id,
    StreamId,
    Slot,
    Status,
    Data,
    Error,
    StartedAt,
    FinishedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Streams::Table)
                    .if_not_exists()
                    .col(text(Streams::Id).primary_key())
                    .col(text(Streams::Provider))
                    .col(big_integer(Streams::IntervalSeconds))
                    .col(text(Streams::Status))
                    .col(big_integer(Streams::AnchorAt))
                    .col(big_integer_null(Streams::NextRunAt))
                    .col(timestamp_with_time_zone(Streams::CreatedAt))
                    .col(timestamp_with_time_zone(Streams::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Streams::StoppedAt))
                    .to_owned(),
            )
            .await?;
        // The sweeper looks for active streams whose next run is overdue.
        manager
            .create_index(
                Index::create()
                    .name("idx_streams_status_next_run")
                    .table(Streams::Table)
                    .col(Streams::Status)
                    .col(Streams::NextRunAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StreamBatches::Table)
                    .if_not_exists()
                    .col(big_pk_auto(StreamBatches::Id))
                    .col(text(StreamBatches::StreamId))
                    .col(big_integer(StreamBatches::Slot))
                    .col(text(StreamBatches::Status))
                    .col(text_null(StreamBatches::Data))
                    .col(text_null(StreamBatches::Error))
                    .col(timestamp_with_time_zone(StreamBatches::StartedAt))
                    .col(timestamp_with_time_zone_null(StreamBatches::FinishedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_stream_batches_stream")
                            .from(StreamBatches::Table, StreamBatches::StreamId)
                            .to(Streams::Table, Streams::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One run per slot, however many workers: a run starts by inserting its slot.
        manager
            .create_index(
                Index::create()
                    .name("idx_stream_batches_stream_slot")
                    .table(StreamBatches::Table)
                    .col(StreamBatches::StreamId)
                    .col(StreamBatches::Slot)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [StreamBatches::Table.into_iden(), Streams::Table.into_iden()] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
