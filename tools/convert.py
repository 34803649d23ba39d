#!/usr/bin/env python3
"""convert.py - converts an official MobileSAM checkpoint (mobile_sam.pt, a
torch.save'd `vit_t` state dict) or an original SAM one (sam_vit_b_01ec64.pth,
sam_vit_l_0b3195.pth, sam_vit_h_4b8939.pth, Ultralytics' sam_b.pt / sam_l.pt:
the `vit_b` / `vit_l` / `vit_h` state dicts) into the engine's weight file,
specified in tools/WEIGHT_FORMAT.md. For a SAM ViT checkpoint the encoder's
configuration is derived from the tensors, every key and shape is checked
against it, and it is recorded in the weight file.

The conversion streams: one tensor at a time is read, checksummed (first
pass) and written (second pass), so memory stays bounded by the largest
tensor (a few tens of MiB) whatever the size of the checkpoint (vit_h:
2.4 GiB).

Python standard library only: no torch. The checkpoint's data.pkl is read by a
restricted unpickler that knows a handful of harmless stand-ins for the torch
globals a state dict uses and refuses everything else, so a malicious
checkpoint cannot run code. Every size, offset and stride is checked against
the archive before any data is copied, and the output appears atomically
(temporary file + rename) or not at all.

Usage: tools/convert.py CHECKPOINT.pt [-o WEIGHTS.msam]
Exit status: 0 success, 1 bad or unreadable input / output error, 2 usage.
"""
import argparse
import collections
import errno
import io
import itertools
import os
import pickle
import re
import struct
import sys
import tempfile
import zipfile
import zlib
from array import array

PROG = "convert.py"

# Weight file constants (tools/WEIGHT_FORMAT.md).
MAGIC = b"MOBISAM\0"
FORMAT_VERSION = 1          # vit_t files: unchanged since version 1
FORMAT_VERSION_CONFIG = 2   # files that carry a configuration record
MODEL_VIT_T = 1
MODEL_SAM_VIT = 2
MAX_CONFIG_BYTES = 4096
DTYPE_F32 = 1
HEADER = struct.Struct("<8sIIQQQQQII")
ALIGN = 64
CHECKSUM_BLOCK_WORDS = 1024
MASK64 = (1 << 64) - 1

# Sanity limits: far above what vit_t needs, low enough to refuse absurd input
# before allocating for it.
MAX_PICKLE_BYTES = 64 << 20
MAX_STORAGE_BYTES = 1 << 32

# Keys of the official state dict that the engine never uses: the ImageNet
# classifier of TinyViT and the BatchNorm step counters.
DROPPED_KEY = re.compile(
    r"^image_encoder\.(head|norm_head)\.|(^|\.)num_batches_tracked$")


class ConvertError(Exception):
    """Bad input: reported as one line, exit status 1."""


# ---------------------------------------------------------------------------
# Stand-ins for the torch objects a state dict pickle refers to. They are
# plain immutable records: constructing them runs nothing, and namedtuples
# have no __dict__, so a pickle BUILD opcode cannot alter them afterwards.

DType = collections.namedtuple("DType", "name itemsize")
StorageRef = collections.namedtuple("StorageRef", "key dtype numel")
TensorRef = collections.namedtuple("TensorRef", "storage offset size stride")

_DTYPES = {name: DType(name, size) for name, size in [
    ("float32", 4), ("float64", 8), ("float16", 2), ("bfloat16", 2),
    ("int64", 8), ("int32", 4), ("int16", 2), ("int8", 1), ("uint8", 1),
    ("bool", 1)]}

# torch.<X>Storage -> element type. Older torch names storages by type;
# newer pickles may name the dtype itself (torch.float32), accepted too.
_STORAGE_TYPES = {
    "FloatStorage": "float32", "DoubleStorage": "float64",
    "HalfStorage": "float16", "BFloat16Storage": "bfloat16",
    "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16",
    "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool"}


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _int_tuple(v):
    return isinstance(v, tuple) and all(_is_int(x) for x in v)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *legacy):
    """Stand-in for torch._utils._rebuild_tensor_v2. The optional trailing
    arguments (requires_grad, backward_hooks, metadata) vary across torch
    versions and do not affect the values, so they are ignored."""
    if len(legacy) > 3:
        raise ConvertError("_rebuild_tensor_v2 called with %d arguments"
                           % (4 + len(legacy)))
    if not isinstance(storage, StorageRef):
        raise ConvertError("tensor rebuilt from something that is not a "
                           "storage")
    if not (_is_int(storage_offset) and _int_tuple(size)
            and _int_tuple(stride) and len(size) == len(stride)):
        raise ConvertError("tensor with malformed offset/size/stride")
    return TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    """Stand-in for torch._utils._rebuild_parameter: a Parameter is its
    tensor."""
    if not isinstance(data, TensorRef):
        raise ConvertError("parameter wraps something that is not a tensor")
    return data


