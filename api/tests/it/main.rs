//! Integration tests: the real API on a random port, spoken to over HTTP, against
//! Postgres + Redis (production mode) and SQLite (embedded mode).

mod helpers;

mod auth;
mod cache;
mod counters;
mod errors;
mod leases;
mod lifecycle;
mod openapi_doc;
mod ops;
mod receivers;
mod shutdown;
mod streams;
mod sweeper;
mod vehicles;
mod webhooks;
