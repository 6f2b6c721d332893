//! Integration tests: the real API on a random port, spoken to over HTTP, against
//! Postgres + Redis (production mode) and SQLite (embedded mode).

mod helpers;

mod auth;
mod cache;
mod console;
mod counter_batches;
mod counters;
mod errors;
mod leases;
mod lifecycle;
mod limits;
mod openapi_doc;
mod ops;
mod receivers;
mod retention;
mod secrets;
mod shutdown;
mod streams;
mod sweeper;
mod tenants;
mod timestamps;
mod vehicles;
mod webhooks;
