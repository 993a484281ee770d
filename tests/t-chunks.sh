#!/usr/bin/env bash
# t-chunks.sh - one blob over several connections (--chunks): the split
# blob completes and re-hashes; resets resume per range; a server that
# ignores Range or answers another range still gives a correct blob;
# kill -9 mid-split resumes from the range map; cancel and retry in the
# dashboard; one-time redirected storage URLs. test/big:v1 has three 4 MiB
# random layers, --chunk-min 1M lets them split, and the proxy caps each
# connection at 1 MB/s (as CDNs do): one stream runs the half-second probe,
# finds the rest would take over 2 s, and the layer goes on as ranges.
# Faults that should hit ranges skip the config and the three probes.
set -u
. "$(dirname "$0")/lib.sh"
T=${TMPDIR_TEST:-$(t_tmpdir)}
P=$PULLTOP
IMG=test/big:v1
MIB=1048576
CH="--chunk-min 1M --retry-delay 0.2"

fx() {
	python3 -c "import json
d={i['name']+':'+i['tag']: i for i in json.load(open('$FIXTURES'))['images']}
print($1)"
}
TOTAL=$(fx "sum(l['size'] for l in d['$IMG']['layers'])")
L0=$(fx "d['$IMG']['layers'][0]['digest'][7:]")
CONFIG=$(fx "d['$IMG']['config']['size']")

proxy_start

store_ok() {
	store_rehash "$1" >/dev/null && skopeo inspect "oci:$1:$PROXY/$IMG" >/dev/null 2>&1
}

# bounded range requests the proxy saw for layer digests: "bytes=A-B"
bounded() {
	proxy_stats | python3 -c "import json,sys,re
d=json.load(sys.stdin)
print(sum(1 for r in d['requests'] if r['range'] and re.match(r'bytes=\d+-\d+$', r['range'])))"
}

