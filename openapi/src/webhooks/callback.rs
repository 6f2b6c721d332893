//! What a callback receiver gets.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Outcome, provider_data_map_schema};

/// What a callback receiver gets, signed per Standard Webhooks (`webhook-id` is `id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallbackBody {
    /// The webhook's id.
    pub id: String,
    /// `completed`, or `failed` when the deadline passed with providers missing.
    pub status: Outcome,
    /// Each provider's data, under its name.
    #[schema(schema_with = provider_data_map_schema)]
    pub data: BTreeMap<String, serde_json::Value>,
    /// Why each missing provider is missing.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, String>,
    /// When the webhook was submitted.
    #[serde(with = "crate::json::timestamp")]
    pub created_at: DateTime<Utc>,
    /// When collection ended.
    #[serde(with = "crate::json::timestamp")]
    pub completed_at: DateTime<Utc>,
}
