//! SeaORM entities of datahog: one module per table, and the lifecycles of their statuses.

pub mod counter;
pub mod counter_buffer;
pub mod counter_flush;
pub mod counter_rejection;
pub mod delivery_attempt;
pub mod lifecycle;
pub mod maintenance_run;
pub mod state_log;
pub mod stream;
pub mod stream_batch;
pub mod vehicle;
pub mod webhook;
pub mod webhook_provider;
