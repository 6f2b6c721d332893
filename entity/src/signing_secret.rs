//! `signing_secrets`: the secrets a tenant's callbacks are signed with.

use sea_orm::entity::prelude::*;

/// One signing secret; the newest without expiry is current, older ones sign too until
/// they expire.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_secrets")]
pub struct Model {
    /// ULID.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Whose it is.
    pub tenant_id: String,
    /// `whsec_<base64>`.
    pub secret: String,
    /// Whether a rotation made it (rotations are limited per day).
    pub rotation: bool,
    /// When it was created.
    pub created_at: DateTimeUtc,
    /// When it stops signing; `None` while it is the current one.
    pub expires_at: Option<DateTimeUtc>,
}

/// `signing_secrets` has no navigated relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
