#!/usr/bin/env bash
# One-command load benchmark, loopback only and bounded in time: kwanus-gateway (auth, policy,
# metrics and the audit trail on; buffered and strict) against nginx and HAProxy doing the
# comparable minimum job (API key checked against a small map, /internal and /db answered 403,
# everything else proxied with upstream keep-alive), and against the upstream direct.
#
#   benches/load/run.sh            # DURATION=5 ROUNDS=3 CONNS="16 64 256" WORKERS="1 2"
#
# Targets are interleaved A B C A B C; the table gives medians of the rounds and each target's
# ratio to the better of nginx/HAProxy and to direct. Then a large-config run: 10 000 partners,
# 20 000 keys, 1 000 routes (startup, reload, RSS under load, req/s against the small config).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-"16 64 256"}
WORKERS=${WORKERS:-"1 2"}

need=()
for t in nginx haproxy wrk curl python3; do command -v "$t" >/dev/null || need+=("$t"); done
if ((${#need[@]})); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
cargo build --release --locked --quiet
GW="$PWD/target/release/kwanus-gateway"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

WORK=$(mktemp -d /tmp/kwanus-load.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }

KEY=kwp_load_benchmark_key_0123456789abcdef0123
SHA=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)
UP=$(port)

# The fast upstream: nginx answering a small JSON body.
mkdir -p "$WORK/up"
cat > "$WORK/up/nginx.conf" <<CONF
worker_processes 2;
pid $WORK/up/nginx.pid;
error_log $WORK/up/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $WORK/up; proxy_temp_path $WORK/up; fastcgi_temp_path $WORK/up;
    uwsgi_temp_path $WORK/up; scgi_temp_path $WORK/up;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$UP;
        location / { default_type application/json; return 200 '{"id":"42","title":"Quarterly grid load"}'; }
    }
}
CONF
"$NGINX" -p "$WORK/up" -c "$WORK/up/nginx.conf" -g 'daemon off;' & PIDS+=($!)
wait_port "$UP"

