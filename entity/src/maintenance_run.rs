//! `maintenance_runs`: one row per scheduled maintenance slot, claimed by one process.

use sea_orm::entity::prelude::*;

/// A slot of an interval job (`job`, `slot` = start of the interval in unix seconds).
///
/// The primary key is what makes a slot run once across every worker process: only the
/// process whose insert wins enqueues the job.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "maintenance_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub job: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub slot: i64,
    pub claimed_by: String,
    pub claimed_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    pub executions: i32,
    /// What the run handled: tasks removed by the vacuum, keys flushed by a counter flush.
    pub items: i64,
}

/// `maintenance_runs` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
