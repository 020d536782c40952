#!/usr/bin/env bash
# mutants.sh [NAME...]: the mutation check of make test-cuda-emu. Each
# mutant below plants one bug (a perl substitution) in a copy of cuda/'s
# CUDA sources; the copy is built with make cuda-emu and make
# test-cuda-emu's test set runs against it (make test-cuda-emu with
# CUDA_EMU_SRC and CUDA_EMU_DIR pointing at the copy). A mutant is caught
# when that fails. Prints one line per mutant and the count; exits non-zero
# when a mutant escapes or does not apply. With names, runs only those.
# Takes under a minute per mutant on 2 cores (70 mutants: about 49 minutes).
set -uo pipefail
cd "$(dirname "$0")/../.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
caught=0 escaped=0 broken=0

# mutant NAME FILE PERL_SUBSTITUTION: what the substitution does is NAME.
mutant() {
  local name=$1 file=$2 subst=$3
  if [ ${#only[@]} -gt 0 ] && [[ " ${only[*]} " != *" $name "* ]]; then return; fi
  local d=$work/$name
  mkdir -p "$d/src"
  cp cuda/*.cu cuda/*.cuh cuda/*.h "$d/src/"
  perl -0pi -e "$subst" "$d/src/$file"
  if cmp -s "$d/src/$file" "cuda/$file"; then
    printf '%-24s DOES NOT APPLY (%s)\n' "$name" "$subst"
    broken=$((broken + 1))
    return
  fi
  if ! make -s cuda-emu CUDA_EMU_SRC="$d/src" CUDA_EMU_DIR="$d/build" >"$d/build.log" 2>&1; then
    printf '%-24s DOES NOT BUILD: %s\n' "$name" "$(grep -m1 error "$d/build.log")"
    broken=$((broken + 1))
    return
  fi
  if timeout 600 make -s test-cuda-emu CUDA_EMU_SRC="$d/src" CUDA_EMU_DIR="$d/build" CUDA_EMU_REQUIRED=1 \
    >"$d/test.log" 2>&1; then
    printf '%-24s ESCAPED\n' "$name"
    escaped=$((escaped + 1))
  else
    local why
    why=$(grep -m1 -E "runtime error|ERROR: AddressSanitizer|cuda-emu: FATAL|cuda-emu: warning|--- FAIL|panic:|SIGSEGV|Terminated" \
      "$d/test.log" | sed -E 's/^[ =0-9]+//' | cut -c1-110)
    printf '%-24s caught: %s\n' "$name" "${why:-the test set failed}"
    caught=$((caught + 1))
  fi
  rm -rf "$d"
}

only=("$@")

# memory.cu: contexts, scratch, fills.
mutant memory-zero-half memory.cu 's/(cudaMemsetAsync\(\(void \*\)\(uintptr_t\)dst, 0, )bytes/$1bytes \/ 2/'
mutant memory-scratch-no-grow memory.cu 's/if \(ctx->scratch_bytes\[slot\] < bytes\)/if (ctx->scratch_bytes[slot] < bytes \&\& ctx->scratch[slot] == nullptr)/'

# nf4.cu, nf4.cuh: dequantization.
mutant nf4-no-sync nf4.cu 's/__syncthreads\(\);//'
mutant nf4-nibble-order nf4.cu 's/\(i & 1\) \? \(byte & 15\) : \(byte >> 4\)/(i \& 1) ? (byte >> 4) : (byte \& 15)/'
mutant nf4-vector-bound nf4.cu 's/first \+ 32 <= q.n\)/first + 32 <= q.n + 16)/'
mutant nf4-scale2-block nf4.cuh 's/__ffs\(q.block_size2\)/__ffs(q.block_size)/'

# nf4.cu: quantization (bit-exact with package quant).
mutant nf4q-offset-float nf4.cu 's/double sum = 0;/float sum = 0;/'
mutant nf4q-odd-tail nf4.cu 's/i \+ 1 < hi \? load_float\(w, wt, i \+ 1\) : 0.0f/i + 1 < hi ? load_float(w, wt, i + 1) : 1.0f/'
mutant nf4q-nested-no-abs nf4.cu 's/block_max\(fabsf\(d\), red\)/block_max(d, red)/'

# adamw.cu: sums of squares and AdamW.
mutant adamw-no-sync adamw.cu 's/__syncthreads\(\);//'
mutant adamw-shuffle-mask adamw.cu 's/__shfl_down_sync\(0xffffffffu/__shfl_down_sync(0x0000ffffu/'
mutant adamw-sum-assign adamw.cu 's/acc \+= sq\(a.x\)/acc = sq(a.x)/'
mutant adamw-partials-bound adamw.cu 's/i < count; i \+= kThreads/i <= count; i += kThreads/'
mutant adamw-head-bound adamw.cu 's/return j < s.head \?/return j <= s.head ?/'
mutant adamw-misaligned adamw.cu 's/misalign\(g\) == a && misalign\(m\) == a && misalign\(v\) == a && //'
mutant adamw-fma adamw.cu 's/__fadd_rn\(__fmul_rn\(m, c.b1\), __fmul_rn\(gi, c.c1\)\)/fmaf(m, c.b1, __fmul_rn(gi, c.c1))/'
mutant adamw-clip-compare adamw.cu 's/\(coef < 1.0f \|\|/(coef > 1.0f ||/'

# gemm.cu: GEMM plans and the type conversion.
mutant lora-no-bias-repoint gemm.cu 's/\} else if \(bias != 0\) \{\n.*?\n  \}/}/s'
mutant lora-key-no-align gemm.cu 's/k.align_b = alignment\(A.p\);/k.align_b = 16;/'
mutant lora-bias-bound gemm.cu 's/i < n; i \+= stride\) \{\n    float v/i <= n; i += stride) {\n    float v/'
# The weight build and the activation copy.
mutant lora-build-no-sync lora_linear.cu 's/__syncthreads\(\);//'
mutant lora-build-w-bound lora_linear.cu 's/if \(c0 \+ j < l.in\) v\[j\] = base1/if (c0 + j <= l.in) v[j] = base1/'
mutant lora-build-a-rows lora_linear.cu 's/o >= l.oy && o < l.oy \+ l.rank/o > l.oy \&\& o < l.oy + l.rank/'
mutant lora-concat-bound lora_linear.cu 's/if \(r >= rows\) break;/if (r > rows) break;/'
# The forward and backward GEMMs.
mutant lora-xcat-ld lora_linear.cu 's/mat\{xcat, BF16, l.kp, false\}/mat{xcat, BF16, l.kx, false}/'
mutant lora-c-operand-beta lora_linear.cu 's/(mat\{x, BF16, in, false\}, wT, )1.0f/${1}0.0f/'
mutant lora-da-assign lora_linear.cu 's/(mat\{x0, BF16, in, false\}, )1.0f(,\s+mat\{da)/${1}0.0f$2/'
mutant lora-db-transpose lora_linear.cu 's/mat\{dy, BF16, out, true\}/mat{dy, BF16, out, false}/'
mutant lora-g-scale lora_linear.cu 's/(g = mat\{\(tune_ptr\)\(uintptr_t\)gp, BF16, l.rp, false\};\n\s+TRY\(gemm\(ctx, rows, l.rp, out, )s->scale/${1}1.0f/'
# Dropout.
mutant drop-index dropout.cuh 's/splitmix64\(m.key \+ i\)/splitmix64(m.key + i + 1)/'
mutant drop-vector-halves lora_linear.cu 's/j % 2 \? 0x0000ffffu : 0xffff0000u/j % 2 ? 0xffff0000u : 0x0000ffffu/'
mutant drop-keep-forward lora_linear.cu 's/const float ts = s->scale \* m.keep;/const float ts = s->scale;/'
mutant drop-dx-unmasked lora_linear.cu 's/if \(s->dropout != 0\) TRY\(drop\(ctx, e, e, rows \* in, m\)\);//'
mutant drop-dx-concat lora_linear.cu 's/if \(out <= in && s->dropout == 0\)/if (out <= in)/'
mutant drop-threshold dropout.cuh 's/>> 40\) < m.threshold/>> 40) <= m.threshold/'

# norm.cu: RMSNorm, its backward pass, add + RMSNorm.
mutant norm-no-sync norm.cu 's/__syncthreads\(\);//'
mutant norm-first-warp norm.cu 's/for \(int w = 0; w < warps; w\+\+\)/for (int w = 0; w < 1; w++)/'
mutant norm-bwd-sign norm.cu 's/-__fmul_rn\(load\(x, row \+ j\), k\)/__fmul_rn(load(x, row + j), k)/'
mutant norm-add-unstored norm.cu 's/load\(sum, row \+ j\);  \/\/ as stored.*/load(a, row + j) + load(b, row + j);/'
# rope.cu: RoPE and its transpose.
mutant rope-no-transpose rope.cu 's/transpose \? -1.0f : 1.0f/1.0f/'
mutant rope-first-position rope.cu 's/\(float\)pos\[r\]/(float)pos[0]/'
mutant rope-half-index rope.cu 's/load\(x, at \+ half\)/load(x, at + half - 1)/'
# pointwise.cu, elements.cuh: embedding, SiLU·mul, adds, dropout.
mutant pointwise-bound pointwise.cu 's/i < \(n\); i \+=/i <= (n); i +=/'
mutant pointwise-silu-bwd-term pointwise.cu 's/__fadd_rn\(1.0f, __fmul_rn\(x, 1.0f - sig\)\)/1.0f/'
mutant pointwise-add-scaled-assign pointwise.cu 's/__fadd_rn\(load\(out, i\),/__fadd_rn(0.0f,/'
mutant pointwise-embedding-column pointwise.cu 's/load\(table, \(int64_t\)id \* dim \+ j\)/load(table, (int64_t)id * dim)/'
mutant pointwise-dropout-keep pointwise.cu 's/\? 0.0f : m.keep/? 0.0f : 1.0f/'
mutant elements-bf16-as-f32 elements.cuh 's/if \(a.t == TUNE_BF16\)\n    static_cast/if (a.t == TUNE_F32)\n    static_cast/'

# linear.cu: the frozen linear layers.
mutant linear-w-not-transposed linear.cu 's/mat\{wp, t, in, true\}/mat{wp, t, in, false}/'
mutant linear-wgrad-assign linear.cu 's/1.0f,\n(\s+)mat\{dw/0.0f,\n$1mat{dw/'
mutant linear-bias-unconverted linear.cu 's/if \(bias != 0 && bias_type != y_type\)/if (false)/'
mutant linear-weight-unconverted linear.cu 's/if \(w->dtype == t\) \{/if (true) {/'
# loss.cu: cross-entropy and the device loss sum.
mutant ce-no-sync loss.cu 's/__syncthreads\(\);//'
mutant ce-merge-unscaled loss.cu 's/a.s \* fa \+ b.s \* fb/a.s + b.s/'
mutant ce-target-logit loss.cu 's/- load\(row, type, t\);/- load(row, type, 0);/'
mutant ce-bwd-no-onehot loss.cu 's/j == t \? p - 1.0f : p/p/'
mutant ce-bwd-ignored-unwritten loss.cu 's/store\(dlogits, dtype, off \+ j, 0.0f\);/;/'
mutant ce-sum-counts-ignored loss.cu 's/if \(targets\[r\] == TUNE_IGNORE_INDEX\) continue;//'
mutant ce-sum-unscaled loss.cu 's/\(double\)scale \* l/l/'
# attention.cu: flash attention, forward and backward.
mutant attn-fwd-no-sync attention.cu 's/(alpha_s\[threadIdx.x\] = alpha;\n    \}\n)    __syncthreads\(\);/$1/'
mutant attn-causal attention.cu 's/return key <= qpos &&/return key < qpos \&\&/'
mutant attn-segment attention.cu 's/\(qseg == 0 \|\| key_seg == qseg\)/(qseg == 0 || key_seg != 0)/'
mutant attn-gqa-head attention.cu 's/const int kh = h \/ \(s.heads \/ s.kv_heads\);/const int kh = h % s.kv_heads;/'
mutant attn-no-rescale attention.cu 's/float t = acc\[j\] \* alpha;/float t = acc[j];/'
mutant attn-dkdv-one-head attention.cu 's/h < \(kh \+ 1\) \* rep; h\+\+/h < kh * rep + 1; h++/'
mutant attn-no-dsum attention.cu 's/ds = p \* \(dp - dsum_s\[r\]\) \* scale;/ds = p * dp * scale;/'
mutant attn-kv-rows attention.cu 's/if \(k0 \+ krow >= s.kv_stride\) return;/if (k0 + krow >= s.kv) return;/'
mutant attn-tc-dk-operand attention.cu 's/tc_accumulate<D>\(acc_k, dst, qs\);/tc_accumulate<D>(acc_k, pt, qs);/'
mutant attn-tc-alias-sync attention.cu 's/__syncthreads\(\);  \/\/ S is read: its place takes dS//'
mutant attn-tc-column-half attention.cu 's/\(half \* \(D \/ 32\) \+ j\) \* 16, L::ldk\)/j * 16, L::ldk)/'

echo "caught $caught of $((caught + escaped)) mutants; $broken did not apply or build"
[ $escaped -eq 0 ] && [ $broken -eq 0 ]
