//! `idempotency_records`: the first answer to each `Idempotency-Key`, per tenant and route.

use sea_orm::entity::prelude::*;

/// One use of an `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_records")]
pub struct Model {
    /// The tenant that sent it.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    /// The route template it was sent to.
    #[sea_orm(primary_key, auto_increment = false)]
    pub route: String,
    /// The key as sent.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// SHA-256 (hex) of the first request's body.
    pub fingerprint: String,
    /// Processing until the first request is answered, then complete.
    pub status: RecordStatus,
    /// The first answer's status.
    pub response_status: Option<i32>,
    /// The first answer's body.
    pub response_body: Option<String>,
    /// The first answer's `Content-Type`.
    pub content_type: Option<String>,
    /// The first answer's `Location`.
    pub location: Option<String>,
    /// When the key was first used; it expires `IDEMPOTENCY_TTL` later.
    pub created_at: DateTimeUtc,
    /// Last change (a `processing` record untouched for long was abandoned).
    pub updated_at: DateTimeUtc,
}

/// Whether the first request with a key has been answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum RecordStatus {
    /// The first request is being answered.
    #[sea_orm(string_value = "processing")]
    Processing,
    /// Its answer is kept.
    #[sea_orm(string_value = "complete")]
    Complete,
}

/// `idempotency_records` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
