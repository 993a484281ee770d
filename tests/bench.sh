#!/usr/bin/env bash
# tests/bench.sh - `make bench`: pulltop against skopeo and a plain curl
# floor, on a throw-away local registry holding the `bench` fixture set.
#
#   bash tests/bench.sh
#
# For each image (bench/big:v1: ~210 MB in 6 layers, bench/onelayer:v1: one
# ~230 MB layer, bench/small60:v1: 60 small layers) and each of BENCH_RUNS
# rounds, from an empty output directory every time, interleaved (the tool
# order rotates from round to round):
#   pulltop  pulltop --store D -q REG/IMG
#   skopeo   skopeo copy --src-tls-verify=false docker://REG/IMG oci:D:img
#   curl     curl --parallel --parallel-max 3: manifest, config and every
#            layer blob, -o into D (no digest check, no layout: the floor)
#   cursync  the same curl, then sync -f D: the floor of a durable pull,
#            shown beside curl's (pulltop --fsync would need it)
# Wall time is measured with a monotonic clock, CPU time and peak RSS with
# wait4(2) on the tool's process.  Then the dashboard's CPU cost: the same
# throttled pull of many small layers with --progress=quiet and with the
# dashboard (--progress=tty inside a detached tmux on a private socket),
# both under /usr/bin/time, storing on tmpfs (/dev/shm) when there is one.
#
# A report: exits 0 even when a target is missed; non-zero only when
# something broke (registry, fixtures, a tool failing or producing a wrong
# output).
#
# Environment:
#   PULLTOP          binary to measure (default ./pulltop)
#   BENCH_RUNS       rounds per image (default 5)
#   BENCH_IMAGES     images to measure (default the three above)
#   BENCH_CACHE      fixture layer cache, kept between runs
#                    (default /var/tmp/pulltop-bench-cache)
#   BENCH_TTY_IMAGE  image for the dashboard CPU row (default bench/small60:v1)
#   BENCH_TTY_JOBS   -j for that row (default 32)
#   BENCH_TTY_RATE   --limit-rate for that row (default 16K: ~10 s a pull)
#   BENCH_TTY=0      skip the dashboard CPU row
#   BENCH_TIMEOUT    seconds before one tool run is killed (default 120)
#   BENCH_ETA=0      skip the ETA accuracy rows
#   BENCH_SCALE=0    skip the scale case (200 images x 20 layers)
#   BENCH_SCALE_RUNS rounds of the scale case (default 3)
#   BENCH_CHUNKS=0   skip the one-big-layer case (tests/bench-chunks.sh,
#                    its own BENCH_CHUNKS_* settings)
#   BENCH_ONLY=chunks  run only that case
# Last, the CPU cost of --watch containerd (tests/bench-watch.sh, its own
# BENCH_WATCH_* settings) and the Docker rows (tests/bench-docker.sh,
# BENCH_DOCKER_RUNS; BENCH_DOCKER=0 skips them).
set -u
. "$(dirname "$0")/lib.sh"
cd "$T_ROOT" || exit 1

PULLTOP=${PULLTOP:-$T_ROOT/pulltop}
RUNS=${BENCH_RUNS:-5}
IMAGES=${BENCH_IMAGES:-bench/big:v1 bench/onelayer:v1 bench/small60:v1}
CACHE=${BENCH_CACHE:-/var/tmp/pulltop-bench-cache}
TTY_IMAGE=${BENCH_TTY_IMAGE:-bench/small60:v1}
TTY_JOBS=${BENCH_TTY_JOBS:-32}
TTY_RATE=${BENCH_TTY_RATE:-16K}
CURL_PAR=3		# pulltop's default --jobs
TOOL_TIMEOUT=${BENCH_TIMEOUT:-120}	# seconds, one tool run

# targets
T_SKOPEO=0.5		# pulltop wall <= this x skopeo's
T_CURL=1.3		# pulltop wall <= this x curl's
T_RSS=32		# MiB, pulltop peak RSS
T_TTY=5			# % of one core, dashboard over quiet

BROKEN=0
broke() {
	echo "BROKEN: $*"
	BROKEN=1
}
die() {
	echo "bench: $*" >&2
	exit 1
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

case "$RUNS" in '' | *[!0-9]* | 0) die "BENCH_RUNS must be a positive integer" ;; esac
[ -x "$PULLTOP" ] || die "$PULLTOP is not built (run 'make')"
for c in skopeo curl python3 /usr/bin/time tmux docker-registry; do
	command -v "$c" >/dev/null 2>&1 || die "$c is missing (run 'make deps' as root)"
done

if [ "${BENCH_ONLY:-}" = chunks ]; then
	exec bash "$T_LIB_DIR/bench-chunks.sh"
fi

T0=$(now)
W=$(t_tmpdir) || die "cannot make a temp dir"
D=$W/out
mkdir -p "$CACHE" || die "cannot create $CACHE"

