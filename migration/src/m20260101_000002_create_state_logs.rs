use sea_orm_migration::{prelude::*, schema::*};

use crate::m20260101_000001_create_vehicles::Vehicles;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum StateLogs {
    Table,
    Id,
    VehicleId,
    State,
    Timestamp,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StateLogs::Table)
                    .if_not_exists()
                    .col(big_pk_auto(StateLogs::Id))
                    .col(integer(StateLogs::VehicleId))
                    .col(text(StateLogs::State))
                    .col(timestamp_with_time_zone(StateLogs::Timestamp))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_state_logs_vehicle")
                            .from(StateLogs::Table, StateLogs::VehicleId)
                            .to(Vehicles::Table, Vehicles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The lookup is "latest log of this vehicle at or before t": one index serves it
        // as a backward range scan.
        manager
            .create_index(
                Index::create()
                    .name("idx_state_logs_vehicle_timestamp")
                    .table(StateLogs::Table)
                    .col(StateLogs::VehicleId)
                    .col(StateLogs::Timestamp)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StateLogs::Table).to_owned())
            .await
    }
}
