#!/usr/bin/env bash
# tests/demo.sh - `make demo`: a local registry with the `demo` images and
# pulltop's dashboard pulling several of them at once, throttled so there is
# something to watch.
#
#   bash tests/demo.sh
#
# Starts docker-registry on a free 127.0.0.1 port (storage in a temp dir),
# pushes the `demo` fixture set (built layers are cached in DEMO_CACHE, so
# only the first run builds them), then runs
#   pulltop --store TEMP --limit-rate DEMO_RATE REG/demo/...
# in the foreground: the dashboard when stdout is a terminal, plain output
# otherwise.  When pulltop exits, the registry is stopped (by its pid) and the
# temp dirs are removed; the exit status is pulltop's.
#
# Environment:
#   PULLTOP      binary (default ./pulltop)
#   DEMO_RATE    per-download --limit-rate (default 4M)
#   DEMO_CACHE   fixture layer cache (default /var/tmp/pulltop-demo-cache)
#   DEMO_STORE   pull into this store and keep it (default: a temp dir)
#   DEMO_ARGS    extra pulltop options, e.g. "-j 5 --theme NAME"
set -u
. "$(dirname "$0")/lib.sh"
cd "$T_ROOT" || exit 1

PULLTOP=${PULLTOP:-$T_ROOT/pulltop}
RATE=${DEMO_RATE:-4M}
CACHE=${DEMO_CACHE:-/var/tmp/pulltop-demo-cache}
IMAGES=(demo/tools:latest demo/docs:latest demo/big:latest demo/multiarch:latest
	demo/tiny:latest)

die() {
	echo "demo: $*" >&2
	exit 1
}

[ -x "$PULLTOP" ] || die "$PULLTOP is not built (run 'make')"
command -v docker-registry >/dev/null 2>&1 || die "docker-registry is missing (run 'make deps' as root)"
mkdir -p "$CACHE" || die "cannot create $CACHE"
W=$(t_tmpdir) || die "cannot make a temp dir"

registry_start >"$W/registry.out" 2>&1 || { cat "$W/registry.out" >&2; die "could not start docker-registry"; }
echo "demo: registry at http://$REGISTRY/ (pid $(cat "$REGISTRY_DIR/pid"), storage $REGISTRY_DIR)"
[ -n "$(ls "$CACHE" 2>/dev/null)" ] ||
	echo "demo: building the demo layers once (cached in $CACHE)..."
if ! python3 tests/fixtures.py --registry "$REGISTRY" --cache "$CACHE" \
	--out "$W/fixtures.json" -q demo >"$W/fixtures.out" 2>"$W/fixtures.err"; then
	tail -n 5 "$W/fixtures.err" >&2
	die "pushing the demo images failed"
fi
python3 - "$W/fixtures.json" <<'EOF'
import json, sys
for im in json.load(open(sys.argv[1]))["images"]:
    if "manifests" in im:
        what = "index of %d platforms (%s)" % (len(im["manifests"]), ", ".join(
            "/".join(m["platform"][k] for k in ("os", "architecture", "variant") if m["platform"].get(k))
            for m in im["manifests"]))
    else:
        what = "%d layer%s" % (len(im["layers"]), "" if len(im["layers"]) == 1 else "s")
    print("demo:   %-22s %7.1f MB  %s" % (im["name"] + ":" + im["tag"], im["total_size"] / 1e6, what))
EOF

refs=()
for i in "${IMAGES[@]}"; do refs+=("$REGISTRY/$i"); done
if [ -n "${DEMO_STORE:-}" ]; then
	store=$DEMO_STORE
else
	store=$W/store
fi
if [ -t 1 ]; then
	mode="tty"
	echo "demo: pulling ${#refs[@]} images into $store at $RATE/s per download (q quits, ? helps)"
	sleep 1
else
	mode="plain"
	echo "demo: pulling ${#refs[@]} images into $store at $RATE/s per download (plain output: stdout is not a terminal)"
fi

# Not `exec`: the registry and the temp dirs are cleaned up when pulltop
# returns (lib.sh's EXIT trap).  pulltop is in the foreground and gets the
# terminal and Ctrl-C itself.
# shellcheck disable=SC2086
"$PULLTOP" --store "$store" --limit-rate "$RATE" --progress="$mode" ${DEMO_ARGS:-} "${refs[@]}"
rc=$?
echo "demo: pulltop exited $rc; stopping the registry"
exit "$rc"
