#!/usr/bin/env bash
# t-engine.sh - the pull engine end to end against the real registry:
# store contents, skopeo/umoci acceptance, re-pulls, output modes, platforms
# and every error path named in the engine issue.
set -u
. "$(dirname "$0")/lib.sh"
T=${TMPDIR_TEST:-$(t_tmpdir)}
P=$PULLTOP

fx() {	# python expression over the fixtures file, bound to `d` (images by name:tag)
	python3 -c "import json,sys
d={i['name']+':'+i['tag']: i for i in json.load(open('$FIXTURES'))['images']}
print($1)"
}

index_refs() {	# the ref.name annotations of a store's index.json, sorted
	python3 -c "import json,sys
for m in json.load(open('$1/index.json'))['manifests']:
    print(m['annotations']['org.opencontainers.image.ref.name'])" | sort
}

# --- a plain pull of two images that share layers
S=$T/store1
$P --store "$S" --progress=plain "$REG/test/multi:v1" "$REG/test/shared:v1" >"$T/p1.out" 2>"$T/p1.err"
rc=$?
[ $rc -eq 0 ] && t_pass "plain pull exits 0" || t_fail "plain pull exits 0" "rc=$rc $(cat "$T/p1.err")"
out=$(store_rehash "$S") && t_pass "every blob re-hashes to its name" || t_fail "every blob re-hashes to its name" "$out"
want=$(printf '%s\n' "$REG/test/multi:v1" "$REG/test/shared:v1" | sort)
[ "$(index_refs "$S")" = "$want" ] && t_pass "index.json names both full references" ||
	t_fail "index.json names both full references" "$(index_refs "$S")"
grep -q "^$REG/test/multi:v1: Pulling from test/multi$" "$T/p1.out" &&
grep -q "^Digest: $(fx "d['test/multi:v1']['digest']")$" "$T/p1.out" &&
grep -q "^Status: Downloaded newer image for $REG/test/shared:v1$" "$T/p1.out" &&
	t_pass "plain output has docker's Pulling/Digest/Status lines" ||
	t_fail "plain output has docker's Pulling/Digest/Status lines" "$(head -c 600 "$T/p1.out")"
for l in $(fx "' '.join(x['digest'][7:19] for x in d['test/multi:v1']['layers'])"); do
	grep -q "^$l: Download complete$" "$T/p1.out" || { t_fail "each layer reports Download complete" "$l missing"; l=bad; break; }
done
[ "$l" != bad ] && t_pass "each layer reports Download complete"
dups=$(uniq -d "$T/p1.out" | head -3)
[ -z "$dups" ] && t_pass "no line printed twice in a row" || t_fail "no line printed twice in a row" "$dups"
n=$(ls "$S/blobs/sha256" | wc -l)
want=$(fx "len({x['digest'] for k in ('test/multi:v1','test/shared:v1') for x in d[k]['layers']+[d[k]['config']]} | {d[k]['digest'] for k in ('test/multi:v1','test/shared:v1')})")
[ "$n" -eq "$want" ] && t_pass "store holds exactly the blobs of both images" || t_fail "store holds exactly the blobs of both images" "$n blobs, want $want"
[ -z "$(ls "$S/ingest" | grep -vE '^((index|store)\.lock|unsynced-[0-9a-f]{32}-[0-9]+-[0-9]+-[0-9]+)$')" ] && t_pass "no partials left after a clean pull" || t_fail "no partials left after a clean pull" "$(ls "$S/ingest")"

# --- other tools read the store
for img in test/multi:v1 test/shared:v1; do
	t_check "skopeo inspect oci:STORE:$img" skopeo inspect "oci:$S:$REG/$img" || true
	t_check "umoci unpack $img" umoci unpack --rootless --image "$S:$REG/$img" "$T/unpack-${img//[:\/]/_}" || true
done

