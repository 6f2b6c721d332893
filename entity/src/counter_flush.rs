//! `counter_flushes`: every batch of increments applied to `counters`.

use sea_orm::entity::prelude::*;

/// An applied batch; its primary key makes applying the same batch twice impossible.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "counter_flushes")]
pub struct Model {
    /// The batch's id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub batch_id: String,
    /// Counters it changed.
    pub keys: i64,
    /// When it was applied.
    pub applied_at: DateTimeUtc,
    /// How long applying it took.
    pub duration_ms: i64,
}

/// `counter_flushes` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
