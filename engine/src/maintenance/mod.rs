//! Maintenance: the periodic jobs that keep the stores healthy. The sweep queues again
//! what lost its job, the prune removes rows past their retention (whole days of webhooks on Postgres,
//! `partitions`), the vacuum removes
//! finished tasks apalis never expires.

pub mod partitions;
pub mod prune;
pub mod sweep;
pub mod vacuum;
