//! The worker runtime: one apalis worker per queue, the interval schedulers, and a clean
//! stop on cancellation. Runs in `worker` processes, or inside `api` when embedded.

use std::time::{Duration, Instant};

use apalis::prelude::*;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::config::WorkerConfig;
use crate::context::JobContext;
use crate::counters::job::flush_now;
use crate::dependencies::Dependencies;
use crate::periodic::{self, Periodic, Tick};
use crate::queue::poll::EveryTick;
use crate::queue::{Job, QUEUES, Queue, RedisQueue};

/// Why the runtime stopped.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// apalis's monitor failed while stopping.
    #[error("worker monitor failed: {0}")]
    Monitor(#[from] MonitorError),
    /// A supervising task panicked.
    #[error("worker supervisor: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// The first wait before a queue's worker that stopped on its own is started again.
const RESTART_MIN: Duration = Duration::from_millis(500);
/// The longest wait between restarts of a queue's worker that keeps stopping.
const RESTART_MAX: Duration = Duration::from_secs(30);
/// A worker that ran this long before stopping restarts after the shortest wait again.
const RESTART_STABLE: Duration = Duration::from_secs(60);

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

/// Supervises one apalis worker per job kind of the list (`queue::kinds`) and queue shard
/// on queue backend `$queue`, the same way for both backends (the builder's types differ
/// per backend, so a function cannot take both). Each has a monitor of its own, so one
/// queue's worker restarting leaves the others running.
macro_rules! supervise_all {
    ($queue:expr, $name:expr, $ctx:expr, $deps:expr, $cancel:expr,
     periodic: [$($periodic:ty),+ $(,)?], handled: [$($job:ty => $handler:path),+ $(,)?]) => {{
        let all: Vec<Vec<JoinHandle<Result<(), RuntimeError>>>> = vec![
            $(supervise_one!($queue, $name, $ctx, $deps, $cancel, Tick<$periodic>, periodic::run::<$periodic>),)+
            $(supervise_one!($queue, $name, $ctx, $deps, $cancel, $job, $handler),)+
        ];
        all.into_iter().flatten().collect::<Vec<_>>()
    }};
}

/// The supervisors of job kind `$job`'s workers, one per queue shard, handled by
/// `$handler`.
macro_rules! supervise_one {
    ($queue:expr, $name:expr, $ctx:expr, $deps:expr, $cancel:expr, $job:ty, $handler:expr) => {{
        let storages = $queue.storages::<$job>();
        let sharded = storages.len() > 1;
        storages
            .into_iter()
            .enumerate()
            .map(|(shard, (storage, concurrency))| {
                let ctx = $ctx.clone();
                let queue = <$job as Job>::QUEUE;
                let name = if sharded {
                    format!("{}-{queue}-s{shard}", $name)
                } else {
                    format!("{}-{queue}", $name)
                };
                let build =
                    move |generation: u32| {
                        let storage = storage.clone();
                        let ctx = ctx.clone();
                        let name = format!("{name}-{generation}");
                        monitor(&ctx.config).register(move |restarts| {
                            let config = &ctx.config;
                            WorkerBuilder::new(format!("{name}-{restarts}"))
                                .backend(storage.clone().poll_with_strategy(EveryTick::new(
                                    config.worker_poll_interval,
                                )))
                                .concurrency(concurrency)
                                .timeout(config.worker_job_timeout)
                                .catch_panic()
                                .enable_tracing()
                                .data(ctx.clone())
                                .build($handler)
                        })
                    };
                tokio::spawn(supervise(queue, build, $deps.clone(), $cancel.clone()))
            })
            .collect::<Vec<_>>()
    }};
}

/// The schedulers of every periodic job kind of the list.
macro_rules! schedule_all {
    ($ctx:expr, $deps:expr, $name:expr, $cancel:expr,
     periodic: [$($periodic:ty),+ $(,)?], handled: [$($job:ty => $handler:path),+ $(,)?]) => {
        vec![$(schedule::<$periodic>($ctx, $deps, $name, $cancel),)+]
    };
}

/// A monitor for one queue's worker: errors logged, no in-place restart (that reuses the
/// broken state and loops without backoff; `supervise` restarts instead), in-flight jobs
/// given `WORKER_SHUTDOWN_TIMEOUT` on shutdown.
fn monitor(config: &WorkerConfig) -> Monitor {
    Monitor::new()
        .on_event(|worker, event| match event {
            Event::Error(error) => tracing::error!(worker = worker.name(), %error, "worker error"),
            Event::Start | Event::Stop | Event::Exit => {
                tracing::info!(worker = worker.name(), ?event, "worker lifecycle")
            }
            _ => tracing::trace!(worker = worker.name(), ?event),
        })
        .should_restart(|_, _| false)
        .shutdown_timeout(config.worker_shutdown_timeout)
}

/// Runs the worker that `build` makes until `cancel`. A worker that stops on its own (Redis
/// dropped its connection, a poison task) is built again under a new name once every
/// dependency answers, after a capped exponential backoff; its unfinished tasks reach a
/// live worker through apalis's orphan recovery.
async fn supervise(
    queue: &'static str,
    build: impl Fn(u32) -> Monitor,
    deps: Dependencies,
    cancel: CancellationToken,
) -> Result<(), RuntimeError> {
    let mut backoff = Backoff::new(RESTART_MIN, RESTART_MAX);
    for generation in 0.. {
        if !deps.wait_up(&cancel).await {
            return Ok(());
        }
        let started = Instant::now();
        let stop = cancel.clone();
        let result = build(generation)
            .run_with_signal(async move {
                stop.cancelled().await;
                Ok(())
            })
            .await;
        if cancel.is_cancelled() {
            return Ok(result?);
        }
        if started.elapsed() >= RESTART_STABLE {
            backoff.reset();
        }
        let wait = backoff.next_wait();
        match result {
            Ok(()) => tracing::warn!(queue, ?wait, "queue worker stopped; starting it again"),
            Err(error) => {
                tracing::warn!(queue, %error, ?wait, "queue worker failed; starting it again once its dependencies answer")
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            () = tokio::time::sleep(wait) => {}
        }
    }
    Ok(())
}

/// Claims `P`'s slots from this process and enqueues the ones it wins, until `cancel`.
fn schedule<P: Periodic>(
    ctx: &JobContext,
    deps: &Dependencies,
    claimer: &str,
    cancel: &CancellationToken,
) -> JoinHandle<()> {
    let queue = ctx.queue.clone();
    tokio::spawn(periodic::run_every(
        ctx.db.clone(),
        deps.clone(),
        P::NAME,
        P::interval(&ctx.config),
        claimer.to_owned(),
        cancel.child_token(),
        move |slot| {
            let queue = queue.clone();
            async move { queue.push(Tick::<P>::new(slot)).await.map(drop) }
        },
    ))
}

/// Runs every worker and scheduler until `cancel` fires, through dependency outages (the
/// workers restart once `deps` all answer); then lets running jobs finish (up to
/// `WORKER_SHUTDOWN_TIMEOUT`) and returns.
pub async fn run(
    ctx: JobContext,
    deps: Dependencies,
    cancel: CancellationToken,
) -> Result<(), RuntimeError> {
    let name = process_name();
    tracing::info!(worker = %name, "starting workers");

    let schedulers = crate::with_job_kinds!(schedule_all!(&ctx, &deps, &name, &cancel,));
    // Once before any worker fetches: apalis-redis's fetch would move a whole waiting
    // backlog to the ready list in one go, ahead of every fresh task.
    if let Queue::Redis(q) = &ctx.queue
        && let Err(error) = q.promote_due(QUEUES).await
    {
        tracing::warn!(%error, "could not promote due tasks before starting; the promoter retries");
    }
    let promoter = match &ctx.queue {
        Queue::Redis(q) => Some(tokio::spawn(promote(
            q.clone(),
            ctx.config.worker_poll_interval,
            cancel.child_token(),
        ))),
        Queue::Sqlite(_) => None,
    };
    // Held collections are let in by every worker process; the shares are shared.
    let dispatcher = ctx.flow.turns.is_on().then(|| {
        tokio::spawn(crate::flow::dispatch::run(
            ctx.db.clone(),
            ctx.queue.clone(),
            ctx.flow.turns.clone(),
            cancel.child_token(),
        ))
    });
    let supervisors = match &ctx.queue {
        Queue::Redis(q) => crate::with_job_kinds!(supervise_all!(q, name, ctx, deps, cancel,)),
        Queue::Sqlite(q) => crate::with_job_kinds!(supervise_all!(q, name, ctx, deps, cancel,)),
    };

    let mut result = Ok(());
    for supervisor in supervisors {
        let stopped = supervisor.await.map_err(RuntimeError::from).and_then(|r| r);
        if let Err(error) = stopped {
            tracing::error!(%error, "a queue worker did not stop cleanly");
            result = Err(error);
        }
    }
    for scheduler in schedulers {
        scheduler.abort();
    }
    if let Some(promoter) = promoter {
        promoter.abort();
    }
    if let Some(dispatcher) = dispatcher {
        dispatcher.abort();
    }
    // Whatever was buffered since the last flush reaches the database before we go.
    match flush_now(&ctx.db, &ctx.counters).await {
        Ok(keys) => tracing::info!(keys, "final counter flush done"),
        Err(error) => {
            tracing::error!(%error, "final counter flush failed; the next flush will retry")
        }
    }
    tracing::info!(worker = %name, "workers stopped");
    result
}

/// Moves due tasks to the ready lists in bounded chunks every `period` until `cancel`, so
/// no backlog of due tasks grows past what apalis-redis's fetch can take (see
/// `RedisQueue::promote_due`). A failure is logged and retried on the next tick.
async fn promote(queue: RedisQueue, period: Duration, cancel: CancellationToken) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match queue.promote_due(QUEUES).await {
            Ok(moved) => {
                if failing {
                    tracing::info!("promoting due tasks works again");
                }
                failing = false;
                if moved > 0 {
                    crate::metrics::tasks_promoted(moved);
                    tracing::debug!(moved, "due tasks moved to the ready lists");
                }
            }
            Err(error) => {
                if !failing {
                    tracing::warn!(%error, "could not promote due tasks; retrying every poll");
                }
                failing = true;
            }
        }
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

/// Runs `job` as a task of its own and waits for it. apalis polls every job of a worker
/// inside that worker's one task, so on one thread at a time; spawned, jobs spread over all
/// of the runtime's threads. Dropping the wait (apalis giving up on the job) aborts it.
pub async fn on_any_thread<F>(job: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    struct AbortOnDrop<T>(JoinHandle<T>);
    impl<T> Drop for AbortOnDrop<T> {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let mut handle = AbortOnDrop(tokio::spawn(job));
    match (&mut handle.0).await {
        Ok(output) => output,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        // Aborted only by the guard, which is gone by then; a runtime shutting down ends
        // the waiting job too.
        Err(_) => std::future::pending().await,
    }
}
