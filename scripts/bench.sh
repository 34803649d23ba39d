#!/usr/bin/env bash
# bench.sh - our engine against the ONNX Runtime peer, in one sitting:
# `mobilesam bench` (medians of load, pre-processing, encoder, decoder; peak
# RSS) on the fixture's zidane.png, then the peer (shared/peer/run.sh) with
# the same threads and runs, the ratios ours/peer against the targets, and a
# whole `mobilesam seg` process (wall time, peak RSS) against the sum of the
# stages. Builds and converts the weights first when needed, so it works on a
# fresh clone after scripts/setup.sh. Progress goes to stderr, the report to
# stdout. The three precisions (fp32, fp16, int8: `mobilesam bench
# --precision P`) are timed in the same sitting and shown in one table
# beside the peer; the rest of the report is fp32's.
#
# Usage: scripts/bench.sh [options] [RUNS] [THREADS]    (defaults: 5 2)
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/bench.sh [options] [RUNS] [THREADS]

Benchmarks mobilesam (RUNS timed runs after a warm-up, THREADS threads;
defaults 5 and 2) in each precision (fp32, fp16, int8) and, when it is
there, the ONNX Runtime peer in the same sitting, then prints them, the
ratios ours/peer and the targets (the targets: fp32). A precision this CPU
lacks runs its fallback, which the table says ("int8 -> fp32").

options:
  --threads-scaling  also time the encoder with 1 and with 2 threads
  --json             print one combined JSON line instead of the report
  --check            exit 1 when a target is missed (default: report only)
  -h, --help         this help

environment:
  MOBILESAM_TESTDATA   fixture pack (default: ../shared/testdata)
  MOBILESAM_PEER       the peer's run.sh, or its directory
                       (default: peer/run.sh beside the fixture pack)
  MOBILESAM_BUILD_DIR  build directory (default: build)
  MOBILESAM_WEIGHTS    weight file (default: weights/mobile_sam.msam, else
                       the fixture's synthetic checkpoint, converted)

Targets: encoder ours/peer <= 0.80, decoder ours/peer <= 0.50, a whole
'seg' process <= 1.25 x (load + preprocess + encoder + decoder), encoder
speed-up from 1 to 2 threads >= 1.7.
EOF
}

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

runs=5 threads=2 scaling=0 json=0 check=0 positional=()
while [ $# -gt 0 ]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --threads-scaling) scaling=1 ;;
    --json) json=1 ;;
    --check) check=1 ;;
    -*) usage >&2; exit 2 ;;
    *) positional+=("$1") ;;
  esac
  shift
