"""SamAutomaticMaskGenerator: the official class (segment everything) on the
engine's generator (mobilesam_generate), with the official options, defaults
and output records."""
import ctypes
import threading

import numpy as np

from . import _engine
from .utils.amg import build_all_layer_point_grids, coco_encode_rle
from .utils.amg import _rle_counts

_OUTPUT_MODES = ("binary_mask", "uncompressed_rle", "coco_rle")


class SamAutomaticMaskGenerator:
    def __init__(self, model, points_per_side=32, points_per_batch=64,
                 pred_iou_thresh=0.88, stability_score_thresh=0.95,
                 stability_score_offset=1.0, box_nms_thresh=0.7,
                 crop_n_layers=0, crop_nms_thresh=0.7,
                 crop_overlap_ratio=512 / 1500,
                 crop_n_points_downscale_factor=1, point_grids=None,
                 min_mask_region_area=0, output_mode="binary_mask"):
        """The official options. point_grids is accepted only when it is
        the grids the engine builds itself (build_all_layer_point_grids of
        some points_per_side): other grids raise NotImplementedError.
        min_mask_region_area > 0 needs no OpenCV here (the engine does it).
        """
        if (points_per_side is None) == (point_grids is None):
            raise ValueError(
                "Exactly one of points_per_side or point_grid must be provided.")
        if output_mode not in _OUTPUT_MODES:
            raise ValueError("Unknown output_mode %s." % output_mode)
        if point_grids is not None:
            points_per_side = self._side_of(point_grids, crop_n_layers,
                                            crop_n_points_downscale_factor)
        for name, v in (("points_per_side", points_per_side),
                        ("points_per_batch", points_per_batch),
                        ("crop_n_points_downscale_factor",
                         crop_n_points_downscale_factor)):
            if int(v) < 1:
                raise ValueError("%s must be >= 1, got %r" % (name, v))
        if int(crop_n_layers) < 0 or int(min_mask_region_area) < 0:
            raise ValueError("crop_n_layers and min_mask_region_area must be "
                             ">= 0")
        self.point_grids = build_all_layer_point_grids(
            points_per_side, crop_n_layers, crop_n_points_downscale_factor)
        self.model = model
        self._engine = model._new_engine()
        self._lock = threading.Lock()
        self.points_per_side = int(points_per_side)
        self.points_per_batch = int(points_per_batch)
        self.pred_iou_thresh = pred_iou_thresh
        self.stability_score_thresh = stability_score_thresh
        self.stability_score_offset = stability_score_offset
        self.box_nms_thresh = box_nms_thresh
        self.crop_n_layers = int(crop_n_layers)
        self.crop_nms_thresh = crop_nms_thresh
        self.crop_overlap_ratio = crop_overlap_ratio
        self.crop_n_points_downscale_factor = int(crop_n_points_downscale_factor)
        self.min_mask_region_area = int(min_mask_region_area)
        self.output_mode = output_mode

    @staticmethod
    def _side_of(point_grids, n_layers, factor):
        grids = [np.asarray(g, dtype=np.float64) for g in point_grids]
        if len(grids) == n_layers + 1 and grids[0].ndim == 2 and grids[0].shape[1] == 2:
            n = int(round(np.sqrt(grids[0].shape[0])))
            if n >= 1:
                want = build_all_layer_point_grids(n, n_layers, factor)
                if all(g.shape == w.shape and np.allclose(g, w, atol=1e-6)
                       for g, w in zip(grids, want)):
                    return n
        raise NotImplementedError(
            "mobilesam: point_grids other than the regular grids of "
            "build_all_layer_point_grids are not supported; use points_per_side")

    def _options(self):
        o = _engine.AmgOptions()
        _engine.amg_defaults(ctypes.byref(o))
        o.points_per_side = self.points_per_side
        o.points_per_batch = self.points_per_batch
        o.pred_iou_thresh = self.pred_iou_thresh
        o.stability_score_thresh = self.stability_score_thresh
        o.stability_score_offset = self.stability_score_offset
        o.box_nms_thresh = self.box_nms_thresh
        o.crop_n_layers = self.crop_n_layers
        o.crop_nms_thresh = self.crop_nms_thresh
        o.crop_overlap_ratio = self.crop_overlap_ratio
        o.crop_n_points_downscale_factor = self.crop_n_points_downscale_factor
        o.min_mask_region_area = self.min_mask_region_area
        return o

    def generate(self, image):
        """Generates masks for an HxWx3 uint8 RGB image.

        Returns a list of records: segmentation (HxW bool array, or an RLE
        dict per output_mode), area (int), bbox ([x, y, w, h]),
        predicted_iou (float), point_coords ([[x, y]]), stability_score
        (float), crop_box ([x, y, w, h]).
        """
        _engine.check_image(image)
        image = np.ascontiguousarray(image)
        h, w = image.shape[:2]
        opt = self._options()
        res = _engine.AmgResults()
        err = _engine.Error()
        with self._lock:
            st = _engine.generate(self._engine.ptr, image.ctypes.data, w, h,
                                  ctypes.byref(opt), ctypes.byref(res.res),
                                  ctypes.byref(err))
            _engine.check(st, err)
            res.filled = True
        out = []
        r = res.res
        for i in range(r.n):
            m = r.masks[i]
            address = ctypes.cast(m.mask, ctypes.c_void_p).value
            if self.output_mode == "binary_mask":
                u8 = _engine.view(res, address, (h, w), np.uint8)
                np.right_shift(u8, 7, out=u8)  # 0/255 -> 0/1 in place
                seg = u8.view(np.bool_)
            else:
                seg = {"size": [h, w], "counts": _rle_counts(_engine, address, w, h)}
                if self.output_mode == "coco_rle":
                    seg = coco_encode_rle(seg)
            out.append({
                "segmentation": seg,
                "area": int(m.area),
                "bbox": [int(v) for v in m.bbox],
                "predicted_iou": float(m.predicted_iou),
                "point_coords": [[float(m.point[0]), float(m.point[1])]],
                "stability_score": float(m.stability_score),
                "crop_box": [int(v) for v in m.crop_box],
            })
        return out
