//! `stream_batches`: one row per run of a stream, the batch it fetched or why it did not.

use sea_orm::entity::prelude::*;

use crate::lifecycle::Lifecycle;

/// One run of a stream, for one slot.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "stream_batches")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The stream.
    pub stream_id: String,
    /// The slot it ran for (unix seconds); unique per stream.
    pub slot: i64,
    /// Where the run stands.
    pub status: BatchStatus,
    /// The provider's answer, once complete.
    pub data: Option<String>,
    /// Why it failed or was skipped.
    pub error: Option<String>,
    /// When the run started.
    pub started_at: DateTimeUtc,
    /// When it ended.
    pub finished_at: Option<DateTimeUtc>,
}

/// Where one run of a stream stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum BatchStatus {
    /// Calling the provider.
    #[sea_orm(string_value = "running")]
    Running,
    /// Its batch is stored.
    #[sea_orm(string_value = "complete")]
    Complete,
    /// The provider call failed, or the run was abandoned by its worker.
    #[sea_orm(string_value = "failed")]
    Failed,
    /// The provider was not called (down, or the stream stopped).
    #[sea_orm(string_value = "skipped")]
    Skipped,
}

impl Lifecycle for BatchStatus {
    const MOVES: &'static [(Self, Self)] = &[
        // the provider answered
        (BatchStatus::Running, BatchStatus::Complete),
        // the provider failed, or the sweeper found the run abandoned
        (BatchStatus::Running, BatchStatus::Failed),
        // the provider is down, or the stream stopped meanwhile
        (BatchStatus::Running, BatchStatus::Skipped),
    ];
}

/// Relations of `stream_batches`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The stream.
    #[sea_orm(
        belongs_to = "super::stream::Entity",
        from = "Column::StreamId",
        to = "super::stream::Column::Id"
    )]
    Stream,
}

impl Related<super::stream::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Stream.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
