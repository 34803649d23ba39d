#!/usr/bin/env bash
# bench-serve.sh - `mobilesam serve` under load, in one sitting with the
# engine's own decoder time (`mobilesam bench`): on zidane.jpg, the point
# (900, 370), RLE masks,
#   - one client: predict round trip p50 / p99 (wrk, to the last byte)
#     against decoder + encode_ms + 3 ms (target) and 2x that (p99 target);
#   - 4 clients: throughput and p99;
#   - time from POST /v1/images (a new image) to the first mask, against
#     encoder + decoder + 20 ms;
#   - resident memory after 100 different images posted under the default
#     cache (1024 MiB), against the cache + 300 MiB.
# Report only (exit 0), unless --check: then exit 1 when a target is missed.
#
# Usage: scripts/bench-serve.sh [--check] [SECONDS] [THREADS]   (10 2)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CHECK=0
if [ "${1:-}" = --check ]; then CHECK=1; shift; fi
case ${1:-} in -h|--help)
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
SECS=${1:-10}
THREADS=${2:-2}
TESTDATA=${MOBILESAM_TESTDATA:-../shared/testdata}
IMG=$TESTDATA/images/zidane.jpg
BUILD=${MOBILESAM_BUILD_DIR:-build}
BIN=$BUILD/mobilesam
log() { printf 'bench-serve: %s\n' "$*" >&2; }

[ -f "$IMG" ] || { log "no $IMG: set MOBILESAM_TESTDATA"; exit 1; }
[ -x "$BIN" ] || scripts/setup.sh --no-weights >&2
command -v wrk >/dev/null || {
  log "installing wrk"
  apt-get install -y wrk >/dev/null 2>&1 || { log "wrk is needed (apt-get install wrk)"; exit 1; }
}
WEIGHTS=${MOBILESAM_WEIGHTS:-weights/mobile_sam.msam}
if [ ! -f "$WEIGHTS" ]; then
  WEIGHTS=$BUILD/fixture.msam
  [ -f "$WEIGHTS" ] || python3 tools/convert.py "$TESTDATA/mobile_sam_synthetic.pt" \
    -o "$WEIGHTS" >&2
fi

