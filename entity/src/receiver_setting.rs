//! `receiver_settings`: what a tenant set on one callback host: limits and a pause.

use sea_orm::entity::prelude::*;

/// One tenant's settings for one callback host.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "receiver_settings")]
pub struct Model {
    /// Whose deliveries these settings hold.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    /// The callback host (name or address, lower case, without scheme or port).
    #[sea_orm(primary_key, auto_increment = false)]
    pub host: String,
    /// At most this many of the tenant's deliveries to the host at once, over every worker.
    pub max_concurrent: Option<i32>,
    /// At most this many of the tenant's deliveries to the host per second.
    pub max_per_second: Option<f64>,
    /// Since when deliveries to the host are held; `None` when not paused.
    pub paused_at: Option<DateTimeUtc>,
    /// Last change.
    pub updated_at: DateTimeUtc,
}

/// `receiver_settings` has no navigated relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
