//! What the receiver and provider routes share about flow control: the waiting counts by
//! reason, the limits as shown and as taken, and the wake after a resume.

use engine::flow::manage::WaitingCount;
use engine::flow::{Limits, wake};
use entity::webhook::Waiting;
use openapi::webhooks::{FlowLimits, WaitingCounts};

use crate::state::AppState;

/// Which side of the pipeline a count is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Collections waiting on providers.
    Provider,
    /// Deliveries waiting on receivers.
    Receiver,
}

/// The counts of `rows` on `on` (of `tenant`, if given) for `side`, by reason.
pub fn counts(rows: &[WaitingCount], side: Side, on: &str, tenant: Option<&str>) -> WaitingCounts {
    let mut counts = WaitingCounts::default();
    let rows = rows
        .iter()
        .filter(|r| r.waiting_on == on && tenant.is_none_or(|t| r.tenant_id == t));
    for row in rows {
        let slot =
            match (side, row.waiting_for) {
                (Side::Provider, Waiting::ProviderPaused)
                | (Side::Receiver, Waiting::ReceiverPaused) => &mut counts.paused,
                (Side::Provider, Waiting::ProviderLimit)
                | (Side::Receiver, Waiting::ReceiverLimit) => &mut counts.limit,
                (Side::Provider, Waiting::ProviderDown)
                | (Side::Receiver, Waiting::ReceiverDown) => &mut counts.down,
                (Side::Provider, Waiting::ProviderBusy)
                | (Side::Receiver, Waiting::ReceiverBusy) => &mut counts.busy,
                _ => continue,
            };
        *slot += row.count;
    }
    counts
}

/// Whether `row` waits on a provider or receiver of `side` (an ordering key or a tenant's
/// turn is neither).
pub fn on_side(row: &WaitingCount, side: Side) -> bool {
    use Waiting::*;
    match side {
        Side::Provider => matches!(
            row.waiting_for,
            ProviderPaused | ProviderLimit | ProviderDown | ProviderBusy
        ),
        Side::Receiver => matches!(
            row.waiting_for,
            ReceiverPaused | ReceiverLimit | ReceiverDown | ReceiverBusy
        ),
    }
}

/// Limits as stored, as shown.
pub fn shown(max_concurrent: Option<i32>, max_per_second: Option<f64>) -> FlowLimits {
    FlowLimits {
        max_concurrent: max_concurrent.map(i64::from),
        max_per_second,
    }
}

/// Limits as taken (already validated), as applied.
pub fn taken(limits: &FlowLimits) -> Limits {
    Limits {
        max_concurrent: limits.max_concurrent.and_then(|n| u32::try_from(n).ok()),
        max_per_second: limits.max_per_second,
    }
}

/// Forgets the limiter's instants and refusals of `key` after its limits changed, so what
/// waits is not held to waits told under the old limits. Bookkeeping: a failure is logged.
pub async fn reset_limiter(app: &AppState, key: &str) {
    if let Err(error) = app.flow.limiter.reset(key).await {
        tracing::warn!(%key, %error, "could not reset the limiter; waits told under the old limits stand");
    }
}

/// Wakes, in the background, every webhook waiting `why` on `on` (of `tenant` only, if
/// given): a resume answers at once, and a webhook the wake misses (this process dies)
/// wakes at its recheck.
pub fn wake_in_background(app: &AppState, why: Waiting, on: String, tenant: Option<String>) {
    let (db, queue) = (app.db.clone(), app.queue.clone());
    tokio::spawn(async move {
        match wake::wake(&db, &queue, why, &on, tenant.as_deref()).await {
            Ok(0) => {}
            Ok(woken) => tracing::info!(%on, ?why, woken, "waiting webhooks queued again"),
            Err(error) => {
                tracing::error!(%on, ?why, %error, "could not wake every waiting webhook; the rest wake at their recheck")
            }
        }
    });
}
