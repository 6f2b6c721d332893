//! What workers and the api both know of tenants: the `default` tenant and each tenant's
//! signing secrets (current, and the previous ones while their rotation overlap lasts).

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{signing_secret, tenant};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, TransactionTrait,
};
use sha2::{Digest, Sha256};

use crate::delivery::signature::Secret;

/// The tenant of the configured `API_KEYS` and `WEBHOOK_SECRET`, and of every request when
/// authentication is off; created by the migrations.
pub const DEFAULT_TENANT: &str = "default";

/// Rotations a tenant may make within `ROTATION_WINDOW`.
pub const MAX_ROTATIONS: u64 = 5;

/// The window `MAX_ROTATIONS` counts over.
pub const ROTATION_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// SHA-256 of `text`, as lowercase hex.
pub fn sha256_hex(text: &[u8]) -> String {
    hex(&Sha256::digest(text))
}

/// `bytes` as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// Makes the configured secret the `default` tenant's current one, once per change of the
/// configuration: a secret rotated through the API since is not undone by a restart. The
/// secret it replaces keeps signing for `overlap`, as after a rotation. True when it was
/// applied now, false when it already was (or another process applied it).
pub async fn apply_default_secret(
    db: &DatabaseConnection,
    secret: &Secret,
    overlap: Duration,
) -> Result<bool, DbErr> {
    let text = secret.to_text();
    let sha = sha256_hex(text.as_bytes());
    let Some(default) = tenant::Entity::find_by_id(DEFAULT_TENANT).one(db).await? else {
        return Err(DbErr::RecordNotFound(
            "the `default` tenant (created by the migrations)".into(),
        ));
    };
    if default.config_secret_sha.as_deref() == Some(sha.as_str()) {
        return Ok(false);
    }
    let now = Utc::now();
    let txn = db.begin().await?;
    // Conditional on what was read: of two processes starting at once, one applies it.
    let mut claim = tenant::Entity::update_many()
        .col_expr(tenant::Column::ConfigSecretSha, Expr::value(Some(sha)))
        .col_expr(tenant::Column::UpdatedAt, Expr::value(now))
        .filter(tenant::Column::Id.eq(DEFAULT_TENANT));
    claim = match &default.config_secret_sha {
        Some(old) => claim.filter(tenant::Column::ConfigSecretSha.eq(old)),
        None => claim.filter(tenant::Column::ConfigSecretSha.is_null()),
    };
    if claim.exec(&txn).await?.rows_affected == 0 {
        txn.rollback().await?;
        return Ok(false);
    }
    install(&txn, DEFAULT_TENANT, &text, false, overlap, now).await?;
    txn.commit().await?;
    Ok(true)
}

/// Makes `text` the tenant's current secret; the current ones sign on for `overlap`.
async fn install<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    text: &str,
    rotation: bool,
    overlap: Duration,
    now: DateTime<Utc>,
) -> Result<signing_secret::Model, DbErr> {
    signing_secret::Entity::update_many()
        .col_expr(
            signing_secret::Column::ExpiresAt,
            Expr::value(Some(now + overlap)),
        )
        .filter(signing_secret::Column::TenantId.eq(tenant_id))
        .filter(signing_secret::Column::ExpiresAt.is_null())
        .exec(db)
        .await?;
    let row = signing_secret::Model {
        id: ulid::Ulid::generate().to_string(),
        tenant_id: tenant_id.to_owned(),
        secret: text.to_owned(),
        rotation,
        created_at: now,
        expires_at: None,
    };
    signing_secret::Entity::insert(signing_secret::ActiveModel::from(row.clone()))
        .exec_without_returning(db)
        .await?;
    Ok(row)
}

/// Gives a new tenant its first secret.
pub async fn create_first_secret<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    secret: &Secret,
) -> Result<signing_secret::Model, DbErr> {
    install(
        db,
        tenant_id,
        &secret.to_text(),
        false,
        Duration::ZERO,
        Utc::now(),
    )
    .await
}

/// The secrets a tenant's callbacks are signed with now, newest (the current one) first.
pub async fn valid_secrets<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<signing_secret::Model>, DbErr> {
    signing_secret::Entity::find()
        .filter(signing_secret::Column::TenantId.eq(tenant_id))
        .filter(
            signing_secret::Column::ExpiresAt
                .is_null()
                .or(signing_secret::Column::ExpiresAt.gt(now)),
        )
        .order_by_desc(signing_secret::Column::CreatedAt)
        .order_by_desc(signing_secret::Column::Id)
        .all(db)
        .await
}

/// Why a rotation was refused.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// `MAX_ROTATIONS` were made within `ROTATION_WINDOW`; the next is possible at `retry_at`.
    #[error("at most {MAX_ROTATIONS} rotations are allowed within 24 hours")]
    Limit {
        /// When the oldest rotation in the window leaves it.
        retry_at: DateTime<Utc>,
    },
    /// The secret could not be generated.
    #[error("no randomness for a new secret: {0}")]
    Random(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] DbErr),
}

/// Makes a new current secret for the tenant; the current one signs on for `overlap`.
pub async fn rotate(
    db: &DatabaseConnection,
    tenant_id: &str,
    overlap: Duration,
) -> Result<signing_secret::Model, RotateError> {
    let now = Utc::now();
    let since = now - ROTATION_WINDOW;
    // Counted outside the transaction: SQLite cannot turn a reading transaction into a
    // writing one while a worker writes. Two rotations at once may both pass the count.
    let recent = signing_secret::Entity::find()
        .filter(signing_secret::Column::TenantId.eq(tenant_id))
        .filter(signing_secret::Column::Rotation.eq(true))
        .filter(signing_secret::Column::CreatedAt.gt(since))
        .order_by_asc(signing_secret::Column::CreatedAt);
    if recent.clone().count(db).await? >= MAX_ROTATIONS {
        let oldest = recent.one(db).await?.map_or(now, |s| s.created_at);
        return Err(RotateError::Limit {
            retry_at: oldest + ROTATION_WINDOW,
        });
    }
    let secret = Secret::generate().map_err(|e| RotateError::Random(e.to_string()))?;
    let txn = db.begin().await?;
    let row = install(&txn, tenant_id, &secret.to_text(), true, overlap, now).await?;
    txn.commit().await?;
    Ok(row)
}
