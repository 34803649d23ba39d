#!/usr/bin/env bash
# setup-browser.sh - installs what the browser test of the `mobilesam serve`
# page (tests/test_web.py) needs on Debian: headless Chromium, its WebDriver
# and the Python bindings. Skips what is installed already; safe to run
# again. scripts/test.sh runs it when the fixture pack is given (the test
# needs both). Exit 1 with one line when they cannot be installed (the
# browser test then fails, saying so: it never passes silently).
#
# Usage: scripts/setup-browser.sh
set -euo pipefail

DEPS=(chromium chromium-driver python3-selenium)

log() { printf 'setup-browser: %s\n' "$*"; }

if ! command -v apt-get >/dev/null || ! command -v dpkg-query >/dev/null; then
  log "no apt: install Chromium, chromedriver and Python selenium yourself" \
    "(tests/test_web.py looks for /usr/bin/chromium and /usr/bin/chromedriver," \
    "or CHROMIUM_BIN and CHROMEDRIVER_BIN)"
  exit 1
fi

missing=()
for p in "${DEPS[@]}"; do
  status=$(dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null || true)
  case $status in *"install ok installed"*) ;; *) missing+=("$p") ;; esac
done
[ ${#missing[@]} -gt 0 ] || exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    log "missing packages: ${missing[*]}; run as root or install them"
    exit 1
  fi
  sudo=(sudo)
fi
log "installing ${missing[*]}"
if ! { "${sudo[@]}" apt-get update &&
       "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y \
         "${missing[@]}"; }; then
  log "could not install ${missing[*]} (offline? on Ubuntu, chromium is a" \
    "snap: install it and chromedriver, and set CHROMIUM_BIN/CHROMEDRIVER_BIN)"
  exit 1
fi
