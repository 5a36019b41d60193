#!/usr/bin/env python3
"""A security officer's own check of a kwanus-gateway audit trail: verify_chain.py FILE..."""
import hashlib, json, sys
prev, seq = None, None
for path in sys.argv[1:]:
    for n, line in enumerate(open(path, "rb"), 1):
        if line.startswith(b"\0"):
            break  # zeros after the last record: a live strict segment's write-ahead
        rec = json.loads(line)
        if rec["kind"] == "checkpoint":
            continue
        canonical = line[: line.rindex(b',"hash":"')] + b"}"
        assert prev is None or (rec["prev"] == prev and rec["seq"] == seq + 1), f"{path}:{n}: chain broken"
        assert hashlib.sha256(rec["prev"].encode() + canonical).hexdigest() == rec["hash"], f"{path}:{n}: hash mismatch"
        prev, seq = rec["hash"], rec["seq"]
print(f"ok {seq}")
