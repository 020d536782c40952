#!/usr/bin/env bash
# Greedy decode throughput of tune's serving engine against PyTorch on the
# same machine, random weights in a real Qwen2.5 shape, at 1 and at 8
# sequences decoded together.
#   scripts/bench-decode.sh [shape] [prompt tokens] [new tokens]
# tune's side is `tune bench --decode` (decoder.Batcher, the engine of tune
# serve, without HTTP); PyTorch's is scripts/torch_decode.py (a KV-cache
# decode loop in plain torch, as transformers' generate runs it). Needs
# bin/tune (make) and Debian's python3-torch with OpenBLAS:
#   apt-get install python3-torch libopenblas0-pthread
set -euo pipefail
cd "$(dirname "$0")/.."
shape=${1:-Qwen2.5-0.5B-Instruct}
seq=${2:-32}
new=${3:-32}
threads=$(nproc)
for batch in 1 8; do
  tune=$(./bin/tune --threads "$threads" bench --shape "$shape" --seq "$seq" --batch "$batch" --decode "$new" --iters 1 2>/dev/null)
  torch=$(cd scripts && /usr/bin/python3 torch_decode.py --shape "$shape" --seq "$seq" --batch "$batch" --decode "$new" --threads "$threads")
  echo "$tune"
  echo "$torch"
  /usr/bin/python3 - "$tune" "$torch" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("batch %d: tune %.1f tokens/s, pytorch %.1f tokens/s, tune/pytorch %.2f (peak RSS %.0f / %.0f MiB)" % (
    a["batch"], a["tokens_per_s"], b["tokens_per_s"], a["tokens_per_s"] / b["tokens_per_s"], a["peak_rss_mib"], b["peak_rss_mib"]))
PY
done
