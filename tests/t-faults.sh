#!/usr/bin/env bash
# t-faults.sh - transfers that survive: every fault of the fault proxy
# between pulltop and the real registry, resume across kill -9, two
# processes on one store, a corrupt partial, signals, and a full disk.
set -u
. "$(dirname "$0")/lib.sh"
T=${TMPDIR_TEST:-$(t_tmpdir)}
P=$PULLTOP
IMG=test/big:v1

fx() {
	python3 -c "import json,sys
d={i['name']+':'+i['tag']: i for i in json.load(open('$FIXTURES'))['images']}
print($1)"
}
BIG_TOTAL=$(fx "sum(l['size'] for l in d['$IMG']['layers'])")
BIG_LAYER0=$(fx "d['$IMG']['layers'][0]['digest']")
MIB=1048576

proxy_start

store_ok() {	# a store is valid: blobs re-hash, index.json parses
	store_rehash "$1" >/dev/null && python3 -c "import json,sys
d=json.load(open('$1/index.json'))
assert d['schemaVersion']==2 and isinstance(d['manifests'],list)"
}

# run_fault NAME FAULT-JSON EXTRA-PULLTOP-ARGS... : a fresh store, pull via
# the proxy; sets rc, secs, bytes, S, OUT
run_fault() {
	local name=$1 fault=$2 t0 t1
	shift 2
	S=$T/store-$name OUT=$T/$name.out
	rm -rf "$S"
	proxy_set "$fault"
	proxy_reset
	t0=$(date +%s.%N)
	timeout 120 $P --store "$S" --progress=plain --retry-delay 0.2 "$@" \
	    "$PROXY/$IMG" >"$OUT" 2>&1
	rc=$?
	t1=$(date +%s.%N)
	secs=$(echo "$t1 - $t0" | bc)
	bytes=$(proxy_stats | json_get 'd["blob_bytes"]')
	proxy_set '{}'
	echo "# $name: rc=$rc secs=$secs bytes=$bytes (blob total $BIG_TOTAL)" >&2
}

completes() {	# NAME: the pull ended 0 with a valid store holding the image
	if [ "$rc" -eq 0 ] && store_ok "$S" && skopeo inspect "oci:$S:$PROXY/$IMG" >/dev/null 2>&1; then
		t_pass "$1: pull completes and every blob re-hashes"
	else
		t_fail "$1: pull completes and every blob re-hashes" "rc=$rc $(tail -3 "$OUT")"
	fi
}

# --- connection reset mid-body: resumed with Range, not restarted
run_fault reset '{"reset_after": 1000000, "times": 3}'
completes "reset after 1 MB"
[ "$bytes" -le $((BIG_TOTAL + MIB)) ] && t_pass "reset: bytes sent <= blob size + 1 MiB (resumed)" ||
	t_fail "reset: bytes sent <= blob size + 1 MiB (resumed)" "$bytes > $BIG_TOTAL + 1MiB"
n=$(proxy_stats | json_get 'd["range_requests"]')
grep -q 'Retrying in' "$OUT" && t_pass "reset: progress shows Retrying in Ns (attempt k/N)" ||
	t_fail "reset: progress shows Retrying in Ns (attempt k/N)" "$(grep -c . "$OUT") lines"

# --- 503 and 429, then success
run_fault s503 '{"status": 503, "times": 4}'
completes "503 twice per layer"
run_fault s429 '{"status": 429, "retry_after": 2, "times": 1, "only": "'"${BIG_LAYER0#sha256:}"'"}'
completes "429 with Retry-After"
awk "BEGIN{exit !($secs >= 1.9)}" && t_pass "429: Retry-After: 2 is honoured" || t_fail "429: Retry-After: 2 is honoured" "took ${secs}s"

