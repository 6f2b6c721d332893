//! `GET /v1/signing-secret`, `POST /v1/signing-secret/rotate`: a tenant's callback signing
//! secrets (Standard Webhooks), rotated without downtime for its receivers.

use axum::Json;
use axum::extract::State;
use chrono::Utc;
use engine::tenants;
use openapi::tenants::{PreviousSecret, SigningSecret};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::state::AppState;
use crate::tenants::Caller;

/// The signing-secret routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show))
        .routes(routes!(rotate))
}

async fn current(app: &AppState, tenant: &str) -> Result<SigningSecret, ApiError> {
    let mut valid = tenants::valid_secrets(&app.db, tenant, Utc::now())
        .await?
        .into_iter();
    let Some(current) = valid.next() else {
        return Err(ApiError::NotFound(
            "this tenant has no signing secret yet; rotate to make one".into(),
        ));
    };
    Ok(SigningSecret {
        secret: current.secret,
        created_at: current.created_at,
        previous: valid
            .filter_map(|s| {
                Some(PreviousSecret {
                    expires_at: s.expires_at?,
                    secret: s.secret,
                    created_at: s.created_at,
                })
            })
            .collect(),
    })
}

/// The secret the caller's callbacks are signed with, and any earlier one still signing.
#[utoipa::path(
    get,
    path = "/v1/signing-secret",
    operation_id = "getSigningSecret",
    tag = "tenants",
    responses(
        (status = 200, description = "The current secret and the previous ones in their overlap", body = SigningSecret),
        (status = 401, description = "No valid API key was given"),
        (status = 403, description = "The admin key has no signing secret; use a tenant's key"),
        (status = 404, description = "The tenant has no secret yet"),
        (status = 429, description = "Over the tenant's rate limit"),
        (status = 503, description = "The database is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn show(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<SigningSecret>, ApiError> {
    let tenant = caller.tenant()?;
    Ok(Json(current(&app, &tenant.id).await?))
}

/// Makes a new signing secret. The previous one keeps signing for
/// `SECRET_ROTATION_OVERLAP` (24 h): callbacks meanwhile carry both signatures
/// (`webhook-signature: v1,<new> v1,<old>`). At most 5 rotations within 24 hours.
#[utoipa::path(
    post,
    path = "/v1/signing-secret/rotate",
    operation_id = "rotateSigningSecret",
    tag = "tenants",
    responses(
        (status = 200, description = "Rotated: the new secret, and the previous one while it still signs", body = SigningSecret),
        (status = 401, description = "No valid API key was given"),
        (status = 403, description = "The admin key has no signing secret; use a tenant's key"),
        (status = 429, description = "5 rotations within 24 hours already (`rotation_limit`, see `Retry-After`), or over the rate limit",
         headers(("Retry-After" = u64, description = "Seconds until a rotation is allowed again"))),
        (status = 503, description = "The database is unreachable"),
    ),
    security(("api_key" = []))
)]
async fn rotate(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<SigningSecret>, ApiError> {
    let tenant = caller.tenant()?;
    tenants::rotate(&app.db, &tenant.id, app.webhooks.secret_rotation_overlap).await?;
    tracing::info!(tenant = %tenant.id, "signing secret rotated");
    Ok(Json(current(&app, &tenant.id).await?))
}
