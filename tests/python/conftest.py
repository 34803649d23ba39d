"""pytest set-up for the Python package's tests (tests/python).

The package is imported from the source tree (src/python) and the engine
library from MOBILESAM_LIB (ctest sets both), unless MOBILESAM_TEST_INSTALLED
is set: then the installed package is tested. Tests that need the fixture
pack (MOBILESAM_TESTDATA) are skipped with the reason without it, and the
run then exits 77, which ctest shows as "skipped", never as passed.
"""
import json
import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("MOBILESAM_SOURCE_DIR",
                            os.path.dirname(os.path.dirname(HERE)))
TESTDATA = os.environ.get("MOBILESAM_TESTDATA")
if not os.environ.get("MOBILESAM_TEST_INSTALLED"):
    sys.path.insert(0, os.path.join(SOURCE_DIR, "src", "python"))
sys.dont_write_bytecode = True

NO_TESTDATA = "MOBILESAM_TESTDATA is unset: the fixture pack is needed"


def pytest_sessionfinish(session, exitstatus):
    if not TESTDATA and exitstatus == 0:
        print("\n" + NO_TESTDATA + ": tests skipped (exit 77)")
        session.exitstatus = 77


@pytest.fixture(scope="session")
def testdata():
    if not TESTDATA:
        pytest.skip(NO_TESTDATA)
    return TESTDATA


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("cache"))
    os.environ["MOBILESAM_CACHE"] = d
    return d


@pytest.fixture(scope="session")
def checkpoint(testdata):
    return os.path.join(testdata, "mobile_sam_synthetic.pt")


@pytest.fixture(scope="session")
def sam(checkpoint, cache_dir):
    import mobilesam
    return mobilesam.sam_model_registry["vit_t"](checkpoint=checkpoint)


@pytest.fixture(scope="session")
def cases(testdata):
    with open(os.path.join(testdata, "refs", "cases.json")) as f:
        return json.load(f)


def image(testdata, name):
    import mobilesam
    return mobilesam.read_image(os.path.join(testdata, "images", name))


def mask_png(testdata, name, case, b, c):
    import mobilesam
    rgb = mobilesam.read_image(os.path.join(
        testdata, "refs", name, "%s.b%d.m%d.png" % (case, b, c)))
    return rgb[:, :, 0] > 127


def iou(a, b):
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else np.logical_and(a, b).sum() / union
