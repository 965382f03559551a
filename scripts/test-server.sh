#!/usr/bin/env bash
# The sync server's tests (crates/server) against memory, a real redis-server and a real
# 3-master Redis Cluster, which this script starts on free ports (temporary directories, no
# persistence) and stops by PID on exit, however it exits. Redis comes from apt
# (scripts/setup.sh installs redis-server); without it this fails, loudly.
#   bash scripts/test-server.sh            every server test
#   bash scripts/test-server.sh TESTNAME   only the tests whose names contain TESTNAME
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH" CARGO_TERM_COLOR=never

for tool in redis-server redis-cli; do
  if ! command -v "$tool" >/dev/null; then
    echo "test-server: $tool is missing: run scripts/setup.sh (apt package redis-server)" >&2
    exit 1
  fi
done

tmp=$(mktemp -d)
pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap stop EXIT

# A port nobody listens on now (the kernel's pick; Redis binds it right after).
free_port() { node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'; }

# redis-server on port $1 with extra arguments, in its own directory; waits until it answers.
start_redis() {
  local port=$1
  shift
  mkdir -p "$tmp/$port"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp/$port" \
    --daemonize no "$@" >"$tmp/$port.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && return 0
    sleep 0.1
  done
  cat "$tmp/$port.log" >&2
  echo "test-server: redis-server on port $port did not start" >&2
  exit 1
}

standalone=$(free_port)
start_redis "$standalone"
nodes=()
for _ in 1 2 3; do
  port=$(free_port)
  start_redis "$port" --cluster-enabled yes --cluster-config-file "$tmp/$port/nodes.conf"
  nodes+=("127.0.0.1:$port")
done
redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$tmp/cluster.log" 2>&1 ||
  { cat "$tmp/cluster.log" >&2; echo "test-server: the cluster was not created" >&2; exit 1; }
for _ in $(seq 200); do
  ok=1
  for node in "${nodes[@]}"; do
    redis-cli -p "${node#*:}" cluster info | grep -q '^cluster_state:ok' || ok=0
  done
  [ "$ok" = 1 ] && break
  sleep 0.1
done
[ "$ok" = 1 ] || { echo "test-server: the cluster did not reach cluster_state:ok" >&2; exit 1; }

export WSS_TEST_REDIS="redis://127.0.0.1:$standalone"
WSS_TEST_REDIS_CLUSTER=$(printf 'redis://%s,' "${nodes[@]}")
export WSS_TEST_REDIS_CLUSTER=${WSS_TEST_REDIS_CLUSTER%,}
[ -n "$WSS_TEST_REDIS" ] && [ -n "$WSS_TEST_REDIS_CLUSTER" ]
echo "test-server: Redis at $WSS_TEST_REDIS; cluster at $WSS_TEST_REDIS_CLUSTER"

# Memory (the crate's unit tests, the conformance suite, the HTTP cases, the panic) and, with
# the feature, Redis and the cluster (conformance, HTTP cases, faults on Redis processes of
# their own).
cargo test -p wasm-session-store-server --features redis-tests -- "$@"
