#!/usr/bin/env python3
"""make_weights.py - the ctest fixture of the SAM ViT tests: writes the fixture
pack's synthetic vit_b checkpoint (MOBILESAM_TESTDATA/sam_vit_b/
make_checkpoint.py) into OUTDIR and converts it with tools/convert.py into
OUTDIR/vit_b.msam. Generated files stay in the build folder, never in the
repository. The checkpoint is kept between runs when its SHA-256 is the
pack's; the weight file is converted anew each time (4 s), so it always
comes from this checkout's converter.

Usage: make_weights.py OUTDIR        exit 77 (skipped) without the pack
"""
import hashlib
import os
import subprocess
import sys

SHA256 = "3f83a45bf12b9ff7f91b762428879a3aec52de280f2d39b03f949cdd532959a1"
SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def numpy_python():
    """An interpreter with numpy (the generator takes 4 s with it, 70 s
    without): this one, else Debian's python3-numpy, else this one."""
    for exe in (sys.executable, "/usr/bin/python3"):
        if os.path.exists(exe) and subprocess.run(
                [exe, "-c", "import numpy"], capture_output=True).returncode == 0:
            return exe
    return sys.executable


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def main():
    td = os.environ.get("MOBILESAM_TESTDATA")
    pack = os.path.join(td, "sam_vit_b") if td else None
    if not pack or not os.path.isdir(pack):
        print("make_weights: MOBILESAM_TESTDATA (with sam_vit_b/) is not set: skipped")
        return 77
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    ckpt = os.path.join(out, "sam_vit_b_synthetic.pth")
    if not (os.path.exists(ckpt) and sha256(ckpt) == SHA256):
        subprocess.run([numpy_python(), os.path.join(pack, "make_checkpoint.py"),
                        "--model", "vit_b", "-o", ckpt], check=True)
        if sha256(ckpt) != SHA256:
            print("make_weights: %s does not have the pack's SHA-256" % ckpt)
            return 1
    subprocess.run([sys.executable, os.path.join(SRC, "tools", "convert.py"), ckpt,
                    "-o", os.path.join(out, "vit_b.msam")], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