# --- a stall: shown as Stalled, aborted after --stall-timeout, resumed
run_fault stall '{"stall_after": 500000, "times": 1, "only": "'"${BIG_LAYER0#sha256:}"'"}' --stall-timeout 3
completes "stall mid-body"
grep -q ': Stalled$' "$OUT" && t_pass "stall: shown as Stalled before the timeout" || t_fail "stall: shown as Stalled before the timeout" "no Stalled line"
grep -q 'stalled: no data for 3s' "$OUT" && t_pass "stall: aborted and retried after --stall-timeout" ||
	t_fail "stall: aborted and retried after --stall-timeout" "$(grep -i stall "$OUT" | head -3)"
[ "$bytes" -le $((BIG_TOTAL + MIB)) ] && t_pass "stall: resumed, not restarted" || t_fail "stall: resumed, not restarted" "$bytes"

# --- a server that ignores Range (200 with the full body): no splice
# two phases in one pull: reset once, then the retry's Range is ignored
rm -rf "$T/store-ign"; proxy_reset
proxy_set '{"reset_after": 1500000, "times": 1, "only": "'"${BIG_LAYER0#sha256:}"'"}'
( sleep 0.1; while ! proxy_stats | grep -qE '"resets": [1-9]'; do sleep 0.05; done
  proxy_set '{"ignore_range": true}' ) &
helper=$!
S=$T/store-ign OUT=$T/ign.out
timeout 120 $P --store "$S" --progress=plain --retry-delay 1 "$PROXY/$IMG" >"$OUT" 2>&1; rc=$?
wait $helper 2>/dev/null
proxy_set '{}'
completes "Range ignored (200 answer) after a reset"
n=$(proxy_stats | json_get "sum(1 for r in d['requests'] if r['path'].endswith('$BIG_LAYER0') and r['range'])")
[ "$n" -ge 1 ] && t_pass "ignored Range: the retry asked to resume" || t_fail "ignored Range: the retry asked to resume" "no Range request seen"

# --- a 206 with the wrong Content-Range: never spliced, restarted from 0
# (one setting for both phases: the first GET has no Range, so only the
# reset applies to it; the resuming GET gets the wrong Content-Range; no
# helper racing the retry on a loaded machine)
rm -rf "$T/store-bad"; proxy_reset
proxy_set '{"reset_after": 1500000, "bad_range": true, "times": 2, "only": "'"${BIG_LAYER0#sha256:}"'"}'
S=$T/store-bad OUT=$T/bad.out
timeout 120 $P --store "$S" --progress=plain --retry-delay 1 "$PROXY/$IMG" >"$OUT" 2>&1; rc=$?
proxy_set '{}'
completes "206 with a wrong Content-Range"
grep -q "Content-Range" "$OUT" && t_pass "wrong Content-Range is reported and not spliced" || t_fail "wrong Content-Range is reported and not spliced" "$(grep -i retr "$OUT" | head -2)"

# --- a redirect to a storage URL that breaks: the retry asks the registry
# again (signed URLs expire: the proxy answers 403 to one used twice)
run_fault redirect '{"redirect": true, "reset_after": 1000000, "times": 1, "only": "'"${BIG_LAYER0#sha256:}"'"}'
completes "reset on the storage host after a redirect"
proxy_stats | python3 -c "import json, sys
d = json.load(sys.stdin)
mine = [r for r in d['requests'] if r['path'].endswith('$BIG_LAYER0')]
reg = sum(1 for r in mine if not r.get('storage'))
sto = sum(1 for r in mine if r.get('storage'))
print('registry %d, storage %d, expired %d, resumed %s' % (reg, sto,
    d['expired_requests'], [r['range'] for r in mine if r.get('storage')]))
sys.exit(not (reg == 2 and sto == 2 and d['expired_requests'] == 0 and
    any(r['range'] for r in mine if r.get('storage'))))" >"$T/redirect.check" &&
	t_pass "after a redirect, the retry asks the registry again and resumes" ||
	t_fail "after a redirect, the retry asks the registry again and resumes" "$(cat "$T/redirect.check")"

