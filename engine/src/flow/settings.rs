//! The settings in force: every provider's and receiver's limits and pauses and every
//! tenant's weight, read from the database at most once per `REFRESH` by each process and
//! shared by its jobs, so a webhook's way through costs a map lookup, not a query. A change made by this process
//! (its api) is seen at once; one made by another process within `REFRESH`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use entity::{provider_setting, receiver_setting, tenant};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};

use super::Limits;

/// How stale the settings a job acts on may be.
const REFRESH: Duration = Duration::from_secs(1);

/// What is set on one provider or receiver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Control {
    /// Its limits.
    pub limits: Limits,
    /// Whether it is paused.
    pub paused: bool,
}

impl Control {
    fn of(max_concurrent: Option<i32>, max_per_second: Option<f64>, paused: bool) -> Self {
        Control {
            limits: Limits {
                max_concurrent: max_concurrent.and_then(|n| u32::try_from(n).ok()),
                max_per_second,
            },
            paused,
        }
    }
}

#[derive(Default)]
struct Snapshot {
    providers: HashMap<String, Control>,
    /// By tenant, then host.
    receivers: HashMap<String, HashMap<String, Control>>,
    /// The tenants whose weight is not 1.
    weights: HashMap<String, u32>,
    read_at: Option<Instant>,
}

/// The settings in force, shared by a process's jobs.
#[derive(Clone)]
pub struct Controls {
    db: DatabaseConnection,
    snapshot: Arc<RwLock<Arc<Snapshot>>>,
    reading: Arc<tokio::sync::Mutex<()>>,
}

impl Controls {
    /// Settings read from `db`.
    pub fn new(db: &DatabaseConnection) -> Self {
        Controls {
            db: db.clone(),
            snapshot: Arc::default(),
            reading: Arc::default(),
        }
    }

    /// What is set on provider `name`, if anything.
    pub async fn provider(&self, name: &str) -> Option<Control> {
        self.current().await.providers.get(name).copied()
    }

    /// What `tenant` set on receiver `host`, if anything.
    pub async fn receiver(&self, tenant: &str, host: &str) -> Option<Control> {
        let snapshot = self.current().await;
        snapshot.receivers.get(tenant)?.get(host).copied()
    }

    /// `tenant`'s weight: its share of the collect queue against other tenants.
    pub async fn weight(&self, tenant: &str) -> u32 {
        self.current()
            .await
            .weights
            .get(tenant)
            .copied()
            .unwrap_or(1)
    }

    /// Forgets what was read, so the next job reads the settings again: after this
    /// process changed them.
    pub fn changed(&self) {
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::default();
    }

    /// The settings, read again when older than `REFRESH`. A failed read keeps the last
    /// settings (logged): the jobs go on under them rather than failing for bookkeeping.
    async fn current(&self) -> Arc<Snapshot> {
        let fresh = |s: &Snapshot| s.read_at.is_some_and(|at| at.elapsed() < REFRESH);
        let held = self.held();
        if fresh(&held) {
            return held;
        }
        let _reading = self.reading.lock().await;
        // Another job read them while this one waited.
        let held = self.held();
        if fresh(&held) {
            return held;
        }
        match read(&self.db).await {
            Ok(snapshot) => {
                let snapshot = Arc::new(snapshot);
                *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = snapshot.clone();
                snapshot
            }
            Err(error) => {
                tracing::warn!(%error, "could not read the flow-control settings; keeping the last ones");
                held
            }
        }
    }

    fn held(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

async fn read(db: &DatabaseConnection) -> Result<Snapshot, DbErr> {
    let mut snapshot = Snapshot {
        read_at: Some(Instant::now()),
        ..Snapshot::default()
    };
    for row in provider_setting::Entity::find().all(db).await? {
        let control = Control::of(
            row.max_concurrent,
            row.max_per_second,
            row.paused_at.is_some(),
        );
        snapshot.providers.insert(row.provider, control);
    }
    for row in receiver_setting::Entity::find().all(db).await? {
        let control = Control::of(
            row.max_concurrent,
            row.max_per_second,
            row.paused_at.is_some(),
        );
        snapshot
            .receivers
            .entry(row.tenant_id)
            .or_default()
            .insert(row.host, control);
    }
    let weighted = tenant::Entity::find()
        .select_only()
        .column(tenant::Column::Id)
        .column(tenant::Column::Weight)
        .filter(tenant::Column::Weight.ne(1))
        .into_tuple::<(String, i32)>()
        .all(db)
        .await?;
    for (id, weight) in weighted {
        snapshot
            .weights
            .insert(id, u32::try_from(weight).unwrap_or(1).max(1));
    }
    Ok(snapshot)
}
