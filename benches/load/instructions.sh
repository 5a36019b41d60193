#!/usr/bin/env bash
# Instructions per request under callgrind: deterministic where req/s on this shared machine is
# not. Each case runs its target under valgrind with collection off, warms it up (connections,
# pools, first-use allocations), then counts N requests on one keep-alive connection from
# outside (benches/load/cost_io.py, which is also the upstream) and divides. The SHA-256 share
# (the audit chain; software SHA-256 under valgrind, which hides SHA-NI) is given apart.
#
#   benches/load/instructions.sh            # the table
#   benches/load/instructions.sh --gate     # the table, then fail if the allowed request costs
#                                           # more than 5 % over benches/load/instructions.baseline
#   benches/load/instructions.sh --update   # the table, then write it as the new baseline
#   PROFILES=DIR keeps each case's callgrind dump (callgrind_annotate DIR/callgrind.allowed)
#
# Cases: bare-hyper (examples/bare_proxy.rs: hyper-util's pooled client, the data path the gateway
# ran on until docs/decisions.md's "own upstream pool"), bare-conn (hyper's server, hyper's
# client::conn and a pool the worker owns, examples/bare_conn_proxy.rs), bare-h1 (the data path
# the gateway runs on: the same client behind its own HTTP/1.1 server, examples/bare_h1_proxy.rs), allowed (a
# partner's GET, buffered audit), denied-401 (no key), denied-403 (a forbidden route),
# uncontracted and contract (the same document through a route without a response contract and
# one that strips a field from it), strict (the allowed GET with strict audit).
# "own work" is allowed minus bare-h1: what the gateway adds to the data path it runs on.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODE=${1:-}
N=${N:-1000}
WARM=${WARM:-200}
if ! command -v valgrind >/dev/null; then
    sudo=(); [[ $(id -u) -ne 0 ]] && sudo=(sudo)
    echo "instructions.sh: installing valgrind" >&2
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends valgrind >/dev/null
fi
for t in valgrind callgrind_control callgrind_annotate python3; do
    command -v "$t" >/dev/null || { echo "needs $t (apt-get install valgrind python3)" >&2; exit 1; }
done
HERE=benches/load
WORK_PREFIX=instructions
# shellcheck source=benches/load/common.sh
. "$HERE/common.sh"
build bare_proxy bare_conn_proxy bare_h1_proxy
GW="$PWD/target/release/kwanus-gateway"
BARE="$PWD/target/release/examples/bare_proxy"
BARE_CONN="$PWD/target/release/examples/bare_conn_proxy"
BARE_H1="$PWD/target/release/examples/bare_h1_proxy"

UP=$(port)
python3 "$HERE/cost_io.py" upstream "$UP" & PIDS+=($!)
wait_port "$UP"

config() { # config <name> <durability>: a gateway config in $WORK/<name>/gw.toml, its port in $WORK/<name>/port
    local d="$WORK/$1" p a
    p=$(port); a=$(port)
    mkdir -p "$d/audit"
    render "$HERE/kwanus.toml" "$d/gw.toml" PORT="$p" ADMIN="$a" SHA="$SHA" DIR="$d/audit" DURABILITY="$2" UP="$UP"
    # One client sends every denied request: no per-address limit on unauthenticated traffic.
    sed -i "s/^max_connections = 20000$/&\nunauthenticated_rate_per_second = 1000000\nunauthenticated_burst = 1000000/" "$d/gw.toml"
    cat "$HERE/kwanus-small.toml" >> "$d/gw.toml"
    sed -i "s|@SHA@|$SHA|g" "$d/gw.toml"
    echo "$p" > "$d/port"
}

# measure <case> <port> <path> <status> [header]... : runs the target already started under
# callgrind (pid in $TARGET), prints "<case> <instructions/request> <sha256 instructions/request>".
measure() {
    local case=$1 p=$2 path=$3 status=$4; shift 4
    python3 "$HERE/cost_io.py" client "$p" "$WARM" "$path" "$status" "$@"
    callgrind_control -z "$TARGET" >/dev/null 2>&1
    python3 "$HERE/cost_io.py" client "$p" "$N" "$path" "$status" "$@"
    # Let a buffered audit writer take and hash the last records before counting stops.
    sleep 0.5
    callgrind_control -d "$TARGET" >/dev/null 2>&1
    kill "$TARGET"; wait "$TARGET" 2>/dev/null || true
    local dump="$WORK/cg.out.$TARGET.1" total sha
    total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
    sha=$(callgrind_annotate --threshold=100 "$dump" 2>/dev/null \
        | awk '/sha2::/ {gsub(",","",$1); s+=$1} END {print s+0}')
    if [ -n "${PROFILES:-}" ]; then mkdir -p "$PROFILES"; cp "$dump" "$PROFILES/callgrind.$case"; fi
    rm -f "$WORK"/cg.out.*
    echo "$case $((total / N)) $((sha / N))"
}

