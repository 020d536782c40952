#!/usr/bin/awk -f
# step-summary.awk STEP_JSONL: the training-step table of scripts/gpu-check.sh,
# from the JSON lines of `tune bench --train` and scripts/hf_peft_step.py
# (each with the label and sampled peak gpu-check.sh adds).
#
# Model-FLOPs utilization counts the FLOPs a LoRA step must do, not what
# recomputation adds: per token, 2N for the forward pass and 2N for the
# input gradients (the frozen weights get no weight gradient; the adapter's
# own FLOPs, under 1% at r=16, are left out), N being the parameters of the
# matrix products (Qwen2.5-7B: 28 layers of q, k, v, o, gate, up, down, and
# the LM head: 7.07e9), plus attention, 2·L·d·T forward (QKᵀ and PV over T/2
# keys on average, causal) and twice that backward: 6·L·d·T. At T = 2048
# that is 28.28 + 1.23 = 29.51 GFLOP per token. MFU = tokens/s × that /
# PEAK_TFLOPS (default 989, the dense bf16 rate of an H100 or H200 SXM by
# the datasheet; set PEAK_TFLOPS for another card).
function field(line, key,    m) {
  if (match(line, "\"" key "\": *\"[^\"]*\"")) {
    m = substr(line, RSTART, RLENGTH)
    sub(/^"[^"]*": *"/, "", m)
    sub(/"$/, "", m)
    return m
  }
  if (match(line, "\"" key "\": *[-0-9.eE+]+")) {
    m = substr(line, RSTART, RLENGTH)
    sub(/^"[^"]*": */, "", m)
    return m + 0
  }
  return ""
}
BEGIN {
  peak = ENVIRON["PEAK_TFLOPS"] != "" ? ENVIRON["PEAK_TFLOPS"] + 0 : 989
  L = 28; d = 3584; kv = 512; inter = 18944; V = 152064
  N = L * (2 * d * d + 2 * d * kv + 3 * d * inter) + d * V
}
/^\{/ {
  label = field($0, "label")
  n++
  labels[n] = label
  if ($0 ~ /"failed": *true/) { failed[n] = 1; next }
  T = field($0, "seq")
  tps[n] = field($0, "tokens_per_s")
  seq[n] = T
  flops = 4 * N + 6 * L * d * T
  mfu[n] = tps[n] * flops / (peak * 1e12)
  mem[n] = field($0, "sampled_peak_gpu_mib")
  if (mem[n] == "" || mem[n] == 0) mem[n] = field($0, "peak_gpu_mib")
  planned[n] = ""
  if (match(label, /planned_mib=[0-9]+/)) planned[n] = substr(label, RSTART + 12, RLENGTH - 12)
  if (label ~ /^hf-peft/) hf[label ~ /recompute=on/ ? "on" : "off"] = tps[n]
}
END {
  printf "training step, Qwen2.5-7B shapes, r=16 on all seven projections, micro-batch 1 (MFU against %g TFLOP/s)\n", peak
  printf "%-52s %7s %9s %6s %10s %10s %8s\n", "run", "tokens", "tokens/s", "MFU", "peak MiB", "planned", "vs HF"
  for (i = 1; i <= n; i++) {
    lab = labels[i]
    sub(/ planned_mib=[0-9]+/, "", lab)
    if (failed[i]) { printf "%-52s %7s\n", lab, "FAILED"; continue }
    rc = lab ~ /recompute=on/ ? "on" : "off"
    vs = (lab !~ /^hf-peft/ && hf[rc] > 0) ? sprintf("%.2fx", tps[i] / hf[rc]) : ""
    printf "%-52s %7d %9.0f %5.1f%% %10.0f %10s %8s\n", lab, seq[i], tps[i], 100 * mfu[i], mem[i], planned[i], vs
  }
  print "targets (QLoRA, 2048 tokens): MFU >= 55%, >= 2x HF PEFT, peak <= 7 GB (6676 MiB) at micro-batch 1, 128k tokens on 80 GB"
}