# measure OUT LOG CMD...: run CMD (stdin /dev/null, stdout+stderr to LOG,
# SIGKILL after TOOL_TIMEOUT s); OUT gets "wall user sys maxrss_kib status".
cat >"$W/measure.py" <<'EOF'
import os, signal, subprocess, sys, threading, time
out, log, limit, cmd = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4:]
with open(log, "wb") as lf:
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT)
    killer = threading.Timer(limit, lambda: os.kill(p.pid, signal.SIGKILL))
    killer.start()
    _, status, ru = os.wait4(p.pid, 0)
    t1 = time.monotonic()
    killer.cancel()
    p.returncode = os.waitstatus_to_exitcode(status)
    if t1 - t0 >= limit:
        lf.write(b"\nbench: killed after %g s\n" % limit)
with open(out, "w") as f:
    f.write("%.6f %.6f %.6f %d %d\n" % (t1 - t0, ru.ru_utime, ru.ru_stime,
                                        ru.ru_maxrss, p.returncode))
EOF
measure() { python3 "$W/measure.py" "$1" "$2" "$TOOL_TIMEOUT" "${@:3}"; }

echo "pulltop bench: $("$PULLTOP" --version 2>/dev/null || echo "$PULLTOP")," \
	"$(nproc) CPUs, $RUNS run(s) per tool and image"
echo "  skopeo $(skopeo --version 2>/dev/null | awk '{print $3}'), $(curl --version | awk 'NR == 1 {print $1, $2}')," \
	"load average $(cut -d' ' -f1-3 /proc/loadavg)"
# busy jiffies of the whole machine, to tell how much of it others used
busy_jiffies() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
BUSY0=$(busy_jiffies)

# ------------------------------------------------------------ registry, fixtures

registry_start >"$W/registry.out" 2>&1 || { cat "$W/registry.out"; die "could not start docker-registry"; }
echo "registry: $REGISTRY (storage $REGISTRY_DIR)"
t=$(now)
if [ -n "$(ls "$CACHE" 2>/dev/null)" ]; then
	echo "pushing the bench fixtures (layers cached in $CACHE)..."
else
	echo "pushing the bench fixtures (building ~440 MB of layers into $CACHE first; later runs reuse them)..."
fi
if ! python3 tests/fixtures.py --registry "$REGISTRY" --cache "$CACHE" \
	--out "$W/fixtures.json" bench >"$W/fixtures.out" 2>"$W/fixtures.err"; then
	tail -n 5 "$W/fixtures.err"
	die "pushing the fixtures failed"
fi
grep -E 'layers ready|pushed' "$W/fixtures.err" | sed 's/^/  /'
echo "  fixtures done in $(elapsed "$t") s"

# fx IMAGE FIELD: facts about an image from the fixtures file
#   total: bytes of manifest+config+layers   layers: layer count
#   blobs: distinct blobs a layout holds (manifest, config, layers)
#   curl:  a curl config (output = / url = pairs) for the curl floor
fx() {
	python3 - "$W/fixtures.json" "$1" "$2" "$REGISTRY" "$D" <<'EOF'
import json, sys
doc, ref, what, reg, out = sys.argv[1:6]
ims = {i["name"] + ":" + i["tag"]: i for i in json.load(open(doc))["images"]}
if ref not in ims:
    sys.exit("no image %s in the bench fixtures" % ref)
im = ims[ref]
name, tag = ref.rsplit(":", 1)
if what == "total":
    print(im["total_size"])
elif what == "layers":
    print(len(im["layers"]))
elif what == "blobs":
    print(len({im["digest"], im["config"]["digest"]} | {l["digest"] for l in im["layers"]}))
elif what == "curl":
    print('output = "%s/manifest.json"\nurl = "http://%s/v2/%s/manifests/%s"' % (out, reg, name, tag))
    seen = set()
    for b in [im["config"]] + im["layers"]:
        if b["digest"] in seen:
            continue
        seen.add(b["digest"])
        print('output = "%s/%s"\nurl = "http://%s/v2/%s/blobs/%s"' % (out, b["digest"][7:], reg, name, b["digest"]))
EOF
}

# ------------------------------------------------------------------- the runs

RES=$W/results.tsv
: >"$RES"
ACCEPT="Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"

nblobs_in() { find "$1/blobs/sha256" -type f 2>/dev/null | wc -l; }
bytes_in() { find "$1" -type f -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }

