//! Statuses are read as the types of their lifecycle: a value the code does not know is an
//! error, never mistaken for another status.

use engine::both_modes;
use entity::webhook;
use sea_orm::{ConnectionTrait, EntityTrait};

use crate::helpers::{Mode, TestEngine};

both_modes!(an_unknown_stored_status_is_an_error);
async fn an_unknown_stored_status_is_an_error(mode: Mode) {
    let engine = TestEngine::start(mode).await;
    let id = engine.submit(&["gas"], "http://127.0.0.1:9/hook").await;

    let db = engine.db();
    db.execute_unprepared(&format!(
        "UPDATE webhooks SET status = 'exploded' WHERE id = '{id}'"
    ))
    .await
    .unwrap();
    let read = webhook::Entity::find_by_id(&id).one(db).await;
    assert!(read.is_err(), "read as {read:?}");
}
