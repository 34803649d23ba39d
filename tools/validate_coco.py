#!/usr/bin/env python3
"""Validate mobilesam COCO output with the official pycocotools.

  validate_coco.py ANNOTATIONS_JSON PNG_DIR     # 'mobilesam batch --format png,coco'
  validate_coco.py MASKS_JSON PNG_DIR           # 'mobilesam everything --format png,json'

The kind is detected from the JSON (dict with images/annotations = batch COCO,
list of records = SamAutomaticMaskGenerator records, PNGs mask_<i>.png).
pycocotools is imported from $PYCOCOTOOLS_DIR (default /tmp/coco_build/PythonAPI),
or from the installed package. Without PyPI it builds from the official source
(github.com/cocodataset/cocoapi, checked with commit 8c9bcc3):
  apt-get install -y cython3 python3-dev python3-numpy python3-matplotlib python3-pil
  cd cocoapi/PythonAPI && /usr/bin/python3 setup.py build_ext --inplace
then run this script with that python (/usr/bin/python3 on Debian).
Checks: COCO() loads the file; every RLE decodes (pycocotools.mask.decode) to
exactly its PNG; mask.area / mask.toBbox equal area / bbox (the generator's
records: SAM's inclusive-max bbox); loadRes accepts the annotations; COCOeval
of the file against itself gives AP 1.  Exit status 0 = all checks passed.
"""
import copy, io, json, os, sys, contextlib

sys.path.insert(0, os.environ.get("PYCOCOTOOLS_DIR", "/tmp/coco_build/PythonAPI"))
import numpy as np
from PIL import Image
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from pycocotools import mask as mu

if not hasattr(np, "float"):  # cocoapi 2020 uses np.float (removed in numpy 1.24)
    np.float = float

FAIL = []


def fail(msg):
    FAIL.append(msg)
    if len(FAIL) <= 20:
        print("FAIL:", msg)


def load_png(path):
    a = np.array(Image.open(path))
    if a.ndim != 2:
        fail(f"{path}: not single-channel (shape {a.shape})")
        a = a[..., 0]
    vals = set(np.unique(a).tolist())
    if not vals <= {0, 255}:
        fail(f"{path}: values other than 0/255: {sorted(vals)[:8]}")
    return (a > 127).astype(np.uint8)


def canonical_counts(m):
    """Uncompressed COCO RLE of a binary mask: column-major runs, starting with 0s."""
    f = m.flatten(order="F")
    counts, cur, n = [], 0, 0
    for v in np.concatenate([f, [2]]):
        if v == cur:
            n += 1
        else:
            counts.append(n)
            if v == 2:
                break
            cur, n = v, 1
    return counts


def check_rle(tag, seg, h, w, png, area, bbox, bbox_mode):
    """seg: the JSON segmentation; png: 0/1 mask. Returns the compressed RLE."""
    if seg.get("size") != [h, w]:
        fail(f"{tag}: size {seg.get('size')} != [{h}, {w}]")
    cnt = seg["counts"]
    if isinstance(cnt, list):
        if sum(cnt) != h * w:
            fail(f"{tag}: sum(counts) {sum(cnt)} != h*w {h*w}")
        if any((not isinstance(c, int)) or c < 0 for c in cnt):
            fail(f"{tag}: counts not non-negative ints")
        rle = mu.frPyObjects(seg, h, w)  # official uncompressed -> compressed
    else:
        rle = {"size": seg["size"], "counts": cnt.encode() if isinstance(cnt, str) else cnt}
    dec = mu.decode(rle)
    if dec.shape != png.shape:
        fail(f"{tag}: decoded shape {dec.shape} != PNG {png.shape}")
        return rle
    nd = int((dec != png).sum())
    if nd:
        fail(f"{tag}: decoded RLE differs from PNG in {nd} pixels")
    ref = mu.encode(np.asfortranarray(png))
    if ref["counts"] != rle["counts"]:
        fail(f"{tag}: RLE not canonical (re-encoding the PNG gives other counts)")
    if isinstance(cnt, list) and cnt != canonical_counts(png):
        fail(f"{tag}: uncompressed counts differ from the PNG's canonical runs")
    a = int(mu.area(rle))
    if area != a:
        fail(f"{tag}: area {area} != mask.area {a}")
    tb = mu.toBbox(rle).tolist()
    if bbox_mode == "sam" and a > 0:  # SAM: xyxy with inclusive max, then w = x1 - x0
        tb = [tb[0], tb[1], tb[2] - 1, tb[3] - 1]
    if [float(x) for x in bbox] != [float(x) for x in tb]:
        fail(f"{tag}: bbox {bbox} != toBbox {tb} ({bbox_mode} convention)")
    return rle


def quiet(fn, *a):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        r = fn(*a)
    return r, buf.getvalue()


