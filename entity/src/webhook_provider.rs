//! `webhook_providers`: one row per (webhook, provider), the progress of one collection.

use sea_orm::entity::prelude::*;

use crate::lifecycle::Lifecycle;

/// What one provider gave (or has not yet given) one webhook.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_providers")]
pub struct Model {
    /// The webhook.
    #[sea_orm(primary_key, auto_increment = false)]
    pub webhook_id: String,
    /// The provider's configured name.
    #[sea_orm(primary_key, auto_increment = false)]
    pub provider: String,
    /// Its place in the submitted list, so answers keep the client's order.
    pub position: i32,
    /// Whether its data arrived.
    pub status: ProviderStatus,
    /// Requests made to the provider for this webhook.
    pub attempts: i32,
    /// Why the last request failed.
    pub last_error: Option<String>,
    /// The provider's JSON answer, as received.
    pub data: Option<String>,
    /// When the data arrived.
    pub fetched_at: Option<DateTimeUtc>,
    /// Last change.
    pub updated_at: DateTimeUtc,
}

/// Where one provider of a webhook stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum ProviderStatus {
    /// Waiting for its data.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// Its data arrived and is kept.
    #[sea_orm(string_value = "fetched")]
    Fetched,
    /// The collection deadline passed without its data.
    #[sea_orm(string_value = "failed")]
    Failed,
}

impl Lifecycle for ProviderStatus {
    const MOVES: &'static [(Self, Self)] = &[
        // the provider answered
        (ProviderStatus::Pending, ProviderStatus::Fetched),
        // the collection deadline passed
        (ProviderStatus::Pending, ProviderStatus::Failed),
    ];
}

/// Relations of `webhook_providers`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The webhook.
    #[sea_orm(
        belongs_to = "super::webhook::Entity",
        from = "Column::WebhookId",
        to = "super::webhook::Column::Id"
    )]
    Webhook,
}

impl Related<super::webhook::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Webhook.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