# --- through the fault proxy, counting bytes: shared layers once, re-pulls free
proxy_start
S2=$T/store2
$P --store "$S2" -q "$PROXY/test/multi:v1" "$PROXY/test/shared:v1" >/dev/null 2>"$T/p2.err"
shared=$(fx "d['test/multi:v1']['layers'][0]['digest']")
nreq=$(proxy_stats | json_get "sum(1 for r in d['requests'] if r['path'].endswith('$shared') and r['method']=='GET')")
[ "$nreq" = 1 ] && t_pass "a layer shared by two images is downloaded once" || t_fail "a layer shared by two images is downloaded once" "GETs=$nreq"
proxy_reset
$P --store "$S2" --progress=plain "$PROXY/test/multi:v1" "$PROXY/test/shared:v1" >"$T/p3.out" 2>&1
rc=$?
bytes=$(proxy_stats | json_get 'd["blob_bytes"]')
[ $rc -eq 0 ] && [ "$bytes" = 0 ] && t_pass "second pull fetches no blob bytes" || t_fail "second pull fetches no blob bytes" "rc=$rc bytes=$bytes"
nl=$(grep -c ': Already exists$' "$T/p3.out")
want=$(fx "len({x['digest'] for k in ('test/multi:v1','test/shared:v1') for x in d[k]['layers']})")
[ "$nl" -eq "$want" ] && ! grep -q 'Download complete' "$T/p3.out" && t_pass "second pull reports every layer Already exists" ||
	t_fail "second pull reports every layer Already exists" "$nl of $want"
grep -q "^Status: Image is up to date for $PROXY/test/multi:v1$" "$T/p3.out" && t_pass "second pull says Image is up to date" ||
	t_fail "second pull says Image is up to date" "$(tail -3 "$T/p3.out")"
proxy_stop

# --- JSON progress
$P --store "$T/store3" --progress=json "$REG/test/multi:v1" "$REG/test/docker:v1" >"$T/j.out" 2>"$T/j.err"
rc=$?
json_lines_valid "$T/j.out" >/dev/null && [ $rc -eq 0 ] && t_pass "json: every line parses" || t_fail "json: every line parses" "rc=$rc"
python3 - "$T/j.out" "$REG" <<'PY' && t_pass "json: Docker JSONMessage fields with image on every object" || t_fail "json: Docker JSONMessage fields with image on every object" "see $T/j.out"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
reg = sys.argv[2]
assert all("image" in o for o in lines)
assert {o["image"] for o in lines} == {reg + "/test/multi:v1", reg + "/test/docker:v1"}
st = [o for o in lines if o.get("status") == "Download complete"]
assert st and all(len(o["id"]) == 12 for o in st)
dl = [o for o in lines if o.get("status") == "Downloading"]
assert all("current" in o["progressDetail"] and "total" in o["progressDetail"] for o in dl)
assert any(o.get("status", "").startswith("Digest: sha256:") for o in lines)
assert any(o.get("status", "").startswith("Status: Downloaded newer image for") for o in lines)
PY
$P --store "$T/store3" --progress=json "$REG/test/nope:v1" >"$T/j2.out" 2>/dev/null
python3 -c "
import json,sys
o=[json.loads(l) for l in open('$T/j2.out')]
e=[x for x in o if 'errorDetail' in x]
assert e and 'manifest unknown' in e[0]['errorDetail']['message'] and e[0]['error']" &&
	t_pass "json: errors carry errorDetail.message" || t_fail "json: errors carry errorDetail.message" "$(cat "$T/j2.out")"

# --- quiet
out=$($P --store "$T/store3" -q "$REG/test/multi:v1" "$REG/test/docker:v1" 2>&1)
want=$(printf '%s\n' "$REG/test/docker:v1" "$REG/test/multi:v1")
[ "$(echo "$out" | sort)" = "$want" ] && t_pass "quiet prints only the references" || t_fail "quiet prints only the references" "$out"

# --- Docker schema 2, manifest lists, OCI index, platforms, digests
S4=$T/store4
$P --store "$S4" -q "$REG/test/docker:v1" "$REG/test/dockerlist:v1" "$REG/test/multiarch:v1" >/dev/null 2>"$T/p4.err" &&
	t_pass "pulls Docker schema 2, a manifest list and an OCI index" || t_fail "pulls Docker schema 2, a manifest list and an OCI index" "$(cat "$T/p4.err")"
for img in test/docker:v1 test/dockerlist:v1 test/multiarch:v1; do
	t_check "skopeo and umoci read $img" sh -c "skopeo inspect oci:$S4:$REG/$img >/dev/null && umoci unpack --rootless --image $S4:$REG/$img $T/u4-${img//[:\/]/_}" || true
