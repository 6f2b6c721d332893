//! Indexes the console's reads need to stay fast on millions of rows: webhooks by when
//! they were delivered (the last hour's figures), webhooks by provider (the list filter),
//! attempts by when they started, counter flushes by when they were applied.
//!
//! Lists page by id, and ids are ULIDs ordered by creation time, so a created-time range
//! is an id range on the primary key and needs no index of its own.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    TenantId,
    DeliveredAt,
}

#[derive(DeriveIden)]
enum WebhookProviders {
    Table,
    Provider,
    WebhookId,
}

#[derive(DeriveIden)]
enum DeliveryAttempts {
    Table,
    StartedAt,
}

#[derive(DeriveIden)]
enum CounterFlushes {
    Table,
    AppliedAt,
}

/// Each index: its name, its table, its columns.
fn indexes() -> Vec<(&'static str, DynIden, Vec<DynIden>)> {
    vec![
        (
            "idx_webhooks_delivered_at",
            Webhooks::Table.into_iden(),
            vec![Webhooks::DeliveredAt.into_iden()],
        ),
        (
            "idx_webhooks_tenant_delivered_at",
            Webhooks::Table.into_iden(),
            vec![
                Webhooks::TenantId.into_iden(),
                Webhooks::DeliveredAt.into_iden(),
            ],
        ),
        (
            "idx_webhook_providers_provider_webhook",
            WebhookProviders::Table.into_iden(),
            vec![
                WebhookProviders::Provider.into_iden(),
                WebhookProviders::WebhookId.into_iden(),
            ],
        ),
        (
            "idx_delivery_attempts_started_at",
            DeliveryAttempts::Table.into_iden(),
            vec![DeliveryAttempts::StartedAt.into_iden()],
        ),
        (
            "idx_counter_flushes_applied_at",
            CounterFlushes::Table.into_iden(),
            vec![CounterFlushes::AppliedAt.into_iden()],
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, columns) in indexes() {
            let mut index = Index::create();
            index.name(name).table(table).if_not_exists();
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _) in indexes() {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
