#!/bin/bash
# tests/t-eta.sh - the estimate: the dashboard's header ETA sampled every
# second (tests/etacheck.py) against the time actually left, on a mix of
# many small layers and three big ones queued behind each other (-j 2), at
# two rates; once 10% of the bytes are in it must stay within +-40% (the
# tighter +-25% target is make bench's). And the JSON stream carries "eta".
. "$(dirname "$0")/lib.sh"
: "${PULLTOP:?}" "${REG:?}"
T=$(t_tmpdir)

command -v tmux >/dev/null 2>&1 || { t_fail "eta: tmux" "tmux is not installed"; t_summary; exit 1; }
for rate in 400K 800K; do
	sock=$T/tmux-$rate.sock
	t_cleanup_push tmux -S "$sock" kill-server
	out=$("$T_PYTHON" "$T_LIB_DIR/etacheck.py" --socket "$sock" -- \
	    "$PULLTOP" --store "$T/s-$rate" -j 2 --limit-rate "$rate" \
	    "$REG/test/many:v1" "$REG/test/big:v1")
	rc=$(json_get 'd["rc"]' <<<"$out")
	worst=$(json_get 'd["worst"]' <<<"$out")
	judged=$(json_get 'd["judged"]' <<<"$out")
	echo "# eta at $rate: $(json_get '[d["wall"], d["judged"], d["worst"], d["worst_at"]]' <<<"$out")"
	if [ "$rc" = 0 ] && [ "${judged:-0}" -ge 4 ] &&
	    awk -v w="$worst" 'BEGIN { exit !(w <= 0.40) }'; then
		t_pass "eta at $rate: header ETA within 40% after 10% ($judged samples, worst $worst)"
	else
		t_fail "eta at $rate: header ETA within 40% after 10%" \
		    "rc=$rc judged=$judged worst=$worst at $(json_get 'd["worst_at"]' <<<"$out")"
	fi
done

# the JSON stream: image objects carry "eta" while the pull runs
timeout 60 "$PULLTOP" --store "$T/sj" --progress=json -j 2 --limit-rate 2M \
    "$REG/test/big:v1" >"$T/j" 2>&1
"$T_PYTHON" -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
etas = [o["eta"] for o in lines if "eta" in o]
assert etas and all(isinstance(e, int) and e >= 0 for e in etas), etas[:5]
' "$T/j" && t_pass "json: \"eta\" in seconds on the image's objects" ||
	t_fail "json: \"eta\" in seconds on the image's objects" "$(grep -c eta "$T/j") lines with eta"
t_summary
