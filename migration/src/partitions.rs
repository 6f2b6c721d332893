//! The tables partitioned by day on Postgres, and the names and bounds of a day's
//! partitions: shared by the migration that makes them and the maintenance that makes the
//! days ahead and drops the expired ones.

use chrono::{NaiveDate, NaiveTime};

/// A table partitioned by day.
pub struct Partitioned {
    /// The table.
    pub name: &'static str,
    /// Its partition key: the webhook's id.
    pub key: &'static str,
    /// Its primary key's columns (they must include the partition key).
    pub primary_key: &'static str,
    /// Its primary key's columns as a plain table (before partitions).
    pub plain_primary_key: &'static str,
}

/// The partitioned tables, referenced before referencing: `webhooks` first.
pub const PARTITIONED: &[Partitioned] = &[
    Partitioned {
        name: "webhooks",
        key: "id",
        primary_key: "id",
        plain_primary_key: "id",
    },
    Partitioned {
        name: "webhook_providers",
        key: "webhook_id",
        primary_key: "webhook_id, provider",
        plain_primary_key: "webhook_id, provider",
    },
    Partitioned {
        name: "delivery_attempts",
        key: "webhook_id",
        primary_key: "webhook_id, id",
        plain_primary_key: "id",
    },
];

/// How many days ahead of today partitions are made.
pub const AHEAD_DAYS: u64 = 7;

/// The smallest webhook id of day `day` (UTC): ids are ULIDs, ordered by creation time.
pub fn day_floor(day: NaiveDate) -> String {
    let millis = day.and_time(NaiveTime::MIN).and_utc().timestamp_millis();
    ulid::Ulid::from_parts(u64::try_from(millis).unwrap_or(0), 0).to_string()
}

/// The day (UTC) an id was made on, if it is a ULID.
pub fn day_of_id(id: &str) -> Option<NaiveDate> {
    let ulid = ulid::Ulid::from_string(id).ok()?;
    let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(
        i64::try_from(ulid.timestamp_ms()).ok()?,
    )?;
    Some(at.date_naive())
}

/// The name of `table`'s partition for `day`.
pub fn partition_name(table: &str, day: NaiveDate) -> String {
    format!("{table}_p{}", day.format("%Y%m%d"))
}

/// The day a partition of `table` named `name` holds, if it is a day's partition.
pub fn day_of_partition(table: &str, name: &str) -> Option<NaiveDate> {
    let digits = name.strip_prefix(table)?.strip_prefix("_p")?;
    NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
}

/// The statements that make `day`'s partition of every partitioned table, unless made.
pub fn create_day(day: NaiveDate) -> Vec<String> {
    let (from, to) = (day_floor(day), day_floor(day + chrono::Days::new(1)));
    PARTITIONED
        .iter()
        .map(|table| {
            format!(
                "CREATE TABLE IF NOT EXISTS {partition} PARTITION OF {name} \
                 FOR VALUES FROM ('{from}') TO ('{to}')",
                partition = partition_name(table.name, day),
                name = table.name,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_the_range_of_ids_made_on_it() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        let next = day + chrono::Days::new(1);
        let noon = ulid::Ulid::from_parts(
            u64::try_from(
                day.and_hms_opt(12, 0, 0)
                    .unwrap()
                    .and_utc()
                    .timestamp_millis(),
            )
            .unwrap(),
            u128::MAX >> 48,
        )
        .to_string();
        assert!(day_floor(day) <= noon && noon < day_floor(next));
        assert_eq!(day_of_id(&noon), Some(day));
        assert_eq!(day_of_id(&day_floor(next)), Some(next));
        assert_eq!(day_of_id("not-a-ulid"), None);
        let name = partition_name("webhook_providers", day);
        assert_eq!(name, "webhook_providers_p20261206");
        assert_eq!(day_of_partition("webhook_providers", &name), Some(day));
        assert_eq!(day_of_partition("webhooks", &name), None);
        assert_eq!(day_of_partition("webhooks", "webhooks_default"), None);
    }
}
