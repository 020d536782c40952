#!/usr/bin/env bash
# CPU LoRA training-step throughput and peak RSS of tune (LoRA and QLoRA)
# against PyTorch on the same machine, random weights in a real Qwen2.5 shape,
# r=16 on all seven projections, every token a target, AdamW with clipping.
#   scripts/bench-train.sh [shape] [seq] [iters]
# The three runs go one after another, never at once. Needs bin/tune (make)
# and Debian's python3-torch with OpenBLAS:
#   apt-get install python3-torch libopenblas0-pthread
# (check with: dpkg -l | grep -E "python3-torch|libopenblas0-pthread")
# (without OpenBLAS, Debian's torch falls back to the reference BLAS and runs about 50x slower).
set -euo pipefail
cd "$(dirname "$0")/.."
shape=${1:-Qwen2.5-0.5B-Instruct}
seq=${2:-512}
iters=${3:-2}
threads=$(nproc)
lora=$(./bin/tune --threads "$threads" bench --train --shape "$shape" --seq "$seq" --iters "$iters")
echo "$lora"
qlora=$(./bin/tune --threads "$threads" bench --train --use_qlora --shape "$shape" --seq "$seq" --iters "$iters")
echo "$qlora"
torch=$(/usr/bin/python3 scripts/torch_train.py --shape "$shape" --seq "$seq" --iters "$iters" --threads "$threads")
echo "$torch"
/usr/bin/python3 - "$lora" "$qlora" "$torch" <<'PY'
import json, sys
l, q, t = (json.loads(s) for s in sys.argv[1:])
print("%-14s %10s %10s %14s" % ("", "tokens/s", "s/step", "peak RSS MiB"))
for name, r in (("tune LoRA", l), ("tune QLoRA", q), ("pytorch LoRA", t)):
    print("%-14s %10.2f %10.2f %14.0f" % (name, r["tokens_per_s"], r["seconds_per_iter"], r["peak_rss_mib"]))
print("tune/pytorch throughput: LoRA %.3f, QLoRA %.3f" % (l["tokens_per_s"] / t["tokens_per_s"], q["tokens_per_s"] / t["tokens_per_s"]))
print("tune/pytorch peak RSS:   LoRA %.3f, QLoRA %.3f" % (l["peak_rss_mib"] / t["peak_rss_mib"], q["peak_rss_mib"] / t["peak_rss_mib"]))
print("QLoRA/LoRA (tune): peak RSS %.3f, throughput %.3f" % (q["peak_rss_mib"] / l["peak_rss_mib"], q["tokens_per_s"] / l["tokens_per_s"]))
PY