def check_batch(path, pngdir):
    coco, _ = quiet(COCO, path)  # format check: images / annotations / categories index
    ds = coco.dataset
    for k in ("images", "annotations", "categories"):
        if k not in ds:
            fail(f"missing top-level '{k}'")
    anns = ds["annotations"]
    ids = [a["id"] for a in anns]
    if len(set(ids)) != len(ids):
        fail("duplicate annotation ids")
    if len({i["id"] for i in ds["images"]}) != len(ds["images"]):
        fail("duplicate image ids")
    cats = {c["id"] for c in ds["categories"]}
    per_img = {}
    for a in anns:
        for k in ("id", "image_id", "category_id", "segmentation", "area", "bbox", "iscrowd", "score"):
            if k not in a:
                fail(f"ann {a.get('id')}: missing '{k}'")
        if a["image_id"] not in coco.imgs:
            fail(f"ann {a['id']}: unknown image_id {a['image_id']}")
        if a["category_id"] not in cats:
            fail(f"ann {a['id']}: category {a['category_id']} not in categories")
        if not isinstance(a["score"], (int, float)):
            fail(f"ann {a['id']}: score {a['score']!r} not a number")
        elif not 0.0 <= a["score"] <= 1.0:
            print(f"note: ann {a['id']}: score {a['score']} outside [0, 1] (allowed by pycocotools)")
        per_img.setdefault(a["image_id"], []).append(a)
    n = 0
    chosen = {}
    for img_id, lst in per_img.items():
        im = coco.imgs[img_id]
        h, w = im["height"], im["width"]
        stem = os.path.splitext(im["file_name"])[0]
        for obj, a in enumerate(sorted(lst, key=lambda x: x["id"])):
            tag = f"ann {a['id']} ({im['file_name']} object {obj})"
            cands = []
            m = 0
            while os.path.exists(os.path.join(pngdir, f"{stem}_{obj}_{m}.png")):
                cands.append(os.path.join(pngdir, f"{stem}_{obj}_{m}.png"))
                m += 1
            if not cands:
                fail(f"{tag}: no PNG {stem}_{obj}_0.png")
                continue
            rle = coco.annToRLE(a)
            dec = mu.decode(rle)
            pngs = [load_png(c) for c in cands]
            match = [i for i, p in enumerate(pngs) if p.shape == dec.shape and (p == dec).all()]
            pick = match[0] if match else 0
            chosen[a["id"]] = (pick, len(cands))
            check_rle(tag, a["segmentation"], h, w, pngs[pick], a["area"], a["bbox"], "coco")
            n += 1
    multi = [v for v in chosen.values() if v[1] > 1]
    print(f"batch COCO: {len(ds['images'])} images, {len(anns)} annotations, "
          f"{len(ds['categories'])} categories; {n} checked against PNGs"
          + (f"; multimask: picked mask index per object {[v[0] for v in multi]}" if multi else ""))

    # results format: (a) the annotations as written; (b) pure segm results with compressed RLE
    res_raw = [{k: copy.deepcopy(a[k]) for k in ("image_id", "category_id", "segmentation", "score", "bbox")}
               for a in anns]
    try:
        quiet(coco.loadRes, copy.deepcopy(res_raw))
        print("loadRes(annotations as written, with bbox): OK")
    except Exception as e:
        fail(f"loadRes(annotations as written): {type(e).__name__}: {e}")
    segm_only = [{k: v for k, v in r.items() if k != "bbox"} for r in res_raw]
    try:
        quiet(coco.loadRes, copy.deepcopy(segm_only))
        print("loadRes(segmentation-only results, counts as written): OK")
    except Exception as e:
        print(f"note: loadRes(segmentation-only, counts as written) raises {type(e).__name__}: {e} "
              "(pycocotools results need compressed RLE strings)")
    res = []
    for r in segm_only:
        rle = coco.annToRLE(dict(r, image_id=r["image_id"]))
        rle = {"size": rle["size"], "counts": rle["counts"].decode()}
        res.append(dict(r, segmentation=rle))
    dt, _ = quiet(coco.loadRes, res)
    for iou in ("segm", "bbox"):
        ev = COCOeval(coco, dt, iou)
        _, log = quiet(lambda: (ev.evaluate(), ev.accumulate(), ev.summarize()))
        ap, ar = ev.stats[0], ev.stats[8]
        print(f"COCOeval {iou} (GT = results, compressed RLE): AP={ap:.4f} AP50={ev.stats[1]:.4f} AR100={ar:.4f}")
        if abs(ap - 1.0) > 1e-9:
            fail(f"COCOeval {iou} AP {ap} != 1.0")
        if iou == "segm":
            ev2 = COCOeval(coco, quiet(coco.loadRes, copy.deepcopy(res_raw))[0], "segm")
            quiet(lambda: (ev2.evaluate(), ev2.accumulate(), ev2.summarize()))
            print(f"COCOeval segm (results as written, uncompressed RLE + bbox): AP={ev2.stats[0]:.4f}")
            if abs(ev2.stats[0] - 1.0) > 1e-9:
                fail(f"COCOeval segm on results-as-written AP {ev2.stats[0]} != 1.0")


def check_everything(path, pngdir):
    recs = json.load(open(path))
    n = 0
    for i, r in enumerate(recs):
        p = os.path.join(pngdir, f"mask_{i}.png")
        if not os.path.exists(p):
            fail(f"record {i}: no {p}")
            continue
        png = load_png(p)
        h, w = r["segmentation"]["size"]
        for k in ("area", "bbox", "predicted_iou", "point_coords", "stability_score", "crop_box"):
            if k not in r:
                fail(f"record {i}: missing '{k}'")
        check_rle(f"record {i}", r["segmentation"], h, w, png, r["area"], r["bbox"], "sam")
        n += 1
    extra = os.path.join(pngdir, f"mask_{len(recs)}.png")
    if os.path.exists(extra):
        fail(f"stray {extra} beyond the {len(recs)} records")
    print(f"everything records: {len(recs)}, {n} checked against mask_<i>.png "
          "(bbox in SAM's convention: toBbox minus 1 in w and h)")


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    path, pngdir = sys.argv[1], sys.argv[2]
    d = json.load(open(path))
    if isinstance(d, dict):
        check_batch(path, pngdir)
    else:
        check_everything(path, pngdir)
    print(f"{'PASS' if not FAIL else 'FAIL'}: {len(FAIL)} problem(s)")
    return 1 if FAIL else 0


if __name__ == "__main__":
    sys.exit(main())
