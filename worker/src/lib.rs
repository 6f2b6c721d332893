//! datahog's workers: job payloads and handlers, the queue adapters for both modes, and the
//! runtime that the `worker` binary (and the embedded `api`) runs.

pub mod backend;
pub mod config;
pub mod counters;
pub mod db;
pub mod delivery;
pub mod dependencies;
pub mod health;
pub mod jobs;
pub mod lifecycle;
pub mod listen;
pub mod metrics;
pub mod mock_providers;
pub mod poll;
pub mod providers;
pub mod runtime;
pub mod schedule;
pub mod streams;
pub mod telemetry;
pub mod tenants;
#[cfg(feature = "testing")]
pub mod testing;
pub mod webhooks;
