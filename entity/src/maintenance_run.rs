//! `maintenance_runs`: one row per scheduled maintenance slot, claimed by one process.

use sea_orm::entity::prelude::*;

/// A slot of an interval job (`job`, `slot` = start of the interval in unix seconds).
///
/// The primary key is what makes a slot run once across every worker process: only the
/// process whose insert wins enqueues the job.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "maintenance_runs")]
pub struct Model {
    /// The interval job (`vacuum`, `flush_counters`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub job: String,
    /// Start of the interval, in unix seconds.
    #[sea_orm(primary_key, auto_increment = false)]
    pub slot: i64,
    /// The process that won the slot.
    pub claimed_by: String,
    /// When it was claimed.
    pub claimed_at: DateTimeUtc,
    /// When the job last finished, if it has.
    pub finished_at: Option<DateTimeUtc>,
    /// How many times the job ran for this slot (1 unless redelivered).
    pub executions: i32,
    /// What the run handled: tasks removed by the vacuum, keys flushed by a counter flush.
    pub items: i64,
}

/// `maintenance_runs` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
