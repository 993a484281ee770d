#!/usr/bin/env bash
# t-valgrind.sh - whole pulls under valgrind --leak-check=full: plain with
# a retried reset, JSON, and the dashboard with a cancel and a retry. No
# errors, nothing definitely lost.
set -u
. "$(dirname "$0")/lib.sh"
T=${TMPDIR_TEST:-$(t_tmpdir)}
P=$PULLTOP
VG="valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 --track-fds=no"

vg_ok() {	# name log rc
	local name=$1 log=$2 rc=$3
	if [ "$rc" -eq 0 ] && grep -q 'ERROR SUMMARY: 0 errors' "$log" &&
	    ! grep -qE 'definitely lost: [1-9]' "$log"; then
		t_pass "$name"
	else
		t_fail "$name" "rc=$rc $(grep -E 'ERROR SUMMARY|definitely lost|Invalid|uninitialised' "$log" | head -4)"
	fi
}

proxy_start
L0=$(python3 -c "import json
d={i['name']+':'+i['tag']: i for i in json.load(open('$FIXTURES'))['images']}
print(d['test/big:v1']['layers'][0]['digest'][7:])")
proxy_set '{"reset_after": 300000, "times": 2, "only": "'"$L0"'"}'
$VG --log-file="$T/vg1.log" $P --store "$T/s1" --progress=plain --retry-delay 0.2 \
    "$PROXY/test/big:v1" "$PROXY/test/multi:v1" >"$T/o1" 2>&1
vg_ok "valgrind: plain pull of two images with resets and retries" "$T/vg1.log" $?
proxy_set '{}'
grep -q 'Retrying in' "$T/o1" && t_pass "valgrind run 1 did retry" || t_fail "valgrind run 1 did retry" "no retry seen"

$VG --log-file="$T/vg2.log" $P --store "$T/s2" --progress=json --unpack "$T/u2" \
    "$REG/test/docker:v1" "$REG/test/multiarch:v1" >"$T/o2" 2>&1
vg_ok "valgrind: JSON pull with --unpack" "$T/vg2.log" $?

# the dashboard: cancel the image mid-pull, retry it, let it finish, quit
sock=pulltop-vg-$$
t_cleanup_push tmux -L "$sock" kill-server
tmux -L "$sock" new-session -d -x 120 -y 40 \
    "$VG --log-file=$T/vg3.log $P --store $T/s3 --progress=tty --limit-rate 400K $REG/test/big:v1; echo \$? >$T/rc3; sleep 30"
cap() { tmux -L "$sock" capture-pane -p; }
waitfor() {	# text seconds
	local i
	for i in $(seq $(($2 * 5))); do cap | grep -q -- "$1" && return 0; sleep 0.2; done
	return 1
}
ok=1
waitfor 'Downloading' 60 || ok=0
tmux -L "$sock" send-keys c; waitfor 'Cancelled' 20 || ok=0
tmux -L "$sock" send-keys r; waitfor 'Complete *sha256:' 90 || ok=0
tmux -L "$sock" send-keys q
for i in $(seq 150); do [ -s "$T/rc3" ] && break; sleep 0.2; done
rc=$(cat "$T/rc3" 2>/dev/null || echo none)
[ $ok -eq 1 ] && t_pass "valgrind: dashboard cancel, retry and quit went through" || t_fail "valgrind: dashboard cancel, retry and quit went through" "$(cap | head -12 | tr -s ' ')"
vg_ok "valgrind: dashboard pull with a cancel and a retry" "$T/vg3.log" "${rc:-1}"
