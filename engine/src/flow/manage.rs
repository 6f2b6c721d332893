//! Changing the settings: a tenant's limits and pause on one of its receiver hosts, the
//! operator's on a provider; and how many webhooks wait on each, by reason. Every change
//! is one upsert of only the columns it changes, so a pause and a change of limits made
//! at once both hold.

use chrono::Utc;
use entity::webhook::{self, Waiting};
use entity::{provider_setting, receiver_setting};
use sea_orm::sea_query::{Expr, Func, IntoIden, OnConflict};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, FromQueryResult, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
};

use super::Limits;

/// One change of a provider's or receiver's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    /// These limits from now on (replacing the previous ones).
    Limits(Limits),
    /// Hold everything to it (kept since the first pause).
    Pause,
    /// Let it go again.
    Resume,
}

/// How many webhooks wait on one provider or receiver (of one tenant), by reason.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct WaitingCount {
    /// Why they wait.
    pub waiting_for: Waiting,
    /// On what: a provider's name or a receiver's host.
    pub waiting_on: String,
    /// Whose webhooks they are.
    pub tenant_id: String,
    /// How many.
    pub count: i64,
}

/// Every tenant's (or `tenant`'s) waiting webhooks, counted by reason, key and tenant.
pub async fn waiting(
    db: &DatabaseConnection,
    tenant: Option<&str>,
) -> Result<Vec<WaitingCount>, DbErr> {
    let mut query = webhook::Entity::find()
        .select_only()
        .column(webhook::Column::WaitingFor)
        .column(webhook::Column::WaitingOn)
        .column(webhook::Column::TenantId)
        .column_as(
            Expr::expr(Func::count(Expr::col(webhook::Column::Id))),
            "count",
        )
        .filter(webhook::Column::WaitingFor.is_not_null())
        .group_by(webhook::Column::WaitingFor)
        .group_by(webhook::Column::WaitingOn)
        .group_by(webhook::Column::TenantId);
    if let Some(tenant) = tenant {
        query = query.filter(webhook::Column::TenantId.eq(tenant));
    }
    query.into_model::<WaitingCount>().all(db).await
}

/// What `tenant` set on its receiver hosts (every tenant's with `None`), by host.
pub async fn receivers(
    db: &DatabaseConnection,
    tenant: Option<&str>,
) -> Result<Vec<receiver_setting::Model>, DbErr> {
    let mut query = receiver_setting::Entity::find()
        .order_by_asc(receiver_setting::Column::Host)
        .order_by_asc(receiver_setting::Column::TenantId);
    if let Some(tenant) = tenant {
        query = query.filter(receiver_setting::Column::TenantId.eq(tenant));
    }
    query.all(db).await
}

/// What `tenant` set on `host`, or nothing set.
pub async fn receiver(
    db: &DatabaseConnection,
    tenant: &str,
    host: &str,
) -> Result<receiver_setting::Model, DbErr> {
    let found = receiver_setting::Entity::find_by_id((tenant.to_owned(), host.to_owned()))
        .one(db)
        .await?;
    Ok(found.unwrap_or_else(|| unset_receiver(tenant, host)))
}

/// Nothing set by `tenant` on `host`.
pub fn unset_receiver(tenant: &str, host: &str) -> receiver_setting::Model {
    receiver_setting::Model {
        tenant_id: tenant.to_owned(),
        host: host.to_owned(),
        max_concurrent: None,
        max_per_second: None,
        paused_at: None,
        updated_at: Utc::now(),
    }
}

/// Whether provider `name` is paused, read from the database now rather than from a
/// process's settings, which may be up to a second old.
pub async fn provider_paused(db: &DatabaseConnection, name: &str) -> Result<bool, DbErr> {
    let set = provider_setting::Entity::find_by_id(name.to_owned())
        .one(db)
        .await?;
    Ok(set.is_some_and(|s| s.paused_at.is_some()))
}

/// Whether `tenant` has receiver `host` paused, read from the database now.
pub async fn receiver_paused(
    db: &DatabaseConnection,
    tenant: &str,
    host: &str,
) -> Result<bool, DbErr> {
    Ok(receiver(db, tenant, host).await?.paused_at.is_some())
}

