//! What the receiver and provider routes share about flow control: the waiting counts by
//! reason, the limits as shown and as taken, and what follows a change (the limiter reset,
//! the wake of what waited).

use engine::flow::manage::{self, WaitingCount};
use engine::flow::{self, Limits, wake};
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

/// What follows `change` made on provider or receiver host `on` (of `tenant`, for a
/// receiver): this process's jobs read the settings again at once; new limits forget the
/// waits told under the old ones and wake what waited for a place; a resume wakes what the
/// pause held.
pub async fn changed(
    app: &AppState,
    side: Side,
    change: manage::Change,
    on: &str,
    tenant: Option<&str>,
) {
    app.flow.controls.changed();
    let (limit, paused, key) = match side {
        Side::Provider => (
            Waiting::ProviderLimit,
            Waiting::ProviderPaused,
            flow::provider_key(on),
        ),
        Side::Receiver => (
            Waiting::ReceiverLimit,
            Waiting::ReceiverPaused,
            flow::receiver_key(tenant.unwrap_or_default(), on),
        ),
    };
    let why = match change {
        manage::Change::Limits(_) => {
            // Bookkeeping: a failure is logged.
            if let Err(error) = app.flow.limiter.reset(&key).await {
                tracing::warn!(%key, %error, "could not reset the limiter; waits told under the old limits stand");
            }
            limit
        }
        manage::Change::Resume => paused,
        manage::Change::Pause => return,
    };
    wake_in_background(app, why, on.to_owned(), tenant.map(str::to_owned));
}

/// Wakes, in the background, every webhook waiting `why` on `on` (of `tenant` only, if
/// given): a resume answers at once, and a webhook the wake misses (this process dies)
/// wakes at its recheck.
fn wake_in_background(app: &AppState, why: Waiting, on: String, tenant: Option<String>) {
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
