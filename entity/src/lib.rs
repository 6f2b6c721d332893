//! SeaORM entities of datahog: one module per table, no logic.

pub mod maintenance_run;
pub mod state_log;
pub mod vehicle;