start_nginx_gw() { # workers port
    mkdir -p "$WORK/ngw$2"
    cat > "$WORK/ngw$2/nginx.conf" <<CONF
worker_processes $1;
pid $WORK/ngw$2/nginx.pid;
error_log $WORK/ngw$2/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $WORK/ngw$2; proxy_temp_path $WORK/ngw$2; fastcgi_temp_path $WORK/ngw$2;
    uwsgi_temp_path $WORK/ngw$2; scgi_temp_path $WORK/ngw$2;
    keepalive_requests 1000000;
    map \$http_x_api_key \$key_ok { default 0; "$KEY" 1; }
    upstream api { server 127.0.0.1:$UP; keepalive 512; }
    server {
        listen 127.0.0.1:$2;
        location ~* ^/(internal|db) { return 403; }
        location / {
            if (\$key_ok = 0) { return 401; }
            proxy_pass http://api;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
CONF
    "$NGINX" -p "$WORK/ngw$2" -c "$WORK/ngw$2/nginx.conf" -g 'daemon off;' & PIDS+=($!)
}

start_haproxy() { # workers port
    cat > "$WORK/haproxy$2.cfg" <<CONF
global
    nbthread $1
    maxconn 8000
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    http-reuse always
frontend fe
    bind 127.0.0.1:$2
    http-request deny deny_status 403 if { path_beg -i /internal /db }
    http-request deny deny_status 401 unless { req.hdr(x-api-key) -m str $KEY }
    default_backend be
backend be
    server s1 127.0.0.1:$UP
CONF
    "$HAPROXY" -f "$WORK/haproxy$2.cfg" -db >/dev/null 2>&1 & PIDS+=($!)
}

gateway_config() { # port admin durability audit-dir [extra-file]
    cat <<CONF
forbidden = ["/internal", "/db"]
[server]
listen = "127.0.0.1:$1"
[admin]
listen = "127.0.0.1:$2"
token_sha256 = "$SHA"
[limits]
max_connections = 20000
[audit]
dir = "$4"
durability = "$3"
[permissions]
"reports:read" = { kind = "read" }
[[upstreams]]
name = "api"
url = "http://127.0.0.1:$UP"
[[routes]]
name = "get-report"
method = "GET"
path = "/v1/reports/{id}"
permission = "reports:read"
upstream = "api"
[[partners]]
id = "load"
tier = 1
stage = "active"
permissions = ["reports:read"]
keys = [{ id = "load-1", sha256 = "$SHA" }]
CONF
}

start_gateway() { # workers port durability
    local admin; admin=$(port)
    gateway_config "$2" "$admin" "$3" "$WORK/audit-$3-$2" > "$WORK/gw$2.toml"
    "$GW" --log-level warn --workers "$1" serve --no-watch --config "$WORK/gw$2.toml" 2>>"$WORK/gw.log" & PIDS+=($!)
}

# wrk → "req/s p50_ms p99_ms"
load() { # conns url
    wrk -t1 -c"$1" -d"${DURATION}s" --latency -H "X-Api-Key: $KEY" "$2" 2>&1 | python3 -c '
import re, sys
t = sys.stdin.read()
def ms(v, u): return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[u]
rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
p50 = re.search(r"\s50%\s+([\d.]+)(us|ms|s)", t)
p99 = re.search(r"\s99%\s+([\d.]+)(us|ms|s)", t)
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
if not (rps and p50 and p99) or bad:
    sys.exit("wrk failed or saw errors:\n" + t)
print(rps.group(1), ms(*p50.groups()), ms(*p99.groups()))'
}

RESULTS="$WORK/results.tsv"
: > "$RESULTS"
for workers in $WORKERS; do
    NG=$(port); HA=$(port); GB=$(port); GS=$(port)
    start_nginx_gw "$workers" "$NG"
    start_haproxy "$workers" "$HA"
    start_gateway "$workers" "$GB" buffered
    start_gateway "$workers" "$GS" strict
    for p in "$NG" "$HA" "$GB" "$GS"; do wait_port "$p"; done
    for c in $CONNS; do
        for r in $(seq 1 "$ROUNDS"); do
            for target in direct:$UP nginx:$NG haproxy:$HA gateway-buffered:$GB gateway-strict:$GS; do
                name=${target%%:*}; p=${target##*:}
                echo "workers=$workers conns=$c round=$r $name" >&2
                echo -e "$workers\t$c\t$name\t$(load "$c" "http://127.0.0.1:$p/v1/reports/42" | tr ' ' '\t')" >> "$RESULTS"
            done
        done
    done
    for p in "${PIDS[@]:1}"; do kill "$p" 2>/dev/null || true; done
    PIDS=("${PIDS[0]}")
    sleep 0.5
done

python3 - "$RESULTS" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
data = {}
for w, c, name, rps, p50, p99 in rows:
    data.setdefault((int(w), int(c), name), []).append((float(rps), float(p50), float(p99)))
med = {k: tuple(statistics.median(x[i] for x in v) for i in range(3)) for k, v in data.items()}
print("| workers | conns | target | req/s | p50 ms | p99 ms | × best of nginx/HAProxy | × direct |")
print("|---|---|---|---|---|---|---|---|")
for (w, c) in sorted({(k[0], k[1]) for k in med}):
    best = max(med[(w, c, "nginx")][0], med[(w, c, "haproxy")][0])
    direct = med[(w, c, "direct")][0]
    for name in ["direct", "nginx", "haproxy", "gateway-buffered", "gateway-strict"]:
        rps, p50, p99 = med[(w, c, name)]
        print(f"| {w} | {c} | {name} | {rps:,.0f} | {p50:.2f} | {p99:.2f} | {rps / best:.2f} | {rps / direct:.2f} |")
PY

# --- Large configuration: 10 000 partners, 20 000 keys, 1 000 routes -------------------------
python3 - "$WORK/big-template.toml" "$KEY" <<'PY'
import hashlib, sys
out, key = sys.argv[1], sys.argv[2]
lines = ['[permissions]']
for i in range(100):
    lines.append(f'"p{i}:read" = {{ kind = "read" }}')
lines.append('"reports:read" = { kind = "read" }')
for r in range(1000):
    lines += ['[[routes]]', f'name = "r{r}"', 'method = "GET"', f'path = "/v1/area{r}/items/{{id}}"',
              f'permission = "p{r % 100}:read"', 'upstream = "api"']
lines += ['[[routes]]', 'name = "get-report"', 'method = "GET"', 'path = "/v1/reports/{id}"',
          'permission = "reports:read"', 'upstream = "api"']
sha = hashlib.sha256(key.encode()).hexdigest()
lines += ['[[partners]]', 'id = "load"', 'tier = 1', 'stage = "active"', 'permissions = ["reports:read"]',
          f'keys = [{{ id = "load-1", sha256 = "{sha}" }}]']
for p in range(9999):
    k1 = hashlib.sha256(f"k{p}a".encode()).hexdigest()
    k2 = hashlib.sha256(f"k{p}b".encode()).hexdigest()
    perms = ", ".join(f'"p{(p + j) % 100}:read"' for j in range(3))
    lines += ['[[partners]]', f'id = "partner{p}"', 'tier = 1', 'stage = "active"', f'permissions = [{perms}]',
              f'keys = [{{ id = "partner{p}-a", sha256 = "{k1}" }}, {{ id = "partner{p}-b", sha256 = "{k2}" }}]']
open(out, "w").write("\n".join(lines) + "\n")
PY
BIGP=$(port); BIGA=$(port)
gateway_config "$BIGP" "$BIGA" buffered "$WORK/audit-big" | sed '/^\[permissions\]/,$d' > "$WORK/big.toml"
cat "$WORK/big-template.toml" >> "$WORK/big.toml"
sed -i "s|^\[\[upstreams\]\]||" "$WORK/big.toml"
printf '[[upstreams]]\nname = "api"\nurl = "http://127.0.0.1:%s"\n' "$UP" >> "$WORK/big.toml"
t0=$(date +%s%N)
"$GW" --log-level warn --workers 2 serve --no-watch --config "$WORK/big.toml" 2>>"$WORK/gw.log" & BIGPID=$!; PIDS+=($BIGPID)
wait_port "$BIGP"
t1=$(date +%s%N)
echo "# reload" >> "$WORK/big.toml"
reload_s=$(curl -s -o /dev/null -w '%{time_total}' -X POST -H "Authorization: Bearer $KEY" "http://127.0.0.1:$BIGA/admin/reload")
big=$(load 64 "http://127.0.0.1:$BIGP/v1/reports/42")
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$BIGPID/status")
small=$(awk -F'\t' '$1==2 && $2==64 && $3=="gateway-buffered" {print $4}' "$RESULTS" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
python3 - "$t0" "$t1" "$reload_s" "$big" "$rss_kb" "$small" <<'PY'
import sys
t0, t1, reload_s, big, rss_kb, small = (sys.argv[1:] + [""])[:6]
rps = float(big.split()[0])
small = small or "nan"  # no 2-worker, 64-connection run of the small config in this invocation
print()
print("Large configuration (10 000 partners, 20 000 keys, 1 001 routes), 2 workers, 64 connections:")
print(f"| startup (exec to listening) | {(int(t1) - int(t0)) / 1e6:.0f} ms | target < 200 ms |")
print(f"| reload (POST /admin/reload) | {float(reload_s) * 1000:.0f} ms | target < 200 ms |")
print(f"| peak RSS under load | {int(rss_kb) / 1024:.1f} MiB | target ≤ 64 MiB |")
print(f"| req/s large / small config | {rps:,.0f} / {float(small):,.0f} = {rps / float(small):.2f} | target ≥ 0.90 |")
PY
