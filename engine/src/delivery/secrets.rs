//! The tenants' signing secrets as deliveries read them: kept in the process for a second,
//! so a busy tenant's callbacks do not each cost a database read. A cached set is never
//! used past the earliest expiry among its secrets, so a secret whose overlap ended stops
//! signing on time; a rotation (a new current secret) signs within `FRESH_FOR`, while the
//! secret it replaces still verifies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbErr};

use super::signature::Secret;
use crate::tenants;

/// How long a tenant's secrets are used from memory.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// Above this many tenants cached, the stale entries are dropped.
const PRUNE_ABOVE: usize = 4096;

/// Why a tenant's secrets could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] DbErr),
    /// The tenant has no usable secret.
    #[error("tenant `{0}` has no signing secret")]
    None(String),
}

#[derive(Clone)]
struct Cached {
    secrets: Arc<[Secret]>,
    until: DateTime<Utc>,
}

/// The signing secrets of every tenant, read through a short-lived cache.
#[derive(Clone, Default)]
pub struct SigningSecrets {
    cached: Arc<Mutex<HashMap<String, Cached>>>,
}

impl SigningSecrets {
    /// The secrets `tenant`'s callbacks are signed with now, current first.
    pub async fn of(
        &self,
        db: &DatabaseConnection,
        tenant: &str,
    ) -> Result<Arc<[Secret]>, SecretsError> {
        let now = Utc::now();
        if let Some(hit) = self.lock().get(tenant).filter(|c| now < c.until) {
            return Ok(hit.secrets.clone());
        }
        let rows = tenants::valid_secrets(db, tenant, now).await?;
        let fresh_until = now + chrono::Duration::from_std(FRESH_FOR).unwrap_or_default();
        let until = rows
            .iter()
            .filter_map(|row| row.expires_at)
            .fold(fresh_until, Ord::min);
        let secrets: Arc<[Secret]> = rows
            .iter()
            .filter_map(|row| match Secret::parse(&row.secret) {
                Ok(secret) => Some(secret),
                Err(reason) => {
                    tracing::error!(tenant, secret = %row.id, %reason, "stored signing secret is unusable; skipped");
                    None
                }
            })
            .collect();
        if secrets.is_empty() {
            return Err(SecretsError::None(tenant.to_owned()));
        }
        let mut cached = self.lock();
        if cached.len() >= PRUNE_ABOVE {
            cached.retain(|_, c| now < c.until);
        }
        cached.insert(
            tenant.to_owned(),
            Cached {
                secrets: secrets.clone(),
                until,
            },
        );
        Ok(secrets)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.cached.lock().unwrap_or_else(|e| e.into_inner())
    }
}
