#!/bin/sh
# pkgconfig/run.sh BUILD_DIR [EXTRA_CFLAGS...] - the installed library as a C
# program outside the tree uses it: `cmake --install BUILD_DIR --prefix` a
# temporary folder, then `cc $(pkg-config --cflags --libs mobilesam)` builds
# pkgconfig/main.c, which runs against the installed libmobilesam.so.0.
# EXTRA_CFLAGS: the sanitizer flags of a sanitizer build.
set -eu
build=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" ||
  { cat "$tmp/install.log"; exit 1; }
pc=$(find "$prefix" -name mobilesam.pc)
[ -n "$pc" ] || { echo "pkgconfig: no mobilesam.pc installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
libdir=$(pkg-config --variable=libdir mobilesam)
for f in "$libdir/libmobilesam.so" "$libdir/libmobilesam.so.0" \
         "$prefix/include/mobilesam.h"; do
  [ -e "$f" ] || { echo "pkgconfig: $f not installed"; exit 1; }
done
soname=$(objdump -p "$libdir/libmobilesam.so" | awk '/SONAME/ {print $2}')
[ "$soname" = libmobilesam.so.0 ] ||
  { echo "pkgconfig: SONAME is '$soname', not libmobilesam.so.0"; exit 1; }
[ "$(pkg-config --modversion mobilesam)" = 0.1.0 ] ||
  { echo "pkgconfig: version $(pkg-config --modversion mobilesam)"; exit 1; }

# Built in the temporary folder, not the tree, from the flags pkg-config gives.
cp "$here/main.c" "$tmp/main.c"
cd "$tmp"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror "$@" main.c -o main $(pkg-config --cflags --libs mobilesam)
# the program finds the library through the run-time path (no rpath given)
LD_LIBRARY_PATH=$libdir ./main
LD_LIBRARY_PATH=$libdir ldd ./main | grep -q "$libdir/libmobilesam.so.0" ||
  { echo "pkgconfig: not linked against the installed library:"; LD_LIBRARY_PATH=$libdir ldd ./main; exit 1; }
echo "pkgconfig: installed to $prefix, built and ran a program with pkg-config"
