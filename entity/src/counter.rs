//! `counters`: the persisted total of each counter key.

use sea_orm::entity::prelude::*;

/// A counter's total as of its last flush.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "counters")]
pub struct Model {
    /// The tenant it belongs to.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    /// The counter's name, unique within its tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// Its total as of the last flush.
    pub value: i64,
    /// When a flush last changed it.
    pub updated_at: DateTimeUtc,
}

/// `counters` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
