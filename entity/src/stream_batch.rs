//! `stream_batches`: one row per run of a stream, the batch it fetched or why it did not.

use sea_orm::entity::prelude::*;

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
    /// `running`, `complete`, `failed` or `skipped`.
    pub status: String,
    /// The provider's answer, once complete.
    pub data: Option<String>,
    /// Why it failed or was skipped.
    pub error: Option<String>,
    /// When the run started.
    pub started_at: DateTimeUtc,
    /// When it ended.
    pub finished_at: Option<DateTimeUtc>,
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
