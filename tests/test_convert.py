#!/usr/bin/env python3
"""test_convert.py - tests tools/convert.py, the checkpoint converter, as a
black box (it is run as a subprocess, exactly as users run it).

No torch here: the tests write torch-format zip checkpoints themselves, with a
small pickle opcode writer (so malicious streams are as easy to make as valid
ones), and read the produced weight file back with an independent reader
(WEIGHT_FORMAT.md implemented a second time, differently). With
MOBILESAM_TESTDATA set, the fixture pack's synthetic checkpoint (the exact
layout of the official mobile_sam.pt) is converted and compared byte for byte
with its storages; without it those tests are skipped, loudly.
"""
import collections
import itertools
import os
import pickle
import random
import struct
import subprocess
import sys
import tempfile
import unittest
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("MOBILESAM_SOURCE_DIR", os.path.dirname(HERE))
CONVERT = os.path.join(SOURCE_DIR, "tools", "convert.py")
TESTDATA = os.environ.get("MOBILESAM_TESTDATA")

# The converted synthetic checkpoint's checksum (its sha256 is pinned in the
# fixture pack's README, so this is a regression value).
SYNTHETIC_CHECKSUM = 0x564568FA4155939F


def expected_vit_t():
    """convert.py's embedded key -> shape table (the model architecture); the
    synthetic-checkpoint test checks it against the official key set."""
    sys.path.insert(0, os.path.dirname(CONVERT))
    sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
    try:
        import convert
    finally:
        sys.path.pop(0)
    return convert.expected_tensors()


# ---------------------------------------------------------------------------
# A pickle writer at opcode level. Values: None, bool, int, str, tuple, plus
# the node types below; it emits protocol 2 as torch.save does.

Global = collections.namedtuple("Global", "module name")
Call = collections.namedtuple("Call", "func args")      # REDUCE
PersId = collections.namedtuple("PersId", "pid")        # BINPERSID
Build = collections.namedtuple("Build", "obj state")    # BUILD
ODict = collections.namedtuple("ODict", "items")        # OrderedDict + items


def emit(v, out):
    if v is None:
        out += b"N"
    elif isinstance(v, bool):
        out += b"\x88" if v else b"\x89"
    elif isinstance(v, int):
        if -2**31 <= v < 2**31:
            out += b"J" + struct.pack("<i", v)
        else:
            raw = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
            out += b"\x8a" + bytes([len(raw)]) + raw
    elif isinstance(v, str):
        raw = v.encode("utf-8")
        out += b"X" + struct.pack("<I", len(raw)) + raw
    elif isinstance(v, Global):
        out += b"c%s\n%s\n" % (v.module.encode(), v.name.encode())
    elif isinstance(v, Call):
        emit(v.func, out)
        emit(tuple(v.args), out)
        out += b"R"
    elif isinstance(v, PersId):
        emit(v.pid, out)
        out += b"Q"
    elif isinstance(v, Build):
        emit(v.obj, out)
        emit(v.state, out)
        out += b"b"
    elif isinstance(v, ODict):
        emit(Call(Global("collections", "OrderedDict"), ()), out)
        if v.items:
            out += b"("
            for key, value in v.items:
                emit(key, out)
                emit(value, out)
            out += b"u"
    elif isinstance(v, dict):
        out += b"}"
        if v:
            out += b"("
            for key, value in v.items():
                emit(key, out)
                emit(value, out)
            out += b"u"
    elif isinstance(v, tuple):
        out += b"(" + b"".join(_emitted(x) for x in v) + b"t" if v else b")"
    else:
        raise TypeError(type(v))


def _emitted(v):
    out = bytearray()
    emit(v, out)
    return bytes(out)


def pickle_stream(obj):
    return b"\x80\x02" + _emitted(obj) + b"."


# ---------------------------------------------------------------------------
# Torch-format checkpoints.

Tensor = collections.namedtuple(
    "Tensor", "storage offset size stride variant")
Tensor.__new__.__defaults__ = ("v6",)
# variant: how the tensor is pickled. v4/v6/v7 = _rebuild_tensor_v2 with 4,
# 6 (torch's usual) or 7 (with metadata) arguments; "param" = wrapped in
# _rebuild_parameter.

