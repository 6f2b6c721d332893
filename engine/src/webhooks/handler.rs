//! How a webhook job (collect, deliver) runs under apalis: the same for every kind.

use apalis::prelude::{AbortError, Data, TaskId};
use futures::future::BoxFuture;

use crate::context::JobContext;
use crate::error::{JobError, retry_transient};

/// A webhook job's work on webhook `id` under queue task `task`.
pub type Step = for<'a> fn(&'a JobContext, &'a str, &'a str) -> BoxFuture<'a, Result<(), JobError>>;

/// Runs `step` for webhook `id` as task `task`: on a thread of its own, transient store
/// errors retried in process. Any other failure ends the task, logged as `failed`; the
/// webhook's lease then runs out and the sweeper queues it again, from what the database
/// holds.
pub async fn handle(
    what: &'static str,
    step: Step,
    ctx: Data<JobContext>,
    id: String,
    task: TaskId,
    failed: &'static str,
) -> Result<(), AbortError> {
    let task = task.to_string();
    let ctx = JobContext::clone(&ctx);
    let webhook = id.clone();
    crate::runtime::on_any_thread(async move {
        retry_transient(what, || step(&ctx, &webhook, &task)).await
    })
    .await
    .map_err(|error| {
        tracing::error!(webhook = %id, %error, "{failed}");
        AbortError::new(error)
    })
}
