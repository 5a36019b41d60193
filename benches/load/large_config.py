#!/usr/bin/env python3
"""The large configuration's partners, keys and routes: 10 000 partners with 2 keys each
(20 000 keys), 100 permissions and 1 000 routes besides the benchmark's own route.

    large_config.py <benchmark API key>   # TOML on stdout, appended to kwanus.toml
"""
import hashlib
import sys

key = sys.argv[1]
sha = hashlib.sha256(key.encode()).hexdigest()
out = ['[permissions]', '"reports:read" = { kind = "read" }']
out += [f'"p{i}:read" = {{ kind = "read" }}' for i in range(100)]
for r in range(1000):
    out += ['', '[[routes]]', f'name = "r{r}"', 'method = "GET"', f'path = "/v1/area{r}/items/{{id}}"',
            f'permission = "p{r % 100}:read"', 'upstream = "api"']
out += ['', '[[routes]]', 'name = "get-report"', 'method = "GET"', 'path = "/v1/reports/{id}"',
        'permission = "reports:read"', 'upstream = "api"']
second = hashlib.sha256(b"load-2").hexdigest()
out += ['', '[[partners]]', 'id = "load"', 'tier = 1', 'stage = "active"', 'permissions = ["reports:read"]',
        f'keys = [{{ id = "load-1", sha256 = "{sha}" }}, {{ id = "load-2", sha256 = "{second}" }}]']
for p in range(9999):
    k1 = hashlib.sha256(f"k{p}a".encode()).hexdigest()
    k2 = hashlib.sha256(f"k{p}b".encode()).hexdigest()
    perms = ", ".join(f'"p{(p + j) % 100}:read"' for j in range(3))
    out += ['', '[[partners]]', f'id = "partner{p}"', 'tier = 1', 'stage = "active"', f'permissions = [{perms}]',
            f'keys = [{{ id = "partner{p}-a", sha256 = "{k1}" }}, {{ id = "partner{p}-b", sha256 = "{k2}" }}]']
print("\n".join(out))
