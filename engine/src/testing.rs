//! Helpers for tests against the real servers that `scripts/test` starts; compiled only
//! with the `testing` feature, which only tests enable.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

use crate::config::{StoreConfig, WebhookConfig, WorkerConfig};
use crate::context::JobContext;
use crate::delivery::address::CallbackUrl;
use crate::dependencies::Dependencies;
use crate::queue::Queue;
use crate::webhooks::{self, NewWebhook};

/// The callback signing secret (`WEBHOOK_SECRET`) of every test deployment.
pub const TEST_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Which stores a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Postgres + Redis, as in production.
    Production,
    /// One SQLite file for data and queue, as the embedded demo.
    Embedded,
}

/// Declares one `#[tokio::test]` per `Mode` for `async fn $name(mode: Mode)`.
#[macro_export]
macro_rules! both_modes {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn production() {
                super::$name($crate::testing::Mode::Production).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                super::$name($crate::testing::Mode::Embedded).await
            }
        }
    };
}

/// The Postgres server the test script started (an admin URL).
pub fn postgres_url() -> String {
    std::env::var("DATABASE_URL")
        .expect("DATABASE_URL must point at a Postgres server: run the tests with scripts/test")
}

/// The Redis server the test script started.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL")
        .expect("REDIS_URL must point at a Redis server: run the tests with scripts/test")
}

/// The Redis Cluster the test script started (`redis+cluster://…`), and its primaries'
/// `host:port`.
pub fn redis_cluster() -> (String, Vec<String>) {
    let url = std::env::var("CLUSTER_REDIS_URL")
        .expect("CLUSTER_REDIS_URL must name a Redis Cluster: run the tests with scripts/test");
    let nodes = std::env::var("CLUSTER_NODES")
        .expect("CLUSTER_NODES must list the cluster's primaries: run the tests with scripts/test");
    (url, nodes.split_whitespace().map(str::to_owned).collect())
}

/// A unique lowercase name for this test's database and key prefix.
pub fn unique_name() -> String {
    format!("t_{}", ulid::Ulid::generate().to_string().to_lowercase())
}

/// Creates a fresh Postgres database and returns its URL.
pub async fn fresh_postgres_database() -> String {
    let admin_url = postgres_url();
    let admin = Database::connect(&admin_url)
        .await
        .expect("connect to Postgres");
    let name = unique_name();
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create test database");
    admin.close().await.ok();
    let base = admin_url
        .rsplit_once('/')
        .expect("a database URL with a path")
        .0;
    format!("{base}/{name}")
}

/// A TCP proxy in front of a server, which a test can cut to simulate an outage and
/// restore, on the same address, to end it.
pub struct Proxy {
    /// Where to connect to reach the server through the proxy.
    pub addr: SocketAddr,
    target: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    /// Proxies to `target` (`host:port`).
    pub async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let proxy = Proxy {
            addr,
            target,
            tasks: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let registry = self.tasks.clone();
        let target = self.target.clone();
        let acceptor = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                registry
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(pipe);
            }
        });
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(acceptor);
    }

    /// Stops accepting and drops every open connection, as a dead server would.
    pub fn cut(&self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }

    /// Accepts connections again on the same address, as a server back from an outage.
    pub async fn restore(&self) {
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("bind the proxy's address again");
        self.serve(listener);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// `host:port` of a `redis://host:port/...` URL.
pub fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

/// A test's store and worker settings: the defaults of the flags, as a process has them.
#[derive(Debug, Parser)]
pub struct Settings {
    /// Where the state lives.
    #[command(flatten)]
    pub store: StoreConfig,
    /// The workers and their schedules.
    #[command(flatten)]
    pub worker: WorkerConfig,
}

impl Settings {
    /// The defaults on `database_url` and, unless embedded (`None`), Redis at `redis_url`
    /// under key prefix `prefix`; migrations are applied on connect.
    pub fn on(database_url: &str, redis_url: Option<&str>, prefix: &str) -> Settings {
        let args = [
            "test",
            "--database-url",
            database_url,
            "--redis-prefix",
            prefix,
            "--migrate",
            "true",
        ];
        let mut settings = Settings::try_parse_from(args).expect("test settings");
        // Set either way: clap would take an unset one from the environment, which the test
        // script fills with its own REDIS_URL.
        settings.store.redis_url = redis_url.map(|url| url.to_owned().into());
        settings
    }
}

/// Runs every worker and scheduler on `ctx` in this process, until the guard drops.
pub fn run_workers(ctx: JobContext) -> WorkerGuard {
    spawn_runtime(async move { ctx })
}

/// Runs the workers of another worker process in this one, on their own connections to
/// `store`, until the guard drops.
pub fn spawn_worker(store: StoreConfig, worker: WorkerConfig) -> WorkerGuard {
    spawn_runtime(async move {
        let db = crate::db::connect(&store, crate::db::Use::Jobs)
            .await
            .expect("database");
        JobContext::connect(db, &store, worker)
            .await
            .expect("job context")
    })
}

fn spawn_runtime(ctx: impl Future<Output = JobContext> + Send + 'static) -> WorkerGuard {
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        let ctx = ctx.await;
        let deps = Dependencies::watch(ctx.db.clone(), ctx.queue.redis(), token.child_token());
        crate::runtime::run(ctx, deps, token)
            .await
            .expect("workers");
    });
    WorkerGuard(stop)
}

