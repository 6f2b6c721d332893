//! A webhook whose stored status the code does not know is answered as a server error,
//! never shown as another status (the engine's tests check the read itself fails).

use engine::both_modes;
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::helpers::{Mode, TestApp};

async fn an_unknown_stored_status_is_a_500(mode: Mode) {
    let app = TestApp::spawn_with(mode, |c| {
        c.worker.providers.providers = vec!["gas=http://127.0.0.1:9/gas".into()];
    })
    .await;
    let body = json!({"provider": "gas", "callbackUrl": "http://127.0.0.1:9/hook"}).to_string();
    let (status, answer) = app.post_json("/v1/webhooks", &body).await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["id"].as_str().unwrap().to_owned();

    app.db()
        .await
        .execute_unprepared(&format!(
            "UPDATE webhooks SET status = 'exploded' WHERE id = '{id}'"
        ))
        .await
        .unwrap();
    let (status, answer) = app.get_json(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(status, 500, "{answer}");
    assert_eq!(answer["code"], "internal");
}
both_modes!(an_unknown_stored_status_is_a_500);
