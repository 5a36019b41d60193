#!/usr/bin/env bash
# A/B of two gateway binaries (e.g. before and after a refactor) on loopback: the same config
# (benches/load/kwanus.toml + kwanus-small.toml), 2 workers, wrk -t1 -c64 -d5s, ROUNDS rounds
# with the order alternating each round (this machine is shared and noisy: compare medians).
#
#   benches/load/ab.sh BEFORE_BINARY AFTER_BINARY     # ROUNDS=5 DURABILITY=buffered
set -euo pipefail
BEFORE=$(realpath "$1"); AFTER=$(realpath "$2")
cd "$(dirname "$0")/../.."
for t in nginx wrk curl python3; do command -v "$t" >/dev/null || { echo "needs $t (apt-get install nginx wrk curl python3)" >&2; exit 1; }; done
HERE=benches/load
WORK_PREFIX=ab
# shellcheck source=benches/load/common.sh
. "$HERE/common.sh"
UP=$(port); UP2=$(port)
mkdir -p "$WORK/up"
render "$HERE/upstream.nginx.conf" "$WORK/up/nginx.conf" DIR="$WORK/up" UP="$UP" UP2="$UP2"
nginx -p "$WORK/up" -c "$WORK/up/nginx.conf" -g 'daemon off;' & PIDS+=($!)
wait_port "$UP"
declare -A BIN=([before]=$BEFORE [after]=$AFTER)
declare -A PORTS
for n in before after; do
  P=$(port); A=$(port); PORTS[$n]=$P
  mkdir -p "$WORK/$n/audit"
  render "$HERE/kwanus.toml" "$WORK/$n/gw.toml" PORT="$P" ADMIN="$A" SHA="$SHA" DIR="$WORK/$n/audit" DURABILITY="${DURABILITY:-buffered}" UP="$UP"
  cat "$HERE/kwanus-small.toml" >> "$WORK/$n/gw.toml"; sed -i "s|@SHA@|$SHA|g" "$WORK/$n/gw.toml"
  "${BIN[$n]}" serve --no-watch --workers 2 --config "$WORK/$n/gw.toml" >/dev/null 2>&1 & PIDS+=($!)
  wait_port "$P"
done
for n in before after; do
  code=$(curl -s -o /dev/null -w "%{http_code}" -H "X-Api-Key: $KEY" "http://127.0.0.1:${PORTS[$n]}/v1/reports/42")
  [ "$code" = 200 ] || { echo "$n answers $code, not 200" >&2; exit 1; }
done
declare -A ALL
for r in $(seq 1 "${ROUNDS:-5}"); do
  order="before after"; [ $((r % 2)) -eq 0 ] && order="after before"
  for n in $order; do
    out=$(wrk -t1 -c64 -d5s -H "X-Api-Key: $KEY" "http://127.0.0.1:${PORTS[$n]}/v1/reports/42" 2>&1)
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    non=$(echo "$out" | grep -o "Non-2xx or 3xx responses: [0-9]*" | grep -o "[0-9]*$" || true)
    echo "round $r $n $rps req/s${non:+ (non-2xx: $non)}"
    ALL[$n]="${ALL[$n]:-} $rps"
  done
done
for n in before after; do
  echo "$n median: $(printf '%s\n' ${ALL[$n]} | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') req/s"
done
