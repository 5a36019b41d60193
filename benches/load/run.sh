#!/usr/bin/env bash
# One-command load benchmark, loopback only and bounded in time: kwanus-gateway (auth, policy,
# metrics and the audit trail on; buffered and strict) against nginx and HAProxy doing the
# comparable minimum job (configs beside this script), two bare proxies with the gateway's I/O
# model, upstream client and pool and nothing else — behind hyper's server
# (examples/bare_conn_proxy.rs) and behind the gateway's own HTTP/1.1 server (bare-h1,
# examples/bare_h1_proxy.rs: the floor the gateway runs on; h1 rows only) — and the upstream direct.
#
#   benches/load/run.sh     # DURATION=5 ROUNDS=3 CONNS="16 64 256" WORKERS="1 2" PROTOCOLS="h1 h2c"
#                           # SECTIONS="proxies tls contract mixed large" (any subset, in this order)
#
# h1 runs wrk, h2c runs h2load (one stream per connection, prior knowledge). Targets are
# interleaved A B C A B C over ROUNDS rounds; the table gives medians of the rounds and each
# target's ratio to the better of nginx/HAProxy and to direct, per protocol. Then the TLS row:
# HTTP/1.1 over TLS (one self-signed P-256 certificate for all three; handshakes only at the
# start, keep-alive after) at 64 connections, the gateway buffered. Then a response
# contract's cost (the same 2 KiB report through a route with and without one); the mixed strict
# row: four wrk loads at once on one gateway, strict against the same config buffered, per worker
# count — a contract GET, a schema POST and idempotent workflow POSTs (a fresh Idempotency-Key
# each) on 16 connections each, permission denials (403) on 8 (benches/load/mixed/); and the
# large configuration: 10 000 partners, 20 000 keys, 1 001 routes (startup, reload, RSS, req/s).
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=benches/load
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-"16 64 256"}
WORKERS=${WORKERS:-"1 2"}
PROTOCOLS=${PROTOCOLS:-"h1 h2c"}
SECTIONS=${SECTIONS:-"proxies tls contract mixed large"}
section() { [[ " $SECTIONS " == *" $1 "* ]]; }

