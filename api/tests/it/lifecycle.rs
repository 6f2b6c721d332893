//! Statuses are read as the types of their lifecycle: a value the code does not know is an
//! error, never mistaken for another status.

use entity::webhook;
use sea_orm::{ConnectionTrait, EntityTrait};
use serde_json::json;

use crate::both_modes;
use crate::helpers::{Mode, TestApp};

async fn an_unknown_stored_status_is_an_error(mode: Mode) {
    let app = TestApp::spawn_with(mode, |c| {
        c.worker.providers.providers = vec!["gas=http://127.0.0.1:9/gas".into()];
    })
    .await;
    let body = json!({"provider": "gas", "callbackUrl": "http://127.0.0.1:9/hook"}).to_string();
    let (status, answer) = app.post_json("/v1/webhooks", &body).await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["id"].as_str().unwrap().to_owned();

    let db = app.db().await;
    db.execute_unprepared(&format!(
        "UPDATE webhooks SET status = 'exploded' WHERE id = '{id}'"
    ))
    .await
    .unwrap();
    let read = webhook::Entity::find_by_id(&id).one(&db).await;
    assert!(read.is_err(), "read as {read:?}");
    let (status, answer) = app.get_json(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(status, 500, "{answer}");
    assert_eq!(answer["code"], "internal");
}
both_modes!(an_unknown_stored_status_is_an_error);
