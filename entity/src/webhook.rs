//! `webhooks`: one row per submitted collection, the state of record of its whole life.

use sea_orm::entity::prelude::*;

use crate::lifecycle::Lifecycle;

/// A webhook collection: what to collect (its `webhook_providers` rows), where to deliver,
/// and where it stands.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    /// ULID, also the `webhook-id` of every delivery.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The tenant it belongs to.
    pub tenant_id: String,
    /// Where the aggregate is POSTed.
    pub callback_url: String,
    /// Where it stands.
    pub status: WebhookStatus,
    /// Once collected: every provider in, or the deadline passed.
    pub outcome: Option<WebhookOutcome>,
    /// When it was submitted.
    pub created_at: DateTimeUtc,
    /// Past this, collection stops and what arrived is delivered as `failed`.
    pub deadline_at: DateTimeUtc,
    /// When collection ended.
    pub collected_at: Option<DateTimeUtc>,
    /// When a delivery was last acknowledged with a 2xx.
    pub delivered_at: Option<DateTimeUtc>,
    /// Last change.
    pub updated_at: DateTimeUtc,
    /// The callback body, frozen when collection ends so every attempt sends the same bytes.
    pub payload: Option<String>,
    /// Delivery attempts made so far.
    pub delivery_attempts: i32,
    /// The attempt after which delivery parks.
    pub attempt_limit: i32,
    /// Attempts the receiver answered with a request to wait (429 or 503 with
    /// `Retry-After`), which were not counted in `delivery_attempts`.
    pub delivery_snoozes: i32,
    /// What the next attempts are: scheduled, or manual after a redelivery.
    pub delivery_trigger: DeliveryTrigger,
    /// When the webhook's next job is due (or, while one runs, when its lease ends);
    /// the sweeper re-queues unfinished webhooks whose time is long past.
    pub next_run_at: Option<DateTimeUtc>,
    /// The queue task holding the lease, so the same task may pick it up again after a crash.
    pub claimed_by: Option<String>,
    /// The queue task its next job was pushed as, so the sweeper can tell a job waiting
    /// in a backlog from a lost one.
    pub queued_task: Option<String>,
    /// While its next job waits on flow control or health rather than a schedule: why.
    pub waiting_for: Option<Waiting>,
    /// What it waits on: the provider's name, the receiver's host, or the ordering key.
    pub waiting_on: Option<String>,
    /// The submission's ordering key: the tenant's callbacks with the same key are
    /// delivered one at a time, in submission order.
    pub ordering_key: Option<String>,
    /// The W3C `traceparent` of the trace it belongs to: every span of its jobs continues it.
    pub traceparent: Option<String>,
}

/// Why a webhook waits without spending an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Waiting {
    /// A provider it lacks is down until its next probe.
    #[sea_orm(string_value = "provider_down")]
    ProviderDown,
    /// A provider it lacks is at the operator's limit.
    #[sea_orm(string_value = "provider_limit")]
    ProviderLimit,
    /// A provider it lacks is paused by the operator.
    #[sea_orm(string_value = "provider_paused")]
    ProviderPaused,
    /// A provider it lacks asked to be called later (429 or 503 with `Retry-After`).
    #[sea_orm(string_value = "provider_busy")]
    ProviderBusy,
    /// Its receiver is down until its next probe.
    #[sea_orm(string_value = "receiver_down")]
    ReceiverDown,
    /// Its receiver is at the tenant's limit.
    #[sea_orm(string_value = "receiver_limit")]
    ReceiverLimit,
    /// Its receiver is paused by the tenant.
    #[sea_orm(string_value = "receiver_paused")]
    ReceiverPaused,
    /// Its receiver asked to be called later (429 or 503 with `Retry-After`).
    #[sea_orm(string_value = "receiver_busy")]
    ReceiverBusy,
    /// An earlier webhook with its ordering key is not delivered or parked yet.
    #[sea_orm(string_value = "ordering")]
    Ordering,
    /// Its tenant has its share of the collect queue queued already: it waits its turn.
    #[sea_orm(string_value = "turn")]
    Turn,
}

/// How a collection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum WebhookOutcome {
    /// Every provider's data arrived.
    #[sea_orm(string_value = "completed")]
    Completed,
    /// The collection deadline passed first.
    #[sea_orm(string_value = "failed")]
    Failed,
}

/// What made a delivery attempt: the schedule, or an operator's redelivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum DeliveryTrigger {
    /// The delivery schedule.
    #[sea_orm(string_value = "scheduled")]
    Scheduled,
    /// A redelivery (`POST /v1/webhooks/{id}/redeliver` or the bulk one).
    #[sea_orm(string_value = "manual")]
    Manual,
}

/// Where a webhook stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum WebhookStatus {
    /// Fetching its providers.
    #[sea_orm(string_value = "collecting")]
    Collecting,
    /// Collected; its callback is being delivered or waits for its next attempt.
    #[sea_orm(string_value = "delivering")]
    Delivering,
    /// The receiver acknowledged the callback with a 2xx.
    #[sea_orm(string_value = "delivered")]
    Delivered,
    /// Every scheduled attempt failed, or the receiver answered 410.
    #[sea_orm(string_value = "parked")]
    Parked,
}

impl Lifecycle for WebhookStatus {
    const MOVES: &'static [(Self, Self)] = &[
        // every provider in, or the collection deadline passed
        (WebhookStatus::Collecting, WebhookStatus::Delivering),
        // an attempt got a 2xx
        (WebhookStatus::Delivering, WebhookStatus::Delivered),
        // an attempt failed; the next one is scheduled
        (WebhookStatus::Delivering, WebhookStatus::Delivering),
        // the last attempt failed, or a 410
        (WebhookStatus::Delivering, WebhookStatus::Parked),
        // redelivery
        (WebhookStatus::Delivered, WebhookStatus::Delivering),
        // redelivery
        (WebhookStatus::Parked, WebhookStatus::Delivering),
    ];
}

/// Relations of `webhooks`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Per-provider progress.
    #[sea_orm(has_many = "super::webhook_provider::Entity")]
    Providers,
    /// Delivery attempts.
    #[sea_orm(has_many = "super::delivery_attempt::Entity")]
    Attempts,
}

impl Related<super::webhook_provider::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Providers.def()
    }
}

impl Related<super::delivery_attempt::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Attempts.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
