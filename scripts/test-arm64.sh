#!/usr/bin/env bash
# test-arm64.sh - the 64-bit ARM build, tested under emulation: installs the
# cross compiler, qemu-user and the arm64 (Debian multiarch) build
# dependencies, cross-builds into build-arm64/ (scripts/aarch64-linux-gnu.cmake)
# and runs, each program under qemu-aarch64-static, single-threaded:
#   - test_ops: every kernel on the NEON path (and the portable one) against
#     plain loops (the log says "pass neon/1t");
#   - test_model_parity on zidane: one full encode against the official
#     embedding (and the per-stage activations), every decoder case of zidane
#     from the saved official embedding (logits, IoU scores, masks);
#   - the CLI tests that take seconds under emulation (no encoder run).
# Emulated programs get one thread: OpenMP with two threads spins forever
# under qemu-user. Needs MOBILESAM_TESTDATA (the fixture pack) for the parity
# test; without it that test is skipped, loudly, as in scripts/test.sh.
#
# Usage: scripts/test-arm64.sh [CTEST ARGS...]
set -euo pipefail

log() { printf 'test-arm64: %s\n' "$*"; }
die() { printf 'test-arm64: error: %s\n' "$*" >&2; exit 1; }

if [ -n "${MOBILESAM_TESTDATA:-}" ]; then
  [ -d "$MOBILESAM_TESTDATA" ] ||
    die "MOBILESAM_TESTDATA=$MOBILESAM_TESTDATA is not a directory"
  MOBILESAM_TESTDATA=$(cd "$MOBILESAM_TESTDATA" && pwd)
  export MOBILESAM_TESTDATA
else
  log "MOBILESAM_TESTDATA is unset: the parity test will be skipped"
fi
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD=build-arm64

# Host tools, then the arm64 libraries the build links (and libgomp1, the
# OpenMP runtime of the cross compiler's -fopenmp).
HOST_DEPS=(cmake make pkg-config python3 python3-numpy gcc-aarch64-linux-gnu
           qemu-user-static)
ARM_DEPS=(libc6-dev:arm64 libgomp1:arm64 libopenblas-dev:arm64 libcjson-dev:arm64
          libstb-dev:arm64 libmicrohttpd-dev:arm64 nettle-dev:arm64)

missing_packages() {
  local p status
  for p in "$@"; do
    status=$(dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null || true)
    case $status in *"install ok installed"*) ;; *) echo "$p" ;; esac
  done
}

install_deps() {
  command -v apt-get >/dev/null && command -v dpkg >/dev/null ||
    die "no apt: install a cross compiler for aarch64-linux-gnu, qemu-user and" \
      "the arm64 versions of: openblas cjson stb libmicrohttpd nettle"
  local missing sudo=()
  mapfile -t missing < <(missing_packages "${HOST_DEPS[@]}" "${ARM_DEPS[@]}")
  [ ${#missing[@]} -gt 0 ] || return 0
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null ||
      die "missing packages: ${missing[*]}; run as root or install them"
    sudo=(sudo)
  fi
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    log "adding the arm64 architecture (dpkg multiarch)"
    "${sudo[@]}" dpkg --add-architecture arm64
  fi
  log "installing ${missing[*]}"
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
}

install_deps
QEMU=$(command -v qemu-aarch64-static) || die "qemu-aarch64-static not found"

# Debian's python3 (with numpy) converts the synthetic checkpoint for the
# tests, on the host: put it first, before any other python3 on PATH.
PATH=/usr/bin:$PATH
if [ ! -f $BUILD/CMakeCache.txt ]; then
  cmake -S . -B $BUILD -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_TOOLCHAIN_FILE=scripts/aarch64-linux-gnu.cmake \
    -DPython3_EXECUTABLE=/usr/bin/python3
fi
cmake --build $BUILD -j2

# The arm64 loader and libraries are the multiarch ones (/lib/ld-linux-aarch64.so.1,
# /usr/lib/aarch64-linux-gnu): qemu needs no -L prefix. One thread everywhere.
export OMP_NUM_THREADS=1 OMP_THREAD_LIMIT=1 OPENBLAS_NUM_THREADS=1 MOBILESAM_THREADS=1
export MOBILESAM_PARITY_IMAGES=zidane
log "$("$QEMU" --version | head -1 || true)"

# The kernels (test_ops_q8: the portable int8 path), the model's parity on
# zidane, and the I/O and CLI tests that run no encoder (seconds each under
# emulation: test_cli_errors about 25 s).
# The others (CLI parity, outputs, limits, batch, AMG, ViT ...) each run one
# or more encodes, 4 to 8 minutes apiece under qemu (and their CLI runs have
# time limits set for native speed); the x86 suite runs them on the same C.
TESTS='test_ops|test_ops_q8|test_model_parity|test_npy|test_image|test_image_basic|test_contour'
TESTS+='|test_amg_utils|test_cli_usage|test_cli_errors'
start=$SECONDS
status=0
ctest --test-dir $BUILD --output-on-failure -R "^($TESTS)\$" "$@" || status=$?
grep -E '^(cpu isa|pass |isa )' $BUILD/Testing/Temporary/LastTest.log | sed 's/^/test-arm64: test_ops: /' || true
# The int8 kernels again on a CPU without the dot-product instructions
# (ARMv8.0): int8 must take the portable path there.
log "test_ops_q8 as a Cortex-A57 (no dot products)"
out=$("$QEMU" -cpu cortex-a57 $BUILD/tests/test_ops_q8 2>&1) || status=1
printf '%s\n' "$out" | tail -3
grep -q 'has no int8 dot products' <<<"$out" || { log "test_ops_q8: the Cortex-A57 was taken for one with dot products"; status=1; }
log "emulated tests: $((SECONDS - start)) s"
exit $status
