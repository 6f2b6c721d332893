//! datahog's HTTP API: the router, its handlers and the server around them.
//!
//! A request goes `server` → `routes::router` → `http::auth` (who calls: `tenants`) →
//! `routes::<resource>` → domain module (`vehicles`, the worker crate's) → database or
//! cache; every error leaves through `error::ApiError`.

pub mod config;
pub mod error;
pub mod http;
pub mod input;
pub mod memory;
pub mod metrics;
pub mod routes;
pub mod server;
pub mod starting;
pub mod state;
pub mod stats;
pub mod tenants;
pub mod vehicles;
