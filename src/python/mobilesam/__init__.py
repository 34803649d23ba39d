"""mobilesam: the official MobileSAM Python API (package mobile_sam) on the
mobilesam C engine, without torch. Change `from mobile_sam import ...` to
`from mobilesam import ...`.
"""
from . import _engine
from .automatic_mask_generator import SamAutomaticMaskGenerator
from .build_sam import (Sam, build_sam, build_sam_vit_b, build_sam_vit_h,
                        build_sam_vit_l, build_sam_vit_t, sam_model_registry)
from .predictor import SamPredictor
from ._engine import read_image

__version__ = "0.1.0"

__all__ = ["Sam", "SamAutomaticMaskGenerator", "SamPredictor", "build_sam",
           "build_sam_vit_b", "build_sam_vit_h", "build_sam_vit_l",
           "build_sam_vit_t", "sam_model_registry", "set_num_threads",
           "get_num_threads", "read_image", "supported_precision"]


def set_num_threads(n):
    """Threads the engine uses (process-wide); n <= 0: one per core."""
    _engine.set_threads(int(n))


def get_num_threads():
    return _engine.get_threads()


def supported_precision(precision):
    """The precision this CPU runs when asked for `precision` ("fp32",
    "fp16" or "int8", as in sam_model_registry["vit_t"](checkpoint=...,
    precision=...)): itself when the CPU has the instructions (int8:
    AVX512-VNNI or AVX-VNNI; fp16 has no kernels in this version), else
    "fp32"."""
    return _engine.supported_precision(precision)
