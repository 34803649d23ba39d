#!/usr/bin/env bash
# test.sh - the whole test suite: installs missing dependencies and builds
# (through scripts/setup.sh, so a fresh clone works), then runs ctest.
# Tests that need the fixture pack read MOBILESAM_TESTDATA and are skipped,
# not failed, without it; weights/ is never needed.
#
# Usage: scripts/test.sh [CTEST ARGS...]    e.g. scripts/test.sh -R convert
set -euo pipefail

if [ -n "${MOBILESAM_TESTDATA:-}" ]; then
  # Tests run in other directories: resolve the path before anything moves.
  if [ ! -d "$MOBILESAM_TESTDATA" ]; then
    echo "test: MOBILESAM_TESTDATA=$MOBILESAM_TESTDATA is not a directory" >&2
    exit 1
  fi
  MOBILESAM_TESTDATA=$(cd "$MOBILESAM_TESTDATA" && pwd)
  export MOBILESAM_TESTDATA
else
  echo "test: MOBILESAM_TESTDATA is unset: the tests that need the fixture" \
    "pack will be skipped"
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh --no-weights
# The browser test of the serve page (tests/test_web.py) needs Chromium; it
# runs with the fixture pack only. Without the packages it fails, saying so.
if [ -n "${MOBILESAM_TESTDATA:-}" ]; then
  scripts/setup-browser.sh ||
    echo "test: the browser packages are missing: test_web will fail"
fi
exec ctest --test-dir build --output-on-failure "$@"
