//! Integration tests: the real API on a random port, spoken to over HTTP, against
//! Postgres + Redis (production mode) and SQLite (embedded mode). The workers' own
//! behaviour is tested in the engine's `jobs` tests.

mod helpers;

mod auth;
mod cache;
mod console;
mod control_chars;
mod counters;
mod durability;
mod errors;
mod headers;
mod lifecycle;
mod limits;
mod openapi_doc;
mod ops;
mod redis_restart;
mod replica;
mod secrets;
mod shutdown;
mod starting;
mod streams;
mod tenants;
mod timestamps;
mod vehicles;
mod webhooks;
