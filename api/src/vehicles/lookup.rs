//! The lookup itself (one indexed query through SeaORM) behind the tiered cache.

use std::fmt;
use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use entity::{state_log, vehicle};
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query, QueryStatementBuilder, SimpleExpr};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};

use super::VehicleId;
use super::cache::{Source, TieredCache};
use crate::error::ApiError;

/// A vehicle's state at an instant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KnownState {
    /// The vehicle's id.
    pub id: i32,
    /// Manufacturer.
    pub make: String,
    /// Model.
    pub model: String,
    /// Its state at the instant.
    pub state: String,
    /// When it entered that state.
    pub since: DateTime<Utc>,
    /// The answer to a cache hit on this entry, serialised once: the entry's key fixes the
    /// instant asked about, and a hit always says `fromCache: true`, so every hit answers
    /// the same bytes. Not cached itself; a copy read from the shared tier writes its own.
    #[serde(skip)]
    pub hit_answer: OnceLock<Bytes>,
}

/// What the database says of a vehicle at an instant; cached as is, misses included.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum StateAt {
    /// The vehicle's state is known; shared, so a cache hit hands it out without a copy.
    Known(Arc<KnownState>),
    /// The vehicle exists but its first state was logged after the instant.
    NotYet {
        /// When its first state was logged, if ever.
        first: Option<DateTime<Utc>>,
    },
    /// No such vehicle.
    UnknownVehicle,
}

/// The cache key: the vehicle and the instant itself (not its spelling), so every way of
/// writing one instant shares one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StateKey {
    id: i32,
    at_micros: i64,
}

impl fmt::Display for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.id, self.at_micros)
    }
}

/// Answers "what state was vehicle N in at t", through the cache.
pub struct VehicleStates {
    db: DatabaseConnection,
    cache: TieredCache<StateKey, StateAt>,
}

impl VehicleStates {
    /// Lookups on `db`, cached in `cache`.
    pub fn new(db: DatabaseConnection, cache: TieredCache<StateKey, StateAt>) -> Self {
        Self { db, cache }
    }

    /// Drops the cache's expired answers (see `TieredCache::evict_expired`).
    pub async fn evict_expired(&self) {
        self.cache.evict_expired().await;
    }

    /// The state of `id` at `at`, and whether it came from a cache; an unknown vehicle or a
    /// time before its first state are `NotFound` errors.
    pub async fn state_at(
        &self,
        id: VehicleId,
        at: DateTime<Utc>,
    ) -> Result<(Arc<KnownState>, bool), ApiError> {
        let key = StateKey {
            id: id.0,
            at_micros: at.timestamp_micros(),
        };
        let lookup = self
            .cache
            .get_or_load(key, || query(&self.db, id, at))
            .await
            .map_err(|error: Arc<DbErr>| ApiError::Database(clone_db_err(&error)))?;
        match &lookup.cached.value {
            StateAt::Known(known) => Ok((Arc::clone(known), lookup.source != Source::Origin)),
            StateAt::UnknownVehicle => {
                Err(ApiError::NotFound(format!("vehicle {} not found", id.0)))
            }
            StateAt::NotYet { first } => Err(ApiError::NotFound(match first {
                Some(first) => format!(
                    "vehicle {} had no state at {}: its first state was logged at {}",
                    id.0,
                    at.to_rfc3339(),
                    first.to_rfc3339()
                ),
                None => format!("vehicle {} has no state logged at all", id.0),
            })),
        }
    }
}

/// The vehicle and its latest log at or before `at`, in one statement (correlated
/// subqueries, which Postgres and SQLite both run off the (vehicle_id, timestamp) index):
/// an uncached lookup is one database round trip.
#[derive(Debug, FromQueryResult)]
struct Row {
    id: i32,
    make: String,
    model: String,
    state: Option<String>,
    since: Option<DateTime<Utc>>,
}

fn latest_log(column: state_log::Column, at: DateTime<Utc>) -> SimpleExpr {
    let select = Query::select()
        .column((state_log::Entity, column))
        .from(state_log::Entity)
        .and_where(
            Expr::col((state_log::Entity, state_log::Column::VehicleId))
                .equals((vehicle::Entity, vehicle::Column::Id)),
        )
        .and_where(Expr::col((state_log::Entity, state_log::Column::Timestamp)).lte(at))
        .order_by(
            (state_log::Entity, state_log::Column::Timestamp),
            Order::Desc,
        )
        .limit(1)
        .to_owned();
    SimpleExpr::SubQuery(None, Box::new(select.into_sub_query_statement()))
}

async fn query(
    db: &DatabaseConnection,
    id: VehicleId,
    at: DateTime<Utc>,
) -> Result<StateAt, DbErr> {
    let found = vehicle::Entity::find_by_id(id.0)
        .select_only()
        .columns([
            vehicle::Column::Id,
            vehicle::Column::Make,
            vehicle::Column::Model,
        ])
        .expr_as(latest_log(state_log::Column::State, at), "state")
        .expr_as(latest_log(state_log::Column::Timestamp, at), "since")
        .into_model::<Row>()
        .one(db)
        .await?;
    let Some(found) = found else {
        return Ok(StateAt::UnknownVehicle);
    };
    if let (Some(state), Some(since)) = (found.state, found.since) {
        return Ok(StateAt::Known(Arc::new(KnownState {
            id: found.id,
            make: found.make,
            model: found.model,
            state,
            since,
            hit_answer: OnceLock::new(),
        })));
    }
    let first = state_log::Entity::find()
        .filter(state_log::Column::VehicleId.eq(id.0))
        .order_by_asc(state_log::Column::Timestamp)
        .one(db)
        .await?
        .map(|log| log.timestamp);
    Ok(StateAt::NotYet { first })
}

/// `DbErr` is not `Clone`, and the cache shares one error among every waiting request;
/// keep the kind that decides the status (connection or not) and the message.
fn clone_db_err(error: &DbErr) -> DbErr {
    match error {
        DbErr::Conn(e) => DbErr::Conn(sea_orm::RuntimeErr::Internal(e.to_string())),
        DbErr::ConnectionAcquire(_) => {
            DbErr::Conn(sea_orm::RuntimeErr::Internal(error.to_string()))
        }
        other => DbErr::Custom(other.to_string()),
    }
}
