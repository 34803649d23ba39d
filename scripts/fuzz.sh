#!/usr/bin/env bash
# fuzz.sh - builds the libFuzzer harnesses of tests/fuzz/ (clang, with
# AddressSanitizer + UBSan, straight from the sources they need: the normal
# build does not need clang) into build-fuzz/, and runs each for the given
# time on a copy of its checked-in seed corpus, tests/fuzz/corpus/<target>/.
# Fails on any crash, leak, timeout or out-of-memory, and prints the input
# that caused it (kept in build-fuzz/artifacts/<target>/); add such an input
# to the seed corpus once the bug is fixed, as a regression test.
#
# SECONDS_PER_TARGET = 0 only replays the seed corpus (a quick regression
# check). Inputs found to be interesting are kept in build-fuzz/corpus/.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   (default 60 seconds; targets: weights npy image prompts args request,
#   default all)
# Environment: FUZZ_CC (default clang), FUZZ_JOBS (parallel targets,
# default 1), FUZZ_OUT (the build folder, default build-fuzz).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
OUT=${FUZZ_OUT:-build-fuzz}
case $OUT in /*) ;; *) OUT=$ROOT/$OUT ;; esac
SECS=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(weights npy image prompts args request)
CC=${FUZZ_CC:-clang}

log() { printf 'fuzz: %s\n' "$*"; }
die() { printf 'fuzz: error: %s\n' "$*" >&2; exit 1; }

case $SECS in ''|*[!0-9]*) die "SECONDS_PER_TARGET must be a number, not '$SECS'" ;; esac

# Per target: the sources besides the harness, and the largest input tried.
# (Seeds are well under these; larger inputs only slow the search down.)
# prompts and args link the command-line tool's code (cli.a, instrumented)
# and, since that calls into it, the engine (engine.a, not instrumented).
sources() {
  case $1 in
    weights) echo src/io/weights.c src/model/vit_config.c ;;
    npy) echo src/io/npy.c ;;
    image) echo "src/io/image.c $OUT/stb_image.o" ;;
    prompts|args|request) echo "$OUT/cli.a $OUT/engine.a" ;;
    *) die "unknown target '$1' (weights, npy, image, prompts, args or request)" ;;
  esac
}
max_len() {
  case $1 in
    weights|npy|prompts|request) echo 4096 ;; image) echo 8192 ;; args) echo 1024 ;;
  esac
}
# Extra libFuzzer flags: the CLI's messages (a line or more per input) are
# not logged (crash reports still are); tests/fuzz/<target>.dict if there.
fuzz_flags() {
  case $1 in prompts|args|request) echo -close_fd_mask=3 ;; esac
  [ ! -f "$ROOT/tests/fuzz/$1.dict" ] || echo "-dict=$ROOT/tests/fuzz/$1.dict"
}
# Libraries to link besides libFuzzer's and the sanitizers'.
libs() {
  case $1 in
    prompts|args|request)
      echo -fopenmp -lopenblas -lstb -lcjson -lmicrohttpd -lnettle -lpthread -lm ;;
    *) echo -lm ;;
  esac
}
needs_cli() { [[ " ${TARGETS[*]} " =~ \ (prompts|args|request)\  ]]; }

# Does $CC build and link a libFuzzer program?
fuzzer_works() {
  command -v "$CC" >/dev/null || return 1
  local t
  t=$(mktemp -d)
  printf '%s\n' '#include <stdint.h>' '#include <stddef.h>' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
    >"$t/t.c"
  "$CC" -fsanitize=fuzzer,address,undefined "$t/t.c" -o "$t/t" >/dev/null 2>&1
  local rc=$?
  rm -rf "$t"
  return $rc
}

install_clang() {
  command -v apt-get >/dev/null || die "$CC with libFuzzer is needed: install clang"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "$CC with libFuzzer is needed: install clang (as root)"
    sudo=(sudo)
  fi
  log "installing clang"
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y clang
  if ! fuzzer_works; then
    # Debian ships libFuzzer's runtime in libclang-rt-<version>-dev.
    local v
    v=$("$CC" --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -n1)
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y \
      "libclang-rt-$v-dev" || true
  fi
}

# Does $CC build and link an OpenMP program (the engine uses it)?
openmp_works() {
  local t
  t=$(mktemp -d)
  printf '%s\n' '#include <omp.h>' 'int main(void) { return omp_get_thread_num(); }' \
    >"$t/t.c"
  "$CC" -fopenmp "$t/t.c" -o "$t/t" >/dev/null 2>&1
  local rc=$?
  rm -rf "$t"
  return $rc
}

fuzzer_works || install_clang
fuzzer_works || die "$CC cannot build libFuzzer programs (-fsanitize=fuzzer)"
if needs_cli && ! openmp_works; then
  # Debian ships clang's OpenMP runtime and omp.h in libomp-<version>-dev.
  v=$("$CC" --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -n1)
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  log "installing libomp-$v-dev (OpenMP for $CC)"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y \
    "libomp-$v-dev" || true
  openmp_works || die "$CC cannot build OpenMP programs: install libomp-dev"
fi
[ -f /usr/include/stb/stb_image.h ] || [ -f /usr/include/stb_image.h ] ||
  scripts/setup.sh --deps-only

# shellcheck disable=SC2054  # the commas are inside options
SAN=(-fsanitize=address,undefined -fno-sanitize-recover=undefined
     -fno-omit-frame-pointer -g -O1)
INC=(-Iinclude -Isrc -Itests/fuzz -I/usr/include/stb)
mkdir -p "$OUT"

# stb_image is built from its header with the same instrumentation (not the
# system's uninstrumented libstb), so the fuzzer sees into the decoders and
# ASan checks them. Same (default) configuration as Debian's libstb. The
# ignorelist exempts one known, memory-safe stb defect (see the file).
if [[ " ${TARGETS[*]} " == *" image "* ]]; then
  printf '%s\n' '#define STB_IMAGE_IMPLEMENTATION' '#include <stb_image.h>' \
    >"$OUT/stb_image.c"
  "$CC" "${SAN[@]}" -fsanitize=fuzzer-no-link \
    -fsanitize-ignorelist=tests/fuzz/stb_ubsan.ignore -w "${INC[@]}" \
    -c "$OUT/stb_image.c" -o "$OUT/stb_image.o"
fi

# The command-line tool's code (main.c aside) and the engine, as archives,
# so that a harness links only what it calls. The CLI is the code under test
# (instrumented like the harness); the engine is only linked, never run.
if needs_cli; then
  log "building the CLI and the engine"
  CLI_INC=(-Iinclude -Isrc -Itests/fuzz -I/usr/include/cjson -I/usr/include/stb)
  [ -d /usr/include/x86_64-linux-gnu/openblas-pthread ] &&
    CLI_INC+=(-I/usr/include/x86_64-linux-gnu/openblas-pthread)
  rm -rf "$OUT/cli" "$OUT/engine" "$OUT/cli.a" "$OUT/engine.a"
  mkdir -p "$OUT/cli" "$OUT/engine"
  # One compiler per core: (-P) jobs of "archive-dir source".
  # shellcheck disable=SC2016  # the inner bash expands them
  # the web page's files, as the build compiles them in
  cmake -DDIR="$ROOT/src/server/web" -DOUT="$OUT/web_assets.c" \
    -P src/server/embed_web.cmake
  { for f in src/cli/*.c src/format/*.c src/server/*.c "$OUT/web_assets.c"; do
      [ "$f" = src/cli/main.c ] || echo "cli $f"
    done
    for f in src/*.c src/io/*.c src/model/*.c src/amg/*.c src/ops/*.c; do
      echo "engine $f"
    done
  } | CC=$CC OUT=$OUT SAN="${SAN[*]}" INC="${CLI_INC[*]}" \
    xargs -P "$(nproc)" -L 1 bash -c '
      set -e
      o=$OUT/$0/$(echo "$1" | tr / _).o
      if [ "$0" = cli ]; then
        # shellcheck disable=SC2086
        "$CC" $SAN -fsanitize=fuzzer-no-link -fopenmp -std=gnu11 -Wall -Wextra \
          $INC -c "$1" -o "$o"
      else
        # shellcheck disable=SC2086
        "$CC" -O1 -fopenmp -std=gnu11 -w $INC -c "$1" -o "$o"
      fi'
  ar rcs "$OUT/cli.a" "$OUT"/cli/*.o
  ar rcs "$OUT/engine.a" "$OUT"/engine/*.o
fi

for t in "${TARGETS[@]}"; do
  log "building fuzz_$t"
  # shellcheck disable=SC2046  # sources(), libs() list words without blanks
  "$CC" "${SAN[@]}" -fsanitize=fuzzer -Wall -Wextra "${INC[@]}" \
    "tests/fuzz/fuzz_$t.c" $(sources "$t") $(libs "$t") -o "$OUT/fuzz_$t"
done

export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}halt_on_error=1:print_stacktrace=1"

# Runs one target; its log goes to $OUT/fuzz_$t.log.
run_target() {
  local t=$1 seeds=$ROOT/tests/fuzz/corpus/$1
  local work=$OUT/corpus/$t art=$OUT/artifacts/$t/
  [ -d "$seeds" ] || die "no seed corpus $seeds"
  mkdir -p "$work" "$art"
  local args=(-max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout=10
              -artifact_prefix="$art" -print_final_stats=1)
  # shellcheck disable=SC2207  # fuzz_flags() prints flags without blanks
  args+=($(fuzz_flags "$t"))
  if [ "$SECS" -eq 0 ]; then
    # Replay each seed once; nothing is written to a corpus.
    "$OUT/fuzz_$t" "${args[@]}" -runs=0 "$seeds"
  else
    # New inputs go to the first directory; the checked-in seeds are only read.
    "$OUT/fuzz_$t" "${args[@]}" -max_total_time="$SECS" "$work" "$seeds"
  fi
}

report() {
  local t=$1 rc=$2 f
  if [ "$rc" -eq 0 ]; then
    log "fuzz_$t: ok ($(grep -o 'stat::number_of_executed_units: [0-9]*' \
      "$OUT/fuzz_$t.log" | tail -n1 | sed 's/.*: //') executions)"
    return 0
  fi
  log "fuzz_$t FAILED (exit $rc); the end of its log ($OUT/fuzz_$t.log):"
  tail -n 60 "$OUT/fuzz_$t.log" | sed 's/^/  | /'
  for f in "$OUT/artifacts/$t"/*; do
    [ -f "$f" ] || continue
    log "input that failed: $f ($(stat -c %s "$f") bytes); reproduce with:" \
      "$OUT/fuzz_$t $f"
    od -A d -t x1z -v "$f" | head -n 32 | sed 's/^/  | /'
  done
  return 1
}

failed=0
jobs=${FUZZ_JOBS:-1}
if [ "$jobs" -gt 1 ]; then
  declare -A pids
  for t in "${TARGETS[@]}"; do
    log "running fuzz_$t (${SECS}s, in parallel)"
    rm -f "$OUT/artifacts/$t"/* 2>/dev/null || true
    run_target "$t" >"$OUT/fuzz_$t.log" 2>&1 &
    pids[$t]=$!
  done
  for t in "${TARGETS[@]}"; do
    rc=0
    wait "${pids[$t]}" || rc=$?
    report "$t" "$rc" || failed=1
  done
else
  for t in "${TARGETS[@]}"; do
    log "running fuzz_$t (${SECS}s)"
    rm -f "$OUT/artifacts/$t"/* 2>/dev/null || true
    rc=0
    run_target "$t" >"$OUT/fuzz_$t.log" 2>&1 || rc=$?
    report "$t" "$rc" || failed=1
  done
fi
exit $failed
