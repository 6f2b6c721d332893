//! Bodies of the vehicle state lookups. Answers borrow their strings (`Cow`), so a cached
//! answer is written out without being copied first.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Query of `GET /v1/vehicles/{id}/state`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StateQuery {
    /// The instant to answer for, RFC 3339 (`2022-09-12T10:00:00Z`); the challenge's
    /// `2022-09-12 10:00:00+00` is accepted too.
    #[param(value_type = DateTime<Utc>, example = "2022-09-12T10:00:00Z")]
    pub at: String,
}

/// A vehicle's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Vehicle<'a> {
    /// The vehicle's id.
    pub id: i32,
    /// Manufacturer, e.g. `AUDI`.
    pub make: Cow<'a, str>,
    /// Model, e.g. `A4`.
    pub model: Cow<'a, str>,
}

/// A vehicle's state at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VehicleState<'a> {
    /// The vehicle.
    pub vehicle: Vehicle<'a>,
    /// Its state at `at`: that of the latest transition at or before `at`.
    pub state: Cow<'a, str>,
    /// When the vehicle entered that state.
    #[serde(with = "crate::json::timestamp")]
    pub state_since: DateTime<Utc>,
    /// The instant answered for, in UTC.
    #[serde(with = "crate::json::timestamp")]
    pub at: DateTime<Utc>,
    /// Whether the answer came from a cache (at most the configured bound stale).
    pub from_cache: bool,
}

/// The vehicle of the classic route, with its state at the asked time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClassicVehicle<'a> {
    /// The vehicle's id.
    pub id: i32,
    /// Manufacturer.
    pub make: Cow<'a, str>,
    /// Model.
    pub model: Cow<'a, str>,
    /// Its state at the asked time (not its current state).
    pub state: Cow<'a, str>,
}

/// `data` of the classic route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClassicData<'a> {
    /// The vehicle with its state at the asked time.
    pub vehicle: ClassicVehicle<'a>,
}

/// The classic route's body, exactly as the original challenge answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "fromCache": false,
    "data": {"vehicle": {"id": 2, "make": "AUDI", "model": "A4", "state": "selling"}}
}))]
pub struct ClassicVehicleState<'a> {
    /// Whether the answer came from a cache.
    pub from_cache: bool,
    /// The answer.
    pub data: ClassicData<'a>,
}
