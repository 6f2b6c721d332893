//! Times one counter flush of many distinct keys through the real buffer and database:
//! the flush figure of `scripts/bench`.
//!
//! `DATABASE_URL=postgres://… REDIS_URL=redis://… cargo run --release -p worker --example flush_bench -- 100000`

use std::time::Instant;

use futures::StreamExt;
use sea_orm::{EntityTrait, PaginatorTrait};
use worker::config::StoreConfig;
use worker::counters::{CounterBuffer, flush};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let keys: usize = std::env::args().nth(1).map_or(Ok(100_000), |n| n.parse())?;
    let store = StoreConfig {
        database_url: std::env::var("DATABASE_URL")?,
        database_max_connections: 4,
        redis_url: Some(std::env::var("REDIS_URL")?),
        redis_prefix: format!("bench-{}", ulid::Ulid::generate()),
        redis_timeout: std::time::Duration::from_secs(10),
        migrate: true,
    };
    let db = worker::db::connect(&store).await?;
    let redis = worker::backend::redis::connection(
        store.redis_url.as_deref().unwrap_or_default(),
        store.redis_timeout,
    )?;
    let buffer = CounterBuffer::new(Some(redis), &store.redis_prefix, &db);

    let filling = Instant::now();
    let prefix = &store.redis_prefix;
    let failures = futures::stream::iter(0..keys)
        .map(|i| {
            let buffer = buffer.clone();
            async move {
                buffer
                    .increment(worker::tenants::DEFAULT_TENANT, &format!("{prefix}-{i}"), 1)
                    .await
            }
        })
        .buffer_unordered(256)
        .filter(|result| std::future::ready(result.is_err()))
        .count()
        .await;
    anyhow::ensure!(failures == 0, "{failures} increments failed");
    let fill_seconds = filling.elapsed().as_secs_f64();

    // The phases of `flush::flush`, timed one by one.
    let flushing = Instant::now();
    let batch = buffer.take_batch().await?.expect("a batch");
    let take_seconds = flushing.elapsed().as_secs_f64();
    let applying = Instant::now();
    flush::apply(&db, &batch).await?;
    let apply_seconds = applying.elapsed().as_secs_f64();
    buffer.finish_batch(&batch.id).await?;
    let flush_seconds = flushing.elapsed().as_secs_f64();

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
        })
    );
    Ok(())
}
