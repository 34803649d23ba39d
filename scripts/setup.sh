#!/usr/bin/env bash
# setup.sh - makes a checkout usable: installs the missing Debian build
# dependencies, builds into build/, and puts the converted model weights in
# weights/mobile_sam.msam (from a given checkpoint, weights/mobile_sam.pt, or
# a download of the official one). Every step already done is skipped, so it
# is safe to run again; being offline is reported, not fatal.
#
# Usage: scripts/setup.sh [--deps-only | --no-weights | --python] [CHECKPOINT.pt]
#   --python: the Python package instead of the weights: a virtual
#   environment .venv (Debian's python3, its numpy) with mobilesam installed
#   from src/python, offline.
set -euo pipefail

# python3-numpy: only the tests use it, to generate the fixture pack's
# synthetic SAM ViT checkpoints in seconds (70 s for vit_b without it).
DEPS=(cmake build-essential pkg-config python3 libopenblas-dev libstb-dev
      libcjson-dev libmicrohttpd-dev nettle-dev curl python3-numpy python3-pytest)
WEIGHTS=weights/mobile_sam.msam
CHECKPOINT=weights/mobile_sam.pt
# Overridable so the download path can be tested without the network.
OFFICIAL_URL=https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt
WEIGHTS_URL=${MOBILESAM_WEIGHTS_URL:-$OFFICIAL_URL}

log() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

usage() {
  cat <<EOF
usage: scripts/setup.sh [--deps-only | --no-weights | --python] [CHECKPOINT.pt]

Installs missing build dependencies (apt), builds into build/, and converts
the MobileSAM checkpoint to $WEIGHTS:
  CHECKPOINT.pt  convert this checkpoint
  (none)         convert $CHECKPOINT, or download the official one first
  --deps-only    only install the missing dependencies
  --no-weights   dependencies and build only
  --python       dependencies, build, and the Python package in .venv
                 (then: .venv/bin/python -c "import mobilesam")
EOF
}

missing_packages() {
  local p status
  for p in "${DEPS[@]}"; do
    status=$(dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null || true)
    case $status in *"install ok installed"*) ;; *) echo "$p" ;; esac
  done
}

install_deps() {
  if ! command -v apt-get >/dev/null || ! command -v dpkg-query >/dev/null; then
    log "no apt: make sure these (or equivalents) are installed: ${DEPS[*]}"
    return
  fi
  local missing
  mapfile -t missing < <(missing_packages)
  [ ${#missing[@]} -gt 0 ] || return 0
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null ||
      die "missing packages: ${missing[*]}; run as root or install them"
    sudo=(sudo)
  fi
  log "installing ${missing[*]}"
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y \
    "${missing[@]}"
}

build() {
  # cmake --build re-runs the configure step itself when CMakeLists change.
  [ -f build/CMakeCache.txt ] || cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
  cmake --build build -j2
}

# The Python package in .venv: Debian's interpreter (whose numpy is
# python3-numpy), the setuptools of the venv (no build isolation: nothing is
# downloaded), the library built above bundled by src/python/setup.py.
python_package() {
  local py=/usr/bin/python3
  [ -x "$py" ] || py=python3
  if [ ! -x .venv/bin/python ]; then
    "$py" -m venv --system-site-packages .venv
  fi
  .venv/bin/pip install --no-build-isolation --no-index --quiet ./src/python
  .venv/bin/python -c "import mobilesam" ||
    die "the installed package does not import"
  log "the Python package is in .venv: .venv/bin/python, or source .venv/bin/activate"
}

# Converts $1 to $WEIGHTS unless the weights are newer than it already.
convert() {
  if [ -f "$WEIGHTS" ] && [ "$WEIGHTS" -nt "$1" ]; then
    log "$WEIGHTS is up to date"
    return
  fi
  python3 tools/convert.py "$1" -o "$WEIGHTS"
}

# Downloads the official checkpoint to $CHECKPOINT (via a temporary name, so
# an interrupted download never looks complete). Fails quietly when offline.
download() {
  local part=$CHECKPOINT.part
  rm -f "$part"
  if command -v curl >/dev/null; then
    curl -fsSL --connect-timeout 10 --max-time 600 -o "$part" "$WEIGHTS_URL" \
      2>/dev/null
  elif command -v wget >/dev/null; then
    wget -q --timeout=10 --tries=1 -O "$part" "$WEIGHTS_URL"
  else
    false
  fi || { rm -f "$part"; return 1; }
  mv "$part" "$CHECKPOINT"
}

weights() {
  mkdir -p weights
  if [ -n "$1" ]; then
    convert "$1"
  elif [ -f "$CHECKPOINT" ]; then
    convert "$CHECKPOINT"
  elif [ -f "$WEIGHTS" ]; then
    log "$WEIGHTS is present"
  elif download; then
    # A proxy's error page is not a checkpoint: do not keep it around.
    convert "$CHECKPOINT" || { rm -f "$CHECKPOINT"; die "the downloaded" \
      "checkpoint does not convert (removed); download it yourself"; }
  else
    log "offline (could not download mobile_sam.pt): no weights; put the" \
      "official mobile_sam.pt in weights/ or run scripts/setup.sh" \
      "PATH/TO/mobile_sam.pt"
  fi
}

main() {
  local mode=all checkpoint=""
  while [ $# -gt 0 ]; do
    case $1 in
      -h|--help) usage; exit 0 ;;
      --deps-only) mode=deps ;;
      --no-weights) mode=build ;;
      --python) mode=python ;;
      -*) usage >&2; exit 2 ;;
      *) [ -z "$checkpoint" ] || { usage >&2; exit 2; }; checkpoint=$1 ;;
    esac
    shift
  done
  # The checkpoint path is relative to the caller's directory, not the root.
  case $checkpoint in ""|/*) ;; *) checkpoint=$PWD/$checkpoint ;; esac
  [ -z "$checkpoint" ] || [ -f "$checkpoint" ] ||
    die "no such checkpoint: $checkpoint"
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  [ "$mode" != python ] || DEPS+=(python3-venv)
  install_deps
  [ "$mode" != deps ] || return 0
  build
  if [ "$mode" = python ]; then python_package; return 0; fi
  [ "$mode" != build ] || return 0
  weights "$checkpoint"
}

main "$@"
