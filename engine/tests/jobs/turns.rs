//! Tenants' turns in the collect queue as the workers keep them: a submission beyond its
//! tenant's share is held and let in by the dispatcher, and a share filled with ids whose
//! webhooks no longer wait to start (removed, or started without being counted out) does
//! not hold the tenant's collections until those ids go stale.

use std::time::Duration;

use engine::both_modes;
use engine::delivery::address::CallbackUrl;
use engine::flow::turns::Place;
use engine::tenants::DEFAULT_TENANT;
use engine::testing::{BILL, provider, receiver};
use engine::webhooks::inserts::Inserts;
use engine::webhooks::{NewWebhook, submit};
use entity::webhook::{Waiting, WebhookStatus};

use crate::helpers::{Mode, TestEngine, webhook_settings};

async fn a_share_full_of_ids_no_longer_queued_frees_for_the_held_collection(mode: Mode) {
    let sources = provider(&["/gas", "/internet"], BILL, Duration::ZERO).await;
    let hooks = receiver(200).await;
    let engine = TestEngine::start_with(mode, |w| {
        webhook_settings(w, &sources);
        w.tenant_queue_share = 5;
    })
    .await;
    let ctx = &engine.ctx;
    // The share is full of ids that no webhook answers to: as after the queue and the rows
    // were removed by hand, or a worker started them and could not count them out.
    let ghosts: Vec<String> = (0..5).map(|i| format!("gone-{i}")).collect();
    let ghost_ids: Vec<&str> = ghosts.iter().map(String::as_str).collect();
    ctx.flow
        .turns
        .count_in(DEFAULT_TENANT, &ghost_ids)
        .await
        .unwrap();
    assert_eq!(ctx.flow.turns.room(DEFAULT_TENANT).await.unwrap(), 0);

    let new = NewWebhook {
        tenant_id: DEFAULT_TENANT.into(),
        providers: vec!["gas".into()],
        callback_url: CallbackUrl::parse(&hooks.uri(), true).unwrap(),
        wait_until: None,
        ordering_key: None,
        traceparent: None,
    };
    let inserts = Inserts::new(&ctx.db);
    let held = submit(
        &inserts,
        &ctx.queue,
        &ctx.flow.turns,
        &ctx.config.webhooks,
        new,
    )
    .await
    .expect("accepted");
    assert_eq!(held.waiting_for, Some(Waiting::Turn), "held for its turn");
    assert!(
        held.queued_task.is_some(),
        "its job's task is recorded before it is pushed"
    );

    let _workers = engine.run_workers();
    engine
        .webhook_in(&held.id, WebhookStatus::Delivered, Duration::from_secs(20))
        .await;
    let left = ctx.flow.turns.members(DEFAULT_TENANT).await.unwrap();
    assert!(left.iter().all(|id| !id.starts_with("gone-")), "{left:?}");
}
both_modes!(a_share_full_of_ids_no_longer_queued_frees_for_the_held_collection);

/// Submissions counted in on a reading of the share (far below it) and those checked
/// exactly add up to the share, never more, even before the count-ins are written; a
/// collection's count-out, written in a later batch, takes its id out again.
async fn submissions_fill_the_share_exactly_and_count_out_as_they_start(mode: Mode) {
    let engine = TestEngine::start_with(mode, |w| w.tenant_queue_share = 20).await;
    let turns = &engine.ctx.flow.turns;
    let tenant = DEFAULT_TENANT;
    let mut queued = Vec::new();
    let mut count_ins = Vec::new();
    let mut held = 0;
    for i in 0..60 {
        let id = format!("w-{i}");
        match turns.submit(tenant, &id).await.unwrap() {
            Place::Queued(count_in) => {
                queued.push(id);
                count_ins.push(count_in);
            }
            Place::Held => held += 1,
        }
    }
    assert_eq!((queued.len(), held), (20, 40), "queued, held");
    for count_in in count_ins {
        count_in.wait().await;
    }
    let mut members = turns.members(tenant).await.unwrap();
    members.sort();
    let mut expected = queued.clone();
    expected.sort();
    assert_eq!(members, expected, "every queued submission is counted in");
    assert_eq!(turns.room(tenant).await.unwrap(), 0);

    for id in &queued[..15] {
        turns.leave(tenant, id);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while turns.room(tenant).await.unwrap() < 15 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "count-outs not written: {:?}",
            turns.members(tenant).await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(turns.members(tenant).await.unwrap().len(), 5);
}
both_modes!(submissions_fill_the_share_exactly_and_count_out_as_they_start);
