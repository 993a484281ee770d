#!/usr/bin/env bash
# tests/bench-watch.sh - the CPU cost of watching containerd: 50 downloads
# at once in a content store built by hand (the layout containerd 1.6
# writes: ingest/<hex>/{ref,total,startedat,updatedat,data}), each data
# file growing by 64 KiB every 0.5 s, watched for BENCH_WATCH_SECONDS
# of wall time. The watcher's CPU time (user + system, from /proc) over
# that wall time is its cost; the target is at most 2% of one core.
#
#   bash tests/bench-watch.sh            (make bench runs it too)
#
# Environment:
#   PULLTOP              the binary (default ./pulltop)
#   BENCH_WATCH_SECONDS  wall time watched (default 10)
#   BENCH_WATCH_N        downloads at once (default 50)
#   BENCH_WATCH_MODES    views measured (default "plain json"; "tty" runs
#                        the dashboard in a detached tmux)
# Prints one line per view, "watch N ingests, VIEW: X% of a core (target
# <= 2%)"; exits non-zero only when something broke.
set -u
. "$(dirname "$0")/lib.sh"
cd "$T_ROOT" || exit 1

PULLTOP=${PULLTOP:-$T_ROOT/pulltop}
SECS=${BENCH_WATCH_SECONDS:-10}
N=${BENCH_WATCH_N:-50}
MODES=${BENCH_WATCH_MODES:-plain json}
TARGET=2

W=$(t_tmpdir) || exit 1
C=$W/root/io.containerd.content.v1.content
mkdir -p "$C/ingest" "$C/blobs/sha256"

# the downloads: one image's layers (its manifest committed first, as
# containerd does), made, then grown, by one small python process
python3 - "$C" "$N" "$((SECS + 30))" <<'EOF' &
import hashlib, json, os, sys, time
content, n, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
now = time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime())
layer = lambda i: hashlib.sha256(b"bench layer %d" % i).hexdigest()
mt = "application/vnd.oci.image.layer.v1.tar+gzip"
manifest = json.dumps({"schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
               "digest": "sha256:" + "0" * 64, "size": 100},
    "layers": [{"mediaType": mt, "digest": "sha256:" + layer(i),
                "size": 64 << 20} for i in range(n)]}).encode()
with open(os.path.join(content, "blobs", "sha256",
                       hashlib.sha256(manifest).hexdigest()), "wb") as f:
    f.write(manifest)
files = []
for i in range(n):
    digest = layer(i)
    ref = "k8s.io/%d/layer-sha256:%s" % (i + 1, digest)
    d = os.path.join(content, "ingest", hashlib.sha256(ref.encode()).hexdigest())
    os.mkdir(d)
    for name, text in (("ref", ref), ("startedat", now), ("updatedat", now),
                       ("total", str(64 << 20))):
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    files.append(open(os.path.join(d, "data"), "ab"))
chunk = b"\0" * 65536
end = time.monotonic() + secs
while time.monotonic() < end:
    for f in files:
        f.write(chunk)
        f.flush()
    time.sleep(0.5)
EOF
WRITER=$!
t_track_pid "$WRITER"
sleep 1

cpu_ticks() {	# PID: user + system clock ticks so far
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

# measure VIEW: the watcher's share of one core over SECS
measure() {
	local view=$1 pid t0 t1 c0 c1 hz
	hz=$(getconf CLK_TCK)
	case $view in
	tty)
		tmux_server "pulltop-bench-watch-$$"
		tm new-window -d -t keep -n w "exec $PULLTOP --watch containerd \
		    --containerd-root $W/root --progress tty"
		sleep 0.5
		pid=$(tm list-panes -t keep:w -F '#{pane_pid}')
		;;
	*)
		"$PULLTOP" --watch containerd --containerd-root "$W/root" \
		    --progress "$view" >/dev/null 2>"$W/$view.err" &
		pid=$!
		t_track_pid "$pid"
		sleep 0.5
		;;
	esac
	if ! t_alive "$pid"; then
		echo "BROKEN: watch $N ingests, $view: pulltop did not run: $(tail -n 2 "$W/$view.err" 2>/dev/null)"
		return 1
	fi
	c0=$(cpu_ticks "$pid") t0=$(date +%s.%N)
	sleep "$SECS"
	c1=$(cpu_ticks "$pid") t1=$(date +%s.%N)
	t_kill_pid "$pid"
	awk -v c="$((c1 - c0))" -v hz="$hz" -v a="$t0" -v b="$t1" -v n="$N" \
	    -v v="$view" -v t="$TARGET" 'BEGIN {
		p = 100 * c / hz / (b - a)
		printf "watch %d ingests, %s: %.2f%% of a core over %.1f s (target <= %d%%): %s\n",
		    n, v, p, b - a, t, p <= t ? "met" : "MISSED"
	}'
}

broken=0
for v in $MODES; do
	measure "$v" || broken=1
done
exit $broken
