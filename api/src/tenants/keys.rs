//! API keys: made, hashed, and resolved to their tenant from memory. A key is looked up in
//! the database once per `KEY_CACHE_TTL` (30 s) per instance, so the hot routes pay no
//! round trip, and a revoked key is refused everywhere within that time (at once on the
//! instance that revoked it). A key found unknown is remembered as such for
//! `UNKNOWN_KEY_TTL`, apart from the known ones so that a flood of wrong keys cannot push
//! them out, and its sender is counted (`failures`).

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use engine::tenants::{DEFAULT_TENANT, hex, sha256_hex};
use entity::{api_key, tenant};
use moka::sync::Cache;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::failures::FailedAuth;
use super::quotas::PendingWebhooks;
use super::rate::Bucket;
use super::{Caller, Limits, TenantContext};
use crate::config::TenantConfig;
use crate::error::ApiError;

/// Keys remembered at most; beyond, the least used are looked up again.
const CACHE_CAPACITY: u64 = 10_000;
/// Unknown keys remembered at most.
const UNKNOWN_CAPACITY: u64 = 50_000;
/// How long an unknown key is answered 401 from memory: short, since another instance may
/// have just created it (this instance forgets them all when it creates a key).
pub const UNKNOWN_KEY_TTL: Duration = Duration::from_secs(5);
/// `lastUsedAt` is written at most this often per key and instance.
const LAST_USED_EVERY_SECONDS: i64 = 60;
/// Characters of a key shown in lists.
const PREFIX_LEN: usize = 10;
/// Every key made here starts so, to be recognised in logs and secret scanners.
const KEY_PREFIX: &str = "dh_";

/// A key made now: the whole key (shown once) and its stored parts.
pub struct MadeKey {
    /// The whole key.
    pub key: String,
    /// SHA-256 (hex), stored.
    pub hash: String,
    /// Its first characters, stored.
    pub prefix: String,
}

/// Makes a new random key.
pub fn make_key() -> Result<MadeKey, ApiError> {
    let mut bytes = [0u8; 30];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::Unavailable(format!("no randomness for a new key: {e}")))?;
    let key = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    Ok(MadeKey {
        hash: sha256_hex(key.as_bytes()),
        prefix: key[..PREFIX_LEN].to_owned(),
        key,
    })
}

/// A key the cache knows to be valid.
struct KnownKey {
    id: String,
    tenant: Arc<TenantContext>,
    /// Unix seconds of the last `lastUsedAt` this instance wrote.
    last_used: AtomicI64,
}

/// Resolves `Authorization: Bearer` keys to callers.
pub struct KeyRing {
    db: DatabaseConnection,
    admin: Option<SecretString>,
    open: bool,
    defaults: Limits,
    instances: u32,
    /// SHA-256 of a valid key → the key.
    keys: Cache<[u8; 32], Arc<KnownKey>>,
    /// SHA-256 of keys found unknown or revoked.
    unknown: Cache<[u8; 32], ()>,
    /// Wrong keys per client address.
    failures: FailedAuth,
    /// The `default` tenant, for requests without a key when access is open.
    anonymous: Cache<(), Arc<TenantContext>>,
    /// Tenant id → its bucket on this instance, shared by its keys.
    buckets: Cache<String, Arc<Bucket>>,
}

impl KeyRing {
    /// A key ring over `db`; `open` serves requests without a key as `default`.
    pub fn new(db: DatabaseConnection, config: &TenantConfig, open: bool) -> Self {
        KeyRing {
            db,
            admin: config.admin_key().cloned(),
            open,
            defaults: Limits {
                rate_per_second: config.rate_limit_per_second,
                active_streams: config.quota_active_streams,
                pending_webhooks: config.quota_pending_webhooks,
            },
            instances: config.rate_limit_instances,
            keys: Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .time_to_live(config.key_cache_ttl)
                .build(),
            unknown: Cache::builder()
                .max_capacity(UNKNOWN_CAPACITY)
                .time_to_live(UNKNOWN_KEY_TTL.min(config.key_cache_ttl))
                .build(),
            failures: FailedAuth::default(),
            anonymous: Cache::builder().time_to_live(config.key_cache_ttl).build(),
            buckets: Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .time_to_idle(Duration::from_secs(600))
                .build(),
        }
    }

