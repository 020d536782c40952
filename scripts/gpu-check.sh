#!/usr/bin/env bash
# gpu-check.sh: every check of the CUDA library that needs a GPU, in one
# command, for a GPU machine with the CUDA toolkit and CMake but no Go.
#
# The Go binaries are built elsewhere (any machine with Go; no GPU, no CUDA),
# from the repository root:
#
#   go build -o bin/tune . && go test -c -o bin/cuda.test ./cuda
#
# Then, with the checkout (bin/ included) on the GPU machine, from its root:
#
#   scripts/gpu-check.sh                  # builds for sm_90 (H100, H200)
#   CUDA_ARCHS=80 scripts/gpu-check.sh    # another GPU
#
# It builds libtune_cuda (make cuda, or CMake directly where make is
# missing), runs the package's tests verbosely (the backend conformance
# suite, the fused-op conformance against the CPU reference, bit-exactness
# and aligned-path checks), shows what bin/tune says about the GPU, runs the
# kernel benchmarks, and prints a summary table last. Logs land in $LOGS
# (default build/gpu-check). It exits non-zero when the build or a test
# fails. About 3 minutes on an H100, most of it the build.
set -euo pipefail
cd "$(dirname "$0")/.."

ARCHS=${CUDA_ARCHS:-90}
JOBS=${JOBS:-$(nproc)}
LOGS=${LOGS:-build/gpu-check}
BENCHTIME=${BENCHTIME:-30x}
mkdir -p "$LOGS"

if [ ! -x bin/cuda.test ]; then
  echo "gpu-check: bin/cuda.test is missing; on a machine with Go run:" >&2
  echo "  go build -o bin/tune . && go test -c -o bin/cuda.test ./cuda" >&2
  exit 2
fi

echo "== GPU"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "(nvidia-smi failed)"
nvcc --version | tail -n 2

echo "== build libtune_cuda (CUDA_ARCHS=$ARCHS, $JOBS jobs)"
if command -v make >/dev/null; then
  make cuda CUDA_ARCHS="$ARCHS" CUDA_JOBS="$JOBS" >"$LOGS/build.log" 2>&1 || { cat "$LOGS/build.log"; exit 1; }
else
  { cmake -S . -B build/cuda -DCMAKE_BUILD_TYPE=Release "-DTUNE_CUDA_ARCHITECTURES=$ARCHS" &&
    cmake --build build/cuda -j "$JOBS" && mkdir -p bin && cp build/cuda/libtune_cuda.so bin/; } \
    >"$LOGS/build.log" 2>&1 || { cat "$LOGS/build.log"; exit 1; }
fi
grep -E "^-- tune:" "$LOGS/build.log" || true

status=0
echo "== tests (bin/cuda.test -test.v)"
# Test binaries run in their package's folder, as go test runs them.
(cd cuda && ../bin/cuda.test -test.v -test.count=1) >"$LOGS/test.log" 2>&1 || status=1
grep -E "^(=== RUN|--- (PASS|FAIL|SKIP)|PASS|FAIL|ok)|Error|panic|no CUDA backend|cuda \(" "$LOGS/test.log" |
  grep -vE "^=== RUN" || true
if grep -q "no CUDA backend here" "$LOGS/test.log"; then
  echo "gpu-check: the CUDA backend did not open, so the GPU tests were skipped (see above)"
  status=1
fi

# NCCL: one rank on this GPU, through the real libnccl.so.2 and
# the CUDA backend's buffers. Needs bin/dist.test, built beside the others
# with: go test -c -o bin/dist.test ./dist
echo "== NCCL smoke test (bin/dist.test -test.run NCCL)"
if [ -x bin/dist.test ]; then
  (cd dist && ../bin/dist.test -test.run 'NCCL' -test.v -test.count=1) >"$LOGS/nccl.log" 2>&1 || status=1
  grep -E "^(--- (PASS|FAIL|SKIP)|PASS|FAIL)|NCCL [0-9]|all-reduce of|no NCCL|no CUDA backend|Error" "$LOGS/nccl.log" || true
