use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Id,
    CallbackUrl,
    Status,
    Outcome,
    IdempotencyKey,
    CreatedAt,
    DeadlineAt,
    CollectedAt,
    DeliveredAt,
    UpdatedAt,
    Payload,
    DeliveryAttempts,
    AttemptLimit,
    DeliveryTrigger,
    NextRunAt,
    ClaimedBy,
}

#[derive(DeriveIden)]
enum WebhookProviders {
    Table,
    WebhookId,
    Provider,
    Position,
    Status,
    Attempts,
    LastError,
    Data,
    FetchedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DeliveryAttempts {
    Table,
    Id,
    WebhookId,
    Number,
    Trigger,
    Url,
    StartedAt,
    DurationMs,
    StatusCode,
    ErrorKind,
    ErrorMessage,
    ResponseBody,
    NextAttemptAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Webhooks::Table)
                    .if_not_exists()
                    .col(text(Webhooks::Id).primary_key())
                    .col(text(Webhooks::CallbackUrl))
                    .col(text(Webhooks::Status))
                    .col(text_null(Webhooks::Outcome))
                    .col(text_null(Webhooks::IdempotencyKey).unique_key())
                    .col(timestamp_with_time_zone(Webhooks::CreatedAt))
                    .col(timestamp_with_time_zone(Webhooks::DeadlineAt))
                    .col(timestamp_with_time_zone_null(Webhooks::CollectedAt))
                    .col(timestamp_with_time_zone_null(Webhooks::DeliveredAt))
                    .col(timestamp_with_time_zone(Webhooks::UpdatedAt))
                    .col(text_null(Webhooks::Payload))
                    .col(integer(Webhooks::DeliveryAttempts).default(0))
                    .col(integer(Webhooks::AttemptLimit).default(0))
                    .col(text(Webhooks::DeliveryTrigger).default("scheduled"))
                    .col(timestamp_with_time_zone_null(Webhooks::NextRunAt))
                    .col(text_null(Webhooks::ClaimedBy))
                    .to_owned(),
            )
            .await?;
        // The sweeper looks for unfinished webhooks whose next job is overdue; lists filter
        // by status and page by id.
        manager
            .create_index(
                Index::create()
                    .name("idx_webhooks_status_next_run")
                    .table(Webhooks::Table)
                    .col(Webhooks::Status)
                    .col(Webhooks::NextRunAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhooks_status_id")
                    .table(Webhooks::Table)
                    .col(Webhooks::Status)
                    .col(Webhooks::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookProviders::Table)
                    .if_not_exists()
                    .col(text(WebhookProviders::WebhookId))
                    .col(text(WebhookProviders::Provider))
                    .col(integer(WebhookProviders::Position))
                    .col(text(WebhookProviders::Status))
                    .col(integer(WebhookProviders::Attempts).default(0))
                    .col(text_null(WebhookProviders::LastError))
                    .col(text_null(WebhookProviders::Data))
                    .col(timestamp_with_time_zone_null(WebhookProviders::FetchedAt))
                    .col(timestamp_with_time_zone(WebhookProviders::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(WebhookProviders::WebhookId)
                            .col(WebhookProviders::Provider),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_providers_webhook")
                            .from(WebhookProviders::Table, WebhookProviders::WebhookId)
                            .to(Webhooks::Table, Webhooks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DeliveryAttempts::Table)
                    .if_not_exists()
                    .col(big_pk_auto(DeliveryAttempts::Id))
                    .col(text(DeliveryAttempts::WebhookId))
                    .col(integer(DeliveryAttempts::Number))
                    .col(text(DeliveryAttempts::Trigger))
                    .col(text(DeliveryAttempts::Url))
                    .col(timestamp_with_time_zone(DeliveryAttempts::StartedAt))
                    .col(big_integer(DeliveryAttempts::DurationMs))
                    .col(integer_null(DeliveryAttempts::StatusCode))
                    .col(text_null(DeliveryAttempts::ErrorKind))
                    .col(text_null(DeliveryAttempts::ErrorMessage))
                    .col(text_null(DeliveryAttempts::ResponseBody))
                    .col(timestamp_with_time_zone_null(
                        DeliveryAttempts::NextAttemptAt,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_delivery_attempts_webhook")
                            .from(DeliveryAttempts::Table, DeliveryAttempts::WebhookId)
                            .to(Webhooks::Table, Webhooks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_delivery_attempts_webhook")
                    .table(DeliveryAttempts::Table)
                    .col(DeliveryAttempts::WebhookId)
                    .col(DeliveryAttempts::Number)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            DeliveryAttempts::Table.into_iden(),
            WebhookProviders::Table.into_iden(),
            Webhooks::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
