#!/usr/bin/env bash
# gpu-check.sh: every check of the CUDA library that needs a GPU, in one
# command, for a GPU machine with the CUDA toolkit and CMake but no Go.
#
# The Go binaries are built elsewhere (any machine with Go and a C compiler,
# for the GPU machine's architecture; no GPU, no CUDA), from the repository
# root:
#
#   go build -o bin/tune . && go test -c -o bin/cuda.test ./cuda && go test -c -o bin/dist.test ./dist
#
# Then, with the checkout (bin/ included) on the GPU machine, from its root:
#
#   scripts/gpu-check.sh                  # builds for sm_90 (H100, H200)
#   CUDA_ARCHS=80 scripts/gpu-check.sh    # another GPU
#
# It checks the toolkit and the binaries first (nvcc on PATH or in
# /usr/local/cuda/bin, CMake; a test binary for this machine's architecture,
# built with cgo, that starts here), builds libtune_cuda (make cuda, or
# CMake directly where make is missing), runs the GPU tests (the backend
# conformance suite, the fused ops against the CPU reference, bit-exactness,
# the dropout mask, aligned paths and cached plans) failing if the backend
# does not open, runs a one-rank NCCL all-reduce (with bin/dist.test),
# shows what bin/tune says about the GPU, runs the kernel benchmarks, then
# the whole training step at Qwen2.5-7B-Instruct's shapes (random weights,
# r=16 on all seven projections, SEQ=2048 tokens, micro-batch 1: QLoRA and
# LoRA, with and without recomputation) with tokens/s, model-FLOPs
# utilization (scripts/step-summary.awk states the formula) and peak GPU
# memory against `tune plan`, the longest sequence that trains at
# micro-batch 1, the same step in HF transformers + PEFT
# (scripts/hf_peft_step.py) for the ratio, and 100 steps of the demo on the
# GPU against the CPU (scripts/loss-curves.awk). It prints the summaries
# last. Logs land in $LOGS (default build/gpu-check). It exits non-zero
# when a check, the build, a test or a run fails. Budget: 8 minutes on an
# H100 (not yet measured: the build about 2, the tests and kernel
# benchmarks about 1, each whole-step run under STEP_TIMEOUT=240 s).
set -euo pipefail
cd "$(dirname "$0")/.."

ARCHS=${CUDA_ARCHS:-90}
JOBS=${JOBS:-$(nproc)}
LOGS=${LOGS:-build/gpu-check}
BENCHTIME=${BENCHTIME:-30x}
mkdir -p "$LOGS"

die() {
  echo "gpu-check: $*" >&2
  exit 2
}

# elf_arch prints the uname -m name of an ELF executable's machine.
elf_arch() {
  case "$(od -An -tx1 -j18 -N2 "$1" | tr -d ' \n')" in
    3e00) echo x86_64 ;;
    b700) echo aarch64 ;;
    *) echo "another architecture" ;;
  esac
}

# check_binary dies unless the Go binary $1 is for this machine and
# starts; $2... is a harmless command line to start it with.
check_binary() {
  local bin=$1 arch
  shift
  arch=$(elf_arch "$bin")
  [ "$arch" = "$(uname -m)" ] ||
    die "$bin is built for $arch, this machine is $(uname -m): build it with GOARCH=$([ "$(uname -m)" = aarch64 ] && echo arm64 || echo amd64)"
  if ! "$bin" "$@" >/dev/null 2>"$LOGS/start.err"; then
    echo "gpu-check: $bin does not start here:" >&2
    cat "$LOGS/start.err" >&2
    die "build it where the C library is no newer than here ($(ldd --version 2>&1 | head -n 1))"
  fi
}

echo "== GPU"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "(nvidia-smi failed: is the NVIDIA driver installed?)"
if ! command -v nvcc >/dev/null; then
  [ -x /usr/local/cuda/bin/nvcc ] ||
    die "no nvcc on PATH or in /usr/local/cuda/bin: install the CUDA toolkit (12 or 13; 11.8 compiles) or put its bin/ on PATH"
  export PATH=/usr/local/cuda/bin:$PATH
fi
echo "nvcc: $(command -v nvcc), $(nvcc --version | grep -m1 release)"
command -v cmake >/dev/null || die "no cmake: the library needs CMake 3.18 or newer"

