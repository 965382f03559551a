#!/usr/bin/env bash
# npm run bench:server: the sync server's throughput and latency, in one run: GET and If-Match
# PUT at 64 connections over 1,000 sessions on memory, Redis and Redis Cluster; beside them
# redis-benchmark at the same concurrency on the same Redis (GET of a session's key, and EVALSHA
# of the server's own commit script), and a bare hello-world on the server's own serving; then
# the hot-key storm (64 writers CAS-incrementing 8 sessions) on each storage, whose counters
# must equal its 200 answers. Prints a Markdown table and puts it in BENCHMARKS.md ("Sync
# server", between its markers; the prose around it says where the time goes).
#   CONNS=64 SECS=3 ROUNDS=3 npm run bench:server
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH" CARGO_TERM_COLOR=never
CONNS=${CONNS:-64}
SECS=${SECS:-3}
ROUNDS=${ROUNDS:-3}

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

# Starts "$@" (a server that prints `listening on URL`), sets url; stopped with Redis on exit.
serve() {
  local out="$redis_tmp/serve-${#pids[@]}.out"
  "$@" >"$out" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    url=$(sed -n 's/^listening on //p' "$out")
    [ -n "$url" ] && return 0
    sleep 0.1
  done
  cat "$out" >&2
  exit 1
}

load() { # label mode
  echo "bench-server: round $round: $1 $2 (${CONNS} connections, ${SECS} s)" >&2
  "$bench" load "${urls[$1]}" "$2" "$CONNS" "$SECS" | sed "s/^{/{\"label\":\"$1\",/" >>"$results"
}

# Every server at once (an idle one costs nothing), then the loads in rounds, each server in
# turn: the machine's other work then weighs on every row alike, and the table gives medians.
declare -A urls
serve "$bench" hello-server
urls[hello-world]=$url
serve "$server" --insecure-dev --listen 127.0.0.1:0
urls[memory]=$url
serve "$server" --insecure-dev --listen 127.0.0.1:0 --redis "$REDIS_URL"
urls[redis]=$url
serve "$server" --insecure-dev --listen 127.0.0.1:0 --redis-cluster "$REDIS_CLUSTER_URLS"
urls[cluster]=$url

# redis-benchmark on the same Redis, at the same concurrency: GET of a session the loads wrote
# (owner dev = ZGV2), and the commit script as a create writes it (a GETRANGE of an absent key,
# a SET of ~200 bytes, the index, the feed). The value is plain letters: redis-benchmark's CSV
# names the test by its command line.
redis_bench() { # mode requests args...
  local mode=$1 n=$2
  shift 2
  echo "bench-server: round $round: redis-benchmark $mode" >&2
  redis-benchmark -p "$REDIS_PORT" -c "$CONNS" -n "$n" -r 1000000 --csv "$@" | tail -n 1 |
    awk -F'"' -v label=redis-benchmark -v mode="$mode" -v conns="$CONNS" \
      '{ printf "{\"label\":\"%s\",\"mode\":\"%s\",\"conns\":%s,\"rps\":%s,\"p50_us\":%d,\"p99_us\":%d,\"errors\":0}\n", label, mode, conns, $4, $10 * 1000, $14 * 1000 }' >>"$results"
}
sha=$(redis-cli -p "$REDIS_PORT" SCRIPT LOAD "$("$bench" commit-script)")
record=$(printf 'v%.0s' $(seq 200))
# Each ratio the issue sets a target for is of two loads run back to back, in every round.
for round in $(seq "$ROUNDS"); do
  load hello-world hello
  for mode in get put storm; do load memory "$mode"; done
  load redis get
  redis_bench get $((20000 * SECS)) GET 'wss:{ZGV2}:bench:s:s1'
  load redis put
  redis_bench put $((10000 * SECS)) EVALSHA "$sha" 5 'wss:{b}:x:ids' 'wss:{b}:x:feed' 'wss:{b}:x:seq' \
    'wss:{b}:x:s:__rand_int__' 'wss:{b}:x:s:__rand_int__' 1 1 0 10000 EEEEEEEEEEEEEEEEEEEEEE 1 0 1 \
    '' "$record" '' id '' id etag
  load redis storm
  for mode in get put storm; do load cluster "$mode"; done
done

when="$(date -u +%F) on $(nproc) cores ($(uname -sr)), ${CONNS} connections, ${SECS} s per load, median of ${ROUNDS} rounds"
"$bench" report "$results" BENCHMARKS.md "$when"
