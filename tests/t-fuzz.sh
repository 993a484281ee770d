#!/usr/bin/env bash
# t-fuzz.sh - every libFuzzer target in tests/fuzz as a check: the crashes
# found before are replayed, then each target runs its "Check-runs" inputs
# from a fixed seed (tests/fuzz/run.sh, FUZZ_CHECK=1). Part of make check;
# make fuzz is the exploring run.
set -u
. "$(dirname "$0")/lib.sh"
FUZZ_BUILD=${TMPDIR_TEST:-$(t_tmpdir)}/fuzz FUZZ_CHECK=1 \
    bash "$T_LIB_DIR/fuzz/run.sh" 2>&1 | grep -E '^(PASS|FAIL) |executions'
