//! Quotas: checked before something is created, so nothing is created over one.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use entity::{stream, webhook};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

use super::TenantContext;
use crate::error::ApiError;

/// How long a count of a tenant's unfinished webhooks stands in for counting again.
const RECOUNT_AFTER: Duration = Duration::from_secs(1);

/// How long an older count still stands in while one request counts again: the others
/// do not all count at once (at 64 submissions in flight they did, each reading thousands
/// of index entries), unless that count never comes.
const RECOUNT_WITHIN: Duration = Duration::from_secs(5);

/// What this instance knows of a tenant's unfinished webhooks: the last count, and how
/// many it accepted since. Counting reads up to the quota's worth of index entries (100,000
/// by default), which at a backlog of thousands costs more than the submission itself; far
/// below the quota, a recent count plus this instance's own acceptances answers instead.
#[derive(Debug, Default)]
pub struct PendingWebhooks {
    known: Mutex<Option<PendingCount>>,
}

#[derive(Debug, Clone, Copy)]
struct PendingCount {
    counted: u64,
    at: Instant,
    accepted_since: u64,
    /// A request is counting again now.
    recounting: bool,
}

impl PendingWebhooks {
    /// Takes one more without counting, if the last count is fresh and it, plus what was
    /// accepted since, stays under the quota with a tenth to spare (for the submissions
    /// of other api instances, which this one does not see).
    fn admit_known(&self, quota: u64) -> bool {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let Some(count) = known.as_mut() else {
            return false;
        };
        let bound = count.counted + count.accepted_since + 1;
        let age = count.at.elapsed();
        if bound >= quota - quota / 10 || age >= RECOUNT_WITHIN {
            return false;
        }
        if age >= RECOUNT_AFTER && !count.recounting {
            // This request counts; the others go on the last count meanwhile.
            count.recounting = true;
            return false;
        }
        count.accepted_since += 1;
        true
    }

    /// The count this request was to make failed: the next request counts.
    fn count_failed(&self) {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = known.as_mut() {
            count.recounting = false;
        }
    }

    fn counted(&self, counted: u64) {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        *known = Some(PendingCount {
            counted,
            at: Instant::now(),
            accepted_since: 1,
            recounting: false,
        });
    }
}

/// Refuses a new webhook when the tenant has `pendingWebhooks` unfinished already. Counts
/// at most the quota's worth of rows, over the (tenant, status) index, unless a count of
/// the last second shows the tenant far below its quota (see [`PendingWebhooks`]).
pub async fn check_pending_webhooks(
    db: &DatabaseConnection,
    tenant: &TenantContext,
) -> Result<(), ApiError> {
    let quota = tenant.limits.pending_webhooks;
    if tenant.pending_webhooks.admit_known(u64::from(quota)) {
        return Ok(());
    }
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
        .await
        .inspect_err(|_| tenant.pending_webhooks.count_failed())?;
    if pending >= u64::from(quota) {
        tenant.pending_webhooks.count_failed();
        return Err(ApiError::QuotaExceeded(format!(
            "the quota pendingWebhooks ({quota}) is reached: wait for webhooks to finish, \
             or ask the operator for a higher quota"
        )));
    }
    tenant.pending_webhooks.counted(pending);
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

#[cfg(test)]
mod tests {
    use super::{PendingWebhooks, RECOUNT_AFTER, RECOUNT_WITHIN};

    #[test]
    fn counts_first_then_trusts_a_fresh_count_far_below_the_quota() {
        let pending = PendingWebhooks::default();
        assert!(!pending.admit_known(100), "nothing counted yet");
        pending.counted(10);
        assert!(pending.admit_known(100));
    }

    #[test]
    fn counts_again_near_the_quota() {
        let pending = PendingWebhooks::default();
        pending.counted(88);
        // 88 counted + 1 accepted with the count + 1 more = 90: a tenth of 100 from the quota.
        assert!(!pending.admit_known(100));
        let small = PendingWebhooks::default();
        small.counted(0);
        assert!(!small.admit_known(1), "a quota of one is always counted");
        assert!(!small.admit_known(0));
    }

    #[test]
    fn one_request_counts_again_while_the_others_go_on_the_last_count() {
        let pending = PendingWebhooks::default();
        pending.counted(10);
        pending.known.lock().unwrap().as_mut().unwrap().at -= RECOUNT_AFTER;
        assert!(!pending.admit_known(100), "the first after a second counts");
        assert!(pending.admit_known(100), "the next goes on the last count");
        assert!(pending.admit_known(100));
        pending.count_failed();
        assert!(
            !pending.admit_known(100),
            "a failed count is made by the next"
        );
        pending.counted(12);
        assert!(pending.admit_known(100), "a fresh count stands");
        pending.known.lock().unwrap().as_mut().unwrap().at -= RECOUNT_WITHIN;
        assert!(
            !pending.admit_known(100),
            "a count that never came is made by all"
        );
        assert!(!pending.admit_known(100));
    }

    #[test]
    fn every_admission_without_a_count_is_remembered() {
        let pending = PendingWebhooks::default();
        pending.counted(0);
        let admitted = (0..20).take_while(|_| pending.admit_known(10)).count();
        // 1 accepted with the count; then up to 9 - 1 = 8 in all, so 7 more.
        assert_eq!(admitted, 7);
    }
}
