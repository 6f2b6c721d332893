//! A receiver that answers 429 or 503 with `Retry-After` asks to be called later: the
//! attempt it answered is not counted against the schedule, and the webhook counts these
//! waits instead, so that a receiver asking forever is given at most `DELIVERY_SNOOZE_LIMIT`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    DeliverySnoozes,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Webhooks::Table)
                    .add_column(integer(Webhooks::DeliverySnoozes).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Webhooks::Table)
                    .drop_column(Webhooks::DeliverySnoozes)
                    .to_owned(),
            )
            .await
    }
}
