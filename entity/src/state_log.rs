//! `state_logs`: every state transition of every vehicle.

use sea_orm::entity::prelude::*;

/// One transition: from `timestamp` on, the vehicle was in `state`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "state_logs")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The vehicle.
    pub vehicle_id: i32,
    /// The state it entered.
    pub state: String,
    /// When it entered it.
    pub timestamp: DateTimeUtc,
}

/// Relations of `state_logs`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The vehicle this log belongs to.
    #[sea_orm(
        belongs_to = "super::vehicle::Entity",
        from = "Column::VehicleId",
        to = "super::vehicle::Column::Id"
    )]
    Vehicle,
}

impl Related<super::vehicle::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Vehicle.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