# Under valgrind a start takes seconds, not milliseconds.
wait_slow() { for _ in $(seq 1 600); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; cat "$WORK/valgrind.log" >&2; return 1; }

# start <binary> <args>...: the target under callgrind with collection off; pid in $TARGET.
start() {
    valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out.%p" \
        "$@" >/dev/null 2>>"$WORK/valgrind.log" &
    TARGET=$!
}

ROWS=()
BP=$(port)
start "$BARE" "127.0.0.1:$BP" "127.0.0.1:$UP" 1
wait_slow "$BP"
ROWS+=("$(measure bare-hyper "$BP" /v1/reports/42 200)")
# hyper's client::conn and a pool the worker owns, behind hyper's server, then behind the
# gateway's own (the floor it runs on).
BP=$(port)
start "$BARE_CONN" "127.0.0.1:$BP" "127.0.0.1:$UP" 1
wait_slow "$BP"
ROWS+=("$(measure bare-conn "$BP" /v1/reports/42 200)")
BP=$(port)
start "$BARE_H1" "127.0.0.1:$BP" "127.0.0.1:$UP" 1
wait_slow "$BP"
ROWS+=("$(measure bare-h1 "$BP" /v1/reports/42 200)")

config buffered buffered
config strict strict
P=$(cat "$WORK/buffered/port")
for c in "allowed /v1/reports/42 200 X-Api-Key: $KEY" \
         "denied-401 /v1/reports/42 401" \
         "denied-403 /internal/x 403 X-Api-Key: $KEY" \
         "uncontracted /v1/doc/42 200 X-Api-Key: $KEY" \
         "contract /v1/cdoc/42 200 X-Api-Key: $KEY"; do
    read -r case path status hname hvalue <<<"$c"
    start "$GW" --log-level warn --workers 1 serve --no-watch --config "$WORK/buffered/gw.toml"
    wait_slow "$P"
    if [ -n "${hname:-}" ]; then
        ROWS+=("$(measure "$case" "$P" "$path" "$status" "$hname $hvalue")")
    else
        ROWS+=("$(measure "$case" "$P" "$path" "$status")")
    fi
    rm -rf "$WORK/buffered/audit"/*
done
P=$(cat "$WORK/strict/port")
start "$GW" --log-level warn --workers 1 serve --no-watch --config "$WORK/strict/gw.toml"
wait_slow "$P"
ROWS+=("$(measure strict "$P" /v1/reports/42 200 "X-Api-Key: $KEY")")

printf '%s\n' "${ROWS[@]}" | python3 -c '
import sys
rows = [l.split() for l in sys.stdin if l.strip()]
by = {r[0]: (int(r[1]), int(r[2])) for r in rows}
bare = by["bare-h1"][0]
print(f"instructions per request (callgrind, 1 worker, N='"$N"')")
print("| case | instructions | of which SHA-256 | without SHA-256 | over bare-h1 |")
print("|---|---|---|---|---|")
for name, (total, sha) in by.items():
    print(f"| {name} | {total:,} | {sha:,} | {total - sha:,} | {total - bare:+,} |")
allowed = by["allowed"]
print(f"the gateway\x27s own work (allowed - bare-h1): {allowed[0] - bare:,} instructions, {allowed[0] - allowed[1] - bare:,} without SHA-256")
plain, contract = by["uncontracted"][0], by["contract"][0]
print(f"a contract route costs {contract / plain:.2f}x the same route without one (throughput ~{plain / contract:.2f}x)")
' | tee "$WORK/table"

BASELINE="$HERE/instructions.baseline"
allowed=$(printf '%s\n' "${ROWS[@]}" | awk '$1 == "allowed" {print $2}')
case "$MODE" in
--update)
    printf '%s\n' "${ROWS[@]}" > "$BASELINE"
    echo "baseline written: $BASELINE"
    ;;
--gate)
    base=$(awk '$1 == "allowed" {print $2}' "$BASELINE")
    limit=$((base * 105 / 100))
    if ((allowed > limit)); then
        echo "cost gate: an allowed request costs $allowed instructions, over $limit (baseline $base + 5 %)" >&2
        echo "if the change is worth it, run benches/load/instructions.sh --update and say why in the commit" >&2
        exit 1
    fi
    echo "cost gate: an allowed request costs $allowed instructions (baseline $base, limit $limit)"
    ;;
esac
