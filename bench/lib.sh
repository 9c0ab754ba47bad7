# Shared helpers for the benchmarks: registries on free loopback ports, timing, peak memory.
# Sourced by bench/publish and bench/cleanup.

BENCH_WORK=$(mktemp -d)
BENCH_PIDS=()
bench_cleanup() {
  for p in "${BENCH_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$BENCH_WORK"
}
trap bench_cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_registry NAME → sets REGISTRY (127.0.0.1:PORT); storage under $BENCH_WORK/NAME.
# (Not for $(...): the registry would hold the substitution's pipe open.)
start_registry() {
  local name=$1 port host
  port=$(free_port)
  host="127.0.0.1:$port"
  cat >"$BENCH_WORK/$name.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $BENCH_WORK/$name}
  delete: {enabled: true}
http: {addr: $host, secret: bench}
YAML
  env -u REGISTRY_HTTP_ADDR docker-registry serve "$BENCH_WORK/$name.yml" >"$BENCH_WORK/$name.out" 2>"$BENCH_WORK/$name.log" &
  BENCH_PIDS+=($!)
  for _ in $(seq 100); do
    curl -fsS "http://$host/v2/" >/dev/null 2>&1 && break
    sleep 0.05
  done
  REGISTRY=$host
}

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.2f}')"; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }

# peak_rss OUT CMD... → runs CMD with stdout into OUT; prints CMD's peak RSS in KiB (GNU time).
peak_rss() {
  local out=$1
  shift
  /usr/bin/time -f '%M' -o "$BENCH_WORK/rss" "$@" >"$out"
  cat "$BENCH_WORK/rss"
}
