//! What each of the engine's errors means to a client, written once for every route that
//! meets it. A failing store is logged here, where the client is told only that it failed.

use chrono::Utc;
use engine::counters::BufferError;
use engine::streams::StreamError;
use engine::tenants::RotateError;
use engine::webhooks::{RedeliverError, SubmitError};

use super::ApiError;

impl From<SubmitError> for ApiError {
    fn from(error: SubmitError) -> Self {
        tracing::error!(%error, "webhook submission failed");
        let store = match error {
            SubmitError::Database(_) => "database",
            SubmitError::Queue(_) | SubmitError::Turns(_) => "queue",
        };
        ApiError::Unavailable(format!(
            "the {store} is unavailable; nothing was kept, retry later"
        ))
    }
}

impl From<RedeliverError> for ApiError {
    fn from(error: RedeliverError) -> Self {
        match error {
            RedeliverError::NotFound(_) => ApiError::NotFound(error.to_string()),
            RedeliverError::InProgress(..) => ApiError::Conflict(error.to_string()),
            RedeliverError::Database(e) => ApiError::Database(e),
            RedeliverError::Queue(e) => {
                tracing::error!(error = %e, "redelivery not queued; the sweeper will queue it");
                ApiError::Unavailable(
                    "the queue is unavailable; the redelivery will be queued once it is back"
                        .into(),
                )
            }
        }
    }
}

impl From<StreamError> for ApiError {
    fn from(error: StreamError) -> Self {
        match error {
            StreamError::NotFound(_) => ApiError::NotFound(error.to_string()),
            StreamError::Database(e) => ApiError::Database(e),
            StreamError::Queue(e) => {
                tracing::error!(error = %e, "stream run not queued");
                ApiError::Unavailable(
                    "the queue is unavailable; nothing was kept, retry later".into(),
                )
            }
        }
    }
}

/// An increment's failure: the buffer is Redis, or the database when embedded, so either
/// store failing is the buffer being unavailable.
impl From<BufferError> for ApiError {
    fn from(error: BufferError) -> Self {
        match error {
            BufferError::Overflow => {
                ApiError::Conflict(format!("{error}; the increment was not applied"))
            }
            BufferError::Redis(_) | BufferError::Database(_) => {
                tracing::error!(%error, "counter buffer failed");
                ApiError::BufferUnavailable
            }
        }
    }
}

impl From<RotateError> for ApiError {
    fn from(error: RotateError) -> Self {
        match error {
            RotateError::Limit { retry_at } => ApiError::RotationLimit {
                retry_after: (retry_at - Utc::now()).num_seconds().max(1) as u64,
            },
            RotateError::Database(e) => ApiError::Database(e),
            RotateError::Random(reason) => ApiError::Unavailable(reason),
        }
    }
}
