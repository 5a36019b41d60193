#!/usr/bin/env bash
# The memory cost of checking request bodies (issue 21 item 3), one command: the release
# gateway with the shipped `publish-report` schema on POST /v1/reports and bodies up to 16 MiB,
# sent the worst shapes at once — 10 MiB of `{"tags":[0,0,…]}` (over the route's 1 MiB),
# 1 MiB of zeros (over 100 000 values), 1 MiB of `[[[…` (over 128 deep), and within both limits
# 95 000 zeros, 49 000 keys and 65 537 repeated keys — ROUNDS rounds of CONCURRENCY of each. Prints the answers and
# the process's peak RSS (VmHWM) before and after each round, and its RSS after a second idle.
#
#   benches/load/body_cost.sh        # ROUNDS=2 CONCURRENCY=3
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=benches/load
ROUNDS=${ROUNDS:-2}
CONCURRENCY=${CONCURRENCY:-3}
cargo build --release --locked --quiet --bin kwanus-gateway
GW="$PWD/target/release/kwanus-gateway"
WORK_PREFIX=kwanus-body
# shellcheck source=benches/load/common.sh
. "$HERE/common.sh"
PORT=$(port)
cat >"$WORK/gateway.toml" <<EOF
[server]
listen = "127.0.0.1:$PORT"

[limits]
max_request_body_bytes = 16777216

[permissions]
"reports:publish" = { kind = "write" }

[[upstreams]]
name = "api"
url = "http://127.0.0.1:9"

[[routes]]
name = "publish-report"
method = "POST"
path = "/v1/reports"
permission = "reports:publish"
upstream = "api"
request_schema = "$PWD/config/schemas/publish-report.json"

[[partners]]
id = "bench"
tier = 2
stage = "active"
permissions = ["reports:publish"]
keys = [{ id = "bench-1", sha256 = "$SHA" }]
EOF
"$GW" serve --no-watch --config "$WORK/gateway.toml" 2>"$WORK/gw.log" & PIDS+=($!)
GW_PID=$!
wait_port "$PORT"
python3 - "$PORT" "$KEY" "$GW_PID" "$ROUNDS" "$CONCURRENCY" <<'PY'
import socket, sys, threading, time
port, key, pid, rounds, conc = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
MIB = 1024 * 1024

def zeros(size):
    head, tail = b'{"title":"x","summary":"s","tags":[0', b']}'
    n = (size - len(head) - len(tail)) // 2
    return head + b",0" * n + tail

def status(field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field):
            return int(line.split()[1]) // 1024
    return 0

wide = b"{" + b"".join(b'"k%d":{},' % i for i in range(49000)) + b'"title":"x","summary":"s"}'
dupes = b"{" + b'"":0,' * 65537 + b'"title":"x","summary":"s"}'
shapes = [
    ("10 MiB of zeros", zeros(10 * MIB)),
    ("1 MiB of zeros", zeros(MIB - 64)),
    ("1 MiB deep", b"[" * (MIB // 2 - 8) + b"]" * (MIB // 2 - 8)),
    ("95 000 zeros", zeros(190_000)),
    ("49 000 keys", wide),
    ("65 537 repeated keys", dupes),
]

def post(body, out, i):
    s = socket.create_connection(("127.0.0.1", port))
    head = (f"POST /v1/reports HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    try:
        s.sendall(head.encode() + body)
    except OSError:
        pass
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    out[i] = data.split(b" ", 2)[1].decode() if data else "-"

print(f"peak RSS at start: {status('VmHWM')} MiB (RSS {status('VmRSS')} MiB)")
for r in range(rounds):
    jobs = [(name, body) for _ in range(conc) for name, body in shapes]
    out = [None] * len(jobs)
    threads = [threading.Thread(target=post, args=(b, out, i)) for i, (_, b) in enumerate(jobs)]
    start = time.time()
    for t in threads: t.start()
    for t in threads: t.join()
    answers = {}
    for (name, _), st in zip(jobs, out):
        answers.setdefault(name, set()).add(st)
    print(f"round {r + 1}: {len(jobs)} bodies in {time.time() - start:.2f} s; "
          + "; ".join(f"{n} -> {'/'.join(sorted(s))}" for n, s in answers.items()))
    print(f"  peak RSS {status('VmHWM')} MiB")
time.sleep(1)
print(f"RSS after 1 s idle: {status('VmRSS')} MiB")
PY
