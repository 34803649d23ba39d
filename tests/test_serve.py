#!/usr/bin/env python3
"""test_serve.py - `mobilesam serve` through real HTTP (http.client and raw
sockets), on servers this test starts on free loopback ports.

What it holds the server to: the masks of `predict` are those `mobilesam
seg` writes for the same image and prompt, bit for bit (every fixture image
and case; the PNG format is byte-identical to seg's file, the RLE decodes to
it), and within the fixture pack's IoU of the official masks; `everything`
returns the records `mobilesam everything` writes; the embedding is the
file `mobilesam embed` writes; every endpoint and error code; folder mode,
path traversal, annotations round trip, the token, body and pixel limits,
slow clients, many dropped connections, SIGTERM during a request, kill -9
during a save, concurrent clients, cache eviction.

Standard library only. Needs MOBILESAM_TESTDATA (the fixture pack): without
it the test exits 77 (skipped), loudly.
"""

import base64
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("MOBILESAM_SOURCE_DIR", os.path.dirname(HERE))
BIN = os.environ.get("MOBILESAM_BIN", os.path.join(SOURCE_DIR, "build", "mobilesam"))
TESTDATA = os.environ.get("MOBILESAM_TESTDATA")
IMAGES = os.path.join(TESTDATA or "", "images")
REFS = os.path.join(TESTDATA or "", "refs")

WORK = None     # temporary folder of the whole run
WEIGHTS = None  # the fixture checkpoint, converted once


# ---- small independent decoders -------------------------------------------

