# Sourced by scripts/test-server.sh and scripts/bench-server.sh: starts a standalone
# redis-server and a 3-master Redis Cluster on free ports (temporary directories, no
# persistence), and stops them, and every PID added to `pids`, on exit. Redis comes from apt
# (scripts/setup.sh installs redis-server); without it this fails, loudly.
#   redis_begin            checks the tools, makes the directory, sets the exit trap
#   start_standalone       sets REDIS_URL (redis://127.0.0.1:PORT) and REDIS_PORT
#   start_cluster          sets REDIS_CLUSTER_URLS (redis://A,redis://B,redis://C)

redis_begin() {
  local tool
  for tool in redis-server redis-cli; do
    if ! command -v "$tool" >/dev/null; then
      echo "$0: $tool is missing: run scripts/setup.sh (apt package redis-server)" >&2
      exit 1
    fi
  done
  redis_tmp=$(mktemp -d)
  pids=()
  trap redis_end EXIT
}

redis_end() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$redis_tmp"
}

# A port nobody listens on now (the kernel's pick; Redis binds it right after).
free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
}

# redis-server on port $1 with extra arguments, in its own directory; waits until it answers.
start_redis() {
  local port=$1
  shift
  mkdir -p "$redis_tmp/$port"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$redis_tmp/$port" \
    --daemonize no "$@" >"$redis_tmp/$port.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && return 0
    sleep 0.1
  done
  cat "$redis_tmp/$port.log" >&2
  echo "$0: redis-server on port $port did not start" >&2
  exit 1
}

start_standalone() {
  REDIS_PORT=$(free_port)
  start_redis "$REDIS_PORT"
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
}

start_cluster() {
  local nodes=() port node ok
  for _ in 1 2 3; do
    port=$(free_port)
    start_redis "$port" --cluster-enabled yes --cluster-config-file "$redis_tmp/$port/nodes.conf"
    nodes+=("127.0.0.1:$port")
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$redis_tmp/cluster.log" 2>&1 ||
    { cat "$redis_tmp/cluster.log" >&2; echo "$0: the cluster was not created" >&2; exit 1; }
  for _ in $(seq 200); do
    ok=1
    for node in "${nodes[@]}"; do
      redis-cli -p "${node#*:}" cluster info | grep -q '^cluster_state:ok' || ok=0
    done
    [ "$ok" = 1 ] && break
    sleep 0.1
  done
  [ "$ok" = 1 ] || { echo "$0: the cluster did not reach cluster_state:ok" >&2; exit 1; }
  REDIS_CLUSTER_URLS=$(printf 'redis://%s,' "${nodes[@]}")
  REDIS_CLUSTER_URLS=${REDIS_CLUSTER_URLS%,}
}
