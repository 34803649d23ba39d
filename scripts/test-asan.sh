#!/usr/bin/env bash
# test-asan.sh - the whole test suite built with AddressSanitizer +
# UndefinedBehaviorSanitizer (MOBILESAM_SANITIZE=ON) in build-asan/.
# Any memory error, leak or undefined behaviour aborts the test that hit it,
# so ctest reports it as failed. Optimised (-O2 -g), so the network runs in
# reasonable time under ASan; tests needing the fixture pack read
# MOBILESAM_TESTDATA, as with scripts/test.sh.
#
# Usage: scripts/test-asan.sh [CTEST ARGS...]   e.g. scripts/test-asan.sh -R npy
set -euo pipefail

if [ -n "${MOBILESAM_TESTDATA:-}" ]; then
  if [ ! -d "$MOBILESAM_TESTDATA" ]; then
    echo "test-asan: MOBILESAM_TESTDATA=$MOBILESAM_TESTDATA is not a directory" >&2
    exit 1
  fi
  MOBILESAM_TESTDATA=$(cd "$MOBILESAM_TESTDATA" && pwd)
  export MOBILESAM_TESTDATA
else
  echo "test-asan: MOBILESAM_TESTDATA is unset: the tests that need the" \
    "fixture pack will be skipped"
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BUILD=build-asan

scripts/setup.sh --deps-only

# RelWithDebInfo, but without CMake's -DNDEBUG: a sanitizer build should keep
# assertions on. -O2 rather than -O1: the parity tests run the whole network.
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD" -DMOBILESAM_SANITIZE=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g"
fi
cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)"

# abort_on_error: die with SIGABRT (never a 77 "skipped" exit code by
# accident). detect_leaks: LeakSanitizer at exit. halt_on_error for UBSan is
# also compiled in (-fno-sanitize-recover=undefined); the option covers any
# check built without it. Settings from the caller's environment come first,
# so that ours win.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}halt_on_error=1:print_stacktrace=1"
if [ -f tests/lsan.supp ]; then
  export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"
fi

start=$(date +%s)
status=0
ctest --test-dir "$BUILD" --output-on-failure "$@" || status=$?
echo "test-asan: sanitizer suite took $(( $(date +%s) - start ))s (exit $status)"
exit $status
