#!/usr/bin/env bash
# Forward-pass throughput and peak RSS of tune's CPU path against PyTorch on
# the same machine, random weights in a real Qwen2.5 shape.
#   scripts/bench-forward.sh [shape] [seq]
# Needs bin/tune (make) and Debian's python3-torch with OpenBLAS:
#   apt-get install python3-torch libopenblas0-pthread
# (without OpenBLAS, Debian's torch falls back to the reference BLAS and runs about 50x slower).
set -euo pipefail
cd "$(dirname "$0")/.."
shape=${1:-Qwen2.5-0.5B-Instruct}
seq=${2:-256}
threads=$(nproc)
tune=$(./bin/tune --threads "$threads" bench --shape "$shape" --seq "$seq")
torch=$(/usr/bin/python3 scripts/torch_forward.py --shape "$shape" --seq "$seq" --threads "$threads")
echo "$tune"
echo "$torch"
/usr/bin/python3 - "$tune" "$torch" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("%-8s %12s %14s" % ("", "tokens/s", "peak RSS MiB"))
print("%-8s %12.1f %14.0f" % ("tune", a["tokens_per_s"], a["peak_rss_mib"]))
print("%-8s %12.1f %14.0f" % ("pytorch", b["tokens_per_s"], b["peak_rss_mib"]))
print("tune/pytorch throughput ratio: %.3f" % (a["tokens_per_s"] / b["tokens_per_s"]))
PY
