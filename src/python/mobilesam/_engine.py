"""ctypes binding of the engine's public C API (include/mobilesam.h).

Every engine call goes through a CDLL function, so ctypes releases the GIL
for its whole duration: other Python threads run while an image is encoded
or a prompt decoded.
"""
import ctypes
import os
import platform
import warnings

import numpy as np

OK, ERR_IO, ERR_FORMAT, ERR_INVALID, ERR_NOMEM = range(5)
EMBED_DIM = 256
EMBED_SIZE = 64
LOWRES = 256
IMG_SIZE = 1024

_c_float_p = ctypes.POINTER(ctypes.c_float)
_c_int_p = ctypes.POINTER(ctypes.c_int)
_c_uint8_p = ctypes.POINTER(ctypes.c_uint8)


class Error(ctypes.Structure):
    _fields_ = [("message", ctypes.c_char * 512)]


class Prompt(ctypes.Structure):
    _fields_ = [("points", _c_float_p), ("labels", _c_int_p),
                ("n_points", ctypes.c_int), ("box", _c_float_p),
                ("mask_input", _c_float_p), ("multimask", ctypes.c_int)]


class Result(ctypes.Structure):
    _fields_ = [("n_masks", ctypes.c_int), ("scores", ctypes.c_float * 3),
                ("lowres_logits", _c_float_p), ("masks", _c_uint8_p),
                ("width", ctypes.c_int), ("height", ctypes.c_int)]


PROGRESS_FN = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_int, ctypes.c_void_p)


class AmgOptions(ctypes.Structure):
    _fields_ = [("points_per_side", ctypes.c_int),
                ("points_per_batch", ctypes.c_int),
                ("pred_iou_thresh", ctypes.c_float),
                ("stability_score_thresh", ctypes.c_float),
                ("stability_score_offset", ctypes.c_float),
                ("box_nms_thresh", ctypes.c_float),
                ("crop_n_layers", ctypes.c_int),
                ("crop_nms_thresh", ctypes.c_float),
                ("crop_overlap_ratio", ctypes.c_float),
                ("crop_n_points_downscale_factor", ctypes.c_int),
                ("min_mask_region_area", ctypes.c_int),
                ("progress", PROGRESS_FN),
                ("progress_ctx", ctypes.c_void_p)]


class AmgMask(ctypes.Structure):
    _fields_ = [("mask", _c_uint8_p), ("area", ctypes.c_int),
                ("bbox", ctypes.c_int * 4), ("predicted_iou", ctypes.c_float),
                ("point", ctypes.c_float * 2),
                ("stability_score", ctypes.c_float),
                ("crop_box", ctypes.c_int * 4)]


class AmgResult(ctypes.Structure):
    _fields_ = [("n", ctypes.c_int), ("masks", ctypes.POINTER(AmgMask)),
                ("width", ctypes.c_int), ("height", ctypes.c_int)]


def _candidates():
    """Where libmobilesam.so.0 is looked for, in order."""
    env = os.environ.get("MOBILESAM_LIB")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    out = [os.path.join(here, "libmobilesam.so.0")]  # bundled by setup.py
    # a source checkout: src/python/mobilesam -> build/
    out.append(os.path.join(here, "..", "..", "..", "build", "libmobilesam.so.0"))
    out.append("libmobilesam.so.0")  # cmake --install'ed, found by ld.so
    return out


def _load():
    tried = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(path + " (absent)")
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
    raise ImportError("mobilesam: cannot load the engine library "
                      "libmobilesam.so.0; tried: " + "; ".join(tried) +
                      ". Set MOBILESAM_LIB to its path.")


lib = _load()


