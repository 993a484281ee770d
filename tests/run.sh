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
	local name=$1 secs=$2 out n rc p fl sk
	shift 2
	out="$log/$name.out"
	echo "== $name"
	timeout -k 5 "$secs" "$@" >"$out" 2>"$log/$name.err"
	rc=$?
	cat "$out"
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

# unit tests: no registry needed
for u in tests/unit/test_*; do
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

echo
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
