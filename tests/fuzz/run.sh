#!/bin/bash
# tests/fuzz/run.sh - builds every libFuzzer target tests/fuzz/fuzz_*.c and
# runs each on a working copy of its seed corpus.
#
#   bash tests/fuzz/run.sh [fuzz_ref fuzz_auth ...]
#
# Two ways to run. Exploring (the default, make fuzz): each target for
# FUZZ_SECONDS with a fresh random seed, to find what nobody found yet.
# Checking (FUZZ_CHECK=1, make check): each target for the number of
# inputs its header names ("Check-runs: N", about 10 s here) from seed 1.
# libFuzzer is not bit-for-bit repeatable (the comparisons it traces move
# with addresses), but a fixed seed and count keep a check close to the
# same walk every time, so it fails for what a change did far more often
# than for what the dice found this time. A find of an exploring run goes
# into tests/fuzz/crashes/ and is replayed by both.
#
# Environment:
#   FUZZ_SECONDS  time per target when exploring (default 30)
#   FUZZ_CHECK    1: run as a check (see above)
#   FUZZ_BUILD    build and work directory (default /tmp/pulltop-fuzz)
#   FUZZ_JOBS     targets run at once (default 2)
#   FUZZ_CC       compiler (default clang)
#   FUZZ_SRC      the engine sources to test (default src; a patched copy
#                 elsewhere lets fuzzing go on past a known bug)
#
# Each target names what it links in its header comment: "Sources:" (files
# of src/, or "all": every src/*/*.c, main.c not among them), "Packages:" (pkg-config
# names, or "all": the Makefile's PKGS but ncursesw) and, when it needs
# them, "Ldflags:" (say, -Wl,--wrap=NAME). Inputs in
# tests/fuzz/crashes/ named <target>-<n> are replayed first, as regression
# tests. Prints per
# target "PASS fuzz_X (N execs in S s)" or "FAIL fuzz_X: <first crash line>"
# and "fuzz: N passed, N failed" last; exits non-zero if any target failed
# to build or found a crash.
set -u

cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
FUZZ_BUILD=${FUZZ_BUILD:-/tmp/pulltop-fuzz}
FUZZ_JOBS=${FUZZ_JOBS:-2}
FUZZ_CC=${FUZZ_CC:-clang}
FUZZ_SRC=${FUZZ_SRC:-src}
FUZZ_DIR=tests/fuzz

CFLAGS=(-g -O1 "-fsanitize=fuzzer,address,undefined" -fno-sanitize-recover=all
	-fno-omit-frame-pointer -D_GNU_SOURCE -std=c11 -Wall -Wextra
	'-DPULLTOP_VERSION="fuzz"')
for d in "$FUZZ_SRC"/*/ ui/; do CFLAGS+=("-I${d%/}"); done
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

case $FUZZ_SECONDS in
'' | *[!0-9]*) echo "run.sh: FUZZ_SECONDS must be a whole number" >&2; exit 2 ;;
esac
if ! command -v "$FUZZ_CC" >/dev/null; then
	echo "run.sh: $FUZZ_CC not found (apt-get install clang libclang-rt-14-dev)" >&2
	exit 2
fi

# The header-comment field $2 ("Sources" or "Packages") of target file $1.
field() {
	sed -n "s/^ \* $2: //p" "$1" | head -n 1
}

build() {
	local t=$1 src=$FUZZ_DIR/$1.c f pkgs srcs=() pkgflags=() ldflags=()

	pkgs=$(field "$src" Packages)
	if [ "$(field "$src" Sources)" = all ]; then
		srcs=("$FUZZ_SRC"/*/*.c)
	else
		read -r -a srcs <<<"$(field "$src" Sources |
		    sed "s|src/|$FUZZ_SRC/|g")"
	fi
	if [ "$pkgs" = all ]; then
		pkgs=$(sed -n 's/^PKGS *= *//p' Makefile | sed 's/ncursesw//')
	fi
	if [ -n "$pkgs" ]; then
		# shellcheck disable=SC2086 # one word per package
		f=$(pkg-config --cflags --libs $pkgs 2>"$FUZZ_BUILD/logs/$t.build") ||
		    return 1
		read -r -a pkgflags <<<"$f"
	fi
	read -r -a ldflags <<<"$(field "$src" Ldflags)"
	"$FUZZ_CC" "${CFLAGS[@]}" -o "$FUZZ_BUILD/bin/$t" "$src" "${srcs[@]}" \
	    "${pkgflags[@]}" "${ldflags[@]}" -pthread -lm >"$FUZZ_BUILD/logs/$t.build" 2>&1
}

