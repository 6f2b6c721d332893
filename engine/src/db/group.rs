//! Group commit: the same statement from many jobs, written as one. A job hands its row to
//! a `Group` and awaits its own answer; the rows that arrive while a batch runs make the
//! next batch. Nothing waits on a timer: one job alone is written at once, and under load a
//! batch holds whatever came during the last one, so statements (and commits) per job fall
//! as load rises.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use futures::FutureExt;
use futures::future::BoxFuture;
use sea_orm::{DatabaseConnection, DbErr, RuntimeErr};
use tokio::sync::oneshot;

/// What a batch runs: the inputs in, one output per input, in order.
pub type Run<I, O> = Box<dyn Fn(Vec<I>) -> BoxFuture<'static, Result<Vec<O>, DbErr>> + Send + Sync>;

/// A batch's work on a database connection of its own, as `on` takes it.
pub type RunOn<I, O> = fn(DatabaseConnection, Vec<I>) -> BoxFuture<'static, Result<Vec<O>, DbErr>>;

/// Rows of one kind, written together.
pub struct Group<I, O> {
    inner: Arc<Inner<I, O>>,
}

impl<I, O> Clone for Group<I, O> {
    fn clone(&self) -> Self {
        Group {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<I, O> {
    /// Named in logs.
    name: &'static str,
    /// The most rows in one batch (statements have a bound on their parameters).
    max: usize,
    /// Whether batches are sized in powers of two (see `batch_size`).
    powers_of_two: bool,
    run: Run<I, O>,
    state: Mutex<State<I, O>>,
}

type Reply<O> = oneshot::Sender<Result<O, DbErr>>;

struct State<I, O> {
    waiting: VecDeque<(I, Reply<O>)>,
    /// Whether a task is writing batches now; at most one is.
    running: bool,
}

impl<I: Send + 'static, O: Send + 'static> Group<I, O> {
    /// A group named `name` writing at most `max` rows per batch with `run`.
    pub fn new(name: &'static str, max: usize, run: Run<I, O>) -> Self {
        Group {
            inner: Arc::new(Inner {
                name,
                max: max.max(1),
                powers_of_two: false,
                run,
                state: Mutex::new(State {
                    waiting: VecDeque::new(),
                    running: false,
                }),
            }),
        }
    }

    /// A group named `name` whose batches of at most `max` rows run `run` on `db`.
    pub fn on(db: &DatabaseConnection, name: &'static str, max: usize, run: RunOn<I, O>) -> Self {
        let db = db.clone();
        Self::new(name, max, Box::new(move |rows| run(db.clone(), rows)))
    }

    /// This group with batches sized in powers of two only (see `batch_size`); to be set
    /// before the first write.
    pub fn in_powers_of_two(mut self) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("in_powers_of_two is set on a group before it is shared")
            .powers_of_two = true;
        self
    }

    /// Writes `input` with whatever else is waiting; its own output once written.
    pub async fn write(&self, input: I) -> Result<O, DbErr> {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut state = self.inner.lock();
            state.waiting.push_back((input, reply));
            !std::mem::replace(&mut state.running, true)
        };
        if start {
            tokio::spawn(Arc::clone(&self.inner).drain());
        }
        answer.await.unwrap_or_else(|_| {
            Err(DbErr::Exec(RuntimeErr::Internal(format!(
                "{}: the batch ended without an answer",
                self.inner.name
            ))))
        })
    }
}

impl<I: Send + 'static, O: Send + 'static> Inner<I, O> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<I, O>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes batches until nothing waits.
    async fn drain(self: Arc<Self>) {
        loop {
            let batch: Vec<(I, Reply<O>)> = {
                let mut state = self.lock();
                if state.waiting.is_empty() {
                    state.running = false;
                    return;
                }
                let n = state.waiting.len().min(self.max);
                let n = if self.powers_of_two {
                    batch_size(n, self.max)
                } else {
                    n
                };
                state.waiting.drain(..n).collect()
            };
            let (inputs, replies): (Vec<I>, Vec<Reply<O>>) = batch.into_iter().unzip();
            let count = inputs.len();
            // A panic in a batch must not leave the group marked running with nobody
            // draining it: it fails that batch's rows, and the next batch goes on.
            let written = std::panic::AssertUnwindSafe((self.run)(inputs))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(DbErr::Custom(format!("{}: batch panicked", self.name))));
            match written {
                Ok(outputs) if outputs.len() == count => {
                    for (reply, output) in replies.into_iter().zip(outputs) {
                        let _ = reply.send(Ok(output));
                    }
                }
                Ok(outputs) => {
                    let error =
                        format!("{}: {} answers for {count} rows", self.name, outputs.len());
                    for reply in replies {
                        let _ = reply.send(Err(DbErr::Custom(error.clone())));
                    }
                }
                Err(error) => {
                    tracing::debug!(group = self.name, rows = count, %error, "batch failed");
                    for reply in replies {
                        let _ = reply.send(Err(shared(&error)));
                    }
                }
            }
        }
    }
}

