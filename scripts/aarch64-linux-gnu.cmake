# aarch64-linux-gnu.cmake - CMake toolchain file for a cross build to 64-bit
# ARM Linux on a Debian/Ubuntu x86-64 host with multiarch arm64 packages
# (scripts/test-arm64.sh installs them):
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=scripts/aarch64-linux-gnu.cmake
# The arm64 libraries and headers live beside the host's, in
# /usr/lib/aarch64-linux-gnu and /usr/include/aarch64-linux-gnu, so there is
# no sysroot: CMAKE_LIBRARY_ARCHITECTURE points the searches there, and
# pkg-config reads only the arm64 .pc files. Test programs run through
# qemu-aarch64-static (CMAKE_CROSSCOMPILING_EMULATOR: ctest prefixes them).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# never pick up an x86-64 library: only the arm64 multiarch folders and the
# cross compiler's own
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(CMAKE_IGNORE_PATH /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu
  /usr/include/x86_64-linux-gnu)

set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")

find_program(QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64)
if(QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${QEMU_AARCH64})
endif()
