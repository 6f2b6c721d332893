//! The worker runtime: one apalis worker per queue, the interval schedulers, and a clean
//! stop on cancellation. Runs in `worker` processes, or inside `api` when embedded.

use apalis::prelude::*;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::backend::{Job, Queue};
use crate::jobs::flush_counters::{self, FlushCounters};
use crate::jobs::prune::PruneTick;
use crate::jobs::sweep::Sweep;
use crate::jobs::vacuum::VacuumTick;
use crate::jobs::{IntervalJob, JobContext, collect, deliver, run_interval, stream_tick};
use crate::poll::EveryTick;
use crate::schedule;
use crate::streams::StreamTick;
use crate::webhooks::{Collect, Deliver};

/// Why the runtime stopped without being asked to.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// apalis's monitor failed.
    #[error("worker monitor failed: {0}")]
    Monitor(#[from] MonitorError),
    /// A worker exited while no shutdown was asked: the process must exit non-zero so its
    /// supervisor restarts it (apalis swallows this error when a shutdown timeout is set).
    #[error("a worker stopped unexpectedly; see the preceding error events")]
    WorkerDied,
}

/// A name unique to this process: apalis refuses a second live worker with the same name,
/// and orphan recovery relies on names not being reused.
pub fn process_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_owned());
    let unique = ulid::Ulid::generate().to_string();
    format!("{host}-{}-{}", std::process::id(), &unique[20..])
}

/// Builds one apalis worker per job kind on queue backend `$queue`, the same way for both
/// backends (the builder's types differ per backend, so a function cannot take both).
macro_rules! register {
    ($monitor:expr, $queue:expr, $name:expr, $ctx:expr, $($job:ty => $handler:expr),+ $(,)?) => {{
        let monitor = $monitor;
        $(
            let storage = $queue.storage::<$job>();
            let ctx = $ctx.clone();
            let name = format!("{}-{}", $name, <$job as Job>::QUEUE);
            let monitor = monitor.register(move |restarts| {
                let config = &ctx.config;
                WorkerBuilder::new(format!("{name}-{restarts}"))
                    .backend(
                        storage
                            .clone()
                            .poll_with_strategy(EveryTick::new(config.worker_poll_interval)),
                    )
                    .concurrency(<$job as Job>::concurrency(config))
                    .timeout(config.worker_job_timeout)
                    .catch_panic()
                    .enable_tracing()
                    .data(ctx.clone())
                    .build($handler)
            });
        )+
        monitor
    }};
}

/// Claims `J`'s slots from this process and enqueues the ones it wins, until `cancel`.
fn schedule<J: IntervalJob>(
    ctx: &JobContext,
    claimer: &str,
    cancel: &CancellationToken,
) -> JoinHandle<()> {
    let queue = ctx.queue.clone();
    tokio::spawn(schedule::run_every(
        ctx.db.clone(),
        J::NAME,
        J::interval(&ctx.config),
        claimer.to_owned(),
        cancel.child_token(),
        move |slot| {
            let queue = queue.clone();
            async move { queue.push(J::for_slot(slot)).await.map(drop) }
        },
    ))
}

/// Runs every worker and scheduler until `cancel` fires; then lets running jobs finish
/// (up to `WORKER_SHUTDOWN_TIMEOUT`) and returns.
pub async fn run(ctx: JobContext, cancel: CancellationToken) -> Result<(), RuntimeError> {
    let name = process_name();
    tracing::info!(worker = %name, "starting workers");

    let schedulers = [
        schedule::<VacuumTick>(&ctx, &name, &cancel),
        schedule::<PruneTick>(&ctx, &name, &cancel),
        schedule::<FlushCounters>(&ctx, &name, &cancel),
        schedule::<Sweep>(&ctx, &name, &cancel),
    ];

    let monitor = Monitor::new()
        .on_event(|worker, event| match event {
            Event::Error(error) => tracing::error!(worker = worker.name(), %error, "worker error"),
            Event::Start | Event::Stop | Event::Exit => {
                tracing::info!(worker = worker.name(), ?event, "worker lifecycle")
            }
            _ => tracing::trace!(worker = worker.name(), ?event),
        })
        // A restart in-process reuses broken state and loops without backoff: let the
        // process die and its supervisor restart it.
        .should_restart(|_, _| false)
        .shutdown_timeout(ctx.config.worker_shutdown_timeout);
    let monitor = match &ctx.queue {
        Queue::Redis(q) => register!(monitor, q, name, ctx,
            VacuumTick => run_interval::<VacuumTick>,
            PruneTick => run_interval::<PruneTick>,
            FlushCounters => run_interval::<FlushCounters>,
            Sweep => run_interval::<Sweep>,
            Collect => collect::run,
            Deliver => deliver::run,
            StreamTick => stream_tick::run,
        ),
        Queue::Sqlite(q) => register!(monitor, q, name, ctx,
            VacuumTick => run_interval::<VacuumTick>,
            PruneTick => run_interval::<PruneTick>,
            FlushCounters => run_interval::<FlushCounters>,
            Sweep => run_interval::<Sweep>,
            Collect => collect::run,
            Deliver => deliver::run,
            StreamTick => stream_tick::run,
        ),
    };

    let stop = cancel.clone();
    let result = monitor
        .run_with_signal(async move {
            stop.cancelled().await;
            Ok(())
        })
        .await;
    for scheduler in schedulers {
        scheduler.abort();
    }
    // Whatever was buffered since the last flush reaches the database before we go.
    match flush_counters::flush_now(&ctx.db, &ctx.counters).await {
        Ok(keys) => tracing::info!(keys, "final counter flush done"),
        Err(error) => {
            tracing::error!(%error, "final counter flush failed; the next flush will retry")
        }
    }
    result?;
    if cancel.is_cancelled() {
        tracing::info!(worker = %name, "workers stopped");
        Ok(())
    } else {
        Err(RuntimeError::WorkerDied)
    }
}

/// A token cancelled on SIGTERM or Ctrl-C.
pub fn cancel_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        cancel.cancel();
    });
    token
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM; only Ctrl-C stops this process");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutdown requested");
}
