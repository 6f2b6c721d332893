# Throwaway Postgres and Redis on free loopback ports, for scripts/test and scripts/bench.
# Source it, call `services_start`, and the EXIT trap stops them and removes their data.
# shellcheck shell=bash

log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }

tmp=$(mktemp -d -t datahog-test.XXXXXX)
pg_data=""
# The replica test's own primary and streaming replica (start_replica_pair).
pg_pair=()
redis_pid=""
# Other processes to stop on exit (scripts/bench appends its servers).
extra_pids=()
cleanup() {
  for pid in "${extra_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  local data
  for data in "$pg_data" "${pg_pair[@]}"; do
    if [[ -n "$data" && -f "$data/postmaster.pid" ]]; then
      as_pg "$pg_bin/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
    fi
  done
  if [[ -n "$redis_pid" ]]; then
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# A port nobody listens on, from a range the kernel does not hand out to clients.
free_port() {
  local port
  for _ in $(seq 1 100); do
    port=$((20000 + RANDOM % 10000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  log "no free port found"
  exit 1
}

install_packages() {
  if [[ $(id -u) -ne 0 ]]; then
    log "missing: $* — install them (Debian: sudo apt-get install -y $*) or set DATABASE_URL and REDIS_URL"
    exit 1
  fi
  log "installing $* with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Postgres refuses to run as root: run its tools as the `postgres` user then.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

find_pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -n "$dir" && -x "$dir/initdb" ]]; then
    echo "$dir"
  elif command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
  fi
}

start_postgres() {
  pg_bin=$(find_pg_bin)
  if [[ -z "$pg_bin" ]]; then
    install_packages postgresql
    pg_bin=$(find_pg_bin)
  fi
  local port
  port=$(free_port)
  pg_data="$tmp/pg"
  mkdir -p "$pg_data"
  [[ $(id -u) -eq 0 ]] && chown -R postgres: "$tmp" && chmod 755 "$tmp"
  as_pg "$pg_bin/initdb" -D "$pg_data" -U postgres --auth=trust -E UTF8 >"$tmp/initdb.log" 2>&1 \
    || { cat "$tmp/initdb.log" >&2; exit 1; }
  local options="-p $port -k $pg_data -c listen_addresses=127.0.0.1 -c max_connections=500"
  # Tests need no durability and run faster without it; benchmarks keep Postgres' defaults.
  if [[ "${PG_NO_FSYNC:-}" == 1 ]]; then
    options+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  fi
  # The benchmark counts statements per operation, BEGIN and COMMIT included.
  if [[ "${PG_STAT_STATEMENTS:-}" == 1 ]]; then
    options+=" -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track_utility=on"
  fi
  as_pg "$pg_bin/pg_ctl" -D "$pg_data" -l "$tmp/postgres.log" -w -t 60 -o "$options" \
    start >/dev/null || { cat "$tmp/postgres.log" >&2; exit 1; }
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  log "postgres on 127.0.0.1:$port"
}

# A primary and its streaming replica of their own, for the test that stops the primary
# under a replica: exports REPLICA_PRIMARY_URL and REPLICA_URL, and REPLICA_PRIMARY_STOP and
# REPLICA_PRIMARY_START, the commands that stop and start that primary.
start_replica_pair() {
  [[ -n "${pg_bin:-}" ]] || pg_bin=$(find_pg_bin)
  if [[ -z "$pg_bin" ]]; then
    install_packages postgresql
    pg_bin=$(find_pg_bin)
  fi
  local primary="$tmp/pair-primary" replica="$tmp/pair-replica" p1 p2 as=""
  p1=$(free_port)
  mkdir -p "$primary"
  [[ $(id -u) -eq 0 ]] && chown -R postgres: "$tmp" && chmod 755 "$tmp" && as="runuser -u postgres --"
  as_pg "$pg_bin/initdb" -D "$primary" -U postgres --auth=trust -E UTF8 >"$tmp/pair-initdb.log" 2>&1 \
    || { cat "$tmp/pair-initdb.log" >&2; exit 1; }
  local options="-p $p1 -k $primary -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
  as_pg "$pg_bin/pg_ctl" -D "$primary" -l "$tmp/pair-primary.log" -w -t 60 -o "$options" start >/dev/null \
    || { cat "$tmp/pair-primary.log" >&2; exit 1; }
  pg_pair+=("$primary")
  p2=$(free_port)
  as_pg "$pg_bin/pg_basebackup" -h 127.0.0.1 -p "$p1" -U postgres -D "$replica" -R -X stream \
    >"$tmp/pair-basebackup.log" 2>&1 || { cat "$tmp/pair-basebackup.log" >&2; exit 1; }
  as_pg "$pg_bin/pg_ctl" -D "$replica" -l "$tmp/pair-replica.log" -w -t 60 \
    -o "-p $p2 -k $replica -c listen_addresses=127.0.0.1" start >/dev/null \
    || { cat "$tmp/pair-replica.log" >&2; exit 1; }
  pg_pair+=("$replica")
  export REPLICA_PRIMARY_URL="postgres://postgres@127.0.0.1:$p1/postgres"
  export REPLICA_URL="postgres://postgres@127.0.0.1:$p2/postgres"
  export REPLICA_PRIMARY_STOP="$as $pg_bin/pg_ctl -D $primary -m fast -w stop"
  export REPLICA_PRIMARY_START="$as $pg_bin/pg_ctl -D $primary -l $tmp/pair-primary.log -w -t 60 -o '$options' start"
  log "postgres primary on 127.0.0.1:$p1 with a streaming replica on 127.0.0.1:$p2"
}

start_redis() {
  if ! command -v redis-server >/dev/null 2>&1; then
    install_packages redis-server
  fi
  local port
  port=$(free_port)
  redis-server --port "$port" --bind 127.0.0.1 --dir "$tmp" --save '' --appendonly no \
    --daemonize no --loglevel warning >"$tmp/redis.log" 2>&1 &
  redis_pid=$!
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      export REDIS_URL="redis://127.0.0.1:$port/"
      log "redis on 127.0.0.1:$port"
      return
    fi
    sleep 0.1
  done
  cat "$tmp/redis.log" >&2
  log "redis did not start"
  exit 1
}

# A Redis Cluster of three primaries on loopback (no replicas), for the tests that run
# against a cluster; a primary a resharding empties stays a primary; exports CLUSTER_REDIS_URL (redis+cluster://…) and CLUSTER_NODES
# (host:port of each primary, space separated).
start_redis_cluster() {
  if ! command -v redis-server >/dev/null 2>&1; then
    install_packages redis-server
  fi
  local ports=() port bus dir taken=" "
  # Distinct free ports for each node and its cluster bus (by default port + 10000, which
  # nothing checked).
  pick() {
    local p
    for _ in $(seq 1 100); do
      p=$(free_port)
      [[ "$taken" == *" $p "* ]] || { echo "$p"; return; }
    done
    log "no free port found"
    exit 1
  }
  for i in 1 2 3; do
    port=$(pick)
    taken+="$port "
    bus=$(pick)
    taken+="$bus "
    ports+=("$port")
    dir="$tmp/cluster-$i"
    mkdir -p "$dir"
    redis-server --port "$port" --cluster-port "$bus" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
      --cluster-enabled yes --cluster-config-file "$dir/nodes.conf" --cluster-node-timeout 5000 \
      --cluster-allow-replica-migration no \
      --daemonize no --loglevel warning >"$dir/redis.log" 2>&1 &
    extra_pids+=("$!")
  done
  local up
  for port in "${ports[@]}"; do
    up=""
    for _ in $(seq 1 100); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && { up=1; break; }
      sleep 0.1
    done
    [[ -n "$up" ]] || { cat "$tmp"/cluster-*/redis.log >&2; log "a redis cluster node did not start"; exit 1; }
  done
  local nodes=()
  for port in "${ports[@]}"; do nodes+=("127.0.0.1:$port"); done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$tmp/cluster-create.log" 2>&1 \
    || { cat "$tmp/cluster-create.log" >&2; log "the redis cluster was not created"; exit 1; }
  for _ in $(seq 1 100); do
    if redis-cli -p "${ports[0]}" CLUSTER INFO | grep -q '^cluster_state:ok'; then
      export CLUSTER_REDIS_URL="redis+cluster://$(IFS=,; echo "${nodes[*]}")/"
      export CLUSTER_NODES="${nodes[*]}"
      log "redis cluster of three primaries on ${nodes[*]}"
      return
    fi
    sleep 0.1
  done
  log "the redis cluster did not become ready"
  exit 1
}

# Waits until `GET ${2:-/health}` on 127.0.0.1:$1 answers 200 (the api's `/health` answers
# before its database does: its `/ready` says when it serves).
wait_healthy() {
  for _ in $(seq 1 200); do
    if curl -fs "http://127.0.0.1:$1${2:-/health}" >/dev/null 2>&1; then return; fi
    sleep 0.1
  done
  log "nothing healthy on port $1"
  exit 1
}

# Starts Postgres and Redis unless DATABASE_URL / REDIS_URL are already set; exports them.
services_start() {
  if [[ -z "${DATABASE_URL:-}" ]]; then start_postgres; else log "using DATABASE_URL from the environment"; fi
  if [[ -z "${REDIS_URL:-}" ]]; then start_redis; else log "using REDIS_URL from the environment"; fi
}
