"""Bad inputs raise the documented Python exception (ValueError for bad
images and prompts, RuntimeError for predict before set_image, OSError for
files) with the engine's one-line message, and the interpreter carries on."""
import os

import numpy as np
import pytest

from conftest import image


@pytest.fixture(scope="module")
def pred(sam, testdata):
    import mobilesam
    p = mobilesam.SamPredictor(sam)
    p.set_image(image(testdata, "tiny.png"))  # 97 x 61
    return p


def test_predict_before_set_image(sam):
    import mobilesam
    p = mobilesam.SamPredictor(sam)
    with pytest.raises(RuntimeError, match="set_image"):
        p.predict(np.array([[1, 1]]), np.array([1]))
    with pytest.raises(RuntimeError, match="set_image"):
        p.predict_batch(np.array([[[1, 1]]]), np.array([[1]]))
    with pytest.raises(RuntimeError):
        p.get_image_embedding()


@pytest.mark.parametrize("bad", [
    np.zeros((10, 10, 3), np.float32),          # wrong dtype
    np.zeros((10, 10, 3), np.int64),
    np.zeros((10, 10), np.uint8),               # wrong shape
    np.zeros((10, 10, 4), np.uint8),
    np.zeros((0, 10, 3), np.uint8),             # empty
])
def test_bad_images(sam, bad):
    import mobilesam
    p = mobilesam.SamPredictor(sam)
    with pytest.raises(ValueError):
        p.set_image(bad)
    assert not p.is_image_set
    with pytest.raises(ValueError):
        mobilesam.SamAutomaticMaskGenerator(sam, points_per_side=2).generate(bad)


def test_bad_image_type_and_format(sam):
    import mobilesam
    p = mobilesam.SamPredictor(sam)
    with pytest.raises(TypeError):
        p.set_image([[[0, 0, 0]]])
    with pytest.raises(ValueError, match="image_format"):
        p.set_image(np.zeros((4, 4, 3), np.uint8), image_format="HSV")


def test_bad_prompts(pred):
    cases = [
        dict(point_coords=np.array([[10, 10]])),                 # no labels
        dict(point_coords=np.array([[10, 10]]), point_labels=np.array([1, 1])),
        dict(point_coords=np.array([10, 10, 3]), point_labels=np.array([1])),
        dict(point_coords=np.array([[500, 10]]), point_labels=np.array([1])),  # outside
        dict(point_coords=np.array([[10, 10]]), point_labels=np.array([2])),
        dict(point_coords=np.array([[np.nan, 10]]), point_labels=np.array([1])),
        dict(box=np.array([50, 10, 20, 30])),                    # x1 < x0
        dict(box=np.array([1, 2, 3])),
        dict(box=np.array([[1, 2, 3, 4], [1, 2, 3, 4]])),
        dict(mask_input=np.zeros((1, 64, 64), np.float32),
             point_coords=np.array([[10, 10]]), point_labels=np.array([1])),
        dict(),                                                   # nothing
        dict(mask_input=np.zeros((1, 256, 256), np.float32)),     # mask only
    ]
    for kw in cases:
        with pytest.raises(ValueError) as e:
            pred.predict(**kw)
        assert str(e.value) and "\n" not in str(e.value), kw
    # the engine's own message comes through
    with pytest.raises(ValueError, match="outside"):
        pred.predict(np.array([[500, 10]]), np.array([1]))
    # and the predictor still works afterwards
    masks, scores, low = pred.predict(np.array([[10, 10]]), np.array([1]))
    assert masks.shape == (3, 61, 97)


def test_bad_batches(pred):
    with pytest.raises(ValueError):
        pred.predict_batch()
    with pytest.raises(ValueError):
        pred.predict_batch(np.zeros((2, 1, 2)), np.ones((3, 1)))
    with pytest.raises(ValueError):
        pred.predict_batch(np.zeros((2, 1, 2)), np.ones((2, 1)),
                           boxes=np.zeros((3, 4)))
    with pytest.raises(ValueError):
        pred.predict_batch(np.zeros((1, 2)), np.ones((1,)))


def test_files(tmp_path, cache_dir):
    import mobilesam
    reg = mobilesam.sam_model_registry
    with pytest.raises(FileNotFoundError):
        reg["vit_t"](checkpoint=str(tmp_path / "missing.pt"))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(OSError) as e:
        reg["vit_t"](checkpoint=str(junk))
    assert "\n" not in str(e.value) and str(e.value)
    bad = tmp_path / "bad.msam"
    bad.write_bytes(b"MOBISAM\0" + b"\0" * 100)
    with pytest.raises(OSError) as e:
        reg["vit_t"](checkpoint=str(bad))
    assert str(e.value)
    with pytest.raises(ValueError):
        reg["vit_t"]()
    with pytest.raises(NotImplementedError):
        reg["vit_h"](checkpoint=str(junk))
    with pytest.raises(OSError):
        mobilesam.read_image(str(junk))


def test_generator_options(sam):
    import mobilesam
    from mobilesam.utils.amg import build_all_layer_point_grids
    G = mobilesam.SamAutomaticMaskGenerator
    with pytest.raises(ValueError):
        G(sam, output_mode="polygons")
    with pytest.raises(ValueError):
        G(sam, points_per_side=None)
    with pytest.raises(ValueError):
        G(sam, points_per_side=8, point_grids=build_all_layer_point_grids(8, 0, 1))
    g = G(sam, points_per_side=None, point_grids=build_all_layer_point_grids(8, 1, 2),
          crop_n_layers=1, crop_n_points_downscale_factor=2)
    assert g.points_per_side == 8
    with pytest.raises(NotImplementedError):
        G(sam, points_per_side=None, point_grids=[np.random.rand(10, 2)])
