//! Why a job failed, and the in-process retry of the failures that may pass.

use std::future::Future;
use std::time::Duration;

use sea_orm::DbErr;

use crate::backoff::Backoff;
use crate::counters::flush::FlushError;
use crate::queue::QueueError;

/// In-process retries of a job after a transient store error, before it gives up and
/// leaves its webhook or stream to orphan recovery and the sweeper.
const TRANSIENT_RETRIES: u32 = 3;

/// Runs `attempt` again after a transient store error (a dropped connection, a timeout),
/// up to `TRANSIENT_RETRIES` times with a growing wait; handlers are idempotent, so a
/// second run reads the truth and carries on.
pub async fn retry_transient<F, Fut>(what: &str, mut attempt: F) -> Result<(), JobError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), JobError>>,
{
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(2));
    let mut retries = 0;
    loop {
        match attempt().await {
            Err(error) if error.is_transient() && retries < TRANSIENT_RETRIES => {
                retries += 1;
                let wait = backoff.next_wait();
                tracing::warn!(job = what, %error, retries, ?wait, "transient store error; retrying in-process");
                tokio::time::sleep(wait).await;
            }
            done => return done,
        }
    }
}

/// Why a job failed; apalis records it as the task's result.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The database refused or did not answer.
    #[error("database: {0}")]
    Database(#[from] DbErr),
    /// The queue refused or did not answer.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// A counter flush failed; its batch waits for the next one.
    #[error(transparent)]
    Flush(#[from] FlushError),
    /// Provider health could not be read or written.
    #[error(transparent)]
    Health(#[from] crate::providers::health::HealthError),
    /// A provider's or receiver's limits could not be applied.
    #[error(transparent)]
    Limit(#[from] crate::flow::limiter::LimitError),
    /// A callback body could not be built.
    #[error("callback body: {0}")]
    Payload(String),
}

impl From<crate::delivery::secrets::SecretsError> for JobError {
    fn from(error: crate::delivery::secrets::SecretsError) -> Self {
        use crate::delivery::secrets::SecretsError;
        match error {
            SecretsError::Database(error) => JobError::Database(error),
            none @ SecretsError::None(_) => JobError::Payload(none.to_string()),
        }
    }
}

impl From<crate::flow::wake::WakeError> for JobError {
    fn from(error: crate::flow::wake::WakeError) -> Self {
        use crate::flow::wake::WakeError;
        match error {
            WakeError::Database(error) => JobError::Database(error),
            WakeError::Queue(error) => JobError::Queue(error),
            WakeError::Limit(error) => JobError::Limit(error),
        }
    }
}

impl JobError {
    /// Whether trying again soon may succeed: a store that did not answer, not a bug or
    /// bad data.
    pub fn is_transient(&self) -> bool {
        match self {
            JobError::Database(error) => matches!(
                error,
                DbErr::Conn(_) | DbErr::ConnectionAcquire(_) | DbErr::Exec(_) | DbErr::Query(_)
            ),
            JobError::Queue(_) | JobError::Health(_) | JobError::Limit(_) => true,
            JobError::Flush(_) | JobError::Payload(_) => false,
        }
    }
}

/// An error with its causes, which reqwest keeps out of its own message.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
