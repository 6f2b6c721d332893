//! The one Redis connection type every Redis user of a process shares: a connection
//! manager on one Redis server, or a cluster connection on a Redis Cluster.
//!
//! On a cluster, every multi-key script and pipeline of ours touches one hash slot (the
//! keys carry hash tags, `keys`). apalis-redis does too, with one exception this adapter
//! takes care of: its worker registration script also writes the fixed key
//! `core:apalis:queues:list`, which lies in another slot, and a cluster refuses a script
//! that reaches outside its keys' slot. On a cluster the adapter runs an equivalent
//! registration that keeps to the queue's slot, then records the queue in that list with a
//! command of its own.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo};
use redis::{Cmd, IntoConnectionInfo, Pipeline, ProtocolVersion, RedisError, RedisFuture, Value};

/// The URL scheme that names a cluster by its seed nodes: `redis+cluster://h:p,h:p/`.
pub const CLUSTER_SCHEME: &str = "redis+cluster";

/// apalis's worker registration, kept to the queue's slot. KEYS: the queue's workers set,
/// the worker's metadata hash; ARGV: now, the worker, the orphan threshold (s), the
/// backend's name, the service. A worker still beating within the threshold is refused,
/// as apalis refuses it.
const REGISTER_WORKER: &str = r#"
local seen = redis.call('ZSCORE', KEYS[1], ARGV[2])
if seen and tonumber(ARGV[1]) - tonumber(seen) < tonumber(ARGV[3]) then
  return redis.error_reply('worker is still active within threshold')
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], 'backend_name', ARGV[4], 'service', ARGV[5])
return 1
"#;

/// Where apalis lists its queues (read only by its own listing queries).
const APALIS_QUEUES_LIST: &str = "core:apalis:queues:list";

/// A Redis connection: one server or a cluster. Cheap to clone; clones share the
/// connection.
#[derive(Clone)]
pub enum RedisConnection {
    /// One Redis server, multiplexed, reconnecting on its own.
    Single(ConnectionManager),
    /// A Redis Cluster, connected on first use.
    Cluster(Arc<LazyCluster>),
}

/// A cluster connection made on first use, so a process can start while the cluster is
/// still down; a failed attempt is retried by the next command. redis-rs's cluster
/// connection can stay broken after a run of timeouts (seen here while slots migrated
/// under load: every command timed out for minutes after the cluster was fine again), so
/// after `DISCARD_AFTER` failures in a row that look like a dead link it is dropped and the
/// next command connects afresh.
pub struct LazyCluster {
    client: ClusterClient,
    timeout: Duration,
    conn: RwLock<Option<(u64, ClusterConnection)>>,
    connecting: tokio::sync::Mutex<Connecting>,
    failures: AtomicU32,
}

/// The connection attempts so far: the last generation made, and when the last attempt
/// failed, so that callers who queued behind a failed attempt fail at once instead of each
/// trying again in turn.
struct Connecting {
    generation: u64,
    failed_at: Option<std::time::Instant>,
}

/// How long after a failed attempt to connect callers fail without trying again.
const CONNECT_PAUSE: Duration = Duration::from_millis(500);

/// Failures in a row, each a timeout or a dropped link, after which a cluster connection
/// is made afresh.
const DISCARD_AFTER: u32 = 3;

impl LazyCluster {
    /// The current connection and its generation, made if there is none.
    async fn connection(&self) -> Result<(u64, ClusterConnection), RedisError> {
        if let Some(current) = self.current() {
            return Ok(current);
        }
        let mut connecting = self.connecting.lock().await;
        if let Some(current) = self.current() {
            return Ok(current);
        }
        if connecting
            .failed_at
            .is_some_and(|at| at.elapsed() < CONNECT_PAUSE)
        {
            return Err(RedisError::from(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "the redis cluster could not be reached a moment ago",
            )));
        }
        // Connecting can hang on a node that does not answer: bounded here.
        let made = tokio::time::timeout(self.timeout, self.client.get_async_connection())
            .await
            .map_err(|_| {
                RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connecting to the redis cluster timed out",
                ))
            })
            .and_then(|made| made);
        let conn = match made {
            Ok(conn) => conn,
            Err(error) => {
                connecting.failed_at = Some(std::time::Instant::now());
                return Err(error);
            }
        };
        connecting.generation += 1;
        connecting.failed_at = None;
        let current = (connecting.generation, conn);
        *self.conn.write().unwrap_or_else(|e| e.into_inner()) = Some(current.clone());
        self.failures.store(0, Ordering::Relaxed);
        Ok(current)
    }

    fn current(&self) -> Option<(u64, ClusterConnection)> {
        self.conn.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Counts the outcome of a command on connection `generation`; drops that connection
    /// after `DISCARD_AFTER` dead-link failures in a row.
    fn outcome<T>(&self, generation: u64, result: &Result<T, RedisError>) {
        // What a connection already dropped answers says nothing of the current one.
        if self
            .current()
            .is_none_or(|(current, _)| current != generation)
        {
            return;
        }
        let Err(error) = result else {
            self.failures.store(0, Ordering::Relaxed);
            return;
        };
        let dead_link = error.is_timeout()
            || error.is_io_error()
            || error.is_connection_dropped()
            || error.is_connection_refusal();
        if !dead_link || self.failures.fetch_add(1, Ordering::Relaxed) + 1 < DISCARD_AFTER {
            return;
        }
        let mut conn = self.conn.write().unwrap_or_else(|e| e.into_inner());
        if conn
            .as_ref()
            .is_some_and(|(current, _)| *current == generation)
        {
            tracing::warn!(%error, "redis cluster connection keeps failing; connecting afresh");
            *conn = None;
            self.failures.store(0, Ordering::Relaxed);
        }
    }
}

