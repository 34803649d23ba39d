#!/usr/bin/env python3
"""test_web.py - the page of `mobilesam serve` in a real browser.

Starts `mobilesam serve` on a folder with the fixture images (and --output),
drives headless Chromium (Debian's chromium + chromium-driver, through
python3-selenium) with real mouse moves, clicks and keys, as a person would,
and checks what the page draws and sends against the API and `mobilesam seg`:
hover (coalesced: the latest position wins), the click at (900, 370) on zidane
(page coordinates converted with the display scale, then at 100% zoom),
negative clicks and a box, multimask and refine, undo, keep two objects,
save (files under --output), export PNG / COCO / YOLO, copy as command (run,
masks compared), folder mode switching, the token, error messages, a
screenshot (BUILD_DIR/test_web_page.png), and the click-to-mask latency
(median of 20 clicks, with `mobilesam bench`'s decoder time of the same
sitting). The browser console must stay free of errors.

Skipped (exit 77) only when MOBILESAM_TESTDATA is unset. Without Chromium,
chromedriver or selenium it FAILS with one line naming what is missing
(scripts/setup-browser.sh installs them).
"""
import io
import json
import os
import queue
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("MOBILESAM_SOURCE_DIR", os.path.dirname(HERE))
TESTDATA = os.environ.get("MOBILESAM_TESTDATA")
BIN = os.environ.get("MOBILESAM_BIN", os.path.join(SOURCE_DIR, "build", "mobilesam"))
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")
WAIT = float(os.environ.get("MOBILESAM_WEB_WAIT", "60"))  # generous: loaded 2-core CI

if not TESTDATA:
    print("test_web: skipped: MOBILESAM_TESTDATA is unset (the fixture pack)")
    sys.exit(77)


def missing(what):
    print(f"test_web: FAILED: {what}: run scripts/setup-browser.sh "
          "(apt-get install chromium chromium-driver python3-selenium)")
    sys.exit(1)


try:
    import selenium  # noqa: F401
except ImportError:
    # Debian's python3-selenium is for the system interpreter; ctest may run
    # another one (pyenv, a venv): go on under /usr/bin/python3.
    syspy = "/usr/bin/python3"
    if os.path.exists(syspy) and os.path.realpath(sys.executable) != os.path.realpath(syspy) \
            and not os.environ.get("TEST_WEB_REEXEC"):
        os.environ["TEST_WEB_REEXEC"] = "1"
        os.execv(syspy, [syspy] + sys.argv)
    missing("python3-selenium is not installed")
for exe, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
    if not os.access(exe, os.X_OK):
        missing(f"{exe} not found (Debian package {pkg})")

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException, WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.actions.action_builder import ActionBuilder  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

IMAGES = os.path.join(TESTDATA, "images")
ZIDANE_POINT = (900, 370)


# ---- small helpers: PNG reading, RLE ------------------------------------