# --- 503 forever: exit 1 after N attempts, store valid
run_fault forever '{"status": 503, "times": -1, "only": "'"${BIG_LAYER0#sha256:}"'"}' --retries 3
n=$(proxy_stats | json_get "sum(1 for r in d['requests'] if r['path'].endswith('$BIG_LAYER0'))")
[ "$rc" -eq 1 ] && [ "$n" -eq 3 ] && t_pass "503 forever: exit 1 after --retries 3 attempts" || t_fail "503 forever: exit 1 after --retries 3 attempts" "rc=$rc attempts=$n"
grep -q "gave up after 3 attempts" "$OUT" && t_pass "503 forever: the error says it gave up" || t_fail "503 forever: the error says it gave up" "$(tail -2 "$OUT")"
store_ok "$S" && t_pass "503 forever: store still valid" || t_fail "503 forever: store still valid" ""

# --- 404 and 401 on a blob: not retried
for code in 404 401 403; do
	run_fault "s$code" '{"status": '$code', "times": -1, "only": "'"${BIG_LAYER0#sha256:}"'"}'
	n=$(proxy_stats | json_get "sum(1 for r in d['requests'] if r['path'].endswith('$BIG_LAYER0'))")
	[ "$rc" -eq 1 ] && [ "$n" -eq 1 ] && t_pass "$code on a blob: fails at once, no retry" || t_fail "$code on a blob: fails at once, no retry" "rc=$rc attempts=$n"
done

# --- the config is fetched while the layers download, as docker does
CFG=$(fx "d['$IMG']['config']['digest']")
run_fault slowcfg '{"delay": 3, "times": 1, "only": "'"${CFG#sha256:}"'"}'
completes "config answered after 3 s"
proxy_stats | python3 -c "import json, sys
d = json.load(sys.stdin)
cfg = [r['t'] for r in d['requests'] if r['path'].endswith('$CFG')]
layers = {}
for r in d['requests']:
    dg = r['path'].rsplit('/', 1)[-1]
    if '/blobs/' in r['path'] and dg != '$CFG':
        layers.setdefault(dg, r['t'])
late = [k[7:19] for k, t in layers.items() if not cfg or t >= cfg[0] + 2.5]
print('%d layers, late: %s' % (len(layers), ' '.join(late) or 'none'))
sys.exit(len(layers) != $(fx "len(d['$IMG']['layers'])") or bool(late))" >"$T/slowcfg.check" &&
	t_pass "config answered after 3 s: every layer started before it came" ||
	t_fail "config answered after 3 s: every layer started before it came" "$(cat "$T/slowcfg.check")"
run_fault cfg404 '{"status": 404, "times": -1, "only": "'"${CFG#sha256:}"'"}'
[ "$rc" -eq 1 ] && grep -q "^pulltop: $PROXY/$IMG: config $CFG: " "$OUT" && store_ok "$S" &&
	! grep -q "$PROXY/$IMG" "$S/index.json" &&
	t_pass "config 404 while layers download: exit 1 naming the config, store valid" ||
	t_fail "config 404 while layers download: exit 1 naming the config, store valid" \
	    "rc=$rc $(grep '^pulltop: ' "$OUT" | head -n 2)"

# --- --limit-rate caps each download (a lower bound only: never flaky)
rm -rf "$T/store-rate"
t0=$(date +%s.%N)
$P --store "$T/store-rate" -q -j 1 --limit-rate 2M "$REG/$IMG" >/dev/null 2>&1; rc=$?
secs=$(echo "$(date +%s.%N) - $t0" | bc)
min=$(echo "$BIG_TOTAL / 2097152 * 0.85" | bc -l)
[ $rc -eq 0 ] && awk "BEGIN{exit !($secs >= $min)}" && t_pass "--limit-rate 2M: $BIG_TOTAL bytes take >= ${min%.*}s" ||
	t_fail "--limit-rate 2M caps the rate" "rc=$rc took ${secs}s"

