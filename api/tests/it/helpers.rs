//! `TestApp`: one API per test, with its own database and Redis key prefix.

use api::config::ApiConfig;
use api::server::ServeError;
use clap::Parser;
use sea_orm::{Database, DatabaseConnection};
use secrecy::ExposeSecret;
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use engine::counters::CounterBuffer;
pub use engine::testing::{
    Mode, Proxy, TEST_SECRET, WorkerGuard, fresh_postgres_database, host_port, redis_url,
    unique_name,
};
use tokio_util::sync::CancellationToken;

/// A running API and what it was started with. Embedded, it runs its own workers; in
/// production mode a test starts them with `workers` or `spawn_worker`.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// A client with a timeout.
    pub client: reqwest::Client,
    /// The configuration the app runs with.
    pub config: ApiConfig,
    shutdown: CancellationToken,
    server: Option<JoinHandle<Result<(), ServeError>>>,
    dir: Option<Arc<tempfile::TempDir>>,
}

impl TestApp {
    /// Starts an app in `mode` with defaults suited to tests, then applies `tweak`; returns
    /// once it serves every route.
    pub async fn spawn_with(mode: Mode, tweak: impl FnOnce(&mut ApiConfig)) -> TestApp {
        let app = Self::launch(mode, tweak).await;
        app.wait_until_serving(api::routes::OPENAPI_PATH).await;
        app
    }

    /// Like `spawn_with`, but returns as soon as the process answers `/health`: before its
    /// database has answered, if it does not yet.
    pub async fn spawn_starting_with(mode: Mode, tweak: impl FnOnce(&mut ApiConfig)) -> TestApp {
        let app = Self::launch(mode, tweak).await;
        app.wait_until_serving("/health").await;
        app
    }

    async fn launch(mode: Mode, tweak: impl FnOnce(&mut ApiConfig)) -> TestApp {
        let mut config = ApiConfig::try_parse_from(["api"]).expect("default configuration");
        config.store.database_max_connections = 5;
        config.store.redis_prefix = unique_name();
        config.http.api_keys.clear();
        // Open, as the embedded demo; the tenant tests turn keys on.
        config.tenants.auth_disabled = true;
        // Load tests send thousands a second; the rate-limit tests set their tenants' own.
        config.tenants.rate_limit_per_second = 1_000_000;
        // Tests flush and vacuum by hand; the ones about schedules set their own interval.
        config.worker.counter_flush_interval = Duration::from_secs(24 * 3600);
        config.worker.maintenance.vacuum_interval = Duration::from_secs(24 * 3600);
        config.worker.maintenance.sweep_interval = Duration::from_secs(24 * 3600);
        config.worker.webhooks.webhook_secret = Some(TEST_SECRET.into());
        // Providers and receivers are wiremock servers on loopback.
        config.worker.webhooks.callback_allow_private = Some(true);
        config.worker.webhooks.delivery_jitter = 0.0;
        let dir = match mode {
            Mode::Production => {
                config.store.database_url = fresh_postgres_database().await.into();
                config.store.redis_url = Some(redis_url().into());
                None
            }
            Mode::Embedded => {
                let dir = tempfile::tempdir().expect("temporary directory");
                config.store.database_url =
                    format!("sqlite://{}/datahog.db?mode=rwc", dir.path().display()).into();
                config.store.redis_url = None;
                Some(dir)
            }
        };
        tweak(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(api::server::run(config.clone(), listener, shutdown.clone()));
        TestApp {
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(20))
                .build()
                .expect("client"),
            config,
            shutdown,
            server: Some(server),
            dir: dir.map(Arc::new),
        }
    }

    /// Starts an app in `mode` with the test defaults.
    pub async fn spawn(mode: Mode) -> TestApp {
        Self::spawn_with(mode, |_| {}).await
    }

    /// Waits until `path` answers 200.
    async fn wait_until_serving(&self, path: &str) {
        for _ in 0..600 {
            let response = self.client.get(self.url(path)).send().await;
            if response.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            if self.server.as_ref().is_some_and(|s| s.is_finished()) {
                panic!("the app stopped during start-up");
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the app did not start serving");
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GETs `path`.
    async fn get(&self, path: &str) -> reqwest::Response {
        let request = self.client.get(self.url(path));
        request.send().await.expect("request")
    }

    /// GETs `path`, returning the status and the JSON body.
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self.get(path).await;
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON body"))
    }

    /// POSTs `body` as JSON to `path`, returning the status and the JSON body.
    pub async fn post_json(&self, path: &str, body: &str) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON body"))
    }

    /// The app's counter buffer, reached directly (as a worker does).
    pub async fn counter_buffer(&self) -> CounterBuffer {
        let redis = self.config.store.redis_url.as_ref().map(|url| {
            engine::queue::redis::connection(url.expose_secret(), Duration::from_secs(5))
                .expect("redis URL")
        });
        CounterBuffer::new(redis, &self.config.store.redis_prefix, &self.db().await)
    }

    /// Runs a counter flush, as a worker would.
    pub async fn flush_counters(&self) {
        let buffer = self.counter_buffer().await;
        engine::counters::flush::flush(&self.db().await, &buffer)
            .await
            .expect("flush");
    }

    /// Runs the workers in this process against the app's stores, until the guard drops:
    /// what a `worker` process does in production mode.
    pub fn spawn_worker(&self) -> WorkerGuard {
        engine::testing::spawn_worker(self.config.store.clone(), self.config.worker.clone())
    }

    /// In production mode, a worker for the test's lifetime; embedded runs its own.
    pub fn workers(&self) -> Option<WorkerGuard> {
        self.config
            .store
            .redis_url
            .is_some()
            .then(|| self.spawn_worker())
    }

    /// GETs `path`, returning the body as text.
    pub async fn get_text(&self, path: &str) -> String {
        let response = self.get(path).await;
        response.text().await.expect("a text body")
    }

    /// A connection to the app's own database.
    pub async fn db(&self) -> DatabaseConnection {
        Database::connect(self.config.store.database_url.expose_secret())
            .await
            .expect("connect")
    }

    /// The SQLite data directory (embedded mode), kept alive as long as the handle is.
    pub fn data_dir(&self) -> Option<Arc<tempfile::TempDir>> {
        self.dir.clone()
    }

    /// Asks the app to stop and waits for it; returns what `run` returned.
    pub async fn stop(mut self) -> Result<(), ServeError> {
        self.shutdown.cancel();
        self.server
            .take()
            .expect("running")
            .await
            .expect("server task")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A `redis-server` of the test's own, on a free loopback port, which it may kill and
/// start again; killed when dropped.
pub struct PrivateRedis {
    child: Child,
    /// `redis://127.0.0.1:PORT/`.
    pub url: String,
    port: u16,
    args: Vec<String>,
    dir: tempfile::TempDir,
}

impl PrivateRedis {
    /// Starts one with the extra `args`.
    pub fn start(args: &[&str]) -> PrivateRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = tempfile::tempdir().expect("a data directory");
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let child = Self::spawn(port, &args, &dir);
        PrivateRedis {
            child,
            url: format!("redis://127.0.0.1:{port}/"),
            port,
            args,
            dir,
        }
    }

    fn spawn(port: u16, args: &[String], dir: &tempfile::TempDir) -> Child {
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(dir.path())
            .args(args)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (scripts/test installs it)")
    }

    /// Kills it (as a crash would) and starts it again on the same port, answering.
    pub async fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Self::spawn(self.port, &self.args, &self.dir);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start again");
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