# The first line of log $1 that says what went wrong.
first_crash_line() {
	grep -m 1 -E '^fuzz_[a-z]+: |runtime error:|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|==[0-9]+== ?ERROR' "$1" ||
		tail -n 1 "$1"
}

# Run target $1; prints one result line and returns 0 on PASS.
run_one() {
	local t=$1 bin=$FUZZ_BUILD/bin/$1 log=$FUZZ_BUILD/logs/$1.log
	local work=$FUZZ_BUILD/work/$1 art=$FUZZ_BUILD/artifacts/$1/
	local crashes=() dict=() found=() how=() t0 t1 execs secs f runs

	if ! build "$t"; then
		echo "FAIL $t: build failed: $(grep -m 1 -E 'error|undefined' "$FUZZ_BUILD/logs/$t.build")"
		return 1
	fi
	rm -rf "$work" "$art"
	mkdir -p "$work" "$art"
	for f in "$ROOT/$FUZZ_DIR/crashes/$t"-*; do
		[ -f "$f" ] && crashes+=("$f")
	done
	if [ ${#crashes[@]} -gt 0 ] && ! (cd "$art" && exec "$bin" \
	    -rss_limit_mb=2048 -artifact_prefix=./replay- "${crashes[@]}") \
	    >"$log.replay" 2>&1; then
		echo "FAIL $t: a saved crash still crashes: $(first_crash_line "$log.replay")"
		return 1
	fi
	rm -f "$art"replay-*
	if [ -d "$FUZZ_DIR/corpus/$t" ]; then
		cp -R "$FUZZ_DIR/corpus/$t/." "$work/"
	fi
	[ -f "$FUZZ_DIR/$t.dict" ] && dict=("-dict=$ROOT/$FUZZ_DIR/$t.dict")
	if [ "${FUZZ_CHECK:-0}" = 1 ]; then
		runs=$(field "$FUZZ_DIR/$t.c" Check-runs)
		case $runs in
		'' | *[!0-9]*)
			echo "FAIL $t: no \"Check-runs: N\" in its header"
			return 1 ;;
		esac
		how=(-seed=1 "-runs=$runs")
	else
		how=("-max_total_time=$FUZZ_SECONDS")
	fi
	t0=$(date +%s.%N)
	# run in the artifacts folder with a relative prefix: a target that
	# chroots (fuzz_unpack) keeps its working directory, so crashes land
	(cd "$art" && exec "$bin" "${how[@]}" \
	    -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
	    -artifact_prefix=./ "${dict[@]}" "$work") >"$log" 2>&1
	local rc=$?
	t1=$(date +%s.%N)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }')
	found=("$art"*)
	if [ $rc -ne 0 ] || [ -e "${found[0]}" ]; then
		echo "FAIL $t: $(first_crash_line "$log") (input: ${found[0]}; log: $log)"
		return 1
	fi
	printf '%s: %s executions\nPASS %s (%s execs in %s s)\n' "$t" \
	    "${execs:-0}" "$t" "${execs:-0}" "$secs"
}

mkdir -p "$FUZZ_BUILD/bin" "$FUZZ_BUILD/logs" "$FUZZ_BUILD/work" \
    "$FUZZ_BUILD/artifacts" || exit 2
FUZZ_BUILD=$(cd "$FUZZ_BUILD" && pwd)
if [ $# -gt 0 ]; then
	targets=("$@")
else
	# the targets that link the most sources first ("all" most): they
	# build and run the longest, and started last they would end the run
	# on one core while the other waits
	targets=()
	while read -r _ f; do
		targets+=("$(basename "$f" .c)")
	done < <(for f in "$FUZZ_DIR"/fuzz_*.c; do
		n=$(field "$f" Sources | wc -w)
		[ "$(field "$f" Sources)" = all ] && n=1000
		echo "$n $f"
	done | sort -k1,1nr -k2,2)
fi
for t in "${targets[@]}"; do
	if [ ! -f "$FUZZ_DIR/$t.c" ]; then
		echo "run.sh: no target $FUZZ_DIR/$t.c" >&2
		exit 2
	fi
done

# At most FUZZ_JOBS targets at once; each result line is printed whole.
failed=0
running=0
for t in "${targets[@]}"; do
	if [ "$running" -ge "$FUZZ_JOBS" ]; then
		wait -n || failed=$((failed + 1))
		running=$((running - 1))
	fi
	run_one "$t" &
	running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
	wait -n || failed=$((failed + 1))
	running=$((running - 1))
done
# the plain closing line CI counts: "fuzz: N passed, N failed"
echo "fuzz: $((${#targets[@]} - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
