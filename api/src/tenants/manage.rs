//! The operator's management of tenants and their keys.

use chrono::Utc;
use engine::delivery::signature::Secret;
use entity::{api_key, tenant};
use openapi::tenants::{ApiKeyInfo, CreateTenant, NewApiKey, Quotas, Tenant, UpdateTenant};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    SqlErr, TransactionTrait,
};

use super::Limits;
use super::keys::make_key;
use crate::error::ApiError;
use crate::input::Page;

/// A tenant as the operator sees it.
pub fn view(row: tenant::Model, limits: Limits, keys: Vec<api_key::Model>) -> Tenant {
    Tenant {
        id: row.id,
        name: row.name,
        created_at: row.created_at,
        rate_limit_per_second: i64::from(limits.rate_per_second),
        weight: i64::from(row.weight),
        quotas: quotas(limits),
        keys: keys
            .into_iter()
            .map(|k| ApiKeyInfo {
                id: k.id,
                prefix: k.prefix,
                created_at: k.created_at,
                last_used_at: k.last_used_at,
                revoked_at: k.revoked_at,
            })
            .collect(),
    }
}

/// The quotas part of `limits`.
pub fn quotas(limits: Limits) -> Quotas {
    Quotas {
        active_streams: i64::from(limits.active_streams),
        pending_webhooks: i64::from(limits.pending_webhooks),
    }
}

/// A limit as its column holds it; the wire types' ranges keep every value within `i32`.
fn column(value: Option<i64>) -> Option<i32> {
    value.and_then(|v| i32::try_from(v).ok())
}

/// What creating a tenant made.
pub struct Created {
    /// The tenant.
    pub tenant: tenant::Model,
    /// Its first key, whole.
    pub key: NewApiKey,
    /// Its first signing secret.
    pub secret: Secret,
}

fn name_taken(error: &DbErr, name: &str) -> Option<ApiError> {
    matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
        .then(|| ApiError::Conflict(format!("a tenant named `{name}` exists already")))
}

/// Creates a tenant with its first key and signing secret, in one transaction.
pub async fn create(db: &DatabaseConnection, request: &CreateTenant) -> Result<Created, ApiError> {
    let now = Utc::now();
    let quotas = request.quotas.clone().unwrap_or_default();
    let row = tenant::Model {
        id: ulid::Ulid::generate().to_string(),
        name: request.name.clone(),
        rate_limit_per_second: column(request.rate_limit_per_second),
        max_active_streams: column(quotas.active_streams),
        max_pending_webhooks: column(quotas.pending_webhooks),
        weight: request.weight.map_or(1, |w| w as i32),
        config_secret_sha: None,
        created_at: now,
        updated_at: now,
    };
    let secret = Secret::generate()
        .map_err(|e| ApiError::Unavailable(format!("no randomness for a new secret: {e}")))?;
    let txn = db.begin().await?;
    if let Err(error) = tenant::Entity::insert(tenant::ActiveModel::from(row.clone()))
        .exec_without_returning(&txn)
        .await
    {
        return Err(name_taken(&error, &request.name).unwrap_or(ApiError::Database(error)));
    }
    let key = insert_key(&txn, &row.id).await?;
    engine::tenants::create_first_secret(&txn, &row.id, &secret).await?;
    txn.commit().await?;
    Ok(Created {
        tenant: row,
        key,
        secret,
    })
}

async fn insert_key<C: sea_orm::ConnectionTrait>(
    db: &C,
    tenant_id: &str,
) -> Result<NewApiKey, ApiError> {
    let made = make_key()?;
    let row = api_key::Model {
        id: ulid::Ulid::generate().to_string(),
        tenant_id: tenant_id.to_owned(),
        hash: made.hash,
        prefix: made.prefix.clone(),
        created_at: Utc::now(),
        last_used_at: None,
        revoked_at: None,
    };
    api_key::Entity::insert(api_key::ActiveModel::from(row.clone()))
        .exec_without_returning(db)
        .await?;
    Ok(NewApiKey {
        id: row.id,
        key: made.key,
        prefix: made.prefix,
        created_at: row.created_at,
    })
}

/// A new key for tenant `id`.
pub async fn create_key(db: &DatabaseConnection, id: &str) -> Result<NewApiKey, ApiError> {
    find(db, id).await?;
    insert_key(db, id).await
}

/// Revokes key `key_id` (revoking a revoked key changes nothing).
pub async fn revoke_key(db: &DatabaseConnection, key_id: &str) -> Result<(), ApiError> {
    let found = api_key::Entity::find_by_id(key_id).one(db).await?;
    if found.is_none() {
        return Err(ApiError::NotFound(format!("no key `{key_id}`")));
    }
    api_key::Entity::update_many()
        .col_expr(api_key::Column::RevokedAt, Expr::value(Some(Utc::now())))
        .filter(api_key::Column::Id.eq(key_id))
        .filter(api_key::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Tenant `id`.
pub async fn find(db: &DatabaseConnection, id: &str) -> Result<tenant::Model, ApiError> {
    tenant::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no tenant `{id}`")))
}

/// Tenant `id`'s keys, oldest first.
pub async fn keys_of(db: &DatabaseConnection, id: &str) -> Result<Vec<api_key::Model>, DbErr> {
    api_key::Entity::find()
        .filter(api_key::Column::TenantId.eq(id))
        .order_by_asc(api_key::Column::CreatedAt)
        .order_by_asc(api_key::Column::Id)
        .all(db)
        .await
}

/// One page of tenants by id, and how many there are.
pub async fn list(
    db: &DatabaseConnection,
    page: Page,
) -> Result<(Vec<(tenant::Model, Vec<api_key::Model>)>, u64), DbErr> {
    let select = tenant::Entity::find()
        .order_by_asc(tenant::Column::CreatedAt)
        .order_by_asc(tenant::Column::Id);
    let (rows, total) = page.fetch(db, select).await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let keys = keys_of(db, &row.id).await?;
        items.push((row, keys));
    }
    Ok((items, total))
}

/// Applies `patch` to tenant `id`.
pub async fn update(
    db: &DatabaseConnection,
    id: &str,
    patch: &UpdateTenant,
) -> Result<tenant::Model, ApiError> {
    let current = find(db, id).await?;
    let mut row: tenant::ActiveModel = current.into();
    if let Some(name) = &patch.name {
        row.name = Set(name.clone());
    }
    if patch.rate_limit_per_second.is_some() {
        row.rate_limit_per_second = Set(column(patch.rate_limit_per_second));
    }
    if let Some(weight) = patch.weight {
        row.weight = Set(weight as i32);
    }
    if let Some(quotas) = &patch.quotas {
        if quotas.active_streams.is_some() {
            row.max_active_streams = Set(column(quotas.active_streams));
        }
        if quotas.pending_webhooks.is_some() {
            row.max_pending_webhooks = Set(column(quotas.pending_webhooks));
        }
    }
    row.updated_at = Set(Utc::now());
    match tenant::Entity::update(row).exec(db).await {
        Ok(updated) => Ok(updated),
        Err(error) => {
            let name = patch.name.as_deref().unwrap_or_default();
            Err(name_taken(&error, name).unwrap_or(ApiError::Database(error)))
        }
    }
}
