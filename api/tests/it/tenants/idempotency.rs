//! Idempotency keys: a repeat replays the first answer, a changed body is refused, a
//! request still being answered is a conflict, and malformed keys are refused.

use chrono::Utc;
use engine::both_modes;
use entity::idempotency_record;
use reqwest::Method;
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::helpers::Mode;

use super::{call, providers, spawn, tenant};

both_modes!(idempotency_replays_refuses_and_waits);
async fn idempotency_replays_refuses_and_waits(mode: Mode) {
    let sources = providers().await;
    let app = spawn(mode, &sources, |_| {}).await;
    let (tenant_id, key, _) = tenant(&app, "a", json!({})).await;
    let post = async |idempotency: &str, body: Value| {
        let response = app
            .client
            .post(app.url("/v1/streams"))
            .bearer_auth(&key)
            .header("idempotency-key", idempotency)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let replayed = response.headers().get("idempotent-replayed").cloned();
        let text = response.text().await.unwrap();
        (status, replayed, text)
    };
    let stream = json!({"provider": "gas", "intervalSeconds": 3600});
    let (status, replayed, first) = post("k-1", stream.clone()).await;
    assert_eq!((status, replayed), (201, None));
    let (status, replayed, again) = post("k-1", stream.clone()).await;
    assert_eq!(status, 201);
    assert_eq!(replayed.unwrap(), "true");
    assert_eq!(again, first, "the first answer, byte for byte");
    let (status, _, reused) = post("k-1", json!({"provider": "gas", "intervalSeconds": 60})).await;
    assert_eq!(status, 422);
    assert!(reused.contains("idempotency_key_reused"), "{reused}");
    let (_, _, list) = call(&app, Method::GET, "/v1/streams", Some(&key), None).await;
    assert_eq!(list["total"], 1, "neither repeat created a stream");

    // A first request still being answered.
    let now = Utc::now();
    idempotency_record::Entity::insert(idempotency_record::ActiveModel::from(
        idempotency_record::Model {
            tenant_id,
            route: "/v1/streams".into(),
            key: "k-busy".into(),
            fingerprint: engine::tenants::sha256_hex(stream.to_string().as_bytes()),
            status: idempotency_record::RecordStatus::Processing,
            response_status: None,
            response_body: None,
            content_type: None,
            location: None,
            created_at: now,
            updated_at: now,
        },
    ))
    .exec_without_returning(&app.db().await)
    .await
    .unwrap();
    let (status, _, busy) = post("k-busy", stream.clone()).await;
    assert_eq!(status, 409);
    assert!(busy.contains("idempotency_key_in_use"), "{busy}");

    for bad in ["x".repeat(256), "with space".into(), "é".into()] {
        let response = app
            .client
            .post(app.url("/v1/streams"))
            .bearer_auth(&key)
            .header("idempotency-key", bad.as_bytes())
            .json(&stream)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad:?}");
    }
    let (_, _, list) = call(&app, Method::GET, "/v1/streams", Some(&key), None).await;
    assert_eq!(list["total"], 1);
}