/// The seed nodes of a cluster URL (`redis+cluster://[user:pass@]h:p,h:p[/]`), each as a
/// `redis://` URL with the same credentials; `None` when `url` is not one.
pub fn cluster_nodes(url: &str) -> Option<Vec<String>> {
    let rest = url.strip_prefix(CLUSTER_SCHEME)?.strip_prefix("://")?;
    let (auth, hosts) = match rest.rsplit_once('@') {
        Some((auth, hosts)) => (format!("{auth}@"), hosts),
        None => (String::new(), rest),
    };
    let hosts = hosts.trim_end_matches('/');
    Some(
        hosts
            .split(',')
            .filter(|host| !host.is_empty())
            .map(|host| format!("redis://{auth}{host}/"))
            .collect(),
    )
}

/// Opens a connection to the Redis at `url`, or to the cluster it names (a
/// `redis+cluster://` URL, or any URL with `cluster` set, its host a seed node). Commands
/// fail after `timeout` instead of redis-rs's 500 ms default, and the connection is made
/// lazily so a process can start while Redis is still down. It speaks RESP3: a connection
/// manager then hears its connection close (a Redis restart) and reconnects at once, where
/// over RESP2 it learns only when a command (a request's) fails on the dead connection.
pub fn connect(url: &str, timeout: Duration, cluster: bool) -> Result<RedisConnection, RedisError> {
    let nodes = match cluster_nodes(url) {
        Some(nodes) => Some(nodes),
        None if cluster => Some(vec![url.to_owned()]),
        None => None,
    };
    if let Some(nodes) = nodes {
        let client = ClusterClient::builder(nodes)
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .retries(4)
            .min_retry_wait(50)
            .max_retry_wait(1_000)
            .use_protocol(ProtocolVersion::RESP3)
            .build()?;
        return Ok(RedisConnection::Cluster(Arc::new(LazyCluster {
            client,
            timeout,
            conn: RwLock::new(None),
            connecting: tokio::sync::Mutex::new(Connecting {
                generation: 0,
                failed_at: None,
            }),
            failures: AtomicU32::new(0),
        })));
    }
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(timeout))
        .set_connection_timeout(Some(timeout))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_secs(1));
    let info = url.into_connection_info()?;
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    let client = redis::Client::open(info.set_redis_settings(settings))?;
    Ok(RedisConnection::Single(
        ConnectionManager::new_lazy_with_config(client, config)?,
    ))
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedisConnection::Single(_) => f.write_str("RedisConnection::Single"),
            RedisConnection::Cluster(_) => f.write_str("RedisConnection::Cluster"),
        }
    }
}

impl RedisConnection {
    /// Whether this is a cluster connection.
    pub fn is_cluster(&self) -> bool {
        matches!(self, RedisConnection::Cluster(_))
    }

    /// Runs `cmd` on every primary (the one server, or each cluster primary); returns
    /// each one's answer.
    pub async fn on_every_primary(&self, cmd: Cmd) -> Result<Vec<Value>, RedisError> {
        match self {
            RedisConnection::Single(conn) => {
                let answer = cmd.query_async(&mut conn.clone()).await?;
                Ok(vec![answer])
            }
            RedisConnection::Cluster(lazy) => {
                let (generation, mut conn) = lazy.connection().await?;
                let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
                let answer = conn.route_command(cmd, routing).await;
                lazy.outcome(generation, &answer);
                match answer? {
                    Value::Map(answers) => Ok(answers.into_iter().map(|(_, v)| v).collect()),
                    other => Ok(vec![other]),
                }
            }
        }
    }
}

