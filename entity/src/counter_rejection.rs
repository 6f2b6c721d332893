//! `counter_rejections`: increments set aside by a flush instead of applied.

use sea_orm::entity::prelude::*;

/// A buffered increment the flush could not apply (its total would overflow 64 bits);
/// kept here so nothing acknowledged disappears silently.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "counter_rejections")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The batch it came in.
    pub batch_id: String,
    /// The counter's tenant.
    pub tenant_id: String,
    /// The counter.
    pub key: String,
    /// The increment set aside.
    pub delta: i64,
    /// Why it was not applied.
    pub reason: String,
    /// When it was set aside.
    pub created_at: DateTimeUtc,
}

/// `counter_rejections` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
