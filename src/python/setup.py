"""Installs the mobilesam Python package from a checkout, offline:

    python3 -m venv --system-site-packages .venv
    .venv/bin/pip install --no-build-isolation ./src/python

(--no-build-isolation: pip uses the setuptools already there instead of
fetching one; --system-site-packages: numpy comes from Debian's
python3-numpy.) The engine library is built here with CMake (target
mobilesam_shared, in the checkout's build/ or $MOBILESAM_BUILD_DIR) and
copied into the package, with the checkpoint converter tools/convert.py.
"""
import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))


def build_library():
    """libmobilesam.so.0 of the checkout, (re)built if CMake is there."""
    if not os.path.isfile(os.path.join(ROOT, "CMakeLists.txt")):
        raise SystemExit("setup.py: run from a mobilesam checkout "
                         "(src/python inside it)")
    build = os.environ.get("MOBILESAM_BUILD_DIR") or os.path.join(ROOT, "build")
    lib = os.path.join(build, "libmobilesam.so.0")
    if shutil.which("cmake"):
        if not os.path.isfile(os.path.join(build, "CMakeCache.txt")):
            subprocess.check_call(["cmake", "-S", ROOT, "-B", build,
                                   "-DCMAKE_BUILD_TYPE=Release"])
        subprocess.check_call(["cmake", "--build", build, "--target",
                               "mobilesam_shared", "-j2"])
    if not os.path.exists(lib):
        raise SystemExit("setup.py: %s is missing and cannot be built (install "
                         "cmake, or run scripts/setup.sh --deps-only)" % lib)
    return os.path.realpath(lib)


class BuildPy(build_py):
    def run(self):
        super().run()
        pkg = os.path.join(self.build_lib, "mobilesam")
        shutil.copyfile(build_library(), os.path.join(pkg, "libmobilesam.so.0"))
        os.makedirs(os.path.join(pkg, "_tools"), exist_ok=True)
        shutil.copyfile(os.path.join(ROOT, "tools", "convert.py"),
                        os.path.join(pkg, "_tools", "convert.py"))


class BinaryDistribution(Distribution):
    def has_ext_modules(self):  # the wheel holds a native library
        return True


setup(
    name="mobilesam",
    version="0.1.0",
    description="The official MobileSAM Python API (mobile_sam) on the "
                "mobilesam C engine, without torch",
    packages=["mobilesam", "mobilesam.utils"],
    python_requires=">=3.8",
    install_requires=["numpy"],
    cmdclass={"build_py": BuildPy},
    distclass=BinaryDistribution,
    zip_safe=False,
)
