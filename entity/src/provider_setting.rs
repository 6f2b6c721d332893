//! `provider_settings`: what the operator set on one data provider: limits and a pause.

use sea_orm::entity::prelude::*;

/// The operator's settings for one provider.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "provider_settings")]
pub struct Model {
    /// The provider's configured name.
    #[sea_orm(primary_key, auto_increment = false)]
    pub provider: String,
    /// At most this many requests to it at once, over every worker.
    pub max_concurrent: Option<i32>,
    /// At most this many requests to it per second, over every worker.
    pub max_per_second: Option<f64>,
    /// Since when it is in maintenance (nothing is sent to it); `None` when not paused.
    pub paused_at: Option<DateTimeUtc>,
    /// Last change.
    pub updated_at: DateTimeUtc,
}

/// `provider_settings` has no navigated relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