    /// The configured defaults of every tenant's limits.
    pub fn defaults(&self) -> Limits {
        self.defaults
    }

    /// Whether requests without a key are served (as `default`).
    pub fn open(&self) -> bool {
        self.open
    }

    /// The caller of a request with `bearer` (its `Authorization: Bearer` value), from
    /// memory; `None` when the database must be asked (`resolve`).
    pub fn resolve_cached(
        &self,
        bearer: Option<&str>,
        admin_route: bool,
    ) -> Option<Result<Caller, ApiError>> {
        let Some(key) = bearer else {
            if self.open && !admin_route {
                return self.anonymous.get(&()).map(|t| Ok(Caller::Tenant(t)));
            }
            return Some(Err(ApiError::Unauthorized));
        };
        if self.is_admin(key) {
            return Some(Ok(Caller::Admin));
        }
        let hash = digest(key);
        if let Some(known) = self.keys.get(&hash) {
            self.touch(&known);
            return Some(Ok(Caller::Tenant(known.tenant.clone())));
        }
        self.unknown
            .contains_key(&hash)
            .then_some(Err(ApiError::Unauthorized))
    }

    /// The caller of a request with `bearer`, asking the database what memory lacks.
    pub async fn resolve(
        &self,
        bearer: Option<&str>,
        admin_route: bool,
    ) -> Result<Caller, ApiError> {
        if let Some(answer) = self.resolve_cached(bearer, admin_route) {
            return answer;
        }
        let Some(key) = bearer else {
            let tenant = self.load_tenant(DEFAULT_TENANT).await?.ok_or_else(|| {
                ApiError::Unavailable(
                    "the `default` tenant is missing; rerun the migrations".into(),
                )
            })?;
            self.anonymous.insert((), tenant.clone());
            return Ok(Caller::Tenant(tenant));
        };
        let hash = digest(key);
        match self.load_key(&hex(&hash)).await? {
            Some(known) => {
                self.keys.insert(hash, known.clone());
                self.touch(&known);
                Ok(Caller::Tenant(known.tenant.clone()))
            }
            None => {
                self.unknown.insert(hash, ());
                Err(ApiError::Unauthorized)
            }
        }
    }

    /// Seconds `peer` must wait before a key memory does not know is looked up for it
    /// (it sent too many wrong ones), or `None`.
    pub fn blocked(&self, peer: IpAddr) -> Option<u64> {
        self.failures.blocked(peer)
    }

    /// Counts a wrong key from `peer`; the answer to give it: 401, or 429 once over.
    pub fn failed(&self, peer: IpAddr) -> ApiError {
        self.failures.fail(peer)
    }

    /// Forgets every cached answer (a key was revoked or a tenant's limits changed), so
    /// this instance sees the change at once; the others within `KEY_CACHE_TTL`.
    pub fn forget_all(&self) {
        self.keys.invalidate_all();
        self.unknown.invalidate_all();
        self.anonymous.invalidate_all();
    }

    /// Forgets the keys found unknown (a key was created), so that a new key works at once
    /// on this instance; the others within `UNKNOWN_KEY_TTL`.
    pub fn forget_unknown(&self) {
        self.unknown.invalidate_all();
    }

    fn is_admin(&self, key: &str) -> bool {
        self.admin.as_ref().is_some_and(|admin| {
            // Compared as hashes: equal length, and no early exit on the first difference.
            digest(admin.expose_secret()) == digest(key)
        })
    }

