//! The engine's jobs and workers against real stores, run in this process: Postgres +
//! Redis (production mode) and SQLite (embedded mode), each test on its own database and
//! Redis key prefix.

mod helpers;

mod callback_addresses;
mod counter_batches;
mod counter_flush;
mod duplicate_jobs;
mod flow_limits;
mod leases;
mod lifecycle;
mod partitions;
mod provider_outages;
mod receiver_outages;
mod retention;
mod schema;
mod stream_runs;
mod submissions;
mod sweeper;
mod turns;