/// What the operator set on every provider.
pub async fn providers(db: &DatabaseConnection) -> Result<Vec<provider_setting::Model>, DbErr> {
    provider_setting::Entity::find().all(db).await
}

/// Makes `change` to what `tenant` set on `host`; what is set now.
pub async fn change_receiver(
    db: &DatabaseConnection,
    tenant: &str,
    host: &str,
    change: Change,
) -> Result<receiver_setting::Model, DbErr> {
    let mut row = receiver(db, tenant, host).await?;
    row.updated_at = Utc::now();
    let written = apply(
        change,
        &mut row.max_concurrent,
        &mut row.max_per_second,
        &mut row.paused_at,
    );
    use receiver_setting::Column;
    let conflict = upsert(
        &[Column::TenantId, Column::Host],
        Columns {
            max_concurrent: Column::MaxConcurrent,
            max_per_second: Column::MaxPerSecond,
            paused_at: Column::PausedAt,
            updated_at: Column::UpdatedAt,
        },
        written,
        "receiver_settings",
    );
    receiver_setting::Entity::insert(row.into_active_model())
        .on_conflict(conflict)
        .exec_without_returning(db)
        .await?;
    receiver(db, tenant, host).await
}

/// Makes `change` to what the operator set on provider `name`; what is set now.
pub async fn change_provider(
    db: &DatabaseConnection,
    name: &str,
    change: Change,
) -> Result<provider_setting::Model, DbErr> {
    let found = provider_setting::Entity::find_by_id(name.to_owned())
        .one(db)
        .await?;
    let mut row = found.unwrap_or_else(|| provider_setting::Model {
        provider: name.to_owned(),
        max_concurrent: None,
        max_per_second: None,
        paused_at: None,
        updated_at: Utc::now(),
    });
    row.updated_at = Utc::now();
    let written = apply(
        change,
        &mut row.max_concurrent,
        &mut row.max_per_second,
        &mut row.paused_at,
    );
    use provider_setting::Column;
    let conflict = upsert(
        &[Column::Provider],
        Columns {
            max_concurrent: Column::MaxConcurrent,
            max_per_second: Column::MaxPerSecond,
            paused_at: Column::PausedAt,
            updated_at: Column::UpdatedAt,
        },
        written,
        "provider_settings",
    );
    provider_setting::Entity::insert(row.into_active_model())
        .on_conflict(conflict)
        .exec_without_returning(db)
        .await?;
    provider_setting::Entity::find_by_id(name.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("provider settings of `{name}`")))
}

/// Which columns a change writes, by name.
enum Written {
    Limits,
    Pause,
    Resume,
}

/// Applies `change` to a row's fields; which columns it writes.
fn apply(
    change: Change,
    max_concurrent: &mut Option<i32>,
    max_per_second: &mut Option<f64>,
    paused_at: &mut Option<chrono::DateTime<Utc>>,
) -> Written {
    match change {
        Change::Limits(limits) => {
            *max_concurrent = limits.max_concurrent.map(|n| n.min(i32::MAX as u32) as i32);
            *max_per_second = limits.max_per_second;
            Written::Limits
        }
        Change::Pause => {
            paused_at.get_or_insert_with(Utc::now);
            Written::Pause
        }
        Change::Resume => {
            *paused_at = None;
            Written::Resume
        }
    }
}

/// The columns of a settings table an upsert may write.
struct Columns<C> {
    max_concurrent: C,
    max_per_second: C,
    paused_at: C,
    updated_at: C,
}

/// The upsert on `keys` of `table` writing only what `written` names (and when).
fn upsert<C: IntoIden + Copy>(
    keys: &[C],
    columns: Columns<C>,
    written: Written,
    table: &str,
) -> OnConflict {
    let mut conflict = OnConflict::columns(keys.iter().copied());
    conflict.update_column(columns.updated_at);
    match written {
        Written::Limits => {
            conflict.update_columns([columns.max_concurrent, columns.max_per_second]);
        }
        // The first pause's time is kept.
        Written::Pause => {
            conflict.value(
                columns.paused_at,
                Expr::cust(format!("COALESCE({table}.paused_at, excluded.paused_at)")),
            );
        }
        Written::Resume => {
            conflict.update_column(columns.paused_at);
        }
    }
    conflict.to_owned()
}
