//! Count-ins, holds and count-outs of the tenants' shares, written to Redis in batches:
//! whatever arrives while one batch is being written goes in the next, one ZADD, one RPUSH
//! and one ZREM per tenant per round trip however many submissions and collections are
//! behind them. A submission awaits its count-in (beside its row's insert) before its job
//! is pushed, so the collection's count-out, written by the worker that starts it, always
//! comes after; a held submission awaits its hold, written after its row. A collection
//! does not await its count-out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Once};

use crate::queue::RedisConnection;
use tokio::sync::{Notify, oneshot};

use super::{STALE, held_key, holding_key, key, lock, millis};

/// Writes the count-ins and count-outs of one process.
#[derive(Clone)]
pub(super) struct Batcher {
    inner: Arc<Inner>,
}

struct Inner {
    conn: RedisConnection,
    prefix: String,
    pending: Mutex<Pending>,
    /// By tenant, the count-ins taken and not yet written.
    unwritten: Mutex<HashMap<String, u64>>,
    wake: Notify,
    writer: Once,
}

/// What the next batch writes, by tenant, and who waits for it (told whether it was).
#[derive(Default)]
struct Pending {
    ins: HashMap<String, Vec<String>>,
    holds: HashMap<String, Vec<String>>,
    outs: HashMap<String, Vec<String>>,
    written: Vec<oneshot::Sender<bool>>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.ins.is_empty() && self.holds.is_empty() && self.outs.is_empty()
    }
}

impl Batcher {
    /// A batcher writing under `prefix` on `conn`; its writer starts with its first entry.
    pub(super) fn new(conn: RedisConnection, prefix: &str) -> Self {
        Batcher {
            inner: Arc::new(Inner {
                conn,
                prefix: prefix.to_owned(),
                pending: Mutex::default(),
                unwritten: Mutex::default(),
                wake: Notify::new(),
                writer: Once::new(),
            }),
        }
    }

    /// Counts `id` into `tenant`'s share in the next batch; the receiver hears once it is
    /// written (or its batch failed, which the writer logs: the id is then not counted).
    pub(super) fn count_in(&self, tenant: &str, id: &str) -> oneshot::Receiver<bool> {
        let (tx, rx) = oneshot::channel();
        *lock(&self.inner.unwritten)
            .entry(tenant.to_owned())
            .or_default() += 1;
        self.enqueue(|pending| {
            push(&mut pending.ins, tenant, id);
            pending.written.push(tx);
        });
        rx
    }

    /// Puts `entry` at the end of `tenant`'s held list in the next batch; the receiver hears
    /// whether it was written.
    pub(super) fn hold(&self, tenant: &str, entry: String) -> oneshot::Receiver<bool> {
        let (tx, rx) = oneshot::channel();
        self.enqueue(|pending| {
            pending
                .holds
                .entry(tenant.to_owned())
                .or_default()
                .push(entry);
            pending.written.push(tx);
        });
        rx
    }

    /// How many of `tenant`'s count-ins are taken and not yet written: an exact check of
    /// its share counts them too.
    pub(super) fn unwritten(&self, tenant: &str) -> u64 {
        lock(&self.inner.unwritten)
            .get(tenant)
            .copied()
            .unwrap_or(0)
    }

    /// Counts `id` out of `tenant`'s share in the next batch.
    pub(super) fn count_out(&self, tenant: &str, id: &str) {
        self.enqueue(|pending| push(&mut pending.outs, tenant, id));
    }

    fn enqueue(&self, add: impl FnOnce(&mut Pending)) {
        add(&mut lock(&self.inner.pending));
        self.inner
            .writer
            .call_once(|| match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(write_batches(self.inner.clone()));
                }
                // Only async code counts turns; without a runtime the waiters time out.
                Err(error) => tracing::error!(%error, "no runtime to write the tenants' turns on"),
            });
        self.inner.wake.notify_one();
    }
}

fn push(by_tenant: &mut HashMap<String, Vec<String>>, tenant: &str, id: &str) {
    by_tenant
        .entry(tenant.to_owned())
        .or_default()
        .push(id.to_owned());
}

/// Writes batches as long as entries arrive.
async fn write_batches(inner: Arc<Inner>) {
    loop {
        inner.wake.notified().await;
        loop {
            let batch = std::mem::take(&mut *lock(&inner.pending));
            if batch.is_empty() {
                break;
            }
            let written = write(&inner, &batch).await;
            let mut unwritten = lock(&inner.unwritten);
            for (tenant, ids) in &batch.ins {
                if let Some(n) = unwritten.get_mut(tenant) {
                    *n = n.saturating_sub(ids.len() as u64);
                    if *n == 0 {
                        unwritten.remove(tenant);
                    }
                }
            }
            drop(unwritten);
            for waiting in batch.written {
                let _ = waiting.send(written);
            }
        }
    }
}

/// One round trip: every count-in of the batch, every hold, then every count-out (an id
/// counted in and out in one batch is then out); whether it was written.
async fn write(inner: &Inner, batch: &Pending) -> bool {
    let now = chrono::Utc::now().timestamp_millis();
    let mut pipe = redis::pipe();
    for (tenant, ids) in &batch.ins {
        let share = key(&inner.prefix, tenant);
        let zadd = pipe.cmd("ZADD").arg(&share);
        for id in ids {
            zadd.arg(now).arg(id);
        }
        pipe.ignore();
        pipe.cmd("PEXPIRE").arg(&share).arg(millis(STALE)).ignore();
    }
    for (tenant, entries) in &batch.holds {
        pipe.cmd("RPUSH")
            .arg(held_key(&inner.prefix, tenant))
            .arg(entries)
            .ignore();
    }
    if !batch.holds.is_empty() {
        let tenants: Vec<&String> = batch.holds.keys().collect();
        pipe.cmd("SADD")
            .arg(holding_key(&inner.prefix))
            .arg(tenants)
            .ignore();
    }
    for (tenant, ids) in &batch.outs {
        pipe.cmd("ZREM")
            .arg(key(&inner.prefix, tenant))
            .arg(ids)
            .ignore();
    }
    match pipe.query_async::<()>(&mut inner.conn.clone()).await {
        Ok(()) => true,
        Err(error) => {
            let count = |m: &HashMap<String, Vec<String>>| m.values().map(Vec::len).sum::<usize>();
            let (ins, holds, outs) = (count(&batch.ins), count(&batch.holds), count(&batch.outs));
            // Uncounted ids make a share larger for a while; ids not counted out make it
            // smaller until a dispatcher finding it full drops them, or they go stale. The
            // held submissions are refused.
            tracing::warn!(%error, ins, holds, outs, "could not write the tenants' shares");
            false
        }
    }
}
