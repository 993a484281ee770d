#!/usr/bin/env bash
# tests/faultmatrix.sh - the fault matrix: each fault of the fault proxy,
# pulltop next to `skopeo copy` (with and without --retry-times), on the
# same image through the same proxy. Prints result, seconds and blob bytes
# sent. A report, not a test: `bash tests/faultmatrix.sh`.
set -u
. "$(dirname "$0")/lib.sh"
cd "$T_ROOT"
P=${PULLTOP:-$T_ROOT/pulltop}
T=$(t_tmpdir)
registry_start || exit 1
fixtures_push test "$T/fx.json" >/dev/null || exit 1
proxy_start
IMG=test/big:v1
L0=$(python3 -c "import json
d={i['name']+':'+i['tag']: i for i in json.load(open('$T/fx.json'))['images']}
print(d['$IMG']['layers'][0]['digest'][7:])")
TOTAL=$(python3 -c "import json
d={i['name']+':'+i['tag']: i for i in json.load(open('$T/fx.json'))['images']}
print(sum(l['size'] for l in d['$IMG']['layers']))")

run() {	# tool fault-json -> "result secs bytes"
	local tool=$1 fault=$2 t0 rc d=$T/out
	rm -rf "$d"
	proxy_set "$fault"; proxy_reset
	t0=$(date +%s.%N)
	case $tool in
	pulltop) timeout 120 $P --store "$d" -q --retry-delay 1 --stall-timeout 5 "$PROXY/$IMG" >/dev/null 2>&1 ;;
	skopeo) timeout 120 skopeo copy -q --src-tls-verify=false "docker://$PROXY/$IMG" "oci:$d:x" >/dev/null 2>&1 ;;
	skopeo-retry) timeout 120 skopeo copy -q --retry-times 5 --src-tls-verify=false "docker://$PROXY/$IMG" "oci:$d:x" >/dev/null 2>&1 ;;
	esac
	rc=$?
	printf '%-8s %6.1f %10s' "$([ $rc -eq 0 ] && echo ok || { [ $rc -eq 124 ] && echo timeout || echo "fail($rc)"; })" \
	    "$(echo "$(date +%s.%N) - $t0" | bc)" "$(proxy_stats | json_get 'd["blob_bytes"]')"
	proxy_set '{}'
}

echo "image $IMG: 3 layers, $TOTAL bytes; fault applied to layer ${L0:0:12} unless noted"
printf '%-34s | %-27s | %-27s | %-27s\n' fault "pulltop" "skopeo copy" "skopeo --retry-times 5"
printf '%-34s | %-27s | %-27s | %-27s\n' "" "result  secs      bytes" "result  secs      bytes" "result  secs      bytes"
while IFS='|' read -r name fault; do
	printf '%-34s |' "$name"
	for tool in pulltop skopeo skopeo-retry; do
		printf ' %s |' "$(run $tool "$fault")"
	done
	echo
done <<EOF2
none|{}
reset after 1 MB (each layer, once)|{"reset_after": 1000000, "times": 3}
reset after 1 MB (twice per layer)|{"reset_after": 1000000, "times": 6}
503 x2|{"status": 503, "times": 2, "only": "$L0"}
429 x1, Retry-After: 2|{"status": 429, "times": 1, "retry_after": 2, "only": "$L0"}
stall after 500 kB (once)|{"stall_after": 500000, "times": 1, "stall_seconds": 60, "only": "$L0"}
503 forever|{"status": 503, "times": -1, "only": "$L0"}
404 on a blob|{"status": 404, "times": -1, "only": "$L0"}
EOF2
