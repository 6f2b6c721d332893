//! Postgres's day partitions: the migration makes them and moves existing rows (and moves
//! them back down), the prune makes the days ahead and drops a day whose every webhook is
//! expired, and keeps a day holding one to keep, whose expired rows go one by one.

use std::time::Duration;

use chrono::{NaiveDate, TimeDelta, Utc};
use engine::maintenance::partitions;
use engine::maintenance::prune::prune;
use engine::testing::{provider, receiver};
use entity::webhook::{self, WebhookStatus};
use migration::MigratorTrait;
use migration::partitions::{AHEAD_DAYS, create_day, partition_name};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, PaginatorTrait, Statement,
};

use crate::helpers::{self, Mode, TestEngine};

/// The text `sql` answers for `value`, if it finds a row.
async fn text(db: &DatabaseConnection, sql: &str, value: &str) -> Option<String> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [value.into()],
        ))
        .await
        .unwrap()?;
    Some(row.try_get_by_index(0).unwrap())
}

/// Whether table `name` exists, and whether it is partitioned.
async fn table(db: &DatabaseConnection, name: &str) -> Option<bool> {
    let kind = text(
        db,
        "SELECT relkind::text FROM pg_class WHERE relname = $1",
        name,
    )
    .await?;
    Some(kind == "p")
}

/// The partition holding webhook `id`.
async fn partition_of(db: &DatabaseConnection, id: &str) -> String {
    let sql = "SELECT tableoid::regclass::text FROM webhooks WHERE id = $1";
    text(db, sql, id).await.expect("the webhook")
}

/// A copy of webhook `id` (with its provider results and attempts) made on `day` and last
/// changed `age` ago; the copy's id.
async fn copy_to_day(db: &DatabaseConnection, id: &str, day: NaiveDate, age: TimeDelta) -> String {
    let noon = day.and_hms_opt(12, 0, 0).unwrap().and_utc();
    let copy = ulid::Ulid::from_parts(noon.timestamp_millis() as u64, fastrand::u128(..) >> 48)
        .to_string();
    let updated = Utc::now() - age;
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO webhooks SELECT (jsonb_populate_record(w, jsonb_build_object( \
           'id', $1::text, 'created_at', $2::timestamptz, 'updated_at', $3::timestamptz))).* \
         FROM webhooks w WHERE id = $4",
        [copy.clone().into(), noon.into(), updated.into(), id.into()],
    ))
    .await
    .unwrap();
    for child in ["webhook_providers", "delivery_attempts"] {
        let fresh_id = if child == "delivery_attempts" {
            ", 'id', nextval('delivery_attempts_id_seq')"
        } else {
            ""
        };
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "INSERT INTO {child} SELECT (jsonb_populate_record(c, jsonb_build_object( \
                   'webhook_id', $1::text{fresh_id}))).* FROM {child} c WHERE webhook_id = $2"
            ),
            [copy.clone().into(), id.into()],
        ))
        .await
        .unwrap();
    }
    copy
}

/// Webhook `id`, its provider results and its attempts: how many of each.
async fn rows_of(db: &DatabaseConnection, id: &str) -> (u64, u64, u64) {
    let webhooks = webhook::Entity::find_by_id(id).count(db).await.unwrap();
    let (providers, attempts) = helpers::rows_of(db, id).await;
    (webhooks, providers, attempts)
}