need=()
for t in nginx haproxy wrk h2load curl python3; do command -v "$t" >/dev/null || need+=("$t"); done
if ((${#need[@]})); then
    pkgs=("${need[@]/h2load/nghttp2-client}")
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

WORK_PREFIX=kwanus-load
# shellcheck source=benches/load/common.sh
. "$HERE/common.sh"
build bare_conn_proxy bare_h1_proxy
GW="$PWD/target/release/kwanus-gateway"
BARE="$PWD/target/release/examples/bare_conn_proxy"
BARE_H1="$PWD/target/release/examples/bare_h1_proxy"
UP=$(port); UP2=$(port)
mkdir -p "$WORK/up"
render "$HERE/upstream.nginx.conf" "$WORK/up/nginx.conf" DIR="$WORK/up" UP="$UP" UP2="$UP2"
"$NGINX" -p "$WORK/up" -c "$WORK/up/nginx.conf" -g 'daemon off;' & PIDS+=($!)
wait_port "$UP"

# One certificate for every TLS listener (wrk does not verify it).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$WORK/tls-key.pem" -out "$WORK/tls.pem" 2>/dev/null
cat "$WORK/tls.pem" "$WORK/tls-key.pem" > "$WORK/tls-both.pem"

start_nginx() { # workers port port2 port3 (TLS)
    mkdir -p "$WORK/nginx$2"
    render "$HERE/gateway.nginx.conf" "$WORK/nginx$2/nginx.conf" \
        DIR="$WORK/nginx$2" WORKERS="$1" PORT="$2" PORT2="$3" PORT3="$4" UP="$UP" KEY="$KEY" \
        CERT="$WORK/tls.pem" CERTKEY="$WORK/tls-key.pem"
    "$NGINX" -p "$WORK/nginx$2" -c "$WORK/nginx$2/nginx.conf" -g 'daemon off;' & PIDS+=($!)
}

start_haproxy() { # workers port port2 port3 (TLS)
    render "$HERE/haproxy.cfg" "$WORK/haproxy$2.cfg" WORKERS="$1" PORT="$2" PORT2="$3" PORT3="$4" UP="$UP" \
        KEY="$KEY" PEM="$WORK/tls-both.pem"
    "$HAPROXY" -f "$WORK/haproxy$2.cfg" -db >/dev/null 2>&1 & PIDS+=($!)
}

# interleave <label> <workers> <fn> <name:port>...: ROUNDS rounds over the targets in turn,
# calling "<fn> <workers> <round> <name> <port>" for each; then stops the targets.
interleave() {
    local label=$1 workers=$2 fn=$3 r target; shift 3
    for r in $(seq 1 "$ROUNDS"); do
        for target in "$@"; do
            echo "$label workers=$workers round=$r ${target%%:*}" >&2
            "$fn" "$workers" "$r" "${target%%:*}" "${target##*:}"
        done
    done
    stop_targets
    sleep 0.5
}

# Stops every process started after the upstream (PIDS[0]).
stop_targets() {
    for p in "${PIDS[@]:1}"; do kill "$p" 2>/dev/null || true; done
    PIDS=("${PIDS[0]}")
}

gateway_config() { # out port durability [partners file]
    render "$HERE/kwanus.toml" "$1" PORT="$2" ADMIN="$(port)" SHA="$SHA" DIR="$WORK/audit-$2" \
        DURABILITY="$3" UP="$UP"
    cat "${4:-$HERE/kwanus-small.toml}" >> "$1"
    sed -i "s|@SHA@|$SHA|g" "$1"
}

start_gateway() { # workers port durability [partners file] [tls]
    gateway_config "$WORK/gw$2.toml" "$2" "$3" "${4:-}"
    if [ -n "${5:-}" ]; then
        sed -i "s|^listen = \"127.0.0.1:$2\"|&\ntls = { cert = \"$WORK/tls.pem\", key = \"$WORK/tls-key.pem\" }|" "$WORK/gw$2.toml"
    fi
    "$GW" --log-level warn --workers "$1" serve --no-watch --config "$WORK/gw$2.toml" 2>>"$WORK/gw.log" & PIDS+=($!)
}

# "req/s p50_ms p99_ms" for one run; fails on any error or non-2xx answer.
load() { # protocol conns url
    case $1 in
    h1)
        wrk -t1 -c"$2" -d"${DURATION}s" --latency -H "X-Api-Key: $KEY" "$3" 2>&1 | python3 -c '
import re, sys
t = sys.stdin.read()
def ms(v, u): return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[u]
rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
p50 = re.search(r"\s50%\s+([\d.]+)(us|ms|s)", t)
p99 = re.search(r"\s99%\s+([\d.]+)(us|ms|s)", t)
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t) or re.search(r"Socket errors", t)
if not (rps and p50 and p99) or bad:
    sys.exit("wrk failed or saw errors:\n" + t)
print(rps.group(1), ms(*p50.groups()), ms(*p99.groups()))'
        ;;
    h2c)
        local log="$WORK/h2load.log"
        rm -f "$log"
        h2load -t1 -c"$2" -m1 -D"$DURATION" -H "x-api-key: $KEY" --log-file="$log" "$3" 2>&1 |
            python3 -c '
import re, statistics, sys
t = sys.stdin.read()
rps = re.search(r"finished in [\d.]+s, ([\d.]+) req/s", t)
ok = re.search(r"requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, 0 failed, 0 errored", t)
codes = re.search(r"status codes: \d+ 2xx, 0 3xx, 0 4xx, 0 5xx", t)
if not (rps and ok and codes):
    sys.exit("h2load failed or saw errors:\n" + t)
lat = sorted(int(l.split("\t")[2]) for l in open(sys.argv[1]) if l.strip())
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] / 1000.0
print(rps.group(1), q(0.50), q(0.99))' "$log"
        ;;
    esac
}

