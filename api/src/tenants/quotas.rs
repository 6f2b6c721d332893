//! Quotas: checked before something is created, so nothing is created over one.

use entity::{stream, webhook};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

use super::TenantContext;
use crate::error::ApiError;

/// Refuses a new webhook when the tenant has `pendingWebhooks` unfinished already. Counts
/// at most the quota's worth of rows, over the (tenant, status) index.
pub async fn check_pending_webhooks(
    db: &DatabaseConnection,
    tenant: &TenantContext,
) -> Result<(), ApiError> {
    let quota = tenant.limits.pending_webhooks;
    let pending = webhook::Entity::find()
        .select_only()
        .column(webhook::Column::Id)
        .filter(webhook::Column::TenantId.eq(&tenant.id))
        .filter(webhook::Column::Status.is_in([
            webhook::WebhookStatus::Collecting,
            webhook::WebhookStatus::Delivering,
        ]))
        .limit(u64::from(quota))
        .count(db)
        .await?;
    if pending >= u64::from(quota) {
        return Err(ApiError::QuotaExceeded(format!(
            "the quota pendingWebhooks ({quota}) is reached: wait for webhooks to finish, \
             or ask the operator for a higher quota"
        )));
    }
    Ok(())
}

/// Refuses a new stream when the tenant has `activeStreams` active already.
pub async fn check_active_streams(
    db: &DatabaseConnection,
    tenant: &TenantContext,
) -> Result<(), ApiError> {
    let quota = tenant.limits.active_streams;
    let active = stream::Entity::find()
        .select_only()
        .column(stream::Column::Id)
        .filter(stream::Column::TenantId.eq(&tenant.id))
        .filter(stream::Column::Status.eq(stream::StreamStatus::Active))
        .limit(u64::from(quota))
        .count(db)
        .await?;
    if active >= u64::from(quota) {
        return Err(ApiError::QuotaExceeded(format!(
            "the quota activeStreams ({quota}) is reached: stop a stream, \
             or ask the operator for a higher quota"
        )));
    }
    Ok(())
}
