//! The queue floor, for `scripts/bench`: pushes N no-op jobs through our queue layer
//! (`Queue::push`, apalis on Redis, 64 at a time like the api's connections) while a worker
//! built the way the runtime builds the collect worker (same poll strategy, batch size,
//! concurrency, timeout and layers) runs them, then prints pushes/s, jobs/s from the first
//! push to the last job done, and the Redis commands each job cost (push, fetch, ack). A
//! collection, two jobs, cannot go faster than half of this.
//!
//! Reads the worker's own settings from the environment (`REDIS_URL`, `REDIS_PREFIX`,
//! `WEBHOOK_CONCURRENCY`, `WORKER_POLL_INTERVAL`, ...).
//!
//! `cargo run --release -p engine --example queue_floor -- N`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use apalis::prelude::*;
use clap::Parser;
use engine::config::{StoreConfig, WorkerConfig};
use engine::queue::poll::EveryTick;
use engine::queue::{Job, Queue, RedisQueue};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

#[derive(Debug, Parser)]
struct Cli {
    /// How many jobs to push and run.
    #[arg(default_value_t = 20_000)]
    jobs: usize,
    /// How many pushes are in flight at a time (the api's connection count).
    #[arg(long, default_value_t = 64)]
    push_concurrency: usize,
    #[command(flatten)]
    store: StoreConfig,
    #[command(flatten)]
    worker: WorkerConfig,
}

/// A job that does nothing: only the queue's own cost remains.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct NoOp {
    n: usize,
}

impl Job for NoOp {
    const QUEUE: &'static str = "bench-noop";

    // The collect queue's setting: the floor of the job that matters.
    fn concurrency(config: &WorkerConfig) -> usize {
        config.webhook_concurrency as usize
    }
}

/// Counts finished jobs and wakes the driver when the last one is done.
struct Done {
    count: AtomicUsize,
    target: usize,
    all: Notify,
}

async fn run(job: NoOp, done: Data<Arc<Done>>) -> Result<(), BoxDynError> {
    std::hint::black_box(job.n);
    if done.count.fetch_add(1, Ordering::Relaxed) + 1 == done.target {
        done.all.notify_one();
    }
    Ok(())
}

/// `INFO commandstats`'s total of calls.
async fn redis_commands(conn: &mut engine::queue::RedisConnection) -> anyhow::Result<u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await?;
    Ok(info
        .lines()
        .filter_map(|line| {
            line.split_once("calls=")?
                .1
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut cli = Cli::parse();
    // The floor is one queue's: one worker on one shard takes every job.
    cli.store.queue_shards = 1;
    let url =
        cli.store.redis_url.clone().ok_or_else(|| {
            anyhow::anyhow!("REDIS_URL must be set: the floor is the Redis queue's")
        })?;
    let redis_queue = RedisQueue::connect(
        secrecy::ExposeSecret::expose_secret(&url),
        &cli.store,
        &cli.worker,
    )
    .await?;
    let queue = Queue::Redis(redis_queue.clone());
    let mut conn = redis_queue.connection();

    let done = Arc::new(Done {
        count: AtomicUsize::new(0),
        target: cli.jobs,
        all: Notify::new(),
    });
    let config = &cli.worker;
    let worker = WorkerBuilder::new(format!("queue-floor-{}", std::process::id()))
        .backend(
            redis_queue
                .storages::<NoOp>()
                .swap_remove(0)
                .0
                .poll_with_strategy(EveryTick::new(config.worker_poll_interval)),
        )
        .concurrency(NoOp::concurrency(config))
        .timeout(config.worker_job_timeout)
        .catch_panic()
        .enable_tracing()
        .data(done.clone())
        .build(run);
    // The worker runs while the jobs are pushed, as collections do. Pushed first and run
    // after, a backlog of more than ~8,000 due jobs makes apalis-redis's fetch script fail
    // (`unpack` of every due id at once), which is the queue's limit, not its speed.
    let finished = done.clone();
    let deadline = Duration::from_secs(300);
    let consumer = tokio::spawn(worker.run_until(async move {
        let _ = tokio::time::timeout(deadline, finished.all.notified()).await;
        Ok::<(), std::io::Error>(())
    }));
    tokio::time::sleep(Duration::from_millis(500)).await;

    let before = redis_commands(&mut conn).await?;
    let started = Instant::now();
    let pushed = futures::stream::iter(0..cli.jobs)
        .map(|n| {
            let queue = queue.clone();
            async move { queue.push(NoOp { n }).await }
        })
        .buffer_unordered(cli.push_concurrency)
        .filter(|pushed| std::future::ready(pushed.is_ok()))
        .count()
        .await;
    let push_seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(pushed == cli.jobs, "only {pushed} of {} pushed", cli.jobs);
    consumer.await??;
    let seconds = started.elapsed().as_secs_f64();
    let ran = done.count.load(Ordering::Relaxed);
    let after = redis_commands(&mut conn).await?;
    println!(
        "{}",
        serde_json::json!({
            "jobs": cli.jobs,
            "ran": ran,
            "push_rate": pushed as f64 / push_seconds,
            "rate": ran as f64 / seconds,
            "redis_commands_per_job": (after - before) as f64 / ran.max(1) as f64,
            "concurrency": NoOp::concurrency(config),
        })
    );
    Ok(())
}