RESULTS="$WORK/results.tsv"
: > "$RESULTS"
section proxies && for workers in $WORKERS; do
    NG=$(port); NG2=$(port); HA=$(port); HA2=$(port); BP=$(port); BH=$(port); GB=$(port); GS=$(port)
    start_nginx "$workers" "$NG" "$NG2" "$(port)"
    start_haproxy "$workers" "$HA" "$HA2" "$(port)"
    "$BARE" "127.0.0.1:$BP" "127.0.0.1:$UP" "$workers" & PIDS+=($!)
    "$BARE_H1" "127.0.0.1:$BH" "127.0.0.1:$UP" "$workers" & PIDS+=($!)
    start_gateway "$workers" "$GB" buffered
    start_gateway "$workers" "$GS" strict
    for p in "$NG" "$HA" "$BP" "$BH" "$GB" "$GS"; do wait_port "$p"; done
    for proto in $PROTOCOLS; do
        for c in $CONNS; do
            for r in $(seq 1 "$ROUNDS"); do
                if [ "$proto" = h1 ]; then
                    targets="direct:$UP nginx:$NG haproxy:$HA bare-conn:$BP bare-h1:$BH gateway-buffered:$GB gateway-strict:$GS"
                else
                    targets="direct:$UP2 nginx:$NG2 haproxy:$HA2 bare-conn:$BP gateway-buffered:$GB gateway-strict:$GS"
                fi
                for target in $targets; do
                    name=${target%%:*}; p=${target##*:}
                    echo "workers=$workers $proto conns=$c round=$r $name" >&2
                    echo -e "$workers\t$proto\t$c\t$name\t$(load "$proto" "$c" "http://127.0.0.1:$p/v1/reports/42" | tr ' ' '\t')" >> "$RESULTS"
                done
            done
        done
    done
    stop_targets
    sleep 0.5
done

section proxies && python3 - "$RESULTS" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
data = {}
for w, proto, c, name, rps, p50, p99 in rows:
    data.setdefault((int(w), proto, int(c), name), []).append((float(rps), float(p50), float(p99)))
med = {k: tuple(statistics.median(x[i] for x in v) for i in range(3)) for k, v in data.items()}
names = ["direct", "nginx", "haproxy", "bare-conn", "bare-h1", "gateway-buffered", "gateway-strict"]
print("| workers | protocol | conns | target | req/s | p50 ms | p99 ms | × best of nginx/HAProxy | × direct |")
print("|---|---|---|---|---|---|---|---|---|")
for (w, proto, c) in sorted({k[:3] for k in med}, key=lambda k: (k[0], k[1] != "h1", k[2])):
    best = max(med[(w, proto, c, "nginx")][0], med[(w, proto, c, "haproxy")][0])
    direct = med[(w, proto, c, "direct")][0]
    for name in (n for n in names if (w, proto, c, n) in med):
        rps, p50, p99 = med[(w, proto, c, name)]
        print(f"| {w} | {proto} | {c} | {name} | {rps:,.0f} | {p50:.2f} | {p99:.2f} | {rps / best:.2f} | {rps / direct:.2f} |")
PY

# --- HTTP/1.1 over TLS: nginx, HAProxy and the gateway (buffered), each terminating TLS ---------
if section tls; then
    TLSR="$WORK/tls.tsv"
    : > "$TLSR"
    tls_round() { # workers round target port
        echo -e "$1\t$3\t$(load h1 64 "https://127.0.0.1:$4/v1/reports/42" | tr ' ' '\t')" >> "$TLSR"
    }
    for workers in $WORKERS; do
        NG=$(port); NGT=$(port); HA=$(port); HAT=$(port); GT=$(port)
        start_nginx "$workers" "$NG" "$(port)" "$NGT"
        start_haproxy "$workers" "$HA" "$(port)" "$HAT"
        start_gateway "$workers" "$GT" buffered "" tls
        for p in "$NGT" "$HAT" "$GT"; do wait_port "$p"; done
        interleave tls "$workers" tls_round nginx:"$NGT" haproxy:"$HAT" gateway-buffered:"$GT"
    done
    echo
    echo "HTTP/1.1 over TLS, 64 connections (medians of $ROUNDS interleaved rounds):"
    echo
    python3 - "$TLSR" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
med = {}
for w, name, rps, p50, p99 in rows:
    med.setdefault((int(w), name), []).append((float(rps), float(p50), float(p99)))
med = {k: tuple(statistics.median(x[i] for x in v) for i in range(3)) for k, v in med.items()}
print("| workers | target | req/s | p50 ms | p99 ms | × best of nginx/HAProxy |")
print("|---|---|---|---|---|---|")
for w in sorted({k[0] for k in med}):
    best = max(med[(w, "nginx")][0], med[(w, "haproxy")][0])
    for name in ["nginx", "haproxy", "gateway-buffered"]:
        rps, p50, p99 = med[(w, name)]
        print(f"| {w} | {name} (TLS) | {rps:,.0f} | {p50:.2f} | {p99:.2f} | {rps / best:.2f} |")
PY
fi

# --- A response contract's cost: the same 2 KiB report, with and without a contract --------------
if section contract; then
    GC=$(port)
    start_gateway 2 "$GC" buffered
    wait_port "$GC"
    CONTRACT="$WORK/contract.tsv"
    : > "$CONTRACT"
    for r in $(seq 1 "$ROUNDS"); do
        for target in plain:/v1/doc/42 contract:/v1/cdoc/42; do
            echo "contract round=$r ${target%%:*}" >&2
            echo -e "${target%%:*}\t$(load h1 64 "http://127.0.0.1:$GC${target#*:}" | tr ' ' '\t')" >> "$CONTRACT"
        done
    done
    echo
    echo "Response contract: 2 workers, h1, 64 connections, a 2 118-byte report (4 raw_text fields"
    echo "removed on the contract route); medians of $ROUNDS interleaved rounds."
    echo
    python3 - "$CONTRACT" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
med = {n: tuple(statistics.median(float(r[i]) for r in rows if r[0] == n) for i in (1, 2, 3)) for n in ("plain", "contract")}
print("| route | req/s | p50 ms | p99 ms | × without a contract |")
print("|---|---|---|---|---|")
for n in ("plain", "contract"):
    rps, p50, p99 = med[n]
    print(f"| {n} | {rps:,.0f} | {p50:.2f} | {p99:.2f} | {rps / med['plain'][0]:.2f} |")
PY
    stop_targets
fi

# --- Mixed strict load: reads, schema-checked writes, idempotent workflows and denials at once ---
# Write routes pay twice in strict mode (a durable intent before forwarding, the outcome after);
# this row measures them together with reads and denials, strict against the same config buffered.
# kind:conns:path[:wrk script]; the denial load must answer 403 only, the others 2xx only.
MIX_LOADS="contract-get:16:/v1/cdoc/42 schema-post:16:/v1/reports:schema-post.lua
workflow-post:16:/v1/workflows/nightly/runs:workflow-post.lua denial:8:/v1/audits/42"
# One request of each kind with curl before the loads: the expected status, or stop.
mixed_preflight() { # port
    local l kind conns path script code want args
    for l in $MIX_LOADS; do
        IFS=: read -r kind conns path script <<< "$l"
        args=(-H "X-Api-Key: $KEY")
        case $kind in
        schema-post) args+=(-X POST -H "Content-Type: application/json" --data-binary @"$WORK/mixed-body.json") ;;
        workflow-post) args+=(-X POST -H "Content-Type: application/json" -H "Idempotency-Key: preflight-$1" -d '{"priority":"normal"}') ;;
        esac
        want=200; [ "$kind" = denial ] && want=403
        code=$(curl -s -o "$WORK/preflight.out" -w '%{http_code}' "${args[@]}" "http://127.0.0.1:$1$path")
        if [ "$code" != "$want" ]; then
            echo "mixed: $kind on port $1 answered $code, expected $want:" >&2
            cat "$WORK/preflight.out" >&2; echo >&2
            exit 1
        fi
    done
}
# All four loads at once for DURATION seconds; appends "workers round target kind conns req/s".
# Fails on socket errors, on any non-2xx answer to the three loads that should succeed, and on
# any 2xx/3xx answer to the denial load.
mixed_round() { # workers round target port
    local l kind conns path script pids=() p
    for l in $MIX_LOADS; do
        IFS=: read -r kind conns path script <<< "$l"
        MIX_KEY_PREFIX="$3-w$1-r$2-$$-$RANDOM" wrk -t1 -c"$conns" -d"${DURATION}s" -H "X-Api-Key: $KEY" \
            ${script:+-s "$HERE/mixed/$script"} "http://127.0.0.1:$4$path" > "$WORK/mixed-$kind.out" 2>&1 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || true; done
    for l in $MIX_LOADS; do
        IFS=: read -r kind conns path script <<< "$l"
        p=$(python3 - "$WORK/mixed-$kind.out" "$kind" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
kind = sys.argv[2]
rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
done = re.search(r"(\d+) requests in ", t)
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
bad = int(bad.group(1)) if bad else 0
if not (rps and done) or re.search(r"Socket errors", t):
    sys.exit(f"mixed: wrk {kind} failed or saw socket errors:\n" + t)
if kind == "denial" and bad != int(done.group(1)):
    sys.exit(f"mixed: denial: {int(done.group(1)) - bad} of {done.group(1)} answers were 2xx/3xx, expected 403 only:\n" + t)
if kind != "denial" and bad:
    sys.exit(f"mixed: {kind}: {bad} non-2xx answers, expected none:\n" + t)
print(rps.group(1))
PY
        )
        echo -e "$1\t$2\t$3\t$kind\t$conns\t$p" >> "$MIXED"
    done
}
if section mixed; then
    MIXED="$WORK/mixed.tsv"
    : > "$MIXED"
    cp "$HERE/mixed/publish-report.schema.json" "$WORK/mixed-publish-report.schema.json"
    sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$HERE/mixed/schema-post.lua" > "$WORK/mixed-body.json"
    for workers in $WORKERS; do
        MS=$(port); MB=$(port)
        start_gateway "$workers" "$MS" strict "$HERE/mixed/kwanus.toml"
        start_gateway "$workers" "$MB" buffered "$HERE/mixed/kwanus.toml"
        "$GW" check --config "$WORK/gw$MS.toml" > "$WORK/check.log" 2>&1 || { cat "$WORK/check.log" >&2; exit 1; }
        for p in "$MS" "$MB"; do wait_port "$p"; mixed_preflight "$p"; done
        interleave mixed "$workers" mixed_round strict:"$MS" buffered:"$MB"
    done
    echo
    echo "Mixed strict load: four wrk -t1 loads at once on one gateway for $DURATION s, h1, 56 connections"
    echo "in all; strict against the same config buffered; medians of $ROUNDS interleaved rounds (the"
    echo "total: the median of each round's sum)."
    echo
    python3 - "$MIXED" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