TMP=$(mktemp -d)
SERVER=
cleanup() {
  [ -z "$SERVER" ] || kill "$SERVER" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

log "mobilesam bench (decoder and encoder of this sitting)"
"$BIN" bench --image "$IMG" --point 900,370 --runs 10 --threads "$THREADS" \
  -w "$WEIGHTS" --json >"$TMP/bench.json"

start_server() {
  "$BIN" serve --port 0 --threads "$THREADS" -w "$WEIGHTS" >"$TMP/serve.out" \
    2>"$TMP/serve.err" &
  SERVER=$!
  for _ in $(seq 200); do
    grep -q listening "$TMP/serve.out" 2>/dev/null && break
    sleep 0.05
  done
  URL=$(grep -o 'http://[^ ]*' "$TMP/serve.out")
}
stop_server() { kill "$SERVER"; wait "$SERVER" || true; SERVER=; }

start_server
log "server at $URL"
# the first mask of a new image, then the image id for the load tests
python3 - "$URL" "$IMG" >"$TMP/first.json" <<'EOF'
import http.client, json, sys, time
url, img = sys.argv[1], sys.argv[2]
host, port = url.split("//")[1].rstrip("/").rsplit(":", 1)
c = http.client.HTTPConnection(host, int(port))
data = open(img, "rb").read()
t0 = time.perf_counter()
c.request("POST", "/v1/images", data)
j = json.loads(c.getresponse().read())
c.request("POST", "/v1/images/%s/predict" % j["id"], json.dumps({"points": [[900, 370]]}))
r = json.loads(c.getresponse().read())
t1 = time.perf_counter()
print(json.dumps({"id": j["id"], "first_mask_ms": (t1 - t0) * 1e3,
                  "server_encoder_ms": j["encoder_ms"], "decoder_ms": r["decoder_ms"],
                  "encode_ms": r["encode_ms"], "bytes": 0}))
EOF
ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$TMP/first.json")
cat >"$TMP/predict.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"points": [[900, 370]]}'
wrk.headers["Content-Type"] = "application/json"
EOF
curl -s -X POST -d '{"points": [[900, 370]]}' "${URL}v1/images/$ID/predict" >"$TMP/one.json"
log "one client, ${SECS}s"
wrk -t1 -c1 -d"${SECS}s" --latency -s "$TMP/predict.lua" "${URL}v1/images/$ID/predict" \
  >"$TMP/wrk1.txt"
log "4 clients, ${SECS}s"
wrk -t2 -c4 -d"${SECS}s" --latency -s "$TMP/predict.lua" "${URL}v1/images/$ID/predict" \
  >"$TMP/wrk4.txt"
stop_server

log "100 different images under the default cache"
start_server
python3 - "$URL" "$IMG" "$SERVER" >"$TMP/rss.json" <<'EOF'
import http.client, json, sys
url, img, pid = sys.argv[1], sys.argv[2], sys.argv[3]
host, port = url.split("//")[1].rstrip("/").rsplit(":", 1)
c = http.client.HTTPConnection(host, int(port))
data = open(img, "rb").read()
for k in range(100):  # bytes after the JPEG's end: another file, the same pixels
    c.request("POST", "/v1/images", data + b"variant %d" % k)
    j = json.loads(c.getresponse().read())
    c.request("POST", "/v1/images/%s/predict" % j["id"], json.dumps({"points": [[900, 370]]}))
    c.getresponse().read()
status = dict(l.split(":", 1) for l in open("/proc/%s/status" % pid) if ":" in l)
mib = lambda k: int(status[k].split()[0]) / 1024
print(json.dumps({"rss_mib": mib("VmRSS"), "hwm_mib": mib("VmHWM")}))
EOF
stop_server

python3 - "$TMP" "$CHECK" <<'EOF'
import json, re, sys
tmp, check = sys.argv[1], sys.argv[2] == "1"
bench = json.load(open(tmp + "/bench.json"))
first = json.load(open(tmp + "/first.json"))
one = json.load(open(tmp + "/one.json"))
rss = json.load(open(tmp + "/rss.json"))
def wrk(path):
    t = open(path).read()
    def ms(s):
        v, u = re.match(r"([\d.]+)(us|ms|s)", s).groups()
        return float(v) * {"us": 1e-3, "ms": 1, "s": 1e3}[u]
    p = {k: ms(v) for k, v in re.findall(r"^\s+(50|99)%\s+(\S+)", t, re.M)}
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    n = int(re.search(r"(\d+) requests in", t).group(1))
    return p["50"], p["99"], rps, n
p50, p99, rps1, n1 = wrk(tmp + "/wrk1.txt")
q50, q99, rps4, n4 = wrk(tmp + "/wrk4.txt")
dec, enc = bench["decoder_ms"], bench["encoder_ms"] + bench.get("preprocess_ms", 0)
budget = dec + one["encode_ms"] + 3
rows = [
    ("decoder (mobilesam bench, median)", "%.1f ms" % dec, ""),
    ("encoder + pre-processing (bench)", "%.1f ms" % enc, ""),
    ("server decoder_ms / encode_ms", "%.1f / %.2f ms" % (one["decoder_ms"], one["encode_ms"]),
     "encode_ms <= 5", one["encode_ms"] <= 5),
    ("1 client p50 round trip (%d req)" % n1, "%.1f ms" % p50,
     "<= %.1f (decoder + encode_ms + 3)" % budget, p50 <= budget),
    ("1 client p99", "%.1f ms" % p99, "<= %.1f" % (2 * budget), p99 <= 2 * budget),
    ("4 clients throughput / p99 (%d req)" % n4, "%.1f req/s / %.1f ms" % (rps4, q99), ""),
    ("POST image -> first mask", "%.0f ms" % first["first_mask_ms"],
     "<= %.0f (encoder + decoder + 20)" % (enc + dec + 20),
     first["first_mask_ms"] <= enc + dec + 20),
    ("RSS after 100 images (peak)", "%.0f MiB (%.0f)" % (rss["rss_mib"], rss["hwm_mib"]),
     "<= 1324 (cache 1024 + 300)", rss["hwm_mib"] <= 1324),
]
missed = 0
print("%-40s %-24s %s" % ("figure", "measured", "target"))
for r in rows:
    mark = ""
    if len(r) == 4:
        mark = " ok" if r[3] else " MISSED"
        missed += not r[3]
    print("%-40s %-24s %s%s" % (r[0], r[1], r[2], mark))
print(json.dumps({"decoder_ms": dec, "encoder_ms": enc, "p50_ms": p50, "p99_ms": p99,
                  "encode_ms": one["encode_ms"], "rps4": rps4, "p99_4_ms": q99,
                  "first_mask_ms": first["first_mask_ms"], "rss_mib": rss["rss_mib"],
                  "hwm_mib": rss["hwm_mib"]}))
sys.exit(1 if check and missed else 0)
EOF
