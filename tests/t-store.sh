#!/usr/bin/env bash
# t-store.sh - the store: several tags of one image pulled at once (one
# process and several), media types that do not fit their role, the store
# commands (--list, --rm, --prune) and the space check before a pull.
set -u
. "$(dirname "$0")/lib.sh"
T=${TMPDIR_TEST:-$(t_tmpdir)}
P=$PULLTOP
IMG=test/multi

index_refs() {	# the ref.name annotations of a store's index.json, sorted
	grep -o '"org.opencontainers.image.ref.name":"[^"]*"' "$1/index.json" |
		cut -d'"' -f4 | sort
}

index_blobs() {	# every blob (hex) the entries of a store's index.json reach, sorted
	python3 - "$1" <<'PY'
import json, os, sys
s = sys.argv[1]
keep = set()
for e in json.load(open(os.path.join(s, "index.json")))["manifests"]:
    m = json.load(open(os.path.join(s, "blobs/sha256", e["digest"][7:])))
    keep |= {e["digest"], m["config"]["digest"]} | {l["digest"] for l in m["layers"]}
print("\n".join(sorted(d[7:] for d in keep)))
PY
}

fmt_bytes() {	# docker's decimal units, as pulltop prints them
	awk -v n="$1" 'BEGIN { split("B kB MB GB", u, " "); i = 1
		while (n >= 1000 && i < 4) { n /= 1000; i++ }
		if (i == 1) printf "%d B\n", n; else printf "%.1f %s\n", n, u[i] }'
}

# stores_ok DIR...: in each store every blob re-hashes to its name,
# index.json parses and every blob its entries reach is there with its
# size; prints "DIR REF,REF,..." (the references sorted) per store.
# One python for them all: it starts slowly here.
stores_ok() {
	python3 - "$@" <<'PY'
import hashlib, json, os, sys
bad = 0
for s in sys.argv[1:]:
    top = os.path.join(s, "blobs", "sha256")
    try:
        for name in os.listdir(top):
            h = hashlib.sha256(open(os.path.join(top, name), "rb").read()).hexdigest()
            assert h == name, "%s hashes to %s" % (name, h)
        refs = []
        for e in json.load(open(os.path.join(s, "index.json")))["manifests"]:
            refs.append(e["annotations"]["org.opencontainers.image.ref.name"])
            m = json.load(open(os.path.join(top, e["digest"][7:])))
            for d in [m["config"]] + m["layers"]:
                assert os.path.getsize(os.path.join(top, d["digest"][7:])) == d["size"], d["digest"]
        print(s, ",".join(sorted(refs)))
    except (AssertionError, OSError, ValueError, KeyError) as e:
        print(s, "BAD:", e)
        bad = 1
sys.exit(bad)
PY
}
store_ok() { stores_ok "$1" >/dev/null; }

# --- several tags of one image: copies of test/multi:v1's manifest
mt=application/vnd.oci.image.manifest.v1+json
curl -fsS -H "Accept: $mt" "http://$REG/v2/$IMG/manifests/v1" -o "$T/multi.json"
for i in $(seq 2 10); do
	curl -fsS -X PUT -H "Content-Type: $mt" --data-binary "@$T/multi.json" \
	    "http://$REG/v2/$IMG/manifests/t$i" -o /dev/null ||
		t_fail "push tag t$i" "curl failed"
done
tags() {	# N: the references v1, t2..tN
	local i
	echo "$REG/$IMG:v1"
	for i in $(seq 2 "$1"); do echo "$REG/$IMG:t$i"; done
}

for n in 2 3 10; do
	bad="" dirs=() want=$(tags $n | sort | paste -sd,) rounds=3
	[ $n -eq 2 ] && rounds=5	# the issue's case
	for round in $(seq $rounds); do
		S=$T/tags$n-$round
		dirs+=("$S")
		$P --store "$S" -q $(tags $n) >"$T/tags.out" 2>"$T/tags.err"; rc=$?
		[ $rc -ne 0 ] && { bad="round $round: rc=$rc $(head -c 300 "$T/tags.err")"; break; }
	done
	[ -z "$bad" ] && { out=$(stores_ok "${dirs[@]}") || bad=$out; }
	[ -z "$bad" ] && [ "$(echo "$out" | cut -d' ' -f2 | sort -u)" != "$want" ] && bad="index: $out"
	[ -z "$bad" ] && t_pass "$n tags of one image in one run, $rounds rounds: exit 0, store valid" ||
		t_fail "$n tags of one image in one run, $rounds rounds: exit 0, store valid" "$bad"