echo "== binaries"
[ -x bin/cuda.test ] || die "bin/cuda.test is missing; on a machine with Go run: go test -c -o bin/cuda.test ./cuda"
check_binary bin/cuda.test -test.list .
gpu_tests=$(cd cuda && ../bin/cuda.test -test.list 'CUDA$')
[ -n "$gpu_tests" ] ||
  die "bin/cuda.test has no GPU tests: it was built without cgo; build it with CGO_ENABLED=1 and a C compiler"
echo "bin/cuda.test ($(uname -m)), GPU tests:" $gpu_tests
if [ -x bin/tune ]; then
  check_binary bin/tune --help
else
  echo "(no bin/tune: its step is skipped; go build -o bin/tune . builds it)"
fi

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
echo "== GPU tests, and the CPU emulation of the fused layer (bin/cuda.test -test.v)"
# Test binaries run in their package's folder, as go test runs them.
# TUNE_CUDA_EXPECT=gpu: a test fails, instead of skipping, when the backend
# does not open.
(cd cuda && TUNE_CUDA_EXPECT=gpu ../bin/cuda.test -test.run 'CUDA$|^TestFusedAlgebra$' -test.v -test.count=1) \
  >"$LOGS/test.log" 2>&1 || status=1
grep -E "^(--- (PASS|FAIL|SKIP)|PASS|FAIL|ok)|Error|panic|does not open|cuda \(" "$LOGS/test.log" || true

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
  # The demo selects its device after writing its data; stdout is the
  # demo's, stderr the device line or the error.
  bin/tune --device cuda demo --output_dir "$LOGS/demo" 2>&1 >/dev/null | grep -E "^tune:" || true
fi

echo "== benchmarks (-test.benchtime $BENCHTIME)"
(cd cuda && ../bin/cuda.test -test.run '^$' -test.bench . -test.benchtime "$BENCHTIME") >"$LOGS/bench.log" 2>&1 ||
  status=1
grep -E "^Benchmark|FAIL|panic" "$LOGS/bench.log" || true

# The whole training step at Qwen2.5-7B-Instruct's shapes, random weights,
# LoRA r=16 on all seven projections, one sequence of $SEQ tokens
# (micro-batch 1, every token a target), against `tune plan` and against HF
# transformers + PEFT on this GPU. Peak GPU memory of tune's runs is sampled
# with nvidia-smi every 100 ms (memory.used above what was used before the
# run, so it includes tune's CUDA context, a few hundred MiB); the HF runs
# report torch.cuda.max_memory_allocated (tensors only).
SEQ=${SEQ:-2048}
STEP_ITERS=${STEP_ITERS:-5}
STEP_TIMEOUT=${STEP_TIMEOUT:-240}
SHAPE=Qwen2.5-7B-Instruct
: >"$LOGS/step.jsonl"
# sampled CMD...: runs CMD (stdout to $LOGS/run.out), sampling the GPU's
# used memory; sets PEAK_MIB.
sampled() {
  local base smi rc
  base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -n 1)
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 >"$LOGS/mem.samples" 2>/dev/null &
  smi=$!
  timeout "$STEP_TIMEOUT" "$@" >"$LOGS/run.out" 2>>"$LOGS/step.err"
  rc=$?
  kill "$smi" 2>/dev/null
  wait "$smi" 2>/dev/null
  PEAK_MIB=$(awk -v b="${base:-0}" '$1 + 0 > m { m = $1 + 0 } END { print (m > b ? m - b : 0) }' "$LOGS/mem.samples")
  return $rc
}
# record LABEL: appends the JSON line of $LOGS/run.out with the label and
# the sampled peak, or a line saying the run failed.
record() {
  local line
  line=$(grep -m1 '^{' "$LOGS/run.out" || true)
  if [ -n "$line" ]; then
    echo "${line%\}}, \"label\": \"$1\", \"sampled_peak_gpu_mib\": $PEAK_MIB}" >>"$LOGS/step.jsonl"
  else
    echo "{\"label\": \"$1\", \"failed\": true}" >>"$LOGS/step.jsonl"
    status=1
  fi
}
echo
echo "== the training step: $SHAPE shapes, random weights, r=16 on all seven projections, $SEQ tokens, micro-batch 1"
if [ -x bin/tune ]; then
  for q in qlora lora; do
    for rc in off on; do
      args=(--device cuda bench --train --shape "$SHAPE" --seq "$SEQ" --batch 1 --iters "$STEP_ITERS" --lora_r 16)
      pargs=(--device cuda plan --base_model testdata/qwen2.5-7b-instruct --max_length "$SEQ" --batch_size 1 --lora_r 16 --json)
      [ $q = qlora ] && args+=(--use_qlora) && pargs+=(--use_qlora)
      [ $rc = on ] && args+=(--gradient_checkpointing) && pargs+=(--gradient_checkpointing)
      planned=$(bin/tune "${pargs[@]}" 2>>"$LOGS/step.err" | sed -n 's/.*"peak_bytes": *\([0-9]*\).*/\1/p' | head -n 1 || true)
      sampled bin/tune "${args[@]}" || true
      record "tune $q recompute=$rc planned_mib=$(( ${planned:-0} / 1048576 ))"
      tail -n 1 "$LOGS/step.jsonl"
    done
  done
  # The longest sequence that trains at micro-batch 1 (QLoRA, recomputation):
  # tune plan's prediction for this card, then three quarters and half of it
  # until one runs.
  longest=$(bin/tune --device cuda plan --base_model testdata/qwen2.5-7b-instruct --use_qlora --gradient_checkpointing \
    --batch_size 1 --lora_r 16 --json 2>>"$LOGS/step.err" | sed -n 's/.*"longest_max_length": *\([0-9]*\).*/\1/p' | head -n 1 || true)
  for n in ${longest:-0} $(( ${longest:-0} * 3 / 4 )) $(( ${longest:-0} / 2 )); do
    [ "$n" -gt 0 ] || break
    if sampled bin/tune --device cuda bench --train --shape "$SHAPE" --seq "$n" --batch 1 --iters 1 --lora_r 16 \
      --use_qlora --gradient_checkpointing; then
      record "tune qlora recompute=on longest (planned $longest)"
      tail -n 1 "$LOGS/step.jsonl"
      break
    fi
    echo "  $n tokens did not train (planned longest: $longest); see $LOGS/step.err"
  done