# run NAME FAULT ARGS...: a fresh store, one pull through the proxy
run() {
	local name=$1 fault=$2
	shift 2
	S=$T/s-$name OUT=$T/$name.out
	rm -rf "$S"
	fault=$("$T_PYTHON" -c 'import json, sys
d = json.loads(sys.argv[1]); d.setdefault("rate", 1000000); print(json.dumps(d))' "$fault")
	proxy_set "$fault"
	proxy_reset
	timeout 60 $P --store "$S" --progress=plain $CH "$@" "$PROXY/$IMG" >"$OUT" 2>&1
	rc=$?
	bytes=$(proxy_stats | json_get 'd["blob_bytes"]')
	nb=$(bounded)
	proxy_set '{}'
	echo "# $name: rc=$rc bytes=$bytes bounded=$nb (total $TOTAL)" >&2
}

completes() {
	if [ "$rc" -eq 0 ] && store_ok "$S"; then
		t_pass "$1: pull completes and every blob re-hashes"
	else
		t_fail "$1: pull completes and every blob re-hashes" "rc=$rc $(tail -3 "$OUT" | tr '\n' ' ')"
	fi
}

# --- split, no fault
run split '{}'
completes "split"
[ "$nb" -ge 6 ] && t_pass "split: each layer asked as bounded ranges (bytes=A-B)" ||
	t_fail "split: each layer asked as bounded ranges (bytes=A-B)" "$nb bounded requests"
# the probe's bytes stay in the partial; what it had in flight when it
# stopped is all that may come twice
[ "$bytes" -ge $((TOTAL + CONFIG)) ] && [ "$bytes" -le $((TOTAL + CONFIG + 3 * 262144)) ] &&
	t_pass "split: every byte sent once (but a probe's bytes in flight)" ||
	t_fail "split: every byte sent once (but a probe's bytes in flight)" "$bytes of $TOTAL + $CONFIG"
ls "$S"/ingest/*.ranges >/dev/null 2>&1 && t_fail "split: no range map is left behind" "$(ls "$S"/ingest)" ||
	t_pass "split: no range map is left behind"
grep -q 'Pull complete\|Download complete' "$OUT" && ! grep -qE '[0-9.]+[kMG]?B/[0-9.]+[kMG]?B.*[0-9.]+[kMG]?B/' "$OUT" &&
	t_pass "split: plain output reports each layer as one" || t_fail "split: plain output reports each layer as one" "$(head -5 "$OUT")"

run single '{}' --chunks 1
completes "--chunks 1"
[ "$nb" -eq 0 ] && t_pass "--chunks 1: no range requests" || t_fail "--chunks 1: no range requests" "$nb"

# --- mid-range resets: each resumes on its own
run reset '{"reset_after": 300000, "times": 3, "skip": 4, "rate_always": true}'
completes "reset mid-range"
[ "$bytes" -le $((TOTAL + 3 * MIB)) ] && t_pass "reset: bytes sent <= blob + 1 MiB per reset" ||
	t_fail "reset: bytes sent <= blob + 1 MiB per reset" "$bytes > $TOTAL + 3 MiB"
n=$(grep -c 'Retrying\|Error' "$OUT")
[ "$n" -eq 0 ] && t_pass "reset: the layer retries its range without a blob-wide retry" ||
	t_fail "reset: the layer retries its range without a blob-wide retry" "$(grep 'Retrying\|Error' "$OUT" | head -2)"

# --- servers that mishandle Range
run ignore '{"ignore_range": true}'
completes "200 to a range (ignores Range)"
run ignore-late '{"ignore_range": true, "skip": 6, "rate_always": true}'
completes "200 to a later range, after 206s"
run badrange '{"bad_range": true}'
completes "206 with another Content-Range start"
run openrange '{"open_range": true}'
completes "206 with a Content-Range to the blob's end"

# --- redirected to one-time storage URLs; a reset range asks again
run redirect '{"redirect": true, "reset_after": 300000, "times": 2, "skip": 4, "rate_always": true}'
completes "redirect + resets"
st=$(proxy_stats)
red=$(echo "$st" | json_get 'd["redirects"]')
exp=$(echo "$st" | json_get 'd["expired_requests"]')
[ "$nb" -ge 6 ] && [ "$exp" -eq 0 ] && t_pass "redirect: ranges split, each asked the registry for a fresh URL" ||
	t_fail "redirect: ranges split, each asked the registry for a fresh URL" "bounded=$nb redirects=$red expired=$exp"

# --- kill -9 mid-split, then the next run completes from the map
S=$T/s-kill
rm -rf "$S"
proxy_set '{"rate": 700000}'
proxy_reset
$P --store "$S" --progress=plain $CH -j 1 "$PROXY/$IMG" >"$T/kill.out" 2>&1 &
pid=$!
t_track_pid "$pid"
sleep 2.5
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
first=$(proxy_stats | json_get 'd["blob_bytes"]')
maps=$(ls "$S"/ingest/*.ranges 2>/dev/null | wc -l)
[ "$maps" -ge 1 ] && t_pass "kill -9: a range map is beside the partial" || t_fail "kill -9: a range map is beside the partial" "$(ls "$S/ingest")"
store_rehash "$S" >/dev/null && t_pass "kill -9: the store is valid" || t_fail "kill -9: the store is valid" "a blob does not re-hash"
proxy_set '{}'
proxy_reset
timeout 60 $P --store "$S" --progress=plain $CH -j 1 "$PROXY/$IMG" >"$T/kill2.out" 2>&1
rc=$?
second=$(proxy_stats | json_get 'd["blob_bytes"]')
echo "# kill: first=$first second=$second total=$TOTAL" >&2
OUT=$T/kill2.out
completes "kill -9 then rerun"
[ "$second" -le $((TOTAL - first + 4 * MIB)) ] && t_pass "kill -9: the rerun fetches <= missing + 1 MiB per range" ||
	t_fail "kill -9: the rerun fetches <= missing + 1 MiB per range" "$second > $TOTAL - $first + 4 MiB"

# --- a map that does not match its partial is thrown away
S=$T/s-kill
rm -rf "$S"/blobs/sha256/$L0
truncate -s 100 "$S/ingest/$L0.partial" 2>/dev/null || : >"$S/ingest/$L0.partial"
printf 'pulltop-ranges 1 sha256:%s 4 01\n00000000000000000000 00000000000000000004 00000000000000000004\ncrc 00000000\n' "$L0" >"$S/ingest/$L0.ranges"
timeout 60 $P --store "$S" --progress=plain $CH "$PROXY/$IMG" >"$T/bad.out" 2>&1
rc=$?
OUT=$T/bad.out
completes "a mismatched map is discarded"

# --- cancel and retry of a split blob in the dashboard
S=$T/s-tui
sock=pulltop-chunks-$$
t_cleanup_push tmux -L "$sock" kill-server
cap() { tmux -L "$sock" capture-pane -p; }
waitfor() {
	local i
	for i in $(seq $(($2 * 5))); do cap | grep -qE -- "$1" && return 0; sleep 0.2; done
	return 1
}
proxy_set '{"rate": 400000}'
proxy_reset
tmux -L "$sock" new-session -d -x 140 -y 40 \
    "$P --store $S --progress=tty $CH -j 1 $PROXY/$IMG; echo \$? >$T/rc; sleep 60"
waitfor 'Downloading' 20 || t_fail "tui: the pull started" "$(cap | head -8)"
sleep 1.5	# the probe's half second, then the ranges
# the Active row's bar is one segment per range: filled, then unfilled,
# then filled again (a single bar never is)
cap | grep 'Downloading' | grep -qE '[.·]{2,}[#█▏▎▍▌▋▊▉]' &&
	t_pass "dashboard: a split layer's bar has one segment per range" ||
	t_fail "dashboard: a split layer's bar has one segment per range" "$(cap | grep Downloading)"
# its details list the ranges with bytes and speed
tmux -L "$sock" send-keys Tab Enter
waitfor 'Range 3 ' 5 && cap | grep -E 'Range 1 .* / .*(B/s|done)' >/dev/null &&
	t_pass "dashboard: the layer's details list its ranges, bytes and speed" ||
	t_fail "dashboard: the layer's details list its ranges, bytes and speed" "$(cap | grep -i range | head -3)"
tmux -L "$sock" send-keys Escape BTab
sleep 0.3
tmux -L "$sock" send-keys c
waitfor "$IMG .*Cancelled" 10 && t_pass "cancel: the split image shows Cancelled" ||
	t_fail "cancel: the split image shows Cancelled" "$(cap | sed -n 4,8p)"
sleep 0.5
a=$(du -b "$S"/ingest/*.partial 2>/dev/null | awk '{s+=$1} END{print s+0}'); sleep 1
b=$(du -b "$S"/ingest/*.partial 2>/dev/null | awk '{s+=$1} END{print s+0}')
m=$(ls "$S"/ingest/*.ranges 2>/dev/null | wc -l)
[ "$a" = "$b" ] && [ "$m" -ge 1 ] && t_pass "cancel: the ranges stop, their map is kept" ||
	t_fail "cancel: the ranges stop, their map is kept" "partials $a -> $b, maps $m"
proxy_set '{}'
tmux -L "$sock" send-keys Home r
waitfor "$IMG .*Complete +sha256:" 60 && t_pass "retry: the split image completes" ||
	t_fail "retry: the split image completes" "$(cap | sed -n 4,8p)"
sent=$(proxy_stats | json_get 'd["blob_bytes"]')
[ "$sent" -le $((TOTAL + 4 * MIB)) ] && t_pass "retry: ranges resumed (bytes sent <= blob + 1 MiB per range)" ||
	t_fail "retry: ranges resumed (bytes sent <= blob + 1 MiB per range)" "$sent"
tmux -L "$sock" send-keys q
sleep 1
store_ok "$S" && t_pass "retry: blobs re-hash" || t_fail "retry: blobs re-hash" "$(cat $T/rc 2>/dev/null)"

t_summary
