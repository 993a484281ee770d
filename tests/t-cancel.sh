#!/usr/bin/env bash
# t-cancel.sh - cancel and retry through the dashboard where images share
# layers: cancelling one image stops its own layers within moments, but a
# layer it shares with another image keeps going for that one.
set -u
. "$(dirname "$0")/lib.sh"
T=${TMPDIR_TEST:-$(t_tmpdir)}
P=$PULLTOP
S=$T/store
sock=pulltop-cancel-$$
t_cleanup_push tmux -L "$sock" kill-server

fx() {
	python3 -c "import json
d={i['name']+':'+i['tag']: i for i in json.load(open('$FIXTURES'))['images']}
print($1)"
}
shared=$(fx "' '.join(l['digest'][7:] for l in d['test/shared:v1']['layers'] if l['digest'] in {x['digest'] for x in d['test/multi:v1']['layers']})")
own=$(fx "' '.join(l['digest'][7:] for l in d['test/shared:v1']['layers'] if l['digest'] not in {x['digest'] for x in d['test/multi:v1']['layers']})")

cap() { tmux -L "$sock" capture-pane -p; }
waitfor() {	# regex seconds
	local i
	for i in $(seq $(($2 * 5))); do cap | grep -qE -- "$1" && return 0; sleep 0.2; done
	return 1
}
# shared:v1 first, so its own layer is queued behind the shared ones
tmux -L "$sock" new-session -d -x 140 -y 40 \
    "$P --store $S --progress=tty -j 8 --limit-rate 60K $REG/test/shared:v1 $REG/test/multi:v1; echo \$? >$T/rc; sleep 60"
waitfor 'Downloading' 30 || t_fail "cancel: the pull started" "$(cap | head -8)"
# Images pane has focus, first image (shared:v1) selected: cancel it
tmux -L "$sock" send-keys c
waitfor 'test/shared:v1 .*Cancelled' 10 && t_pass "cancel: the image shows Cancelled" ||
	t_fail "cancel: the image shows Cancelled" "$(cap | sed -n 4,8p)"
# its own layer stops: the partial does not grow
sleep 0.5
a=$(cat "$S"/ingest/${own}.partial 2>/dev/null | wc -c); sleep 1.5
b=$(cat "$S"/ingest/${own}.partial 2>/dev/null | wc -c)
[ "$a" -gt 0 ] && [ "$a" = "$b" ] && [ ! -e "$S/blobs/sha256/$own" ] && t_pass "cancel: the image's own layer stops" ||
	t_fail "cancel: the image's own layer stops" "partial $a -> $b"
waitfor 'test/multi:v1 .*Complete +sha256:' 60 && t_pass "cancel: the other image completes" ||
	t_fail "cancel: the other image completes" "$(cap | sed -n 4,8p)"
n=0; for d in $shared; do [ -e "$S/blobs/sha256/$d" ] && n=$((n + 1)); done
[ "$n" -eq "$(echo $shared | wc -w)" ] && t_pass "cancel: shared layers kept going for the other image" ||
	t_fail "cancel: shared layers kept going for the other image" "$n of $(echo $shared | wc -w)"
# retry the cancelled image: it resumes and completes
tmux -L "$sock" send-keys Home r
waitfor 'test/shared:v1 .*Complete +sha256:' 60 && t_pass "retry: the cancelled image completes" ||
	t_fail "retry: the cancelled image completes" "$(cap | sed -n 4,8p)"
tmux -L "$sock" send-keys q
for i in $(seq 50); do [ -s "$T/rc" ] && break; sleep 0.2; done
[ "$(cat "$T/rc" 2>/dev/null)" = 0 ] && store_rehash "$S" >/dev/null &&
	[ "$(python3 -c "import json;print(len(json.load(open('$S/index.json'))['manifests']))")" = 2 ] &&
	t_pass "retry: exit 0, both images in the store, blobs re-hash" ||
	t_fail "retry: exit 0, both images in the store, blobs re-hash" "rc=$(cat "$T/rc" 2>/dev/null)"