run_tool() {	# tool image round
	local tool=$1 img=$2 r=$3 m log rc wall user sys rss ok=1 why=
	m=$W/m.$tool log=$W/log.$tool
	rm -rf "$D" "$m"
	sync
	case $tool in
	pulltop)
		measure "$m" "$log" "$PULLTOP" --store "$D" -q "$REGISTRY/$img" ;;
	skopeo)
		measure "$m" "$log" skopeo copy -q --src-tls-verify=false \
			"docker://$REGISTRY/$img" "oci:$D:img" ;;
	curl)
		mkdir -p "$D"
		measure "$m" "$log" curl -sS -f --parallel --parallel-max "$CURL_PAR" \
			-H "$ACCEPT" -K "$W/curl.cfg" ;;
	cursync)	# the same, then its bytes on disk, as a store needs them
		mkdir -p "$D"
		measure "$m" "$log" sh -c 'curl -sS -f --parallel --parallel-max "$1" \
			-H "$2" -K "$3" && sync -f "$4"' sh "$CURL_PAR" "$ACCEPT" "$W/curl.cfg" "$D" ;;
	esac
	read -r wall user sys rss rc <"$m" || { wall=0 user=0 sys=0 rss=0 rc=255; }
	if [ "$rc" -ne 0 ]; then
		ok=0 why="exit $rc: $(tail -n 2 "$log" | tr '\n' ' ')"
	elif [ "$tool" = curl ] || [ "$tool" = cursync ]; then
		[ "$(bytes_in "$D")" -eq "$want_bytes" ] ||
			ok=0 why="fetched $(bytes_in "$D") bytes, want $want_bytes"
	else
		[ "$(nblobs_in "$D")" -eq "$want_blobs" ] ||
			ok=0 why="store holds $(nblobs_in "$D") blobs, want $want_blobs"
	fi
	[ "$ok" = 1 ] || broke "$tool $img round $r: $why"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$img" "$tool" "$r" "$wall" \
		"$user" "$sys" "$rss" "$rc" "$ok" >>"$RES"
}