done

bad="" dirs=()
for round in 1 2 3; do
	S=$T/procs-$round
	dirs+=("$S")
	$P --store "$S" -q $(tags 2) >"$T/pa.out" 2>"$T/pa.err" & pa=$!
	$P --store "$S" -q $(tags 2) >"$T/pb.out" 2>"$T/pb.err" & pb=$!
	wait $pa; ra=$?; wait $pb; rb=$?
	if [ $ra -ne 0 ] || [ $rb -ne 0 ]; then
		bad="round $round: rc=$ra/$rb $(cat "$T/pa.err" "$T/pb.err" | head -c 300)"
		break
	fi
done
[ -z "$bad" ] && { out=$(stores_ok "${dirs[@]}") || bad=$out; }
[ -z "$bad" ] && [ "$(echo "$out" | cut -d' ' -f2 | sort -u)" != "$(tags 2 | sort | paste -sd,)" ] && bad="index: $out"
[ -z "$bad" ] && t_pass "two processes pulling the same two tags, 3 rounds: both exit 0, store valid" ||
	t_fail "two processes pulling the same two tags, 3 rounds: both exit 0, store valid" "$bad"

# --- media types that do not fit their role (CVE-2021-41190 class): refused
# with one line naming the image and the descriptor; nothing is stored
python3 "$T_LIB_DIR/badregistry.py" --portfile "$T/bad.port" & t_track_pid $!
wait_for_file "$T/bad.port" 10
BAD=127.0.0.1:$(cat "$T/bad.port")
ere() { printf '%s' "$1" | sed 's/[.+]/\\&/g'; }
OCI_I=$(ere application/vnd.oci.image.index.v1+json)
OCI_M=$(ere application/vnd.oci.image.manifest.v1+json)
OCI_C=$(ere application/vnd.oci.image.config.v1+json)
GZ=$(ere application/vnd.oci.image.layer.v1.tar+gzip)
H='sha256:[0-9a-f]{64}'
mtcase() {	# name, expected cause (an ERE), what it is
	local S=$T/mt-$1 out rc n
	out=$($P --store "$S" --retries 1 -q "$BAD/mt/$1" 2>&1); rc=$?
	n=$(ls "$S/blobs/sha256" 2>/dev/null | wc -l)
	if [ $rc -eq 1 ] && [ "$(echo "$out" | wc -l)" -eq 1 ] && [ "$n" -eq 0 ] &&
	    echo "$out" | grep -qE -- "^pulltop: $BAD/mt/$1:latest: $2\$"; then
		t_pass "media type: $3 is refused, one line, nothing stored"
	else
		t_fail "media type: $3 is refused, one line, nothing stored" "rc=$rc blobs=$n $out"
	fi
}
mtcase config-index "config $H: media type '$OCI_I' is not an image config" "an index as the config"
mtcase config-manifest "config $H: media type '$OCI_M' is not an image config" "a manifest as the config"
mtcase config-layer "config $H: media type '$GZ' is not an image config" "a layer as the config"
mtcase config-none "config $H has no mediaType" "a config without mediaType"
mtcase layer-index "layer 0 $H: media type '$OCI_I' is not a layer" "an index as a layer"
mtcase layer-manifest "layer 0 $H: media type '$OCI_M' is not a layer" "a manifest as a layer"
mtcase layer-config "layer 0 $H: media type '$OCI_C' is not a layer" "a config as a layer"
mtcase entry-config "index entry 0 $H: media type '$OCI_C' is not a manifest or an index" "a config as an index entry"
mtcase entry-layer "index entry 0 $H: media type '$GZ' is not a manifest or an index" "a layer as an index entry"
mtcase ctype-index "document says mediaType '$OCI_M' but was served as $OCI_I" "a manifest served as an index"
mtcase ctype-manifest "document says mediaType '$OCI_I' but was served as $OCI_M" "an index served as a manifest"
out=$($P --store "$T/mt-good" -q "$BAD/mt/good" 2>&1); rc=$?
[ $rc -eq 0 ] && store_ok "$T/mt-good" && t_pass "media type: the same blobs with fitting types pull" ||
	t_fail "media type: the same blobs with fitting types pull" "rc=$rc $out"

