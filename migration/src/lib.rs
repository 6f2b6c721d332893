//! The datahog schema, applied by `api` and `worker` at start (unless told not to).

use sea_orm_migration::prelude::*;

mod m20260101_000001_create_vehicles;
mod m20260101_000002_create_state_logs;
mod m20260101_000003_seed_vehicles;
mod m20260101_000004_create_maintenance_runs;
mod m20260101_000005_create_counters;
mod m20260101_000006_create_webhooks;
mod m20260101_000007_create_streams;
mod m20260101_000008_create_tenants;
mod m20260101_000009_add_retention_indexes;
mod m20260101_000010_delivery_records;
mod m20260101_000011_console_indexes;
mod m20260101_000012_lean_webhook_indexes;
mod m20260101_000013_delivery_snoozes;
mod m20260101_000014_flow_control;
mod m20260101_000015_trace_context;
mod m20260101_000016_partition_webhooks;
pub mod partitions;

/// Every migration of the schema, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20260101_000001_create_vehicles::Migration),
            Box::new(m20260101_000002_create_state_logs::Migration),
            Box::new(m20260101_000003_seed_vehicles::Migration),
            Box::new(m20260101_000004_create_maintenance_runs::Migration),
            Box::new(m20260101_000005_create_counters::Migration),
            Box::new(m20260101_000006_create_webhooks::Migration),
            Box::new(m20260101_000007_create_streams::Migration),
            Box::new(m20260101_000008_create_tenants::Migration),
            Box::new(m20260101_000009_add_retention_indexes::Migration),
            Box::new(m20260101_000010_delivery_records::Migration),
            Box::new(m20260101_000011_console_indexes::Migration),
            Box::new(m20260101_000012_lean_webhook_indexes::Migration),
            Box::new(m20260101_000013_delivery_snoozes::Migration),
            Box::new(m20260101_000014_flow_control::Migration),
            Box::new(m20260101_000015_trace_context::Migration),
            Box::new(m20260101_000016_partition_webhooks::Migration),
        ]
    }
}

pub use sea_orm_migration::MigratorTrait;