done
arch=$(python3 -c "import json;print([m['platform']['architecture'] for m in json.load(open('$S4/index.json'))['manifests'] if m['annotations']['org.opencontainers.image.ref.name'].endswith('multiarch:v1')][0])")
host=$(uname -m); case $host in x86_64) host=amd64 ;; aarch64) host=arm64 ;; esac
[ "$arch" = "$host" ] && t_pass "index resolves to this machine's platform" || t_fail "index resolves to this machine's platform" "$arch"
$P --store "$T/store5" -q --platform linux/arm64 "$REG/test/multiarch:v1" >/dev/null 2>&1
d=$(python3 -c "import json;print(json.load(open('$T/store5/index.json'))['manifests'][0]['digest'])")
want=$(fx "[m['digest'] for m in d['test/multiarch:v1']['manifests'] if m['platform']['architecture']=='arm64'][0]")
[ "$d" = "$want" ] && t_pass "--platform linux/arm64 picks the arm64 manifest" || t_fail "--platform linux/arm64 picks the arm64 manifest" "$d vs $want"
out=$($P --store "$T/store5" -q --platform linux/s390x "$REG/test/multiarch:v1" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q 'no manifest for platform linux/s390x (available: linux/amd64' &&
	t_pass "missing platform: exit 1 naming what is available" || t_fail "missing platform: exit 1 naming what is available" "rc=$rc $out"
dig=$(fx "d['test/multi:v1']['digest']")
$P --store "$T/store6" -q "$REG/test/multi@$dig" >/dev/null 2>&1 && [ -n "$(index_refs "$T/store6" | grep "@$dig")" ] &&
	t_pass "pull by digest" || t_fail "pull by digest" "$(index_refs "$T/store6")"
$P --store "$T/store6" -q "$REG/test/multi:v1@$dig" >/dev/null 2>&1 && t_pass "pull by tag plus digest" || t_fail "pull by tag plus digest" ""

# --- usage errors: exit 2, one line naming the problem
chk_usage() {	# name, expected text, args...
	local name=$1 text=$2 out rc
	shift 2
	out=$($P --store "$T/store7" "$@" 2>&1); rc=$?
	[ $rc -eq 2 ] && echo "$out" | head -1 | grep -q -- "$text" && t_pass "$name" || t_fail "$name" "rc=$rc $out"
}
chk_usage "invalid reference is a usage error" "invalid reference 'Bad/Ref': repository name must be lowercase" Bad/Ref
chk_usage "no image is a usage error" "no image given"
chk_usage "unknown option is a usage error" "unrecognized option" --frobnicate x
chk_usage "bad --jobs is a usage error" "jobs: 'zero'" -j zero x
chk_usage "bad --progress is a usage error" "progress: 'fancy'" --progress=fancy x
chk_usage "bad --platform is a usage error" "platform: 'linux'" --platform linux x
chk_usage "bad --limit-rate is a usage error" "limit-rate: '5X'" --limit-rate 5X x
[ ! -e "$T/store7" ] && t_pass "usage errors touch no store" || t_fail "usage errors touch no store" "store created"

# --- registry errors: exit 1, one line naming image and cause, store valid
chk_err() {	# name, expected text, args...
	local name=$1 text=$2 out rc
	shift 2
	out=$(timeout 60 $P --store "$T/store8" --retries 2 --retry-delay 0.2 -q "$@" 2>&1); rc=$?
	if [ $rc -eq 1 ] && echo "$out" | grep -q -- "$text" && [ "$(echo "$out" | wc -l)" -eq 1 ]; then
		t_pass "$name"
	else
		t_fail "$name" "rc=$rc $out"
	fi
}
chk_err "unknown tag: manifest unknown (404)" "^pulltop: $REG/test/nope:v1: manifest unknown (404)$" "$REG/test/nope:v1"
port=$(free_port)
chk_err "registry down: cannot connect" "^pulltop: 127.0.0.1:$port/x/y:latest: cannot connect to 127.0.0.1:$port" "127.0.0.1:$port/x/y"
python3 "$T_LIB_DIR/badregistry.py" --portfile "$T/bad.port" & t_track_pid $!
python3 "$T_LIB_DIR/badregistry.py" --not-registry --portfile "$T/notreg.port" & t_track_pid $!
wait_for_file "$T/bad.port" 10; wait_for_file "$T/notreg.port" 10
BAD=127.0.0.1:$(cat "$T/bad.port")
NOTREG=127.0.0.1:$(cat "$T/notreg.port")
chk_err "not a registry" "$NOTREG is not a registry (GET /v2/ answered 404)" "$NOTREG/a/b"
chk_err "manifest that is not JSON" "bad/notjson:latest: manifest is not valid JSON" "$BAD/bad/notjson"
chk_err "mediaType that disagrees with the shape" "index (application/vnd.oci.image.index.v1+json) has layers" "$BAD/bad/shape"
chk_err "manifest over 4 MiB" "larger than 4 MiB" "$BAD/bad/huge"
chk_err "Docker schema 1 is refused" "schema 1" "$BAD/bad/schema1"
chk_err "invalid layer digest is refused" "invalid digest 'sha256:../../../etc/passwd'" "$BAD/bad/baddigest"
chk_err "blob whose bytes do not match" "digest mismatch" "$BAD/bad/wrongblob"
wrong="sha256:$(printf '%064d' 0)"
chk_err "manifest by unknown digest" "manifest unknown" "$REG/test/multi@$wrong"
out=$(store_rehash "$T/store8") && python3 -c "import json;json.load(open('$T/store8/index.json'))" &&
	t_pass "after every error the store is valid" || t_fail "after every error the store is valid" "$out"
good=$(printf 'the right bytes %.0s' $(seq 64) | sha256sum | cut -c1-64)
[ ! -e "$T/store8/blobs/sha256/$good" ] && t_pass "a blob that fails its digest never lands in blobs/" || t_fail "a blob that fails its digest never lands in blobs/" "present"

# --- one good and one bad image: exit 1, the good one still lands
out=$($P --store "$T/store9" -q "$REG/test/multi:v1" "$REG/test/nope:v1" 2>"$T/mix.err"); rc=$?
[ $rc -eq 1 ] && [ "$out" = "$REG/test/multi:v1" ] && grep -q 'nope:v1: manifest unknown' "$T/mix.err" &&
	t_pass "one failed image: exit 1, the other is pulled" || t_fail "one failed image: exit 1, the other is pulled" "rc=$rc out=$out"

# --- a store that is not one we can write into: one line naming it, kept
badstore() {	# key, what, setup (run in the store), expected text
	local S=$T/bad-$1 out rc before
	shift
	rm -rf "$S"; mkdir -p "$S"
	(cd "$S" && eval "$2")
	before=$(find "$S" -printf '%p %s\n' | sort | md5sum)
	out=$($P --store "$S" -q "$REG/test/multi:v1" 2>&1); rc=$?
	[ $rc -eq 1 ] && [ "$(echo "$out" | wc -l)" -eq 1 ] && echo "$out" | grep -qF -- "$3" &&
	    [ "$(find "$S" -printf '%p %s\n' | sort | md5sum)" = "$before" ] &&
		t_pass "store with $1: exit 1, one line naming it, nothing changed" ||
		t_fail "store with $1: exit 1, one line naming it, nothing changed" "rc=$rc $out"
}
badstore index "an index.json that is not JSON" "echo 'not json' >index.json" "$T/bad-index/index.json: not a valid OCI index"
badstore blobs "a file for blobs/sha256" "mkdir blobs && echo x >blobs/sha256" "$T/bad-blobs/blobs/sha256: Not a directory"
badstore layout "an unknown layout version" "echo '{\"imageLayoutVersion\":\"9.9.9\"}' >oci-layout" "$T/bad-layout/oci-layout is not an OCI image layout 1.0.0"

# --- store location defaults
h=$T/home; mkdir -p "$h"
HOME=$h XDG_DATA_HOME= PULLTOP_STORE= $P -q "$REG/test/many:v1" >/dev/null 2>&1
[ -f "$h/.local/share/pulltop/store/index.json" ] && t_pass "default store is ~/.local/share/pulltop/store" || t_fail "default store is ~/.local/share/pulltop/store" "missing"
HOME=$h XDG_DATA_HOME=$T/xdg PULLTOP_STORE= $P -q "$REG/test/many:v1" >/dev/null 2>&1
[ -f "$T/xdg/pulltop/store/index.json" ] && t_pass "\$XDG_DATA_HOME/pulltop/store is used" || t_fail "\$XDG_DATA_HOME/pulltop/store is used" "missing"
HOME=$h XDG_DATA_HOME=$T/xdg PULLTOP_STORE=$T/envstore $P -q "$REG/test/many:v1" >/dev/null 2>&1
[ -f "$T/envstore/index.json" ] && t_pass "\$PULLTOP_STORE wins" || t_fail "\$PULLTOP_STORE wins" "missing"
