#!/usr/bin/env bash
# t-fuzz.sh - every libFuzzer target in tests/fuzz for FUZZ_SECONDS each
# (default 30), after replaying the crashes found before. Part of make check.
set -u
. "$(dirname "$0")/lib.sh"
FUZZ_BUILD=${TMPDIR_TEST:-$(t_tmpdir)}/fuzz FUZZ_SECONDS=${FUZZ_SECONDS:-30} \
    bash "$T_LIB_DIR/fuzz/run.sh" 2>&1 | grep -E '^(PASS|FAIL) |executions'