async fn started() -> (TestEngine, wiremock::MockServer) {
    let sources = provider(&["/gas"], "[1]", Duration::ZERO).await;
    let engine = TestEngine::start_with(Mode::Production, |w| {
        w.providers.providers = vec![format!("gas={}/gas", sources.uri())];
    })
    .await;
    (engine, sources)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_day_is_dropped_whole_and_a_day_with_one_to_keep_stays() {
    let (engine, _sources) = started().await;
    let _workers = engine.run_workers();
    let db = engine.db();
    let today = Utc::now().date_naive();
    for table in ["webhooks", "webhook_providers", "delivery_attempts"] {
        assert_eq!(
            self::table(db, table).await,
            Some(true),
            "{table} partitioned"
        );
        let last = today + chrono::Days::new(AHEAD_DAYS);
        assert!(
            self::table(db, &partition_name(table, last))
                .await
                .is_some()
        );
    }
    let delivered = engine.submit(&["gas"], &receiver(200).await.uri()).await;
    engine
        .webhook_in(
            &delivered,
            WebhookStatus::Delivered,
            Duration::from_secs(20),
        )
        .await;
    let parked = engine.submit(&["gas"], &receiver(410).await.uri()).await;
    engine
        .webhook_in(&parked, WebhookStatus::Parked, Duration::from_secs(20))
        .await;
    assert_eq!(
        partition_of(db, &delivered).await,
        partition_name("webhooks", today)
    );

    // Day A: two webhooks delivered 35 days ago, both past RETENTION. Day B: one of those
    // and one parked 10 days ago, inside PARKED_RETENTION.
    let (day_a, day_b) = (today - TimeDelta::days(40), today - TimeDelta::days(45));
    for day in [day_a, day_b] {
        for statement in create_day(day) {
            db.execute_unprepared(&statement).await.unwrap();
        }
    }
    let parked_rows = rows_of(db, &parked).await;
    let a1 = copy_to_day(db, &delivered, day_a, TimeDelta::days(35)).await;
    let a2 = copy_to_day(db, &delivered, day_a, TimeDelta::days(35)).await;
    let b1 = copy_to_day(db, &delivered, day_b, TimeDelta::days(35)).await;
    let b2 = copy_to_day(db, &parked, day_b, TimeDelta::days(10)).await;
    assert_eq!(
        partition_of(db, &a1).await,
        partition_name("webhooks", day_a)
    );
    assert_eq!(rows_of(db, &a1).await, (1, 1, 1));

    let removed = prune(db, &engine.worker, Utc::now()).await.unwrap();
    // Day A dropped (two webhooks with a provider row and an attempt each); B's expired
    // webhook deleted with its rows.
    assert_eq!(removed, 2 * 3 + 3);
    for table in ["webhooks", "webhook_providers", "delivery_attempts"] {
        assert_eq!(self::table(db, &partition_name(table, day_a)).await, None);
        assert!(
            self::table(db, &partition_name(table, day_b))
                .await
                .is_some()
        );
    }
    assert_eq!(partitions::days(db).await.unwrap().first(), Some(&day_b));
    for (id, kept) in [(&a1, false), (&a2, false), (&b1, false), (&b2, true)] {
        let rows = rows_of(db, id).await;
        assert_eq!(rows, if kept { parked_rows } else { (0, 0, 0) }, "{id}");
    }
    // Today's are untouched, and found by id as before.
    assert_eq!(rows_of(db, &delivered).await, (1, 1, 1));

    // Once its parked webhook is past PARKED_RETENTION too, day B goes whole.
    let later = Utc::now() + TimeDelta::days(81);
    prune(db, &engine.worker, later).await.unwrap();
    assert_eq!(
        self::table(db, &partition_name("webhooks", day_b)).await,
        None
    );
    assert_eq!(rows_of(db, &b2).await, (0, 0, 0));
    // The prune also made the days ahead of the time it ran at.
    let ahead = later.date_naive() + chrono::Days::new(AHEAD_DAYS);
    assert!(
        self::table(db, &partition_name("webhooks", ahead))
            .await
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_migration_moves_existing_rows_into_day_partitions_and_back() {
    let (engine, _sources) = started().await;
    let _workers = engine.run_workers();
    let db = engine.db();
    let id = engine.submit(&["gas"], &receiver(200).await.uri()).await;
    engine
        .webhook_in(&id, WebhookStatus::Delivered, Duration::from_secs(20))
        .await;
    drop(_workers);

    // Down one step: plain tables, the rows still there.
    migration::Migrator::down(db, Some(1)).await.unwrap();
    assert_eq!(table(db, "webhooks").await, Some(false));
    assert_eq!(rows_of(db, &id).await, (1, 1, 1));
    assert_eq!(partition_of(db, &id).await, "webhooks");

    // Up again: the rows move into their day's partition, and new rows follow.
    migration::Migrator::up(db, None).await.unwrap();
    assert_eq!(table(db, "webhooks").await, Some(true));
    assert_eq!(rows_of(db, &id).await, (1, 1, 1));
    let today = Utc::now().date_naive();
    assert_eq!(
        partition_of(db, &id).await,
        partition_name("webhooks", today)
    );
    let _workers = engine.run_workers();
    let next = engine.submit(&["gas"], &receiver(200).await.uri()).await;
    engine
        .webhook_in(&next, WebhookStatus::Delivered, Duration::from_secs(20))
        .await;
    assert_eq!(rows_of(db, &next).await, (1, 1, 1));
}