# --- store commands on a store with shared layers
S=$T/cmds
$P --store "$S" -q "$REG/test/multi:v1" "$REG/test/shared:v1" "$REG/test/docker:v1" >/dev/null 2>"$T/cmds.err" ||
	t_fail "pull three images for the store commands" "$(cat "$T/cmds.err")"
$P --store "$S" --list >"$T/ls.out" 2>&1; rc=$?
total=$(python3 - "$S" "$T/ls.out" "$REG" <<'PY'
import os, sys
s, out, reg = sys.argv[1:]
lines = open(out).read().splitlines()
assert lines[0].split() == ["REFERENCE", "DIGEST", "PLATFORM", "SIZE", "SHARED", "PULLED"], lines[0]
rows = {l.split()[0]: l.split() for l in lines[1:-1]}
assert set(rows) == {reg + "/test/" + n for n in ("multi:v1", "shared:v1", "docker:v1")}, rows
# SIZE is "1.2 MB": two words; SHARED follows
assert rows[reg + "/test/multi:v1"][5] != "-" and rows[reg + "/test/shared:v1"][5] != "-"
assert rows[reg + "/test/docker:v1"][5] == "-"
top = os.path.join(s, "blobs", "sha256")
print(sum(os.path.getsize(os.path.join(top, f)) for f in os.listdir(top)))
PY
)
[ $rc -eq 0 ] && [ -n "$total" ] &&
    tail -1 "$T/ls.out" | grep -q "^3 references, $(fmt_bytes "$total") on disk (shared blobs counted once), .* free$" &&
	t_pass "--list: a line per reference, shared sizes marked, the total counts shared blobs once" ||
	t_fail "--list: a line per reference, shared sizes marked, the total counts shared blobs once" "rc=$rc $(cat "$T/ls.out")"
$P --store "$S" --list --progress=json >"$T/ls.json" 2>&1; rc=$?
python3 - "$S" "$T/ls.json" "$REG" <<'PY' && t_pass "--list --progress=json: sizes, shared blobs, platform and pull time per reference" || t_fail "--list --progress=json: sizes, shared blobs, platform and pull time per reference" "rc=$rc $(head -c 400 "$T/ls.json")"
import json, os, sys, time, calendar
s, out, reg = sys.argv[1:]
objs = [json.loads(l) for l in open(out)]
refs, tail = objs[:-1], objs[-1]
top = os.path.join(s, "blobs", "sha256")
assert tail["references"] == 3 and tail["size"] == sum(os.path.getsize(os.path.join(top, f)) for f in os.listdir(top))
by = {o["reference"]: o for o in refs}
m, sh, d = (by[reg + "/test/" + n] for n in ("multi:v1", "shared:v1", "docker:v1"))
common = {b["digest"] for b in m["blobs"]} & {b["digest"] for b in sh["blobs"]}
assert len(common) == 2, common
for o in refs:
    assert o["size"] == sum(b["size"] for b in o["blobs"])
    assert o["sharedSize"] == sum(b["size"] for b in o["blobs"] if b["shared"])
    assert {b["digest"] for b in o["blobs"] if b["shared"]} == (common if o is not d else set())
    assert o["platform"].startswith("linux/") and o["missing"] == 0
    t = calendar.timegm(time.strptime(o["pulled"], "%Y-%m-%dT%H:%M:%SZ"))
    assert abs(time.time() - t) < 600, o["pulled"]
    assert o["blobs"][0]["digest"] == o["digest"]
PY
[ "$($P --store "$S" --list -q | sort)" = "$(index_refs "$S")" ] && [ "$(index_refs "$S" | wc -l)" -eq 3 ] &&
	t_pass "--list -q prints the references" || t_fail "--list -q prints the references" "$($P --store "$S" --list -q 2>&1)"

