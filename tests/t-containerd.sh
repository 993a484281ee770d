#!/usr/bin/env bash
# t-containerd.sh - watching what containerd pulls: a real containerd
# (Debian's, private: its root, state and sockets in a temporary folder),
# real pulls by ctr from the test registry through the fault proxy (slowed
# so each layer takes seconds), and the watcher reading the content store.
# Also the errors (no store, no permission) and malformed or vanishing
# ingest folders, in content stores built by hand (labelled "hand-built").
set -u
. "$(dirname "$0")/lib.sh"
T=${TMPDIR_TEST:-$(t_tmpdir)}

if ! command -v containerd >/dev/null || ! command -v ctr >/dev/null; then
	t_fail "containerd: installed" "containerd and ctr not found (make deps)"
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	t_skip "containerd" "a private containerd needs root"
	exit 0
fi

# The watcher under test: tests/watch_driver.c over src/watch, printing
# each changed record as a line (see its header). Built from the sources,
# not from whatever objects lie in src/: a stale one would not match.
DRV=$T/watch_driver
if ! (cd "$T_ROOT" && cc -O1 -g -std=c11 -D_GNU_SOURCE -pthread \
    -Isrc/util -Isrc/config -Isrc/model -Isrc/watch -Isrc/oci \
    -o "$DRV" tests/watch_driver.c src/watch/*.c src/model/*.c \
    src/util/*.c src/oci/*.c $(pkg-config --libs jansson libcrypto) -lm) \
    >"$T/drv.build" 2>&1; then
	t_fail "watch driver builds" "$(tail -n 3 "$T/drv.build")"
	exit 1
fi

fx() {	# python expression over the fixtures, d: "name:tag" -> image
	python3 -c "import json
d={i['name']+':'+i['tag']: i for i in json.load(open('$FIXTURES'))['images']}
print($1)"
}

# ctrd_start DIR: a private containerd with everything under DIR; sets
# CTRD_PID, CTRD_SOCK, CTRD_ROOT. The plugins that need what a test
# machine may lack are off; so is the one that would make /opt/containerd.
ctrd_start() {
	local d=$1 i
	mkdir -p "$d"
	cat >"$d/config.toml" <<EOF
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$d/c.sock"
[ttrpc]
  address = "$d/c.ttrpc"
[debug]
  address = "$d/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/opt"
EOF
	containerd --config "$d/config.toml" </dev/null >"$d/log" 2>&1 &
	CTRD_PID=$!
	t_track_pid "$CTRD_PID"
	_t_watchdog "$CTRD_PID"
	CTRD_SOCK=$d/c.sock CTRD_ROOT=$d/root
	for ((i = 0; i < 100; i++)); do
		ctr -a "$CTRD_SOCK" version >/dev/null 2>&1 && return 0
		t_alive "$CTRD_PID" || break
		sleep 0.1
	done
	echo "containerd did not come up: $(tail -n 3 "$d/log")" >&2
	return 1
}

ctrd_stop() { t_kill_pid "$CTRD_PID"; }

fetch() {	# NAMESPACE IMAGE: ctr fetches IMAGE through the proxy
	ctr -a "$CTRD_SOCK" -n "$1" content fetch --plain-http "$PROXY/$2"
}

# check NAME PYTHON-BODY FILE: run the body with `lines` (the watcher's
# lines, split) and `fail(msg)`; PASS unless it failed.
check() {
	local name=$1 body=$2 file=$3 out
	if out=$(python3 - "$file" 2>&1 <<EOF
import json, sys
lines = [l.rstrip("\n").split(" ") for l in open(sys.argv[1])]
def fail(msg):
    print(msg)
    sys.exit(1)
def blob_rows(short):
    return [l for l in lines if l[0] == "blob" and l[1] == short]
$body
EOF
	); then
		t_pass "$name"
	else
		t_fail "$name" "$out"
	fi
}

proxy_start
BIG=test/big:v1 MULTI=test/multi:v1
# manifest digests, the first layer's hex; "hex:size" of each layer
read -r BIG_MF MULTI_MF BIG_L0 < <(fx "' '.join((d['$BIG']['digest'], d['$MULTI']['digest'], d['$BIG']['layers'][0]['digest'][7:]))")
layers() { fx "' '.join(l['digest'][7:] + ':' + str(l['size']) for l in d['$1']['layers'])"; }
BIG_LAYERS=$(layers "$BIG") MULTI_LAYERS=$(layers "$MULTI")

# ------------------------------------------------ two pulls, two namespaces
if ctrd_start "$T/c1"; then
	t_pass "containerd: a private daemon runs"
else
	t_fail "containerd: a private daemon runs" "$(tail -n 3 "$T/c1/log")"
	exit 1
fi
# 1 MB/s per layer: 4 MB layers take about 4 s, written in 1 MiB steps
proxy_set '{"rate": 1000000, "times": -1}'
OUT=$T/pull.out
"$DRV" "$CTRD_ROOT" 30 exit >"$OUT" 2>"$T/pull.err" &
wp=$!
t_track_pid "$wp"
# and pulltop itself, the same pulls: plain, JSON, the dashboard in tmux
P=$PULLTOP
"$P" --watch containerd --containerd-root "$CTRD_ROOT" --exit-when-done \
    --progress plain >"$T/p.out" 2>"$T/p.err" &
pp=$!
"$P" --watch containerd --containerd-root "$CTRD_ROOT" --exit-when-done \
    --progress json >"$T/j.out" 2>"$T/j.err" &
pj=$!
t_track_pid "$pp"
t_track_pid "$pj"
tmux_server "pulltop-t-containerd-$$"
printf -v cmd '%q ' sh -c '"$@"; echo $? >"$0"' "$T/tty.status" \
    "$P" --watch containerd --containerd-root "$CTRD_ROOT" \
    --exit-when-done --progress tty
tm new-session -d -s D -x 120 -y 32 "$cmd"
sleep 0.5
fetch testns "$BIG" >"$T/ctr1.out" 2>&1 &
c1=$!
fetch other "$MULTI" >"$T/ctr2.out" 2>&1 &
c2=$!
# the dashboard mid-pull
scr=""
for ((i = 0; i < 60; i++)); do
	scr=$(tm capture-pane -p -t D)
	grep -q 'Downloading' <<<"$scr" && grep -q "${BIG_L0:0:12}" <<<"$scr" &&
	    grep -Eq '[1-9][0-9.]* ?[kM]B */ *4\.2 MB|[0-9.]+ ?MB/s' <<<"$scr" && break
	sleep 0.2
done
echo "$scr" >"$T/tty-mid.txt"
wait "$c1"; r1=$?
wait "$c2"; r2=$?
[ "$r1" -eq 0 ] && [ "$r2" -eq 0 ] && t_pass "ctr: both pulls complete" ||
	t_fail "ctr: both pulls complete" "rc $r1 $r2: $(tail -n 2 "$T/ctr1.out" "$T/ctr2.out")"
t0=$(date +%s.%N)
wait "$wp"
rc=$? t1=$(date +%s.%N)
after=$(echo "$t1 - $t0" | bc)
[ "$rc" -eq 0 ] && awk "BEGIN{exit !($after >= 2 && $after < 8)}" &&
	t_pass "--exit-when-done: leaves a few seconds after the last download" ||
	t_fail "--exit-when-done: leaves a few seconds after the last download" "rc $rc after ${after}s"

check "big: each layer shows its total, growing bytes, then Download complete" "
for spec in '$BIG_LAYERS'.split():
    hexd, size = spec.split(':')
    rows = blob_rows(hexd[:12])
    if not rows: fail('no row for ' + hexd[:12])
    dl = [int(r[3]) for r in rows if r[2] == 'Downloading']
    if any(int(r[4]) != int(size) for r in rows if r[2] == 'Downloading'):
        fail(hexd[:12] + ': total is not ' + size)
    grow = sorted(set(d for d in dl if 0 < d < int(size)))
    if len(grow) < 2: fail(hexd[:12] + ': bytes did not grow: %s' % grow)
    if dl != sorted(dl): fail(hexd[:12] + ': bytes went back: %s' % dl)
    if not any(float(r[5]) > 100000 for r in rows if r[2] == 'Downloading'):
        fail(hexd[:12] + ': no speed shown')
    done = [r for r in rows if r[2] == 'Download' and r[3] == 'complete']
    if not done or done[-1][4] != size or done[-1][5] != size:
        fail(hexd[:12] + ': not Download complete with ' + size + ' bytes: %s' % rows[-1])
    if rows[-1] != done[-1]: fail(hexd[:12] + ': changed after completing')
" "$OUT"

check "big and multi: each row carries its namespace" "
for spec, ns in (('$BIG_LAYERS', 'testns'), ('$MULTI_LAYERS', 'other')):
    for s in spec.split():
        rows = [r for r in blob_rows(s[:12]) if r[2] == 'Downloading']
        if not rows or any(r[6] != ns for r in rows):
            fail(s[:12] + ': namespace is not ' + ns + ': %s' % rows[:1])
" "$OUT"

check "layers grouped under their manifest: ns@manifest, totals, Complete" "
for spec, ns, mf in (('$BIG_LAYERS', 'testns', '$BIG_MF'), ('$MULTI_LAYERS', 'other', '$MULTI_MF')):
    name = ns + '@' + mf
    ims = [l for l in lines if l[0] == 'image' and l[1] == name]
    if not ims: fail('no image ' + name)
    n = len(spec.split())
    total = sum(int(s.split(':')[1]) for s in spec.split())
    if ims[-1][2:] != ['Complete', str(n), str(n), str(total), str(total), '-']:
        fail(name + ': ends as %s' % ims[-1][2:])
    prog = [int(l[5]) for l in ims if l[2] == 'Downloading']
    if ns == 'testns' and (len(set(prog)) < 2 or prog != sorted(prog)):
        fail(name + ': bytes did not add up while downloading: %s' % prog)
    ids = set()
    for s in spec.split():
        rows = blob_rows(s[:12])
        ids |= set(r[7] for r in rows if r[2] == 'Downloading')
    if len(ids) != 1 or '-' in ids: fail(name + ': layers not in one image: %s' % ids)
" "$OUT"

check "a new download shows within 0.5 s of containerd starting it" "
seen = [float(l[2]) for l in lines if l[0] == 'seen']
if len(seen) < 7: fail('only %d downloads seen' % len(seen))
if max(seen) > 0.5: fail('seen after %.3f s' % max(seen))
" "$OUT"
[ -s "$T/pull.err" ] && t_fail "watcher: nothing on stderr" "$(head -n 3 "$T/pull.err")" ||
	t_pass "watcher: nothing on stderr"
for ((i = 0; i < 50; i++)); do
	[ -s "$T/tty.status" ] && ! t_alive "$pp" && ! t_alive "$pj" && break
	sleep 0.2
done
prc=$(wait "$pp"; echo $?) jrc=$(wait "$pj"; echo $?)
[ "$prc" = 0 ] && [ "$jrc" = 0 ] && [ "$(cat "$T/tty.status" 2>/dev/null)" = 0 ] &&
	t_pass "pulltop --watch containerd --exit-when-done: plain, JSON and the dashboard leave with 0" ||
	t_fail "pulltop --watch containerd --exit-when-done: plain, JSON and the dashboard leave with 0" \
	    "plain $prc, json $jrc, tty $(cat "$T/tty.status" 2>/dev/null): $(head -n 2 "$T/p.err" "$T/j.err")"
check "plain: each layer Downloading with growing bytes of its total, then Download complete" "
import re
text = open(sys.argv[1]).read()
for spec in '$BIG_LAYERS'.split():
    hexd, size = spec.split(':')
    dl = re.findall(r'^' + hexd[:12] + r': Downloading ([0-9.]+ [kMG]?B) / 4\.2 MB$', text, re.M)
    grow = [d for d in dl if d not in ('0 B', '4.2 MB')]
    if len(set(grow)) < 2: fail(hexd[:12] + ': no growing bytes: %s' % dl)
    if not re.search('^' + hexd[:12] + ': Download complete$', text, re.M):
        fail(hexd[:12] + ': no Download complete')
" "$T/p.out"
check "plain: the image is its namespace and manifest, Pulling from the namespace, then Downloaded" "
text = open(sys.argv[1]).read()
name = 'testns@$BIG_MF'
for want in (name + ': Pulling from testns', 'Digest: $BIG_MF',
             'Status: Downloaded newer image for ' + name):
    if want not in text.split(chr(10)): fail('no line: ' + want)
" "$T/p.out"
t_check "json: every line is JSON" json_lines_valid "$T/j.out" || true
check "json: each layer's progressDetail grows to its total, in image testns@manifest" "
docs = [json.loads(' '.join(l)) for l in lines if l and l[0]]
for spec in '$BIG_LAYERS'.split():
    hexd, size = spec.split(':')
    mine = [d for d in docs if d.get('id') == hexd[:12]]
    if any(d.get('image') != 'testns@$BIG_MF' for d in mine): fail(hexd[:12] + ': image is not testns@manifest')
    cur = [d['progressDetail']['current'] for d in mine if d.get('status') == 'Downloading']
    tot = set(d['progressDetail']['total'] for d in mine if d.get('status') == 'Downloading')
    if tot != {int(size)}: fail(hexd[:12] + ': totals %s' % tot)
    if len(set(c for c in cur if 0 < c < int(size))) < 2: fail(hexd[:12] + ': current did not grow: %s' % cur)
    if not any(d.get('status') == 'Download complete' for d in mine): fail(hexd[:12] + ': no Download complete')
" "$T/j.out"
check "dashboard: READ ONLY, the image, its layers Downloading with their namespace" "
text = open(sys.argv[1]).read()
for want in ('READ ONLY', 'testns@sha256:${BIG_MF:7:6}', '${BIG_L0:0:12}', 'Downloading', 'testns'):
    if want not in text: fail('not on screen: ' + want + ' --- ' + text[:1500])
" "$T/tty-mid.txt"
ctrd_stop

# ---------------------------------------------------- stalled, then aborted
if ctrd_start "$T/c2"; then
	OUT=$T/stall.out
	"$DRV" "$CTRD_ROOT" 2 >"$OUT" 2>&1 &
	wp=$!
	t_track_pid "$wp"
	"$P" --watch containerd --containerd-root "$CTRD_ROOT" --stall-timeout 2 \
	    --progress plain >"$T/sp.out" 2>"$T/sp.err" &
	pp=$!
	t_track_pid "$pp"
	# layer 0 stops after 1.5 MB: 1 MiB reaches the store, then nothing
	proxy_set '{"rate": 2000000, "stall_after": 1500000, "only": "'"$BIG_L0"'", "times": 1}'
	fetch testns "$BIG" >"$T/ctr3.out" 2>&1 &
	c3=$!
	# until the watcher and pulltop both say Stalled (at most 15 s)
	for ((i = 0; i < 150; i++)); do
		grep -q "^blob ${BIG_L0:0:12} Stalled " "$OUT" &&
		    grep -qx "${BIG_L0:0:12}: Stalled" "$T/sp.out" && break
		sleep 0.1
	done
	check "stall: the layer that stopped growing shows Stalled (--stall-timeout 2)" "
rows = blob_rows('${BIG_L0:0:12}')
st = [r for r in rows if r[2] == 'Stalled']
if not st: fail('no Stalled row: %s' % rows[-1:])
if int(st[-1][3]) != 1048576: fail('stalled at %s bytes, not 1 MiB' % st[-1][3])
" "$OUT"
	kill -KILL "$c3"
	wait "$c3" 2>/dev/null
	ingests=$(ls "$CTRD_ROOT/io.containerd.content.v1.content/ingest" | wc -l)
	# ctr's lease kept the ingest; removing it lets containerd's GC abort it
	for l in $(ctr -a "$CTRD_SOCK" -n testns leases ls -q); do
		ctr -a "$CTRD_SOCK" -n testns leases rm --sync "$l" >/dev/null
	done
	left=$(ls "$CTRD_ROOT/io.containerd.content.v1.content/ingest" | wc -l)
	# until the watcher says Aborted and Failed, and pulltop both (15 s)
	for ((i = 0; i < 150; i++)); do
		grep -q "^blob ${BIG_L0:0:12} Aborted " "$OUT" &&
		    grep -q "^image testns@$BIG_MF Failed " "$OUT" &&
		    grep -q "^${BIG_L0:0:12}: Aborted" "$T/sp.out" &&
		    grep -q "the pull stopped" "$T/sp.err" && break
		sleep 0.1
	done
	t_kill_pid "$wp"
	t_kill_pid "$pp"
	[ "$ingests" -ge 1 ] && [ "$left" -eq 0 ] &&
		t_pass "abort: ctr killed, its ingest removed by containerd's GC" ||
		t_fail "abort: ctr killed, its ingest removed by containerd's GC" "$ingests ingests, $left left"
	check "abort: the row of the ingest that went away shows Aborted" "
rows = blob_rows('${BIG_L0:0:12}')
if rows[-1][2] != 'Aborted': fail('ends as %s' % rows[-1][2:])
if 'went away at 1.0 MB of' not in ' '.join(rows[-1]): fail('no cause: %s' % rows[-1])
" "$OUT"
	check "abort: the image is Failed once nothing moved for a while" "
ims = [l for l in lines if l[0] == 'image' and l[1] == 'testns@$BIG_MF']
if not ims or ims[-1][2] != 'Failed': fail('image ends as %s' % (ims[-1][2:] if ims else None))
" "$OUT"
	grep -qx "${BIG_L0:0:12}: Stalled" "$T/sp.out" &&
		t_pass "plain: the stalled layer is told Stalled" ||
		t_fail "plain: the stalled layer is told Stalled" "$(grep "${BIG_L0:0:12}" "$T/sp.out" | tail -n 3)"
	grep -qx "${BIG_L0:0:12}: Aborted: the download went away at 1.0 MB of 4.2 MB" "$T/sp.out" &&
		t_pass "plain: the layer whose ingest went away is told Aborted, with the bytes it had" ||
		t_fail "plain: the layer whose ingest went away is told Aborted, with the bytes it had" "$(grep "${BIG_L0:0:12}" "$T/sp.out" | tail -n 3)"
	grep -qx "pulltop: testns@$BIG_MF: the pull stopped with 2 of 3 layers in the store" "$T/sp.err" &&
		t_pass "plain: the image that stopped is one line on stderr" ||
		t_fail "plain: the image that stopped is one line on stderr" "$(cat "$T/sp.err")"
	ctrd_stop
else
	t_fail "stall: containerd runs" "$(tail -n 3 "$T/c2/log")"
fi
proxy_set '{}'

# ------------------------------------------------------------------ errors
err1=$("$PULLTOP" --watch containerd --containerd-root "$T/nothere" --progress plain 2>&1 >/dev/null); rc=$?
[ "$rc" -eq 2 ] && [ "$(echo "$err1" | wc -l)" -eq 1 ] &&
    echo "$err1" | grep -q "no containerd content store at $T/nothere/io.containerd.content.v1.content" &&
	t_pass "no content store: one line naming the path, exit 2" ||
	t_fail "no content store: one line naming the path, exit 2" "rc $rc: $err1"

# hand-built content store, owned by root and closed to others
H=$T/hand
mkdir -p "$H/io.containerd.content.v1.content/ingest" "$H/io.containerd.content.v1.content/blobs/sha256"
chmod 700 "$H"
chmod 755 "$T"
if command -v setpriv >/dev/null; then
	err2=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$PULLTOP" --watch containerd \
	    --containerd-root "$H" --progress plain 2>&1 >/dev/null); rc=$?
	[ "$rc" -eq 2 ] && [ "$(echo "$err2" | wc -l)" -eq 1 ] && echo "$err2" | grep -q "needs root" &&
		t_pass "permission denied: one line saying root is needed, exit 2" ||
		t_fail "permission denied: one line saying root is needed, exit 2" "rc $rc: $err2"
else
	t_fail "permission denied: one line saying root is needed" "setpriv not found"
fi

# malformed files in a hand-built store: rows show what they can
I=$H/io.containerd.content.v1.content/ingest
hx() { printf '%s' "$1" | sha256sum | cut -c1-64; }
D1=$I/$(hx bad1) D2=$I/$(hx bad2) D3=$I/$(hx bad3)
mkdir -p "$D1" "$D2" "$D3"
printf 'layer-sha256:%s' "$(hx l1)" >"$D1/ref"	# no namespace
printf 'x%.0s' $(seq 3000) >"$D1/data"
printf 'not a number' >"$D1/total"
printf 'yesterday' >"$D1/startedat"
printf '\x1b[31m' >"$D1/updatedat"
printf 'k8s.io/1/layer-sha256:%s' "$(hx l2)" >"$D2/ref"	# good, no total
printf 'y%.0s' $(seq 500) >"$D2/data"
printf '' >"$D3/ref"	# empty ref
printf 'z' >"$D3/data"
OUT=$T/hand.out
"$DRV" "$H" 30 >"$OUT" 2>"$T/hand.err" &
wp=$!
t_track_pid "$wp"
# folders that vanish between readdir and open, over and over, for 2 s
python3 - "$I" <<'EOF'
import os, shutil, sys, time
end = time.monotonic() + 2
i = 0
while time.monotonic() < end:
    d = os.path.join(sys.argv[1], "%064x" % i)
    os.mkdir(d)
    for name, text in (("ref", "ns/1/layer-x"), ("data", "")):
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    shutil.rmtree(d)
    i += 1
EOF
alive=0; t_alive "$wp" && alive=1
t_kill_pid "$wp"
[ "$alive" -eq 1 ] && t_pass "hand-built: malformed and vanishing ingests do not stop the watcher" ||
	t_fail "hand-built: malformed and vanishing ingests do not stop the watcher" "$(tail -n 3 "$T/hand.err")"
check "hand-built: malformed ref, total and times: the row shows what it can" "
r1 = blob_rows('$(hx l1 | cut -c1-12)')
r2 = blob_rows('$(hx l2 | cut -c1-12)')
r3 = [l for l in lines if l[0] == 'blob' and l[1] == '$(basename "$D3" | cut -c1-12)']
if not r1 or r1[0][2:5] != ['Downloading', '3000', '0'] or r1[0][6] != '-':
    fail('no namespace, bad total: %s' % r1[:1])
if not r2 or r2[0][2:5] != ['Downloading', '500', '0'] or r2[0][6] != 'k8s.io':
    fail('no total: %s' % r2[:1])
if not r3 or r3[0][2:4] != ['Downloading', '1']: fail('empty ref: %s' % r3[:1])
" "$OUT"
