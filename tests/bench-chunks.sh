#!/usr/bin/env bash
# tests/bench-chunks.sh - one big layer over several connections: the
# `chunks` fixture (bench/huge:v1, one ~272 MiB layer) on its own registry,
#   capped:   behind tests/faultproxy.py capping each connection at
#             BENCH_CHUNKS_CAP bytes/s (as a CDN does): pulltop --chunks 1,
#             pulltop (default --chunks 4), skopeo copy.
#             Target: default <= 0.35 x --chunks 1.
#   loopback: straight to the registry, no cap: pulltop --chunks 1 and
#             pulltop default. Target: default <= 1.05 x --chunks 1.
# Cold store each run, tools interleaved; medians of BENCH_CHUNKS_RUNS.
#
#   bash tests/bench-chunks.sh          (make bench runs it too;
#   BENCH_ONLY=chunks make bench        runs only this)
#
# Environment:
#   PULLTOP              the binary (default ./pulltop)
#   BENCH_CHUNKS_RUNS    rounds (default 3)
#   BENCH_CHUNKS_CAP     bytes/s per connection (default 20000000)
#   BENCH_CACHE          fixture layer cache (default /var/tmp/pulltop-bench-cache)
#   BENCH_TIMEOUT        seconds before one run is killed (default 120)
# A report: exits non-zero only when something broke.
set -u
. "$(dirname "$0")/lib.sh"
cd "$T_ROOT" || exit 1

PULLTOP=${PULLTOP:-$T_ROOT/pulltop}
RUNS=${BENCH_CHUNKS_RUNS:-3}
CAP=${BENCH_CHUNKS_CAP:-20000000}
CACHE=${BENCH_CACHE:-/var/tmp/pulltop-bench-cache}
LIMIT=${BENCH_TIMEOUT:-120}
IMG=bench/huge:v1
BROKEN=0

W=$(t_tmpdir) || exit 1
D=$W/out
mkdir -p "$CACHE"
registry_start >"$W/registry.out" 2>&1 || { cat "$W/registry.out"; exit 1; }
if ! python3 tests/fixtures.py --registry "$REGISTRY" --cache "$CACHE" \
	--out "$W/fixtures.json" chunks >"$W/fx.out" 2>"$W/fx.err"; then
	tail -n 5 "$W/fx.err"
	exit 1
fi
proxy_start --upstream "$REGISTRY" >/dev/null 2>&1 || { echo "bench-chunks: no proxy"; exit 1; }
SIZE=$(python3 -c "import json
print([i for i in json.load(open('$W/fixtures.json'))['images']][0]['layers'][0]['size'])")

# one NAME CMD...: a cold run; appends "NAME wall" to W/res, checks rc
one() {
	local name=$1 t0 t1 rc
	shift
	rm -rf "$D"
	sync
	t0=$(date +%s.%N)
	timeout "$LIMIT" "$@" >"$W/log.$name" 2>&1
	rc=$?
	t1=$(date +%s.%N)
	if [ "$rc" -ne 0 ] || [ "$(find "$D/blobs/sha256" -type f | wc -l)" -ne 3 ]; then
		echo "BROKEN: $name exit $rc: $(tail -n 2 "$W/log.$name" | tr '\n' ' ')"
		BROKEN=1
	fi
	echo "$name $(echo "$t1 - $t0" | bc)" >>"$W/res"
	printf ' %s %.2fs' "$name" "$(echo "$t1 - $t0" | bc)"
}

echo "== $IMG: one layer of $(awk -v b="$SIZE" 'BEGIN { printf "%.1f MiB", b / 1048576 }')," \
	"$RUNS round(s), cap $(awk -v c="$CAP" 'BEGIN { printf "%.0f MB/s", c / 1e6 }') per connection"
: >"$W/res"
proxy_set "{\"rate\": $CAP}"
for ((r = 1; r <= RUNS; r++)); do
	printf '  capped round %d:' "$r"
	one cap-single "$PULLTOP" --store "$D" -q --chunks 1 "$PROXY/$IMG"
	one cap-default "$PULLTOP" --store "$D" -q "$PROXY/$IMG"
	one cap-skopeo skopeo copy -q --src-tls-verify=false "docker://$PROXY/$IMG" "oci:$D:img"
	echo
done
proxy_set '{}'
for ((r = 1; r <= RUNS; r++)); do
	printf '  loopback round %d:' "$r"
	if [ $((r % 2)) = 1 ]; then
		one lo-single "$PULLTOP" --store "$D" -q --chunks 1 "$REGISTRY/$IMG"
		one lo-default "$PULLTOP" --store "$D" -q "$REGISTRY/$IMG"
	else
		one lo-default "$PULLTOP" --store "$D" -q "$REGISTRY/$IMG"
		one lo-single "$PULLTOP" --store "$D" -q --chunks 1 "$REGISTRY/$IMG"
	fi
	echo
done
rm -rf "$D"
python3 - "$W/res" <<'EOF'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    k, v = line.split()
    t.setdefault(k, []).append(float(v))
m = {k: statistics.median(v) for k, v in t.items()}
for k in ("cap-single", "cap-default", "cap-skopeo", "lo-single", "lo-default"):
    if k in m:
        print("  median %-12s %6.2fs" % (k, m[k]))
def ratio(a, b, target, what):
    if a in m and b in m:
        r = m[a] / m[b]
        print("  %s: %.2fx (target <= %.2fx) %s" % (what, r, target, "ok" if r <= target else "MISSED"))
ratio("cap-default", "cap-single", 0.35, "capped, default over --chunks 1")
if "cap-default" in m and "cap-skopeo" in m:
    print("  capped, default over skopeo: %.2fx" % (m["cap-default"] / m["cap-skopeo"]))
ratio("lo-default", "lo-single", 1.05, "loopback, default over --chunks 1")
EOF
exit "$BROKEN"
