//! `delivery_attempts`: every POST to a webhook's callback URL, with what came back.

use sea_orm::entity::prelude::*;

use crate::lifecycle::Lifecycle;
use crate::webhook::DeliveryTrigger;

/// One delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "delivery_attempts")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The webhook.
    pub webhook_id: String,
    /// 1 for the first attempt.
    pub number: i32,
    /// The schedule, or a redelivery.
    pub trigger: DeliveryTrigger,
    /// The URL posted to.
    pub url: String,
    /// When the request started.
    pub started_at: DateTimeUtc,
    /// How long until the answer (or the failure).
    pub duration_ms: i64,
    /// The receiver's status, if it answered.
    pub status_code: Option<i32>,
    /// Why it failed without an answer.
    pub error_kind: Option<ErrorKind>,
    /// The failure's detail.
    pub error_message: Option<String>,
    /// The first 4 KiB of the receiver's answer.
    pub response_body: Option<String>,
    /// When the next attempt is due, if there is one.
    pub next_attempt_at: Option<DateTimeUtc>,
    /// Whether its outcome is known.
    pub status: AttemptStatus,
}

/// Why an attempt failed without an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum ErrorKind {
    /// No answer within `DELIVERY_TIMEOUT`.
    #[sea_orm(string_value = "timeout")]
    Timeout,
    /// The connection could not be made (refused, reset, DNS, TLS).
    #[sea_orm(string_value = "connect")]
    Connect,
    /// The address guard refused the callback's address.
    #[sea_orm(string_value = "refused_address")]
    RefusedAddress,
    /// The request failed otherwise.
    #[sea_orm(string_value = "request")]
    Request,
}

/// Where an attempt stands. Recorded `in_flight` before the POST, so a worker dying in
/// the middle leaves a trace: the next job for the webhook marks it `unknown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum AttemptStatus {
    /// The POST is being made.
    #[sea_orm(string_value = "in_flight")]
    InFlight,
    /// The POST ended; its answer (or failure) is recorded.
    #[sea_orm(string_value = "completed")]
    Completed,
    /// Its worker died during the POST: the receiver may or may not have it.
    #[sea_orm(string_value = "unknown")]
    Unknown,
}

impl Lifecycle for AttemptStatus {
    const MOVES: &'static [(Self, Self)] = &[
        // the POST ended
        (AttemptStatus::InFlight, AttemptStatus::Completed),
        // the next job found its worker gone
        (AttemptStatus::InFlight, AttemptStatus::Unknown),
        // the answer arrived after all
        (AttemptStatus::Unknown, AttemptStatus::Completed),
    ];
}

/// Relations of `delivery_attempts`.
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