else
  echo "(no bin/dist.test: go test -c -o bin/dist.test ./dist builds it)"
fi

echo "== what tune says"
if [ -x bin/tune ]; then
  bin/tune --device cuda demo --output_dir "$LOGS/demo" 2>&1 | head -n 3 || true
else
  echo "(no bin/tune)"
fi

echo "== benchmarks (-test.benchtime $BENCHTIME)"
(cd cuda && ../bin/cuda.test -test.run '^$' -test.bench . -test.benchtime "$BENCHTIME") >"$LOGS/bench.log" 2>&1 || status=1
grep -E "^Benchmark|FAIL|panic" "$LOGS/bench.log" || true

echo
echo "== measured errors of the fused ops, max over cases, relative to max|want| (tolerance 1.6e-2)"
awk '/^=== (RUN|NAME|CONT)/ { test = $3 }
     /measured error/ {
       side = test ~ /^TestFusedCUDA/ ? "gpu" : test ~ /^TestFusedAlgebra/ ? "cpu" : ""
       if (side == "") next
       for (i = 1; i <= NF; i++) if ($i == "measured") { op = $2 " " $3; e = $(i + 2) + 0 }
       ops[op] = 1; if (e > worst[side, op]) worst[side, op] = e
     }
     END {
       printf "  %-28s %10s %14s\n", "", "GPU", "CPU emulation"
       for (op in ops) printf "  %-28s %10.2e %14.2e\n", op, worst["gpu", op], worst["cpu", op]
     }' "$LOGS/test.log" | sort

echo
echo "== summary ($(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1))"
awk '
  /^Benchmark/ {
    name = $1; sub(/-[0-9]+$/, "", name)
    for (i = 2; i <= NF; i++) if ($i == "GB/s" || $i == "TFLOP/s") rate[name] = $(i - 1) + 0
  }
  function pct(a, b) { return b > 0 ? sprintf("%3.0f%%", 100 * a / b) : "  n/a" }
  END {
    copy = rate["BenchmarkCopy"]
    printf "%-44s %10s %12s %8s\n", "memory-bound kernel", "GB/s", "of copy", "target"
    printf "%-44s %10.0f %12s %8s\n", "device-to-device copy, 1 GiB", copy, "", ""
    printf "%-44s %10.0f %12s %8s\n", "NF4 dequantize 18944x3584 (double) -> bf16", rate["BenchmarkDequantNF4"], pct(rate["BenchmarkDequantNF4"], copy), "80%"
    printf "%-44s %10.0f %12s %8s\n", "AdamW 40.4M params: norm, clip, update", rate["BenchmarkAdamW/clipped"], pct(rate["BenchmarkAdamW/clipped"], copy), "80%"
    printf "%-44s %10.0f %12s %8s\n", "AdamW 40.4M params: update only", rate["BenchmarkAdamW/update"], pct(rate["BenchmarkAdamW/update"], copy), ""
    print ""
    printf "%-30s %9s %9s %6s %9s %9s %6s  %s\n", "NF4+LoRA linear, 4096 x r=16", "fwd", "GEMM", "fwd%", "bwd", "GEMM", "bwd%", "(TFLOP/s; target 85%)"
    n = split("3584to3584 3584to512 3584to18944 18944to3584", shapes, " ")
    for (k = 1; k <= n; k++) {
      s = shapes[k]
      f = rate["BenchmarkLoRALinearForward/" s]; gf = rate["BenchmarkGEMM/" s "/fwd"]
      b = rate["BenchmarkLoRALinearBackward/" s]; gb = rate["BenchmarkGEMM/" s "/bwd"]
      label = s; sub(/to/, " -> ", label)
      printf "%-30s %9.1f %9.1f %6s %9.1f %9.1f %6s\n", label, f, gf, pct(f, gf), b, gb, pct(b, gb)
    }
  }' "$LOGS/bench.log"
exit $status
