//! On a Redis Cluster, with every queue split into shards: moving a primary's slots to
//! another one (`redis-cli --cluster reshard`) while webhooks are submitted and worked
//! loses nothing acknowledged. Runs on the three-primary cluster scripts/test starts.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use engine::testing::{
    BILL, Settings, eventually, fresh_postgres_database, provider, receiver, redis_cluster,
    try_submit, unique_name,
};
use entity::webhook::{self, WebhookStatus};
use sea_orm::{ColumnTrait, Database, EntityTrait, PaginatorTrait, QueryFilter};

use super::worker_command;

/// Shards per queue: several slots per queue, so a queue's shards lie on several primaries.
const SHARDS: &str = "4";
/// Slots moved at the least.
const MOVED_SLOTS: usize = 2_000;
/// Submissions at the least, however fast the resharding goes.
const AT_LEAST: usize = 200;

/// `redis-cli` against node `node` (`host:port`), its standard output.
fn redis_cli(node: &str, args: &[&str]) -> String {
    let (host, port) = node.rsplit_once(':').expect("host:port");
    let out = std::process::Command::new("redis-cli")
        .args(["-h", host, "-p", port])
        .args(args)
        .output()
        .expect("run redis-cli");
    assert!(out.status.success(), "redis-cli {args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

/// A primary as `node` sees it: its id, `host:port` and slot ranges.
type Primary = (String, String, Vec<(u16, u16)>);

/// The primaries as `node` sees them.
fn primaries(node: &str) -> Vec<Primary> {
    redis_cli(node, &["CLUSTER", "NODES"])
        .lines()
        .filter(|line| line.contains("master"))
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let address = fields[1].split('@').next().unwrap().to_owned();
            let ranges = fields[8..]
                .iter()
                .filter(|range| !range.starts_with('['))
                .map(|range| match range.split_once('-') {
                    Some((from, to)) => (from.parse().unwrap(), to.parse().unwrap()),
                    None => (range.parse().unwrap(), range.parse().unwrap()),
                })
                .collect();
            (fields[0].to_owned(), address, ranges)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resharding_while_webhooks_flow_loses_nothing_acknowledged() {
    let (cluster, nodes) = redis_cluster();
    let database_url = fresh_postgres_database().await;
    let prefix = unique_name();
    let providers = provider(&["/gas"], BILL, Duration::from_millis(5)).await;
    let receiver = receiver(200).await;
    let mut settings = Settings::on(&database_url, Some(&cluster), &prefix);
    settings.store.queue_shards = SHARDS.parse().unwrap();
    let (db, queue) = super::connect_stores(&settings).await;
    // No sweeper: it would queue again a job the cluster lost, and hide the loss.
    let mut worker = worker_command(&database_url, &cluster, &prefix)
        .env("QUEUE_SHARDS", SHARDS)
        .env("SWEEP_INTERVAL", "24h")
        .env("PROVIDERS", format!("gas={}/gas", providers.uri()))
        .env("CALLBACK_ALLOW_PRIVATE", "true")
        .spawn()
        .expect("start the worker binary");

    // The primary that holds the first collect shard gives another its slots, up to that
    // shard's and at least `MOVED_SLOTS` of them (redis-cli moves a source's lowest first).
    let slot: u16 = redis_cli(
        &nodes[0],
        &["CLUSTER", "KEYSLOT", &format!("{{{prefix}:collect:0}}")],
    )
    .trim()
    .parse()
    .unwrap();
    let all = primaries(&nodes[0]);
    let source = all
        .iter()
        .find(|(_, _, ranges)| ranges.iter().any(|(a, b)| (*a..=*b).contains(&slot)))
        .expect("a primary holds the slot");
    let target = all
        .iter()
        .find(|(id, _, _)| *id != source.0)
        .expect("another primary");
    let mut owned: Vec<u16> = source.2.iter().flat_map(|(a, b)| *a..=*b).collect();
    owned.sort_unstable();
    let upto = owned.iter().position(|s| *s == slot).unwrap() + 1;
    let count = upto.max(MOVED_SLOTS.min(owned.len()));
    let mut reshard = tokio::process::Command::new("redis-cli")
        .args(["--cluster", "reshard", &source.1])
        .args(["--cluster-from", &source.0, "--cluster-to", &target.0])
        .args(["--cluster-slots", &count.to_string(), "--cluster-yes"])
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start redis-cli --cluster reshard");

    // Submissions go on while the slots move, and a while after.
    let started = Instant::now();
    let (mut accepted, mut refused) = (Vec::new(), 0);
    let mut resharded = None;
    while resharded.is_none() || accepted.len() < AT_LEAST {
        let webhooks = &settings.worker.webhooks;
        let callback = receiver.uri();
        let batch = (0..5).map(|_| try_submit(&db, &queue, webhooks, &["gas"], &callback));
        for submitted in futures::future::join_all(batch).await {
            match submitted {
                Ok(id) => accepted.push(id),
                // Refused with an error, not acknowledged: the client would try again.
                Err(_) => refused += 1,
            }
        }
        if resharded.is_none() {
            resharded = reshard.try_wait().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let resharded = resharded.unwrap();
    assert!(resharded.success(), "the resharding finished: {resharded}");
    // As the target itself sees it (the others hear of it by gossip).
    let arrived = eventually(Duration::from_secs(10), async || {
        primaries(&target.1).iter().any(|(id, _, ranges)| {
            *id == target.0 && ranges.iter().any(|(a, b)| (*a..=*b).contains(&slot))
        })
    })
    .await;
    assert!(arrived, "slot {slot} moved to {}", target.1);

    eprintln!(
        "moved {count} slots from {} to {} in {:?}; {} submissions acknowledged, {refused} refused",
        source.1,
        target.1,
        started.elapsed(),
        accepted.len()
    );
    let results = Database::connect(&database_url).await.unwrap();
    let ids: Vec<String> = accepted.clone();
    let all_delivered = eventually(Duration::from_secs(180), async || {
        let delivered = webhook::Entity::find()
            .filter(webhook::Column::Id.is_in(ids.clone()))
            .filter(webhook::Column::Status.eq(WebhookStatus::Delivered))
            .count(&results)
            .await
            .unwrap();
        delivered as usize == ids.len()
    })
    .await;
    super::terminate(&mut worker).await;
    if !all_delivered {
        let left: Vec<(String, WebhookStatus)> = webhook::Entity::find()
            .filter(webhook::Column::Id.is_in(ids.clone()))
            .filter(webhook::Column::Status.ne(WebhookStatus::Delivered))
            .all(&results)
            .await
            .unwrap()
            .into_iter()
            .map(|w| (w.id, w.status))
            .collect();
        panic!(
            "{} of {} acknowledged submissions not delivered: {left:?}",
            left.len(),
            accepted.len()
        );
    }
    // Each callback names its webhook: every acknowledged one reached the receiver.
    let received: HashSet<String> = receiver
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter_map(|request| {
            let body: serde_json::Value = serde_json::from_slice(&request.body).ok()?;
            body["id"].as_str().map(str::to_owned)
        })
        .collect();
    let missing: Vec<&String> = accepted
        .iter()
        .filter(|id| !received.contains(*id))
        .collect();
    assert!(missing.is_empty(), "callbacks missing for {missing:?}");
}
