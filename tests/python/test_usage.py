"""The official README's usage (ChaoningZhang/MobileSAM, "Getting Started")
run unchanged except for the import, and the README's own Python example;
two threads with a predictor each give what one gives, and the engine
releases the GIL while it computes."""
import os
import re
import threading
import time
import types

import numpy as np
import pytest

from conftest import SOURCE_DIR, image

# The official snippet, verbatim but for `mobile_sam` -> `mobilesam`. Its
# placeholders <your_image> and <input_prompts> are filled in below; it uses
# `torch` without importing it (the official README assumes an earlier
# `import torch`), so a stand-in with cuda.is_available() is provided.
OFFICIAL = '''
from mobilesam import sam_model_registry, SamAutomaticMaskGenerator, SamPredictor

model_type = "vit_t"
sam_checkpoint = "./weights/mobile_sam.pt"

device = "cuda" if torch.cuda.is_available() else "cpu"

mobile_sam = sam_model_registry[model_type](checkpoint=sam_checkpoint)
mobile_sam.to(device=device)
mobile_sam.eval()

predictor = SamPredictor(mobile_sam)
predictor.set_image(<your_image>)
masks, _, _ = predictor.predict(<input_prompts>)
'''

OFFICIAL_AMG = '''
from mobilesam import SamAutomaticMaskGenerator

mask_generator = SamAutomaticMaskGenerator(mobile_sam)
masks = mask_generator.generate(<your_image>)
'''


def test_official_readme(testdata, checkpoint, tmp_path, monkeypatch, cache_dir):
    os.makedirs(tmp_path / "weights")
    os.symlink(checkpoint, tmp_path / "weights" / "mobile_sam.pt")
    monkeypatch.chdir(tmp_path)
    torch = types.SimpleNamespace(cuda=types.SimpleNamespace(is_available=lambda: False))
    ns = {"torch": torch, "your_image": image(testdata, "tiny.png"),
          "input_prompts": (np.array([[40, 30]]), np.array([1]))}
    code = OFFICIAL.replace("<your_image>", "your_image").replace(
        "<input_prompts>", "*input_prompts")
    exec(compile(code, "official-readme", "exec"), ns)
    assert ns["masks"].shape == (3, 61, 97) and ns["masks"].dtype == np.bool_
    exec(compile(OFFICIAL_AMG.replace("<your_image>", "your_image"),
                 "official-readme-amg", "exec"), ns)
    masks = ns["masks"]
    assert isinstance(masks, list)  # the default thresholds keep no noise mask
    for m in masks:
        assert m["segmentation"].shape == (61, 97)


def test_our_readme(testdata, checkpoint, tmp_path, monkeypatch, cache_dir):
    """README.md's Python example, with its checkpoint and image files
    put where it expects them."""
    with open(os.path.join(SOURCE_DIR, "README.md")) as f:
        text = f.read()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    example = [b for b in blocks if "SamPredictor" in b]
    assert example, "README.md has no ```python example with SamPredictor"
    os.makedirs(tmp_path / "weights")
    os.symlink(checkpoint, tmp_path / "weights" / "mobile_sam.pt")
    os.symlink(os.path.join(testdata, "images", "zidane.jpg"),
               tmp_path / "photo.jpg")
    monkeypatch.chdir(tmp_path)
    exec(compile(example[0], "README.md", "exec"), {})


def run(sam, img, pts):
    import mobilesam
    p = mobilesam.SamPredictor(sam)
    p.set_image(img)
    return p.predict_batch(pts, np.ones(pts.shape[:2], np.int32))


def test_two_threads(sam, testdata):
    imgs = [image(testdata, "tiny.png"), image(testdata, "picture1.png")]
    pts = [np.array([[[40, 30]], [[10, 50]]], np.float32),
           np.array([[[400, 300]], [[100, 700]]], np.float32)]
    one = [run(sam, i, p) for i, p in zip(imgs, pts)]
    two = [None, None]

    def work(k):
        two[k] = run(sam, imgs[k], pts[k])
    ts = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in ts:
        t.start()
    # the GIL is free while the engine works: this thread keeps counting
    ticks = 0
    while any(t.is_alive() for t in ts):
        ticks += 1
        time.sleep(0.001)
    for t in ts:
        t.join()
    for a, b in zip(one, two):
        for x, y in zip(a, b):
            assert np.array_equal(x, y)
    assert ticks > 50, ticks