/// The keys and arguments of apalis's worker registration, when `cmd` is that script's
/// call: `EVALSHA <sha> 2 <queue>:workers <queue>:workers:metadata:<worker> <now> <worker>
/// <threshold> RedisStorage <service>`.
fn apalis_registration(cmd: &Cmd) -> Option<Vec<&[u8]>> {
    let args: Vec<&[u8]> = cmd
        .args_iter()
        .map(|arg| match arg {
            redis::Arg::Simple(bytes) => bytes,
            _ => b"".as_slice(),
        })
        .collect();
    let [eval, _sha, keys, workers, metadata, _, _, _, backend, _] = args.as_slice() else {
        return None;
    };
    let is_registration = eval.eq_ignore_ascii_case(b"EVALSHA")
        && *keys == b"2"
        && workers.ends_with(b":workers")
        && metadata.starts_with(workers)
        && metadata[workers.len()..].starts_with(b":metadata:")
        && *backend == b"RedisStorage";
    is_registration.then_some(args)
}

/// Registers an apalis worker on a cluster, in the queue's slot only (see the module).
async fn register_on_cluster(
    conn: &mut ClusterConnection,
    args: &[&[u8]],
) -> Result<Value, RedisError> {
    static SCRIPT: std::sync::LazyLock<redis::Script> =
        std::sync::LazyLock::new(|| redis::Script::new(REGISTER_WORKER));
    let mut invocation = SCRIPT.prepare_invoke();
    invocation.key(args[3]).key(args[4]);
    for arg in &args[5..] {
        invocation.arg(*arg);
    }
    let answer: Value = invocation.invoke_async(conn).await?;
    // Only apalis's own listing reads this list: the worker is registered without it.
    let listed = redis::cmd("ZADD")
        .arg(APALIS_QUEUES_LIST)
        .arg("GT")
        .arg(args[5])
        .arg(args[3])
        .query_async::<()>(conn)
        .await;
    if let Err(error) = listed {
        tracing::debug!(%error, "could not list the queue in apalis's list of queues");
    }
    Ok(answer)
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConnection::Single(conn) => conn.req_packed_command(cmd),
            RedisConnection::Cluster(lazy) => Box::pin(async move {
                let (generation, mut conn) = lazy.connection().await?;
                let answer = match apalis_registration(cmd) {
                    Some(args) => register_on_cluster(&mut conn, &args).await,
                    None => conn.req_packed_command(cmd).await,
                };
                lazy.outcome(generation, &answer);
                answer
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConnection::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            RedisConnection::Cluster(lazy) => Box::pin(async move {
                let (generation, mut conn) = lazy.connection().await?;
                let answer = conn.req_packed_commands(pipeline, offset, count).await;
                lazy.outcome(generation, &answer);
                answer
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConnection::Single(conn) => conn.get_db(),
            RedisConnection::Cluster(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_url_names_its_seed_nodes_with_their_credentials() {
        assert_eq!(
            cluster_nodes("redis+cluster://u:p@127.0.0.1:7000,127.0.0.1:7001/"),
            Some(vec![
                "redis://u:p@127.0.0.1:7000/".to_owned(),
                "redis://u:p@127.0.0.1:7001/".to_owned()
            ])
        );
        assert_eq!(
            cluster_nodes("redis+cluster://h:1"),
            Some(vec!["redis://h:1/".to_owned()])
        );
        assert_eq!(cluster_nodes("redis://h:1/"), None);
    }

    #[test]
    fn only_apalis_worker_registration_is_taken_over() {
        let mut registration = redis::cmd("EVALSHA");
        registration
            .arg("abc")
            .arg(2)
            .arg("{p:collect}:workers")
            .arg("{p:collect}:workers:metadata:w-1")
            .arg(1_700_000_000)
            .arg("w-1")
            .arg(30)
            .arg("RedisStorage")
            .arg("svc");
        let args = apalis_registration(&registration).expect("a registration");
        assert_eq!(args[3], b"{p:collect}:workers");
        let mut other = redis::cmd("EVALSHA");
        other
            .arg("abc")
            .arg(2)
            .arg("{p:collect}:active")
            .arg("{p:collect}:data")
            .arg(1)
            .arg(2)
            .arg(3)
            .arg(4)
            .arg(5);
        assert!(apalis_registration(&other).is_none());
        assert!(apalis_registration(&redis::cmd("PING")).is_none());
    }
}
