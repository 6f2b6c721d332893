//! Tenants: their API keys (hashed), signing secrets, idempotency records, and a tenant on
//! every webhook, stream and counter. Rows made before tenants existed belong to `default`.
//!
//! `webhooks.idempotency_key` is no longer written (`idempotency_records` replaces it, per
//! tenant and route); SQLite cannot drop a column with a UNIQUE constraint, so it stays,
//! null, on both backends alike.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tenant every row made before tenants existed belongs to, created here.
const DEFAULT_TENANT: &str = "default";

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Name,
    RateLimitPerSecond,
    MaxActiveStreams,
    MaxPendingWebhooks,
    ConfigSecretSha,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    TenantId,
    Hash,
    Prefix,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum SigningSecrets {
    Table,
    Id,
    TenantId,
    Secret,
    Rotation,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum IdempotencyRecords {
    Table,
    TenantId,
    Route,
    Key,
    Fingerprint,
    Status,
    ResponseStatus,
    ResponseBody,
    ContentType,
    Location,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    TenantId,
    Status,
    Id,
}

#[derive(DeriveIden)]
enum Streams {
    Table,
    Status,
}

#[derive(DeriveIden)]
enum Counters {
    Table,
    TenantId,
    Key,
    Value,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CountersUntenanted {
    Table,
}

#[derive(DeriveIden)]
enum CounterRejections {
    Table,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_tenant_tables(manager).await?;
        let db = manager.get_connection();
        let now = chrono::Utc::now();
        let insert = Query::insert()
            .into_table(Tenants::Table)
            .columns([
                Tenants::Id,
                Tenants::Name,
                Tenants::CreatedAt,
                Tenants::UpdatedAt,
            ])
            .values_panic([
                DEFAULT_TENANT.into(),
                DEFAULT_TENANT.into(),
                now.into(),
                now.into(),
            ])
            .on_conflict(OnConflict::column(Tenants::Id).do_nothing().to_owned())
            .to_owned();
        db.execute(&insert).await?;

        for table in [
            Webhooks::Table.into_iden(),
            Streams::Table.into_iden(),
            CounterRejections::Table.into_iden(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(text(Webhooks::TenantId).default(DEFAULT_TENANT))
                        .to_owned(),
                )
                .await?;
        }
        // Lists filter by tenant (and status) and page by id.
        for (name, table, status) in [
            (
                "idx_webhooks_tenant_status_id",
                Webhooks::Table.into_iden(),
                Webhooks::Status.into_iden(),
            ),
            (
                "idx_streams_tenant_status_id",
                Streams::Table.into_iden(),
                Streams::Status.into_iden(),
            ),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(table.clone())
                        .col(Webhooks::TenantId)
                        .col(status)
                        .col(Webhooks::Id)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_webhooks_tenant_id")
                    .table(Webhooks::Table)
                    .col(Webhooks::TenantId)
                    .col(Webhooks::Id)
                    .to_owned(),
            )
            .await?;
        retenant_counters(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            IdempotencyRecords::Table.into_iden(),
            SigningSecrets::Table.into_iden(),
            ApiKeys::Table.into_iden(),
            Tenants::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

async fn create_tenant_tables(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Tenants::Table)
                .if_not_exists()
                .col(text(Tenants::Id).primary_key())
                .col(text(Tenants::Name).unique_key())
                // Null: the configured default applies.
                .col(integer_null(Tenants::RateLimitPerSecond))
                .col(integer_null(Tenants::MaxActiveStreams))
                .col(integer_null(Tenants::MaxPendingWebhooks))
                // SHA-256 of the WEBHOOK_SECRET last applied to this tenant (`default` only),
                // so a changed variable is applied once and an API rotation is not undone.
                .col(text_null(Tenants::ConfigSecretSha))
                .col(timestamp_with_time_zone(Tenants::CreatedAt))
                .col(timestamp_with_time_zone(Tenants::UpdatedAt))
                .to_owned(),
        )
        .await?;
    manager
        .create_table(
            Table::create()
                .table(ApiKeys::Table)
                .if_not_exists()
                .col(text(ApiKeys::Id).primary_key())
                .col(text(ApiKeys::TenantId))
                .col(text(ApiKeys::Hash).unique_key())
                .col(text(ApiKeys::Prefix))
                .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                .col(timestamp_with_time_zone_null(ApiKeys::LastUsedAt))
                .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_api_keys_tenant")
                        .from(ApiKeys::Table, ApiKeys::TenantId)
                        .to(Tenants::Table, Tenants::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("idx_api_keys_tenant")
                .table(ApiKeys::Table)
                .col(ApiKeys::TenantId)
                .to_owned(),
        )
        .await?;
    manager
        .create_table(
            Table::create()
                .table(SigningSecrets::Table)
                .if_not_exists()
                .col(text(SigningSecrets::Id).primary_key())
                .col(text(SigningSecrets::TenantId))
                .col(text(SigningSecrets::Secret))
                .col(boolean(SigningSecrets::Rotation).default(false))
                .col(timestamp_with_time_zone(SigningSecrets::CreatedAt))
                .col(timestamp_with_time_zone_null(SigningSecrets::ExpiresAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_signing_secrets_tenant")
                        .from(SigningSecrets::Table, SigningSecrets::TenantId)
                        .to(Tenants::Table, Tenants::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("idx_signing_secrets_tenant_created")
                .table(SigningSecrets::Table)
                .col(SigningSecrets::TenantId)
                .col(SigningSecrets::CreatedAt)
                .to_owned(),
        )
        .await?;
    manager
        .create_table(
            Table::create()
                .table(IdempotencyRecords::Table)
                .if_not_exists()
                .col(text(IdempotencyRecords::TenantId))
                .col(text(IdempotencyRecords::Route))
                .col(text(IdempotencyRecords::Key))
                .col(text(IdempotencyRecords::Fingerprint))
                .col(text(IdempotencyRecords::Status))
                .col(integer_null(IdempotencyRecords::ResponseStatus))
                .col(text_null(IdempotencyRecords::ResponseBody))
                .col(text_null(IdempotencyRecords::ContentType))
                .col(text_null(IdempotencyRecords::Location))
                .col(timestamp_with_time_zone(IdempotencyRecords::CreatedAt))
                .col(timestamp_with_time_zone(IdempotencyRecords::UpdatedAt))
                .primary_key(
                    Index::create()
                        .col(IdempotencyRecords::TenantId)
                        .col(IdempotencyRecords::Route)
                        .col(IdempotencyRecords::Key),
                )
                .to_owned(),
        )
        .await?;
    // Expired records are pruned by age.
    manager
        .create_index(
            Index::create()
                .name("idx_idempotency_records_created")
                .table(IdempotencyRecords::Table)
                .col(IdempotencyRecords::CreatedAt)
                .to_owned(),
        )
        .await
}

/// `counters` is keyed by (tenant, key) now. Neither backend can change a primary key in
/// place, so the table is rebuilt and its rows copied to the `default` tenant.
async fn retenant_counters(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .rename_table(
            Table::rename()
                .table(Counters::Table, CountersUntenanted::Table)
                .to_owned(),
        )
        .await?;
    manager
        .create_table(
            Table::create()
                .table(Counters::Table)
                .col(text(Counters::TenantId))
                .col(text(Counters::Key))
                .col(big_integer(Counters::Value))
                .col(timestamp_with_time_zone(Counters::UpdatedAt))
                .primary_key(Index::create().col(Counters::TenantId).col(Counters::Key))
                .to_owned(),
        )
        .await?;
    let copy = Query::insert()
        .into_table(Counters::Table)
        .columns([
            Counters::TenantId,
            Counters::Key,
            Counters::Value,
            Counters::UpdatedAt,
        ])
        .select_from(
            Query::select()
                .expr(Expr::val(DEFAULT_TENANT))
                .columns([Counters::Key, Counters::Value, Counters::UpdatedAt])
                .from(CountersUntenanted::Table)
                .to_owned(),
        )
        .map_err(|e| DbErr::Migration(e.to_string()))?
        .to_owned();
    manager.get_connection().execute(&copy).await?;
    manager
        .drop_table(Table::drop().table(CountersUntenanted::Table).to_owned())
        .await
}