# --- SIGINT / SIGTERM: exit 130 / 143, partial kept, resumed next time
for sig in INT TERM; do
	S=$T/store-sig$sig
	proxy_set '{"rate": 1000000}'; proxy_reset
	$P --store "$S" -q "$PROXY/$IMG" >/dev/null 2>&1 &
	pid=$!; t_track_pid $pid
	for i in $(seq 100); do
		sz=$(cat "$S"/ingest/*.partial 2>/dev/null | wc -c)
		[ "$sz" -gt 1500000 ] && break
		sleep 0.1
	done
	kill -$sig $pid; wait $pid; rc=$?
	want=$([ $sig = INT ] && echo 130 || echo 143)
	kept=$(cat "$S"/ingest/*.partial 2>/dev/null | wc -c)
	[ "$rc" -eq "$want" ] && [ "$kept" -gt 0 ] && t_pass "SIG$sig: exit $want, partial data kept" ||
		t_fail "SIG$sig: exit $want, partial data kept" "rc=$rc kept=$kept"
	proxy_set '{}'; proxy_reset
	$P --store "$S" -q "$PROXY/$IMG" >/dev/null 2>&1; rc=$?
	bytes=$(proxy_stats | json_get 'd["blob_bytes"]')
	[ "$rc" -eq 0 ] && [ "$bytes" -le $((BIG_TOTAL - kept + MIB)) ] && store_ok "$S" &&
		t_pass "SIG$sig: the next run resumes from the kept bytes" ||
		t_fail "SIG$sig: the next run resumes from the kept bytes" "rc=$rc fetched=$bytes kept=$kept total=$BIG_TOTAL"
done

# --- kill -9 at 12 random moments of a multi-layer pull
S=$T/store-kill
rm -rf "$S"
proxy_set '{"rate": 3000000}'; proxy_reset
RANDOM=4242
bad=0
for i in $(seq 12); do
	$P --store "$S" -q "$PROXY/$IMG" "$PROXY/test/many:v1" >/dev/null 2>&1 &
	pid=$!
	sleep "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"
	kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
	# killed before the store was whole (a busy machine, the first
	# round): no oci-layout and no blob - there is no store yet, and the
	# next round must make one; else it must be a valid one
	if [ ! -e "$S/oci-layout" ] && [ -z "$(ls "$S/blobs/sha256" 2>/dev/null)" ]; then
		echo "# kill $i: before the store was made" >&2
		continue
	fi
	{ store_ok "$S" && [ -s "$S/oci-layout" ]; } ||
		{ bad=$((bad + 1)); echo "# store invalid after kill $i" >&2; }
done
[ $bad -eq 0 ] && t_pass "kill -9 at 12 random moments: store valid after each" || t_fail "kill -9 at 12 random moments: store valid after each" "$bad invalid"
before=$(proxy_stats | json_get 'd["blob_bytes"]')
proxy_set '{}'; proxy_reset
missing=$(python3 -c "
import json,os
d={i['name']+':'+i['tag']: i for i in json.load(open('$FIXTURES'))['images']}
tot=0
for k in ('$IMG','test/many:v1'):
    for l in d[k]['layers']:
        h=l['digest'][7:]
        if os.path.exists('$S/blobs/sha256/'+h): continue
        p='$S/ingest/'+h+'.partial'
        tot+=l['size']-(os.path.getsize(p) if os.path.exists(p) else 0)
print(tot)")
$P --store "$S" -q "$PROXY/$IMG" "$PROXY/test/many:v1" >/dev/null 2>&1; rc=$?
after=$(proxy_stats | json_get 'd["blob_bytes"]')
echo "# kill -9: fetched $before during kills; missing $missing; final run fetched $after" >&2
[ $rc -eq 0 ] && store_ok "$S" && [ "$after" -le $((missing + MIB)) ] &&
	t_pass "after the kills the next run completes fetching little more than what was missing" ||
	t_fail "after the kills the next run completes fetching little more than what was missing" "rc=$rc fetched=$after missing=$missing"

# --- a partial with wrong bytes is discarded, never wedges
S=$T/store-corrupt
mkdir -p "$S/ingest"
head -c 300000 /dev/urandom >"$S/ingest/${BIG_LAYER0#sha256:}.partial"
$P --store "$S" -q --retry-delay 0.2 "$REG/$IMG" >"$T/corrupt.out" 2>&1; rc=$?
[ $rc -eq 0 ] && store_ok "$S" && t_pass "a corrupt partial is discarded and the pull completes" || t_fail "a corrupt partial is discarded and the pull completes" "rc=$rc $(tail -2 "$T/corrupt.out")"

# --- temporaries a killed process left: never in blobs/, swept once stale
S=$T/store-stale
mkdir -p "$S/blobs/sha256" "$S/ingest"
h=$(printf stale | sha256sum | cut -c1-64)
old=("$S/blobs/sha256/.$h.tmp.999999999" "$S/ingest/.$h.tmp.999999999"
    "$S/.index.json.tmp.999999999")
for f in "${old[@]}"; do echo junk >"$f"; touch -d '-2 min' "$f"; done
echo young >"$S/ingest/.$h.tmp.999999998"
$P --store "$S" -q "$REG/test/multi:v1" >"$T/stale.out" 2>&1; rc=$?
left=$(ls -d "${old[@]}" 2>/dev/null)
[ $rc -eq 0 ] && [ -z "$left" ] && [ -e "$S/ingest/.$h.tmp.999999998" ] &&
    store_ok "$S" &&
	t_pass "stale temporaries of a dead process are swept, a young one is kept" ||
	t_fail "stale temporaries of a dead process are swept, a young one is kept" \
	    "rc=$rc left: $left"

# --- two processes on one store
S=$T/store-two
proxy_set '{"rate": 4000000}'
$P --store "$S" -q "$PROXY/$IMG" "$PROXY/test/multi:v1" >"$T/two1.out" 2>&1 & p1=$!
$P --store "$S" -q "$PROXY/$IMG" "$PROXY/test/shared:v1" >"$T/two2.out" 2>&1 & p2=$!
wait $p1; r1=$?; wait $p2; r2=$?
proxy_set '{}'
n=$(python3 -c "import json;print(len(json.load(open('$S/index.json'))['manifests']))")
[ $r1 -eq 0 ] && [ $r2 -eq 0 ] && store_ok "$S" && [ "$n" -eq 3 ] &&
	t_pass "two pulltop processes on one store: both complete, store valid" ||
	t_fail "two pulltop processes on one store: both complete, store valid" "rc=$r1/$r2 entries=$n"

# --- disk too small: clear error before anything is fetched, index.json
# valid (ENOSPC in the middle of a download: t-store.sh)
if [ "$(id -u)" = 0 ] && mkdir -p "$T/small" && mount -t tmpfs -o size=6m tmpfs "$T/small" 2>/dev/null; then
	t_cleanup_push umount -l "$T/small"
	S=$T/small/store
	$P --store "$S" -q "$REG/test/multi:v1" >/dev/null 2>&1	# fits: index.json gets an entry
	out=$($P --store "$S" -q --retry-delay 0.2 "$REG/$IMG" 2>&1); rc=$?
	echo "# too small: $out" >&2
	[ $rc -eq 1 ] && echo "$out" | grep -q "needs 12\.[0-9] MB, [0-9.]* MB free on $S (pulltop --prune" &&
	    [ "$(echo "$out" | wc -l)" -eq 1 ] && [ -z "$(ls "$S/ingest" | grep partial)" ] &&
		t_pass "disk too small: exit 1 at once, one line saying what it needs and what is free" ||
		t_fail "disk too small: exit 1 at once, one line saying what it needs and what is free" "rc=$rc $out"
	store_ok "$S" && grep -q "test/multi:v1" "$S/index.json" && t_pass "disk too small: blobs/ re-hash, index.json valid and kept" ||
		t_fail "disk too small: blobs/ re-hash, index.json valid and kept" "$(store_rehash "$S")"
	umount "$T/small"
else
	t_fail "disk full test" "needs root to mount a small tmpfs"
fi
