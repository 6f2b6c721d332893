//! Times one counter flush of many distinct keys through the real buffer and database,
//! and the peak resident memory of the flush: the flush figures of `scripts/bench`.
//!
//! `DATABASE_URL=postgres://… REDIS_URL=redis://… cargo run --release -p engine --example flush_bench -- 100000`

use std::time::Instant;

use engine::config::StoreConfig;
use engine::counters::{CounterBuffer, flush};
use futures::StreamExt;
use sea_orm::{EntityTrait, PaginatorTrait};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let keys: usize = std::env::args().nth(1).map_or(Ok(100_000), |n| n.parse())?;
    let store = StoreConfig {
        database_url: std::env::var("DATABASE_URL")?.into(),
        database_replica_url: None,
        database_max_connections: 4,
        redis_url: Some(std::env::var("REDIS_URL")?.into()),
        redis_cluster: false,
        redis_prefix: format!("bench-{}", ulid::Ulid::generate()),
        queue_shards: 1,
        redis_timeout: std::time::Duration::from_secs(10),
        migrate: true,
    };
    let db = engine::db::connect(&store, engine::db::Use::Jobs).await?;
    let redis =
        engine::queue::redis::connection(&std::env::var("REDIS_URL")?, store.redis_timeout)?;
    let buffer = CounterBuffer::new(Some(redis), &store.redis_prefix, &db);

    let filling = Instant::now();
    let prefix = &store.redis_prefix;
    let failures = futures::stream::iter(0..keys)
        .map(|i| {
            let buffer = buffer.clone();
            async move {
                buffer
                    .increment(engine::tenants::DEFAULT_TENANT, &format!("{prefix}-{i}"), 1)
                    .await
            }
        })
        .buffer_unordered(256)
        .filter(|result| std::future::ready(result.is_err()))
        .count()
        .await;
    anyhow::ensure!(failures == 0, "{failures} increments failed");
    let fill_seconds = filling.elapsed().as_secs_f64();

    // The phases of `flush::flush`, timed one by one; the peak memory of the flush alone.
    reset_peak_rss();
    let rss_before_kb = status_kb("VmRSS");
    let flushing = Instant::now();
    let (mut take_seconds, mut apply_seconds, mut batches) = (0.0, 0.0, 0);
    let mut may_start = true;
    loop {
        let taking = Instant::now();
        let Some(batch) = buffer.take_batch(may_start).await? else {
            break;
        };
        may_start &= !batch.started;
        take_seconds += taking.elapsed().as_secs_f64();
        let applying = Instant::now();
        flush::apply(&db, &batch).await?;
        apply_seconds += applying.elapsed().as_secs_f64();
        buffer.finish_batch(&batch.id).await?;
        batches += 1;
    }
    let flush_seconds = flushing.elapsed().as_secs_f64();
    let peak_rss_kb = status_kb("VmHWM");

    let persisted = entity::counter::Entity::find().count(&db).await?;
    anyhow::ensure!(
        persisted as usize >= keys,
        "only {persisted} of {keys} counters persisted"
    );
    println!(
        "{}",
        serde_json::json!({
            "keys": keys,
            "fill_seconds": fill_seconds,
            "flush_seconds": flush_seconds,
            "take_seconds": take_seconds,
            "apply_seconds": apply_seconds,
            "batches": batches,
            "rss_before_mb": rss_before_kb / 1024,
            "peak_rss_mb": peak_rss_kb / 1024,
        })
    );
    Ok(())
}

/// Starts the peak-RSS figure (`VmHWM`) afresh, so it measures the flush, not the filling.
fn reset_peak_rss() {
    // Linux resets the high-water mark when "5" is written here.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// A figure of this process's `/proc/self/status`, in kB.
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let rest = line.strip_prefix(field)?.strip_prefix(':')?;
                rest.split_whitespace().next()?.parse().ok()
            })
        })
        .unwrap_or(0)
}
