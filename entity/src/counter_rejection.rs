//! `counter_rejections`: increments set aside by a flush instead of applied.

use sea_orm::entity::prelude::*;

/// A buffered increment the flush could not apply (its total would overflow 64 bits);
/// kept here so nothing acknowledged disappears silently.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "counter_rejections")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub batch_id: String,
    pub key: String,
    pub delta: i64,
    pub reason: String,
    pub created_at: DateTimeUtc,
}

/// `counter_rejections` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
