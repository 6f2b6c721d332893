//! `streams`: a provider fetched on an interval until stopped.

use sea_orm::entity::prelude::*;

use crate::lifecycle::Lifecycle;

/// A stream: which provider, how often, and where it stands.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "streams")]
pub struct Model {
    /// ULID.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The tenant it belongs to.
    pub tenant_id: String,
    /// The configured provider it fetches.
    pub provider: String,
    /// Seconds between runs.
    pub interval_seconds: i64,
    /// Whether it runs.
    pub status: StreamStatus,
    /// Unix seconds its slots count from: runs are due at anchor + k × interval.
    pub anchor_at: i64,
    /// The slot (unix seconds) of its next run, while active.
    pub next_run_at: Option<i64>,
    /// When it was created.
    pub created_at: DateTimeUtc,
    /// Last change.
    pub updated_at: DateTimeUtc,
    /// When it was last stopped.
    pub stopped_at: Option<DateTimeUtc>,
}

/// Whether a stream runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum StreamStatus {
    /// Runs on its slots.
    #[sea_orm(string_value = "active")]
    Active,
    /// Stopped: its queued run does nothing.
    #[sea_orm(string_value = "stopped")]
    Stopped,
}

impl Lifecycle for StreamStatus {
    const MOVES: &'static [(Self, Self)] = &[
        // DELETE /v1/streams/{id}
        (StreamStatus::Active, StreamStatus::Stopped),
        // POST /v1/streams/{id}/start
        (StreamStatus::Stopped, StreamStatus::Active),
    ];
}

/// Relations of `streams`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Its runs.
    #[sea_orm(has_many = "super::stream_batch::Entity")]
    Batches,
}

impl Related<super::stream_batch::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Batches.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