def _allowed_globals():
    allowed = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    }
    for storage, dtype in _STORAGE_TYPES.items():
        allowed[("torch", storage)] = _DTYPES[dtype]
    for dtype in _DTYPES.values():
        allowed[("torch", dtype.name)] = dtype
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles a state dict without importing or calling anything but the
    stand-ins above."""

    ALLOWED = _allowed_globals()

    def __init__(self, file):
        super().__init__(file)
        self.storages = {}

    def find_class(self, module, name):
        obj = self.ALLOWED.get((module, name))
        if obj is None:
            raise ConvertError("refusing to load: checkpoint references "
                               "forbidden global %s.%s" % (module, name))
        return obj

    def persistent_load(self, pid):
        # torch.save writes ('storage', storage_type, key, location, numel).
        if not (isinstance(pid, tuple) and len(pid) == 5
                and pid[0] == "storage" and isinstance(pid[1], DType)
                and isinstance(pid[2], str) and isinstance(pid[3], str)
                and _is_int(pid[4]) and pid[4] >= 0):
            raise ConvertError("unsupported persistent id %.80r" % (pid,))
        ref = StorageRef(pid[2], pid[1], pid[4])
        # A shared storage must be described the same way each time.
        if self.storages.setdefault(ref.key, ref) != ref:
            raise ConvertError("storage %r is referenced with conflicting "
                               "types or sizes" % ref.key)
        return ref


# ---------------------------------------------------------------------------
# The archive: torch.save's zip layout is <name>/data.pkl plus one raw
# little-endian file per storage, <name>/data/<key>; <name> is arbitrary.

class Checkpoint:
    """An opened torch zip checkpoint: its top folder and entries."""

    def __init__(self, path):
        try:
            self.zip = zipfile.ZipFile(path)
        except zipfile.BadZipFile as e:
            with open(path, "rb") as f:
                is_zip = f.read(2) == b"PK"
            raise ConvertError(
                "damaged zip archive (%s)" % e if is_zip else
                "not a torch zip checkpoint (the pre-1.6 torch format is not "
                "supported; re-save it with a recent torch.save)") from None
        self.entries = {}
        for info in self.zip.infolist():
            if info.filename in self.entries:
                raise ConvertError("archive has two entries named %r"
                                   % info.filename)
            self.entries[info.filename] = info
        self.prefix = self._find_prefix()
        self._check_byteorder()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.zip.close()

    def _find_prefix(self):
        pkls = [n for n in self.entries
                if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkls) != 1:
            raise ConvertError("not a torch checkpoint: expected one "
                               "<name>/data.pkl in the archive, found %d"
                               % len(pkls))
        return pkls[0][:-len("data.pkl")]

    def _check_byteorder(self):
        # Absent in archives from torch < 1.12, which were little-endian.
        info = self.entries.get(self.prefix + "byteorder")
        if info is not None and self.read(info, 16).strip() != b"little":
            raise ConvertError("big-endian checkpoints are not supported")

    def read(self, info, limit):
        if info.file_size > limit:
            raise ConvertError("archive entry %r is too large (%d bytes)"
                               % (info.filename, info.file_size))
        try:
            data = self.zip.read(info)  # verifies the entry's CRC
        except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError,
                NotImplementedError) as e:
            raise ConvertError("damaged archive entry %r (%s)"
                               % (info.filename, e)) from None
        if len(data) != info.file_size:
            raise ConvertError("damaged archive entry %r" % info.filename)
        return data

    def load_state_dict(self):
        info = self.entries[self.prefix + "data.pkl"]
        unpickler = RestrictedUnpickler(
            io.BytesIO(self.read(info, MAX_PICKLE_BYTES)))
        try:
            obj = unpickler.load()
        except ConvertError:
            raise
        except Exception as e:  # any malformed stream: report, never crash
            raise ConvertError("corrupt data.pkl: %s: %s"
                               % (type(e).__name__, e)) from None
        return _as_state_dict(obj)

    def storage_info(self, ref):
        info = self.entries.get(self.prefix + "data/" + ref.key)
        if info is None:
            raise ConvertError("storage %r is missing from the archive"
                               % ref.key)
        return info

    def check_storage(self, ref):
        """Refuses a storage whose archive entry is not exactly numel
        elements long (truncated or padded data)."""
        expected = ref.numel * ref.dtype.itemsize
        actual = self.storage_info(ref).file_size
        if actual != expected or expected > MAX_STORAGE_BYTES:
            raise ConvertError(
                "storage %r holds %d bytes, expected %d (%d x %s)"
                % (ref.key, actual, expected, ref.numel, ref.dtype.name))

    def read_storage(self, ref):
        return self.read(self.storage_info(ref), MAX_STORAGE_BYTES)


def _as_state_dict(obj):
    if not isinstance(obj, dict):
        raise ConvertError("checkpoint does not hold a state dict (top-level "
                           "object is %s)" % type(obj).__name__)
    for key, value in obj.items():
        if not isinstance(key, str):
            raise ConvertError("state dict key %.80r is not a string" % (key,))
        if not isinstance(value, TensorRef):
            raise ConvertError("state dict entry %r is %s, not a tensor"
                               % (key, type(value).__name__))
    return obj


# ---------------------------------------------------------------------------
# Tensors: bounds checks against their storage, then a C-contiguous copy.

def _numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def check_bounds(key, t):
    """Refuses a tensor whose elements would lie outside its storage."""
    if (t.offset < 0 or any(d < 0 for d in t.size)
            or any(s < 0 for s in t.stride)):
        raise ConvertError("tensor %r has a negative offset, size or stride"
                           % key)
    if _numel(t.size) == 0:
        return
    last = t.offset + sum((d - 1) * s for d, s in zip(t.size, t.stride))
    if last >= t.storage.numel:
        raise ConvertError(
            "tensor %r (offset %d, shape %s, stride %s) needs %d elements but "
            "its storage %r holds %d" % (key, t.offset, t.size, t.stride,
                                         last + 1, t.storage.key,
                                         t.storage.numel))


def _contiguous_strides(size):
    strides, step = [], 1
    for d in reversed(size):
        strides.append(step)
        step *= d
    return tuple(reversed(strides))


def materialise(t, raw):
    """The tensor's elements as C-contiguous bytes, honouring offset and
    strides (views, transposes and shared storages)."""
    itemsize = t.storage.dtype.itemsize
    numel = _numel(t.size)
    if numel <= 1 or t.stride == _contiguous_strides(t.size):
        start = t.offset * itemsize
        return raw[start:start + numel * itemsize]
    # General strided gather (ndim >= 1 here), one innermost row at a time
    # with a slice step.
    words = array({1: "B", 2: "H", 4: "I", 8: "Q"}[itemsize])
    assert words.itemsize == itemsize
    words.frombytes(raw)  # native order in, native order out: bytes unchanged
    out = array(words.typecode)
    *outer, inner = t.size
    *outer_strides, inner_stride = t.stride
    for index in itertools.product(*(range(d) for d in outer)):
        base = t.offset + sum(i * s for i, s in zip(index, outer_strides))
        if inner_stride == 0:
            out.extend(array(words.typecode, [words[base]]) * inner)
        else:
            out.extend(words[base:base + (inner - 1) * inner_stride + 1:
                             inner_stride])
    return out.tobytes()


# ---------------------------------------------------------------------------
# The model check: exactly the vit_t tensors, with their shapes, in float32.

def expected_tensors():
    """Key -> shape of every tensor the engine needs, in official order."""
    table = collections.OrderedDict()
    for line in _VIT_T_TABLE.split("\n"):
        if line:
            key, *dims = line.split()
            table[key] = tuple(int(d) for d in dims)
    return table


def _quoted(keys, limit=3):
    text = ", ".join(repr(k) for k in keys[:limit])
    return text + (" and %d more" % (len(keys) - limit)
                   if len(keys) > limit else "")


def _check_against(state, expected, prefix, family):
    """Validates the state dict against `expected` (key -> shape); returns
    [(key, TensorRef)] in that order, without the dropped entries."""
    unexpected = [k for k in state
                  if k not in expected and not DROPPED_KEY.search(k)]
    if unexpected:
        raise ConvertError(prefix + "unexpected key %.200r%s" % (
            unexpected[0], " (and %d more)" % (len(unexpected) - 1)
            if len(unexpected) > 1 else ""))
    missing = [k for k in expected if k not in state]
    if missing:
        raise ConvertError(prefix + "missing key(s) " + _quoted(missing))
    for key, shape in expected.items():
        t = state[key]
        if t.size != shape:
            raise ConvertError(prefix + "tensor %r has shape %s, %s "
                               "has %s" % (key, t.size, family, shape))
        if t.storage.dtype.name != "float32":
            raise ConvertError("tensor %r is %s, expected float32"
                               % (key, t.storage.dtype.name))
    return [(key, state[key]) for key in expected]


def select_tensors(state):
    """Validates the state dict against vit_t; returns [(key, TensorRef)] in
    the official order, without the dropped entries."""
    return _check_against(state, expected_tensors(),
                          "not a MobileSAM (vit_t) checkpoint: ", "vit_t")


# ---------------------------------------------------------------------------
# The original SAM image encoder (ImageEncoderViT, vit_b / vit_l / vit_h):
# the configuration comes from the tensors themselves.

VIT = "image_encoder."
# The key that tells a SAM ViT state dict from a MobileSAM one.
VIT_MARKER = VIT + "patch_embed.proj.weight"
VIT_INPUT = 1024  # img_size of every official build_sam_vit_*
# The official builds (segment_anything/build_sam.py), for naming the model.
KNOWN_VITS = {
    (768, 12, 12, 64, (2, 5, 8, 11)): "vit_b",
    (1024, 24, 16, 64, (5, 11, 17, 23)): "vit_l",
    (1280, 32, 16, 80, (7, 15, 23, 31)): "vit_h",
}


def is_sam_vit(state):
    return VIT_MARKER in state


def _dim(state, key, index, prefix):
    t = state.get(key)
    if t is None:
        raise ConvertError(prefix + "missing key(s) %r" % key)
    if len(t.size) <= index:
        raise ConvertError(prefix + "tensor %r has shape %s" % (key, t.size))
    return t.size[index]


def sam_vit_config(state):
    """The encoder configuration that the tensors imply: width from the
    patch embedding, depth from the blocks, head width from the
    relative-position tables, global-attention blocks from their table
    length (2 * 64 - 1 rows instead of 2 * window - 1)."""
    prefix = "not a SAM ViT checkpoint: "
    width = _dim(state, VIT_MARKER, 0, prefix)
    proj = state[VIT_MARKER].size
    if len(proj) != 4 or proj[1] != 3 or proj[2] != proj[3] or proj[2] < 1 \
            or VIT_INPUT % proj[2]:
        raise ConvertError(prefix + "tensor %r has shape %s, expected "
                           "(width, 3, p, p) with p dividing %d"
                           % (VIT_MARKER, proj, VIT_INPUT))
    patch = proj[2]
    grid = VIT_INPUT // patch
    depth = 0
    while VIT + "blocks.%d.norm1.weight" % depth in state:
        depth += 1
    if depth == 0:
        raise ConvertError(prefix + "missing key(s) %r"
                           % (VIT + "blocks.0.norm1.weight"))
    head_dim = _dim(state, VIT + "blocks.0.attn.rel_pos_h", 1, prefix)
    if head_dim < 1 or width % head_dim:
        raise ConvertError(prefix + "relative-position tables of width %d "
                           "do not divide the width %d" % (head_dim, width))
    lengths = [_dim(state, VIT + "blocks.%d.attn.rel_pos_h" % i, 0, prefix)
               for i in range(depth)]
    global_blocks = tuple(i for i, n in enumerate(lengths) if n == 2 * grid - 1)
    local = [n for n in lengths if n != 2 * grid - 1]
    window = (local[0] + 1) // 2 if local else 0
    if local and (local[0] % 2 == 0 or window < 1 or window > grid):
        raise ConvertError(prefix + "relative-position table of %d rows fits "
                           "no window" % local[0])
    mlp_dim = _dim(state, VIT + "blocks.0.mlp.lin1.weight", 0, prefix)
    out_chans = _dim(state, VIT + "neck.0.weight", 0, prefix)
    heads = width // head_dim
    name = KNOWN_VITS.get((width, depth, heads, head_dim, global_blocks),
                          "sam_vit")
    return collections.OrderedDict([
        ("model", name), ("img_size", VIT_INPUT), ("patch", patch),
        ("width", width), ("depth", depth), ("heads", heads),
        ("head_dim", head_dim), ("mlp_dim", mlp_dim), ("window", window),
        ("global", ",".join(str(i) for i in global_blocks)),
        ("out_chans", out_chans)])


def config_text(cfg):
    """The configuration record of the weight file: key=value lines."""
    return "".join("%s=%s\n" % kv for kv in cfg.items()).encode("ascii")


def sam_vit_expected(cfg):
    """Key -> shape of every tensor of a SAM ViT model with this
    configuration, in the official state-dict order (a module's own
    parameters first, then its children in construction order)."""
    c, grid = cfg["width"], VIT_INPUT // cfg["patch"]
    glob = {int(i) for i in cfg["global"].split(",") if i}
    table = collections.OrderedDict()
    table[VIT + "pos_embed"] = (1, grid, grid, c)
    table[VIT + "patch_embed.proj.weight"] = (c, 3, cfg["patch"], cfg["patch"])
    table[VIT + "patch_embed.proj.bias"] = (c,)
    for i in range(cfg["depth"]):
        b = VIT + "blocks.%d." % i
        rel = 2 * (grid if i in glob else cfg["window"]) - 1
        for key, shape in [
                ("norm1.weight", (c,)), ("norm1.bias", (c,)),
                ("attn.rel_pos_h", (rel, cfg["head_dim"])),
                ("attn.rel_pos_w", (rel, cfg["head_dim"])),
                ("attn.qkv.weight", (3 * c, c)), ("attn.qkv.bias", (3 * c,)),
                ("attn.proj.weight", (c, c)), ("attn.proj.bias", (c,)),
                ("norm2.weight", (c,)), ("norm2.bias", (c,)),
                ("mlp.lin1.weight", (cfg["mlp_dim"], c)),
                ("mlp.lin1.bias", (cfg["mlp_dim"],)),
                ("mlp.lin2.weight", (c, cfg["mlp_dim"])),
                ("mlp.lin2.bias", (c,))]:
            table[b + key] = shape
    o = cfg["out_chans"]
    table[VIT + "neck.0.weight"] = (o, c, 1, 1)
    table[VIT + "neck.1.weight"] = (o,)
    table[VIT + "neck.1.bias"] = (o,)
    table[VIT + "neck.2.weight"] = (o, o, 3, 3)
    table[VIT + "neck.3.weight"] = (o,)
    table[VIT + "neck.3.bias"] = (o,)
    # The prompt encoder and mask decoder are MobileSAM's.
    for key, shape in expected_tensors().items():
        if not key.startswith(VIT):
            table[key] = shape
    return table


def select_sam_vit(state):
    """Validates a SAM ViT state dict; returns (configuration,
    [(key, TensorRef)] in the official order)."""
    cfg = sam_vit_config(state)
    if cfg["out_chans"] != 256:
        raise ConvertError("not a SAM ViT checkpoint: the neck has %d output "
                           "channels; the mask decoder takes 256"
                           % cfg["out_chans"])
    name = cfg["model"] if cfg["model"] != "sam_vit" else "the derived model"
    return cfg, _check_against(state, sam_vit_expected(cfg),
                               "not a SAM ViT checkpoint: ", name)


# ---------------------------------------------------------------------------
# The weight file.

def _align(n):
    return (n + ALIGN - 1) // ALIGN * ALIGN


def table_entry(name, shape, offset):
    name_bytes = name.encode("utf-8")
    return (struct.pack("<H", len(name_bytes)) + name_bytes
            + struct.pack("<BB%dI" % len(shape), DTYPE_F32, len(shape), *shape)
            + struct.pack("<QQ", offset, 4 * _numel(shape)))


class Checksum:
    """WEIGHT_FORMAT.md checksum of the bytes after the header, fed in
    pieces: sum over 4096-byte blocks b of (b + 1) * (sum of the block's u32
    words)."""

    BLOCK = 4 * CHECKSUM_BLOCK_WORDS

    def __init__(self):
        self.total = 0
        self.blocks = 0
        self.pending = b""

    def update(self, data):
        data = self.pending + bytes(data) if self.pending else data
        whole = len(data) // self.BLOCK * self.BLOCK
        if whole:
            words = array("I")
            assert words.itemsize == 4
            words.frombytes(memoryview(data)[:whole])
            if sys.byteorder == "big":
                words.byteswap()
            for start in range(0, len(words), CHECKSUM_BLOCK_WORDS):
                self.blocks += 1
                self.total += self.blocks * sum(
                    words[start:start + CHECKSUM_BLOCK_WORDS])
            self.total &= MASK64
        self.pending = bytes(memoryview(data)[whole:])

    def digest(self):
        if self.pending:  # the body is a multiple of 64 bytes: whole words
            tail = self.pending
            self.pending = b""
            words = array("I")
            words.frombytes(tail)
            if sys.byteorder == "big":
                words.byteswap()
            self.blocks += 1
            self.total = (self.total + self.blocks * sum(words)) & MASK64
        return self.total


def checksum(body):
    """The checksum of a whole body at once."""
    c = Checksum()
    c.update(body)
    return c.digest()


class WeightFileLayout:
    """Where everything goes: the table and each tensor's offset, from the
    names and shapes alone (entries have a fixed size)."""

    def __init__(self, entries, kind=MODEL_VIT_T, config=b""):
        self.entries = entries  # [(name, shape)]
        self.kind, self.config = kind, config
        if len(config) > MAX_CONFIG_BYTES:
            raise ConvertError("configuration record too long")
        self.version = FORMAT_VERSION_CONFIG if config else FORMAT_VERSION
        self.table_offset = HEADER.size + (len(config) + 7) // 8 * 8
        self.table_size = sum(len(table_entry(n, s, 0)) for n, s in entries)
        self.data_offset = _align(self.table_offset + self.table_size)
        self.offsets, end = [], self.data_offset
        for _, shape in entries:
            self.offsets.append(end)
            end = _align(end + 4 * _numel(shape))
        self.file_size = end

    def prologue(self):
        """The body's bytes before the first tensor: configuration record,
        table, padding."""
        table = b"".join(table_entry(n, s, off)
                         for (n, s), off in zip(self.entries, self.offsets))
        pre = self.config + bytes(self.table_offset - HEADER.size
                                  - len(self.config)) + table
        return pre + bytes(self.data_offset - HEADER.size - len(pre))

    def body(self, tensor_bytes):
        """The body in pieces: prologue, then each tensor's bytes (from the
        iterable tensor_bytes, in table order) and its padding."""
        yield self.prologue()
        for (name, shape), off, data in zip(self.entries, self.offsets,
                                           tensor_bytes):
            if len(data) != 4 * _numel(shape):
                raise ConvertError("tensor %r changed size while converting"
                                   % name)
            yield data
            pad = _align(off + len(data)) - off - len(data)
            if pad:
                yield bytes(pad)

    def header(self, digest):
        return HEADER.pack(MAGIC, self.version, len(self.entries),
                           self.table_offset, self.table_size,
                           self.data_offset, self.file_size, digest,
                           self.kind, len(self.config))


def build_weight_file(tensors):
    """tensors: [(name, shape, float32 bytes)] -> (header bytes, body
    bytes, checksum), in memory (kept for small models and tests)."""
    layout = WeightFileLayout([(n, s) for n, s, _ in tensors])
    body = b"".join(layout.body(d for _, _, d in tensors))
    digest = checksum(body)
    return layout.header(digest), body, digest


def write_atomically(path, chunks):
    """Writes a temporary file next to path and renames it over path, so a
    failure never leaves a partial weight file behind. A symlink is followed
    (its target gets the file, the link stays); a device or FIFO is written
    in place (renaming over it would replace it). Errors name path."""
    target = os.path.realpath(path)
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    if os.path.exists(target) and not os.path.isfile(target):
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CLOEXEC)
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    f.write(chunk)
        except OSError as e:
            raise OSError(e.errno, e.strerror, path) from None
        return
    directory = os.path.dirname(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(target) + ".",
                                   suffix=".tmp", dir=directory)
    except OSError as e:  # report the file asked for, not the temporary
        raise OSError(e.errno, e.strerror, path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600
        os.replace(tmp, target)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):  # e.g. EFBIG, ENOSPC: the output's fault
            raise OSError(e.errno, e.strerror, path) from None
        raise


# ---------------------------------------------------------------------------
# The conversion and the command line.

def convert(checkpoint_path, output_path):
    """Converts; returns (tensor count, file size, checksum, model name).
    Streams: pass 1 reads every tensor for the checksum, pass 2 reads and
    writes them, so at most one tensor is in memory at a time."""
    with Checkpoint(checkpoint_path) as ckpt:
        kind, cfg, selected = select_checked(ckpt)
        layout = WeightFileLayout(
            [(key, t.size) for key, t in selected], kind,
            config_text(cfg) if cfg else b"")
        summer = Checksum()
        for piece in layout.body(tensor_stream(ckpt, selected)):
            summer.update(piece)
        digest = summer.digest()

        def chunks():
            yield layout.header(digest)
            for piece in layout.body(tensor_stream(ckpt, selected)):
                yield piece
        write_atomically(output_path, chunks())
    return (len(selected), layout.file_size, digest,
            cfg["model"] if cfg else "vit_t")


def select_checked(ckpt):
    """(model kind, configuration or None, [(key, TensorRef)]): the model
    checked first (the most useful message for a wrong file), then every
    storage and view, dropped entries included, before any data is read."""
    state = ckpt.load_state_dict()
    if is_sam_vit(state):
        cfg, selected = select_sam_vit(state)
        kind = MODEL_SAM_VIT
    else:
        cfg, selected = None, select_tensors(state)
        kind = MODEL_VIT_T
    for ref in {t.storage.key: t.storage for t in state.values()}.values():
        ckpt.check_storage(ref)
    for key, t in state.items():
        check_bounds(key, t)
    return kind, cfg, selected


def tensor_stream(ckpt, selected):
    """Each selected tensor's float32 bytes, C-contiguous, one at a time
    (a storage shared by several tensors is read again for each)."""
    for _, t in selected:
        yield materialise(t, ckpt.read_storage(t.storage))


def read_tensors(ckpt):
    """The model's tensors of a checkpoint: [(name, shape, float32 bytes)],
    all in memory (tests; the converter itself streams)."""
    _, _, selected = select_checked(ckpt)
    return [(key, t.size, data)
            for (key, t), data in zip(selected, tensor_stream(ckpt, selected))]


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line on stderr (exit 2), like the mobilesam tool."""

    def error(self, message):
        self.exit(2, "%s: %s (see --help)\n" % (self.prog, _one_line(message)))


