//! The original challenge's sample data: 3 vehicles and their 6 state logs.

use chrono::{DateTime, Utc};
use sea_orm_migration::prelude::*;

use crate::m20260101_000001_create_vehicles::Vehicles;
use crate::m20260101_000002_create_state_logs::StateLogs;

#[derive(DeriveMigrationName)]
pub struct Migration;

const VEHICLES: [(i32, &str, &str, &str); 3] = [
    (1, "BMW", "X1", "quoted"),
    (2, "AUDI", "A4", "selling"),
    (3, "VW", "GOLF", "sold"),
];

const STATE_LOGS: [(i32, &str, &str); 6] = [
    (1, "quoted", "2022-09-10T10:23:54Z"),
    (2, "quoted", "2022-09-10T14:59:01Z"),
    (2, "selling", "2022-09-11T17:03:17Z"),
    (3, "quoted", "2022-09-11T09:11:45Z"),
    (3, "selling", "2022-09-11T23:21:38Z"),
    (3, "sold", "2022-09-12T12:41:41Z"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut vehicles = Query::insert();
        vehicles.into_table(Vehicles::Table).columns([
            Vehicles::Id,
            Vehicles::Make,
            Vehicles::Model,
            Vehicles::State,
        ]);
        for (id, make, model, state) in VEHICLES {
            vehicles.values_panic([id.into(), make.into(), model.into(), state.into()]);
        }
        manager.exec_stmt(vehicles).await?;

        let mut logs = Query::insert();
        logs.into_table(StateLogs::Table).columns([
            StateLogs::VehicleId,
            StateLogs::State,
            StateLogs::Timestamp,
        ]);
        for (vehicle_id, state, at) in STATE_LOGS {
            // Bound as chrono values, so SQLite stores them exactly as the entities write them.
            let at: DateTime<Utc> = at
                .parse()
                .map_err(|e| DbErr::Migration(format!("seed timestamp {at}: {e}")))?;
            logs.values_panic([vehicle_id.into(), state.into(), at.into()]);
        }
        manager.exec_stmt(logs).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let ids = VEHICLES.map(|(id, ..)| id);
        manager
            .exec_stmt(
                Query::delete()
                    .from_table(StateLogs::Table)
                    .and_where(Expr::col(StateLogs::VehicleId).is_in(ids))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::delete()
                    .from_table(Vehicles::Table)
                    .and_where(Expr::col(Vehicles::Id).is_in(ids))
                    .to_owned(),
            )
            .await
    }
}