def read_png(data):
    """(width, height, rows) of an 8-bit PNG (gray, gray+alpha, RGB, RGBA);
    rows are bytes of the first channel."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, typ = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if typ == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", chunk[:10])
            if depth != 8 or ctype not in (0, 2, 4, 6) or chunk[12]:
                raise ValueError(f"PNG depth {depth} type {ctype} interlace {chunk[12]}")
            bpp = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
        elif typ == b"IDAT":
            idat += chunk
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line[0::bpp]))
        prev = line
    return w, h, rows


def write_png(path, w, h):
    """An 8-bit gray PNG of w x h: soft shapes, so that masks have edges."""
    raw = bytearray()
    for y in range(h):
        raw.append(0)
        raw += bytes(((x // 97) * 37 + (y // 89) * 53 + ((x * y) >> 14)) & 255 for x in range(w))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(bytes(raw), 6)) + chunk(b"IEND", b""))


def png_rle(data):
    """COCO uncompressed RLE (column-major, zeros first) of a 0/255 PNG mask."""
    try:  # fast where numpy and Pillow exist; the same result without them
        import numpy as np
        from PIL import Image
        a = np.array(Image.open(io.BytesIO(data)))
        if a.ndim == 3:
            a = a[..., 0]
        f = (a.flatten(order="F") > 127).astype(np.int8)
        edges = np.flatnonzero(np.diff(f)) + 1
        counts = np.diff(np.concatenate([[0], edges, [f.size]])).tolist()
        if f.size and f[0]:
            counts = [0] + counts
        return {"size": [int(a.shape[0]), int(a.shape[1])], "counts": counts}
    except ImportError:
        pass
    w, h, rows = read_png(data)
    counts, cur, n = [], 0, 0
    for x in range(w):
        for y in range(h):
            v = 1 if rows[y][x] > 127 else 0
            if v == cur:
                n += 1
            else:
                counts.append(n)
                cur, n = v, 1
    counts.append(n)
    return {"size": [h, w], "counts": counts}


def rle_area(rle):
    return sum(rle["counts"][1::2])


def same_rle(a, b):
    """Masks equal (trailing zero-length runs aside)."""
    def norm(c):
        c = list(c)
        while len(c) > 1 and c[-1] == 0:
            c.pop()
        return c
    return list(a["size"]) == list(b["size"]) and norm(a["counts"]) == norm(b["counts"])


# JavaScript run in the page: the drawn pixels of a canvas (alpha > 0) as
# COCO RLE, i.e. what the user sees, read back from the canvas itself.
READ_CANVAS = """
const c = document.getElementById(arguments[0]);
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
const w = c.width, h = c.height, counts = [];
let cur = 0, n = 0;
for (let x = 0; x < w; x++) for (let y = 0; y < h; y++) {
  const v = d[(y * w + x) * 4 + 3] > 0 ? 1 : 0;
  if (v === cur) n++; else { counts.push(n); cur = v; n = 1; }
}
counts.push(n);
return {size: [h, w], counts: counts};
"""


def die_with_parent():
    """preexec_fn: the child gets SIGTERM when this test dies, even by
    SIGKILL (a ctest timeout), so that no server or browser outlives it."""
    try:
        import ctypes
        import signal
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Server:
    """`mobilesam serve` on a free loopback port."""

    def __init__(self, args, env=None):
        self.proc = subprocess.Popen([BIN, "serve", "--port", "0", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env, preexec_fn=die_with_parent)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(l) for l in self.proc.stdout], daemon=True).start()
        self.errlog = []
        threading.Thread(target=lambda: [self.errlog.append(l) for l in self.proc.stderr], daemon=True).start()
        deadline = time.time() + WAIT
        self.url = None
        while time.time() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if "listening on " in line:
                self.url = line.split("listening on ", 1)[1].strip()
                break
        if not self.url:
            self.stop()
            raise AssertionError("mobilesam serve did not start: " + "".join(self.errlog)[-2000:])
        if not self.url.endswith("/"):
            self.url += "/"

    def request(self, method, path, body=None, token=None, raw=False):
        data = None
        headers = {}
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = "Bearer " + token
        req = urllib.request.Request(self.url + path.lstrip("/"), data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=WAIT) as r:
            out = r.read()
        return out if raw else json.loads(out)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


class WebPage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t_start = time.time()
        cls.tmp = tempfile.mkdtemp(prefix="msam-web-")
        cls.weights = os.path.join(cls.tmp, "w.msam")
        subprocess.run([sys.executable, os.path.join(SOURCE_DIR, "tools", "convert.py"),
                        os.path.join(TESTDATA, "mobile_sam_synthetic.pt"), "-o", cls.weights],
                       check=True, stdout=subprocess.DEVNULL)
        cls.env = dict(os.environ, MOBILESAM_WEIGHTS=cls.weights)
        cls.imgdir = os.path.join(cls.tmp, "images")
        os.mkdir(cls.imgdir)
        for f in ("bus.jpg", "zidane.jpg"):
            shutil.copy(os.path.join(IMAGES, f), cls.imgdir)
        cls.outdir = os.path.join(cls.tmp, "out")
        cls.dldir = os.path.join(cls.tmp, "downloads")
        os.mkdir(cls.dldir)
        cls.builddir = os.path.dirname(os.path.abspath(BIN))
        cls.server = Server([cls.imgdir, "-w", cls.weights, "--output", cls.outdir], env=cls.env)
        cls.driver = None
        try:
            cls.driver = cls.start_browser()
        except WebDriverException as e:
            cls.server.stop()
            print(f"test_web: FAILED: Chromium does not start: {str(e).splitlines()[0]}")
            raise

    @classmethod
    def start_browser(cls):
        o = webdriver.ChromeOptions()
        o.binary_location = CHROMIUM
        setpriv = shutil.which("setpriv")
        if setpriv:  # the browser too dies with chromedriver (which dies with the test)
            wrapper = os.path.join(cls.tmp, "chromium")
            with open(wrapper, "w") as f:
                f.write(f"#!/bin/sh\nexec {setpriv} --pdeathsig TERM {CHROMIUM} \"$@\"\n")
            os.chmod(wrapper, 0o755)
            o.binary_location = wrapper
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                  "--window-size=1280,720", "--no-first-run", "--disable-extensions"):
            o.add_argument(a)
        o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        o.add_experimental_option("prefs", {"download.default_directory": cls.dldir,
                                            "download.prompt_for_download": False,
                                            "profile.default_content_setting_values.automatic_downloads": 1})
        try:
            service = Service(CHROMEDRIVER, popen_kw={"preexec_fn": die_with_parent})
        except TypeError:
            service = Service(CHROMEDRIVER)
        d = webdriver.Chrome(service=service, options=o)
        d.set_script_timeout(WAIT)
        try:
            d.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": cls.dldir})
        except WebDriverException:
            d.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": cls.dldir})
        # The page gets a 1280x720 viewport (the window's frame aside).
        for _ in range(3):
            iw, ih = d.execute_script("return [innerWidth, innerHeight]")
            if (iw, ih) == (1280, 720):
                break
            ws = d.get_window_size()
            d.set_window_size(ws["width"] + 1280 - iw, ws["height"] + 720 - ih)
        return d

    @classmethod
    def tearDownClass(cls):
        if cls.driver:
            cls.driver.quit()
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        print(f"test_web: total {time.time() - cls.t_start:.1f} s")

    # ---- page helpers ----------------------------------------------------

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def wait(self, cond, what, timeout=None):
        try:
            return WebDriverWait(self.driver, timeout or WAIT, poll_frequency=0.05).until(lambda d: cond())
        except TimeoutException:
            status = self.js("return document.getElementById('msg').textContent")
            self.fail(f"timed out waiting for {what} (status line: {status!r})")

    def idle(self):
        self.wait(lambda: self.js("return msamDebug.idle()"), "the page's requests to finish")

    def choose(self, name):
        """Picks an image from the toolbar's list, as a person would."""
        sel = Select(self.driver.find_element(By.ID, "imglist"))
        texts = [o.text.strip().lstrip("\u2713").strip() for o in sel.options]
        sel.select_by_index(texts.index(name))

    def requests(self):
        return self.js("return msamDebug.requests")

    def geometry(self):
        return self.js("const r = document.getElementById('stage').getBoundingClientRect();"
                       "return [r.left, r.top, msamDebug.state().scale]")

    def to_view(self, x, y):
        """Viewport pixel (integers, as the mouse has) nearest to image (x, y),
        and the image pixel the page must compute for it."""
        left, top, s = self.geometry()
        vx, vy = round(left + x * s), round(top + y * s)
        return (vx, vy), (round((vx - left) / s), round((vy - top) / s))

    def pointer(self, duration=50):
        return ActionBuilder(self.driver, duration=duration)

    def move(self, x, y):
        (vx, vy), img = self.to_view(x, y)
        ab = self.pointer()
        ab.pointer_action.move_to_location(vx, vy)
        ab.perform()
        return img

    def click(self, x, y, button="left"):
        (vx, vy), img = self.to_view(x, y)
        ab = self.pointer()
        ab.pointer_action.move_to_location(vx, vy)
        if button == "left":
            ab.pointer_action.click()
        else:
            ab.pointer_action.context_click()
        ab.perform()
        return img

    def drag(self, a, b):
        (ax, ay), ia = self.to_view(*a)
        (bx, by), ib = self.to_view(*b)
        ab = self.pointer()
        ab.pointer_action.move_to_location(ax, ay).pointer_down()
        ab.pointer_action.move_to_location((ax + bx) // 2, (ay + by) // 2)
        ab.pointer_action.move_to_location(bx, by).pointer_up()
        ab.perform()
        return [min(ia[0], ib[0]), min(ia[1], ib[1]), max(ia[0], ib[0]), max(ia[1], ib[1])]

    def key(self, k):
        ActionChains(self.driver).send_keys(k).perform()

    def n_clicks(self):
        return len([r for r in self.requests() if r["kind"] == "click"])

    def wait_click_answer(self, before_latencies):
        self.wait(lambda: self.js("return msamDebug.latencies.length") > before_latencies and
                  self.js("return msamDebug.idle()"), "the mask of a click")

    def current_result(self):
        return self.js("const c = msamDebug.image().cur; return c.res && {res: c.res, pick: c.pick}")

    def drawn(self, canvas="ccur"):
        return self.js(READ_CANVAS, canvas)

    def console_errors(self, allowed=()):
        out = []
        for e in self.driver.get_log("browser"):
            if e["level"] == "SEVERE" and not any(a in e["message"] for a in allowed):
                out.append(e["message"])
        return out

    def seg(self, *args, cwd=None):
        r = subprocess.run([BIN, "seg", *args], cwd=cwd or self.tmp, env=self.env,
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, f"mobilesam seg {' '.join(args)}: {r.stderr}")

    def seg_mask(self, body, name):
        args = [os.path.join(self.imgdir, "zidane.jpg")]
        for p in body.get("points", []):
            args += ["--point", f"{p[0]},{p[1]}"]
        for l in body.get("labels", []):
            args += ["--label", str(l)]
        if "box" in body:
            args += ["--box", ",".join(str(v) for v in body["box"])]
        out = os.path.join(self.tmp, name)
        self.seg(*args, "-o", out)
        with open(out, "rb") as f:
            return png_rle(f.read())

    def downloaded(self, name):
        path = os.path.join(self.dldir, name)
        self.wait(lambda: os.path.exists(path) and not os.path.exists(path + ".crdownload")
                  and os.path.getsize(path) > 0, f"the download {name}")
        with open(path, "rb") as f:
            return f.read()

    # ---- the test --------------------------------------------------------

    def test_page(self):
        d, srv = self.driver, self.server
        step_t = time.time()

        def step(name):
            nonlocal step_t
            now = time.time()
            print(f"test_web: {name} ({now - step_t:.1f} s)", flush=True)
            step_t = now

        # -- the page opens, fits 1280x720, lists the folder
        d.get(srv.url)
        self.wait(lambda: self.js("return document.body.dataset.ready") in ("1", "error"), "the page to start")
        self.assertEqual(self.js("return document.body.dataset.ready"), "1",
                         self.js("return document.getElementById('msg').textContent"))
        self.assertEqual(self.js("return [innerWidth, innerHeight]"), [1280, 720])
        self.assertLessEqual(self.js("return document.documentElement.scrollWidth"), 1280, "horizontal scrolling at 1280x720")
        for bid in ("file", "imglist", "keep", "undo", "clear", "everything", "save", "expcoco", "copycmd"):
            r = self.js("const e = document.getElementById(arguments[0]);"
                        "const r = (e.type === 'file' ? e.parentElement : e).getBoundingClientRect();"
                        "return [r.left, r.top, r.right, r.bottom]", bid)
            self.assertTrue(r[0] >= 0 and r[1] >= 0 and r[2] <= 1280 and r[3] <= 720, f"#{bid} outside 1280x720: {r}")
        opts = [o.text.strip() for o in Select(d.find_element(By.ID, "imglist")).options]
        self.assertEqual(opts, ["(pick an image)", "bus.jpg", "zidane.jpg"])
        step("page open, folder listed")

        # -- load zidane from the folder list (folder mode)
        self.choose("zidane.jpg")
        self.wait(lambda: self.js("return msamDebug.opened") == "zidane.jpg", "zidane to open")
        left, top, scale = self.geometry()
        self.assertLess(scale, 1.0, "zidane (1280x720) should be zoomed to fit the 1280x720 window")
        sw, sh = self.js("const r = document.getElementById('stage').getBoundingClientRect(); return [r.right, r.bottom]")
        self.assertTrue(left >= 0 and top >= 0 and sw <= 1280 and sh <= 720, "the fitted image leaves the window")
        step(f"zidane open, display scale {scale:.4f}")

        # -- hover: the mask under the cursor; moves coalesced, the latest wins
        moves = [(300 + 15 * i, 200 + 8 * i) for i in range(25)]
        ab = self.pointer(duration=10)
        expect = None
        for (x, y) in moves:
            (vx, vy), expect = self.to_view(x, y)
            ab.pointer_action.move_to_location(vx, vy)
        ab.perform()
        self.wait(lambda: self.js("const s = msamDebug.state(); return msamDebug.idle() && !!s.hoverShown && "
                                  "s.hoverShown.pt[0] === arguments[0] && s.hoverShown.pt[1] === arguments[1]",
                                  *expect), "the hover mask of the last position")
        hovers = [r for r in self.requests() if r["kind"] == "hover"]
        self.assertGreaterEqual(len(hovers), 1)
        self.assertLess(len(hovers), len(moves), "hover requests were not coalesced")
        self.assertEqual(hovers[-1]["body"]["points"], [list(expect)], "the last hover is not the latest position")
        api = srv.request("POST", f"v1/images/{self.js('return msamDebug.state().img.id')}/predict",
                          {"points": [list(expect)], "labels": [1]})
        self.assertTrue(same_rle(self.drawn(), api["masks"][0]["rle"]), "the hover mask drawn differs from the API's")
        step(f"hover: {len(moves)} moves, {len(hovers)} requests, drawn mask = API mask")

        img_id = self.js("return msamDebug.state().img.id")

        # -- click at (900, 370), fit scale: page coordinates -> original pixels
        n_lat = self.js("return msamDebug.latencies.length")
        sent_pt = self.click(*ZIDANE_POINT)
        self.wait_click_answer(n_lat)
        body = [r for r in self.requests() if r["kind"] == "click"][-1]["body"]
        self.assertEqual(body["points"], [list(sent_pt)])
        self.assertEqual(body["labels"], [1])
        self.assertLessEqual(max(abs(sent_pt[0] - 900), abs(sent_pt[1] - 370)), 0.5 / scale + 0.5)
        drawn = self.drawn()
        api = srv.request("POST", f"v1/images/{img_id}/predict", {"points": [list(sent_pt)], "labels": [1]})
        self.assertTrue(same_rle(drawn, api["masks"][0]["rle"]), "drawn mask != API mask")
        self.assertTrue(same_rle(drawn, self.seg_mask(body, "fit.png")), "drawn mask != mobilesam seg mask")
        step(f"click at {sent_pt} (fit): drawn = API = seg ({rle_area(drawn)} px, "
             f"{len(api['masks'][0]['rle']['counts'])} runs)")

        # -- the same at 100% zoom: exactly (900, 370)
        self.key(Keys.ESCAPE)
        Select(d.find_element(By.ID, "zoom")).select_by_visible_text("100%")
        self.js("const v = document.getElementById('view'); v.scrollLeft = 500; v.scrollTop = 100;")
        self.wait(lambda: abs(self.geometry()[2] - 1.0) < 1e-9, "zoom 100%")
        n_lat = self.js("return msamDebug.latencies.length")
        sent_pt = self.click(*ZIDANE_POINT)
        self.assertEqual(tuple(sent_pt), ZIDANE_POINT)
        self.wait_click_answer(n_lat)
        body = [r for r in self.requests() if r["kind"] == "click"][-1]["body"]
        self.assertEqual(body["points"], [list(ZIDANE_POINT)])
        drawn = self.drawn()
        api = srv.request("POST", f"v1/images/{img_id}/predict", {"points": [list(ZIDANE_POINT)], "labels": [1]})
        self.assertTrue(same_rle(drawn, api["masks"][0]["rle"]), "drawn mask != API mask at (900, 370)")
        self.assertTrue(same_rle(drawn, self.seg_mask({"points": [[900, 370]], "labels": [1]}, "p900.png")),
                        "drawn mask != `mobilesam seg --point 900,370` mask")
        Select(d.find_element(By.ID, "zoom")).select_by_visible_text("Fit")
        self.wait(lambda: self.geometry()[2] < 1.0, "zoom to fit")
        step("click at (900, 370) at 100%: drawn = API = seg --point 900,370")

        # -- negative clicks (right, shift) and a box: the requests sent
        n_lat = self.js("return msamDebug.latencies.length")
        neg1 = self.click(700, 300, button="right")
        self.wait_click_answer(n_lat)
        body = [r for r in self.requests() if r["kind"] == "click"][-1]["body"]
        self.assertEqual(body["points"], [[900, 370], list(neg1)])
        self.assertEqual(body["labels"], [1, 0])
        n_lat += 1
        ActionChains(d).key_down(Keys.SHIFT).perform()
        neg2 = self.click(1000, 600)
        ActionChains(d).key_up(Keys.SHIFT).perform()
        self.wait_click_answer(n_lat)
        body = [r for r in self.requests() if r["kind"] == "click"][-1]["body"]
        self.assertEqual(body["labels"], [1, 0, 0], "shift-click is not a negative point")
        self.assertEqual(body["points"][2], list(neg2))
        n_lat += 1
        box = self.drag((600, 100), (1150, 700))
        self.wait_click_answer(n_lat)
        body = [r for r in self.requests() if r["kind"] == "click"][-1]["body"]
        self.assertEqual(body, {"points": [[900, 370], list(neg1), list(neg2)], "labels": [1, 0, 0],
                                "box": box, "multimask": False})
        self.assertEqual(self.js("return document.querySelectorAll('#prompts circle.neg').length"), 2)
        self.assertEqual(self.js("return document.querySelectorAll('#prompts rect:not(.kept)').length"), 1)
        api = srv.request("POST", f"v1/images/{img_id}/predict", body)
        self.assertTrue(same_rle(self.drawn(), api["masks"][0]["rle"]), "drawn mask != API mask (points + box)")
        before = self.n_clicks()
        self.key("z")
        self.wait(lambda: self.js("return document.querySelectorAll('#prompts rect:not(.kept)').length") == 0, "undo of the box")
        self.assertEqual(self.n_clicks(), before, "undo sent a request")
        self.assertEqual(self.js("return msamDebug.image().cur.points.length"), 3)
        step(f"negative clicks {neg1} {neg2} + box {box}: requests as expected; undo")

        # -- multimask: 3 masks with scores, pick one; refine sends mask_input
        n_lat = self.js("return msamDebug.latencies.length")
        self.key("m")
        self.wait_click_answer(n_lat)
        self.assertTrue(self.js("return document.getElementById('multimask').checked"))
        res = self.current_result()
        self.assertEqual(len(res["res"]["masks"]), 3)
        self.assertEqual(len(d.find_elements(By.CSS_SELECTOR, "#candlist .cand")), 3)
        d.find_elements(By.CSS_SELECTOR, "#candlist .cand")[1].click()
        self.wait(lambda: self.js("return msamDebug.image().cur.pick") == 1, "the pick of mask 2")
        self.assertTrue(same_rle(self.drawn(), res["res"]["masks"][1]["rle"]), "picked mask not drawn")
        # the command for a multimask pick names the picked file; run it
        d.find_element(By.ID, "copycmd").click()
        self.wait(lambda: "--multimask" in d.find_element(By.ID, "cmdseg").get_attribute("value"), "the command")
        text = d.find_element(By.ID, "cmdseg").get_attribute("value")
        self.assertIn("mask_0_1.png", text)
        mm = os.path.join(self.tmp, "mm")
        os.mkdir(mm)
        os.symlink(os.path.join(self.imgdir, "zidane.jpg"), os.path.join(mm, "zidane.jpg"))
        for c in [l for l in text.splitlines() if l.startswith("mobilesam seg ")]:
            r = subprocess.run(["bash", "-c", f"{BIN}{c[len('mobilesam'):]}"], cwd=mm, env=self.env,
                               capture_output=True, text=True, timeout=300)
            self.assertEqual(r.returncode, 0, f"{c}: {r.stderr}")
        with open(os.path.join(mm, "mask_0_1.png"), "rb") as f:
            self.assertTrue(same_rle(png_rle(f.read()), res["res"]["masks"][1]["rle"]),
                            "the multimask command's mask_0_1.png != the picked mask")
        d.find_element(By.ID, "refine").click()
        n_lat = self.js("return msamDebug.latencies.length")
        self.click(880, 420)
        self.wait_click_answer(n_lat)
        body = [r for r in self.requests() if r["kind"] == "click"][-1]["body"]
        self.assertEqual(body.get("mask_input"), res["res"]["result"])
        self.assertEqual(body.get("mask_index"), 1)
        self.assertTrue(body["multimask"])
        d.find_element(By.ID, "refine").click()
        self.key("m")
        self.idle()
        self.key(Keys.ESCAPE)
        self.wait(lambda: rle_area(self.drawn()) == 0, "Esc to clear the mask")
        self.assertEqual(self.js("return document.querySelectorAll('#prompts circle:not(.kept)').length"), 0)
        step("multimask: 3 masks, picked #2; refine sent mask_input + mask_index; Esc cleared")

        # -- segment everything
        # (the synthetic weights' noise masks all fail the default thresholds)
        opts = {"points_per_side": 4, "pred_iou_thresh": 0, "stability_score_thresh": 0}
        d.find_element(By.ID, "everyopts").send_keys(json.dumps(opts))
        d.find_element(By.ID, "everything").click()
        self.wait(lambda: self.js("return !!msamDebug.state().every"), "segment everything", timeout=max(WAIT, 240))
        recs = self.js("return msamDebug.state().every")
        n_every = len(recs)
        self.assertGreater(n_every, 0)
        api = srv.request("POST", f"v1/images/{img_id}/everything", opts)
        self.assertEqual([r["segmentation"]["counts"] for r in recs], [r["segmentation"]["counts"] for r in api])
        self.assertGreater(rle_area(self.drawn("cevery")), 0, "everything masks not drawn")
        d.find_element(By.ID, "everything").click()
        self.wait(lambda: rle_area(self.drawn("cevery")) == 0, "everything to hide")
        step(f"everything: {n_every} masks drawn")

        # -- keep two objects, with labels
        kept = []
        for pt, label in ((ZIDANE_POINT, "person"), ((560, 430), "tie")):
            n_lat = self.js("return msamDebug.latencies.length")
            p = self.click(*pt)
            self.wait_click_answer(n_lat)
            kept.append((p, self.current_result()["res"]["masks"][0]))
            self.key(Keys.ENTER)
            self.wait(lambda: self.js("return msamDebug.image().objects.length") == len(kept), "keep")
            inp = d.find_elements(By.CSS_SELECTOR, "#objects input")[-1]
            inp.clear()
            inp.send_keys(label)
            inp.send_keys(Keys.ENTER)
        objs = self.js("return msamDebug.image().objects.map(o => [o.label, o.rle])")
        self.assertEqual([o[0] for o in objs], ["person", "tie"])
        for (lab, rle), (_, m) in zip(objs, kept):
            self.assertTrue(same_rle(rle, m["rle"]))
        self.assertGreater(rle_area(self.drawn("cobj")), 0)
        # a third object, deleted again
        n_lat = self.js("return msamDebug.latencies.length")
        self.click(300, 600)
        self.wait_click_answer(n_lat)
        self.key(Keys.ENTER)
        self.wait(lambda: self.js("return msamDebug.image().objects.length") == 3, "the third object")
        d.find_elements(By.CSS_SELECTOR, "#objects button.del")[2].click()
        self.wait(lambda: self.js("return msamDebug.image().objects.length") == 2, "the delete")
        self.assertEqual(self.js("return msamDebug.image().objects.map(o => o.label)"), ["person", "tie"])
        # the cursor off the image (no hover mask) for the picture
        ab = self.pointer()
        ab.pointer_action.move_to_location(1100, 650)
        ab.perform()
        self.idle()
        self.wait(lambda: rle_area(self.drawn()) == 0, "the hover mask to go")
        self.assertEqual(self.js("return document.querySelectorAll('#prompts circle.kept').length"), 2)
        shot = os.path.join(self.builddir, "test_web_page.png")
        d.save_screenshot(shot)
        with open(shot, "rb") as f:
            head = f.read(24)
        self.assertEqual((head[:8], struct.unpack(">II", head[16:24])), (b"\x89PNG\r\n\x1a\n", (1280, 720)))
        step(f"kept 2 objects; screenshot {shot}")

        # -- save (--output): files written, the folder list marks the image
        d.find_element(By.ID, "save").click()
        self.wait(lambda: self.js("return document.getElementById('msg').textContent").startswith("saved"),
                  "the save")
        saved = []
        for root, _, files in os.walk(self.outdir):
            saved += [os.path.relpath(os.path.join(root, f), self.outdir) for f in files]
        self.assertTrue(saved, "nothing under --output")
        back = srv.request("GET", f"v1/images/{img_id}/annotations")
        self.assertEqual(len(back["objects"]), 2)
        for o, (_, m) in zip(back["objects"], kept):
            self.assertTrue(same_rle(o["rle"], m["rle"]), "saved mask != kept mask")
        self.assertEqual([o["label"] for o in back["objects"]], ["person", "tie"])
        self.wait(lambda: any(o.text.startswith("\u2713") and o.text.endswith("zidane.jpg")
                              for o in Select(d.find_element(By.ID, "imglist")).options),
                  "the saved mark in the list")
        pngs = sorted(f for f in saved if f.endswith(".png"))
        for f in pngs:
            with open(os.path.join(self.outdir, f), "rb") as fh:
                m = png_rle(fh.read())
            self.assertTrue(any(same_rle(m, k[1]["rle"]) for k in kept), f"{f} is none of the kept masks")
        step(f"saved: {sorted(saved)}")

        # -- export: PNG (zip of 2), COCO, YOLO
        d.find_element(By.ID, "exppng").click()
        z = zipfile.ZipFile(io.BytesIO(self.downloaded("zidane_masks.zip")))
        pngdir = os.path.join(self.tmp, "pngs")
        os.mkdir(pngdir)
        self.assertEqual(sorted(z.namelist()), ["zidane_0_0.png", "zidane_1_0.png"])
        for i, name in enumerate(sorted(z.namelist())):
            data = z.read(name)
            with open(os.path.join(pngdir, name), "wb") as f:
                f.write(data)
            self.assertTrue(same_rle(png_rle(data), kept[i][1]["rle"]), f"exported {name} != kept mask")
        d.find_element(By.ID, "expcoco").click()
        coco = json.loads(self.downloaded("zidane_coco.json"))
        self.check_coco(coco, [k[1] for k in kept], pngdir)
        d.find_element(By.ID, "expyolo").click()
        lines = self.downloaded("zidane.txt").decode().splitlines()
        self.assertGreaterEqual(len(lines), 2)
        classes = set()
        for line in lines:
            v = line.split()
            classes.add(int(v[0]))
            self.assertTrue(len(v) >= 7 and len(v) % 2 == 1, line[:80])
            self.assertTrue(all(0.0 <= float(t) <= 1.0 for t in v[1:]), line[:80])
        self.assertEqual(classes, {0, 1})
        with open(os.path.join(self.outdir, "zidane.txt")) as f:
            self.assertEqual("\n".join(lines) + "\n", f.read(), "exported YOLO != the saved (batch writer's) file")
        step(f"export: PNG zip, COCO ({self.coco_checked}), YOLO ({len(lines)} lines)")

        # -- copy as command: run the commands, compare the masks
        d.find_element(By.ID, "copycmd").click()
        self.wait(lambda: d.find_element(By.ID, "cmdbox").is_displayed(), "the commands")
        cmdseg = d.find_element(By.ID, "cmdseg").get_attribute("value")
        cmdjson = d.find_element(By.ID, "cmdjson").get_attribute("value")
        cmdprompts = d.find_element(By.ID, "cmdprompts").get_attribute("value")
        run = os.path.join(self.tmp, "run")
        os.mkdir(run)
        os.symlink(os.path.join(self.imgdir, "zidane.jpg"), os.path.join(run, "zidane.jpg"))
        with open(os.path.join(run, "objects.json"), "w") as f:
            f.write(cmdjson)
        for script in (cmdseg, cmdprompts):
            cmds = [l for l in script.splitlines() if l.strip() and not l.startswith("#")]
            self.assertTrue(cmds, script)
            for c in cmds:
                self.assertTrue(c.startswith("mobilesam seg "), c)
                r = subprocess.run(["bash", "-c", f"{BIN}{c[len('mobilesam'):]}"], cwd=run, env=self.env,
                                   capture_output=True, text=True, timeout=300)
                self.assertEqual(r.returncode, 0, f"{c}: {r.stderr}")
        with open(os.path.join(run, "mask.png"), "rb") as f:
            self.assertTrue(same_rle(png_rle(f.read()), kept[1][1]["rle"]), "the seg command's mask != object 2")
        for i in range(2):
            with open(os.path.join(run, f"obj_{i}_0.png"), "rb") as f:
                self.assertTrue(same_rle(png_rle(f.read()), kept[i][1]["rle"]), f"--prompts mask {i} != object {i + 1}")
        step(f"copy as command: {cmdseg.splitlines()[-1]!r} and --prompts {json.dumps(json.loads(cmdjson))}: masks equal")

        # -- refine: the copied command chain (--logits, --mask-input) gives the mask
        self.key(Keys.ESCAPE)
        d.find_element(By.ID, "refine").click()
        n_lat = self.js("return msamDebug.latencies.length")
        self.click(640, 200)
        self.wait_click_answer(n_lat)
        self.click(660, 230)
        self.wait_click_answer(n_lat + 1)
        body = [r for r in self.requests() if r["kind"] == "click"][-1]["body"]
        self.assertIn("mask_input", body)
        refined = self.current_result()["res"]["masks"][0]["rle"]
        d.find_element(By.ID, "refine").click()
        d.find_element(By.ID, "copycmd").click()
        self.wait(lambda: "--mask-input" in d.find_element(By.ID, "cmdseg").get_attribute("value"),
                  "the refine chain")
        chain = [l for l in d.find_element(By.ID, "cmdseg").get_attribute("value").splitlines()
                 if l.startswith("mobilesam seg ")]
        self.assertEqual(len(chain), 2, chain)
        os.remove(os.path.join(run, "mask.png"))
        for c in chain:
            r = subprocess.run(["bash", "-c", f"{BIN}{c[len('mobilesam'):]}"], cwd=run, env=self.env,
                               capture_output=True, text=True, timeout=300)
            self.assertEqual(r.returncode, 0, f"{c}: {r.stderr}")
        with open(os.path.join(run, "mask.png"), "rb") as f:
            self.assertTrue(same_rle(png_rle(f.read()), refined), "the refine chain's mask != the page's")
        self.key(Keys.ESCAPE)
        step(f"refine chain: {' && '.join(chain)}: mask equal")

        # -- a new page: the saved objects come back from the server
        d.refresh()
        self.wait(lambda: self.js("return document.body.dataset.ready") == "1", "the page to reload")
        self.choose("zidane.jpg")
        self.wait(lambda: self.js("return msamDebug.opened") == "zidane.jpg", "zidane to reopen")
        self.assertEqual(self.js("return msamDebug.image().objects.map(o => o.label)"), ["person", "tie"])
        self.assertTrue(same_rle(self.js("return msamDebug.image().objects[0].rle"), kept[0][1]["rle"]))
        step("reloaded page: the 2 saved objects are back")

        # -- folder mode: n / p switch images, objects stay with their image
        self.key("n")
        self.wait(lambda: self.js("return msamDebug.opened") == "bus.jpg",
                  "n: the next image (bus.jpg)", timeout=max(WAIT, 120))
        self.assertEqual(self.js("return msamDebug.image().objects.length"), 0)
        self.assertEqual(Select(d.find_element(By.ID, "imglist")).first_selected_option.text.strip(), "bus.jpg")
        self.assertEqual(rle_area(self.drawn("cobj")), 0)
        self.key("p")
        self.wait(lambda: self.js("return msamDebug.opened") == "zidane.jpg",
                  "p: back to zidane.jpg")
        self.assertEqual(self.js("return msamDebug.image().objects.length"), 2)
        self.wait(lambda: rle_area(self.drawn("cobj")) > 0, "zidane's objects drawn again")
        step("folder mode: n -> bus.jpg, p -> zidane.jpg with its 2 objects")

        # -- latency: click to mask drawn, 20 clicks (hover off, so that no
        # hover request is in flight when the click comes)
        d.find_element(By.ID, "hover").click()
        lat = []
        for i in range(20):
            self.key(Keys.ESCAPE)
            n_lat = self.js("return msamDebug.latencies.length")
            self.click(700 + 25 * (i % 10), 300 + 30 * (i // 10))
            self.wait_click_answer(n_lat)
            lat.append(self.js("return msamDebug.latencies[msamDebug.latencies.length - 1]"))
        self.key(Keys.ESCAPE)
        d.find_element(By.ID, "hover").click()
        # with hover on, as people use it: the cursor rests, the hover mask
        # shows, then the click (answered by that same request)
        lat_h = []
        for i in range(10):
            self.key(Keys.ESCAPE)
            self.move(720 + 25 * i, 420)
            self.wait(lambda: self.js("const s = msamDebug.state(); return msamDebug.idle() && !!s.hoverShown"
                                      " && s.hoverShown.epoch === s.epoch"), "the hover mask")
            n_lat = self.js("return msamDebug.latencies.length")
            ab = self.pointer()
            ab.pointer_action.click()
            ab.perform()
            self.wait_click_answer(n_lat)
            lat_h.append(self.js("return msamDebug.latencies[msamDebug.latencies.length - 1]"))
        self.key(Keys.ESCAPE)
        self.assertTrue(all(x["via_hover"] for x in lat_h), "a click on the hovered pixel asked again")
        print(f"test_web: with hover: click-to-mask median {statistics.median(x['click_to_draw_ms'] for x in lat_h):.1f} ms "
              "over 10 clicks on the hovered pixel (the hover's answer is the click's)", flush=True)
        med = statistics.median(x["click_to_draw_ms"] for x in lat)
        med_round = statistics.median(x["round_ms"] for x in lat)
        med_dec = statistics.median(x["decoder_ms"] for x in lat)
        med_draw = statistics.median(x["draw_ms"] for x in lat)
        print("test_web: clicks (ms: click-to-mask / waiting / round trip / decoder / draw): " + ", ".join(
            f"{x['click_to_draw_ms']:.0f}/{x['wait_ms']:.0f}/{x['round_ms']:.0f}/{x['decoder_ms']:.0f}/{x['draw_ms']:.0f}"
            for x in lat))
        bench = subprocess.run([BIN, "bench", "--image", os.path.join(self.imgdir, "zidane.jpg"),
                                "--point", "900,370", "--runs", "5", "--json", "-w", self.weights],
                               capture_output=True, text=True, timeout=600)
        self.assertEqual(bench.returncode, 0, bench.stderr)
        bdec = json.loads(bench.stdout)["decoder_ms"]
        target = bdec + 30
        # the same per click, against the decoder time of that very request:
        # what the page and HTTP add, whatever the machine's load does to the
        # decoder between the clicks and the bench
        over = statistics.median(x["click_to_draw_ms"] - x["decoder_ms"] for x in lat)
        print(f"test_web: LATENCY click-to-mask median {med:.1f} ms over 20 clicks (round trip {med_round:.1f}, "
              f"server decoder_ms {med_dec:.1f}, decode+draw {med_draw:.1f}); mobilesam bench decoder "
              f"{bdec:.1f} ms: target <= {target:.1f} ms {'met' if med <= target else 'NOT met'}; "
              f"per click, click-to-mask minus decoder_ms: median {over:.1f} ms (target <= 30: "
              f"{'met' if over <= 30 else 'NOT met'})", flush=True)
        # Reported, not asserted to the millisecond (CI machines are shared);
        # a page that adds several times the allowance is a failure.
        self.assertLess(over, 120, "the page adds far more than 30 ms to the decoder")
        step("latency")

        errs = self.console_errors()
        self.assertEqual(errs, [], "browser console errors")

        # -- token, error messages, lost server (a second server)
        msgs = self.check_token_and_errors()
        step(f"token (fragment, then asked); picker, drop and a large image; {msgs}")

    def check_coco(self, coco, kept, pngdir):
        for k in ("images", "annotations", "categories"):
            self.assertIn(k, coco)
        im = coco["images"][0]
        self.assertEqual((im["width"], im["height"], im["file_name"]), (1280, 720, "zidane.jpg"))
        self.assertEqual({c["id"]: c["name"] for c in coco["categories"]}, {0: "person", 1: "tie"})
        self.assertEqual(len(coco["annotations"]), 2)
        for a, m in zip(coco["annotations"], kept):
            seg = a["segmentation"]
            self.assertEqual(seg["size"], [720, 1280])
            self.assertEqual(sum(seg["counts"]), 720 * 1280)
            self.assertTrue(same_rle(seg, m["rle"]))
            self.assertEqual(a["area"], rle_area(seg))
            self.assertEqual(a["bbox"], m["bbox"])
            self.assertEqual(a["image_id"], im["id"])
            self.assertEqual(a["iscrowd"], 0)
        # pycocotools' own checks where it exists
        path = os.path.join(self.tmp, "coco.json")
        with open(path, "w") as f:
            json.dump(coco, f)
        probe = subprocess.run([sys.executable, "-c", "import sys, os; sys.path.insert(0, os.environ.get("
                                "'PYCOCOTOOLS_DIR', '/tmp/coco_build/PythonAPI')); import pycocotools, numpy, PIL"],
                               capture_output=True)
        if probe.returncode == 0:
            r = subprocess.run([sys.executable, os.path.join(SOURCE_DIR, "tools", "validate_coco.py"), path, pngdir],
                               capture_output=True, text=True, timeout=300)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.coco_checked = "validate_coco.py with pycocotools: OK"
        else:
            self.coco_checked = "structural checks (no pycocotools here)"

    def check_token_and_errors(self):
        d = self.driver
        tok = "s3cret-token"
        srv2 = Server(["-w", self.weights, "--token", tok], env=self.env)
        try:
            with self.assertRaises(urllib.error.HTTPError) as cm:
                srv2.request("GET", "v1/health")
            self.assertEqual(cm.exception.code, 401)
            # from the URL fragment, which then leaves the address bar
            d.get(srv2.url + "#token=" + tok)
            self.wait(lambda: self.js("return document.body.dataset.ready") in ("1", "error"), "the page with a token")
            self.assertEqual(self.js("return document.body.dataset.ready"), "1")
            self.assertNotIn(tok, d.current_url)
            # asked once when none is known
            self.js("sessionStorage.clear()")
            d.get(srv2.url)
            self.wait(lambda: d.find_element(By.ID, "tokendlg").is_displayed(), "the token question")
            d.find_element(By.ID, "tokeninput").send_keys(tok + Keys.ENTER)
            self.wait(lambda: self.js("return document.body.dataset.ready") == "1", "the page after the token")
            # an unreadable file: a clear message
            bad = os.path.join(self.tmp, "broken.jpg")
            with open(bad, "wb") as f:
                f.write(b"this is not an image")
            d.find_element(By.ID, "file").send_keys(bad)
            self.wait(lambda: self.js("return document.getElementById('status').classList.contains('error')"),
                      "the unreadable-file message")
            msg = self.js("return document.getElementById('msg').textContent")
            self.assertTrue(msg.startswith("broken.jpg: ") and "HTTP" not in msg, msg)
            # a good upload through the file picker works
            d.find_element(By.ID, "file").send_keys(os.path.join(IMAGES, "zidane.jpg"))
            self.wait(lambda: self.js("return msamDebug.opened") == "zidane.jpg",
                      "the upload")
            # drag and drop (selenium cannot drag a file from the desktop: the
            # drop event a browser makes, with the shown image's bytes as a file)
            err = self.driver.execute_async_script("""
                const done = arguments[0], S = msamDebug.state();
                fetch('/v1/images/' + S.img.id, {headers: {Authorization: 'Bearer ' + S.token}})
                .then(r => r.blob()).then(b => {
                  const dt = new DataTransfer();
                  dt.items.add(new File([b], 'dropped.jpg', {type: b.type}));
                  const v = document.getElementById('view');
                  v.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));
                  v.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
                  done(null);
                }).catch(e => done(String(e)));""")
            self.assertIsNone(err)
            self.wait(lambda: self.js("return msamDebug.opened") == "dropped.jpg", "the dropped file")
            # a large image: fitted, clicks sent in its own pixels
            big = os.path.join(self.tmp, "large.png")
            write_png(big, 4000, 3000)
            d.find_element(By.ID, "file").send_keys(big)
            self.wait(lambda: self.js("return msamDebug.opened") == "large.png", "the large upload",
                      timeout=max(WAIT, 120))
            scale = self.geometry()[2]
            self.assertLess(scale, 0.25)
            r = self.js("const r = document.getElementById('stage').getBoundingClientRect();"
                        "return [r.left, r.top, r.right, r.bottom]")
            self.assertTrue(r[0] >= 0 and r[1] >= 0 and r[2] <= 1280 and r[3] <= 720, f"large image not fitted: {r}")
            n_lat = self.js("return msamDebug.latencies.length")
            sent = self.click(3000, 2000)
            self.wait_click_answer(n_lat)
            body = [q for q in self.requests() if q["kind"] == "click"][-1]["body"]
            self.assertEqual(body["points"], [list(sent)])
            self.assertLessEqual(max(abs(sent[0] - 3000), abs(sent[1] - 2000)), 0.5 / scale + 0.5)
            big_id = self.js("return msamDebug.state().img.id")
            api = srv2.request("POST", f"v1/images/{big_id}/predict", {"points": [list(sent)], "labels": [1]},
                               token=tok)
            drawn = self.drawn()
            self.assertEqual(drawn["size"], [3000, 4000])
            self.assertTrue(same_rle(drawn, api["masks"][0]["rle"]), "large image: drawn mask != API mask")
        finally:
            srv2.stop()
        # the server is gone: the next action says so
        self.js("document.getElementById('status').classList.remove('error')")
        self.click(640, 360)
        self.wait(lambda: self.js("return document.getElementById('status').classList.contains('error')"),
                  "the lost-server message")
        lost = self.js("return document.getElementById('msg').textContent")
        self.assertIn("lost the server", lost)
        allowed = ("401", "400", "Failed to fetch", "ERR_CONNECTION_REFUSED", "415", "422")
        self.assertEqual(self.console_errors(allowed), [], "unexpected console errors")
        return f"messages {msg!r}, {lost!r}"


if __name__ == "__main__":
    unittest.main(verbosity=1)
