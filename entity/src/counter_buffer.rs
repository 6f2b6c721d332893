//! `counter_buffer`: buffered increments in embedded mode (production buffers in Redis).

use sea_orm::entity::prelude::*;

/// The buffered sum of one key: pending (`batch_id` empty) or in a batch being flushed.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "counter_buffer")]
pub struct Model {
    /// Empty while pending; the batch's id once moved into one.
    #[sea_orm(primary_key, auto_increment = false)]
    pub batch_id: String,
    /// The counter.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// The summed increments.
    pub delta: i64,
    /// When the first of them was buffered.
    pub first_at: DateTimeUtc,
}

/// `counter_buffer` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
