//! The wire contract of datahog: every body the API reads or writes, with its schema.
//!
//! The generated document is committed beside this crate as `openapi.json`.

pub mod counters;
pub mod error;
pub mod json;
pub mod ops;
pub mod page;
pub mod stats;
pub mod streams;
pub mod tenants;
pub mod vehicles;
pub mod webhooks;