def _fn(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_vp = ctypes.c_void_p
set_threads = _fn("mobilesam_set_threads", None, ctypes.c_int)
get_threads = _fn("mobilesam_get_threads", ctypes.c_int)
blas_coretype_hint = _fn("mobilesam_blas_coretype_hint", ctypes.c_char_p)
load = _fn("mobilesam_load", ctypes.c_int, ctypes.c_char_p,
           ctypes.POINTER(_vp), ctypes.POINTER(Error))
free = _fn("mobilesam_free", None, _vp)
model_id = _fn("mobilesam_model_id", ctypes.c_char_p, _vp)
encode = _fn("mobilesam_encode", ctypes.c_int, _vp, _vp, ctypes.c_int,
             ctypes.c_int, ctypes.POINTER(_vp), ctypes.POINTER(Error))
embedding_from_data = _fn("mobilesam_embedding_from_data", ctypes.c_int, _vp,
                          _vp, ctypes.c_int, ctypes.c_int, ctypes.POINTER(_vp),
                          ctypes.POINTER(Error))
embedding_data = _fn("mobilesam_embedding_data", None, _vp, _vp)
embedding_size = _fn("mobilesam_embedding_size", None, _vp, _c_int_p, _c_int_p,
                     _c_int_p, _c_int_p)
embedding_free = _fn("mobilesam_embedding_free", None, _vp)
predict = _fn("mobilesam_predict", ctypes.c_int, _vp, _vp,
              ctypes.POINTER(Prompt), ctypes.c_int, ctypes.POINTER(Result),
              ctypes.POINTER(Error))
result_free = _fn("mobilesam_result_free", None, ctypes.POINTER(Result))
upscale_logits = _fn("mobilesam_upscale_logits", ctypes.c_int, _vp, _vp, _vp)
amg_defaults = _fn("mobilesam_amg_defaults", None, ctypes.POINTER(AmgOptions))
generate = _fn("mobilesam_generate", ctypes.c_int, _vp, _vp, ctypes.c_int,
               ctypes.c_int, ctypes.POINTER(AmgOptions),
               ctypes.POINTER(AmgResult), ctypes.POINTER(Error))
amg_result_free = _fn("mobilesam_amg_result_free", None,
                      ctypes.POINTER(AmgResult))
mask_to_rle = _fn("mobilesam_mask_to_rle", ctypes.c_int, _vp, ctypes.c_int,
                  ctypes.c_int, ctypes.POINTER(_c_int_p))


class Timing(ctypes.Structure):
    _fields_ = [("preprocess_ms", ctypes.c_double),
                ("encoder_ms", ctypes.c_double),
                ("decoder_ms", ctypes.c_double)]


last_timing = _fn("mobilesam_last_timing", None, _vp, ctypes.POINTER(Timing))

# mobilesam_precision: the enum's values, by name
PRECISIONS = ("fp32", "fp16", "int8")
precision_supported = _fn("mobilesam_precision_supported", ctypes.c_int,
                          ctypes.c_int)
set_precision = _fn("mobilesam_set_precision", ctypes.c_int, _vp, ctypes.c_int,
                    _c_int_p, ctypes.POINTER(Error))
get_precision = _fn("mobilesam_get_precision", ctypes.c_int, _vp)
embedding_precision = _fn("mobilesam_embedding_precision", ctypes.c_int, _vp)
embedding_set_precision = _fn("mobilesam_embedding_set_precision", None, _vp,
                              ctypes.c_int)


def precision_code(name, what="precision"):
    """The enum value of "fp32", "fp16" or "int8"; ValueError otherwise."""
    if name not in PRECISIONS:
        raise ValueError("%s must be one of 'fp32', 'fp16', 'int8', got %r"
                         % (what, name))
    return PRECISIONS.index(name)


def supported_precision(name):
    """The precision this CPU runs when asked for `name` ("fp32", "fp16",
    "int8"): itself when the CPU has the instructions, else "fp32"."""
    return PRECISIONS[precision_supported(precision_code(name))]


_noticed = set()


def check_image(image):
    """What set_image and generate accept: a uint8 numpy array (H, W, 3)."""
    if not isinstance(image, np.ndarray):
        raise TypeError("image must be a numpy array, got %s" %
                        type(image).__name__)
    if image.dtype != np.uint8:
        raise ValueError("image must be uint8 (HWC, 0..255), got %s" %
                         image.dtype)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError("image must have shape (H, W, 3), got %s" %
                         (image.shape,))


def fallback_notice(wanted, used):
    """One RuntimeWarning per process and wanted precision when the CPU runs
    another one (the command line's notice line)."""
    if wanted != used and wanted not in _noticed:
        _noticed.add(wanted)
        why = {"int8": "it needs the ARMv8.2 dot-product instructions"
                       if platform.machine() in ("aarch64", "arm64")
                       else "it needs AVX512-VNNI or AVX-VNNI",
               "fp16": "this version has no fp16 kernels"}
        warnings.warn("mobilesam: %s is not available here (%s); "
                      "running %s" % (wanted, why.get(wanted, "?"), used),
                      RuntimeWarning, stacklevel=3)
libc_free = ctypes.CDLL(None).free
libc_free.restype = None
libc_free.argtypes = [_vp]

_hint = blas_coretype_hint()
if _hint:
    warnings.warn("mobilesam: OpenBLAS fell back to its generic kernels on "
                  "this CPU; start Python with OPENBLAS_CORETYPE=%s for "
                  "3-4x faster matrix products" % _hint.decode(),
                  RuntimeWarning, stacklevel=2)


def check(status, err, what=""):
    """Raises the Python exception for an engine status, with the engine's
    one-line message."""
    if status == OK:
        return
    msg = err.message.decode("utf-8", "replace") if err is not None else ""
    if what:
        msg = "%s: %s" % (what, msg) if msg else what
    if status == ERR_INVALID:
        raise ValueError(msg)
    if status == ERR_NOMEM:
        raise MemoryError(msg or "out of memory")
    if status in (ERR_IO, ERR_FORMAT):
        raise OSError(msg)
    raise RuntimeError(msg or "engine error %d" % status)


class CBuffer:
    """Exposes engine-owned memory to numpy without a copy; `owner` (which
    frees that memory when collected) lives as long as any array on it."""

    def __init__(self, owner, address, shape, typestr):
        self.owner = owner
        self.__array_interface__ = {"version": 3, "shape": tuple(shape),
                                    "typestr": typestr,
                                    "data": (address, False)}


def view(owner, address, shape, dtype):
    return np.asarray(CBuffer(owner, address, shape, np.dtype(dtype).str))


class Model:
    """One engine model handle (mobilesam_model *). Not for concurrent use:
    callers serialise on .lock."""

    def __init__(self, path, precision="fp32"):
        """precision: "fp32", "fp16" or "int8", the arithmetic asked for;
        .precision is the one in use (this CPU's for it: a RuntimeWarning
        says when they differ)."""
        import threading
        self.lock = threading.Lock()
        self.ptr = None
        code = precision_code(precision)
        h = _vp()
        err = Error()
        st = load(os.fsencode(path), ctypes.byref(h), ctypes.byref(err))
        check(st, err)
        self.ptr = h
        self.id = model_id(h).decode()
        self.precision_wanted = precision
        used = ctypes.c_int(0)
        check(set_precision(h, code, ctypes.byref(used), ctypes.byref(err)),
              err)
        self.precision = PRECISIONS[used.value]
        fallback_notice(precision, self.precision)

    def __del__(self):
        if self.ptr is not None and free is not None:
            free(self.ptr)
            self.ptr = None


class Embedding:
    def __init__(self, ptr):
        self.ptr = ptr
        w, h, rw, rh = (ctypes.c_int() for _ in range(4))
        embedding_size(ptr, ctypes.byref(w), ctypes.byref(h), ctypes.byref(rw),
                       ctypes.byref(rh))
        self.width, self.height = w.value, h.value
        self.resized_w, self.resized_h = rw.value, rh.value

    @property
    def precision(self):
        """The precision of the encode that made it ("fp32", "fp16",
        "int8")."""
        return PRECISIONS[embedding_precision(self.ptr)]

    @precision.setter
    def precision(self, name):
        embedding_set_precision(self.ptr, precision_code(name))

    def __del__(self):
        if self.ptr is not None and embedding_free is not None:
            embedding_free(self.ptr)
            self.ptr = None


class Results:
    """Owns an array of mobilesam_result; frees them when collected."""

    def __init__(self, n):
        self.arr = (Result * n)()
        self.filled = False

    def __del__(self):
        if self.filled and result_free is not None:
            for i in range(len(self.arr)):
                result_free(ctypes.byref(self.arr[i]))
            self.filled = False


class AmgResults:
    def __init__(self):
        self.res = AmgResult()
        self.filled = False

    def __del__(self):
        if self.filled and amg_result_free is not None:
            amg_result_free(ctypes.byref(self.res))
            self.filled = False


_stb = None


def read_image(path):
    """HxWx3 uint8 RGB array of an image file (PNG, JPEG, BMP, ...), decoded
    by stb_image (libstb0, a dependency of the engine library)."""
    global _stb
    if _stb is None:
        s = ctypes.CDLL("libstb.so.0")
        s.stbi_load.restype = _c_uint8_p
        s.stbi_load.argtypes = [ctypes.c_char_p] + [_c_int_p] * 3 + [ctypes.c_int]
        s.stbi_failure_reason.restype = ctypes.c_char_p
        s.stbi_image_free.argtypes = [_vp]
        _stb = s
    w, h, c = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    path = os.fspath(path)
    with open(path, "rb"):  # FileNotFoundError / PermissionError as such
        pass
    p = _stb.stbi_load(os.fsencode(path), ctypes.byref(w), ctypes.byref(h),
                       ctypes.byref(c), 3)
    if not p:
        reason = _stb.stbi_failure_reason()
        raise OSError("%s: cannot decode the image (%s)" % (
            path, reason.decode() if reason else "unknown format"))
    try:
        return np.ctypeslib.as_array(p, (h.value, w.value, 3)).copy()
    finally:
        _stb.stbi_image_free(p)
