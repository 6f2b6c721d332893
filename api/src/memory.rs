//! Giving freed memory back to the system.
//!
//! glibc's allocator keeps the memory a burst freed (thousands of connections, a bench's
//! worth of requests) in its heaps rather than returning it, so the process stayed at its
//! peak long after the load: 48 MiB at rest, 105 MiB after a flood of half-sent requests,
//! and still 105 MiB a minute later. `malloc_trim` hands the free pages back (49 MiB).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// Every `every`, until `stop` fires: drops the vehicle cache's expired answers once the
/// app is open (moka evicts only as the cache is used, so after a bench's distinct lookups
/// they held ~20 MB of an idle api), then returns the allocator's free memory to the system.
pub async fn trim_periodically(
    every: Duration,
    stop: CancellationToken,
    app: Arc<OnceLock<AppState>>,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        if let Some(app) = app.get() {
            app.vehicles.evict_expired().await;
        }
        // A walk of the heaps under their locks: off the runtime's threads.
        if tokio::task::spawn_blocking(trim).await.is_err() {
            return;
        }
    }
}

/// Returns the allocator's free memory to the system, where the allocator can.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: `malloc_trim` takes a size and touches only the allocator's own state, under
    // its locks; any thread may call it at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other allocators (musl, macOS) give memory back on their own.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
