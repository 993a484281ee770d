#!/bin/bash
# tests/t-remove.sh - d in the dashboard: a complete image taken out of
# the store after a y/n question, its blobs pruned when nothing else uses
# them (a layer it shares with another image stays), the store still
# valid; n keeps it. And the header shows the free space.
. "$(dirname "$0")/lib.sh"
: "${PULLTOP:?}" "${REG:?}"
T=$(t_tmpdir)
command -v tmux >/dev/null 2>&1 || { t_fail "remove: tmux" "tmux is not installed"; t_summary; exit 1; }
sock=$T/tmux.sock
t_cleanup_push tmux -S "$sock" kill-server
tmx() { tmux -S "$sock" -f /dev/null "$@"; }
S=$T/store
# multi:v1 and shared:v1 share their first two layers
tmx new-session -d -x 120 -y 40 "$(printf '%q ' "$PULLTOP" --store "$S" \
    "$REG/test/multi:v1" "$REG/test/shared:v1")"
wait_for() {	# ERE SECS
	local i
	for ((i = 0; i < $2 * 5; i++)); do
		tmx capture-pane -p >"$T/cap" 2>/dev/null
		grep -Eq -- "$1" "$T/cap" && return 0
		sleep 0.2
	done
	return 1
}
ok_free=0
wait_for 'images 2/2' 60 && grep -Eq ' free [0-9.]+ [kMGT]?B' "$T/cap" && ok_free=1
[ $ok_free = 1 ] && t_pass "header shows the free space of the store's filesystem" ||
	t_fail "header shows the free space of the store's filesystem" "$(head -1 "$T/cap")"
shared_layers=$(json_get "[l['digest'][7:] for i in d['images'] if i['name']=='test/shared' for l in i['layers']]" "$FIXTURES")
multi_only=$(json_get "[l['digest'][7:] for i in d['images'] if i['name']=='test/multi' for l in i['layers'][2:]]" "$FIXTURES")

# n keeps it
tmx send-keys Home d
if wait_for 'Remove .*test/multi:v1 from the store\? \(y/n\)' 10; then
	tmx send-keys n
	sleep 0.5
	n=$(json_get 'len(d["manifests"])' "$S/index.json")
	[ "$n" = 2 ] && t_pass "d then n: nothing removed" || t_fail "d then n: nothing removed" "$n entries"
else
	t_fail "d then n: nothing removed" "no question: $(sed -n '5,8p' "$T/cap")"
fi
# y removes multi:v1, prunes its own layers, keeps the shared ones
tmx send-keys Home d
if wait_for 'Remove .*test/multi:v1' 10; then
	tmx send-keys y
	wait_for 'removed from the store' 10
	refs=$(json_get '[m["annotations"]["org.opencontainers.image.ref.name"] for m in d["manifests"]]' "$S/index.json")
	gone=1 kept=1
	for h in $(tr -d '[]",' <<<"$multi_only"); do [ -e "$S/blobs/sha256/$h" ] && gone=0; done
	for h in $(tr -d '[]",' <<<"$shared_layers"); do [ -e "$S/blobs/sha256/$h" ] || kept=0; done
	if grep -q 'test/multi:v1' <<<"$refs" || ! grep -q 'test/shared:v1' <<<"$refs"; then
		t_fail "d then y: multi:v1 out of index.json, shared:v1 kept" "$refs"
	else
		t_pass "d then y: multi:v1 out of index.json, shared:v1 kept"
	fi
	[ $gone = 1 ] && [ $kept = 1 ] && t_pass "d: its own layers pruned, the shared ones kept" ||
		t_fail "d: its own layers pruned, the shared ones kept" "gone=$gone kept=$kept"
	store_rehash "$S" >"$T/rh" && t_pass "d: the store still re-hashes" ||
		t_fail "d: the store still re-hashes" "$(head -2 "$T/rh")"
	grep -q 'test/multi:v1 .*Removed sha256:' "$T/cap" &&
		t_pass "d: the image row says it was removed" ||
		t_fail "d: the image row says it was removed" "$(sed -n '5,7p' "$T/cap")"
else
	t_fail "d then y: multi:v1 out of index.json, shared:v1 kept" "no question"
fi
tmx send-keys q
t_summary