# cursync: curl, then sync -f of what it wrote: the floor of a pull that
# waits for the disk (pulltop --fsync), shown beside the target, which is
# curl's: by default pulltop does not wait for the disk either (durable.c).
TOOLS=(pulltop skopeo curl cursync)
for img in $IMAGES; do
	want_blobs=$(fx "$img" blobs) || die "bad image $img"
	want_bytes=$(fx "$img" total)
	fx "$img" curl >"$W/curl.cfg"
	echo
	echo "== $img: $(fx "$img" layers) layer(s)," \
		"$(awk -v b="$want_bytes" 'BEGIN { printf "%.1f MB", b / 1e6 }')"
	for ((r = 1; r <= RUNS; r++)); do
		line="  round $r/$RUNS:"
		for ((k = 0; k < ${#TOOLS[@]}; k++)); do
			tool=${TOOLS[$(((r - 1 + k) % ${#TOOLS[@]}))]}
			run_tool "$tool" "$img" "$r"
		done
		for tool in "${TOOLS[@]}"; do
			line="$line  $tool $(awk '{ printf "%.2fs", $1 }' "$W/m.$tool")"
		done
		line="$line  (pulltop rss $(awk '{ printf "%.1f MiB", $4 / 1024 }' "$W/m.pulltop"))"
		echo "$line"
	done
	rm -rf "$D"
done

# ---------------------------------------------------- the dashboard's CPU cost
#
# The same throttled pull twice: --progress=quiet, then --progress=tty in a
# detached tmux (private socket, 120x40).  Both under /usr/bin/time; the
# difference in user+sys over the dashboard run's wall time is its cost in
# % of one core.

# The dashboard rows measure CPU, not the disk: their store is on tmpfs
# when there is one, so the disk's noise (fsyncs, this machine's slow
# creates where files were just deleted) does not swamp a few % of a core.
TTY_STORE=$W/tty-store
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	TTY_STORE=/dev/shm/pulltop-bench-tty.$$
	t_cleanup_push rm -rf "$TTY_STORE"
fi
TTY_NOTE=
tty_row() {	# mode -> W/tty-MODE.time ("wall user sys maxrss"), returns status
	local mode=$1 sock=$W/tmux.sock i rc spid=
	# a status left by an earlier row would end the wait below at once
	rm -f "$W/tty-$mode.rc" "$W/tty-$mode.time"
	rm -rf "$TTY_STORE"
	sync
	cat >"$W/tty-$mode.sh" <<EOF
#!/bin/sh
/usr/bin/time -f '%e %U %S %M' -o '$W/tty-$mode.time' '$PULLTOP' --store '$TTY_STORE' \
	--progress=$mode --exit-when-done -j '$TTY_JOBS' --limit-rate '$TTY_RATE' \
	${TTY_ARGS:-'$REGISTRY/$TTY_IMAGE'} 2>'$W/tty-$mode.err'
echo \$? >'$W/tty-$mode.rc'
EOF
	if [ "$mode" = quiet ]; then
		timeout -k 5 "${TTY_LIMIT:-120}" sh "$W/tty-$mode.sh" >/dev/null </dev/null
	else
		t_cleanup_push tmux -S "$sock" kill-server
		TERM=${TERM:-xterm} tmux -S "$sock" -f /dev/null new-session -d -x 120 -y 40 \
			"sh '$W/tty-$mode.sh'" || { broke "tmux would not start"; return 1; }
		spid=$(tmux -S "$sock" display-message -p '#{pid}' 2>/dev/null)
		# halfway through, keep what the pane shows (to tell the dashboard
		# from the plain fallback)
		for ((i = 0; i < ${TTY_LIMIT:-120} * 10; i++)); do
			[ -s "$W/tty-$mode.rc" ] && break
			[ "$i" = 40 ] && tmux -S "$sock" capture-pane -p >"$W/tty-pane.txt" 2>/dev/null
			sleep 0.1
		done
		if [ ! -s "$W/tty-$mode.rc" ]; then
			broke "pulltop --progress=tty did not finish within ${TTY_LIMIT:-120} s"
			tmux -S "$sock" kill-server 2>/dev/null
			return 1
		fi
		tmux -S "$sock" kill-server 2>/dev/null
		# the server is not our child: wait for it to be gone
		for ((i = 0; i < 50; i++)); do
			if [ -z "$spid" ] || ! kill -0 "$spid" 2>/dev/null; then break; fi
			sleep 0.1
		done
	fi
	rc=$(cat "$W/tty-$mode.rc" 2>/dev/null)
	if [ "$rc" != 0 ]; then
		broke "pulltop --progress=$mode (throttled) exited ${rc:-?}: $(tail -n 2 "$W/tty-$mode.err" | tr '\n' ' ')"
		return 1
	fi
	# GNU time puts "Command exited with ..." first when the status is not 0
	tail -n 1 "$W/tty-$mode.time" >"$W/tty-$mode.t"
	local have want
	have=$(nblobs_in "$TTY_STORE") want=${TTY_BLOBS:-$(fx "$TTY_IMAGE" blobs)}
	if [ "$have" -ne "$want" ]; then
		broke "pulltop --progress=$mode (throttled): the store holds $have blobs, want $want (rc 0; stderr: $(tail -n 1 "$W/tty-$mode.err"))"
		return 1
	fi
	return 0
}

TTY_OK=0
[ "${BENCH_TTY:-1}" != 0 ] || TTY_NOTE="skipped: BENCH_TTY=0"
if [ "${BENCH_TTY:-1}" != 0 ]; then
	echo
	echo "== dashboard CPU: $TTY_IMAGE, -j $TTY_JOBS --limit-rate $TTY_RATE, quiet vs tty (tmux 120x40)"
	if tty_row quiet && tty_row tty; then
		TTY_OK=1
		if grep -q 'no dashboard' "$W/tty-tty.err" 2>/dev/null; then
			TTY_NOTE="this build has no dashboard ('$(grep -m1 'no dashboard' "$W/tty-tty.err" | sed 's/^pulltop: //')'), so the tty row measured the plain fallback"
		elif grep -q 'Pulling from' "$W/tty-pane.txt" 2>/dev/null; then
			TTY_NOTE="the pane showed plain output, not the dashboard"
		fi
		for mode in quiet tty; do
			awk -v m="$mode" '{ printf "  %-6s wall %6.2f s  user+sys %5.2f s  rss %5.1f MiB\n", m, $1, $2 + $3, $4 / 1024 }' \
				"$W/tty-$mode.t"
		done
	fi
	rm -rf "$TTY_STORE"
fi

# ---------------------------------------------------------------- the ETA
# The header's ETA sampled every second (tests/etacheck.py) against the
# time actually left, on the 60-layer image at -j 32 --limit-rate 16K (the
# pull whose small layers finish first and whose biggest sets the end),
# and on big:v1's six layers at -j 2 --limit-rate 8M (layers queued behind
# others). Target: within +-25% once 10% of the bytes are in.
if [ "${BENCH_ETA:-1}" != 0 ]; then
	echo
	echo "== ETA: the header's estimate against the time actually left, after 10% of the bytes"
	for spec in "bench/small60:v1 32 16K" "bench/big:v1 2 8M"; do
		set -- $spec
		rm -rf "$W/eta-store"
		out=$(python3 tests/etacheck.py --socket "$W/eta.sock" -- "$PULLTOP" \
			--store "$W/eta-store" -j "$2" --limit-rate "$3" "$REGISTRY/$1" 2>&1)
		python3 - "$out" "$spec" <<'PY'
import json, sys
try:
    d = json.loads(sys.argv[1])
except ValueError:
    print("  %s: etacheck failed: %s" % (sys.argv[2], sys.argv[1][:200])); sys.exit()
img, j, rate = sys.argv[2].split()
print("  %-18s -j %-2s --limit-rate %-3s  %5.1fs  %2d samples  worst %5.1f%% %s (<= 25%%)  at %s"
      % (img, j, rate, d.get("wall") or 0, d.get("judged", 0), 100 * d.get("worst", 1),
         "OK" if d.get("rc") == 0 and d.get("worst", 1) <= 0.25 else "MISS", d.get("worst_at")))
PY
	done
	rm -rf "$W/eta-store"
fi

# ------------------------------------------------------------------ scale
# 200 images x 20 tiny layers of their own (the `scale` fixture set, 4,000
# layer blobs): pulltop -q -f LIST against curl --parallel --parallel-max 3
# of every manifest, config and layer (the floor), cold each round; peak
# RSS; then the dashboard against -q on the same pull throttled to last
# >= 10 s. Targets: <= 1.3x curl, <= 64 MiB, dashboard <= 5% of a core.

SCALE_RUNS=${BENCH_SCALE_RUNS:-3}
SCALE_RES=$W/scale.tsv
: >"$SCALE_RES"
SCALE_NOTE=
scale_bench() {
	local t r k tool m log wall user sys rss rc
	t=$(now)
	if ! python3 tests/fixtures.py --registry "$REGISTRY" --cache "$CACHE" \
		--out "$W/scale.json" scale >/dev/null 2>"$W/scale.err"; then
		broke "scale: pushing the fixtures failed: $(tail -n 2 "$W/scale.err" | tr '\n' ' ')"
		return 1
	fi
	python3 - "$W/scale.json" "$REGISTRY" "$D" "$W/scale.list" "$W/scale.curl" <<'PY'
import json, sys
doc, reg, out, lst, cfg = sys.argv[1:6]
ims = json.load(open(doc))["images"]
with open(lst, "w") as f:
    for im in ims:
        f.write("%s/%s:%s\n" % (reg, im["name"], im["tag"]))
with open(cfg, "w") as f:
    seen = set()
    for im in ims:
        f.write('output = "%s/m-%s"\nurl = "http://%s/v2/%s/manifests/%s"\n'
                % (out, im["tag"], reg, im["name"], im["tag"]))
        for b in [im["config"]] + im["layers"]:
            if b["digest"] in seen:
                continue
            seen.add(b["digest"])
            f.write('output = "%s/%s"\nurl = "http://%s/v2/%s/blobs/%s"\n'
                    % (out, b["digest"][7:], reg, im["name"], b["digest"]))
PY
	SCALE_BLOBS=$(python3 -c "import json
ims=json.load(open('$W/scale.json'))['images']
print(len({i['digest'] for i in ims}|{i['config']['digest'] for i in ims}|{l['digest'] for i in ims for l in i['layers']}))")
	echo
	echo "== scale: 200 images x 20 layers ($SCALE_BLOBS blobs), pulltop -q -f vs curl --parallel-max $CURL_PAR (fixtures in $(elapsed "$t") s)"
	for ((r = 1; r <= SCALE_RUNS; r++)); do
		line="  round $r/$SCALE_RUNS:"
		for ((k = 0; k < 2; k++)); do
			tool=$([ $(((r + k) % 2)) = 0 ] && echo pulltop || echo curl)
			m=$W/sm.$tool log=$W/slog.$tool
			rm -rf "$D"
			sync
			if [ "$tool" = pulltop ]; then
				measure "$m" "$log" "$PULLTOP" --store "$D" -q -f "$W/scale.list"
			else
				mkdir -p "$D"
				measure "$m" "$log" curl -sS -f --parallel --parallel-max "$CURL_PAR" \
					-H "$ACCEPT" -K "$W/scale.curl"
			fi
			read -r wall user sys rss rc <"$m" || rc=255
			if [ "$rc" != 0 ]; then
				broke "scale $tool round $r: exit $rc: $(tail -n 2 "$log" | tr '\n' ' ')"
			elif [ "$tool" = pulltop ] && [ "$(nblobs_in "$D")" -ne "$SCALE_BLOBS" ]; then
				broke "scale pulltop round $r: store holds $(nblobs_in "$D") blobs, want $SCALE_BLOBS"
			fi
			printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$wall" "$user" "$sys" "$rss" "$rc" >>"$SCALE_RES"
		done
		line="$line  pulltop $(awk '{ printf "%.2fs", $1 }' "$W/sm.pulltop")  curl $(awk '{ printf "%.2fs", $1 }' "$W/sm.curl")"
		echo "$line  (pulltop rss $(awk '{ printf "%.1f MiB", $4 / 1024 }' "$W/sm.pulltop"), cpu $(awk '{ printf "%.2fs", $2 + $3 }' "$W/sm.pulltop"))"
	done
	rm -rf "$D"
	python3 - "$SCALE_RES" <<'PY'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    tool, wall, user, sys_, rss, rc = line.split()
    if rc == "0":
        t.setdefault(tool, []).append((float(wall), float(user) + float(sys_), int(rss) / 1024))
if "pulltop" in t and "curl" in t:
    p = statistics.median(w for w, _, _ in t["pulltop"])
    c = statistics.median(w for w, _, _ in t["curl"])
    rss = max(r for _, _, r in t["pulltop"])
    x = round(p / c, 2)
    print("scale medians: pulltop %.2fs  curl %.2fs  p/curl %.2f %s (<= 1.3)  pulltop peak RSS %.1f MiB %s (<= 64)"
          % (p, c, x, "OK" if x <= 1.3 else "MISS", rss, "OK" if rss <= 64 else "MISS"))
else:
    print("scale: not every tool ran")
PY
	# the dashboard's cost over the same pull, throttled to last >= 10 s
	# (the small-layer row's figures are kept for the report)
	for f in tty-quiet.t tty-tty.t tty-pane.txt tty-tty.err; do
		[ -e "$W/$f" ] && cp "$W/$f" "$W/keep-$f"
	done
	if [ "${BENCH_TTY:-1}" != 0 ]; then
		# 4,400 blobs of ~2 KB: a blob's rate limit is mostly its
		# latency, so 64K per blob on -j 32 still lasts well over 10 s;
		# the pull gets 300 s on a busy machine before it counts as broken
		echo "  dashboard over 200 images: -j 32 --limit-rate 64K, quiet vs tty (tmux 120x40)"
		if TTY_ARGS="-f '$W/scale.list'" TTY_BLOBS=$SCALE_BLOBS TTY_JOBS=32 TTY_RATE=64K TTY_LIMIT=300 tty_row quiet &&
			cp "$W/tty-quiet.t" "$W/stq.t" &&
			TTY_ARGS="-f '$W/scale.list'" TTY_BLOBS=$SCALE_BLOBS TTY_JOBS=32 TTY_RATE=64K TTY_LIMIT=300 tty_row tty; then
			awk 'NR == FNR { q = $2 + $3; next }
			{ d = $2 + $3; pct = 100 * (d - q) / $1
			  printf "  scale dashboard CPU: %+.2f s user+sys over %.1f s wall = %.1f%% of one core (quiet %.2f s, tty %.2f s)  target <= 5%%  %s\n",
			      d - q, $1, pct, q, d, pct <= 5 ? "OK" : "MISS" }' "$W/stq.t" "$W/tty-tty.t"
		fi
		rm -rf "$TTY_STORE"
	fi
	for f in tty-quiet.t tty-tty.t tty-pane.txt tty-tty.err; do
		[ -e "$W/keep-$f" ] && cp "$W/keep-$f" "$W/$f"
	done
	return 0
}
if [ "${BENCH_SCALE:-1}" != 0 ]; then
	scale_bench
fi

# ------------------------------------------------------------------ unpacking
# Unpacking an image whose blobs are already in the store: pulltop --unpack
# against `umoci unpack` of the same layout and `tar -xzf` of each layer in
# order (the floor). Targets: <= 1.2x tar, <= 0.5x umoci, bounded memory.

UNPACK_IMG=${BENCH_UNPACK_IMAGE:-bench/big:v1}
UNPACK_RUNS=${BENCH_UNPACK_RUNS:-3}
US=$W/unpack-store UR=$W/unpack.tsv
# The rootfs goes to tmpfs by default: on a VM disk, writeback of the
# previous run's 700 MB throttles the next run and swamps the tools.
if [ -n "${BENCH_UNPACK_DIR:-}" ]; then
	UD=$BENCH_UNPACK_DIR/pulltop-bench-unpack.$$
elif [ -d /dev/shm ] && [ -w /dev/shm ]; then
	UD=/dev/shm/pulltop-bench-unpack.$$
else
	UD=$W/unpack-out
fi
t_cleanup_push rm -rf "$UD"
: >"$UR"
if "$PULLTOP" --store "$US" -q "$REGISTRY/$UNPACK_IMG" >"$W/unpack-pull.log" 2>&1; then
	ulayers=$(python3 -c "import json,sys
d={i['name']+':'+i['tag']: i for i in json.load(open('$W/fixtures.json'))['images']}
print(' '.join(l['digest'][7:] for l in d['$UNPACK_IMG']['layers']))")
	echo
	echo "== unpack $UNPACK_IMG: $(echo $ulayers | wc -w) layer(s) already in the store;" \
		"pulltop --unpack vs umoci unpack vs tar -xzf per layer, into $(df --output=fstype "$(dirname "$UD")" | tail -n 1) $(dirname "$UD")"
	UTOOLS=(pulltop umoci tar)
	for ((r = 1; r <= UNPACK_RUNS; r++)); do
		line="  round $r/$UNPACK_RUNS:"
		for ((k = 0; k < 3; k++)); do
			tool=${UTOOLS[$(((r - 1 + k) % 3))]}
			m=$W/um.$tool log=$W/ulog.$tool
			rm -rf "$UD"
			sync
			case $tool in
			pulltop) measure "$m" "$log" "$PULLTOP" --store "$US" \
				--unpack "$UD" -q "$REGISTRY/$UNPACK_IMG" ;;
			umoci) measure "$m" "$log" umoci unpack \
				--image "$US:$REGISTRY/$UNPACK_IMG" "$UD" ;;
			tar) mkdir -p "$UD"
				measure "$m" "$log" sh -c 'd=$1; shift
					for b; do tar -xzf "$d/blobs/sha256/$b" -C "$0" || exit 1; done' \
					"$UD" "$US" $ulayers ;;
			esac
			read -r wall user sys rss rc <"$m" || rc=255
			[ "$rc" -eq 0 ] || broke "unpack $tool round $r: exit $rc: $(tail -n 2 "$log" | tr '\n' ' ')"
			printf '%s\t%s\t%s\t%s\n' "$tool" "$wall" "$rss" "$rc" >>"$UR"
		done
		for tool in "${UTOOLS[@]}"; do
			line="$line  $tool $(awk '{ printf "%.2fs", $1 }' "$W/um.$tool")"
		done
		echo "$line  (pulltop rss $(awk '{ printf "%.1f MiB", $4 / 1024 }' "$W/um.pulltop"))"
	done
	rm -rf "$UD" "$US"
	python3 - "$UR" <<'PY'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    tool, wall, rss, rc = line.split()
    if rc == "0":
        t.setdefault(tool, []).append((float(wall), int(rss) / 1024))
if all(k in t for k in ("pulltop", "umoci", "tar")):
    m = {k: statistics.median(w for w, _ in v) for k, v in t.items()}
    rt, ru = m["pulltop"] / m["tar"], m["pulltop"] / m["umoci"]
    rss = max(r for _, r in t["pulltop"])
    print("unpack medians: pulltop %.2fs  tar %.2fs  umoci %.2fs   p/tar %.2f %s (<= 1.2)"
          "   p/umoci %.2f %s (<= 0.5)   pulltop peak RSS %.1f MiB"
          % (m["pulltop"], m["tar"], m["umoci"], rt, "OK" if rt <= 1.2 else "MISS",
             ru, "OK" if ru <= 0.5 else "MISS", rss))
else:
    print("unpack: not every tool ran")
PY
else
	broke "unpack: could not pull $UNPACK_IMG: $(tail -n 2 "$W/unpack-pull.log" | tr '\n' ' ')"
fi

# ------------------------------------------- watching containerd's store
# 50 growing ingests in a hand-built content store (tests/bench-watch.sh)
echo
bash "$T_LIB_DIR/bench-watch.sh" || broke "watching containerd: see above"

# --via docker and --load docker against a private dockerd
# (tests/bench-docker.sh)
echo
if [ "${BENCH_DOCKER:-1}" != 0 ]; then
	bash "$T_LIB_DIR/bench-docker.sh" || broke "docker: see above"
fi

# one big layer over several connections (tests/bench-chunks.sh)
echo
if [ "${BENCH_CHUNKS:-1}" != 0 ]; then
	bash "$T_LIB_DIR/bench-chunks.sh" || broke "chunks: see above"
fi

# --------------------------------------------------------------------- report

echo
python3 - "$RES" "$W/fixtures.json" "$RUNS" "$T_SKOPEO" "$T_CURL" "$T_RSS" \
	"$TTY_OK" "$W/tty-quiet.t" "$W/tty-tty.t" "$T_TTY" "$TTY_NOTE" <<'EOF'
import json, statistics, sys
(res, fixtures, runs, t_sk, t_cu, t_rss, tty_ok, tq, tt, t_tty, note) = sys.argv[1:12]
t_sk, t_cu, t_rss, t_tty = float(t_sk), float(t_cu), float(t_rss), float(t_tty)
ims = {i["name"] + ":" + i["tag"]: i for i in json.load(open(fixtures))["images"]}
rows = {}
order = []
for line in open(res):
    img, tool, r, wall, user, sys_, rss, rc, ok = line.rstrip("\n").split("\t")
    if img not in rows:
        rows[img] = {}
        order.append(img)
    if ok == "1":
        rows[img].setdefault(tool, []).append((float(wall), float(user) + float(sys_), int(rss)))

def verdict(good):
    return "OK" if good else "MISS"

print("== results: median wall time of %s run(s), cold output dir each run" % runs)
print("   targets: pulltop <= %.1fx skopeo, <= %.1fx curl, peak RSS <= %g MiB"
      % (t_sk, t_cu, t_rss))
hdr = "%-18s %9s %8s %8s %8s %9s %11s %11s %10s %18s" % (
    "image", "MB", "pulltop", "skopeo", "curl", "curl+sync", "p/skopeo", "p/curl",
    "p/c+sync", "p RSS med/max MiB")
print(hdr)
print("-" * len(hdr))
missed = 0
for img in order:
    t = rows[img]
    mb = ims[img]["total_size"] / 1e6
    med = {k: statistics.median(w for w, _, _ in v) for k, v in t.items() if v}
    def s(k):
        return "%7.2fs" % med[k] if k in med else "  failed"
    def ratio(k, target):
        global missed
        if "pulltop" not in med or k not in med or med[k] <= 0:
            return "%11s" % "n/a"
        x = round(med["pulltop"] / med[k], 2)   # judge what is shown
        missed += x > target
        return "%6.2f %-4s" % (x, verdict(x <= target))
    if "pulltop" in t:
        rss = [r / 1024 for _, _, r in t["pulltop"]]
        rmed, rmax = statistics.median(rss), max(rss)
        missed += rmax > t_rss
        rs = "%5.1f / %5.1f %-4s" % (rmed, rmax, verdict(rmax <= t_rss))
    else:
        rs = "%17s" % "n/a"
    cs = ("%10.2f" % round(med["pulltop"] / med["cursync"], 2)
          if "pulltop" in med and med.get("cursync", 0) > 0 else "%10s" % "n/a")
    print(("%-18s %9.1f %8s %8s %8s %9s %s %s %s %s" % (
        img, mb, s("pulltop"), s("skopeo"), s("curl"), s("cursync"),
        ratio("skopeo", t_sk), ratio("curl", t_cu), cs, rs)).rstrip())
outl = []
for line in open(res):
    img, tool, r, wall, *_ , ok = line.rstrip("\n").split("\t")
    v = rows.get(img, {}).get(tool)
    if ok == "1" and v and len(v) >= 3:
        m = statistics.median(w for w, _, _ in v)
        if float(wall) > 2.5 * m and float(wall) - m > 0.2:
            outl.append("%s %s round %s: %.2fs (median %.2fs)" % (tool, img, r, float(wall), m))
if outl:
    print("   outliers: " + "; ".join(outl))
print()
print("%-18s %5s %8s %8s %8s %7s %8s %8s %8s" % ("", "MB/s", "pulltop", "skopeo", "curl",
                                               "CPU s", "pulltop", "skopeo", "curl"))
for img in order:
    t = rows[img]
    mbs, cpu = [], []
    for k in ("pulltop", "skopeo", "curl"):
        if t.get(k):
            mbs.append("%8.0f" % (ims[img]["total_size"] / 1e6 / statistics.median(w for w, _, _ in t[k])))
            cpu.append("%8.2f" % statistics.median(c for _, c, _ in t[k]))
        else:
            mbs.append("%8s" % "-")
            cpu.append("%8s" % "-")
    print("%-18s %5s %s %7s %s" % (img, "", " ".join(mbs), "", " ".join(cpu)))
print()
if tty_ok == "1":
    q = [float(x) for x in open(tq).read().split()]
    d = [float(x) for x in open(tt).read().split()]
    extra = (d[1] + d[2]) - (q[1] + q[2])
    pct = round(100.0 * extra / d[0], 1) if d[0] > 0 else 0.0
    missed += pct > t_tty
    print("dashboard CPU: %+.2f s user+sys over %.1f s wall = %.1f%% of one core "
          "(quiet %.2f s, tty %.2f s)   target <= %g%%  %s"
          % (extra, d[0], pct, q[1] + q[2], d[1] + d[2], t_tty, verdict(pct <= t_tty)))
    if note:
        print("   note: " + note)
else:
    print("dashboard CPU: not measured" + (" (" + note + ")" if note else ""))
print()
print("%d target(s) missed" % missed if missed else "all targets met")
EOF
[ $? -eq 0 ] || broke "the report failed"

# CPU the rest of the machine used meanwhile: all busy time, less this
# script's children (every tool, fixtures.py) and the registry
other=$(python3 - "$BUSY0" "$(busy_jiffies)" "$(getconf CLK_TCK)" \
	"$(awk '{ print $14 + $15 }' "/proc/$(cat "$REGISTRY_DIR/pid")/stat" 2>/dev/null)" \
	"$(elapsed "$T0")" "$(times | tail -n 1)" <<'EOF'
import re, sys
b0, b1, hz, reg, wall, times = sys.argv[1:7]
hz = float(hz)
kids = sum(float(m) * 60 + float(s) for m, s in re.findall(r"(\d+)m([\d.]+)s", times))
other = (int(b1) - int(b0)) / hz - kids - (int(reg or 0) / hz)
print("%.1f %.0f" % (max(other, 0.0), 100 * max(other, 0.0) / float(wall)))
EOF
)
echo "bench: done in $(elapsed "$T0") s; other processes used ${other% *} s of CPU meanwhile (${other#* }% of one core)"
[ "${other#* }" -le 10 ] 2>/dev/null ||
	echo "bench: note: other work was running on this machine; the figures are noisy"
if [ "$BROKEN" != 0 ]; then
	echo "bench: something broke (see BROKEN lines above)"
	exit 1
fi
exit 0
