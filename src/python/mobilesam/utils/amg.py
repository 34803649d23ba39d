"""Helpers of the official mobile_sam.utils.amg that users call on the
generator's output: RLE decoding and encoding (COCO's compressed string
included, without pycocotools) and the point grids."""
import ctypes

import numpy as np


def build_point_grid(n_per_side):
    """n x n points evenly spaced in [0, 1] x [0, 1] (cell centres)."""
    offset = 1 / (2 * n_per_side)
    points_one_side = np.linspace(offset, 1 - offset, n_per_side)
    points_x = np.tile(points_one_side[None, :], (n_per_side, 1))
    points_y = np.tile(points_one_side[:, None], (1, n_per_side))
    return np.stack([points_x, points_y], axis=-1).reshape(-1, 2)


def build_all_layer_point_grids(n_per_side, n_layers, scale_per_layer):
    """The point grid of each crop layer."""
    return [build_point_grid(int(n_per_side / (scale_per_layer ** i)))
            for i in range(n_layers + 1)]


def mask_to_rle(mask):
    """Uncompressed COCO RLE ({"size": [h, w], "counts": [...]}, column-major
    runs starting with zeros) of an HxW mask (nonzero = in)."""
    from .. import _engine
    m = np.ascontiguousarray(mask)
    if m.ndim != 2:
        raise ValueError("mask must be HxW, got %s" % (m.shape,))
    if m.dtype != np.uint8:
        m = np.ascontiguousarray(m != 0, dtype=np.uint8)
    h, w = m.shape
    counts = _rle_counts(_engine, m.ctypes.data, w, h)
    return {"size": [h, w], "counts": counts}


def _rle_counts(engine, address, w, h):
    ptr = ctypes.POINTER(ctypes.c_int)()
    n = engine.mask_to_rle(address, w, h, ctypes.byref(ptr))
    if n < 0:
        raise MemoryError("mask_to_rle: out of memory")
    try:
        return np.ctypeslib.as_array(ptr, (n,)).tolist() if n else []
    finally:
        engine.libc_free(ctypes.cast(ptr, ctypes.c_void_p))


def rle_to_mask(rle):
    """HxW bool mask of an uncompressed RLE."""
    h, w = rle["size"]
    counts = np.asarray(rle["counts"], dtype=np.int64)
    values = np.zeros(len(counts), dtype=np.bool_)
    values[1::2] = True
    flat = np.repeat(values, counts)
    if flat.size != h * w:
        raise ValueError("RLE counts sum to %d, not %d x %d" % (flat.size, h, w))
    return flat.reshape(w, h).transpose()


def area_from_rle(rle):
    return int(sum(rle["counts"][1::2]))


def rle_to_string(counts):
    """COCO's compressed RLE string (pycocotools' rleToString): counts
    differenced against the one two back, 5 bits per character."""
    out = bytearray()
    for i, x in enumerate(counts):
        x = int(x)
        if i > 2:
            x -= int(counts[i - 2])
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(c + 48)
    return out.decode("ascii")


def string_to_rle_counts(s):
    """Inverse of rle_to_string (pycocotools' rleFrString)."""
    counts = []
    p = 0
    data = s.encode("ascii") if isinstance(s, str) else s
    while p < len(data):
        x = 0
        k = 0
        more = True
        while more:
            c = data[p] - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def coco_encode_rle(uncompressed_rle):
    """{"size": [h, w], "counts": str}: what the official coco_rle output
    (pycocotools frPyObjects, counts decoded to str) gives."""
    h, w = uncompressed_rle["size"]
    return {"size": [h, w], "counts": rle_to_string(uncompressed_rle["counts"])}
