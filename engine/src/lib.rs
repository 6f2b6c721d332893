//! datahog's engine: everything both processes run. The `api` links it to submit and
//! redeliver webhooks, start streams and buffer counters; the `worker` binary (and the
//! embedded `api`) runs its job runtime.
//!
//! Top-down: `runtime` supervises one worker per job kind of `queue::kinds`; the kinds'
//! handlers live with their resource (`webhooks::{collect,deliver}`, `streams::tick`,
//! `counters::job`, `maintenance::{sweep,prune,vacuum}`), the periodic ones on the
//! framework of `periodic`. `context` is what every handler gets; `db`, `queue`,
//! `counters`, `health`, `providers` and `delivery` are the stores and clients in it.

pub mod backoff;
pub mod config;
pub mod context;
pub mod counters;
pub mod db;
pub mod delivery;
pub mod dependencies;
pub mod error;
pub mod flow;
pub mod health;
pub mod lifecycle;
pub mod listen;
pub mod maintenance;
pub mod metrics;
pub mod periodic;
pub mod platform;
pub mod providers;
pub mod queue;
pub mod runtime;
pub mod streams;
pub mod telemetry;
pub mod tenants;
#[cfg(feature = "testing")]
pub mod testing;
pub mod traces;
pub mod webhooks;
