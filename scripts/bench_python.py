#!/usr/bin/env python3
"""bench_python.py - times SamPredictor.set_image and .predict from Python
(the mobilesam package) and, for the same calls, the engine's own time
(mobilesam_last_timing): the difference is what Python adds. Prints one JSON
object. Run by scripts/bench-python.sh beside `mobilesam bench`.

Usage: bench_python.py WEIGHTS IMAGE RUNS THREADS X Y
"""
import json
import statistics
import sys
import time

import numpy as np

import mobilesam
from mobilesam import _engine


def engine_ms(pred):
    t = _engine.Timing()
    _engine.last_timing(pred._engine.ptr, t)
    return t


def main():
    weights, path, runs, threads, x, y = sys.argv[1:7]
    runs, threads = int(runs), int(threads)
    mobilesam.set_num_threads(threads)
    t0 = time.perf_counter()
    sam = mobilesam.sam_model_registry["vit_t"](checkpoint=weights)
    pred = mobilesam.SamPredictor(sam)
    load_ms = (time.perf_counter() - t0) * 1e3
    image = mobilesam.read_image(path)
    pts, lab = np.array([[float(x), float(y)]]), np.array([1])

    def timed(fn, engine_part):
        walls, overs = [], []
        fn()  # warm-up
        for _ in range(runs):
            t = time.perf_counter()
            fn()
            wall = (time.perf_counter() - t) * 1e3
            walls.append(wall)
            overs.append(wall - engine_part(engine_ms(pred)))
        return statistics.median(walls), statistics.median(overs), max(overs)

    set_ms, set_over, set_over_max = timed(
        lambda: pred.set_image(image),
        lambda t: t.preprocess_ms + t.encoder_ms)
    out = {"load_ms": load_ms, "set_image_ms": set_ms,
           "set_image_overhead_ms": set_over}
    for name, mm in (("predict", False), ("predict_multimask", True)):
        ms, over, over_max = timed(
            lambda: pred.predict(pts, lab, multimask_output=mm),
            lambda t: t.decoder_ms)
        out[name + "_ms"] = ms
        out[name + "_overhead_ms"] = over
        out[name + "_overhead_max_ms"] = over_max
    out.update(threads=mobilesam.get_num_threads(), runs=runs,
               image="%dx%d" % (image.shape[1], image.shape[0]),
               python=sys.version.split()[0], numpy=np.__version__)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
