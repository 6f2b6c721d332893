//! `tenants`: who owns webhooks, streams, counters, keys and signing secrets.

use sea_orm::entity::prelude::*;

/// A tenant and its limits.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    /// ULID (`default` for the tenant of the configured `API_KEYS`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Unique, chosen by the operator.
    pub name: String,
    /// Requests per second it may make; `None`: the configured default.
    pub rate_limit_per_second: Option<i32>,
    /// Streams it may have active at once; `None`: the configured default.
    pub max_active_streams: Option<i32>,
    /// Webhooks it may have unfinished at once; `None`: the configured default.
    pub max_pending_webhooks: Option<i32>,
    /// Its share of the collect queue against other tenants with backlogs (1 or more).
    pub weight: i32,
    /// SHA-256 (hex) of the `WEBHOOK_SECRET` last applied to it (`default` only).
    pub config_secret_sha: Option<String>,
    /// When it was created.
    pub created_at: DateTimeUtc,
    /// Last change.
    pub updated_at: DateTimeUtc,
}

/// `tenants` is referenced by keys and secrets; nothing is navigated from here.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
