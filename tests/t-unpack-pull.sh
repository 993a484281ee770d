#!/usr/bin/env bash
# t-unpack-pull.sh - --unpack through the real binary and registry: the
# rootfs equals GNU tar's extraction of the same layers, names map as
# documented, extraction is reported docker's way and not redone; SIGTERM
# while extracting exits 143 within a second (however deep the tree: the
# staging folder is moved whole into DIR/.pulltop-trash, not deleted on
# the way out), the next pull empties the trash, and a SIGKILLed unpack's
# staging folder is swept by the next pull.
set -u
. "$(dirname "$0")/lib.sh"
T=${TMPDIR_TEST:-$(t_tmpdir)}
P=$PULLTOP
S=$T/store U=$T/rootfs

name_of() { echo "$1" | tr '/:' '__'; }

tree() {	# a listing of a tree: path, type, mode, size, link target, content hash
	python3 - "$1" <<'PY'
import hashlib, os, stat, sys
root = sys.argv[1]
for d, dirs, files in os.walk(root):
    dirs.sort()
    for n in sorted(dirs + files):
        p = os.path.join(d, n); st = os.lstat(p); rel = os.path.relpath(p, root)
        extra = ""
        if stat.S_ISLNK(st.st_mode): extra = os.readlink(p)
        elif stat.S_ISREG(st.st_mode): extra = hashlib.sha256(open(p, "rb").read()).hexdigest()[:16]
        print(rel, oct(st.st_mode), st.st_size if stat.S_ISREG(st.st_mode) else 0, extra)
PY
}

