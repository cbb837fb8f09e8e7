#!/usr/bin/env bash
# npm run bench: geosteer under dnsperf, pinned like the anchors of ../shared/bench
# (server on CPU 1, dnsperf on CPU 0), on the anchors' zone and query files.
#
#   bench/run.sh                       # mixed + wide at full speed, then latency at half rate
#   WORKLOADS="wide" DURATION=10 bench/run.sh
#   ANCHORS=1 bench/run.sh             # then the anchors side by side (../shared/bench/run-anchors.sh)
#   UDP="dgram batched" bench/run.sh   # both UDP paths (serve --udp), one after the other, same session
#   MAP=bench/map-weighted.yaml WORKLOADS=wide bench/run.sh   # the same names with answers: weighted 1
#   WORKLOADS=wide SIGNED_WORKLOADS="wide wide-do" bench/run.sh   # DNSSEC: wide unsigned, then wide and wide-do on the signed zone
#
# Prints, per workload: QPS, lost queries, server CPU microseconds per query
# (utime+stime of the server over the run / answered queries) and, at a fixed
# rate of half the measured QPS, latency percentiles from dnsperf -v.
# SIGNED_WORKLOADS (default wide-do) then run against a second server on a signed copy of MAP (a fresh
# key from geosteer keygen in a temp dir); `wide-do` is `wide` with the DO bit set, so the rows marked
# "signed" give the per-query cost and RSS of signing beside the unsigned rows of the same run.
# On 2 cores dnsperf saturates near 125-130k QPS: compare CPU per query, not QPS.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/bench}
WORK=${WORK:-/tmp/geodns-bench}
PORT=${PORT:-5310}
DURATION=${DURATION:-15}
WORKLOADS=${WORKLOADS:-"mixed wide"}
WORKERS=${WORKERS:-1}
UDP=${UDP:-batched}
MAP=${MAP:-bench/map.yaml}
SIGNED_WORKLOADS=${SIGNED_WORKLOADS-wide-do}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
DNSPERF_OPTS=${DNSPERF_OPTS:-"-c 4 -q 200 -T 1"}
HZ=$(getconf CLK_TCK)

command -v dnsperf >/dev/null && [[ -f $WORK/queries/wide-ecs.bin ]] || bash "$SHARED/run-anchors.sh" --install-only
npm run build --silent

# wide-do: the wide queries with DO=1 (the OPT's flags; each query is QNAME, QTYPE, QCLASS, then the OPT).
if [[ "$WORKLOADS $SIGNED_WORKLOADS" == *-do* && ! -f $WORK/queries/wide-do-ecs.bin ]]; then
  for base in wide mixed; do
    python3 - "$WORK/queries/$base-ecs.bin" "$WORK/queries/$base-do-ecs.bin" <<'PY'
import struct, sys
src, out = open(sys.argv[1], 'rb').read(), bytearray()
i = 0
while i < len(src):
    (n,) = struct.unpack_from('!H', src, i); m = bytearray(src[i + 2:i + 2 + n]); i += 2 + n
    o = 12
    while m[o]: o += m[o] + 1
    o += 5  # root label, QTYPE, QCLASS
    assert m[o] == 0 and struct.unpack_from('!H', m, o + 1)[0] == 41, 'no OPT after the question'
    m[o + 7] |= 0x80  # OPT TTL = ext-RCODE, version, flags: DO is the top bit of the flags
    out += struct.pack('!H', n) + m
open(sys.argv[2], 'wb').write(out)
PY
  done
fi
# The signed copy of MAP: beside a fresh combined key for each zone.
SIGNED_MAP=
if [[ -n $SIGNED_WORKLOADS ]]; then
  SIGNED_DIR=$(mktemp -d /tmp/geosteer-bench-signed.XXXXXX)
  cp "$MAP" "$SIGNED_DIR/map.yaml" # (the bench maps name no file relative to themselves)
  for zone in $(node -e 'const y = require("yaml"); for (const z of Object.keys(y.parse(require("fs").readFileSync(process.argv[1], "utf8")).zones)) console.log(z)' "$MAP"); do
    node dist/src/cli/main.js keygen "$zone" --dir "$SIGNED_DIR/keys" >/dev/null
    # zones.ZONE: gains dnssec: { keys: keys } as its first key
    sed -i "s|^  $zone:\$|&\n    dnssec: { keys: keys }|" "$SIGNED_DIR/map.yaml"
  done
  grep -q 'dnssec: { keys: keys }' "$SIGNED_DIR/map.yaml" || { echo "could not sign $MAP" >&2; exit 1; }
  SIGNED_MAP=$SIGNED_DIR/map.yaml
fi