kinds = ["contract-get", "schema-post", "workflow-post", "denial"]
conns = {r[3]: int(r[4]) for r in rows}
print("| workers | load | conns | req/s strict | req/s buffered | strict ÷ buffered |")
print("|---|---|---|---|---|---|")
for w in sorted({int(r[0]) for r in rows}):
    runs = {}
    for rw, rnd, target, kind, _, rps in rows:
        if int(rw) == w:
            runs.setdefault((target, rnd), {})[kind] = float(rps)
    def med(target, kind=None):
        return statistics.median(sum(d.values()) if kind is None else d[kind]
                                 for (t, _), d in runs.items() if t == target)
    for kind in kinds:
        s, b = med("strict", kind), med("buffered", kind)
        print(f"| {w} | {kind} | {conns[kind]} | {s:,.0f} | {b:,.0f} | {s / b:.2f} |")
    s, b = med("strict"), med("buffered")
    print(f"| {w} | total | {sum(conns.values())} | {s:,.0f} | {b:,.0f} | {s / b:.2f} |")
PY
fi
section large || exit 0

# --- Large configuration: 10 000 partners, 20 000 keys, 1 001 routes ---------------------------
# Run twice: with the allocator's defaults, and with MIMALLOC_PURGE_DELAY=0, which hands freed
# memory (the TOML parser's transient document, at start and on every reload) back at once.
python3 "$HERE/large_config.py" "$KEY" > "$WORK/large-partners.toml"
small=$(awk -F'\t' '$1==2 && $2=="h1" && $3==64 && $4=="gateway-buffered" {print $5}' "$RESULTS" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
large() { # label env...
    local label=$1; shift
    local big biga bigpid sampler
    big=$(port)
    gateway_config "$WORK/big.toml" "$big" buffered "$WORK/large-partners.toml"
    rm -rf "$WORK/audit-$big"
    biga=$(sed -n 's|^listen = "127.0.0.1:\([0-9]*\)"|\1|p' "$WORK/big.toml" | sed -n 2p)
    : > "$WORK/startup"
    for i in 1 2 3 4; do
        local t0 t1
        t0=$(date +%s%N)
        env "$@" "$GW" --log-level warn --workers 2 serve --no-watch --config "$WORK/big.toml" 2>>"$WORK/gw.log" & bigpid=$!
        wait_port "$big"
        t1=$(date +%s%N)
        echo $(((t1 - t0) / 1000)) >> "$WORK/startup"
        if [ "$i" -lt 4 ]; then kill "$bigpid"; wait "$bigpid" 2>/dev/null || true; fi
    done
    : > "$WORK/reload"
    for i in 1 2 3; do
        echo "# reload $i" >> "$WORK/big.toml"
        curl -s -o /dev/null -w '%{time_total}\n' -X POST -H "Authorization: Bearer $KEY" \
            "http://127.0.0.1:$biga/admin/reload" >> "$WORK/reload"
    done
    local hwm
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$bigpid/status")
    # RSS sampled every 100 ms while the load runs; the largest sample counts.
    ( while kill -0 "$bigpid" 2>/dev/null; do awk '/VmRSS/ {print $2}' "/proc/$bigpid/status"; sleep 0.1; done ) > "$WORK/rss" 2>/dev/null & sampler=$!
    local rps
    rps=$(load h1 64 "http://127.0.0.1:$big/v1/reports/42")
    kill "$sampler" "$bigpid" 2>/dev/null || true
    wait "$bigpid" 2>/dev/null || true
    python3 - "$label" "$WORK/startup" "$WORK/reload" "$WORK/rss" "$hwm" "$rps" "${small:-nan}" <<'PY'
import statistics, sys
label, startup, reload, rss, hwm, big, small = sys.argv[1:8]
startup_ms = statistics.median(int(l) for l in open(startup) if l.strip()) / 1000
reload_ms = statistics.median(float(l) for l in open(reload) if l.strip()) * 1000
rss_mib = max(int(l) for l in open(rss) if l.strip()) / 1024
rps, small = float(big.split()[0]), float(small)
print(f"| {label} | {startup_ms:.0f} ms | {reload_ms:.0f} ms | {rss_mib:.1f} MiB | {int(hwm) / 1024:.1f} MiB "
      f"| {rps:,.0f} / {small:,.0f} = {rps / small:.2f} |")
PY
}
echo
echo "Large configuration (10 000 partners, 20 000 keys, 1 001 routes), 2 workers, h1, 64 connections;"
echo "startup: exec to listening, median of 4; reload: POST /admin/reload after a change, median of 3;"
echo "RSS: largest 100 ms sample under load, after the reloads; peak: VmHWM since start."
echo
echo "| allocator | startup (< 200 ms) | reload (< 200 ms) | RSS under load (≤ 64 MiB) | peak RSS | req/s large / small (≥ 0.90) |"
echo "|---|---|---|---|---|---|"
large "defaults" X=
large "MIMALLOC_PURGE_DELAY=0" MIMALLOC_PURGE_DELAY=0
