#!/usr/bin/env bash
# tests/bench-docker.sh - make bench's Docker rows: a private dockerd (as
# t-docker starts it) pulls from a throw-away registry holding the `test`
# fixtures. Cold each round (the images removed from the engine first):
#   api      POST /images/create for each image at once with curl, no view
#            (what `docker pull` asks of the engine)
#   via      pulltop --via docker -q of the same images
#   load     pulltop --load docker -q into a fresh store: pulltop pulls, the
#            engine loads a docker-archive streamed from the store
# Prints medians, the view's cost (via over api: <= 2% wall, <= 5% of a
# core) and load against the engine's own pull. A report: exits 0 even
# when a target is missed, non-zero when something broke.
#   BENCH_DOCKER_RUNS  rounds (default 6: api and via go first in turn)
set -u
. "$(dirname "$0")/lib.sh"
cd "$T_ROOT" || exit 1
PULLTOP=${PULLTOP:-$T_ROOT/pulltop}
RUNS=${BENCH_DOCKER_RUNS:-6}
command -v dockerd >/dev/null || { echo "bench-docker: dockerd missing (make deps)"; exit 1; }

W=$(t_tmpdir)
chmod 755 "$W"
registry_start >"$W/reg.out" 2>&1 || { echo "bench-docker: no registry"; exit 1; }
fixtures_push test "$W/fx.json" >/dev/null 2>&1 || { echo "bench-docker: fixtures failed"; exit 1; }
IMGS=("$REGISTRY/test/big:v1" "$REGISTRY/test/multi:v1" "$REGISTRY/test/many:v1")
dockerd_start "$W/dk" || { echo "bench-docker: dockerd would not start: $(tail -n 3 "$W/dk/log")"; exit 1; }
SOCK=$W/dk/sock
export DOCKER_HOST=unix://$SOCK

clean_engine() {
	local i
	for i in "${IMGS[@]}"; do
		curl -sS -m 30 --unix-socket "$SOCK" -X DELETE "http://d/images/$i?force=1" >/dev/null 2>&1
	done
	curl -sS -m 30 --unix-socket "$SOCK" -X POST "http://d/images/prune?filters=%7B%22dangling%22%3A%5B%22false%22%5D%7D" >/dev/null 2>&1
}

# the engine's own pull of every image at once, no view
api_pull() {
	local i pids=()
	for i in "${IMGS[@]}"; do
		curl -sS -f --unix-socket "$SOCK" -X POST \
		    "http://d/images/create?fromImage=${i%:*}&tag=${i##*:}" >/dev/null &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || return 1; done
}
export -f api_pull
export SOCK
IMGS_LIST="${IMGS[*]}"

cat >"$W/m.py" <<'PY'
import os, subprocess, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
t0 = time.monotonic()
p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(out + ".err", "wb"))
_, st, ru = os.wait4(p.pid, 0)
t1 = time.monotonic()
open(out, "w").write("%.4f %.4f %d\n" % (t1 - t0, ru.ru_utime + ru.ru_stime, os.waitstatus_to_exitcode(st)))
PY
: >"$W/res"
echo "bench-docker: dockerd $(dockerd --version | awk '{print $3}' | tr -d ,) (vfs), ${#IMGS[@]} images, $RUNS rounds, cold each round"
# api and via swap places every round: each clean deletes a tree of vfs
# layers, and this filesystem creates files slowly where many were just
# deleted, so whichever runs first after the previous round's load pays
# more; a fixed order would charge that to one of them
for ((r = 1; r <= RUNS; r++)); do
	line="  round $r:"
	order="api via load"
	[ $((r % 2)) = 0 ] && order="via api load"
	for tool in $order; do
		clean_engine
		rm -rf "$W/store"
		case $tool in
		api) python3 "$W/m.py" "$W/t" bash -c "IMGS=($IMGS_LIST); $(declare -f api_pull); api_pull" ;;
		via) python3 "$W/m.py" "$W/t" "$PULLTOP" --via docker -q "${IMGS[@]}" ;;
		load) python3 "$W/m.py" "$W/t" "$PULLTOP" --store "$W/store" --load docker -q "${IMGS[@]}" ;;
		esac
		read -r wall cpu rc <"$W/t"
		[ "$rc" = 0 ] || echo "BROKEN: $tool round $r: exit $rc: $(tail -n 2 "$W/t.err" | tr '\n' ' ')"
		for i in "${IMGS[@]}"; do
			curl -sS -f -m 10 --unix-socket "$SOCK" "http://d/images/$i/json" >/dev/null 2>&1 ||
				echo "BROKEN: $tool round $r: the engine has no $i"
		done
		printf '%s %s %s %s\n' "$tool" "$wall" "$cpu" "$rc" >>"$W/res"
		line="$line  $tool $(printf '%.2fs' "$wall")"
	done
	echo "$line"
done
python3 - "$W/res" <<'PY'
import statistics, sys
t = {}
for l in open(sys.argv[1]):
    tool, wall, cpu, rc = l.split()
    if rc == "0":
        t.setdefault(tool, []).append((float(wall), float(cpu)))
if not all(k in t for k in ("api", "via", "load")):
    print("docker: not every row ran"); sys.exit()
m = {k: statistics.median(w for w, _ in v) for k, v in t.items()}
c = {k: statistics.median(x for _, x in v) for k, v in t.items()}
extra = 100 * (m["via"] - m["api"]) / m["api"]
core = 100 * c["via"] / m["via"]
print("docker medians: engine alone %.2fs  --via docker %.2fs (%+.1f%% wall, target <= 2%% %s; pulltop %.1f%% of a core, target <= 5%% %s)"
      % (m["api"], m["via"], extra, "OK" if extra <= 2 else "MISS", core, "OK" if core <= 5 else "MISS"))
print("docker: pulltop --load docker %.2fs vs the engine's own pull %.2fs (%.2fx)" % (m["load"], m["api"], m["load"] / m["api"]))
PY
