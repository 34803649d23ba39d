"""SamPredictor: the official class (mobile_sam/predictor.py) on the engine.

Differences from the official one, all documented in the README: results are
numpy arrays (get_image_embedding too); predict_torch is replaced by
predict_batch (numpy, several objects in one call); prompts are checked by
the engine (points and boxes inside the image), bad ones raise ValueError;
predict before set_image raises RuntimeError, as the official one does.
"""
import ctypes
import threading

import numpy as np

from . import _engine

_F32_P = ctypes.POINTER(ctypes.c_float)
_INT_P = ctypes.POINTER(ctypes.c_int)


def _ptr(a, ctype):
    return a.ctypes.data_as(ctype) if a is not None else None


def _as_f32(x, name, shape_tail):
    a = np.ascontiguousarray(x, dtype=np.float32)
    if a.shape[a.ndim - len(shape_tail):] != shape_tail:
        raise ValueError("%s must have shape (..., %s), got %s" % (
            name, ", ".join(map(str, shape_tail)), a.shape))
    return a


class SamPredictor:
    def __init__(self, sam_model):
        """sam_model: the Sam of sam_model_registry. The predictor opens its
        own engine handle, so predictors are independent (one per thread)."""
        self.model = sam_model
        self._engine = sam_model._new_engine()
        self._lock = threading.Lock()
        self.reset_image()

    @property
    def device(self):
        return "cpu"

    def set_image(self, image, image_format="RGB"):
        """Computes the embedding of an HxWx3 uint8 image ('RGB' or 'BGR')."""
        if image_format not in ("RGB", "BGR"):
            raise ValueError(
                "image_format must be in ['RGB', 'BGR'], is %s." % image_format)
        _engine.check_image(image)
        if image_format != self.model.image_format:
            image = image[..., ::-1]
        # no copy when already C-contiguous RGB (the engine only reads it)
        image = np.ascontiguousarray(image)
        h, w = image.shape[:2]
        out = ctypes.c_void_p()
        err = _engine.Error()
        with self._lock:
            self.reset_image()
            st = _engine.encode(self._engine.ptr, image.ctypes.data, w, h,
                                ctypes.byref(out), ctypes.byref(err))
            _engine.check(st, err)
            emb = _engine.Embedding(out)
            self._emb = emb
            self.original_size = (h, w)
            self.input_size = (emb.resized_h, emb.resized_w)
            self.is_image_set = True

    def set_image_embedding(self, embedding, original_size, precision="fp32"):
        """Uses a saved embedding ((1,)256x64x64 float32, as returned by
        get_image_embedding) of an image of original_size (H, W); precision:
        that of the encode that made it (embedding_precision then), "fp32"
        (the default), "fp16" or "int8"."""
        code = _engine.precision_code(precision)
        chw = np.ascontiguousarray(embedding, dtype=np.float32)
        if chw.shape not in ((1, 256, 64, 64), (256, 64, 64)):
            raise ValueError("embedding must have shape (1, 256, 64, 64), got %s"
                             % (chw.shape,))
        h, w = (int(v) for v in original_size)
        out = ctypes.c_void_p()
        err = _engine.Error()
        with self._lock:
            self.reset_image()
            st = _engine.embedding_from_data(self._engine.ptr, chw.ctypes.data,
                                             w, h, ctypes.byref(out),
                                             ctypes.byref(err))
            _engine.check(st, err)
            emb = _engine.Embedding(out)
            _engine.embedding_set_precision(out, code)
            self._emb = emb
            self.original_size = (h, w)
            self.input_size = (emb.resized_h, emb.resized_w)
            self.is_image_set = True

    @property
    def precision(self):
        """The precision the predictor's network runs ("fp32", "fp16",
        "int8"): its Sam's."""
        return _engine.PRECISIONS[_engine.get_precision(self._engine.ptr)]

    @property
    def embedding_precision(self):
        """The precision of the current embedding's encode (set_image: the
        predictor's; set_image_embedding: the one given), None before an
        image is set."""
        return self._emb.precision if self.is_image_set else None

    def _prompt(self, prompt, keep, coords, labels, box, mask_input, multimask):
        """Fills one mobilesam_prompt; `keep` holds the arrays it points to."""
        if coords is not None:
            if labels is None:
                raise ValueError(
                    "point_labels must be supplied if point_coords is supplied.")
            c = _as_f32(coords, "point_coords", (2,)).reshape(-1, 2)
            lab = np.asarray(labels)
            if lab.dtype.kind not in "biuf":
                raise ValueError("point_labels must be numeric, got %s" %
                                 lab.dtype)
            lab = np.ascontiguousarray(lab, dtype=np.intc).reshape(-1)
            if lab.shape[0] != c.shape[0]:
                raise ValueError("point_labels has %d labels for %d points" %
                                 (lab.shape[0], c.shape[0]))
            keep += [c, lab]
            prompt.points = _ptr(c, _F32_P)
            prompt.labels = _ptr(lab, _INT_P)
            prompt.n_points = c.shape[0]
        if box is not None:
            b = _as_f32(box, "box", (4,))
            if b.size != 4:
                raise ValueError("box must be one [x0, y0, x1, y1], got shape %s"
                                 % (b.shape,))
            keep.append(b)
            prompt.box = _ptr(b, _F32_P)
        if mask_input is not None:
            m = _as_f32(mask_input, "mask_input", (256, 256))
            if m.size != 256 * 256:
                raise ValueError("mask_input must have shape (1, 256, 256), "
                                 "got %s" % (m.shape,))
            keep.append(m)
            prompt.mask_input = _ptr(m, _F32_P)
        prompt.multimask = 1 if multimask else 0

    def _run(self, prompts, n):
        if not self.is_image_set:
            raise RuntimeError(
                "An image must be set with .set_image(...) before mask prediction.")
        res = _engine.Results(n)
        err = _engine.Error()
        with self._lock:
            st = _engine.predict(self._engine.ptr, self._emb.ptr, prompts, n,
                                 res.arr, ctypes.byref(err))
            _engine.check(st, err)
            res.filled = True
        return res

    def _upscale(self, res_i, out):
        """Float logits at the original size for each mask of one result."""
        n = res_i.n_masks
        base = ctypes.cast(res_i.lowres_logits, ctypes.c_void_p).value
        for c in range(n):
            st = _engine.upscale_logits(self._emb.ptr, base + c * 256 * 256 * 4,
                                        out[c].ctypes.data)
            _engine.check(st, None, "out of memory upscaling logits")

    def predict(self, point_coords=None, point_labels=None, box=None,
                mask_input=None, multimask_output=True, return_logits=False):
        """Predicts masks for one object. point_coords Nx2 (x, y pixels),
        point_labels N (1 foreground, 0 background), box [x0, y0, x1, y1],
        mask_input 1x256x256 logits from a previous call.

        Returns (masks CxHxW bool, or float32 logits with return_logits;
        iou_predictions C float32; low_res_masks Cx256x256 float32), C = 3
        with multimask_output, else 1.
        """
        if not self.is_image_set:
            raise RuntimeError(
                "An image must be set with .set_image(...) before mask prediction.")
        prompt = _engine.Prompt()
        keep = []
        self._prompt(prompt, keep, point_coords, point_labels, box, mask_input,
                     multimask_output)
        res = self._run(ctypes.byref(prompt), 1)
        r = res.arr[0]
        n, h, w = r.n_masks, r.height, r.width
        iou = np.array(r.scores[:n], dtype=np.float32)
        low = _engine.view(res, ctypes.cast(r.lowres_logits, ctypes.c_void_p).value,
                           (n, 256, 256), np.float32)
        if return_logits:
            masks = np.empty((n, h, w), dtype=np.float32)
            self._upscale(r, masks)
        else:
            u8 = _engine.view(res, ctypes.cast(r.masks, ctypes.c_void_p).value,
                              (n, h, w), np.uint8)
            np.right_shift(u8, 7, out=u8)  # 0/255 -> 0/1, in place
            masks = u8.view(np.bool_)
        return masks, iou, low

    def predict_batch(self, point_coords=None, point_labels=None, boxes=None,
                      mask_input=None, multimask_output=True,
                      return_logits=False):
        """Several objects in one engine call (replaces predict_torch).

        point_coords BxNx2, point_labels BxN, boxes Bx4, mask_input
        Bx1x256x256 (each optional, B the same for all given), in original
        image pixels. Returns (masks BxCxHxW bool or float32 logits,
        iou_predictions BxC float32, low_res_masks BxCx256x256 float32).
        """
        if not self.is_image_set:
            raise RuntimeError(
                "An image must be set with .set_image(...) before mask prediction.")
        if point_coords is not None and point_labels is None:
            raise ValueError(
                "point_labels must be supplied if point_coords is supplied.")
        pc = None if point_coords is None else _as_f32(point_coords, "point_coords", (2,))
        bx = None if boxes is None else _as_f32(boxes, "boxes", (4,))
        mi = None if mask_input is None else _as_f32(mask_input, "mask_input", (256, 256))
        if pc is not None and pc.ndim != 3:
            raise ValueError("point_coords must be BxNx2, got %s" % (pc.shape,))
        if bx is not None and bx.ndim != 2:
            raise ValueError("boxes must be Bx4, got %s" % (bx.shape,))
        if mi is not None and mi.ndim not in (3, 4):
            raise ValueError("mask_input must be Bx1x256x256, got %s" % (mi.shape,))
        sizes = {a.shape[0] for a in (pc, bx, mi) if a is not None}
        if point_labels is not None and pc is not None:
            pl = np.asarray(point_labels)
            if pl.ndim != 2 or pl.shape != pc.shape[:2]:
                raise ValueError("point_labels must be BxN (%s), got %s" %
                                 (pc.shape[:2], pl.shape))
        if len(sizes) != 1:
            raise ValueError("predict_batch needs point_coords, boxes or "
                             "mask_input with one batch size, got %s" % sizes)
        b = sizes.pop()
        if b == 0:
            raise ValueError("predict_batch needs at least one object")
        prompts = (_engine.Prompt * b)()
        keep = []
        for i in range(b):
            self._prompt(prompts[i], keep,
                         None if pc is None else pc[i],
                         None if pc is None else pl[i],
                         None if bx is None else bx[i],
                         None if mi is None else mi[i],
                         multimask_output)
        res = self._run(prompts, b)
        r0 = res.arr[0]
        n, h, w = r0.n_masks, r0.height, r0.width
        iou = np.empty((b, n), dtype=np.float32)
        low = np.empty((b, n, 256, 256), dtype=np.float32)
        if return_logits:
            masks = np.empty((b, n, h, w), dtype=np.float32)
        else:
            masks = np.empty((b, n, h, w), dtype=np.bool_)
        for i in range(b):
            r = res.arr[i]
            iou[i] = r.scores[:n]
            low[i] = _engine.view(res, ctypes.cast(r.lowres_logits, ctypes.c_void_p).value,
                                  (n, 256, 256), np.float32)
            if return_logits:
                self._upscale(r, masks[i])
            else:
                u8 = _engine.view(res, ctypes.cast(r.masks, ctypes.c_void_p).value,
                                  (n, h, w), np.uint8)
                np.not_equal(u8, 0, out=masks[i])
        return masks, iou, low

    def get_image_embedding(self):
        """The image embedding, 1x256x64x64 float32 (a numpy array)."""
        if not self.is_image_set:
            raise RuntimeError(
                "An image must be set with .set_image(...) to generate an embedding.")
        if self.features is None:
            out = np.empty((1, 256, 64, 64), dtype=np.float32)
            _engine.embedding_data(self._emb.ptr, out.ctypes.data)
            self.features = out
        return self.features

    def reset_image(self):
        """Resets the currently set image."""
        self.is_image_set = False
        self.features = None
        self._emb = None
        self.original_size = None
        self.input_size = None
        self.orig_h = None
        self.orig_w = None
        self.input_h = None
        self.input_w = None
