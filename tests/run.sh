#!/usr/bin/env bash
# tests/run.sh - run every pulltop test: unit binaries, then each
# tests/t-*.sh against one real docker-registry started here on a free
# loopback port with the `test` fixtures pushed into it.
#
# Each test prints lines "PASS name" / "FAIL name: detail" (and "SKIP
# name: reason"); a script that dies without reporting counts as a failure.
# Ends with one line "N passed, N failed" and exits 1 on any failure.
#
#   bash tests/run.sh [t-engine ...]    run only the named scripts
set -u
. "$(dirname "$0")/lib.sh"
cd "$T_ROOT"

export PULLTOP="${PULLTOP:-$T_ROOT/pulltop}"
passed=0 failed=0 skipped=0
log=$(t_tmpdir)

run_one() {	# name, timeout, command...
	local name=$1 secs=$2 out n rc p fl sk t0=$SECONDS
	shift 2
	out="$log/$name.out"
	echo "== $name"
	timeout -k 5 "$secs" "$@" >"$out" 2>"$log/$name.err"
	rc=$?
	cat "$out"
	echo "-- $name: $((SECONDS - t0)) s"
	p=$(grep -c '^PASS ' "$out")
	fl=$(grep -c '^FAIL ' "$out")
	sk=$(grep -c '^SKIP ' "$out")
	passed=$((passed + p)) failed=$((failed + fl)) skipped=$((skipped + sk))
	n=$((p + fl + sk))
	if [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' "$out"; then
		echo "FAIL $name: exited $rc without reporting a failure;" \
		    "stderr: $(tail -n 3 "$log/$name.err" | tr '\n' ' ')"
		failed=$((failed + 1))
	elif [ "$n" -eq 0 ]; then
		echo "FAIL $name: reported no checks"
		failed=$((failed + 1))
	fi
}

# Under a sanitizer build (SANITIZER=asan|tsan, from make check-sanitize)
# every report goes to a file in $san; any file there fails the run.
san=""
if [ -n "${SANITIZER:-}" ]; then
	san=$(t_tmpdir)
	export ASAN_OPTIONS="log_path=$san/asan:detect_leaks=1:abort_on_error=0"
	export UBSAN_OPTIONS="log_path=$san/ubsan:print_stacktrace=1"
	export TSAN_OPTIONS="log_path=$san/tsan:second_deadlock_stack=1"
	export LSAN_OPTIONS="suppressions=$T_ROOT/tests/lsan.supp:print_suppressions=0"
fi

# Every test talks to loopback servers of its own: a proxy from the
# environment must not stand in between (t-proxy and t-auth set their own).
unset http_proxy https_proxy HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
# ...nor this machine's mirror configuration (t-mirrorconf sets its own).
mirrorcfg=$(t_tmpdir)
: >"$mirrorcfg/registries.conf"
export PULLTOP_HOSTS_DIR="$mirrorcfg" CONTAINERS_REGISTRIES_CONF="$mirrorcfg/registries.conf"
export PULLTOP_DAEMON_JSON="$mirrorcfg/daemon.json"

# unit tests: no registry needed
unit_dir=${UNIT_DIR:-tests/unit}
for u in "$unit_dir"/test_*; do
	[ "$unit_dir" = none ] && break
	case "$u" in *.c|*.h) continue ;; esac
	[ -x "$u" ] || continue
	run_one "$(basename "$u")" 60 "$u"
done

registry_start || { echo "FAIL registry: could not start docker-registry"; echo "0 passed, 1 failed"; exit 1; }
export REG="$REGISTRY"
export FIXTURES="$log/fixtures.json"
if ! fixtures_push test "$FIXTURES" >"$log/fixtures.out" 2>&1; then
	echo "FAIL fixtures: $(tail -n 3 "$log/fixtures.out" | tr '\n' ' ')"
	failed=$((failed + 1))
fi

scripts=()
if [ $# -gt 0 ]; then
	for a in "$@"; do scripts+=("tests/${a%.sh}.sh"); done
else
	for s in tests/t-*.sh; do scripts+=("$s"); done
fi
for s in "${scripts[@]}"; do
	name=$(basename "$s" .sh)
	export TMPDIR_TEST
	TMPDIR_TEST=$(t_tmpdir)
	run_one "$name" 600 bash "$s"
done

if [ -n "$san" ]; then
	reports=$(ls "$san" | grep -E '^(asan|ubsan|tsan)' || true)
	if [ -z "$reports" ]; then
		echo "PASS $SANITIZER: no sanitizer reports"
		passed=$((passed + 1))
	else
		echo "FAIL $SANITIZER: sanitizer reports in $(echo $reports | wc -w) file(s):"
		for r in $reports; do sed -n '1,25p' "$san/$r"; done
		failed=$((failed + 1))
	fi
fi

echo
echo "-- every suite: $SECONDS s"
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