else
  echo "(no bin/tune: go build -o bin/tune . builds it)"
fi
echo "== the same step in HF transformers + PEFT (bf16 LoRA, SDPA; no bitsandbytes here)"
for rc in off on; do
  hargs=(--seq "$SEQ" --iters "$STEP_ITERS")
  [ $rc = on ] && hargs+=(--gradient_checkpointing)
  PEAK_MIB=0
  if timeout "$STEP_TIMEOUT" python3 scripts/hf_peft_step.py "${hargs[@]}" >"$LOGS/run.out" 2>>"$LOGS/step.err"; then
    record "hf-peft lora recompute=$rc"
    tail -n 1 "$LOGS/step.jsonl"
  else
    echo "  (HF PEFT step failed or is not installed: see $LOGS/step.err)"
  fi
done

# 100 steps of the demo on the GPU against the same run on the CPU: the
# logged training losses step by step.
echo "== the demo, 100 steps, CUDA against the CPU"
if [ -x bin/tune ]; then
  for d in cpu cuda; do
    rm -rf "$LOGS/demo-$d"
    timeout "$STEP_TIMEOUT" bin/tune --device $d demo --steps 100 --output_dir "$LOGS/demo-$d" >/dev/null 2>>"$LOGS/step.err" ||
      echo "  the $d demo failed: see $LOGS/step.err"
  done
  awk -f scripts/loss-curves.awk "$LOGS"/demo-cpu/checkpoints/*/training_log.jsonl \
    "$LOGS"/demo-cuda/checkpoints/*/training_log.jsonl || status=1
fi

echo
echo "== measured errors of the fused ops, max over cases, relative to max|want| (tolerance 1.6e-2)"
awk 'function show(side, op) { return (side, op) in worst ? sprintf("%.2e", worst[side, op]) : "n/a" }
     /^=== (RUN|NAME|CONT)/ { test = $3 }
     /measured error/ {
       side = test ~ /^TestFusedCUDA/ ? "gpu" : test ~ /^TestFusedAlgebra/ ? "cpu" : ""
       if (side == "") next
       for (i = 1; i <= NF; i++) if ($i == "measured") { op = $2 " " $3; err = $(i + 2) + 0 }
       ops[op] = 1
       if (!((side, op) in worst) || err > worst[side, op]) worst[side, op] = err
     }
     END {
       printf "  %-28s %10s %14s\n", "", "GPU", "CPU emulation"
       for (op in ops) printf "  %-28s %10s %14s\n", op, show("gpu", op), show("cpu", op)
     }' "$LOGS/test.log" | sort

echo
echo "== summary ($(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1))"
awk -f scripts/gpu-summary.awk "$LOGS/bench.log"
echo
awk -f scripts/step-summary.awk "$LOGS/step.jsonl"
exit $status
