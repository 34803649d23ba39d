#!/bin/sh
# python/run.sh [PYTHON...] - runs the Python package's tests (pytest) with
# the first of the given interpreters, python3 and /usr/bin/python3 that has
# numpy and pytest (Debian: python3-numpy, python3-pytest; scripts/setup.sh
# installs them). Exit 77 (ctest: skipped) when the fixture pack is missing.
#
# In a sanitizer build (MOBILESAM_SANITIZE=ON) the engine library is built
# with ASan + UBSan: Python (not built with them) can only load it with their
# runtimes preloaded, which is done here; leak detection is off (the
# interpreter itself keeps memory to its exit). The sanitizer run leaves out
# the two bigger images' parity cases and the README examples (the default
# 32x32 generator grid), which only repeat engine work the C tests already
# run under the sanitizers: what it is for is the binding's memory handling.
set -u
here=$(cd "$(dirname "$0")" && pwd)
py=
for cand in "$@" python3 /usr/bin/python3; do
  if "$cand" -c "import numpy, pytest" >/dev/null 2>&1; then py=$cand; break; fi
done
if [ -z "$py" ]; then
  echo "python: no interpreter with numpy and pytest among: $* python3" \
    "/usr/bin/python3; install python3-numpy and python3-pytest" >&2
  exit 1
fi
echo "python: $py ($("$py" -c 'import sys, numpy, pytest; print(sys.version.split()[0], "numpy", numpy.__version__, "pytest", pytest.__version__)'))"
if [ "${MOBILESAM_SANITIZE:-OFF}" = ON ]; then
  cc=${CC:-cc}
  asan=$($cc -print-file-name=libasan.so)
  ubsan=$($cc -print-file-name=libubsan.so)
  export LD_PRELOAD="$asan $ubsan"
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
  set -- -k "not bus and not picture1 and not readme"
  echo "python: sanitizer build: ASan and UBSan preloaded; running $*"
else
  set --
fi
cd "$here"
exec "$py" -m pytest -p no:cacheprovider -q -rs "$@" "$here"
