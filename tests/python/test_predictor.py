"""SamPredictor against the fixture pack's references (the official
mobile_sam on the same synthetic weights): every prompt case of every image,
low-res logits max |diff| <= 1e-4, predicted IoU |diff| <= 1e-4, each mask
IoU >= 0.995 with the reference PNG; the official shapes and dtypes; the
embedding; BGR input; saved embeddings; return_logits."""
import os

import numpy as np
import pytest

from conftest import image, iou, mask_png

IMAGES = ["zidane", "bus", "picture1", "tiny"]


@pytest.fixture(scope="module", params=IMAGES)
def setup(request, sam, cases, testdata):
    import mobilesam
    name = request.param
    info = cases[name]
    p = mobilesam.SamPredictor(sam)
    img = image(testdata, info["image"])
    p.set_image(img)
    return name, info, p, img


def run_case(p, case, prev):
    mm = case["multimask"]
    if "batch_points" in case or "batch_boxes" in case:
        pts = case.get("batch_points")
        return p.predict_batch(
            point_coords=None if pts is None else np.array(pts, np.float32),
            point_labels=None if pts is None else np.array(case["batch_labels"]),
            boxes=None if "batch_boxes" not in case else np.array(case["batch_boxes"], np.float32),
            multimask_output=mm), True
    mask_input = None
    if "mask_input" in case:
        low = prev[case["mask_input"]][2]
        mask_input = low[case["mask_input_index"]][None, :, :]
    pts = case.get("points")
    out = p.predict(
        point_coords=None if pts is None else np.array(pts, np.float32),
        point_labels=None if pts is None else np.array(case["labels"]),
        box=None if "box" not in case else np.array(case["box"], np.float32),
        mask_input=mask_input, multimask_output=mm)
    return out, False


def test_cases(setup, testdata):
    name, info, p, img = setup
    h, w = info["height"], info["width"]
    assert p.is_image_set
    assert p.original_size == (h, w)
    assert p.input_size == tuple(info["input_size"])
    prev = {}
    worst = [0.0, 0.0, 1.0]
    for case in info["cases"]:
        (masks, scores, low), batched = run_case(p, case, prev)
        prev[case["id"]] = (masks, scores, low)
        ref = np.load(os.path.join(testdata, "refs", name, case["id"] + ".lowres.npy"))
        ref_iou = np.array(case["iou"], np.float32)
        if not batched:
            ref, ref_iou = ref[0], ref_iou[0]
            masks4 = masks[None]
        else:
            masks4 = masks
        c = 3 if case["multimask"] else 1
        assert masks.dtype == np.bool_ and scores.dtype == np.float32
        assert low.dtype == np.float32
        assert low.shape == ref.shape and scores.shape == ref_iou.shape
        assert masks4.shape == (ref.shape[0] if batched else 1, c, h, w)
        d_low = float(np.abs(low - ref).max())
        d_iou = float(np.abs(scores - ref_iou).max())
        assert d_low <= 1e-4, (case["id"], d_low)
        assert d_iou <= 1e-4, (case["id"], d_iou)
        for b in range(masks4.shape[0]):
            for m in range(c):
                q = iou(masks4[b, m], mask_png(testdata, name, case["id"], b, m))
                assert q >= 0.995, (case["id"], b, m, q)
                worst[2] = min(worst[2], q)
        worst[0] = max(worst[0], d_low)
        worst[1] = max(worst[1], d_iou)
    print("%s: max |lowres diff| %.2e, max |iou diff| %.2e, min mask IoU %.5f"
          % (name, *worst))


def test_embedding(setup, testdata):
    name, info, p, img = setup
    emb = p.get_image_embedding()
    assert emb.shape == (1, 256, 64, 64) and emb.dtype == np.float32
    path = os.path.join(testdata, "refs", name, "embedding.npy")
    if os.path.exists(path):
        assert float(np.abs(emb - np.load(path)).max()) <= 1e-3


def test_logits_and_saved_embedding(setup, sam):
    import mobilesam
    name, info, p, img = setup
    case = info["cases"][0]
    pts, lab = np.array(case["points"], np.float32), np.array(case["labels"])
    masks, scores, low = p.predict(pts, lab, multimask_output=True)
    logits, s2, low2 = p.predict(pts, lab, multimask_output=True, return_logits=True)
    assert logits.dtype == np.float32 and logits.shape == masks.shape
    assert np.array_equal(logits > sam.mask_threshold, masks)
    assert np.array_equal(scores, s2) and np.array_equal(low, low2)
    q = mobilesam.SamPredictor(sam)
    q.set_image_embedding(p.get_image_embedding(), p.original_size)
    m3, s3, l3 = q.predict(pts, lab, multimask_output=True)
    assert np.array_equal(m3, masks) and np.array_equal(s3, scores)
    assert np.array_equal(l3, low)
    q.reset_image()
    assert not q.is_image_set and q.original_size is None
    with pytest.raises(RuntimeError):
        q.get_image_embedding()


def test_bgr(sam, testdata):
    import mobilesam
    img = image(testdata, "tiny.png")
    a, b = mobilesam.SamPredictor(sam), mobilesam.SamPredictor(sam)
    a.set_image(img)
    b.set_image(np.ascontiguousarray(img[:, :, ::-1]), image_format="BGR")
    assert np.array_equal(a.get_image_embedding(), b.get_image_embedding())