SERVER=
# (|| true: errexit holds in the trap too, and SERVER is empty between servers)
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; [[ -z ${SIGNED_DIR:-} ]] || rm -rf "$SIGNED_DIR"' EXIT
# bench_server MAP WORKLOADS SUFFIX: one server on MAP, each workload measured, rows marked SUFFIX.
bench_server() {
local map=$1 workloads=$2 suffix=$3
taskset -c "$SERVER_CPU" node dist/src/cli/main.js serve --config "$map" --listen "127.0.0.1:$PORT" --workers "$WORKERS" --udp "$udp" >/tmp/geosteer-bench.log 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do
  dig +short +time=1 +tries=1 -p "$PORT" @127.0.0.1 example.test SOA 2>/dev/null | grep -q ns1 && break
  sleep 0.2
done
START_MS=$(grep -o '"startupMs":[0-9]*' /tmp/geosteer-bench.log | head -1 | cut -d: -f2 || true)

# CPU ticks of the server and all its children (cluster workers).
ticks() {
  local total=0 p
  for p in $SERVER $(pgrep -P "$SERVER" || true); do
    total=$((total + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
rss_mb() {
  local total=0 p
  for p in $SERVER $(pgrep -P "$SERVER" || true); do
    total=$((total + $(awk '/VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo $((total / 1024))
}

data() { echo "-B -d $WORK/queries/$1-ecs.bin"; }

PATH_USED=$(grep -o '"udp":"[a-z]*"' /tmp/geosteer-bench.log | head -1 | cut -d'"' -f4 || true)
printf '\ngeosteer %s, --udp %s (in use: %s), workers=%s, server on CPU %s, dnsperf on CPU %s, %ss per run, startup %s ms, map %s\n\n' \
  "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" "$udp" "${PATH_USED:-?}" "$WORKERS" "$SERVER_CPU" "$CLIENT_CPU" "$DURATION" "${START_MS:-?}" "$map"
printf '| workload | QPS | lost | server us/query | srv%% | RSS MB | p50 ms | p99 ms | p99.9 ms | at QPS |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$PORT" $(data mixed) -l 2 $DNSPERF_OPTS >/dev/null 2>&1 # warm-up
for wl in $workloads; do
  t0=$(ticks); s0=$(date +%s.%N)
  out=$(taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$PORT" $(data "$wl") -l "$DURATION" $DNSPERF_OPTS 2>&1)
  t1=$(ticks); s1=$(date +%s.%N)
  qps=$(awk '/Queries per second/{print $4}' <<<"$out")
  done_q=$(awk '/Queries completed/{print $3}' <<<"$out")
  lost=$(awk '/Queries lost/{print $3}' <<<"$out")
  us=$(awk -v t=$((t1 - t0)) -v hz="$HZ" -v q="$done_q" 'BEGIN{printf "%.1f", t / hz * 1e6 / q}')
  srv=$(awk -v t=$((t1 - t0)) -v hz="$HZ" -v a="$s0" -v b="$s1" 'BEGIN{printf "%.0f", t / hz / (b - a) * 100}')
  # Latency at a fixed rate, half of what was just measured: dnsperf -v prints one line per answer.
  half=$(awk -v q="$qps" 'BEGIN{printf "%d", q / 2}')
  # (written to /dev/shm first: a pipe to awk/sort would compete with the server for CPU and show up as latency)
  taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$PORT" $(data "$wl") -l 10 -Q "$half" -v $DNSPERF_OPTS >/dev/shm/geosteer-lat.txt 2>/dev/null
  lat=$(awk '$1 == ">" {print $NF * 1000}' /dev/shm/geosteer-lat.txt |
    sort -n | awk '{a[NR]=$1} END {if (NR == 0) {print "? ? ?"; exit} printf "%.3f %.3f %.3f", a[int(NR*0.5)], a[int(NR*0.99)], a[int(NR*0.999)]}')
  read -r p50 p99 p999 <<<"$lat"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$wl$suffix" "${qps%.*}" "$lost" "$us" "$srv" "$(rss_mb)" "$p50" "$p99" "$p999" "$half"
done
echo
kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true
SERVER=
}

for udp in $UDP; do
  bench_server "$MAP" "$WORKLOADS" ""
  [[ -z $SIGNED_MAP ]] || bench_server "$SIGNED_MAP" "$SIGNED_WORKLOADS" " (signed)"
done

if [[ -n ${ANCHORS:-} ]]; then
  THREADS=${THREADS:-1} WORKLOADS=${ANCHOR_WORKLOADS:-"mixed wide"} REPEATS=${REPEATS:-1} \
    CUSTOM_NAME=geosteer CUSTOM_PORT=$PORT \
    CUSTOM_CMD="node $(pwd)/dist/src/cli/main.js serve --config $(pwd)/bench/map.yaml --listen 127.0.0.1:@PORT@ --workers $WORKERS --udp ${UDP##* }" \
    bash "$SHARED/run-anchors.sh" ${ANCHOR_LIST:-gdnsd pdns knot custom}
fi