/// Stops the workers it was returned with when dropped.
pub struct WorkerGuard(CancellationToken);

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Submits a webhook collecting `providers` for `callback` (private addresses allowed), as
/// the api would; its id.
pub async fn submit(
    db: &DatabaseConnection,
    queue: &Queue,
    config: &WebhookConfig,
    providers: &[&str],
    callback: &str,
) -> String {
    match try_submit(db, queue, config, providers, callback).await {
        Ok(id) => id,
        Err(error) => panic!("a new webhook: {error}"),
    }
}

/// Submits a webhook as `submit` does; its id, or why it was not accepted.
pub async fn try_submit(
    db: &DatabaseConnection,
    queue: &Queue,
    config: &WebhookConfig,
    providers: &[&str],
    callback: &str,
) -> Result<String, String> {
    let new = NewWebhook {
        tenant_id: crate::tenants::DEFAULT_TENANT.into(),
        providers: providers.iter().map(|&p| p.to_owned()).collect(),
        callback_url: CallbackUrl::parse(callback, true).expect("a callback URL"),
        wait_until: None,
        ordering_key: None,
        traceparent: None,
    };
    let inserts = webhooks::inserts::Inserts::new(db);
    // Without turns: the jobs tests each have one tenant.
    let turns = crate::flow::Turns::new(0, crate::flow::Controls::new(db), None, "");
    match webhooks::submit(&inserts, queue, &turns, config, new).await {
        Ok(created) => Ok(created.id),
        other => Err(format!("{other:?}")),
    }
}

/// A provider's answer of one bill.
pub const BILL: &str = r#"[{"amount": 1}]"#;

/// A provider server on loopback answering `body` at each of `routes` after `delay`; a
/// test's own mocks on these routes take precedence.
pub async fn provider(routes: &[&str], body: &str, delay: Duration) -> MockServer {
    let server = MockServer::start().await;
    for &route in routes {
        Mock::given(path(route))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw(body.to_owned(), "application/json")
                    .set_delay(delay),
            )
            .with_priority(10)
            .mount(&server)
            .await;
    }
    server
}

/// How many requests `server` got at `route`.
pub async fn requests_to(server: &MockServer, route: &str) -> usize {
    let requests = server.received_requests().await.unwrap_or_default();
    requests.iter().filter(|r| r.url.path() == route).count()
}

/// The body of every answer of `receiver`, as the attempt records keep it.
pub const RECEIVER_BODY: &str = "thanks";

/// A callback receiver on loopback answering every POST with `status`.
pub async fn receiver(status: u16) -> MockServer {
    receiver_answering(ResponseTemplate::new(status).set_body_string(RECEIVER_BODY)).await
}

/// A callback receiver on loopback answering every POST with `response`.
pub async fn receiver_answering(response: impl Respond + 'static) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(response)
        .mount(&server)
        .await;
    server
}

/// Panics if `text` (named `what` in the message) contains one of `secrets`.
pub fn assert_no_secret(text: &str, what: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!text.contains(secret), "{what} shows a secret:\n{text}");
    }
}

/// Polls `check` until it holds (true) or `deadline` passes (false).
pub async fn eventually<F: AsyncFn() -> bool>(deadline: Duration, check: F) -> bool {
    let until = Instant::now() + deadline;
    while Instant::now() < until {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// `n` counter increments, positive and negative, over `keys` keys named `{prefix}-{i}`;
/// and each key's exact sum, where it is not zero.
pub fn counter_workload(
    prefix: &str,
    n: usize,
    keys: usize,
) -> (Vec<(String, i64)>, BTreeMap<String, i64>) {
    let mut sums = BTreeMap::new();
    let increments: Vec<(String, i64)> = (0..n)
        .map(|i| {
            let key = format!("{prefix}-{}", i % keys);
            let value = (i as i64 * 7919) % 1001 - 500;
            *sums.entry(key.clone()).or_insert(0) += value;
            (key, value)
        })
        .collect();
    sums.retain(|_, sum| *sum != 0);
    (increments, sums)
}
