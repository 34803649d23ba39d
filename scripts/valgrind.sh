#!/usr/bin/env bash
# valgrind.sh - runs programs under valgrind's memcheck: invalid reads and
# writes, uses of uninitialised values (which ASan does not see), and leaks.
# Fails (exit 1) on any error or any definitely/indirectly lost block.
# Too slow for CI (see the kernels chosen below); meant for occasional checks
# and for hunting a bug ASan cannot see, e.g.:
#   scripts/valgrind.sh build-valgrind/mobilesam seg IMG.png --point X,Y -o /tmp/m.png
#
# Usage:
#   scripts/valgrind.sh COMMAND [ARGS...]
#       runs one command (e.g. build-valgrind/mobilesam seg ...).
#   scripts/valgrind.sh --tests [TEST...]
#       builds build-valgrind/ (RelWithDebInfo, -O1 -g, no sanitizer) and
#       runs each test executable (default: test_npy test_image_basic
#       test_image) as ctest would, with MOBILESAM_TESTDATA passed through.
#       Exit code 77 (skipped) is reported as such.
# Environment: VALGRIND_OPTS (extra valgrind options, e.g.
#   --trace-children=yes to follow the CLI when a test spawns it,
#   --track-origins=yes to see where an uninitialised value came from).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build-valgrind

log() { printf 'valgrind: %s\n' "$*"; }
die() { printf 'valgrind: error: %s\n' "$*" >&2; exit 2; }

if ! command -v valgrind >/dev/null; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y valgrind ||
      { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y valgrind; }
  fi
  command -v valgrind >/dev/null || die "valgrind is not installed"
fi

# --errors-for-leak-kinds: "possibly lost" and "still reachable" blocks are
# shown in the summary but do not fail: OpenBLAS and libgomp keep their
# thread pools and buffers until exit by design. Ours must be freed.
# shellcheck disable=SC2054  # the commas are inside options
VG=(valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --error-exitcode=1
    --num-callers=30)
# shellcheck disable=SC2206  # VALGRIND_OPTS is a list of options
[ -z "${VALGRIND_OPTS:-}" ] || VG+=($VALGRIND_OPTS)
# valgrind runs one thread at a time, so threads that spin while waiting
# (libgomp's default, OpenBLAS's pool) only eat the time slices of the one
# doing the work: one thread each, sleeping while they wait, unless told
# otherwise.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
export MOBILESAM_THREADS=${MOBILESAM_THREADS:-1}
# valgrind has no AVX-512 and runs FMA instructions through a slow helper
# (OpenBLAS's AVX2/FMA SGEMM measured 0.12 GFLOP/s under valgrind
# --tool=none, its SSE3 one 1.1): the portable kernels and OpenBLAS's
# generic ones, unless told otherwise. That makes the image encoder
# practical under valgrind (minutes instead of hours).
export MOBILESAM_ISA=${MOBILESAM_ISA:-scalar}
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Prescott}

if [ "${1:-}" != --tests ]; then
  [ $# -gt 0 ] || die "usage: scripts/valgrind.sh COMMAND [ARGS...] | --tests [TEST...]"
  exec "${VG[@]}" "$@"
fi
shift
TESTS=("$@")
[ ${#TESTS[@]} -gt 0 ] || TESTS=(test_npy test_image_basic test_image)

if [ -n "${MOBILESAM_TESTDATA:-}" ]; then
  [ -d "$MOBILESAM_TESTDATA" ] || die "MOBILESAM_TESTDATA=$MOBILESAM_TESTDATA is not a directory"
  MOBILESAM_TESTDATA=$(cd "$MOBILESAM_TESTDATA" && pwd)
  export MOBILESAM_TESTDATA
fi

cd "$ROOT"
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" >/dev/null
fi
# Only what is asked for: other targets may be mid-edit by someone else.
cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)" --target "${TESTS[@]}"
# The CLI too when it builds (the CLI tests run it); failing that is not ours.
cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)" --target mobilesam \
  >/dev/null 2>&1 || log "note: the CLI (mobilesam) did not build"

export MOBILESAM_SOURCE_DIR=$ROOT MOBILESAM_BIN=$BUILD/mobilesam
failed=0
for t in "${TESTS[@]}"; do
  exe=$BUILD/tests/$t
  [ -x "$exe" ] || die "no test executable $exe"
  start=$(date +%s)
  rc=0
  (cd "$BUILD/tests" && "${VG[@]}" "$exe") >"$BUILD/$t.valgrind.log" 2>&1 || rc=$?
  took=$(( $(date +%s) - start ))
  case $rc in
    0) log "$t: clean (${took}s)" ;;
    77) log "$t: skipped (${took}s)" ;;
    *) log "$t: FAILED, exit $rc (${took}s); the end of $BUILD/$t.valgrind.log:"
       tail -n 60 "$BUILD/$t.valgrind.log" | sed 's/^/  | /'
       failed=1 ;;
  esac
done
exit $failed