def png_decode(data):
    """(width, height, channels, pixel bytes) of an 8-bit gray/RGB PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (0, 2), (depth, ctype)
            ch = 1 if ctype == 0 else 3
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * ch
    out = bytearray(h * stride)
    prev = bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - ch] if x >= ch else 0
            b = prev[x]
            c = prev[x - ch] if x >= ch else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pr) & 255
        out[y * stride:(y + 1) * stride] = line
        prev = line
    return w, h, ch, bytes(out)


def rle_decode(rle):
    """Row-major 0/255 bytes of a COCO uncompressed RLE (column-major runs)."""
    h, w = rle["size"]
    counts = rle["counts"]
    if isinstance(counts, str):
        counts = rle_from_string(counts)
    col = bytearray(w * h)
    pos, val = 0, 0
    for c in counts:
        if val:
            col[pos:pos + c] = b"\xff" * c
        pos += c
        val ^= 1
    assert pos == w * h, (pos, w * h)
    out = bytearray(w * h)
    for x in range(w):
        out[x::w] = col[x * h:(x + 1) * h]
    return bytes(out)


def rle_from_string(s):
    """pycocotools' rleFrString, written from its description."""
    counts, p = [], 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def npy_read(path):
    """(shape, list of float32) of a little-endian float32 .npy."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:6] == b"\x93NUMPY"
    hlen = struct.unpack("<H", data[8:10])[0]
    header = data[10:10 + hlen].decode("latin1")
    shape = tuple(int(v) for v in header.split("(")[1].split(")")[0].split(",") if v.strip())
    n = 1
    for s in shape:
        n *= s
    return shape, data[10 + hlen:10 + hlen + 4 * n]


def npy_write(path, raw, shape):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % (
        ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else ""))
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + raw)


def iou(a, b):
    """IoU of two 0/255 masks (as big integers: fast in pure Python)."""
    x, y = int.from_bytes(a, "big"), int.from_bytes(b, "big")
    inter, union = bin(x & y).count("1"), bin(x | y).count("1")
    return 1.0 if union == 0 else inter / union


# ---- the server under test -------------------------------------------------

class Server:
    def __init__(self, *args, env=None):
        cmd = [BIN, "serve", "--port", "0", "-w", WEIGHTS, "--threads", "2", *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env, text=True)
        line = self.proc.stdout.readline()
        if "listening on http://" not in line:
            self.proc.kill()
            raise AssertionError("server did not start: %r %r" % (line, self.proc.stderr.read()))
        self.url = line.split("listening on ")[1].strip()
        hostport = self.url.split("//")[1].rstrip("/")
        self.host, self.port = hostport.rsplit(":", 1)
        self.port = int(self.port)

    def conn(self, timeout=120):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=120):
        c = self.conn(timeout)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict(r.getheaders()), data

    def json(self, method, path, body=None, headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        status, hdrs, data = self.request(method, path, body, headers)
        return status, json.loads(data) if data else None

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            out, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return self.proc.returncode, err


def run_cli(*args):
    p = subprocess.run([BIN, *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise AssertionError("mobilesam %s: exit %d: %s" % (" ".join(args), p.returncode,
                                                            p.stderr))
    return p


def read(path):
    with open(path, "rb") as f:
        return f.read()


def load_json(path):
    return json.loads(read(path))


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f)


def image_id(path):
    return hashlib.sha256(read(path)).hexdigest()[:16]


# ---- the main server: folder mode, --output --------------------------------

class ServeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder = os.path.join(WORK, "folder")
        os.makedirs(os.path.join(cls.folder, "sub"))
        for name in ("zidane.jpg", "tiny.png", "bus.jpg"):
            shutil.copy(os.path.join(IMAGES, name), cls.folder)
        shutil.copy(os.path.join(IMAGES, "picture1.png"), os.path.join(cls.folder, "sub"))
        # a symlink out of the folder: listed as an image, never served
        os.symlink(os.path.join(IMAGES, "zidane.png"), os.path.join(cls.folder, "escape.png"))
        cls.out = os.path.join(WORK, "annotations")
        cls.srv = Server(cls.folder, "--recursive", "--output", cls.out, "--max-body-mib", "2")

    @classmethod
    def tearDownClass(cls):
        rc, err = cls.srv.stop()
        assert rc == 0, (rc, err)

    def post_image(self, name):
        status, j = self.srv.json("POST", "/v1/images", read(os.path.join(IMAGES, name)))
        self.assertEqual(status, 200, j)
        return j

    def test_health(self):
        status, j = self.srv.json("GET", "/v1/health")
        self.assertEqual(status, 200)
        self.assertEqual(j["status"], "ok")
        self.assertEqual(j["model"]["type"], "vit_t")
        self.assertEqual(j["model"]["precision"], "fp32")
        self.assertEqual(len(j["model"]["id"]), 16)
        self.assertEqual(j["threads"], 2)
        self.assertTrue(j["version"])

    def test_post_image_id_cache_and_bytes(self):
        path = os.path.join(IMAGES, "zidane.jpg")
        j = self.post_image("zidane.jpg")
        self.assertEqual(j["id"], image_id(path))
        self.assertEqual((j["width"], j["height"]), (1280, 720))
        j2 = self.post_image("zidane.jpg")
        self.assertTrue(j2["cached"])
        self.assertEqual(j2["encoder_ms"], j["encoder_ms"])
        status, hdrs, data = self.srv.request("GET", "/v1/images/" + j["id"])
        self.assertEqual(status, 200)
        self.assertEqual(data, read(path))
        self.assertEqual(hdrs["Content-Type"], "image/jpeg")

    def test_embedding_is_embeds_file(self):
        j = self.post_image("tiny.png")
        status, _, data = self.srv.request("GET", "/v1/images/%s/embedding" % j["id"])
        self.assertEqual(status, 200)
        npy = os.path.join(WORK, "tiny_emb.npy")
        run_cli("embed", os.path.join(IMAGES, "tiny.png"), "-o", npy, "-w", WEIGHTS,
                "--threads", "2")
        self.assertEqual(data, read(npy))

    def test_predict_parity_every_case(self):
        cases = load_json(os.path.join(REFS, "cases.json"))
        for name, spec in cases.items():
            with self.subTest(image=name):
                self.check_image_cases(spec)

    def check_image_cases(self, spec):
        img = os.path.join(IMAGES, spec["image"])
        w, h = spec["width"], spec["height"]
        j = self.post_image(spec["image"])
        iid = j["id"]
        outdir = tempfile.mkdtemp(dir=WORK)
        # every object of every case, as seg's single-object prompts
        singles, results = [], {}
        for case in spec["cases"]:
            if "batch_points" in case:
                objs = [{"points": p, "labels": l}
                        for p, l in zip(case["batch_points"], case["batch_labels"])]
            elif "batch_boxes" in case:
                objs = [{"box": b} for b in case["batch_boxes"]]
            else:
                objs = [case]
            for b, o in enumerate(objs):
                prompt = {k: o[k] for k in ("points", "labels", "box") if k in o}
                singles.append((case, b, prompt))
        for mm in (False, True):
            todo = [(c, b, p) for c, b, p in singles
                    if c["multimask"] == mm and "mask_input" not in c]
            pfile = os.path.join(outdir, "p%d.json" % mm)
            write_json(pfile, [p for _, _, p in todo])
            args = ["seg", img, "--prompts", pfile, "-o", os.path.join(outdir, "m%d.png" % mm),
                    "-w", WEIGHTS, "--threads", "2", "--logits", os.path.join(outdir, "l%d.npy" % mm)]
            if mm:
                args.append("--multimask")
            run_cli(*args)
            for k, (case, b, prompt) in enumerate(todo):
                body = dict(prompt, multimask=mm)
                status, hdrs, data = self.srv.request("POST", "/v1/images/%s/predict" % iid,
                                                      json.dumps(body))
                self.assertEqual(status, 200, data)
                r = json.loads(data)
                results[(case["id"], b)] = r["result"]
                body["format"] = "png"
                status, png = self.srv.json("POST", "/v1/images/%s/predict" % iid, body)
                self.assertEqual(status, 200)
                n = 3 if mm else 1
                self.assertEqual(len(r["masks"]), n)
                for m in range(n):
                    single = len(todo) == 1 and n == 1
                    seg_png = os.path.join(outdir, "m%d.png" % mm if single
                                           else "m%d_%d_%d.png" % (mm, k, m))
                    seg_bytes = read(seg_png)
                    # the png format is seg's file, byte for byte
                    self.assertEqual(base64.b64decode(png["masks"][m]["png"]), seg_bytes)
                    # the RLE decodes to the same pixels (every mask of the
                    # small image, the first of each case elsewhere: decoding
                    # PNGs in pure Python is slow)
                    if m and w * h > 10000:
                        continue
                    _, _, _, pix = png_decode(seg_bytes)
                    self.assertEqual(rle_decode(r["masks"][m]["rle"]), pix,
                                     "%s %s mask %d" % (spec["image"], case["id"], m))
                    self.assertEqual(r["masks"][m]["area"], pix.count(255))
                    # and the official mask within the pack's tolerance
                    ref = os.path.join(REFS, os.path.splitext(spec["image"])[0],
                                       "%s.b%d.m%d.png" % (case["id"], b, m))
                    _, _, _, refpix = png_decode(read(ref))
                    self.assertGreaterEqual(iou(pix, refpix), 0.995)
        # refine: mask_input = the best mask of point_multi, as seg --mask-input
        refine = [c for c in spec["cases"] if "mask_input" in c][0]
        src = results[(refine["mask_input"], 0)]
        shape, raw = npy_read(os.path.join(outdir, "l1.npy"))
        multi_index = [k for k, (c, _, _) in enumerate(
            [(c, b, p) for c, b, p in singles if c["multimask"] and "mask_input" not in c])
            if c["id"] == refine["mask_input"]][0]
        status, r0 = self.srv.json("POST", "/v1/images/%s/predict" % iid,
                                   {"points": refine["points"], "labels": refine["labels"],
                                    "multimask": True})
        best = max(range(3), key=lambda m: r0["masks"][m]["score"])
        plane = 256 * 256 * 4
        start = (multi_index * 3 + best) * plane
        mi = os.path.join(outdir, "mi.npy")
        npy_write(mi, raw[start:start + plane], (256, 256))
        run_cli("seg", img, "--point", "%g,%g" % tuple(refine["points"][0]), "--mask-input", mi,
                "-o", os.path.join(outdir, "refine.png"), "-w", WEIGHTS, "--threads", "2")
        status, r = self.srv.json("POST", "/v1/images/%s/predict" % iid,
                                  {"points": refine["points"], "labels": refine["labels"],
                                   "mask_input": src, "format": "png"})
        self.assertEqual(status, 200, r)
        self.assertEqual(base64.b64decode(r["masks"][0]["png"]),
                         read(os.path.join(outdir, "refine.png")))

    def test_formats(self):
        j = self.post_image("tiny.png")
        url = "/v1/images/%s/predict" % j["id"]
        body = {"points": [[60, 29]], "multimask": True}
        _, rle = self.srv.json("POST", url, body)
        _, coco = self.srv.json("POST", url, dict(body, format="coco_rle"))
        _, poly = self.srv.json("POST", url, dict(body, format="polygon"))
        for m in range(3):
            self.assertEqual(rle_from_string(coco["masks"][m]["rle"]["counts"]),
                             rle["masks"][m]["rle"]["counts"])
            self.assertEqual(coco["masks"][m]["rle"]["size"], [j["height"], j["width"]])
            pix = rle_decode(rle["masks"][m]["rle"])
            polys = poly["masks"][m]["polygons"]
            for p in polys:  # every vertex is a pixel of the mask
                for x, y in zip(p[::2], p[1::2]):
                    self.assertTrue(pix[y * j["width"] + x])
            for k in ("score", "area", "bbox"):
                self.assertEqual(rle["masks"][m][k], poly["masks"][m][k])

    def test_polygon_is_batch_yolo(self):
        j = self.post_image("tiny.png")
        _, poly = self.srv.json("POST", "/v1/images/%s/predict" % j["id"],
                                {"box": [17, 12, 56, 51], "format": "polygon"})
        d = tempfile.mkdtemp(dir=WORK)
        shutil.copy(os.path.join(IMAGES, "tiny.png"), d)
        write_json(os.path.join(d, "p.json"), {"tiny.png": [{"box": [17, 12, 56, 51]}]})
        run_cli("batch", d, "-o", os.path.join(d, "out"), "--prompts", os.path.join(d, "p.json"),
                "--format", "yolo", "-w", WEIGHTS, "--threads", "2")
        line = read(os.path.join(d, "out", "tiny.txt")).decode().split()
        p = poly["masks"][0]["polygons"][0]
        want = ["%.6f" % (v / (j["width"] if i % 2 == 0 else j["height"])) for i, v in enumerate(p)]
        self.assertEqual(line[1:], want)

    def test_prompt_errors(self):
        j = self.post_image("zidane.jpg")
        url = "/v1/images/%s/predict" % j["id"]
        cases = [
            ("{", "malformed JSON"),
            ("[1]", "expected a JSON object"),
            ({"points": [[900, 370], [2000, 5]], "labels": [1, 0]},
             "points[1]: point (2000, 5) is outside the image (1280x720)"),
            ({"points": [[1, 1]], "labels": [1, 1]}, "labels: 2 labels for 1 point"),
            ({"points": [[1, 1]], "labels": [3]}, "labels[0]: label 3 is not 0"),
            ({"box": [5, 5, 1]}, '"box" must be [x0, y0, x1, y1]'),
            ({"box": [50, 5, 1, 9]}, "box: box (50, 5, 1, 9): x1 < x0"),
            ({"points": "x"}, '"points" must be a list of [x, y] pairs'),
            ({}, 'object has neither "points" nor "box"'),
            ({"labels": [1]}, 'object has neither "points" nor "box"'),
            ({"points": [[1, 1]], "foo": 1}, 'unknown key "foo"'),
            ({"points": [[1, 1]], "multimask": 1}, "multimask: expected true or false"),
            ({"points": [[1, 1]], "format": "jpeg"}, "format: expected"),
            ({"points": [[1, 1]], "mask_input": 999999}, "mask_input: no result 999999"),
            ({"points": [[1, 1]], "mask_input": "a.npy"}, "mask_input: expected the"),
            ({"points": [[1, 1]], "mask_index": 1}, "mask_index: needs mask_input"),
            ('{"points": [[1, 1]], "points": [[2, 2]]}', 'duplicate key "points"'),
            ({"points": [[1e40, 1]]}, '"points" must be a list of [x, y] pairs'),
            ({"points": [[1, 1]] * 1001}, "1001 points (at most 1000 per object)"),
        ]
        for body, want in cases:
            with self.subTest(body=str(body)[:60]):
                raw = body if isinstance(body, str) else json.dumps(body)
                status, hdrs, data = self.srv.request("POST", url, raw)
                self.assertEqual(status, 400, data)
                err = json.loads(data)["error"]
                self.assertIn(want, err)
                self.assertNotIn("\n", err)
        # a result of another image is refused
        k = self.post_image("tiny.png")
        _, r = self.srv.json("POST", "/v1/images/%s/predict" % k["id"], {"points": [[5, 5]]})
        status, e = self.srv.json("POST", url, {"points": [[1, 1]], "mask_input": r["result"]})
        self.assertEqual(status, 400)
        self.assertIn("mask_input: no result %d for image %s" % (r["result"], j["id"]), e["error"])
        status, e = self.srv.json("POST", "/v1/images/%s/predict" % k["id"],
                                  {"points": [[1, 1]], "mask_input": r["result"], "mask_index": 2})
        self.assertEqual(status, 400)
        self.assertIn("mask_index", e["error"])

    def test_http_errors(self):
        j = self.post_image("tiny.png")
        cases = [
            ("GET", "/v1/nothing", None, 404, None),
            ("GET", "/v1/images/0123456789abcdef", None, 404, None),
            ("POST", "/v1/images/0123456789abcdef/predict", "{}", 404, None),
            ("GET", "/v1/images/xyz/embedding", None, 404, None),
            ("GET", "/v1/images/%s/whatever" % j["id"], None, 404, None),
            ("DELETE", "/v1/images/%s" % j["id"], None, 405, "GET, HEAD"),
            ("GET", "/v1/images/%s/predict" % j["id"], None, 405, "POST"),
            ("PUT", "/v1/health", "{}", 405, "GET, HEAD"),
            ("DELETE", "/v1/images", None, 405, "GET, HEAD, POST"),
            ("POST", "/", "x", 405, "GET, HEAD"),
            ("GET", "/no-such-file.js", None, 404, None),
            ("POST", "/v1/images", b"not an image at all", 400, None),
            ("POST", "/v1/images", b"", 400, None),
            ("POST", "/v1/images/%s/everything" % j["id"], '{"points_per_side": 0}', 400, None),
            ("POST", "/v1/images/%s/everything" % j["id"], '{"nope": 1}', 400, None),
            ("POST", "/v1/images/%s/everything" % j["id"], '{"pred_iou_thresh": "x"}', 400, None),
            ("POST", "/v1/images?path=nothing.jpg", b"", 404, None),
        ]
        for method, path, body, want, allow in cases:
            with self.subTest(method=method, path=path):
                status, hdrs, data = self.srv.request(method, path, body)
                self.assertEqual(status, want, data)
                if method != "HEAD":
                    self.assertIn("error", json.loads(data))
                if allow:
                    self.assertEqual(hdrs.get("Allow"), allow)

    def test_page_served(self):
        status, hdrs, data = self.srv.request("GET", "/")
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["Content-Type"].startswith("text/html"))
        self.assertIn(b"<html", data.lower())

    def test_host_header_dns_rebinding(self):
        status, _, _ = self.srv.request("GET", "/v1/health", headers={"Host": "evil.example:80"})
        self.assertEqual(status, 403)
        status, _, _ = self.srv.request("GET", "/v1/health", headers={"Host": "localhost"})
        self.assertEqual(status, 200)

    def test_body_limit_from_content_length_before_reading(self):
        s = socket.create_connection((self.srv.host, self.srv.port), timeout=30)
        s.sendall(b"POST /v1/images HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Content-Length: 3000000\r\n\r\n")
        data = s.recv(65536)  # answered without a byte of the body sent
        s.close()
        self.assertIn(b" 413 ", data.split(b"\r\n")[0])
        self.assertIn(b"--max-body-mib", data)

    def test_chunked_bodies(self):
        def chunked(payload, piece=65536):
            s = socket.create_connection((self.srv.host, self.srv.port), timeout=60)
            s.sendall(b"POST /v1/images HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
            try:
                for i in range(0, len(payload), piece):
                    c = payload[i:i + piece]
                    s.sendall(b"%x\r\n" % len(c) + c + b"\r\n")
                s.sendall(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            data = b""
            while True:
                try:
                    d = s.recv(65536)
                except ConnectionResetError:
                    break
                if not d:
                    break
                data += d
            s.close()
            return data
        ok = chunked(read(os.path.join(IMAGES, "tiny.png")))
        self.assertIn(b" 200 ", ok.split(b"\r\n")[0])
        self.assertIn(image_id(os.path.join(IMAGES, "tiny.png")).encode(), ok)
        big = chunked(os.urandom(3 * 1024 * 1024))
        self.assertIn(b" 413 ", big.split(b"\r\n")[0])

    def test_pixel_limit_from_header(self):
        # a PNG whose header declares 20000 x 20000 pixels, and nothing else
        ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
        png = (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr +
               struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)))
        status, j = self.srv.json("POST", "/v1/images", png)
        self.assertEqual(status, 413)
        self.assertIn("exceeds the pixel limit", j["error"])

    def test_folder_mode_and_traversal(self):
        status, j = self.srv.json("GET", "/v1/images")
        paths = [i["path"] for i in j["images"] if i["path"]]
        self.assertEqual(paths, ["bus.jpg", "escape.png", "sub/picture1.png", "tiny.png",
                                 "zidane.jpg"])
        status, j = self.srv.json("POST", "/v1/images?path=sub/picture1.png")
        self.assertEqual(status, 200, j)
        self.assertEqual(j["id"], image_id(os.path.join(IMAGES, "picture1.png")))
        _, listing = self.srv.json("GET", "/v1/images")
        entry = [i for i in listing["images"] if i["path"] == "sub/picture1.png"][0]
        self.assertEqual(entry["id"], j["id"])
        for bad in ("../images/zidane.jpg", "%2e%2e/images/zidane.jpg", "%2E%2E%2Fetc%2Fpasswd",
                    "/etc/passwd", os.path.join(IMAGES, "zidane.jpg"), "escape.png",
                    "sub/../../folder/tiny.png", "./tiny.png"):
            with self.subTest(path=bad):
                status, e = self.srv.json("POST", "/v1/images?path=" + bad)
                self.assertEqual(status, 404, e)

    def test_annotations_round_trip(self):
        status, j = self.srv.json("POST", "/v1/images?path=tiny.png")
        iid = j["id"]
        url = "/v1/images/%s" % iid
        status, e = self.srv.json("GET", url + "/annotations")
        self.assertEqual(status, 404)
        objs = []
        for k, prompt in enumerate(({"points": [[60, 29]]}, {"box": [17, 12, 56, 51]})):
            _, r = self.srv.json("POST", url + "/predict", prompt)
            objs.append({"label": "thing%d" % k, "class": k, "prompt": prompt,
                         "rle": r["masks"][0]["rle"]})
        status, s = self.srv.json("PUT", url + "/annotations", {"objects": objs})
        self.assertEqual(status, 200, s)
        self.assertEqual(s["saved"], 2)
        for k in range(2):
            _, _, _, pix = png_decode(read(os.path.join(self.out, "tiny_%d_0.png" % k)))
            self.assertEqual(pix, rle_decode(objs[k]["rle"]))
        labels = read(os.path.join(self.out, "tiny.txt")).decode().splitlines()
        self.assertEqual([int(l.split()[0]) for l in labels if l], [0, 1][:len(labels)])
        coco = load_json(os.path.join(self.out, "annotations.json"))
        img = [i for i in coco["images"] if i["file_name"] == "tiny.png"][0]
        anns = [a for a in coco["annotations"] if a["image_id"] == img["id"]]
        self.assertEqual(len(anns), 2)
        self.assertEqual(rle_decode(anns[1]["segmentation"]), rle_decode(objs[1]["rle"]))
        status, got = self.srv.json("GET", url + "/annotations")
        self.assertEqual(status, 200)
        self.assertEqual(got, {"objects": objs})
        _, listing = self.srv.json("GET", "/v1/images")
        self.assertTrue([i for i in listing["images"] if i["path"] == "tiny.png"][0]["annotated"])
        # a bad mask is refused and nothing changes
        bad = [dict(objs[0], rle={"size": [1, 1], "counts": [1]})]
        status, e = self.srv.json("PUT", url + "/annotations", {"objects": bad})
        self.assertEqual(status, 400)
        self.assertIn("objects[0].rle", e["error"])
        status, got = self.srv.json("GET", url + "/annotations")
        self.assertEqual(got, {"objects": objs})
        # saving one object removes the second mask of the earlier save
        status, s = self.srv.json("PUT", url + "/annotations", {"objects": objs[:1]})
        self.assertEqual(status, 200)
        self.assertFalse(os.path.exists(os.path.join(self.out, "tiny_1_0.png")))

    def test_everything_is_the_cli_records(self):
        j = self.post_image("tiny.png")
        opts = {"points_per_side": 8, "pred_iou_thresh": 0, "stability_score_thresh": 0}
        status, recs = self.srv.json("POST", "/v1/images/%s/everything" % j["id"], opts)
        self.assertEqual(status, 200, recs)
        d = os.path.join(WORK, "everything")
        run_cli("everything", os.path.join(IMAGES, "tiny.png"), "-o", d, "--points-per-side", "8",
                "--pred-iou-thresh", "0", "--stability-score-thresh", "0", "-w", WEIGHTS,
                "--threads", "2")
        want = load_json(os.path.join(d, "masks.json"))
        self.assertGreater(len(want), 0)
        self.assertEqual(recs, want)

    def test_concurrent_clients_match_single(self):
        a = self.post_image("tiny.png")["id"]
        b = self.post_image("zidane.jpg")["id"]
        prompts = [(a, {"points": [[x, 20 + x % 30]]}) for x in range(5, 70, 8)] + \
                  [(b, {"points": [[100 + 37 * k, 50 + 21 * k]], "multimask": True})
                   for k in range(8)]
        def ask(iid, p):
            status, r = self.srv.json("POST", "/v1/images/%s/predict" % iid, p)
            self.assertEqual(status, 200)
            return [(m["rle"]["counts"], m["score"]) for m in r["masks"]]
        single = [ask(i, p) for i, p in prompts]
        got = [None] * len(prompts)
        def worker(k):
            for i in range(k, len(prompts), 4):
                got[i] = ask(*prompts[i])
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(got, single)

    def test_many_dropped_connections(self):
        for _ in range(1000):
            s = socket.create_connection((self.srv.host, self.srv.port), timeout=10)
            s.close()
        for k in range(50):  # half-sent requests, dropped
            s = socket.create_connection((self.srv.host, self.srv.port), timeout=10)
            s.sendall(b"POST /v1/images HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc")
            s.close()
        status, j = self.srv.json("GET", "/v1/health")
        self.assertEqual(status, 200)


# ---- servers of their own --------------------------------------------------

class SeparateServerTest(unittest.TestCase):
    def test_token(self):
        srv = Server("--token", "s3cret")
        try:
            status, _, _ = srv.request("GET", "/")
            self.assertEqual(status, 200)
            status, hdrs, data = srv.request("GET", "/v1/health")
            self.assertEqual(status, 401)
            self.assertEqual(hdrs.get("WWW-Authenticate"), "Bearer")
            status, _, _ = srv.request("GET", "/v1/health",
                                       headers={"Authorization": "Bearer wrong"})
            self.assertEqual(status, 401)
            status, _, _ = srv.request("POST", "/v1/images", b"x" * 10,
                                       headers={"Authorization": "Bearer s3cret0"})
            self.assertEqual(status, 401)
            status, _, _ = srv.request("GET", "/v1/health",
                                       headers={"Authorization": "Bearer s3cret"})
            self.assertEqual(status, 200)
        finally:
            self.assertEqual(srv.stop()[0], 0)

    def test_non_loopback_needs_token(self):
        p = subprocess.run([BIN, "serve", "--host", "0.0.0.0", "--port", "0", "-w", WEIGHTS],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--token", p.stderr)
        self.assertEqual(len(p.stderr.splitlines()), 1)
        self.assertEqual(p.stdout, "")

    def test_usage_errors(self):
        for args in (["--port", "70000"], ["--cache-mib", "x"], ["--token", ""],
                     ["--recursive"], ["a", "b"], ["--bogus"]):
            p = subprocess.run([BIN, "serve", *args], capture_output=True, text=True)
            self.assertEqual(p.returncode, 2, args)
            self.assertEqual(len(p.stderr.splitlines()), 1, p.stderr)
        p = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertIn("usage: mobilesam serve", p.stdout)
        p = subprocess.run([BIN, "serve", "/nonexistent-folder", "-w", WEIGHTS, "--port", "0"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)
        self.assertIn("/nonexistent-folder", p.stderr)

    def test_slow_client_does_not_hold_up_others_and_times_out(self):
        srv = Server("--timeout", "3")
        try:
            s = socket.create_connection((srv.host, srv.port), timeout=30)
            req = b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 100
            closed_after = None
            t0 = time.monotonic()
            for k, byte in enumerate(req):
                try:
                    s.sendall(bytes([byte]))
                except (BrokenPipeError, ConnectionResetError):
                    closed_after = time.monotonic() - t0
                    break
                if k == 2:  # meanwhile, others are answered at once
                    t1 = time.monotonic()
                    status, _ = srv.json("GET", "/v1/health")
                    self.assertEqual(status, 200)
                    self.assertLess(time.monotonic() - t1, 2.0)
                time.sleep(0.5)
                s.settimeout(0.01)
                try:
                    if s.recv(1) == b"":
                        closed_after = time.monotonic() - t0
                        break
                except socket.timeout:
                    pass
                except ConnectionResetError:
                    closed_after = time.monotonic() - t0
                    break
                s.settimeout(30)
            s.close()
            self.assertIsNotNone(closed_after, "the slow connection was never closed")
            self.assertLess(closed_after, 10)
        finally:
            self.assertEqual(srv.stop()[0], 0)

    def test_sigterm_finishes_the_request_in_flight(self):
        srv = Server()
        result = {}
        _, j = srv.json("POST", "/v1/images", read(os.path.join(IMAGES, "tiny.png")))
        def slow():
            status, recs = srv.json("POST", "/v1/images/%s/everything" % j["id"],
                                    {"points_per_side": 16})
            result["status"] = status
        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.7)  # the generator is running (it takes seconds)
        srv.proc.send_signal(signal.SIGTERM)
        t.join(120)
        rc, err = srv.stop()
        self.assertEqual(result.get("status"), 200)
        self.assertEqual(rc, 0, err)
        # and it no longer accepts
        with self.assertRaises(OSError):
            socket.create_connection((srv.host, srv.port), timeout=5)

    def test_uploads_at_once_are_bounded(self):
        srv = Server("--max-body-mib", "1")  # 4 MiB of bodies at once
        try:
            held = []
            for _ in range(5):  # each holds most of a 1 MiB body, unfinished
                s = socket.create_connection((srv.host, srv.port), timeout=30)
                s.sendall(b"POST /v1/images HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Content-Length: 1000000\r\n\r\n" + b"x" * 900000)
                held.append(s)
            time.sleep(1)
            answers = []
            for s in held:
                s.sendall(b"x" * 100000)
                answers.append(s.recv(65536).split(b"\r\n")[0])
                s.close()
            self.assertIn(b"HTTP/1.1 503 Service Unavailable", answers)
            self.assertIn(b"HTTP/1.1 400 Bad Request", answers)  # not an image
            status, _ = srv.json("GET", "/v1/health")
            self.assertEqual(status, 200)
        finally:
            self.assertEqual(srv.stop()[0], 0)

    def test_queue_full_is_503(self):
        srv = Server("--queue", "1")
        try:
            j = srv.json("POST", "/v1/images", read(os.path.join(IMAGES, "tiny.png")))[1]
            statuses = []
            def ask():
                s, _ = srv.json("POST", "/v1/images/%s/everything" % j["id"],
                                {"points_per_side": 12})
                statuses.append(s)
            threads = [threading.Thread(target=ask) for _ in range(4)]
            for t in threads:
                t.start()
                time.sleep(0.1)
            for t in threads:
                t.join()
            self.assertIn(503, statuses)
            self.assertIn(200, statuses)
            self.assertEqual(set(statuses), {200, 503})
        finally:
            self.assertEqual(srv.stop()[0], 0)

    def test_eviction_re_encodes(self):
        srv = Server("--cache-mib", "64")  # room for ~3 embeddings
        try:
            names = ["zidane.jpg", "bus.jpg", "tiny.png", "picture1.png", "zidane.png",
                     "bus.png"]
            ids = [srv.json("POST", "/v1/images", read(os.path.join(IMAGES, n)))[1]["id"]
                   for n in names]
            _, first = srv.json("POST", "/v1/images/%s/predict" % ids[0], {"points": [[900, 370]]})
            for i in ids[1:]:
                srv.json("POST", "/v1/images/%s/predict" % i, {"points": [[5, 5]]})
            status, again = srv.json("POST", "/v1/images/%s/predict" % ids[0],
                                     {"points": [[900, 370]]})
            self.assertEqual(status, 200)
            self.assertEqual(again["masks"], first["masks"])
            status, j = srv.json("POST", "/v1/images", read(os.path.join(IMAGES, names[1])))
            self.assertEqual(status, 200)
        finally:
            self.assertEqual(srv.stop()[0], 0)

    def test_kill_9_during_save_leaves_no_partial_file(self):
        out = os.path.join(WORK, "kill9")
        rnd = random.Random(7)
        for attempt in range(4):
            srv = Server("--output", out)
            img = read(os.path.join(IMAGES, "zidane.jpg"))
            iid = srv.json("POST", "/v1/images", img)[1]["id"]
            _, r = srv.json("POST", "/v1/images/%s/predict" % iid, {"points": [[900, 370]]})
            objs = [{"label": "o", "rle": r["masks"][0]["rle"]}] * 40
            body = json.dumps({"objects": objs})
            def put():
                try:
                    srv.request("PUT", "/v1/images/%s/annotations" % iid, body)
                except (OSError, http.client.HTTPException):
                    pass
            t = threading.Thread(target=put)
            t.start()
            time.sleep(0.3 + rnd.random() * 1.5)
            srv.proc.kill()
            srv.proc.communicate()
            t.join()
            for name in os.listdir(out):
                path = os.path.join(out, name)
                if ".tmp" in name or name.startswith(".msam.") or os.path.isdir(path):
                    continue
                data = read(path)
                if name.endswith(".png"):
                    png_decode(data)  # complete, or it raises
                elif name.endswith(".json"):
                    json.loads(data)
            meta = os.path.join(out, ".mobilesam")
            for name in os.listdir(meta) if os.path.isdir(meta) else []:
                if name.endswith(".json"):
                    json.loads(read(os.path.join(meta, name)))


# ---- serve --precision -------------------------------------------------------

class PrecisionServeTest(unittest.TestCase):
    """A server started with --precision int8 answers the masks of `seg
    --precision int8` (its png format is seg's file, byte for byte), its
    embedding is `embed --precision int8`'s file, and /v1/health reports the
    precision in use: int8, or fp32 on a CPU without VNNI (which both
    commands then say in one notice line)."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server("--precision", "int8")
        cls.dir = tempfile.mkdtemp(dir=WORK)

    @classmethod
    def tearDownClass(cls):
        rc, err = cls.srv.stop()
        assert rc == 0, (rc, err)
        cls.server_stderr = err

    def seg(self, *args):
        p = run_cli("seg", *args, "-w", WEIGHTS, "--threads", "2", "--precision", "int8")
        notices = [l for l in p.stderr.splitlines() if "not available here" in l]
        self.assertLessEqual(len(notices), 1, p.stderr)
        return "fp32" if notices else "int8"

    def test_health_and_masks_are_seg_int8(self):
        status, health = self.srv.json("GET", "/v1/health")
        self.assertEqual(status, 200)
        cases = load_json(os.path.join(REFS, "cases.json"))
        for name in ("zidane", "tiny"):
            spec = cases[name]
            img = os.path.join(IMAGES, spec["image"])
            status, j = self.srv.json("POST", "/v1/images", read(img))
            self.assertEqual(status, 200, j)
            singles = [c for c in spec["cases"] if "points" in c or "box" in c]
            singles = [c for c in singles if "mask_input" not in c]
            self.assertGreaterEqual(len(singles), 4)
            for case in singles:
                prompt = {k: case[k] for k in ("points", "labels", "box") if k in case}
                mm = bool(case["multimask"])
                out = os.path.join(self.dir, "%s_%s.png" % (name, case["id"]))
                args = [img, "-o", out]
                for p in case.get("points", []):
                    args.append("--point=%.9g,%.9g" % tuple(p))
                for l in case.get("labels", []):
                    args.append("--label=%d" % l)
                if "box" in case:
                    args.append("--box=%.9g,%.9g,%.9g,%.9g" % tuple(case["box"]))
                if mm:
                    args.append("--multimask")
                used = self.seg(*args)
                self.assertEqual(health["model"]["precision"], used)
                status, r = self.srv.json("POST", "/v1/images/%s/predict" % j["id"],
                                          dict(prompt, multimask=mm, format="png"))
                self.assertEqual(status, 200, r)
                n = 3 if mm else 1
                self.assertEqual(len(r["masks"]), n)
                for m in range(n):
                    seg_png = out if n == 1 else "%s_0_%d.png" % (out[:-4], m)
                    self.assertEqual(base64.b64decode(r["masks"][m]["png"]), read(seg_png),
                                     "%s %s mask %d" % (name, case["id"], m))
        print("serve --precision int8: %s in use, masks = seg --precision int8's"
              % health["model"]["precision"], file=sys.stderr)

    def test_embedding_is_embeds_int8_file(self):
        tiny = os.path.join(IMAGES, "tiny.png")
        status, j = self.srv.json("POST", "/v1/images", read(tiny))
        self.assertEqual(status, 200, j)
        status, _, data = self.srv.request("GET", "/v1/images/%s/embedding" % j["id"])
        self.assertEqual(status, 200)
        npy = os.path.join(self.dir, "tiny_emb.npy")
        run_cli("embed", tiny, "-o", npy, "-w", WEIGHTS, "--threads", "2",
                "--precision", "int8")
        self.assertEqual(data, read(npy))
        _, health = self.srv.json("GET", "/v1/health")
        self.assertIn(b'"precision":"%s"' % health["model"]["precision"].encode(), data)

    def test_environment_variable(self):
        env = dict(os.environ, MOBILESAM_PRECISION="int8")
        srv = Server(env=env)
        try:
            _, a = srv.json("GET", "/v1/health")
            _, b = self.srv.json("GET", "/v1/health")
            self.assertEqual(a["model"]["precision"], b["model"]["precision"])
        finally:
            self.assertEqual(srv.stop()[0], 0)
        srv = Server("--precision", "fp32", env=env)  # the flag wins
        try:
            _, a = srv.json("GET", "/v1/health")
            self.assertEqual(a["model"]["precision"], "fp32")
        finally:
            self.assertEqual(srv.stop()[0], 0)


def main():
    global WORK, WEIGHTS
    if not TESTDATA:
        print("test_serve: MOBILESAM_TESTDATA is unset: skipped", file=sys.stderr)
        sys.exit(77)
    WORK = tempfile.mkdtemp(prefix="test_serve.")
    try:
        WEIGHTS = os.path.join(WORK, "fixture.msam")
        subprocess.run([sys.executable, os.path.join(SOURCE_DIR, "tools", "convert.py"),
                        os.path.join(TESTDATA, "mobile_sam_synthetic.pt"), "-o", WEIGHTS],
                       check=True, capture_output=True)
        prog = unittest.main(verbosity=2, exit=False)
        sys.exit(0 if prog.result.wasSuccessful() else 1)
    finally:
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