    async fn load_key(&self, hash: &str) -> Result<Option<Arc<KnownKey>>, DbErr> {
        let Some(row) = api_key::Entity::find()
            .filter(api_key::Column::Hash.eq(hash))
            .filter(api_key::Column::RevokedAt.is_null())
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let Some(tenant) = self.load_tenant(&row.tenant_id).await? else {
            return Ok(None);
        };
        Ok(Some(Arc::new(KnownKey {
            id: row.id,
            tenant,
            last_used: AtomicI64::new(row.last_used_at.map_or(0, |t| t.timestamp())),
        })))
    }

    async fn load_tenant(&self, id: &str) -> Result<Option<Arc<TenantContext>>, DbErr> {
        let Some(row) = tenant::Entity::find_by_id(id).one(&self.db).await? else {
            return Ok(None);
        };
        let limits = self.limits_of(&row);
        let share = f64::from(limits.rate_per_second) / f64::from(self.instances);
        let bucket = self
            .buckets
            .get_with(row.id.clone(), || Arc::new(Bucket::new(share)));
        bucket.set_rate(share);
        Ok(Some(Arc::new(TenantContext {
            id: row.id,
            rate_policy: super::rate_policy(&limits),
            limits,
            bucket,
            pending_webhooks: PendingWebhooks::default(),
        })))
    }

    /// A tenant's limits: its own, else the configured defaults.
    pub fn limits_of(&self, row: &tenant::Model) -> Limits {
        let own = |value: Option<i32>, default: u32| {
            value.and_then(|v| u32::try_from(v).ok()).unwrap_or(default)
        };
        Limits {
            rate_per_second: own(row.rate_limit_per_second, self.defaults.rate_per_second),
            active_streams: own(row.max_active_streams, self.defaults.active_streams),
            pending_webhooks: own(row.max_pending_webhooks, self.defaults.pending_webhooks),
        }
    }

    /// Records that a key was used, at most once a minute, off the request's path.
    fn touch(&self, known: &Arc<KnownKey>) {
        let now = Utc::now();
        let last = known.last_used.load(Ordering::Relaxed);
        if now.timestamp() - last < LAST_USED_EVERY_SECONDS
            || known
                .last_used
                .compare_exchange(last, now.timestamp(), Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let db = self.db.clone();
        let id = known.id.clone();
        tokio::spawn(async move {
            let written = api_key::Entity::update_many()
                .col_expr(api_key::Column::LastUsedAt, Expr::value(Some(now)))
                .filter(api_key::Column::Id.eq(&id))
                .exec(&db)
                .await;
            if let Err(error) = written {
                tracing::warn!(key = %id, %error, "could not record the key's last use");
            }
        });
    }
}

/// Stores the configured `API_KEYS` as keys of the `default` tenant (hashed; a key stored
/// before, or revoked since, is left as it is).
pub async fn register_configured(db: &DatabaseConnection, keys: &[String]) -> Result<(), DbErr> {
    let now = Utc::now();
    for key in keys {
        // Short keys would show most of themselves; show none of those.
        let prefix = if key.len() >= 16 { &key[..4] } else { "" };
        let row = api_key::ActiveModel::from(api_key::Model {
            id: ulid::Ulid::generate().to_string(),
            tenant_id: DEFAULT_TENANT.to_owned(),
            hash: sha256_hex(key.as_bytes()),
            prefix: prefix.to_owned(),
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        });
        api_key::Entity::insert(row)
            .on_conflict_do_nothing_on([api_key::Column::Hash])
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_keys_are_distinct_and_hashed_as_stored() {
        let a = make_key().unwrap();
        let b = make_key().unwrap();
        assert_ne!(a.key, b.key);
        assert!(a.key.starts_with("dh_") && a.key.len() == 43);
        assert_eq!(a.prefix, a.key[..10]);
        assert_eq!(a.hash, hex(&digest(&a.key)));
        assert_eq!(a.hash, sha256_hex(a.key.as_bytes()));
    }
}
