"""sam_model_registry: the official model constructors, on this engine.

`sam_model_registry["vit_t"](checkpoint=PATH)` returns a Sam that holds the
engine's weight file. PATH is either the engine's own weight file (.msam,
written by tools/convert.py) or an official torch checkpoint (mobile_sam.pt),
which is converted once by the project's converter into a cache file keyed
by the checkpoint's content (sha256): $MOBILESAM_CACHE, else
$XDG_CACHE_HOME/mobilesam, else ~/.cache/mobilesam.
"""
import hashlib
import os
import subprocess
import sys

from . import _engine

MAGIC = b"MOBISAM\0"


def _cache_dir():
    d = os.environ.get("MOBILESAM_CACHE")
    if not d:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
            os.path.expanduser("~"), ".cache")
        d = os.path.join(base, "mobilesam")
    return d


def _converter():
    """tools/convert.py: installed inside the package by setup.py, or that of
    the source checkout this package is run from."""
    env = os.environ.get("MOBILESAM_CONVERT")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    for p in (os.path.join(here, "_tools", "convert.py"),
              os.path.join(here, "..", "..", "..", "tools", "convert.py")):
        if os.path.isfile(p):
            return os.path.normpath(p)
    raise OSError("mobilesam: tools/convert.py not found (reinstall the "
                  "package, or set MOBILESAM_CONVERT)")


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def weights_for(checkpoint):
    """The engine weight file for a checkpoint (.msam as is; anything else
    converted into the cache once)."""
    checkpoint = os.fspath(checkpoint)
    with open(checkpoint, "rb") as f:  # OSError (FileNotFoundError, ...)
        magic = f.read(len(MAGIC))
    if magic == MAGIC:
        return checkpoint
    cache = _cache_dir()
    out = os.path.join(cache, _sha256(checkpoint) + ".msam")
    if os.path.isfile(out):
        return out
    os.makedirs(cache, exist_ok=True)
    # convert.py writes atomically (temporary file + rename): concurrent
    # conversions of one checkpoint are harmless.
    proc = subprocess.run([sys.executable, _converter(), checkpoint, "-o", out],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise OSError(lines[-1] if lines else
                      "convert.py failed on %s" % checkpoint)
    return out


class Sam:
    """The model (official: mobile_sam.modeling.Sam): the engine's weights.

    Each SamPredictor / SamAutomaticMaskGenerator made from it opens its own
    engine handle on the same mapped file (shared memory), so predictors in
    different threads run concurrently.
    """

    image_format = "RGB"
    mask_threshold = 0.0

    def __init__(self, weights_path, checkpoint=None, precision="fp32"):
        """precision: arithmetic of the network, "fp32" (default), "fp16"
        or "int8"; .precision is the one this CPU runs for it (fp32 when it
        lacks the instructions, with a RuntimeWarning)."""
        self.weights_path = weights_path
        self.checkpoint = checkpoint
        # checks the file (and the precision's name) now
        self._engine = _engine.Model(weights_path, precision)
        self.model_id = self._engine.id
        self.precision = self._engine.precision

    def _new_engine(self):
        return _engine.Model(self.weights_path, self.precision)

    # torch.nn.Module calls of the official usage: the engine runs on the
    # CPU, in inference mode, always.
    def to(self, *args, **kwargs):
        return self

    def eval(self):
        return self

    def cpu(self):
        return self

    @property
    def device(self):
        return "cpu"

    def __repr__(self):
        return "Sam(vit_t, weights=%r, id=%s, precision=%s)" % (
            self.weights_path, self.model_id, self.precision)


def build_sam_vit_t(checkpoint=None, precision="fp32"):
    """precision (not in the official API): "fp32", "fp16" or "int8"."""
    if checkpoint is None:
        raise ValueError("mobilesam: a checkpoint is required (this engine "
                         "has no randomly initialised model)")
    _engine.precision_code(precision)  # a bad name before any conversion
    return Sam(weights_for(checkpoint), os.fspath(checkpoint), precision)


def _unsupported(name):
    def build(checkpoint=None):
        raise NotImplementedError(
            "mobilesam: model type %r is not supported by this engine; "
            "use 'vit_t' (MobileSAM)" % name)
    build.__name__ = "build_sam_" + name
    return build


build_sam_vit_h = _unsupported("vit_h")
build_sam_vit_l = _unsupported("vit_l")
build_sam_vit_b = _unsupported("vit_b")
build_sam = build_sam_vit_h

sam_model_registry = {
    "default": build_sam_vit_h,
    "vit_h": build_sam_vit_h,
    "vit_l": build_sam_vit_l,
    "vit_b": build_sam_vit_b,
    "vit_t": build_sam_vit_t,
}
