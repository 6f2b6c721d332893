//! `GET /v1/vehicles/{id}/state` and the classic `GET /vehicles/{id}/timestamp/{timestamp}`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use openapi::vehicles::{
    ClassicData, ClassicVehicle, ClassicVehicleState, StateQuery, Vehicle, VehicleState,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::input::{ResourceId, params};
use crate::state::AppState;
use crate::vehicles::{KnownState, VehicleId, parse_instant};

/// The vehicle routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(state_at))
        .routes(routes!(classic_state_at))
}

/// A vehicle's state at an instant.
#[utoipa::path(
    get,
    path = "/v1/vehicles/{id}/state",
    operation_id = "getVehicleState",
    tag = "vehicles",
    params(("id" = i32, Path, description = "The vehicle's id"), StateQuery),
    responses(
        (status = 200, description = "The vehicle and its state at `at`", body = VehicleState),
        (status = 400, description = "`id` or `at` is malformed, or `at` is missing"),
        (status = 401, description = "No valid API key was given"),
        (status = 429, description = "Over the tenant's rate limit"),
        (status = 404, description = "No such vehicle, or it had no state yet at `at`"),
        (status = 503, description = "The database is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn state_at(
    State(app): State<AppState>,
    ResourceId(id): ResourceId,
    query: Result<Query<StateQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let query = params::query(query, "at")?;
    let id = VehicleId::parse(&id)?;
    let at = parse_instant("at", &query.at)?;
    let (known, from_cache) = app.vehicles.state_at(id, at).await?;
    if !from_cache {
        return Ok(json_bytes(state_answer(&known, at, false)?));
    }
    let answer = match known.hit_answer.get() {
        Some(answer) => answer.clone(),
        None => {
            let answer = state_answer(&known, at, true)?;
            known.hit_answer.get_or_init(|| answer.clone());
            answer
        }
    };
    Ok(json_bytes(answer))
}

/// The JSON of a state answer.
fn state_answer(
    known: &KnownState,
    at: DateTime<Utc>,
    from_cache: bool,
) -> Result<Bytes, ApiError> {
    let answer = VehicleState {
        vehicle: Vehicle {
            id: known.id,
            make: known.make.as_str().into(),
            model: known.model.as_str().into(),
        },
        state: known.state.as_str().into(),
        state_since: known.since,
        at,
        from_cache,
    };
    serde_json::to_vec(&answer)
        .map(Bytes::from)
        .map_err(|error| ApiError::Unavailable(format!("could not write the answer: {error}")))
}

/// A `200` with a JSON body written beforehand.
fn json_bytes(body: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// The original challenge's route and answer shape.
#[utoipa::path(
    get,
    path = "/vehicles/{id}/timestamp/{timestamp}",
    operation_id = "getVehicleStateClassic",
    tag = "vehicles",
    params(
        ("id" = i32, Path, description = "The vehicle's id"),
        ("timestamp" = DateTime<Utc>, Path, description = "RFC 3339; the challenge's \
         `2022-09-12 10:00:00+00` (URL-encoded) is accepted too", example = "2022-09-12T10:00:00Z"),
    ),
    responses(
        (status = 200, description = "The vehicle with its state at `timestamp`", body = ClassicVehicleState),
        (status = 400, description = "`id` or `timestamp` is malformed"),
        (status = 401, description = "No valid API key was given"),
        (status = 429, description = "Over the tenant's rate limit"),
        (status = 404, description = "No such vehicle, or it had no state yet"),
        (status = 503, description = "The database is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn classic_state_at(
    State(app): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let (id, timestamp) = params::path(path, "timestamp")?;
    let id = VehicleId::parse(&id)?;
    let at = parse_instant("timestamp", &timestamp)?;
    let (known, from_cache) = app.vehicles.state_at(id, at).await?;
    let answer = ClassicVehicleState {
        from_cache,
        data: ClassicData {
            vehicle: ClassicVehicle {
                id: known.id,
                make: known.make.as_str().into(),
                model: known.model.as_str().into(),
                state: known.state.as_str().into(),
            },
        },
    };
    Ok(Json(answer).into_response())
}
