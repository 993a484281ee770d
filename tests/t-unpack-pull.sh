#!/usr/bin/env bash
# t-unpack-pull.sh - --unpack through the real binary and registry: the
# rootfs equals GNU tar's extraction of the same layers, names map as
# documented, extraction is reported docker's way and not redone.
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