Storage = collections.namedtuple("Storage", "type numel data")
# type: the torch global naming the element type ("FloatStorage", "float32").


def contiguous(size):
    strides, step = [], 1
    for d in reversed(size):
        strides.append(step)
        step *= d
    return tuple(reversed(strides))


def tensor_expr(t, storages):
    st = storages[t.storage]
    pid = PersId(("storage", Global("torch", st.type), t.storage, "cpu",
                  st.numel))
    extra = {"v4": (), "v6": (False, ODict(())),
             "v7": (False, ODict(()), None), "param": (False, ODict(()))}
    expr = Call(Global("torch._utils", "_rebuild_tensor_v2"),
                (pid, t.offset, t.size, t.stride) + extra[t.variant])
    if t.variant == "param":
        expr = Call(Global("torch._utils", "_rebuild_parameter"),
                    (expr, True, ODict(())))
    return expr


def state_dict_pickle(tensors, storages):
    """Like torch.save(state_dict): an OrderedDict with a _metadata BUILD."""
    items = tuple((k, tensor_expr(t, storages)) for k, t in tensors.items())
    metadata = ODict((("", {"version": 1}),))
    return pickle_stream(Build(ODict(items), {"_metadata": metadata}))


def write_checkpoint(path, data_pkl, storages, folder="archive",
                     byteorder=b"little", extra=()):
    """storages: key -> Storage (data bytes written as data/<key>)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(folder + "/data.pkl", data_pkl)
        if byteorder is not None:
            z.writestr(folder + "/byteorder", byteorder)
        for key, st in storages.items():
            z.writestr(folder + "/data/" + key, st.data)
        z.writestr(folder + "/version", b"3\n")
        for name, data in extra:
            z.writestr(name, data)


def write_state_dict(path, tensors, storages, **kw):
    write_checkpoint(path, state_dict_pickle(tensors, storages), storages,
                     **kw)


def cheap_vit_t(dtype_of=None, shape_of=None):
    """The vit_t key set with every tensor a view of ONE shared storage:
    structurally valid and tiny, for tests that fail before data is read."""
    table = expected_vit_t()
    shapes = {k: (shape_of or {}).get(k, s) for k, s in table.items()}
    numel = max(count(s) for s in shapes.values())
    storages = {"0": Storage("FloatStorage", numel, bytes(4 * numel))}
    tensors = collections.OrderedDict()
    for key, shape in shapes.items():
        if dtype_of and key in dtype_of:
            typ, size = dtype_of[key]
            n = count(shape)
            storages[key] = Storage(typ, n, bytes(size * n))
            tensors[key] = Tensor(key, 0, shape, contiguous(shape))
        else:
            tensors[key] = Tensor("0", 0, shape, contiguous(shape))
    return tensors, storages


def count(shape):
    n = 1
    for d in shape:
        n *= d
    return n


# ---------------------------------------------------------------------------
# The independent weight file reader.

def read_weight_file(path):
    """Parses a .msam file, checks every invariant of WEIGHT_FORMAT.md and
    returns (header fields, OrderedDict name -> (shape, bytes))."""
    with open(path, "rb") as f:
        blob = f.read()
    fields = struct.unpack_from("<8sIIQQQQQII", blob, 0)
    (magic, version, n, table_off, table_size, data_off, file_size,
     digest, kind, reserved) = fields
    assert magic == b"MOBISAM\0" and version == 1 and kind == 1
    assert reserved == 0 and table_off == 64 and file_size == len(blob)
    assert file_size % 64 == 0 and data_off % 64 == 0
    assert data_off >= table_off + table_size
    assert blob[table_off + table_size:data_off] == bytes(
        data_off - table_off - table_size), "table padding is not zero"
    assert digest == reference_checksum(blob[64:]), "checksum mismatch"
    tensors = collections.OrderedDict()
    pos, prev_end = table_off, data_off
    for _ in range(n):
        (name_len,) = struct.unpack_from("<H", blob, pos)
        name = blob[pos + 2:pos + 2 + name_len].decode("utf-8")
        pos += 2 + name_len
        dtype, ndim = blob[pos], blob[pos + 1]
        shape = struct.unpack_from("<%dI" % ndim, blob, pos + 2)
        offset, nbytes = struct.unpack_from("<QQ", blob, pos + 2 + 4 * ndim)
        pos += 2 + 4 * ndim + 16
        assert dtype == 1 and nbytes == 4 * count(shape)
        assert offset % 64 == 0 and offset >= prev_end
        assert blob[prev_end:offset] == bytes(offset - prev_end)
        assert name not in tensors
        tensors[name] = (shape, blob[offset:offset + nbytes])
        prev_end = offset + nbytes
    assert pos == table_off + table_size
    assert blob[prev_end:] == bytes(len(blob) - prev_end)
    return fields, tensors


def reference_checksum(body):
    """The checksum, computed block by block with struct (convert.py uses
    array sums)."""
    total = 0
    for b in range(0, len(body) // 4096 + 1):
        block = body[b * 4096:(b + 1) * 4096]
        total += (b + 1) * sum(struct.unpack("<%dI" % (len(block) // 4),
                                             block))
    return total % 2**64


def gather(data, offset, size, stride):
    """Element-by-element strided read (slow; for small tensors)."""
    out = bytearray()
    for index in itertools.product(*(range(d) for d in size)):
        e = offset + sum(i * s for i, s in zip(index, stride))
        out += data[4 * e:4 * e + 4]
    return bytes(out)


# ---------------------------------------------------------------------------

class ConverterTestCase(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="test_convert.")
        self.tmp = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp, name)

    def run_convert(self, *args):
        return subprocess.run([sys.executable, CONVERT] + list(args),
                              capture_output=True, text=True, timeout=300)

    def assert_refused(self, checkpoint, *needles):
        """Conversion fails with exit 1, one stderr line naming the file and
        containing every needle, and leaves no file behind."""
        out = self.path("out.msam")
        r = self.run_convert(checkpoint, "-o", out)
        self.assertEqual(r.returncode, 1, r.stderr + r.stdout)
        err = r.stderr.strip()
        self.assertEqual(err.count("\n"), 0, err)
        self.assertTrue(err.startswith("convert.py: %s: " % checkpoint), err)
        for needle in needles:
            self.assertIn(needle, err)
        self.assertFalse(os.path.exists(out))
        self.assertEqual([n for n in os.listdir(self.tmp) if "msam" in n], [])
        return err

    def refuse_state_dict(self, tensors, storages, *needles, **kw):
        ckpt = self.path("bad.pt")
        write_state_dict(ckpt, tensors, storages, **kw)
        return self.assert_refused(ckpt, *needles)


class TestCommandLine(ConverterTestCase):
    def test_help(self):
        r = self.run_convert("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("usage:", r.stdout)

    def test_usage_errors_exit_2(self):
        self.assertEqual(self.run_convert().returncode, 2)
        self.assertEqual(self.run_convert("a.pt", "--bogus").returncode, 2)
        ckpt = self.path("same.pt")
        open(ckpt, "wb").close()
        self.assertEqual(self.run_convert(ckpt, "-o", ckpt).returncode, 2)

    def test_missing_input(self):
        self.assert_refused(self.path("nope.pt"), "No such file")

    def test_not_a_zip(self):
        ckpt = self.path("legacy.pt")
        with open(ckpt, "wb") as f:
            f.write(b"\x80\x02\x8a\x0alegacy torch format")
        self.assert_refused(ckpt, "not a torch zip checkpoint")

    def test_truncated_archive(self):
        tensors, storages = cheap_vit_t()
        ckpt = self.path("cut.pt")
        write_state_dict(ckpt, tensors, storages)
        with open(ckpt, "r+b") as f:
            f.truncate(os.path.getsize(ckpt) // 2)
        self.assert_refused(ckpt, "damaged zip archive")

    def test_flipped_bit_in_storage(self):
        tensors, storages = cheap_vit_t()
        ckpt = self.path("flip.pt")
        write_state_dict(ckpt, tensors, storages)
        with open(ckpt, "r+b") as f:
            blob = f.read()
            f.seek(blob.index(b"archive/data/0") + 1000)
            f.write(b"\xff")
        self.assert_refused(ckpt, "damaged archive entry 'archive/data/0'")

    def test_output_directory_missing(self):
        tensors, storages = cheap_vit_t()
        ckpt = self.path("ok.pt")
        write_state_dict(ckpt, tensors, storages)
        for out in [self.path("no/such/dir/w.msam"), self.tmp]:
            r = self.run_convert(ckpt, "-o", out)
            self.assertEqual(r.returncode, 1)
            self.assertEqual(r.stderr.strip(), "convert.py: %s: %s" % (
                out, "Is a directory" if out == self.tmp
                else "No such file or directory"))

    def test_default_output_name(self):
        tensors, storages = cheap_vit_t()
        ckpt = self.path("model.pt")
        write_state_dict(ckpt, tensors, storages)
        r = self.run_convert(ckpt)
        self.assertEqual(r.returncode, 0, r.stderr)
        read_weight_file(self.path("model.msam"))


class TestFullConversion(ConverterTestCase):
    """A complete vit_t checkpoint with random values, shared storages,
    views at offsets, transposed/permuted strides, every _rebuild_tensor_v2
    arity, Parameters, dtype-named storages and the entries to drop."""

    @classmethod
    def setUpClass(cls):
        cls._cls_tmp = tempfile.TemporaryDirectory(prefix="test_convert.")
        cls.tensors, cls.storages, cls.expected = cls.build()
        cls.ckpt = os.path.join(cls._cls_tmp.name, "full.pt")
        write_state_dict(cls.ckpt, cls.tensors, cls.storages,
                         folder="mobile_sam")
        cls.out = os.path.join(cls._cls_tmp.name, "full.msam")
        cls.result = subprocess.run(
            [sys.executable, CONVERT, cls.ckpt, "-o", cls.out],
            capture_output=True, text=True, timeout=300)

    @classmethod
    def tearDownClass(cls):
        cls._cls_tmp.cleanup()

    @classmethod
    def build(cls):
        """Returns (tensors, storages, key -> expected contiguous bytes)."""
        rng = random.Random(1234)
        table = expected_vit_t()
        tensors, storages, expected = collections.OrderedDict(), {}, {}
        special = cls.special_layouts(rng, storages)
        variants = itertools.cycle(["v6", "v4", "v7", "param"])
        for i, (key, shape) in enumerate(table.items()):
            if key in special:
                tensors[key] = special[key]
                t = special[key]
                expected[key] = gather(storages[t.storage].data, t.offset,
                                       t.size, t.stride)
                continue
            data = rng.randbytes(4 * count(shape))
            skey = "s%d" % i
            # Every 50th storage names its dtype as newer torch may.
            storages[skey] = Storage("float32" if i % 50 == 7
                                     else "FloatStorage", count(shape), data)
            tensors[key] = Tensor(skey, 0, shape, contiguous(shape),
                                  next(variants))
            expected[key] = data
        cls.add_dropped(tensors, storages)
        return tensors, storages, expected

    @staticmethod
    def special_layouts(rng, storages):
        bn = "image_encoder.patch_embed.seq.0.bn."
        storages["shared"] = Storage("FloatStorage", 140, rng.randbytes(560))
        storages["T"] = Storage("FloatStorage", 1024, rng.randbytes(4096))
        storages["NHWC"] = Storage("FloatStorage", 864, rng.randbytes(3456))
        storages["every2"] = Storage("FloatStorage", 518, rng.randbytes(2072))
        return {
            # Three views of one storage at different (unaligned) offsets;
            # the last one ends exactly at the end of the storage.
            bn + "weight": Tensor("shared", 3, (32,), (1,)),
            bn + "bias": Tensor("shared", 40, (32,), (1,), "param"),
            bn + "running_mean": Tensor("shared", 108, (32,), (1,), "v4"),
            # A transposed Linear weight: (4, 256) with strides (1, 4).
            "mask_decoder.iou_prediction_head.layers.2.weight":
                Tensor("T", 0, (4, 256), (1, 4)),
            # A conv weight stored channels-last.
            "image_encoder.patch_embed.seq.0.c.weight":
                Tensor("NHWC", 0, (32, 3, 3, 3), (27, 1, 9, 3), "v7"),
            # Every other element, from an offset, up to the last element.
            "mask_decoder.iou_prediction_head.layers.1.bias":
                Tensor("every2", 7, (256,), (2,)),
        }

    @staticmethod
    def add_dropped(tensors, storages):
        storages["head"] = Storage("FloatStorage", 321000, bytes(1284000))
        tensors["image_encoder.norm_head.weight"] = Tensor(
            "head", 0, (320,), (1,))
        tensors["image_encoder.head.weight"] = Tensor(
            "head", 1000, (1000, 320), (320, 1))
        storages["nbt"] = Storage("LongStorage", 1, struct.pack("<q", 5))
        tensors["image_encoder.patch_embed.seq.0.bn.num_batches_tracked"] = \
            Tensor("nbt", 0, (), ())

    def test_converts(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        self.assertEqual(self.result.stderr, "")
        self.assertIn("408 tensors", self.result.stdout)

    def test_tensors_match_source(self):
        _, got = read_weight_file(self.out)
        # Exactly the vit_t tensors in official order: head, norm_head and
        # num_batches_tracked are dropped.
        self.assertEqual(list(got), list(expected_vit_t()))
        for key, (shape, data) in got.items():
            self.assertEqual(shape, self.tensors[key].size, key)
            self.assertEqual(data, self.expected[key], key)

    def test_summary_names_checksum(self):
        fields, _ = read_weight_file(self.out)
        self.assertIn("checksum %016x" % fields[7], self.result.stdout)

    def test_archive_folder_name_is_free(self):
        ckpt = self.path("other.pt")
        write_state_dict(ckpt, self.tensors, self.storages,
                         folder="mobile_sam_synthetic")
        out = self.path("other.msam")
        r = self.run_convert(ckpt, "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, "rb") as a, open(self.out, "rb") as b:
            self.assertEqual(a.read(), b.read())

    def test_failure_keeps_previous_output(self):
        out = self.path("keep.msam")
        with open(out, "wb") as f:
            f.write(b"previous")
        ckpt = self.path("bad.pt")
        write_checkpoint(ckpt, b"\x80\x02garbage", {})
        r = self.run_convert(ckpt, "-o", out)
        self.assertEqual(r.returncode, 1)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"previous")
        self.assertEqual(sorted(os.listdir(self.tmp)), ["bad.pt", "keep.msam"])


class TestMaliciousPickles(ConverterTestCase):
    """Pickles that try to call functions are refused before anything
    runs: each payload would create a marker file."""

    def assert_blocked(self, make_pickle, forbidden):
        """make_pickle(marker path) -> data.pkl bytes."""
        marker = self.path("pwned")
        ckpt = self.path("evil.pt")
        write_checkpoint(ckpt, make_pickle(marker), {})
        self.assert_refused(ckpt, "refusing to load: checkpoint references "
                            "forbidden global " + forbidden)
        self.assertFalse(os.path.exists(marker), "payload was executed")

    def test_os_system_reduce(self):
        self.assert_blocked(lambda m: pickle_stream(
            Call(Global("os", "system"), ("touch " + m,))), "os.system")

    def test_eval_inside_state_dict(self):
        tensors, storages = cheap_vit_t()
        items = [(k, tensor_expr(t, storages)) for k, t in tensors.items()]

        def make(marker):
            evil = Call(Global("builtins", "eval"),
                        ("open(%r, 'w')" % marker,))
            return pickle_stream(ODict(tuple(items + [("evil", evil)])))
        self.assert_blocked(make, "builtins.eval")

    def test_payload_as_storage_type(self):
        def make(marker):
            pid = PersId(("storage", Call(Global("posix", "system"),
                                          ("touch " + marker,)),
                          "0", "cpu", 1))
            rebuild = Call(Global("torch._utils", "_rebuild_tensor_v2"),
                           (pid, 0, (1,), (1,)))
            return pickle_stream(ODict((("w", rebuild),)))
        self.assert_blocked(make, "posix.system")

    def test_inst_opcode(self):
        # INST (protocol 0) also resolves its callable through find_class.
        self.assert_blocked(lambda m: b"(S'touch %s'\nios\nsystem\n."
                            % m.encode(), "os.system")

    def test_real_pickle_of_callable(self):
        # What pickle itself writes for an object reducing to a call.
        class Evil:
            def __init__(self, marker):
                self.marker = marker

            def __reduce__(self):
                return (subprocess.call, (["touch", self.marker],))
        self.assert_blocked(lambda m: pickle.dumps(Evil(m), protocol=2,
                                                 fix_imports=False),
                            "subprocess.call")

    def test_other_torch_globals_refused(self):
        self.assert_blocked(lambda m: pickle_stream(
            Call(Global("torch", "load"), (m,))), "torch.load")

    def test_calling_a_stand_in_is_an_error_not_a_crash(self):
        payload = Call(Global("torch", "FloatStorage"), (3,))
        ckpt = self.path("odd.pt")
        write_checkpoint(ckpt, pickle_stream(payload), {})
        self.assert_refused(ckpt, "corrupt data.pkl")


class TestBadCheckpoints(ConverterTestCase):
    def test_partial_sam_vit_is_refused(self):
        # The patch embedding makes it a SAM ViT checkpoint; the first key
        # its configuration needs and lacks is named.
        shapes = [("image_encoder.pos_embed", (1, 64, 64, 768)),
                  ("image_encoder.patch_embed.proj.weight", (768, 3, 16, 16)),
                  ("image_encoder.blocks.0.norm1.weight", (768,))]
        storages, tensors = {}, collections.OrderedDict()
        for i, (key, shape) in enumerate(shapes):
            storages[str(i)] = Storage("FloatStorage", count(shape),
                                       bytes(4 * count(shape)))
            tensors[key] = Tensor(str(i), 0, shape, contiguous(shape))
        self.refuse_state_dict(
            tensors, storages, "not a SAM ViT checkpoint: missing key(s) "
            "'image_encoder.blocks.0.attn.rel_pos_h'")

    def test_neither_family_names_first_offending_key(self):
        tensors, storages = cheap_vit_t()
        shape = (1, 64, 64, 768)
        storages["pos"] = Storage("FloatStorage", count(shape),
                                  bytes(4 * count(shape)))
        tensors["image_encoder.pos_embed"] = Tensor("pos", 0, shape,
                                                    contiguous(shape))
        self.refuse_state_dict(
            tensors, storages, "not a MobileSAM (vit_t) checkpoint: "
            "unexpected key 'image_encoder.pos_embed'")

    def test_missing_key(self):
        tensors, storages = cheap_vit_t()
        del tensors["mask_decoder.iou_token.weight"]
        self.refuse_state_dict(tensors, storages, "missing key(s) "
                               "'mask_decoder.iou_token.weight'")

    def test_wrong_shape(self):
        key = "image_encoder.neck.0.weight"
        tensors, storages = cheap_vit_t(shape_of={key: (256, 320, 1, 2)})
        self.refuse_state_dict(tensors, storages, repr(key),
                               "(256, 320, 1, 2)", "(256, 320, 1, 1)")

    def test_wrong_dtype(self):
        key = "image_encoder.neck.1.weight"
        tensors, storages = cheap_vit_t(dtype_of={key: ("HalfStorage", 2)})
        self.refuse_state_dict(tensors, storages, repr(key), "float16",
                               "expected float32")

    def test_truncated_storage(self):
        tensors, storages = cheap_vit_t()
        st = storages["0"]
        storages["0"] = Storage(st.type, st.numel, st.data[:-4])
        self.refuse_state_dict(tensors, storages, "storage '0' holds",
                               "expected %d" % (4 * st.numel))

    def test_padded_storage(self):
        tensors, storages = cheap_vit_t()
        st = storages["0"]
        storages["0"] = Storage(st.type, st.numel, st.data + bytes(4))
        self.refuse_state_dict(tensors, storages, "storage '0' holds")

    def test_storage_too_small_for_view(self):
        tensors, storages = cheap_vit_t()
        key = "mask_decoder.iou_token.weight"  # (1, 256)
        # One element past the end of the storage.
        numel = storages["0"].numel
        tensors[key] = Tensor("0", numel - 255, (1, 256), (256, 1))
        self.refuse_state_dict(tensors, storages, repr(key),
                               "needs %d elements" % (numel + 1))

    def test_stride_runs_past_storage(self):
        tensors, storages = cheap_vit_t()
        key = "mask_decoder.iou_token.weight"
        tensors[key] = Tensor("0", 0, (1, 256), (256, 10**6))
        self.refuse_state_dict(tensors, storages, repr(key), "needs")

    def test_missing_storage_entry(self):
        tensors, storages = cheap_vit_t()
        pkl = state_dict_pickle(tensors, storages)
        ckpt = self.path("nostorage.pt")
        write_checkpoint(ckpt, pkl, {})
        self.assert_refused(ckpt, "storage '0' is missing")

    def test_no_data_pkl(self):
        ckpt = self.path("empty.pt")
        with zipfile.ZipFile(ckpt, "w") as z:
            z.writestr("archive/version", b"3\n")
        self.assert_refused(ckpt, "data.pkl")

    def test_big_endian_refused(self):
        tensors, storages = cheap_vit_t()
        self.refuse_state_dict(tensors, storages, "big-endian",
                               byteorder=b"big")

    def test_not_a_state_dict(self):
        ckpt = self.path("list.pt")
        write_checkpoint(ckpt, pickle_stream((1, 2)), {})
        self.assert_refused(ckpt, "does not hold a state dict")


@unittest.skipUnless(TESTDATA, "MOBILESAM_TESTDATA is unset: skipping the "
                     "synthetic checkpoint tests (set it to the fixture pack)")
class TestSyntheticCheckpoint(ConverterTestCase):
    """The fixture pack's checkpoint: the official file's exact layout."""

    def load_reference(self):
        """The storages and tensor layouts, read straight from the zip with
        a minimal loader of the test's own (trusted fixture)."""
        path = os.path.join(TESTDATA, "mobile_sam_synthetic.pt")
        z = zipfile.ZipFile(path)
        prefix = [n for n in z.namelist() if n.endswith("/data.pkl")][0][:-8]

        class Loader(pickle.Unpickler):
            def find_class(self, module, name):
                if (module, name) == ("collections", "OrderedDict"):
                    return collections.OrderedDict
                if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
                    return lambda *a: a[:4]
                if module == "torch" and name.endswith("Storage"):
                    return name
                raise pickle.UnpicklingError(module + "." + name)

            def persistent_load(self, pid):
                return pid

        state = Loader(z.open(prefix + "data.pkl")).load()
        return path, z, prefix, state

    def test_convert_and_compare(self):
        path, z, prefix, state = self.load_reference()
        out = self.path("synthetic.msam")
        r = self.run_convert(path, "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        fields, got = read_weight_file(out)
        self.assertEqual(fields[7], SYNTHETIC_CHECKSUM)
        float_keys = [k for k, v in state.items() if v[0][1] == "FloatStorage"
                      and not k.startswith(("image_encoder.head.",
                                            "image_encoder.norm_head."))]
        self.assertEqual(list(got), float_keys)
        for key in float_keys:
            pid, offset, size, stride = state[key]
            self.assertEqual(stride, contiguous(size), key)
            raw = z.read(prefix + "data/" + pid[2])
            self.assertEqual(got[key], (size, raw[4 * offset:
                                                  4 * (offset + count(size))]),
                             key)

    def test_embedded_table_is_the_official_key_set(self):
        _, _, _, state = self.load_reference()
        official = collections.OrderedDict(
            (k, v[2]) for k, v in state.items() if v[0][1] == "FloatStorage"
            and not k.startswith(("image_encoder.head.",
                                  "image_encoder.norm_head.")))
        self.assertEqual(expected_vit_t(), official)


if __name__ == "__main__":
    if not TESTDATA:
        print("test_convert: MOBILESAM_TESTDATA is unset; the synthetic "
              "checkpoint tests will be skipped", file=sys.stderr)
    unittest.main(verbosity=2)
