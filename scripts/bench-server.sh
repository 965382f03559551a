#!/usr/bin/env bash
# npm run bench:server: the sync server's throughput and latency, in one run: GET and If-Match
# PUT at 64 connections over 1,000 sessions on memory, Redis and Redis Cluster; beside them
# redis-benchmark at the same concurrency on the same Redis (GET of a session's key, and EVALSHA
# of the server's own commit script), and a bare hello-world on the server's own serving; then
# the hot-key storm (64 writers CAS-incrementing 8 sessions) on each storage, whose counters
# must equal its 200 answers. Prints a Markdown table; the figures and where the time goes are
# in BENCHMARKS.md ("Sync server").
#   CONNS=64 SECS=5 npm run bench:server
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH" CARGO_TERM_COLOR=never
CONNS=${CONNS:-64}
SECS=${SECS:-5}

command -v redis-server >/dev/null || bash scripts/setup.sh --redis
cargo build --quiet --profile server -p wasm-session-store-server --bin wss-server --example bench
bench=target/server/examples/bench
server=target/server/wss-server
source scripts/redis.sh
redis_begin
start_standalone
start_cluster
results=target/bench-server.jsonl
: >"$results"

# Starts "$@" (a server that prints `listening on URL`), sets url and pid.
serve() {
  "$@" >"$redis_tmp/serve.out" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do
    url=$(sed -n 's/^listening on //p' "$redis_tmp/serve.out")
    [ -n "$url" ] && return 0
    sleep 0.1
  done
  cat "$redis_tmp/serve.out" >&2
  exit 1
}

load() { # label mode
  echo "bench-server: $1 $2 (${CONNS} connections, ${SECS} s)" >&2
  "$bench" load "$url" "$2" "$CONNS" "$SECS" | sed "s/^{/{\"label\":\"$1\",/" >>"$results"
}

serve "$bench" hello-server
load hello hello
kill "$pid"
serve "$server" --insecure-dev --listen 127.0.0.1:0
for mode in get put storm; do load memory "$mode"; done
kill "$pid"
serve "$server" --insecure-dev --listen 127.0.0.1:0 --redis "$REDIS_URL"
for mode in get put storm; do load redis "$mode"; done
kill "$pid"
serve "$server" --insecure-dev --listen 127.0.0.1:0 --redis-cluster "$REDIS_CLUSTER_URLS"
for mode in get put storm; do load cluster "$mode"; done
kill "$pid"

# redis-benchmark on the same Redis, at the same concurrency: GET of a session the loads wrote
# (owner dev = ZGV2), and the commit script as a create writes it (a GETRANGE of an absent key,
# a SET of ~200 bytes, the index, the feed). The value is plain letters: redis-benchmark's CSV
# names the test by its command line.
redis_bench() { # mode requests args...
  local mode=$1 n=$2
  shift 2
  echo "bench-server: redis-benchmark $mode" >&2
  redis-benchmark -p "$REDIS_PORT" -c "$CONNS" -n "$n" -r 1000000 --csv "$@" | tail -n 1 |
    awk -F'"' -v label=redis-benchmark -v mode="$mode" -v conns="$CONNS" \
      '{ printf "{\"label\":\"%s\",\"mode\":\"%s\",\"conns\":%s,\"rps\":%s,\"p50_us\":%d,\"p99_us\":%d,\"errors\":0}\n", label, mode, conns, $4, $10 * 1000, $14 * 1000 }' >>"$results"
}
redis_bench get 400000 GET 'wss:{ZGV2}:bench:s:s1'
sha=$(redis-cli -p "$REDIS_PORT" SCRIPT LOAD "$("$bench" commit-script)")
record=$(printf 'v%.0s' $(seq 200))
redis_bench put 200000 EVALSHA "$sha" 5 'wss:{b}:x:ids' 'wss:{b}:x:feed' 'wss:{b}:x:seq' \
  'wss:{b}:x:s:__rand_int__' 'wss:{b}:x:s:__rand_int__' 1 1 0 10000 EEEEEEEEEEEEEEEEEEEEEE 1 0 1 \
  '' "$record" '' id '' id etag

"$bench" report "$results"