def parse_args(argv):
    parser = _Parser(
        prog=PROG,
        description="Convert an official MobileSAM checkpoint (mobile_sam.pt,"
        " model vit_t) or an original SAM one (sam_vit_b/l/h_*.pth, sam_b.pt,"
        " sam_l.pt) into the mobilesam weight file (.msam, see "
        "tools/WEIGHT_FORMAT.md). Standard library only; the checkpoint is "
        "read without executing any code from it.",
        epilog="Exit status: 0 success, 1 bad or unreadable input or output "
        "error, 2 usage error.")
    parser.add_argument("checkpoint", help="the torch checkpoint (.pt, .pth)")
    parser.add_argument("-o", "--output", metavar="WEIGHTS.msam",
                        help="output weight file (default: CHECKPOINT with "
                        "the extension .msam)")
    args = parser.parse_args(argv)
    if args.output is None:
        args.output = os.path.splitext(args.checkpoint)[0] + ".msam"
    if (os.path.abspath(args.output) == os.path.abspath(args.checkpoint)
            or (os.path.exists(args.output) and os.path.exists(args.checkpoint)
                and os.path.samefile(args.output, args.checkpoint))):
        parser.error("the output would overwrite the checkpoint")
    return args


def _one_line(text):
    """Error text from untrusted names, made safe for a terminal line."""
    return "".join(c if c.isprintable() else "?"
                   for c in " ".join(str(text).split()))