for img in test/multi:v1 test/docker:v1; do
	ref=$REG/$img
	$P --store "$S" --unpack "$U" --progress=plain "$ref" >"$T/out" 2>&1; rc=$?
	dir=$U/$(name_of "$ref")
	[ $rc -eq 0 ] && [ -d "$dir" ] && grep -q "^Unpacked to $dir$" "$T/out" &&
		t_pass "$img: unpacked into DIR/NAME, named in the output" || t_fail "$img: unpacked into DIR/NAME, named in the output" "rc=$rc $(tail -2 "$T/out")"
	grep -q ': Extracting ' "$T/out" && grep -q ': Pull complete$' "$T/out" &&
		t_pass "$img: layers report Extracting then Pull complete" || t_fail "$img: layers report Extracting then Pull complete" "$(grep -c . "$T/out") lines"
	# GNU tar, the same layers in manifest order
	ref_dir=$T/gnutar-$(name_of "$img"); mkdir -p "$ref_dir"
	for d in $(python3 -c "import json,sys
d={i['name']+':'+i['tag']: i for i in json.load(open('$FIXTURES'))['images']}
print(' '.join(l['digest'][7:] for l in d['$img']['layers']))"); do
		tar -xzf "$S/blobs/sha256/$d" -C "$ref_dir" --same-permissions
	done
	diff <(tree "$dir") <(tree "$ref_dir") >"$T/diff" && t_pass "$img: rootfs equals GNU tar's" ||
		t_fail "$img: rootfs equals GNU tar's" "$(head -5 "$T/diff")"
done

ref=$REG/test/multi:v1
dir=$U/$(name_of "$ref")
touch -d '2001-01-01' "$dir"
$P --store "$S" --unpack "$U" --progress=plain "$ref" >"$T/out2" 2>&1; rc=$?
[ $rc -eq 0 ] && [ "$(stat -c %Y "$dir")" = "$(date -d 2001-01-01 +%s)" ] && ! grep -q Extracting "$T/out2" &&
	t_pass "an image already unpacked from the same manifest is not redone" || t_fail "an image already unpacked from the same manifest is not redone" "rc=$rc"
$P --store "$S" --unpack "$T/u-json" --progress=json "$REG/test/shared:v1" >"$T/j" 2>&1
json_lines_valid "$T/j" >/dev/null && grep -q '"Pull complete"' "$T/j" && grep -q '"status":"Unpacked to ' "$T/j" &&
	t_pass "json: Extracting/Pull complete/Unpacked to" || t_fail "json: Extracting/Pull complete/Unpacked to" "$(tail -2 "$T/j")"
echo junk > "$T/notadir"
for u in "$T/notadir" "$T/notadir/x"; do
	rm -rf "$T/s-early"
	out=$($P --store "$T/s-early" --unpack "$u" -q "$ref" 2>&1); rc=$?
	[ $rc -eq 2 ] && [ "$(echo "$out" | head -n 1)" = "pulltop: --unpack: $u: Not a directory" ] &&
	    [ ! -e "$T/s-early" ] &&
		t_pass "--unpack $(basename "$(dirname "$u")")/$(basename "$u"): a usage error before anything is fetched" ||
		t_fail "--unpack $(basename "$(dirname "$u")")/$(basename "$u"): a usage error before anything is fetched" "rc=$rc $out"
done
# the image's own folder cannot be made: that image fails, the pull does not
mkdir -p "$T/u-file"
echo junk >"$T/u-file/$(name_of "$ref")"
out=$($P --store "$S" --unpack "$T/u-file" -q "$ref" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "^pulltop: $ref: " && [ "$(cat "$T/u-file/$(name_of "$ref")")" = junk ] &&
	t_pass "--unpack where the image's folder is a file: exit 1 naming the image, the file untouched" ||
	t_fail "--unpack where the image's folder is a file: exit 1 naming the image, the file untouched" "rc=$rc $out"

# Signals during an unpack. Two images are pushed here, each of one layer
# that takes seconds to unpack (tests/mklayers.py): test/zeros:v1 (a file
# of 512 MiB of zeros) and test/deep:v1 (10,000 nested directories).
# SIGTERM while zeros or deep extracts: exit 143 within a second, the
# staging folder moved whole into the trash, which the next pull (of
# another image) empties; after a SIGKILL during deep the next pull sweeps
# the staging folder left behind.
if ! python3 - "$T_ROOT/tests" "$T/layers" "$REGISTRY" >"$T/push.out" 2>&1 <<'PY'
import os, sys, types
sys.path.insert(0, sys.argv[1])
import fixtures, mklayers
out = mklayers.Out(sys.argv[2])
reg = fixtures.Registry(sys.argv[3])
for name, (path, mt, diff_id) in (("test/zeros", mklayers.bomb(out, 512 << 20)),
                                  ("test/deep", mklayers.deep_layer(out, 10000))):
    layer = types.SimpleNamespace(digest="sha256:" + os.path.basename(path),
                                  size=os.path.getsize(path), path=path,
                                  diff_id=diff_id, tar_size=0, label=name)
    fixtures.push_image(reg, fixtures.Image(name, "v1", [layer]), "v1")
PY
then
	t_fail "test/zeros:v1 and test/deep:v1 pushed" "$(tail -n 3 "$T/push.out")"
fi

# pull_bg REF DIR [SECS]: pull REF unpacking into DIR in the background
# (pid in bg); back once its staging folder has something and SECS more
# (half a second) went by
pull_bg() {
	local i n
	n=$(name_of "$1")
	$P --store "$T/s-sig" --unpack "$2" --progress=plain "$1" \
		>"$T/bg.out" 2>&1 &
	bg=$!
	t_track_pid "$bg"
	for ((i = 0; i < 400; i++)); do
		[ -n "$(ls -A "$2/.$n".staging-* 2>/dev/null)" ] && break
		t_alive "$bg" || break
		sleep 0.01
	done
	sleep "${3:-0.5}"
}

# sigterm NAME IMAGE DIR SECS: SIGTERM while IMAGE extracts into DIR, SECS
# after it began (10,000 levels take about a second of CPU): exit 143
# within a second, nothing left in DIR but the trash, holding the staging
# folder with its directories: the process exited before the tree was
# deleted
sigterm() {
	local n s e rc left trash tdirs
	n=$(name_of "$REG/$2")
	pull_bg "$REG/$2" "$3" "$4"
	if ! t_alive "$bg"; then
		wait "$bg"
		t_fail "$1" "done before the signal (rc $?): $(tail -n 2 "$T/bg.out")"
		return
	fi
	# signal first: counting 10,000 levels here took long enough for a
	# quiet machine to finish the unpack before the signal came
	s=$(date +%s.%N)
	kill -TERM "$bg"
	wait "$bg"; rc=$?
	e=$(awk -v a="$s" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
	left=$(ls -A "$3" | tr '\n' ' ')
	trash=$(ls -A "$3/.pulltop-trash" 2>/dev/null | tr '\n' ' ')
	tdirs=$(find "$3/.pulltop-trash" -mindepth 1 -type d 2>/dev/null | wc -l)
	echo "# $1: exit $rc ${e}s after the signal, $tdirs directories moved to the trash"
	[ $rc -eq 143 ] && [ "$left" = ".pulltop-trash " ] &&
		[[ $trash =~ ^[1-9][0-9]*\.[0-9]+\.$n\ $ ]] && [ "$tdirs" -ge 1 ] &&
		awk -v e="$e" 'BEGIN { exit !(e <= 1) }' &&
		t_pass "$1" ||
		t_fail "$1" "rc=$rc after ${e}s, left: $left; trash: $trash ($tdirs directories); $(tail -n 2 "$T/bg.out")"
}
sigterm "SIGTERM while extracting 512 MiB: 143 within 1 s, the staging folder in the trash" \
	test/zeros:v1 "$T/u-term" 0.5
sigterm "SIGTERM while extracting 10,000 nested directories: 143 within 1 s, the staging folder in the trash" \
	test/deep:v1 "$T/u-deep" 0
name="the next pull (of another image) empties the trash, then exits"
mname=$(name_of "$REG/test/multi:v1")
$P --store "$T/s-sig" --unpack "$T/u-deep" -q "$REG/test/multi:v1" >"$T/out4" 2>&1; rc=$?
[ $rc -eq 0 ] && [ "$(ls -A "$T/u-deep" | tr '\n' ' ')" = ".$mname.pulltop $mname " ] &&
	t_pass "$name" ||
	t_fail "$name" "rc=$rc; now: $(ls -A "$T/u-deep" | tr '\n' ' ') $(tail -n 2 "$T/out4")"

name="a SIGKILLed unpack's staging folder is swept by the next pull"
dname=$(name_of "$REG/test/deep:v1")
pull_bg "$REG/test/deep:v1" "$T/u-kill"
kill -KILL "$bg" 2>/dev/null
wait "$bg" 2>/dev/null
left=$(cd "$T/u-kill" && ls -d ".$dname".staging-* 2>/dev/null)
$P --store "$T/s-sig" --unpack "$T/u-kill" -q "$REG/test/deep:v1" >"$T/out3" 2>&1; rc=$?
depth=$(find "$T/u-kill/$dname" -name bottom -printf '%d\n' 2>/dev/null | head -n 1)
[ -n "$left" ] && [ $rc -eq 0 ] && [ "$depth" = 10001 ] &&
	[ "$(ls -A "$T/u-kill" | tr '\n' ' ')" = ".$dname.pulltop $dname " ] &&
	t_pass "$name" ||
	t_fail "$name" "left by the kill: '$left'; rc=$rc depth=$depth; now: $(ls -A "$T/u-kill" | tr '\n' ' ') $(tail -n 2 "$T/out3")"
