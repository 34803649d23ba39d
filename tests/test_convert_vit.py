#!/usr/bin/env python3
"""test_convert_vit.py - tools/convert.py on the larger SAM ViT checkpoints
(vit_l 1.2 GB, vit_h 2.6 GB) that the fixture pack's make_checkpoint.py
writes (MOBILESAM_TESTDATA/sam_vit_b/): the converter recognises the key
set, derives and records the configuration of the official builds, writes
every tensor under its key and shape in the official order, and streams:
the converter's peak resident memory (getrusage of its process) stays
within MEM_BOUND_MIB. The engine then loads each file (checksum, recorded
configuration, every tensor's shape): `mobilesam seg` given an embedding
of other weights gets as far as naming the loaded weights' id, which must
be the checksum the converter printed.

Checkpoints and weight files are written into the build folder (beside
MOBILESAM_BIN) and removed afterwards. Skipped without MOBILESAM_TESTDATA.
"""
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
CONVERT = os.path.join(HERE, "..", "tools", "convert.py")
TESTDATA = os.environ.get("MOBILESAM_TESTDATA")
PACK = os.path.join(TESTDATA, "sam_vit_b") if TESTDATA else None
BIN = os.environ.get("MOBILESAM_BIN")

# The converter holds one tensor at a time (vit_h's largest: 26 MB) in a few
# copies; measured 111 MiB on vit_h. The bound is 1 GiB.
MEM_BOUND_MIB = 256

# The official builds (segment_anything/build_sam.py).
EXPECTED = {
    "vit_l": {"width": "1024", "depth": "24", "heads": "16", "head_dim": "64",
              "mlp_dim": "4096", "global": "5,11,17,23", "tensors": 482},
    "vit_h": {"width": "1280", "depth": "32", "heads": "16", "head_dim": "80",
              "mlp_dim": "5120", "global": "7,15,23,31", "tensors": 594},
}


def numpy_python():
    for exe in (sys.executable, "/usr/bin/python3"):
        if os.path.exists(exe) and subprocess.run(
                [exe, "-c", "import numpy"], capture_output=True).returncode == 0:
            return exe
    return sys.executable