def main(argv=None):
    args = parse_args(argv)
    try:
        count, size, digest, model = convert(args.checkpoint, args.output)
    except ConvertError as e:
        where, msg = args.checkpoint, e
    except OSError as e:
        where = e.filename or args.checkpoint
        msg = e.strerror or e
    except MemoryError:
        where, msg = args.checkpoint, "out of memory"
    else:
        print("%s: wrote %s: %s, %d tensors, %d bytes, checksum %016x"
              % (PROG, args.output, model, count, size, digest))
        return 0
    print("%s: %s: %s" % (PROG, where, _one_line(msg)), file=sys.stderr)
    return 1


# ---------------------------------------------------------------------------
# Every tensor of the official vit_t state dict that the engine uses, with its
# shape, in state-dict order: the model architecture (build_sam_vit_t),
# extracted once from a checkpoint with the official key set. Format per
# line: key, then the dimensions.
_VIT_T_TABLE = """
image_encoder.patch_embed.seq.0.c.weight 32 3 3 3
image_encoder.patch_embed.seq.0.bn.weight 32
image_encoder.patch_embed.seq.0.bn.bias 32
image_encoder.patch_embed.seq.0.bn.running_mean 32
image_encoder.patch_embed.seq.0.bn.running_var 32
image_encoder.patch_embed.seq.2.c.weight 64 32 3 3
image_encoder.patch_embed.seq.2.bn.weight 64
image_encoder.patch_embed.seq.2.bn.bias 64
image_encoder.patch_embed.seq.2.bn.running_mean 64
image_encoder.patch_embed.seq.2.bn.running_var 64
image_encoder.layers.0.blocks.0.conv1.c.weight 256 64 1 1
image_encoder.layers.0.blocks.0.conv1.bn.weight 256
image_encoder.layers.0.blocks.0.conv1.bn.bias 256
image_encoder.layers.0.blocks.0.conv1.bn.running_mean 256
image_encoder.layers.0.blocks.0.conv1.bn.running_var 256
image_encoder.layers.0.blocks.0.conv2.c.weight 256 1 3 3
image_encoder.layers.0.blocks.0.conv2.bn.weight 256
image_encoder.layers.0.blocks.0.conv2.bn.bias 256
image_encoder.layers.0.blocks.0.conv2.bn.running_mean 256
image_encoder.layers.0.blocks.0.conv2.bn.running_var 256
image_encoder.layers.0.blocks.0.conv3.c.weight 64 256 1 1
image_encoder.layers.0.blocks.0.conv3.bn.weight 64
image_encoder.layers.0.blocks.0.conv3.bn.bias 64
image_encoder.layers.0.blocks.0.conv3.bn.running_mean 64
image_encoder.layers.0.blocks.0.conv3.bn.running_var 64
image_encoder.layers.0.blocks.1.conv1.c.weight 256 64 1 1
image_encoder.layers.0.blocks.1.conv1.bn.weight 256
image_encoder.layers.0.blocks.1.conv1.bn.bias 256
image_encoder.layers.0.blocks.1.conv1.bn.running_mean 256
image_encoder.layers.0.blocks.1.conv1.bn.running_var 256
image_encoder.layers.0.blocks.1.conv2.c.weight 256 1 3 3
image_encoder.layers.0.blocks.1.conv2.bn.weight 256
image_encoder.layers.0.blocks.1.conv2.bn.bias 256
image_encoder.layers.0.blocks.1.conv2.bn.running_mean 256
image_encoder.layers.0.blocks.1.conv2.bn.running_var 256
image_encoder.layers.0.blocks.1.conv3.c.weight 64 256 1 1
image_encoder.layers.0.blocks.1.conv3.bn.weight 64
image_encoder.layers.0.blocks.1.conv3.bn.bias 64
image_encoder.layers.0.blocks.1.conv3.bn.running_mean 64
image_encoder.layers.0.blocks.1.conv3.bn.running_var 64
image_encoder.layers.0.downsample.conv1.c.weight 128 64 1 1
image_encoder.layers.0.downsample.conv1.bn.weight 128
image_encoder.layers.0.downsample.conv1.bn.bias 128
image_encoder.layers.0.downsample.conv1.bn.running_mean 128
image_encoder.layers.0.downsample.conv1.bn.running_var 128
image_encoder.layers.0.downsample.conv2.c.weight 128 1 3 3
image_encoder.layers.0.downsample.conv2.bn.weight 128
image_encoder.layers.0.downsample.conv2.bn.bias 128
image_encoder.layers.0.downsample.conv2.bn.running_mean 128
image_encoder.layers.0.downsample.conv2.bn.running_var 128
image_encoder.layers.0.downsample.conv3.c.weight 128 128 1 1
image_encoder.layers.0.downsample.conv3.bn.weight 128
image_encoder.layers.0.downsample.conv3.bn.bias 128
image_encoder.layers.0.downsample.conv3.bn.running_mean 128
image_encoder.layers.0.downsample.conv3.bn.running_var 128
image_encoder.layers.1.blocks.0.attn.attention_biases 4 49
image_encoder.layers.1.blocks.0.attn.norm.weight 128
image_encoder.layers.1.blocks.0.attn.norm.bias 128
image_encoder.layers.1.blocks.0.attn.qkv.weight 384 128
image_encoder.layers.1.blocks.0.attn.qkv.bias 384
image_encoder.layers.1.blocks.0.attn.proj.weight 128 128
image_encoder.layers.1.blocks.0.attn.proj.bias 128
image_encoder.layers.1.blocks.0.mlp.norm.weight 128
image_encoder.layers.1.blocks.0.mlp.norm.bias 128
image_encoder.layers.1.blocks.0.mlp.fc1.weight 512 128
image_encoder.layers.1.blocks.0.mlp.fc1.bias 512
image_encoder.layers.1.blocks.0.mlp.fc2.weight 128 512
image_encoder.layers.1.blocks.0.mlp.fc2.bias 128
image_encoder.layers.1.blocks.0.local_conv.c.weight 128 1 3 3
image_encoder.layers.1.blocks.0.local_conv.bn.weight 128
image_encoder.layers.1.blocks.0.local_conv.bn.bias 128
image_encoder.layers.1.blocks.0.local_conv.bn.running_mean 128
image_encoder.layers.1.blocks.0.local_conv.bn.running_var 128
image_encoder.layers.1.blocks.1.attn.attention_biases 4 49
image_encoder.layers.1.blocks.1.attn.norm.weight 128
image_encoder.layers.1.blocks.1.attn.norm.bias 128
image_encoder.layers.1.blocks.1.attn.qkv.weight 384 128
image_encoder.layers.1.blocks.1.attn.qkv.bias 384
image_encoder.layers.1.blocks.1.attn.proj.weight 128 128
image_encoder.layers.1.blocks.1.attn.proj.bias 128
image_encoder.layers.1.blocks.1.mlp.norm.weight 128
image_encoder.layers.1.blocks.1.mlp.norm.bias 128
image_encoder.layers.1.blocks.1.mlp.fc1.weight 512 128
image_encoder.layers.1.blocks.1.mlp.fc1.bias 512
image_encoder.layers.1.blocks.1.mlp.fc2.weight 128 512
image_encoder.layers.1.blocks.1.mlp.fc2.bias 128
image_encoder.layers.1.blocks.1.local_conv.c.weight 128 1 3 3
image_encoder.layers.1.blocks.1.local_conv.bn.weight 128
image_encoder.layers.1.blocks.1.local_conv.bn.bias 128
image_encoder.layers.1.blocks.1.local_conv.bn.running_mean 128
image_encoder.layers.1.blocks.1.local_conv.bn.running_var 128
image_encoder.layers.1.downsample.conv1.c.weight 160 128 1 1
image_encoder.layers.1.downsample.conv1.bn.weight 160
image_encoder.layers.1.downsample.conv1.bn.bias 160
image_encoder.layers.1.downsample.conv1.bn.running_mean 160
image_encoder.layers.1.downsample.conv1.bn.running_var 160
image_encoder.layers.1.downsample.conv2.c.weight 160 1 3 3
image_encoder.layers.1.downsample.conv2.bn.weight 160
image_encoder.layers.1.downsample.conv2.bn.bias 160
image_encoder.layers.1.downsample.conv2.bn.running_mean 160
image_encoder.layers.1.downsample.conv2.bn.running_var 160
image_encoder.layers.1.downsample.conv3.c.weight 160 160 1 1
image_encoder.layers.1.downsample.conv3.bn.weight 160
image_encoder.layers.1.downsample.conv3.bn.bias 160
image_encoder.layers.1.downsample.conv3.bn.running_mean 160
image_encoder.layers.1.downsample.conv3.bn.running_var 160
image_encoder.layers.2.blocks.0.attn.attention_biases 5 196
image_encoder.layers.2.blocks.0.attn.norm.weight 160
image_encoder.layers.2.blocks.0.attn.norm.bias 160
image_encoder.layers.2.blocks.0.attn.qkv.weight 480 160
image_encoder.layers.2.blocks.0.attn.qkv.bias 480
image_encoder.layers.2.blocks.0.attn.proj.weight 160 160
image_encoder.layers.2.blocks.0.attn.proj.bias 160
image_encoder.layers.2.blocks.0.mlp.norm.weight 160
image_encoder.layers.2.blocks.0.mlp.norm.bias 160
image_encoder.layers.2.blocks.0.mlp.fc1.weight 640 160
image_encoder.layers.2.blocks.0.mlp.fc1.bias 640
image_encoder.layers.2.blocks.0.mlp.fc2.weight 160 640
image_encoder.layers.2.blocks.0.mlp.fc2.bias 160
image_encoder.layers.2.blocks.0.local_conv.c.weight 160 1 3 3
image_encoder.layers.2.blocks.0.local_conv.bn.weight 160
image_encoder.layers.2.blocks.0.local_conv.bn.bias 160
image_encoder.layers.2.blocks.0.local_conv.bn.running_mean 160
image_encoder.layers.2.blocks.0.local_conv.bn.running_var 160
image_encoder.layers.2.blocks.1.attn.attention_biases 5 196
image_encoder.layers.2.blocks.1.attn.norm.weight 160
image_encoder.layers.2.blocks.1.attn.norm.bias 160
image_encoder.layers.2.blocks.1.attn.qkv.weight 480 160
image_encoder.layers.2.blocks.1.attn.qkv.bias 480
image_encoder.layers.2.blocks.1.attn.proj.weight 160 160
image_encoder.layers.2.blocks.1.attn.proj.bias 160
image_encoder.layers.2.blocks.1.mlp.norm.weight 160
image_encoder.layers.2.blocks.1.mlp.norm.bias 160
image_encoder.layers.2.blocks.1.mlp.fc1.weight 640 160
image_encoder.layers.2.blocks.1.mlp.fc1.bias 640
image_encoder.layers.2.blocks.1.mlp.fc2.weight 160 640
image_encoder.layers.2.blocks.1.mlp.fc2.bias 160
image_encoder.layers.2.blocks.1.local_conv.c.weight 160 1 3 3
image_encoder.layers.2.blocks.1.local_conv.bn.weight 160
image_encoder.layers.2.blocks.1.local_conv.bn.bias 160
image_encoder.layers.2.blocks.1.local_conv.bn.running_mean 160
image_encoder.layers.2.blocks.1.local_conv.bn.running_var 160
image_encoder.layers.2.blocks.2.attn.attention_biases 5 196
image_encoder.layers.2.blocks.2.attn.norm.weight 160
image_encoder.layers.2.blocks.2.attn.norm.bias 160
image_encoder.layers.2.blocks.2.attn.qkv.weight 480 160
image_encoder.layers.2.blocks.2.attn.qkv.bias 480
image_encoder.layers.2.blocks.2.attn.proj.weight 160 160
image_encoder.layers.2.blocks.2.attn.proj.bias 160
image_encoder.layers.2.blocks.2.mlp.norm.weight 160
image_encoder.layers.2.blocks.2.mlp.norm.bias 160
image_encoder.layers.2.blocks.2.mlp.fc1.weight 640 160
image_encoder.layers.2.blocks.2.mlp.fc1.bias 640
image_encoder.layers.2.blocks.2.mlp.fc2.weight 160 640
image_encoder.layers.2.blocks.2.mlp.fc2.bias 160
image_encoder.layers.2.blocks.2.local_conv.c.weight 160 1 3 3
image_encoder.layers.2.blocks.2.local_conv.bn.weight 160
image_encoder.layers.2.blocks.2.local_conv.bn.bias 160
image_encoder.layers.2.blocks.2.local_conv.bn.running_mean 160
image_encoder.layers.2.blocks.2.local_conv.bn.running_var 160
image_encoder.layers.2.blocks.3.attn.attention_biases 5 196
image_encoder.layers.2.blocks.3.attn.norm.weight 160
image_encoder.layers.2.blocks.3.attn.norm.bias 160
image_encoder.layers.2.blocks.3.attn.qkv.weight 480 160
image_encoder.layers.2.blocks.3.attn.qkv.bias 480
image_encoder.layers.2.blocks.3.attn.proj.weight 160 160
image_encoder.layers.2.blocks.3.attn.proj.bias 160
image_encoder.layers.2.blocks.3.mlp.norm.weight 160
image_encoder.layers.2.blocks.3.mlp.norm.bias 160
image_encoder.layers.2.blocks.3.mlp.fc1.weight 640 160
image_encoder.layers.2.blocks.3.mlp.fc1.bias 640
image_encoder.layers.2.blocks.3.mlp.fc2.weight 160 640
image_encoder.layers.2.blocks.3.mlp.fc2.bias 160
image_encoder.layers.2.blocks.3.local_conv.c.weight 160 1 3 3
image_encoder.layers.2.blocks.3.local_conv.bn.weight 160
image_encoder.layers.2.blocks.3.local_conv.bn.bias 160
image_encoder.layers.2.blocks.3.local_conv.bn.running_mean 160
image_encoder.layers.2.blocks.3.local_conv.bn.running_var 160
image_encoder.layers.2.blocks.4.attn.attention_biases 5 196
image_encoder.layers.2.blocks.4.attn.norm.weight 160
image_encoder.layers.2.blocks.4.attn.norm.bias 160
image_encoder.layers.2.blocks.4.attn.qkv.weight 480 160
image_encoder.layers.2.blocks.4.attn.qkv.bias 480
image_encoder.layers.2.blocks.4.attn.proj.weight 160 160
image_encoder.layers.2.blocks.4.attn.proj.bias 160
image_encoder.layers.2.blocks.4.mlp.norm.weight 160
image_encoder.layers.2.blocks.4.mlp.norm.bias 160
image_encoder.layers.2.blocks.4.mlp.fc1.weight 640 160
image_encoder.layers.2.blocks.4.mlp.fc1.bias 640
image_encoder.layers.2.blocks.4.mlp.fc2.weight 160 640
image_encoder.layers.2.blocks.4.mlp.fc2.bias 160
image_encoder.layers.2.blocks.4.local_conv.c.weight 160 1 3 3
image_encoder.layers.2.blocks.4.local_conv.bn.weight 160
image_encoder.layers.2.blocks.4.local_conv.bn.bias 160
image_encoder.layers.2.blocks.4.local_conv.bn.running_mean 160
image_encoder.layers.2.blocks.4.local_conv.bn.running_var 160
image_encoder.layers.2.blocks.5.attn.attention_biases 5 196
image_encoder.layers.2.blocks.5.attn.norm.weight 160
image_encoder.layers.2.blocks.5.attn.norm.bias 160
image_encoder.layers.2.blocks.5.attn.qkv.weight 480 160
image_encoder.layers.2.blocks.5.attn.qkv.bias 480
image_encoder.layers.2.blocks.5.attn.proj.weight 160 160
image_encoder.layers.2.blocks.5.attn.proj.bias 160
image_encoder.layers.2.blocks.5.mlp.norm.weight 160
image_encoder.layers.2.blocks.5.mlp.norm.bias 160
image_encoder.layers.2.blocks.5.mlp.fc1.weight 640 160
image_encoder.layers.2.blocks.5.mlp.fc1.bias 640
image_encoder.layers.2.blocks.5.mlp.fc2.weight 160 640
image_encoder.layers.2.blocks.5.mlp.fc2.bias 160
image_encoder.layers.2.blocks.5.local_conv.c.weight 160 1 3 3
image_encoder.layers.2.blocks.5.local_conv.bn.weight 160
image_encoder.layers.2.blocks.5.local_conv.bn.bias 160
image_encoder.layers.2.blocks.5.local_conv.bn.running_mean 160
image_encoder.layers.2.blocks.5.local_conv.bn.running_var 160
image_encoder.layers.2.downsample.conv1.c.weight 320 160 1 1
image_encoder.layers.2.downsample.conv1.bn.weight 320
image_encoder.layers.2.downsample.conv1.bn.bias 320
image_encoder.layers.2.downsample.conv1.bn.running_mean 320
image_encoder.layers.2.downsample.conv1.bn.running_var 320
image_encoder.layers.2.downsample.conv2.c.weight 320 1 3 3
image_encoder.layers.2.downsample.conv2.bn.weight 320
image_encoder.layers.2.downsample.conv2.bn.bias 320
image_encoder.layers.2.downsample.conv2.bn.running_mean 320
image_encoder.layers.2.downsample.conv2.bn.running_var 320
image_encoder.layers.2.downsample.conv3.c.weight 320 320 1 1
image_encoder.layers.2.downsample.conv3.bn.weight 320
image_encoder.layers.2.downsample.conv3.bn.bias 320
image_encoder.layers.2.downsample.conv3.bn.running_mean 320
image_encoder.layers.2.downsample.conv3.bn.running_var 320
image_encoder.layers.3.blocks.0.attn.attention_biases 10 49
image_encoder.layers.3.blocks.0.attn.norm.weight 320
image_encoder.layers.3.blocks.0.attn.norm.bias 320
image_encoder.layers.3.blocks.0.attn.qkv.weight 960 320
image_encoder.layers.3.blocks.0.attn.qkv.bias 960
image_encoder.layers.3.blocks.0.attn.proj.weight 320 320
image_encoder.layers.3.blocks.0.attn.proj.bias 320
image_encoder.layers.3.blocks.0.mlp.norm.weight 320
image_encoder.layers.3.blocks.0.mlp.norm.bias 320
image_encoder.layers.3.blocks.0.mlp.fc1.weight 1280 320
image_encoder.layers.3.blocks.0.mlp.fc1.bias 1280
image_encoder.layers.3.blocks.0.mlp.fc2.weight 320 1280
image_encoder.layers.3.blocks.0.mlp.fc2.bias 320
image_encoder.layers.3.blocks.0.local_conv.c.weight 320 1 3 3
image_encoder.layers.3.blocks.0.local_conv.bn.weight 320
image_encoder.layers.3.blocks.0.local_conv.bn.bias 320
image_encoder.layers.3.blocks.0.local_conv.bn.running_mean 320
image_encoder.layers.3.blocks.0.local_conv.bn.running_var 320
image_encoder.layers.3.blocks.1.attn.attention_biases 10 49
image_encoder.layers.3.blocks.1.attn.norm.weight 320
image_encoder.layers.3.blocks.1.attn.norm.bias 320
image_encoder.layers.3.blocks.1.attn.qkv.weight 960 320
image_encoder.layers.3.blocks.1.attn.qkv.bias 960
image_encoder.layers.3.blocks.1.attn.proj.weight 320 320
image_encoder.layers.3.blocks.1.attn.proj.bias 320
image_encoder.layers.3.blocks.1.mlp.norm.weight 320
image_encoder.layers.3.blocks.1.mlp.norm.bias 320
image_encoder.layers.3.blocks.1.mlp.fc1.weight 1280 320
image_encoder.layers.3.blocks.1.mlp.fc1.bias 1280
image_encoder.layers.3.blocks.1.mlp.fc2.weight 320 1280
image_encoder.layers.3.blocks.1.mlp.fc2.bias 320
image_encoder.layers.3.blocks.1.local_conv.c.weight 320 1 3 3
image_encoder.layers.3.blocks.1.local_conv.bn.weight 320
image_encoder.layers.3.blocks.1.local_conv.bn.bias 320
image_encoder.layers.3.blocks.1.local_conv.bn.running_mean 320
image_encoder.layers.3.blocks.1.local_conv.bn.running_var 320
image_encoder.neck.0.weight 256 320 1 1
image_encoder.neck.1.weight 256
image_encoder.neck.1.bias 256
image_encoder.neck.2.weight 256 256 3 3
image_encoder.neck.3.weight 256
image_encoder.neck.3.bias 256
prompt_encoder.pe_layer.positional_encoding_gaussian_matrix 2 128
prompt_encoder.point_embeddings.0.weight 1 256
prompt_encoder.point_embeddings.1.weight 1 256
prompt_encoder.point_embeddings.2.weight 1 256
prompt_encoder.point_embeddings.3.weight 1 256
prompt_encoder.not_a_point_embed.weight 1 256
prompt_encoder.mask_downscaling.0.weight 4 1 2 2
prompt_encoder.mask_downscaling.0.bias 4
prompt_encoder.mask_downscaling.1.weight 4
prompt_encoder.mask_downscaling.1.bias 4
prompt_encoder.mask_downscaling.3.weight 16 4 2 2
prompt_encoder.mask_downscaling.3.bias 16
prompt_encoder.mask_downscaling.4.weight 16
prompt_encoder.mask_downscaling.4.bias 16
prompt_encoder.mask_downscaling.6.weight 256 16 1 1
prompt_encoder.mask_downscaling.6.bias 256
prompt_encoder.no_mask_embed.weight 1 256
mask_decoder.transformer.layers.0.self_attn.q_proj.weight 256 256
mask_decoder.transformer.layers.0.self_attn.q_proj.bias 256
mask_decoder.transformer.layers.0.self_attn.k_proj.weight 256 256
mask_decoder.transformer.layers.0.self_attn.k_proj.bias 256
mask_decoder.transformer.layers.0.self_attn.v_proj.weight 256 256
mask_decoder.transformer.layers.0.self_attn.v_proj.bias 256
mask_decoder.transformer.layers.0.self_attn.out_proj.weight 256 256
mask_decoder.transformer.layers.0.self_attn.out_proj.bias 256
mask_decoder.transformer.layers.0.norm1.weight 256
mask_decoder.transformer.layers.0.norm1.bias 256
mask_decoder.transformer.layers.0.cross_attn_token_to_image.q_proj.weight 128 256
mask_decoder.transformer.layers.0.cross_attn_token_to_image.q_proj.bias 128
mask_decoder.transformer.layers.0.cross_attn_token_to_image.k_proj.weight 128 256
mask_decoder.transformer.layers.0.cross_attn_token_to_image.k_proj.bias 128
mask_decoder.transformer.layers.0.cross_attn_token_to_image.v_proj.weight 128 256
mask_decoder.transformer.layers.0.cross_attn_token_to_image.v_proj.bias 128
mask_decoder.transformer.layers.0.cross_attn_token_to_image.out_proj.weight 256 128
mask_decoder.transformer.layers.0.cross_attn_token_to_image.out_proj.bias 256
mask_decoder.transformer.layers.0.norm2.weight 256
mask_decoder.transformer.layers.0.norm2.bias 256
mask_decoder.transformer.layers.0.mlp.lin1.weight 2048 256
mask_decoder.transformer.layers.0.mlp.lin1.bias 2048
mask_decoder.transformer.layers.0.mlp.lin2.weight 256 2048
mask_decoder.transformer.layers.0.mlp.lin2.bias 256
mask_decoder.transformer.layers.0.norm3.weight 256
mask_decoder.transformer.layers.0.norm3.bias 256
mask_decoder.transformer.layers.0.norm4.weight 256
mask_decoder.transformer.layers.0.norm4.bias 256
mask_decoder.transformer.layers.0.cross_attn_image_to_token.q_proj.weight 128 256
mask_decoder.transformer.layers.0.cross_attn_image_to_token.q_proj.bias 128
mask_decoder.transformer.layers.0.cross_attn_image_to_token.k_proj.weight 128 256
mask_decoder.transformer.layers.0.cross_attn_image_to_token.k_proj.bias 128
mask_decoder.transformer.layers.0.cross_attn_image_to_token.v_proj.weight 128 256
mask_decoder.transformer.layers.0.cross_attn_image_to_token.v_proj.bias 128
mask_decoder.transformer.layers.0.cross_attn_image_to_token.out_proj.weight 256 128
mask_decoder.transformer.layers.0.cross_attn_image_to_token.out_proj.bias 256
mask_decoder.transformer.layers.1.self_attn.q_proj.weight 256 256
mask_decoder.transformer.layers.1.self_attn.q_proj.bias 256
mask_decoder.transformer.layers.1.self_attn.k_proj.weight 256 256
mask_decoder.transformer.layers.1.self_attn.k_proj.bias 256
mask_decoder.transformer.layers.1.self_attn.v_proj.weight 256 256
mask_decoder.transformer.layers.1.self_attn.v_proj.bias 256
mask_decoder.transformer.layers.1.self_attn.out_proj.weight 256 256
mask_decoder.transformer.layers.1.self_attn.out_proj.bias 256
mask_decoder.transformer.layers.1.norm1.weight 256
mask_decoder.transformer.layers.1.norm1.bias 256
mask_decoder.transformer.layers.1.cross_attn_token_to_image.q_proj.weight 128 256
mask_decoder.transformer.layers.1.cross_attn_token_to_image.q_proj.bias 128
mask_decoder.transformer.layers.1.cross_attn_token_to_image.k_proj.weight 128 256
mask_decoder.transformer.layers.1.cross_attn_token_to_image.k_proj.bias 128
mask_decoder.transformer.layers.1.cross_attn_token_to_image.v_proj.weight 128 256
mask_decoder.transformer.layers.1.cross_attn_token_to_image.v_proj.bias 128
mask_decoder.transformer.layers.1.cross_attn_token_to_image.out_proj.weight 256 128
mask_decoder.transformer.layers.1.cross_attn_token_to_image.out_proj.bias 256
mask_decoder.transformer.layers.1.norm2.weight 256
mask_decoder.transformer.layers.1.norm2.bias 256
mask_decoder.transformer.layers.1.mlp.lin1.weight 2048 256
mask_decoder.transformer.layers.1.mlp.lin1.bias 2048
mask_decoder.transformer.layers.1.mlp.lin2.weight 256 2048
mask_decoder.transformer.layers.1.mlp.lin2.bias 256
mask_decoder.transformer.layers.1.norm3.weight 256
mask_decoder.transformer.layers.1.norm3.bias 256
mask_decoder.transformer.layers.1.norm4.weight 256
mask_decoder.transformer.layers.1.norm4.bias 256
mask_decoder.transformer.layers.1.cross_attn_image_to_token.q_proj.weight 128 256
mask_decoder.transformer.layers.1.cross_attn_image_to_token.q_proj.bias 128
mask_decoder.transformer.layers.1.cross_attn_image_to_token.k_proj.weight 128 256
mask_decoder.transformer.layers.1.cross_attn_image_to_token.k_proj.bias 128
mask_decoder.transformer.layers.1.cross_attn_image_to_token.v_proj.weight 128 256
mask_decoder.transformer.layers.1.cross_attn_image_to_token.v_proj.bias 128
mask_decoder.transformer.layers.1.cross_attn_image_to_token.out_proj.weight 256 128
mask_decoder.transformer.layers.1.cross_attn_image_to_token.out_proj.bias 256
mask_decoder.transformer.final_attn_token_to_image.q_proj.weight 128 256
mask_decoder.transformer.final_attn_token_to_image.q_proj.bias 128
mask_decoder.transformer.final_attn_token_to_image.k_proj.weight 128 256
mask_decoder.transformer.final_attn_token_to_image.k_proj.bias 128
mask_decoder.transformer.final_attn_token_to_image.v_proj.weight 128 256
mask_decoder.transformer.final_attn_token_to_image.v_proj.bias 128
mask_decoder.transformer.final_attn_token_to_image.out_proj.weight 256 128
mask_decoder.transformer.final_attn_token_to_image.out_proj.bias 256
mask_decoder.transformer.norm_final_attn.weight 256
mask_decoder.transformer.norm_final_attn.bias 256
mask_decoder.iou_token.weight 1 256
mask_decoder.mask_tokens.weight 4 256
mask_decoder.output_upscaling.0.weight 256 64 2 2
mask_decoder.output_upscaling.0.bias 64
mask_decoder.output_upscaling.1.weight 64
mask_decoder.output_upscaling.1.bias 64
mask_decoder.output_upscaling.3.weight 64 32 2 2
mask_decoder.output_upscaling.3.bias 32
mask_decoder.output_hypernetworks_mlps.0.layers.0.weight 256 256
mask_decoder.output_hypernetworks_mlps.0.layers.0.bias 256
mask_decoder.output_hypernetworks_mlps.0.layers.1.weight 256 256
mask_decoder.output_hypernetworks_mlps.0.layers.1.bias 256
mask_decoder.output_hypernetworks_mlps.0.layers.2.weight 32 256
mask_decoder.output_hypernetworks_mlps.0.layers.2.bias 32
mask_decoder.output_hypernetworks_mlps.1.layers.0.weight 256 256
mask_decoder.output_hypernetworks_mlps.1.layers.0.bias 256
mask_decoder.output_hypernetworks_mlps.1.layers.1.weight 256 256
mask_decoder.output_hypernetworks_mlps.1.layers.1.bias 256
mask_decoder.output_hypernetworks_mlps.1.layers.2.weight 32 256
mask_decoder.output_hypernetworks_mlps.1.layers.2.bias 32
mask_decoder.output_hypernetworks_mlps.2.layers.0.weight 256 256
mask_decoder.output_hypernetworks_mlps.2.layers.0.bias 256
mask_decoder.output_hypernetworks_mlps.2.layers.1.weight 256 256
mask_decoder.output_hypernetworks_mlps.2.layers.1.bias 256
mask_decoder.output_hypernetworks_mlps.2.layers.2.weight 32 256
mask_decoder.output_hypernetworks_mlps.2.layers.2.bias 32
mask_decoder.output_hypernetworks_mlps.3.layers.0.weight 256 256
mask_decoder.output_hypernetworks_mlps.3.layers.0.bias 256
mask_decoder.output_hypernetworks_mlps.3.layers.1.weight 256 256
mask_decoder.output_hypernetworks_mlps.3.layers.1.bias 256
mask_decoder.output_hypernetworks_mlps.3.layers.2.weight 32 256
mask_decoder.output_hypernetworks_mlps.3.layers.2.bias 32
mask_decoder.iou_prediction_head.layers.0.weight 256 256
mask_decoder.iou_prediction_head.layers.0.bias 256
mask_decoder.iou_prediction_head.layers.1.weight 256 256
mask_decoder.iou_prediction_head.layers.1.bias 256
mask_decoder.iou_prediction_head.layers.2.weight 4 256
mask_decoder.iou_prediction_head.layers.2.bias 4
"""


if __name__ == "__main__":
    sys.exit(main())
