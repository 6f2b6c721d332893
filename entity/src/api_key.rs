//! `api_keys`: a tenant's keys, stored only as hashes.

use sea_orm::entity::prelude::*;

/// One API key of a tenant.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    /// ULID.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The tenant it acts for.
    pub tenant_id: String,
    /// SHA-256 (hex) of the whole key; the key itself is never stored.
    #[sea_orm(unique)]
    pub hash: String,
    /// The key's first characters, to recognise it in a list.
    pub prefix: String,
    /// When it was created.
    pub created_at: DateTimeUtc,
    /// When it was last used (written at most once a minute per api instance).
    pub last_used_at: Option<DateTimeUtc>,
    /// When it was revoked; a revoked key is refused.
    pub revoked_at: Option<DateTimeUtc>,
}

/// `api_keys` has no navigated relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
