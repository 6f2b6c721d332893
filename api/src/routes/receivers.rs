//! `GET /v1/receivers`: the callback receiver hosts with failures on record, and their
//! shared health; a tenant sees the hosts its own webhooks call back.

use axum::Json;
use axum::extract::State;
use engine::delivery::receivers::host_of;
use entity::webhook;
use openapi::tenants::TenantQuery;
use openapi::webhooks::{ReceiverList, ReceiverStatus};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::input::Scope;
use crate::state::AppState;

/// Webhooks of a tenant looked at per troubled host to tell whether it calls that host back.
const HOSTS_SAMPLE: u64 = 50;

/// The receiver routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// Each receiver host with failures on record: failing, or down until its next probe. A
/// host not listed is up. A tenant's key sees the hosts its own webhooks call back; the
/// admin key every host, or one tenant's with `?tenant=`.
#[utoipa::path(
    get,
    path = "/v1/receivers",
    operation_id = "listReceivers",
    tag = "webhooks",
    params(TenantQuery),
    responses(
        (status = 200, description = "Every receiver host with failures on record", body = ReceiverList),
        (status = 401, description = "No valid API key was given"),
        (status = 503, description = "The health store (Redis) is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn list(State(app): State<AppState>, scope: Scope) -> Result<Json<ReceiverList>, ApiError> {
    let scope = scope.tenant();
    let unavailable = |error: engine::health::HealthError| {
        tracing::error!(%error, "receiver health unreadable");
        ApiError::Unavailable("receiver health is unavailable; retry later".into())
    };
    let mut items = Vec::new();
    for host in app.receivers.troubled().await.map_err(unavailable)? {
        let view = app.receivers.view(&host).await.map_err(unavailable)?;
        if view.failures == 0 {
            // Recovered between the two reads.
            continue;
        }
        if let Some(tenant) = scope
            && !calls_back(&app.db, tenant, &host).await?
        {
            continue;
        }
        items.push(ReceiverStatus {
            host,
            health: if view.down { "down" } else { "failing" }.to_owned(),
            consecutive_failures: view.failures,
            down_since: view.down_since,
            next_probe_at: view.next_probe_at,
        });
    }
    Ok(Json(ReceiverList { items }))
}

/// Whether one of `tenant`'s webhooks has its callback on `host` (`scheme://host:port`).
/// The URL's prefix narrows the rows by index order; each candidate is then compared by
/// host, since a URL may leave its default port out.
async fn calls_back(db: &DatabaseConnection, tenant: &str, host: &str) -> Result<bool, DbErr> {
    let (without_port, _) = host.rsplit_once(':').unwrap_or((host, ""));
    let urls: Vec<String> = webhook::Entity::find()
        .select_only()
        .column(webhook::Column::CallbackUrl)
        .filter(webhook::Column::TenantId.eq(tenant))
        .filter(webhook::Column::CallbackUrl.starts_with(without_port))
        .limit(HOSTS_SAMPLE)
        .into_tuple()
        .all(db)
        .await?;
    Ok(urls.iter().any(|url| host_of(url) == host))
}
