#!/usr/bin/awk -f
# gpu-summary.awk BENCH_LOG: the summary table of scripts/gpu-check.sh, from
# the output of bin/cuda.test -test.bench (see cuda/bench_test.go).
#
# Memory-bound kernels: GB/s, against a device-to-device copy of the same
# run. The fused NF4 + LoRA linear layer: its time against the baseline's,
# plain cuBLASLt bf16 GEMMs of the products any LoRA layer needs (forward
# x·Wᵀ; backward dy·W and the two weight-gradient GEMMs of the adapter),
# as a ratio: 1.18 is the 85% target (the baseline's time / 0.85). The
# frozen linear ops and the loss head: times, and TFLOP/s against an H100's
# ~750 bf16 (cross-entropy: GB/s against the copy).
/^Benchmark/ {
  name = $1
  sub(/-[0-9]+$/, "", name)
  for (i = 2; i <= NF; i++) {
    if ($i == "GB/s") rate[name] = $(i - 1) + 0
    if ($i == "ns/op") ns[name] = $(i - 1) + 0
    if ($i == "TFLOP/s") tflops[name] = $(i - 1) + 0
  }
}
function pct(a, b) { return b > 0 ? sprintf("%3.0f%%", 100 * a / b) : "  n/a" }
function ratio(a, b) { return a > 0 && b > 0 ? sprintf("%5.2f", a / b) : "  n/a" }
function us(t) { return t > 0 ? sprintf("%9.1f", t / 1000) : "      n/a" }
END {
  copy = rate["BenchmarkCopy"]
  printf "%-44s %10s %8s %8s\n", "memory-bound kernel", "GB/s", "of copy", "target"
  printf "%-44s %10.0f %8s %8s\n", "device-to-device copy, 1 GiB", copy, "", ""
  printf "%-44s %10.0f %8s %8s\n", "NF4 dequantize 18944x3584 (double) -> bf16", rate["BenchmarkDequantNF4"],
    pct(rate["BenchmarkDequantNF4"], copy), "80%"
  printf "%-44s %10.0f %8s %8s\n", "AdamW 40.4M params: norm, clip, update", rate["BenchmarkAdamW/clipped"],
    pct(rate["BenchmarkAdamW/clipped"], copy), "80%"
  printf "%-44s %10.0f %8s %8s\n", "AdamW 40.4M params: update only", rate["BenchmarkAdamW/update"],
    pct(rate["BenchmarkAdamW/update"], copy), ""
  # The norm, RoPE, embedding and elementwise kernels (cuda/bench_ops_test.go),
  # bf16 activations, 4096 tokens of Qwen2.5-7B.
  n = split("RMSNorm:RMSNorm 4096x3584;RMSNormBackward:RMSNorm backward;AddRMSNorm/fused:add + RMSNorm, fused;" \
    "AddRMSNorm/unfused:add, then RMSNorm;RoPE/q:RoPE q, 28 heads of 128;RoPE/k:RoPE k, 4 heads of 128;" \
    "Embedding:embedding gather, 4096 of 152064x3584;SiLUMul:SiLU*mul 4096x18944;" \
    "SiLUMulBackward:SiLU*mul backward 4096x18944;Add:add 4096x3584;AddScaled:add scaled 4096x3584;" \
    "Dropout:dropout 4096x3584", ops, ";")
  for (k = 1; k <= n; k++) {
    split(ops[k], op, ":")
    printf "%-44s %10.0f %8s %8s\n", op[2], rate["Benchmark" op[1]], pct(rate["Benchmark" op[1]], copy), "80%"
  }
  print ""
  print "NF4+LoRA linear, 4096 tokens, r=16: time in µs, and fused / baseline (target <= 1.18, 85% of the GEMMs' rate)"
  printf "%-16s %9s %9s %6s   %9s %9s %6s\n", "", "fwd", "GEMM", "ratio", "bwd", "3 GEMMs", "ratio"
  n = split("3584to3584 3584to512 3584to18944 18944to3584", shapes, " ")
  for (k = 1; k <= n; k++) {
    s = shapes[k]
    f = ns["BenchmarkLoRALinearForward/" s]; gf = ns["BenchmarkGEMM/" s "/fwd"]
    b = ns["BenchmarkLoRALinearBackward/" s]; gb = ns["BenchmarkGEMM/" s "/bwd"]
    label = s
    sub(/to/, " -> ", label)
    printf "%-16s %9s %9s %6s   %9s %9s %6s\n", label, us(f), us(gf), ratio(f, gf), us(b), us(gb), ratio(b, gb)
  }
  print ""
  print "frozen linear ops and loss head (4096 tokens; chunks of 1024 rows, vocab 152064): time in µs, TFLOP/s or GB/s"
  printf "%-44s %9s %9s %8s\n", "", "µs", "rate", "of peak"
  n = split("BenchmarkLinear/3584to3584/fwd BenchmarkLinear/3584to3584/dx BenchmarkLinear/wgrad_r16 BenchmarkLossHead", lin, " ")
  for (k = 1; k <= n; k++) {
    s = lin[k]
    label = s
    sub(/^Benchmark/, "", label)
    printf "%-44s %9s %9.0f %8s\n", label " (TFLOP/s)", us(ns[s]), tflops[s], pct(tflops[s], 750)
  }
  n = split("BenchmarkCrossEntropy/fwd BenchmarkCrossEntropy/bwd", ce, " ")
  for (k = 1; k <= n; k++) {
    s = ce[k]
    label = s
    sub(/^Benchmark/, "", label)
    printf "%-44s %9s %9.0f %8s\n", label " (GB/s)", us(ns[s]), rate[s], pct(rate[s], copy)
  }
  print ""
  print "flash attention, Qwen2.5-7B heads (28 q, 4 kv, dim 128), one causal sequence: time in µs, model TFLOP/s"
  print "(2·T²·128·28 forward, 2.5 times that backward), and the floor at 750 TFLOP/s"
  printf "%-16s %9s %8s %9s   %9s %8s %9s\n", "tokens", "fwd", "TFLOP/s", "floor", "bwd", "TFLOP/s", "floor"
  n = split("2048 4096", lens, " ")
  for (k = 1; k <= n; k++) {
    t = lens[k]
    f = ns["BenchmarkAttention/" t "/fwd"]; b = ns["BenchmarkAttention/" t "/bwd"]
    fl = 2 * t * t * 128 * 28 / 750e12 * 1e9
    printf "%-16s %9s %8.1f %9s   %9s %8.1f %9s\n", t, us(f), tflops["BenchmarkAttention/" t "/fwd"], us(fl),
      us(b), tflops["BenchmarkAttention/" t "/bwd"], us(2.5 * fl)
  }
}
