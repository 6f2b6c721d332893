//! `vehicles`: a vehicle and its current state.

use sea_orm::entity::prelude::*;

/// A vehicle as sold or being sold; `state` is its current state only.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "vehicles")]
pub struct Model {
    /// The vehicle's id from the upstream system, not generated here.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    /// Manufacturer.
    pub make: String,
    /// Model.
    pub model: String,
    /// Its current state (the state at a past time is in `state_logs`).
    pub state: String,
}

/// Relations of `vehicles`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Its state transitions.
    #[sea_orm(has_many = "super::state_log::Entity")]
    StateLog,
}

impl Related<super::state_log::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::StateLog.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