/// How many of `waiting` rows the next batch takes when batches are sized in powers of two:
/// at most `max`, and a power of two (the rest go in the next batch, at once). Each batch size
/// is its own statement text, which the driver prepares and caches per connection: with any
/// size from 1 to 128, the api's submissions kept up to 128 statements per connection, and
/// its memory after a burst doubled (27 -> 54 MB) and stayed. Powers of two keep 8; the
/// price is more, smaller batches (and commits) when rows arrive spread out, which is why
/// the workers' groups, whose rows arrive spread out, take any size.
fn batch_size(waiting: usize, max: usize) -> usize {
    let n = waiting.min(max).max(1);
    1 << n.ilog2()
}

/// One batch's error for each of its rows (`DbErr` is not `Clone`), as transient or not as
/// the original was.
fn shared(error: &DbErr) -> DbErr {
    let text = error.to_string();
    match error {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => DbErr::Conn(RuntimeErr::Internal(text)),
        DbErr::Exec(_) => DbErr::Exec(RuntimeErr::Internal(text)),
        DbErr::Query(_) => DbErr::Query(RuntimeErr::Internal(text)),
        _ => DbErr::Custom(text),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// A group doubling numbers, counting its batches, each taking a moment.
    fn doubling(batches: Arc<AtomicUsize>) -> Group<u32, u32> {
        Group::new(
            "doubling",
            8,
            Box::new(move |inputs: Vec<u32>| {
                let batches = Arc::clone(&batches);
                Box::pin(async move {
                    batches.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    if inputs.contains(&13) {
                        return Err(DbErr::Conn(RuntimeErr::Internal("unlucky".into())));
                    }
                    Ok(inputs.into_iter().map(|n| n * 2).collect())
                })
            }),
        )
    }

    #[test]
    fn batches_are_powers_of_two_up_to_the_maximum() {
        let sizes: Vec<usize> = [1, 2, 3, 7, 8, 100, 256, 300]
            .into_iter()
            .map(|waiting| batch_size(waiting, 256))
            .collect();
        assert_eq!(sizes, [1, 2, 2, 4, 8, 64, 256, 256]);
        assert_eq!(
            batch_size(200, 100),
            64,
            "a maximum that is no power of two"
        );
    }

    #[tokio::test]
    async fn rows_arriving_together_share_batches_and_each_gets_its_own_answer() {
        let batches = Arc::new(AtomicUsize::new(0));
        let group = doubling(Arc::clone(&batches));
        // 13 fails its batch: left out.
        let writes = (20..60).map(|n| {
            let group = group.clone();
            async move { group.write(n).await }
        });
        let answers = futures::future::join_all(writes).await;
        for (n, answer) in (20..60).zip(answers) {
            assert_eq!(answer.unwrap(), n * 2);
        }
        // 40 rows at most 8 per batch: 5 batches, and more than one row in the first.
        let batches = batches.load(Ordering::SeqCst);
        assert!((5..40).contains(&batches), "{batches} batches");
    }

    #[tokio::test]
    async fn a_failed_batch_fails_its_rows_alike_and_the_next_goes_on() {
        let group = doubling(Arc::new(AtomicUsize::new(0)));
        let failed = group.write(13).await.unwrap_err();
        assert!(matches!(failed, DbErr::Conn(_)), "{failed:?}");
        assert_eq!(group.write(4).await.unwrap(), 8);
    }
}