done
[ ${#positional[@]} -le 2 ] || { usage >&2; exit 2; }
[ ${#positional[@]} -lt 1 ] || runs=${positional[0]}
[ ${#positional[@]} -lt 2 ] || threads=${positional[1]}
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, got '$runs'"
[[ $threads =~ ^[1-9][0-9]*$ ]] ||
  die "THREADS must be a positive integer, got '$threads'"

# Paths given relative to the caller's directory, resolved before the cd.
abspath() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
[ -z "${MOBILESAM_TESTDATA:-}" ] || MOBILESAM_TESTDATA=$(abspath "$MOBILESAM_TESTDATA")
[ -z "${MOBILESAM_PEER:-}" ] || MOBILESAM_PEER=$(abspath "$MOBILESAM_PEER")
[ -z "${MOBILESAM_WEIGHTS:-}" ] || MOBILESAM_WEIGHTS=$(abspath "$MOBILESAM_WEIGHTS")
[ -z "${MOBILESAM_BUILD_DIR:-}" ] || MOBILESAM_BUILD_DIR=$(abspath "$MOBILESAM_BUILD_DIR")
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
build=${MOBILESAM_BUILD_DIR:-$root/build}
testdata=${MOBILESAM_TESTDATA:-$root/../shared/testdata}
[ -f "$testdata/images/zidane.png" ] ||
  die "no fixture pack at $testdata: set MOBILESAM_TESTDATA"
testdata=$(cd "$testdata" && pwd)
export MOBILESAM_TESTDATA=$testdata

command -v python3 >/dev/null || die "python3 is needed (scripts/setup.sh)"

# --- build and weights ------------------------------------------------------
if [ ! -f "$build/CMakeCache.txt" ]; then
  log "configuring $build"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >&2
fi
log "building $build"
cmake --build "$build" -j2 --target mobilesam >&2
bin=$build/mobilesam

if [ -n "${MOBILESAM_WEIGHTS:-}" ]; then
  weights=$MOBILESAM_WEIGHTS
elif [ -f "$root/weights/mobile_sam.msam" ]; then
  weights=$root/weights/mobile_sam.msam
else
  weights=$build/bench-weights.msam
  checkpoint=$testdata/mobile_sam_synthetic.pt
  if [ ! -f "$weights" ] || [ "$checkpoint" -nt "$weights" ]; then
    log "converting the fixture's synthetic checkpoint to $weights"
    python3 "$root/tools/convert.py" "$checkpoint" -o "$weights" >&2
  fi
fi
[ -f "$weights" ] || die "no weight file at $weights"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mobilesam-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# --- ours -------------------------------------------------------------------
# The peer's decoder prompt: one foreground point at (900, 370).
ours_bench() { # THREADS [PRECISION]
  "$bin" bench -w "$weights" --image "$testdata/images/zidane.png" \
    --point 900,370 --runs "$runs" --threads "$1" --precision "${2:-fp32}" \
    --json
}
log "mobilesam bench: $runs runs, $threads threads, fp32"
ours=$(ours_bench "$threads" fp32)
# the reduced precisions (a CPU without the instructions runs the fallback,
# and bench's notice says so on stderr)
precs=$ours
for p in fp16 int8; do
  log "mobilesam bench: $runs runs, $threads threads, $p"
  precs="$precs
$(ours_bench "$threads" "$p")"
done

# --- the peer ---------------------------------------------------------------
# the peer sits beside the fixture pack in shared/
peer_sh=${MOBILESAM_PEER:-$testdata/../peer/run.sh}
[ ! -d "$peer_sh" ] || peer_sh=$peer_sh/run.sh
peer=""
if [ -f "$peer_sh" ]; then
  log "peer: $peer_sh $threads $runs"
  if peer_out=$(bash "$peer_sh" "$threads" "$runs"); then
    peer=$(printf '%s\n' "$peer_out" | grep '^{' | tail -n 1 || true)
  fi
  [ -n "$peer" ] || log "the peer failed: no comparison"
else
  log "no peer at $peer_sh: no comparison"
fi

# --- a whole seg process ----------------------------------------------------
# /usr/bin/time when there is one, else the same numbers through wait4().
measure_process() { # OUT_FILE CMD... -> "wall_seconds max_rss_kib" in OUT_FILE
  local out=$1
  shift
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f '%e %M' -o "$out" "$@"
  else
    python3 - "$out" "$@" <<'EOF'
import os, subprocess, sys, time
t = time.monotonic()
p = subprocess.Popen(sys.argv[2:])
_, status, ru = os.wait4(p.pid, 0)
open(sys.argv[1], "w").write("%.3f %d\n" % (time.monotonic() - t, ru.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
EOF
  fi
}
seg_runs=3
log "mobilesam seg zidane.jpg --point 900,370: $seg_runs whole processes"
proc=""
for i in $(seq "$seg_runs"); do
  measure_process "$tmp/time.$i" "$bin" seg "$testdata/images/zidane.jpg" \
    --point 900,370 --label 1 -w "$weights" --threads "$threads" \
    -o "$tmp/m.png" >&2 || die "mobilesam seg failed"
  proc="$proc $(tail -n 1 "$tmp/time.$i")"
done

# --- threads scaling --------------------------------------------------------
scale1="" scale2=""
if [ "$scaling" = 1 ]; then
  log "threads scaling: the encoder with 1, then 2 threads"
  scale1=$(ours_bench 1)
  scale2=$(ours_bench 2)
fi

# --- report -----------------------------------------------------------------
OURS=$ours PRECS=$precs PEER=$peer PROC=$proc SCALE1=$scale1 SCALE2=$scale2 JSON=$json \
  CHECK=$check PEER_SH=$peer_sh python3 - <<'EOF'
import json, os, statistics, sys

ours = json.loads(os.environ["OURS"])
peer = json.loads(os.environ["PEER"]) if os.environ["PEER"] else None
pairs = os.environ["PROC"].split()
walls = [float(w) * 1000 for w in pairs[0::2]]
rss = [int(k) / 1024 for k in pairs[1::2]]
targets = {"encoder_ratio": 0.80, "decoder_ratio": 0.50,
           "process_ratio": 1.25, "threads_speedup": 1.7}
out = {"ours": ours, "peer": peer}
met = {}

# fp32, fp16, int8 in the sitting's order: the precision asked, the one run
precs = [json.loads(l) for l in os.environ["PRECS"].splitlines() if l.strip()]
out["precisions"] = {}
for b in precs:
    row = {"precision": b["precision"], "encoder_ms": b["encoder_ms"],
           "decoder_ms": b["decoder_ms"], "load_ms": b["load_ms"],
           "peak_rss_mib": b["peak_rss_mib"]}
    if peer:
        row["encoder_ratio"] = b["encoder_ms"] / peer["encoder_ms"]
        row["decoder_ratio"] = b["decoder_ms"] / peer["decoder_ms"]
    out["precisions"][b["precision_wanted"]] = row

if peer:
    out["encoder_ratio"] = ours["encoder_ms"] / peer["encoder_ms"]
    out["decoder_ratio"] = ours["decoder_ms"] / peer["decoder_ms"]
    met["encoder_ratio"] = out["encoder_ratio"] <= targets["encoder_ratio"]
    met["decoder_ratio"] = out["decoder_ratio"] <= targets["decoder_ratio"]

stage_keys = ("load_ms", "preprocess_ms", "encoder_ms", "decoder_ms")
stages = sum(ours[k] for k in stage_keys)
process = {"runs": len(walls), "wall_ms": statistics.median(walls),
           "peak_rss_mib": max(rss), "stages_ms": stages,
           # What a one-shot process pays: bench's warm-up run.
           "stages_warmup_ms": sum(ours["warmup"][k] for k in stage_keys)}
process["ratio"] = process["wall_ms"] / stages
out["process"] = process
met["process_ratio"] = process["ratio"] <= targets["process_ratio"]

if os.environ["SCALE1"]:
    s1, s2 = json.loads(os.environ["SCALE1"]), json.loads(os.environ["SCALE2"])
    out["threads_scaling"] = {"encoder_ms_1": s1["encoder_ms"],
                              "encoder_ms_2": s2["encoder_ms"],
                              "speedup": s1["encoder_ms"] / s2["encoder_ms"]}
    met["threads_speedup"] = out["threads_scaling"]["speedup"] >= \
        targets["threads_speedup"]
out["targets"] = targets
out["met"] = met

def verdict(key):
    return "met" if met[key] else "MISSED"

if os.environ["JSON"] == "1":
    print(json.dumps(out))
else:
    t = ours["threads"]
    print(f"mobilesam {ours['version']} vs ONNX Runtime peer: zidane "
          f"({ours['width']}x{ours['height']}), point (900, 370), {t} "
          f"thread{'s' * (t != 1)}, median of {ours['runs']} runs after a "
          f"warm-up")
    print()
    print(f"{'stage (ms)':<14}{'ours':>10}{'peer':>10}{'ours/peer':>11}"
          f"{'target':>9}")
    for key, name in (("load_ms", "load"), ("preprocess_ms", "preprocess"),
                      ("encoder_ms", "encoder"), ("decoder_ms", "decoder")):
        line = f"{name:<14}{ours[key]:>10.1f}"
        pk = peer.get(key) if peer else None
        if pk:
            ratio = ours[key] / pk
            tkey = name + "_ratio"
            target = (f"<= {targets[tkey]:.2f} {verdict(tkey)}"
                      if tkey in targets else "")
            line += f"{pk:>10.1f}{ratio:>11.2f}   {target}"
        elif peer:
            line += f"{'-':>10}"
        print(line.rstrip())
    print(f"{'peak RSS (MiB)':<14}{ours['peak_rss_mib']:>10.1f}")
    print()
    print("precision       encoder ms  decoder ms  encoder/peer  "
          "decoder/peer  load ms")
    for wanted, row in out["precisions"].items():
        name = wanted if row["precision"] == wanted else \
            f"{wanted} -> {row['precision']}"
        ratios = (f"{row['encoder_ratio']:>14.2f}{row['decoder_ratio']:>14.2f}"
                  if peer else f"{'-':>14}{'-':>14}")
        print(f"{name:<14}{row['encoder_ms']:>12.1f}{row['decoder_ms']:>12.2f}"
              f"{ratios}{row['load_ms']:>9.1f}")
    if peer:
        print(f"{'peer':<14}{peer['encoder_ms']:>12.1f}"
              f"{peer['decoder_ms']:>12.2f}{1:>14.2f}{1:>14.2f}")
    if any(r["precision"] != w for w, r in out["precisions"].items()):
        print("(a -> b: this CPU lacks a's instructions and runs b)")
    if peer:
        print(f"\npeer: {peer.get('engine', '?')}, {peer.get('threads')} "
              f"threads (its decoder: median of max(4 x runs, 20) after 3 "
              f"warm-ups; embedding max |diff| vs torch "
              f"{peer.get('embedding_maxabs_vs_torch', float('nan')):.2g})")
    else:
        print(f"\npeer: not run ({os.environ['PEER_SH']} missing or failed)")
    print(f"\nwhole process: mobilesam seg zidane.jpg --point 900,370 "
          f"(median of {process['runs']})")
    print(f"  wall {process['wall_ms']:.0f} ms, peak RSS "
          f"{process['peak_rss_mib']:.1f} MiB")
    print(f"  wall / (load + preprocess + encoder + decoder = "
          f"{stages:.0f} ms) = {process['ratio']:.2f}   <= "
          f"{targets['process_ratio']:.2f} {verdict('process_ratio')}")
    print(f"  (the same stages in bench's warm-up run, cold like a one-shot "
          f"process: {process['stages_warmup_ms']:.0f} ms)")
    if "threads_scaling" in out:
        s = out["threads_scaling"]
        print(f"\nthreads scaling: encoder {s['encoder_ms_1']:.1f} ms with 1 "
              f"thread, {s['encoder_ms_2']:.1f} ms with 2: speed-up "
              f"{s['speedup']:.2f}   >= {targets['threads_speedup']:.1f} "
              f"{verdict('threads_speedup')}")
sys.exit(1 if os.environ["CHECK"] == "1" and not all(met.values()) else 0)
EOF
