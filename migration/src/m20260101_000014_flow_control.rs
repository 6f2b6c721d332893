//! Flow control: what the operator and the tenants set on the providers and receivers
//! (limits, pauses), kept in the database so a pause survives restarts; on each waiting
//! webhook why it waits and on what, so a resume can wake exactly those and the waiting
//! can be counted by reason; and a submission's ordering key, whose callbacks go one at a
//! time in submission order. Only waiting and keyed rows are indexed (partial indexes),
//! so the rows moving through the pipeline add no index entry for either. And each
//! tenant's weight: its share of the collect queue when tenants have backlogs.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    WaitingFor,
    WaitingOn,
    OrderingKey,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Weight,
}

#[derive(DeriveIden)]
enum ReceiverSettings {
    Table,
    TenantId,
    Host,
    MaxConcurrent,
    MaxPerSecond,
    PausedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ProviderSettings {
    Table,
    Provider,
    MaxConcurrent,
    MaxPerSecond,
    PausedAt,
    UpdatedAt,
}

/// The partial indexes, by name: what they index, for which rows.
const INDEXES: [(&str, &str); 2] = [
    (
        "idx_webhooks_waiting",
        "webhooks (waiting_for, waiting_on, tenant_id, id) WHERE waiting_for IS NOT NULL",
    ),
    // Unfinished ones only: a key's delivered history is never walked to find its next.
    (
        "idx_webhooks_ordering",
        "webhooks (tenant_id, ordering_key, id) WHERE ordering_key IS NOT NULL \
         AND status IN ('collecting', 'delivering')",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Webhooks::WaitingFor,
            Webhooks::WaitingOn,
            Webhooks::OrderingKey,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Webhooks::Table)
                        .add_column(string_null(column))
                        .to_owned(),
                )
                .await?;
        }
        for (name, on) in INDEXES {
            manager
                .get_connection()
                .execute_unprepared(&format!("CREATE INDEX {name} ON {on}"))
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .add_column(integer(Tenants::Weight).default(1))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ReceiverSettings::Table)
                    .if_not_exists()
                    .col(string(ReceiverSettings::TenantId))
                    .col(string(ReceiverSettings::Host))
                    .col(integer_null(ReceiverSettings::MaxConcurrent))
                    .col(double_null(ReceiverSettings::MaxPerSecond))
                    .col(timestamp_with_time_zone_null(ReceiverSettings::PausedAt))
                    .col(timestamp_with_time_zone(ReceiverSettings::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(ReceiverSettings::TenantId)
                            .col(ReceiverSettings::Host),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProviderSettings::Table)
                    .if_not_exists()
                    .col(string(ProviderSettings::Provider).primary_key())
                    .col(integer_null(ProviderSettings::MaxConcurrent))
                    .col(double_null(ProviderSettings::MaxPerSecond))
                    .col(timestamp_with_time_zone_null(ProviderSettings::PausedAt))
                    .col(timestamp_with_time_zone(ProviderSettings::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ProviderSettings::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ReceiverSettings::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .drop_column(Tenants::Weight)
                    .to_owned(),
            )
            .await?;
        for (name, _) in INDEXES {
            manager
                .get_connection()
                .execute_unprepared(&format!("DROP INDEX {name}"))
                .await?;
        }
        for column in [
            Webhooks::OrderingKey,
            Webhooks::WaitingOn,
            Webhooks::WaitingFor,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Webhooks::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
