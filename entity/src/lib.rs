//! SeaORM entities of datahog: one module per table, the lifecycles of their statuses, and
//! (`wire`) how each stored value is written on the wire.

pub mod api_key;
pub mod counter;
pub mod counter_buffer;
pub mod counter_flush;
pub mod counter_rejection;
pub mod delivery_attempt;
pub mod idempotency_record;
pub mod lifecycle;
pub mod maintenance_run;
pub mod provider_setting;
pub mod receiver_setting;
pub mod signing_secret;
pub mod state_log;
pub mod stream;
pub mod stream_batch;
pub mod tenant;
pub mod vehicle;
pub mod webhook;
pub mod webhook_provider;
pub mod wire;
