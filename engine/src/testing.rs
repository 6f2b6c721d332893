//! Helpers for tests against the real servers that `scripts/test` starts; compiled only
//! with the `testing` feature, which only tests enable.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use sea_orm::{ConnectionTrait, Database};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

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
