#!/usr/bin/env bash
# bench-python.sh - the Python package against the C engine, in one sitting:
# `mobilesam bench` (medians of pre-processing + encoder and of the decoder:
# one foreground point, one mask, up to the final mask), then the same image,
# point, threads and runs through mobilesam.SamPredictor (set_image, predict
# with one mask and with three), with the Python overhead of each call: its
# wall time minus the engine's own time for that very call. Prints the load
# of the machine (uptime) before and after.
#
# Usage: scripts/bench-python.sh [RUNS] [THREADS]    (defaults: 10 2)
# environment: MOBILESAM_TESTDATA (default ../shared/testdata),
#   MOBILESAM_WEIGHTS (default weights/mobile_sam.msam, else the fixture
#   pack's synthetic checkpoint, converted once)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS=${1:-10}
THREADS=${2:-2}
TD=${MOBILESAM_TESTDATA:-../shared/testdata}
IMAGE=$TD/images/zidane.png
X=640 Y=360   # the centre of zidane.png, as mobilesam bench uses by default

[ -x build/mobilesam ] && [ -e build/libmobilesam.so.0 ] || scripts/setup.sh --no-weights >&2
if [ -x .venv/bin/python ]; then
  PY=(.venv/bin/python)
else  # the source tree and the library built in build/
  PY=(env PYTHONPATH=src/python MOBILESAM_LIB="$PWD/build/libmobilesam.so.0" /usr/bin/python3)
fi
WEIGHTS=${MOBILESAM_WEIGHTS:-weights/mobile_sam.msam}
if [ ! -f "$WEIGHTS" ]; then  # the synthetic checkpoint, via the package's cache
  WEIGHTS=$("${PY[@]}" -c 'import sys; from mobilesam.build_sam import weights_for; print(weights_for(sys.argv[1]))' \
    "$TD/mobile_sam_synthetic.pt")
fi

echo "load before: $(uptime)"
c=$(build/mobilesam bench --json --image "$IMAGE" --point "$X,$Y" --runs "$RUNS" \
    --threads "$THREADS" -w "$WEIGHTS")
p=$("${PY[@]}" scripts/bench_python.py "$WEIGHTS" "$IMAGE" "$RUNS" "$THREADS" "$X" "$Y")
echo "load after:  $(uptime)"
/usr/bin/python3 - "$c" "$p" <<'PYEOF'
import json, sys
c, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
enc = c["preprocess_ms"] + c["encoder_ms"]
print("zidane.png %s, %d threads, medians of %d runs (Python %s, numpy %s)"
      % (p["image"], p["threads"], p["runs"], p["python"], p["numpy"]))
print("%-34s %10s %10s %12s" % ("", "C bench", "Python", "overhead"))
print("%-34s %8.1f ms %8.1f ms %9.3f ms" % ("encode / set_image", enc,
      p["set_image_ms"], p["set_image_overhead_ms"]))
print("%-34s %8.2f ms %8.2f ms %9.3f ms" % ("decode / predict (1 mask)",
      c["decoder_ms"], p["predict_ms"], p["predict_overhead_ms"]))
print("%-34s %10s %8.2f ms %9.3f ms" % ("predict (3 masks, the default)", "",
      p["predict_multimask_ms"], p["predict_multimask_overhead_ms"]))
print("overhead per predict: median %.3f ms (1 mask), %.3f ms (3 masks); worst run %.3f / %.3f ms; target <= 1 ms"
      % (p["predict_overhead_ms"], p["predict_multimask_overhead_ms"],
         p["predict_overhead_max_ms"], p["predict_multimask_overhead_max_ms"]))
PYEOF