def run_measured(argv):
    """Runs argv; returns (exit code, stdout, stderr, peak RSS in MiB) of
    that process alone (wait4)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(argv, stdout=out, stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (p.returncode, out.read().decode(), err.read().decode(),
                usage.ru_maxrss / 1024.0)


def read_head(path):
    """Header fields, configuration record and table of a weight file
    (reads only the bytes before the first tensor)."""
    with open(path, "rb") as f:
        head = f.read(64)
        (magic, version, n, table_off, table_size, data_off, file_size,
         digest, kind, config_len) = struct.unpack("<8sIIQQQQQII", head)
        rest = f.read(data_off - 64)
    config = rest[:config_len].decode("ascii")
    table, pos = [], table_off - 64
    for _ in range(n):
        (name_len,) = struct.unpack_from("<H", rest, pos)
        name = rest[pos + 2:pos + 2 + name_len].decode("utf-8")
        pos += 2 + name_len
        dtype, ndim = rest[pos], rest[pos + 1]
        shape = struct.unpack_from("<%dI" % ndim, rest, pos + 2)
        offset, nbytes = struct.unpack_from("<QQ", rest, pos + 2 + 4 * ndim)
        pos += 2 + 4 * ndim + 16
        table.append((name, shape, dtype, offset, nbytes))
    return dict(magic=magic, version=version, table_off=table_off,
                file_size=file_size, digest=digest, kind=kind,
                config=config, table=table)


@unittest.skipUnless(PACK and os.path.isdir(PACK or ""),
                     "MOBILESAM_TESTDATA (with sam_vit_b/) is not set")
class TestSamVitConversion(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        build = os.path.dirname(BIN) if BIN else tempfile.gettempdir()
        cls.dir = tempfile.mkdtemp(prefix="vit_convert.", dir=build)
        # An embedding of other weights (MobileSAM's), for the load check.
        cls.image = os.path.join(PACK, "images", "tiny.png")
        cls.emb = os.path.join(cls.dir, "vit_t.emb.npy")
        if BIN:
            vit_t = os.path.join(cls.dir, "vit_t.msam")
            subprocess.run([sys.executable, CONVERT, os.path.join(
                TESTDATA, "mobile_sam_synthetic.pt"), "-o", vit_t],
                check=True, capture_output=True)
            subprocess.run([BIN, "embed", cls.image, "-w", vit_t, "-o",
                            cls.emb], check=True, capture_output=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def convert_model(self, model):
        ckpt = os.path.join(self.dir, model + ".pth")
        out = os.path.join(self.dir, model + ".msam")
        try:
            subprocess.run([numpy_python(), os.path.join(
                PACK, "make_checkpoint.py"), "--model", model, "-o", ckpt],
                check=True, capture_output=True)
            listing = subprocess.run(
                [sys.executable, os.path.join(PACK, "make_checkpoint.py"),
                 "--model", model, "--list"], check=True,
                capture_output=True, text=True).stdout.split("\n")
            code, stdout, stderr, rss = run_measured(
                [sys.executable, CONVERT, ckpt, "-o", out])
            print("%s: converted in %.0f MiB peak RSS (bound %d MiB): %s"
                  % (model, rss, MEM_BOUND_MIB, stdout.strip()))
            self.assertEqual(code, 0, stderr)
            self.assertLessEqual(rss, MEM_BOUND_MIB)
            self.check_file(model, ckpt, out, listing, stdout)
        finally:
            for path in (ckpt, out):
                if os.path.exists(path):
                    os.unlink(path)

    def check_file(self, model, ckpt, out, listing, stdout):
        exp = EXPECTED[model]
        head = read_head(out)
        self.assertEqual((head["magic"], head["version"], head["kind"]),
                         (b"MOBISAM\0", 2, 2))
        self.assertEqual(head["file_size"], os.path.getsize(out))
        config = dict(line.split("=", 1)
                      for line in head["config"].split("\n") if line)
        self.assertEqual(config, {
            "model": model, "img_size": "1024", "patch": "16",
            "width": exp["width"], "depth": exp["depth"],
            "heads": exp["heads"], "head_dim": exp["head_dim"],
            "mlp_dim": exp["mlp_dim"], "window": "14",
            "global": exp["global"], "out_chans": "256"})
        # The official key set, order and shapes (make_checkpoint --list).
        listed = []
        for line in listing:
            if line:
                key, shape = line.split()[:2]
                listed.append((key, tuple(int(d) for d in shape.split("x"))))
        self.assertEqual(len(listed), exp["tensors"])
        self.assertEqual([(n, s) for n, s, *_ in head["table"]], listed)
        self.assertIn("wrote %s: %s, %d tensors" % (out, model, len(listed)),
                      stdout)
        # Spot checks of the data: first, a global block's table, last.
        # (storage i is the i-th tensor of the state dict: archive/data/<i>)
        index = {name: i for i, (name, _) in enumerate(listed)}
        wanted = {listed[0][0], listed[-1][0],
                  "image_encoder.blocks.%s.attn.rel_pos_h"
                  % exp["global"].split(",")[0]}
        with zipfile.ZipFile(ckpt) as z, open(out, "rb") as f:
            for name, shape, _, offset, nbytes in head["table"]:
                if name in wanted:
                    f.seek(offset)
                    self.assertEqual(
                        f.read(nbytes),
                        z.read("archive/data/%d" % index[name]), name)
        # The engine loads it: checksum, configuration, every shape.
        if BIN:
            r = subprocess.run(
                [BIN, "seg", self.image, "-w", out, "--embedding", self.emb,
                 "--point", "5,5", "-o", os.path.join(self.dir, "m.png")],
                capture_output=True, text=True)
            digest = "%016x" % head["digest"]
            self.assertIn("embedding was made with other weights", r.stderr)
            self.assertIn("loaded %s)" % digest, r.stderr)

    def test_vit_l(self):
        self.convert_model("vit_l")

    def test_vit_h(self):
        self.convert_model("vit_h")


if __name__ == "__main__":
    unittest.main()
