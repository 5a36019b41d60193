#!/usr/bin/env python3
"""What a strict commit's fdatasync costs on this disk: 700-byte records appended to a growing
file (each sync also commits the file's new size and extents to the journal) against records
written into a file written through ahead of them (the sync writes data only), as the audit
writer's strict segments are. Rounds interleaved; medians and p99 in microseconds.

    benches/load/fdatasync.py [DIR] [RECORDS] [ROUNDS]      # defaults: /tmp 400 3
"""
import os
import statistics
import sys
import time

DIR = sys.argv[1] if len(sys.argv) > 1 else "/tmp"
N = int(sys.argv[2]) if len(sys.argv) > 2 else 400
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 3
LINE = b"x" * 699 + b"\n"
AHEAD = 1 << 20


def run(write_ahead):
    path = os.path.join(DIR, f"kwanus-fdatasync-{os.getpid()}.bin")
    fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_RDWR, 0o600)
    try:
        filled = 0
        took = []
        at = 0
        for _ in range(N):
            t0 = time.perf_counter()
            if write_ahead and at + len(LINE) > filled:
                target = -(-(at + len(LINE)) // AHEAD) * AHEAD
                os.pwrite(fd, b"\0" * (target - filled), filled)
                filled = target
            os.pwrite(fd, LINE, at)
            at += len(LINE)
            os.fdatasync(fd)
            took.append((time.perf_counter() - t0) * 1e6)
        took.sort()
        return statistics.median(took), took[int(len(took) * 0.99)]
    finally:
        os.close(fd)
        os.remove(path)


results = {"append": [], "written through": []}
for _ in range(ROUNDS):
    for name, ahead in (("append", False), ("written through", True)):
        results[name].append(run(ahead))
print(f"fdatasync per 700-byte record, {N} records x {ROUNDS} rounds, in {DIR}")
print("| segment | p50 µs | p99 µs |")
print("|---|---|---|")
for name, runs in results.items():
    p50 = statistics.median(r[0] for r in runs)
    p99 = statistics.median(r[1] for r in runs)
    print(f"| {name} | {p50:.0f} | {p99:.0f} |")
