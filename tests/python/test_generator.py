"""SamAutomaticMaskGenerator against `mobilesam everything` (the engine's
generator through the CLI): the same records, in the same order, for the
three output modes; the RLE helpers against each other."""
import json
import os
import subprocess

import numpy as np
import pytest

from conftest import image

OPTIONS = [
    # (generator kwargs, CLI options, output modes compared). No crop layers
    # here: each crop is one more encode, and the CLI tests cover crops
    (dict(points_per_side=8, pred_iou_thresh=0.0, stability_score_thresh=0.0),
     ["--points-per-side", "8", "--pred-iou-thresh", "0",
      "--stability-score-thresh", "0"],
     ("uncompressed_rle", "binary_mask", "coco_rle")),
    (dict(points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0,
          box_nms_thresh=0.5, min_mask_region_area=20, points_per_batch=7),
     ["--points-per-side", "4", "--pred-iou-thresh", "0",
      "--stability-score-thresh", "0", "--points-per-batch", "7",
      "--box-nms-thresh", "0.5", "--min-mask-region-area", "20"],
     ("uncompressed_rle",)),
]


def cli_bin():
    b = os.environ.get("MOBILESAM_BIN")
    if not b:
        here = os.path.dirname(os.path.abspath(__file__))
        b = os.path.join(here, "..", "..", "build", "mobilesam")
    if not os.path.exists(b):
        pytest.skip("the mobilesam CLI is not built (MOBILESAM_BIN)")
    return b


@pytest.mark.parametrize("kw,args,modes", OPTIONS)
def test_against_everything(sam, testdata, tmp_path, kw, args, modes):
    import mobilesam
    from mobilesam.utils.amg import (area_from_rle, rle_to_mask,
                                     string_to_rle_counts)
    path = os.path.join(testdata, "images", "tiny.png")
    out = tmp_path / "out"
    subprocess.run([cli_bin(), "everything", path, "-o", str(out), "--format",
                    "json", "-w", sam.weights_path, *args], check=True,
                   stdout=subprocess.DEVNULL)
    with open(out / "masks.json") as f:
        ref = json.load(f)
    assert len(ref) > 0
    img = image(testdata, "tiny.png")
    recs = {}
    for mode in modes:
        g = mobilesam.SamAutomaticMaskGenerator(sam, output_mode=mode, **kw)
        recs[mode] = g.generate(img)
        assert len(recs[mode]) == len(ref), mode
    for i, r in enumerate(ref):
        u = recs["uncompressed_rle"][i]
        assert sorted(u) == sorted(r) == sorted(
            ["segmentation", "area", "bbox", "predicted_iou", "point_coords",
             "stability_score", "crop_box"])
        assert u["segmentation"] == r["segmentation"]
        assert u["area"] == r["area"] == area_from_rle(u["segmentation"])
        assert u["bbox"] == r["bbox"] and u["crop_box"] == r["crop_box"]
        assert np.allclose(u["point_coords"], r["point_coords"], atol=1e-3)
        assert abs(u["predicted_iou"] - r["predicted_iou"]) <= 1e-5
        assert abs(u["stability_score"] - r["stability_score"]) <= 1e-5
        if len(modes) == 1:
            continue
        b = recs["binary_mask"][i]["segmentation"]
        assert b.dtype == np.bool_ and b.shape == img.shape[:2]
        assert np.array_equal(b, rle_to_mask(u["segmentation"]))
        assert int(b.sum()) == u["area"]
        c = recs["coco_rle"][i]["segmentation"]
        assert c["size"] == [img.shape[0], img.shape[1]]
        assert isinstance(c["counts"], str)
        assert string_to_rle_counts(c["counts"]) == u["segmentation"]["counts"]
        for k in ("area", "bbox", "predicted_iou", "point_coords",
                  "stability_score", "crop_box"):
            assert recs["coco_rle"][i][k] == u[k] == recs["binary_mask"][i][k]


def test_coco_string():
    """pycocotools' encoding (rleToString in maskApi.c); the expected strings
    are hand-traced through that C function (pycocotools is not here)."""
    from mobilesam.utils.amg import (coco_encode_rle, mask_to_rle,
                                     rle_to_string, string_to_rle_counts)
    # mask_utils.encode(np.asfortranarray([[0,1],[1,1]], np.uint8))
    assert rle_to_string([1, 3]) == "13"
    # a run > 31 (two characters), a difference to the count two back that
    # is positive (20 - 0) and one that is negative (5 - 100)
    assert rle_to_string([0, 100, 20, 5]) == "0T3d0QM"
    counts = [5, 1000, 3, 70000, 1, 2, 900]
    assert string_to_rle_counts(rle_to_string(counts)) == counts
    m = np.zeros((5, 7), np.uint8)
    m[1:3, 2:6] = 1
    rle = mask_to_rle(m)
    assert rle["size"] == [5, 7] and sum(rle["counts"]) == 35
    assert coco_encode_rle(rle)["counts"] == rle_to_string(rle["counts"])