snap() { find "$1" -printf '%P %s %T@\n' | sort; }
out=$($P --store "$S" --rm "$REG/test/multi:v1" 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$out" = "Untagged: $REG/test/multi:v1" ] &&
    [ "$(index_refs "$S")" = "$(printf '%s\n' "$REG/test/docker:v1" "$REG/test/shared:v1")" ] &&
	t_pass "--rm REF drops its index.json entry, says Untagged" || t_fail "--rm REF drops its index.json entry, says Untagged" "rc=$rc $out"
before=$(snap "$S")
out=$($P --store "$S" --rm "$REG/test/nope:v9" 2>&1); rc=$?
[ $rc -eq 1 ] && [ "$out" = "pulltop: $REG/test/nope:v9: not in the store $S" ] && [ "$(snap "$S")" = "$before" ] &&
	t_pass "--rm of a reference not there: exit 1, one line naming it, nothing changed" ||
	t_fail "--rm of a reference not there: exit 1, one line naming it, nothing changed" "rc=$rc $out"
out=$($P --store "$S" --prune -n 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$(snap "$S")" = "$before" ] && [ "$(echo "$out" | grep -c '^Would delete blob sha256:')" -eq 4 ] &&
    echo "$out" | grep -q '^Would reclaim: .* (4 blobs, 0 partials)$' &&
	t_pass "--prune -n names what would go and changes nothing" || t_fail "--prune -n names what would go and changes nothing" "rc=$rc $out"
python3 - "$S" >"$T/unreach" <<'PY'
import json, os, sys
s = sys.argv[1]
def blobs(d):
    m = json.load(open(os.path.join(s, "blobs/sha256", d[7:])))
    return {d, m["config"]["digest"]} | {l["digest"] for l in m["layers"]}
keep = set()
for e in json.load(open(os.path.join(s, "index.json")))["manifests"]:
    keep |= blobs(e["digest"])
    keep.add(e.get("annotations", {}).get("dev.pulltop.source.digest", e["digest"]))
for f in sorted(os.listdir(os.path.join(s, "blobs/sha256"))):
    if "sha256:" + f not in keep:
        print("sha256:" + f, os.path.getsize(os.path.join(s, "blobs/sha256", f)))
PY
out=$($P --store "$S" --prune 2>&1); rc=$?
gone=$(echo "$out" | sed -n 's/^Deleted blob \(sha256:[0-9a-f]*\) .*/\1/p' | sort)
left=$(for d in $(cut -d' ' -f1 "$T/unreach"); do [ -e "$S/blobs/sha256/${d#sha256:}" ] && echo "$d"; done)
[ $rc -eq 0 ] && [ "$gone" = "$(cut -d' ' -f1 "$T/unreach" | sort)" ] && [ -z "$left" ] && store_ok "$S" &&
    skopeo inspect "oci:$S:$REG/test/shared:v1" >/dev/null 2>&1 &&
	t_pass "--prune deletes exactly the unreachable blobs; shared layers stay, every blob re-hashes" ||
	t_fail "--prune deletes exactly the unreachable blobs; shared layers stay, every blob re-hashes" "rc=$rc $out"
want=$(awk '{n += $2} END {print n}' "$T/unreach")
echo "$out" | tail -1 | grep -q "^Total reclaimed space: $(fmt_bytes "$want") (4 blobs, 0 partials)$" &&
	t_pass "--prune says how many bytes it freed" || t_fail "--prune says how many bytes it freed" "$(echo "$out" | tail -1) want $want bytes"
$P --store "$S" -q --rm "$REG/test/shared:v1" docker.io/x/y:1 "$REG/test/docker:v1" >"$T/rm2.out" 2>"$T/rm2.err"; rc=$?
$P --store "$S" --prune --progress=json >"$T/pr.json" 2>&1
[ $rc -eq 1 ] && [ "$(cat "$T/rm2.err")" = "pulltop: docker.io/x/y:1: not in the store $S" ] &&
    [ "$(index_refs "$S")" = "" ] && [ -z "$(ls "$S/blobs/sha256")" ] && json_lines_valid "$T/pr.json" >/dev/null &&
    [ "$(tail -1 "$T/pr.json" | json_get 'd["blobs"]')" -gt 0 ] &&
	t_pass "--rm of several (one missing: exit 1, the others go), then --prune empties blobs/ (json)" ||
	t_fail "--rm of several (one missing: exit 1, the others go), then --prune empties blobs/ (json)" "rc=$rc $(cat "$T/rm2.err") $(ls "$S/blobs/sha256" | wc -l)"

# a manifest that index.json names is gone: prune deletes nothing
S=$T/broken
$P --store "$S" -q "$REG/test/shared:v1" >/dev/null 2>&1
head -c 5000 /dev/urandom >"$T/junk0"
cp "$T/junk0" "$S/blobs/sha256/$(sha256sum "$T/junk0" | cut -c1-64)"
m=$(grep -o '"digest":"sha256:[0-9a-f]*"' "$S/index.json" | head -1 | cut -d: -f3 | tr -d '"')
rm "$S/blobs/sha256/$m"
before=$(snap "$S")
out=$($P --store "$S" --prune 2>&1); rc=$?
[ $rc -eq 1 ] && [ "$(snap "$S")" = "$before" ] &&
    echo "$out" | grep -q "^pulltop: $REG/test/shared:v1: .*$m: No such file or directory; not pruning$" &&
	t_pass "--prune with a manifest index.json names gone: exit 1, one line naming it, nothing deleted" ||
	t_fail "--prune with a manifest index.json names gone: exit 1, one line naming it, nothing deleted" "rc=$rc $out"

# --- usage: exit 2; a store command on no store makes none
chk_usage() {	# name, expected text, args...
	local name=$1 text=$2 out rc
	shift 2
	out=$($P --store "$T/nostore" "$@" 2>&1); rc=$?
	[ $rc -eq 2 ] && echo "$out" | head -1 | grep -qF -- "$text" && t_pass "$name" || t_fail "$name" "rc=$rc $out"
}
chk_usage "--list with a reference is a usage error" "--list takes no reference" --list x
chk_usage "--rm without a reference is a usage error" "--rm: no reference given" --rm
chk_usage "-n without --prune is a usage error" "-n: only with --prune" --list -n
chk_usage "two store commands are a usage error" "--list and --prune: one store command at a time" --list --prune
chk_usage "a bad --prune-age is a usage error" "--prune-age: '3x' is not a duration" --prune --prune-age 3x
out=$($P --store "$T/nostore" --list 2>&1; $P --store "$T/nostore" --prune 2>&1)
[ ! -e "$T/nostore" ] && echo "$out" | grep -q '^0 references, 0 B on disk' &&
	t_pass "--list and --prune on a directory with no store: empty, nothing made" || t_fail "--list and --prune on a directory with no store: empty, nothing made" "$out"

# --- prune while another pulltop pulls into the same store: its partials
# and its blobs not yet in index.json stay; both finish, the store valid
S=$T/live
$P --store "$S" -q "$REG/test/docker:v1" >/dev/null 2>&1	# shares nothing with multi
junk=$(head -c 30000 /dev/urandom | tee "$T/junk" | sha256sum | cut -c1-64)
cp "$T/junk" "$S/blobs/sha256/$junk"
old=$(printf '%064d' 7)
head -c 20000 /dev/urandom >"$S/ingest/$old.partial"
touch -d '-2 days' "$S/ingest/$old.partial"
ls "$S/blobs/sha256" >"$T/live.before"
$P --store "$S" -q -j 4 --limit-rate 150K "$REG/test/multi:v1" >"$T/live.out" 2>&1 & lp=$!
t_track_pid $lp
# wait until it has put blobs in place that index.json does not name yet
# (its config, its smallest layer) and is still downloading others
for i in $(seq 50); do
	held=$(ls "$S/blobs/sha256" | comm -13 "$T/live.before" -)
	parts=$(ls "$S/ingest" | grep '\.partial$' | grep -v "^$old")
	[ "$(echo $held | wc -w)" -ge 2 ] && [ -n "$parts" ] && break
	sleep 0.1
done
out=$($P --store "$S" --prune --prune-age 0 2>&1); rc=$?
lost=""
for b in $held; do [ -e "$S/blobs/sha256/$b" ] || lost="$lost blob:$b"; done
for f in $parts; do [ -e "$S/ingest/$f" ] || [ -e "$S/blobs/sha256/${f%.partial}" ] || lost="$lost partial:$f"; done
wait $lp; lrc=$?
if [ $rc -eq 0 ] && [ "$(echo $held | wc -w)" -ge 2 ] && [ -n "$parts" ] && [ -z "$lost" ] &&
    echo "$out" | grep -q "^Kept [0-9]* partials* a running pulltop is downloading$"; then
	t_pass "prune during a pull keeps the pull's new blobs ($(echo $held | wc -w)) and partials ($(echo $parts | wc -w))"
else
	t_fail "prune during a pull keeps the pull's new blobs and partials" "rc=$rc held=[$held] parts=[$parts] lost=[$lost] $out"
fi
[ ! -e "$S/blobs/sha256/$junk" ] && [ ! -e "$S/ingest/$old.partial" ] &&
	t_pass "prune during a pull still takes an unreachable blob and a partial nobody holds" ||
	t_fail "prune during a pull still takes an unreachable blob and a partial nobody holds" "$out"
[ $lrc -eq 0 ] && store_ok "$S" && [ "$(index_refs "$S" | wc -l)" -eq 2 ] &&
    out=$($P --store "$S" --prune -n 2>&1) && echo "$out" | grep -q '^Would reclaim: 0 B (0 blobs, 0 partials)$' &&
	t_pass "the pull finishes, the store is valid and holds nothing unreachable" ||
	t_fail "the pull finishes, the store is valid and holds nothing unreachable" "rc=$lrc $(cat "$T/live.out") $out"

# --- durability (src/store/durable.c): a pull does not wait for the disk;
# its marker lets the first run after a restart hash again what it wrote
DS=$T/durable
boot=$(tr -d '-' </proc/sys/kernel/random/boot_id)
out=$($P --store "$DS" -q "$REG/$IMG:v1" 2>&1); rc=$?
marks=$(ls "$DS/ingest" | grep '^unsynced-')
[ $rc -eq 0 ] && [ "$(echo "$marks" | grep -c .)" -eq 1 ] &&
    echo "$marks" | grep -qE "^unsynced-$boot-[0-9]+-[0-9]+-[0-9]+$" &&
	t_pass "durable: a pull leaves one marker, named with this boot's id" ||
	t_fail "durable: a pull leaves one marker, named with this boot's id" "rc=$rc $out $marks"
# a crash: the marker becomes another boot's, one layer lost its tail and
# another had a byte changed; the next run finds both, deletes, re-pulls
nb=$(ls "$DS/blobs/sha256" | wc -l)
gone=$(echo "$marks" | sed "s/^unsynced-$boot-/unsynced-00000000000000000000000000000000-/")
mv "$DS/ingest/$marks" "$DS/ingest/$gone"
big1=$(ls -S "$DS/blobs/sha256" | sed -n 1p) big2=$(ls -S "$DS/blobs/sha256" | sed -n 2p)
truncate -s 100 "$DS/blobs/sha256/$big1"
printf 'X' | dd of="$DS/blobs/sha256/$big2" bs=1 seek=50 conv=notrunc status=none
out=$($P --store "$DS" -q "$REG/$IMG:v1" 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$out" = "pulltop: store $DS: 1 earlier run ended before a restart; hashed the $nb blobs written then again: 2 not whole, deleted (pulled again when wanted)
$REG/$IMG:v1" ] &&
    store_ok "$DS" && [ -f "$DS/blobs/sha256/$big1" ] && [ -f "$DS/blobs/sha256/$big2" ] &&
    [ ! -e "$DS/ingest/$gone" ] &&
    [ "$(ls "$DS/ingest" | grep -c "^unsynced-$boot-")" -eq 1 ] &&
	t_pass "durable: after a restart, the $nb blobs of the cut run are hashed again; the 2 broken ones are said, deleted and pulled again" ||
	t_fail "durable: after a restart, the blobs of the cut run are hashed again; the 2 broken ones are said, deleted and pulled again" "rc=$rc out=$out $(stores_ok "$DS") $(ls "$DS/ingest")"
# the store commands open the store too, and say what that found
m=$(ls "$DS/ingest" | grep "^unsynced-$boot-")
mv "$DS/ingest/$m" "$DS/ingest/$(echo "$m" | sed "s/^unsynced-$boot-/unsynced-00000000000000000000000000000000-/")"
truncate -s 10 "$DS/blobs/sha256/$big1"
out=$($P --store "$DS" --list 2>&1 >/dev/null); rc=$?
[ $rc -eq 0 ] && [ "$out" = "pulltop: store $DS: 1 earlier run ended before a restart; hashed the $nb blobs written then again: 1 not whole, deleted (pulled again when wanted)" ] &&
    [ ! -e "$DS/blobs/sha256/$big1" ] && [ -z "$(ls "$DS/ingest" | grep '^unsynced-')" ] &&
    $P --store "$DS" -q "$REG/$IMG:v1" >/dev/null 2>&1 && store_ok "$DS" &&
	t_pass "durable: --list after a restart says what it checked and deleted; a pull puts the blob back" ||
	t_fail "durable: --list after a restart says what it checked and deleted; a pull puts the blob back" "rc=$rc out=$out $(ls "$DS/ingest")"
# this boot: a marker of a run that ended a minute ago goes, a fresh one
# stays, an old one whose run still holds it stays, a stray name goes
rm -f "$DS"/ingest/unsynced-*
touch -d '-2 minutes' "$DS/ingest/unsynced-$boot-100-1"
touch "$DS/ingest/unsynced-$boot-200-2"
touch -d '-2 minutes' "$DS/ingest/unsynced-$boot-300-3"
touch "$DS/ingest/unsynced-stray"
flock "$DS/ingest/unsynced-$boot-300-3" sleep 60 & lk=$!
t_cleanup_push kill "$lk"
for i in $(seq 50); do	# until flock holds it
	flock -n "$DS/ingest/unsynced-$boot-300-3" true || break
	sleep 0.1
done
out=$($P --store "$DS" --list 2>&1); rc=$?
left=$(ls "$DS/ingest" | grep '^unsynced-' | sort | paste -sd' ')
kill "$lk" 2>/dev/null; wait "$lk" 2>/dev/null
[ $rc -eq 0 ] && [ "$left" = "unsynced-$boot-200-2 unsynced-$boot-300-3" ] &&
    ! echo "$out" | grep -q restart && store_ok "$DS" &&
	t_pass "durable: same boot, an ended run's marker a minute old is settled and removed; a fresh one, a held one stay" ||
	t_fail "durable: same boot, an ended run's marker a minute old is settled and removed; a fresh one, a held one stay" "rc=$rc left=$left $out"
out=$($P --store "$T/fsync" --fsync -q "$REG/$IMG:v1" 2>&1); rc=$?
[ $rc -eq 0 ] && store_ok "$T/fsync" && [ -z "$(ls "$T/fsync/ingest" | grep '^unsynced-')" ] &&
	t_pass "durable: --fsync pulls with no marker, store valid" ||
	t_fail "durable: --fsync pulls with no marker, store valid" "rc=$rc $out $(ls "$T/fsync/ingest")"

# --- space: a 40 MiB tmpfs (as root). An image that cannot fit fails at
# once, writing nothing; then a small one pulls; then two processes that
# each fit alone fill it: ENOSPC names prune, and prune frees the space.
push_rand() {	# NAME:TAG, layer sizes in MB...: random layers pushed to $REG
	python3 - "$T_LIB_DIR" "$REG" "$@" <<'PY'
import os, sys
sys.path.insert(0, sys.argv[1])
import fixtures as fx
fx.QUIET = True
reg, ref, sizes = sys.argv[2], sys.argv[3], sys.argv[4:]
name, tag = ref.split(":")
layers = [fx.Layer("%s#%d" % (ref, i), [fx.rand_entry("r/%d.bin" % i,
          float(mb) * 1e6, ref, i)], 1) for i, mb in enumerate(sizes)]
cache = os.path.join(os.environ.get("TMPDIR") or "/tmp", "pulltop-fixtures-cache")
os.makedirs(cache, exist_ok=True)
for l in layers:
    fx.build_layer(l, cache)
fx.push_image(fx.Registry(reg), fx.Image(name, tag, layers), tag)
PY
}
mb_free() { df -B1 --output=avail "$1" | tail -1; }
space_tests() {
	local M=$1 S=$1/store out rc t0 t1 ok
	# unpack estimate: 22 MB of gzip'd layers, about 44 MB unpacked
	out=$($P --store "$T/disk" --unpack "$M/rootfs" -q "$REG/store/half-a:v1" 2>&1); rc=$?
	[ $rc -eq 1 ] && [ "$(echo "$out" | wc -l)" -eq 1 ] &&
	    echo "$out" | grep -qE "^pulltop: $REG/store/half-a:v1: needs about 4[0-9.]+ MB to unpack, 4[0-9.]+ MB free on $M/rootfs$" &&
	    [ -z "$(ls "$T/disk/blobs/sha256")" ] && [ ! -e "$M/rootfs" ] &&
		t_pass "space: --unpack on a filesystem too small for the estimate fails at once, fetches nothing" ||
		t_fail "space: --unpack on a filesystem too small for the estimate fails at once, fetches nothing" "rc=$rc $out"
	# an old partial (2 days), for the hint
	$P --store "$S" --list >/dev/null 2>&1
	mkdir -p "$S" && $P --store "$S" -q "$REG/test/many:v1" >/dev/null 2>&1 && $P --store "$S" --rm "$REG/test/many:v1" >/dev/null
	old=$(printf '%064d' 9)
	head -c 3000000 /dev/urandom >"$S/ingest/$old.partial"
	touch -d '-2 days' "$S/ingest/$old.partial"
	before=$(find "$S" -printf '%P %s\n' | sort)
	t0=$(date +%s.%N)
	out=$($P --store "$S" -q "$REG/store/huge:v1" 2>&1); rc=$?
	t1=$(date +%s.%N)
	echo "# too big: $out" >&2
	[ $rc -eq 1 ] && [ "$(echo "$out" | wc -l)" -eq 1 ] &&
	    echo "$out" | grep -qE "^pulltop: $REG/store/huge:v1: needs 4[5-9]\.[0-9] MB, [0-9.]+ MB free on $S \(pulltop --prune frees [0-9.]+ MB of unused blobs and old partials\)$" &&
	    [ "$(find "$S" -printf '%P %s\n' | sort)" = "$before" ] &&
	    awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 5) }' &&
		t_pass "space: a pull that cannot fit fails at once, one line naming what prune frees, nothing written" ||
		t_fail "space: a pull that cannot fit fails at once, one line naming what prune frees, nothing written" "rc=$rc $out"
	out=$($P --store "$S" -q "$REG/test/multi:v1" 2>&1); rc=$?
	[ $rc -eq 0 ] && store_ok "$S" && t_pass "space: then a small pull succeeds" ||
		t_fail "space: then a small pull succeeds" "rc=$rc $out"
	# two processes: each fits alone, not both
	$P --store "$S" -q --limit-rate 3M --retries 1 "$REG/store/half-a:v1" >"$T/ha.out" 2>&1 & pa=$!
	$P --store "$S" -q --limit-rate 3M --retries 1 "$REG/store/half-b:v1" >"$T/hb.out" 2>&1 & pb=$!
	wait $pa; ra=$?; wait $pb; rb=$?
	out=$(cat "$T/ha.out" "$T/hb.out")
	echo "# ENOSPC: $out" >&2
	ok=0
	echo "$out" | grep -qE ": No space left on device \(pulltop --prune( --prune-age 0)? frees [0-9.]+ [kM]B" && ok=1
	[ $((ra + rb)) -ge 1 ] && [ $ok = 1 ] && store_ok "$S" &&
		t_pass "space: ENOSPC from two pulls at once names pulltop --prune and what it frees" ||
		t_fail "space: ENOSPC from two pulls at once names pulltop --prune and what it frees" "rc=$ra/$rb $out"
	local free0=$(mb_free "$M") reach
	out=$($P --store "$S" --prune --prune-age 0 2>&1); rc=$?
	reach=$(du -sb "$S/blobs" | cut -f1)
	[ $rc -eq 0 ] && [ -z "$(ls "$S/ingest" | grep '\.partial$')" ] && store_ok "$S" &&
	    [ "$(comm -3 <(index_blobs "$S") <(ls "$S/blobs/sha256"))" = "" ] &&
	    [ "$(mb_free "$M")" -gt "$free0" ] &&
		t_pass "space: prune then frees it: no partials, only reachable blobs ($(fmt_bytes $reach)), $(fmt_bytes $(mb_free "$M")) free" ||
		t_fail "space: prune then frees it" "rc=$rc $out"
}
if [ "$(id -u)" != 0 ]; then
	t_fail "space tests" "need root to mount a 40 MiB tmpfs"
elif ! push_rand store/huge:v1 16 16 16 || ! push_rand store/half-a:v1 11 11 ||
    ! push_rand store/half-b:v1 11 11; then
	t_fail "space tests" "could not push the random images"
else
	M=$T/tmpfs40
	mkdir -p "$M"
	if mount -t tmpfs -o size=40m tmpfs "$M"; then
		t_cleanup_push umount -l "$M"
		space_tests "$M"
		umount "$M" && t_pass "space: tmpfs unmounted" || t_fail "space: tmpfs unmounted" "busy"
	else
		t_fail "space tests" "mount -t tmpfs failed"
	fi
fi
