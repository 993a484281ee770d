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
	python3 -c "import json,sys
for m in json.load(open('$1/index.json'))['manifests']:
    print(m['annotations']['org.opencontainers.image.ref.name'])" | sort
}

store_ok() {	# blobs re-hash, index.json parses, every entry's blobs are there
	store_rehash "$1" >/dev/null && python3 - "$1" <<'PY'
import json, os, sys
s = sys.argv[1]
def blob(d):
    return os.path.join(s, "blobs", "sha256", d[7:])
for e in json.load(open(os.path.join(s, "index.json")))["manifests"]:
    m = json.load(open(blob(e["digest"])))
    for d in [m["config"]] + m["layers"]:
        assert os.path.getsize(blob(d["digest"])) == d["size"], d["digest"]
PY
}

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
	bad=""
	for round in 1 2 3 4 5; do
		S=$T/tags$n-$round
		$P --store "$S" -q $(tags $n) >"$T/tags.out" 2>"$T/tags.err"; rc=$?
		if [ $rc -ne 0 ] || ! store_ok "$S" ||
		    [ "$(index_refs "$S")" != "$(tags $n | sort)" ]; then
			bad="round $round: rc=$rc $(head -c 300 "$T/tags.err")"
			break
		fi
	done
	[ -z "$bad" ] && t_pass "$n tags of one image in one run, 5 rounds: exit 0, store valid" ||
		t_fail "$n tags of one image in one run, 5 rounds: exit 0, store valid" "$bad"
done

bad=""
for round in 1 2 3 4 5; do
	S=$T/procs-$round
	$P --store "$S" -q $(tags 2) >"$T/pa.out" 2>"$T/pa.err" & pa=$!
	$P --store "$S" -q $(tags 2) >"$T/pb.out" 2>"$T/pb.err" & pb=$!
	wait $pa; ra=$?; wait $pb; rb=$?
	if [ $ra -ne 0 ] || [ $rb -ne 0 ] || ! store_ok "$S" ||
	    [ "$(index_refs "$S")" != "$(tags 2 | sort)" ]; then
		bad="round $round: rc=$ra/$rb $(cat "$T/pa.err" "$T/pb.err" | head -c 300)"
		break
	fi
done
[ -z "$bad" ] && t_pass "two processes pulling the same two tags, 5 rounds: both exit 0, store valid" ||
	t_fail "two processes pulling the same two tags, 5 rounds: both exit 0, store valid" "$bad"

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
