#!/usr/bin/env bash
# The sync server's tests (crates/server) against memory, a real redis-server and a real
# 3-master Redis Cluster, which this script starts on free ports and stops by PID on exit,
# however it exits (scripts/redis.sh). Without redis-server installed it fails, loudly.
#   bash scripts/test-server.sh            every server test
#   bash scripts/test-server.sh TESTNAME   only the tests whose names contain TESTNAME
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH" CARGO_TERM_COLOR=never
source scripts/redis.sh
redis_begin
start_standalone
start_cluster
export WSS_TEST_REDIS="$REDIS_URL" WSS_TEST_REDIS_CLUSTER="$REDIS_CLUSTER_URLS"
[ -n "$WSS_TEST_REDIS" ] && [ -n "$WSS_TEST_REDIS_CLUSTER" ]
echo "test-server: Redis at $WSS_TEST_REDIS; cluster at $WSS_TEST_REDIS_CLUSTER"

# Memory (the crate's unit tests, the conformance suite, the HTTP cases, the panic) and, with
# the feature, Redis and the cluster (conformance, HTTP cases, faults on Redis processes of
# their own).
cargo test -p wasm-session-store-server --features redis-tests -- "$@"
