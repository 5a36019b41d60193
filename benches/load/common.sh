# Shared by run.sh and ab.sh: a scratch folder and the processes to stop on exit, free loopback
# ports, waiting for a port, rendering @NAME@ templates, and the benchmark's partner key.
# Source it after `cd` to the repository root; WORK_PREFIX names the scratch folder.
WORK=$(mktemp -d "/tmp/${WORK_PREFIX:-kwanus-load}.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.01; done; echo "port $1 never opened" >&2; return 1; }
# render <template> <out> NAME=value... : replaces every @NAME@.
render() {
    local t=$1 out=$2; shift 2
    cp "$t" "$out"
    for kv in "$@"; do sed -i "s|@${kv%%=*}@|${kv#*=}|g" "$out"; done
}
KEY=kwp_load_benchmark_key_0123456789abcdef0123
SHA=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)
# build <example>...: the release gateway as production builds it, then the examples. One cargo
# run for both would turn on the dev-dependencies' features in the gateway too (tokio's
# test-util clock: every Instant::now and timer through a paused-clock check).
build() {
    cargo build --release --locked --quiet --bin kwanus-gateway
    local e args=()
    for e in "$@"; do args+=(--example "$e"); done
    if ((${#args[@]})); then cargo build --release --locked --quiet "${args[@]}"; fi
}
