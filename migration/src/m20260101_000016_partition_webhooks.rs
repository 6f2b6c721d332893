use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::partitions::{self, PARTITIONED};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The foreign keys to `webhooks`, made again after the tables are, either way.
const FOREIGN_KEYS: &str = "
ALTER TABLE webhook_providers ADD CONSTRAINT fk_webhook_providers_webhook
  FOREIGN KEY (webhook_id) REFERENCES webhooks (id) ON DELETE CASCADE;
ALTER TABLE delivery_attempts ADD CONSTRAINT fk_delivery_attempts_webhook
  FOREIGN KEY (webhook_id) REFERENCES webhooks (id) ON DELETE CASCADE;";

/// Postgres: `webhooks`, `webhook_providers` and `delivery_attempts` become tables
/// partitioned by day, so retention drops a day's partitions instead of deleting its rows.
/// The key is the webhook's id, a ULID whose leading characters are its creation time: a
/// day is the range of ids from the day's first millisecond to the next day's, so every
/// statement by id is pruned to one partition and the primary keys and foreign keys stay
/// as they are (a key on `created_at` would have to join every primary key, and every
/// statement by id would probe every partition). Each table keeps a default partition for
/// ids outside any day (none in practice). Existing rows are moved: a partition is made for
/// each day they cover, and for the days ahead. SQLite keeps plain tables.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        for table in PARTITIONED {
            db.execute_unprepared(&copy_aside(
                table.name,
                "unpartitioned",
                table.primary_key,
                Some(table.key),
            ))
            .await?;
        }
        // An attempt's id was an identity column, which a partitioned table cannot have
        // before Postgres 17: a sequence of its own instead.
        db.execute_unprepared(
            "CREATE SEQUENCE delivery_attempts_id_sequence;
             ALTER TABLE delivery_attempts ALTER COLUMN id
               SET DEFAULT nextval('delivery_attempts_id_sequence');",
        )
        .await?;
        // The days the existing webhooks cover, and those ahead.
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT min(id), max(id) FROM webhooks_unpartitioned",
            ))
            .await?;
        let (first, last): (Option<String>, Option<String>) = match row {
            Some(row) => (row.try_get_by_index(0)?, row.try_get_by_index(1)?),
            None => (None, None),
        };
        let today = chrono::Utc::now().date_naive();
        let from = Ord::min(
            first
                .as_deref()
                .and_then(partitions::day_of_id)
                .unwrap_or(today),
            today,
        );
        let to = Ord::max(
            last.as_deref()
                .and_then(partitions::day_of_id)
                .unwrap_or(today),
            today,
        ) + chrono::Days::new(partitions::AHEAD_DAYS);
        let mut day = from;
        while day <= to {
            for statement in partitions::create_day(day) {
                db.execute_unprepared(&statement).await?;
            }
            day = day + chrono::Days::new(1);
        }
        for table in PARTITIONED {
            db.execute_unprepared(&format!(
                "INSERT INTO {name} SELECT * FROM {name}_unpartitioned",
                name = table.name
            ))
            .await?;
        }
        db.execute_unprepared(
            "SELECT setval('delivery_attempts_id_sequence',
               coalesce((SELECT max(id) FROM delivery_attempts), 0) + 1, false);
             ALTER SEQUENCE delivery_attempts_id_sequence OWNED BY delivery_attempts.id;
             DROP TABLE delivery_attempts_unpartitioned, webhook_providers_unpartitioned,
               webhooks_unpartitioned;
             ALTER SEQUENCE delivery_attempts_id_sequence RENAME TO delivery_attempts_id_seq;",
        )
        .await?;
        db.execute_unprepared(FOREIGN_KEYS).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        // Back to plain tables, rows and all, under the same names.
        for table in PARTITIONED {
            db.execute_unprepared(&copy_aside(
                table.name,
                "plain",
                table.plain_primary_key,
                None,
            ))
            .await?;
            db.execute_unprepared(&format!(
                "INSERT INTO {name} SELECT * FROM {name}_plain",
                name = table.name
            ))
            .await?;
        }
        db.execute_unprepared(
            "ALTER SEQUENCE delivery_attempts_id_seq OWNED BY NONE;
             DROP TABLE delivery_attempts_plain, webhook_providers_plain, webhooks_plain;
             ALTER SEQUENCE delivery_attempts_id_seq OWNED BY delivery_attempts.id;",
        )
        .await?;
        db.execute_unprepared(FOREIGN_KEYS).await?;
        Ok(())
    }
}

/// Renames table `name` (and its indexes and primary key) aside as `<name>_<aside>`, and
/// creates `name` again with the same columns and indexes, primary key `primary_key`, and
/// partitioned by range of `partition_key` (with a default partition) when there is one;
/// the rows move later.
fn copy_aside(name: &str, aside: &str, primary_key: &str, partition_key: Option<&str>) -> String {
    let (shape, default) = match partition_key {
        Some(key) => (
            format!("PARTITION BY RANGE ({key})"),
            format!("CREATE TABLE {name}_default PARTITION OF {name} DEFAULT;"),
        ),
        None => (String::new(), String::new()),
    };
    format!(
        r#"
DO $$
DECLARE
  index record;
  definitions text[] := '{{}}';
  definition text;
BEGIN
  FOR index IN
    SELECT i.indexname, i.indexdef FROM pg_indexes i
    WHERE i.schemaname = current_schema() AND i.tablename = '{name}'
      AND i.indexname <> '{name}_pkey'
  LOOP
    definitions := definitions || index.indexdef;
    EXECUTE format('ALTER INDEX %I RENAME TO %I', index.indexname,
                   left(index.indexname, 50) || '_{aside}');
  END LOOP;
  ALTER TABLE {name} RENAME TO {name}_{aside};
  ALTER TABLE {name}_{aside} RENAME CONSTRAINT {name}_pkey TO {name}_{aside}_pkey;
  CREATE TABLE {name} (LIKE {name}_{aside} INCLUDING DEFAULTS INCLUDING CONSTRAINTS
    INCLUDING STORAGE) {shape};
  ALTER TABLE {name} ADD CONSTRAINT {name}_pkey PRIMARY KEY ({primary_key});
  -- Read before the renames, the definitions name the new table and the old index names
  -- (a partitioned table's say ON ONLY, which a plain table does not need).
  FOREACH definition IN ARRAY definitions LOOP
    EXECUTE replace(definition, ' ON ONLY ', ' ON ');
  END LOOP;
  {default}
END $$;
"#
    )
}
