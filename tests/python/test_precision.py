"""Choosing the precision from Python: sam_model_registry["vit_t"](
checkpoint=..., precision="int8"), Sam.precision (the one this CPU runs),
SamPredictor.precision / .embedding_precision, set_image_embedding(...,
precision=...); bad names raise ValueError; a fallback warns once. The int8
model's results against the official references with the int8 tolerances
(predicted IoU within 0.02, every mask IoU >= 0.95) on every zidane case."""
import os
import warnings

import numpy as np
import pytest

from conftest import image, iou, mask_png
from test_predictor import run_case


@pytest.fixture(scope="module")
def sam_int8(checkpoint, cache_dir):
    import mobilesam
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return mobilesam.sam_model_registry["vit_t"](checkpoint=checkpoint,
                                                     precision="int8")


def test_default_is_fp32(sam):
    import mobilesam
    assert sam.precision == "fp32"
    assert mobilesam.SamPredictor(sam).precision == "fp32"
    assert mobilesam.supported_precision("fp32") == "fp32"


def test_bad_names(checkpoint, cache_dir, sam):
    import mobilesam
    for bad in ("int4", "INT8", "", None, 8):
        with pytest.raises(ValueError, match="precision"):
            mobilesam.sam_model_registry["vit_t"](checkpoint=checkpoint,
                                                  precision=bad)
        with pytest.raises(ValueError, match="precision"):
            mobilesam.supported_precision(bad)
    p = mobilesam.SamPredictor(sam)
    with pytest.raises(ValueError, match="precision"):
        p.set_image_embedding(np.zeros((1, 256, 64, 64), np.float32),
                              (61, 97), precision="bf16")
    assert not p.is_image_set


def test_int8_model(sam_int8, testdata, cases):
    import mobilesam
    used = mobilesam.supported_precision("int8")
    assert sam_int8.precision == used
    assert "precision=" + used in repr(sam_int8)
    if used != "int8":
        print("*** this CPU lacks VNNI: int8 runs the fp32 fallback ***")
    p = mobilesam.SamPredictor(sam_int8)
    assert p.precision == used
    assert p.embedding_precision is None
    info = cases["zidane"]
    p.set_image(image(testdata, info["image"]))
    assert p.embedding_precision == used
    prev, worst_iou, worst_score = {}, 1.0, 0.0
    for case in info["cases"]:
        (masks, scores, low), batched = run_case(p, case, prev)
        prev[case["id"]] = (masks, scores, low)
        m = masks if batched else masks[None]
        s = scores if batched else scores[None]
        ref_iou = np.array(case["iou"])
        assert s.shape == ref_iou.shape, case["id"]
        worst_score = max(worst_score, float(np.abs(s - ref_iou).max()))
        for b in range(m.shape[0]):
            for c in range(m.shape[1]):
                ref = mask_png(testdata, "zidane", case["id"], b, c)
                worst_iou = min(worst_iou, iou(m[b, c], ref))
    print("int8 (%s in use) zidane: worst mask IoU %.5f, worst score |d| %.2e"
          % (used, worst_iou, worst_score))
    assert worst_iou >= 0.95
    assert worst_score <= 0.02
    # a saved embedding keeps the precision it is given
    emb = p.get_image_embedding()
    q = mobilesam.SamPredictor(sam_int8)
    q.set_image_embedding(emb, p.original_size, precision=used)
    assert q.embedding_precision == used
    q.set_image_embedding(emb, p.original_size)
    assert q.embedding_precision == "fp32"


def test_fallback_warns_once(checkpoint, cache_dir):
    import mobilesam
    from mobilesam import _engine
    for wanted in ("fp16", "int8"):
        used = mobilesam.supported_precision(wanted)
        _engine._noticed.discard(wanted)
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            s = mobilesam.sam_model_registry["vit_t"](checkpoint=checkpoint,
                                                      precision=wanted)
            mobilesam.SamPredictor(s)
            mobilesam.sam_model_registry["vit_t"](checkpoint=checkpoint,
                                                  precision=wanted)
        notes = [w for w in got if issubclass(w.category, RuntimeWarning)
                 and "not available here" in str(w.message)]
        assert s.precision == used
        if used == wanted:
            assert notes == []
        else:
            assert len(notes) == 1, [str(w.message) for w in notes]
            assert "%s is not available here" % wanted in str(notes[0].message)
            assert "running %s" % used in str(notes[0].message)
