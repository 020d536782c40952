// lora_linear.cu: the fused NF4 + LoRA linear layer, forward and backward,
// and the plain cuBLASLt bf16 GEMM it is measured against.
//
// Contract (row-major; x, y, dx, dy bf16; A, B, dA, dB fp32; W [out,in]
// NF4, fp32 or bf16; bias fp32, bf16 or none; s = scale):
//   forward:   y  = x·Wᵀ + bias + s·(xd·Aᵀ)·Bᵀ                (`=`)
//   backward:  dx = dy·W + s·mask⊙((dy·B)·A)                   (`=`, skipped when dx is 0)
//              dA += s·(dy·B)ᵀ·xd                              (`+=`)
//              dB += s·dyᵀ·(xd·Aᵀ)                             (`+=`)
// with x [rows,in], y and dy [rows,out], A [rank,in], B [out,rank], and
// xd = dropout(x) = x⊙mask, the LoRA dropout on the adapter's input
// (xd = x when p = 0; the mask is defined in tune_cuda.h).
//
// Dropout. mask = keep·m with keep = float(1/(1-p)) and m [rows,in] of 0
// and 1, which the kernels regenerate from (seed, element index) in both
// calls. A drop kernel writes x0 = x⊙m (x with the dropped elements zeroed:
// exact in bf16), and keep rides in the alpha of the GEMMs that read x0:
// t = (s·keep)·x0·Aᵀ and dA += keep·gᵀ·x0. In the backward, the mask
// applies to the adapter's part of dx alone, which the concatenation below
// cannot separate, so with p > 0 dx always takes the C-operand form:
// e = keep·g·A, zeroed where m is 0 by the same drop kernel, then
// dx = dy·W + e. The base GEMMs read x and dy undropped.
//
// Algebra: the adapter is concatenated along K. With t = x·Aᵀ and
// u = dy·B [rows,rank],
//   y  = [x | s·t]·[W | B]ᵀ     (K = in + rank)
//   dx = [dy | s·u]·[W ; A]     (K = out + rank; [W ; A] is W over A)
// so the adapter's products ride in the fp32 accumulator of the layer's big
// GEMM instead of being added to W. One build kernel writes, per call, the
// bf16 weight scratch Wcat [op,kp]:
//                columns 0..in-1   in..kx-1   kx..kx+rank-1   ..kp-1
//   rows 0..out-1        W             0            B             0
//   rows out..oy-1       0             0            0             0
//   rows oy..oy+rank-1   A             0            0             0
//   rows oy+rank..op-1   0             0            0             0
// with rp = round8(rank), kx = round8(in), kp = kx + rp, oy = round8(out),
// op = oy + rp. W is dequantized as bitsandbytes does (see nf4.cu) or
// converted, A and B are converted to bf16, all in one pass that reads W
// once. Every leading dimension (kp, op, rp) and the start of every block
// (column kx, row oy) is a multiple of 8 elements (16 bytes), so cuBLASLt
// stays on its aligned tensor-core paths; the zero rows and columns add
// exact zeros. The top rows [W 0 B 0] are the forward's weight, the left
// columns [W ; 0 ; A ; 0] the backward's, and the A rows and B columns the
// bf16 factors of the skinny GEMMs.
//
// The concatenation puts s·t (or s·u) beside x (or dy) in an activation
// scratch, which costs a copy of x (or dy): its elements read and written
// once more. When the output is the narrower side, the same sums are had by
// writing the adapter's term (z [rows,out], or e [rows,in]) once and
// letting the big GEMM read it as its C operand (beta = 1, out of place: C
// is the scratch, D is y or dx), which moves the output's width twice
// instead. Each call takes the cheaper form (ties: the concatenation, one
// GEMM):
//   forward, in <= out:  Xcat [rows,kp] = [x | 0 | s·x·Aᵀ]: a copy kernel
//                        writes x and the zero columns, a skinny GEMM
//                        (alpha = s) writes s·x·Aᵀ into columns kx..kp-1
//                        (A's zero pad rows give zero pad columns); then
//                        y = Xcat·[W 0 B 0]ᵀ + bias, K = kp, bias in the
//                        epilogue.
//   forward, in > out:   t = s·x·Aᵀ [rows,rp]; z = t·Bᵀ + bias [rows,out];
//                        y = x·Wᵀ + z (C = z).
//   backward, out <= in: Dcat [rows,op] = [dy | 0 | s·dy·B] likewise;
//                        dx = Dcat·[W ; 0 ; A ; 0], K = op.
//   backward, out > in:  g = s·dy·B [rows,rp]; e = g·A [rows,in];
//                        dx = dy·W + e (C = e).
// Then, in both, t = s·x·Aᵀ [rows,rp] and the weight gradients
// dA += gᵀ·x and dB += dyᵀ·t (fp32 D, beta = 1), g being the s·dy·B columns
// of Dcat or the g scratch (with dropout, x0 and keep as above). Without
// dx, W is not read at all: A and B are converted to bf16 alone. At
// Qwen2.5-7B's shapes every extra pass is then over a 3584- or 512-wide
// matrix, never over the 18944-wide one.
//
// Precision. W is rounded to bf16 once, as a bf16 model's weight is
// (relative 2^-9), and so is the bias. The adapter enters as bf16 factors
// rounded relative to themselves (s·t or s·u, A, B; in the C-operand form
// also z = s·t·Bᵀ + bias and e = g·A, each rounded once relative to
// itself), and every product is summed in fp32. The adapter's term in y and
// dx therefore carries a relative error of a few 2^-9 of itself, whatever
// |W| is, and y and dx are rounded to bf16 once. (Adding s·B·A to W before
// rounding, as a merged weight does, quantizes the adapter to W's bf16 ulp,
// about 1.2e-4 at |W| = 0.02: a young adapter vanishes from the forward
// pass and a grown one keeps errors of several percent; TestTinyAdapter in
// emulator_test.go measures this.) The weight gradients see t and
// g = s·u rounded to bf16 and accumulate in fp32.

#include <math.h>
#include <string.h>

#include "common.cuh"
#include "dropout.cuh"
#include "nf4.cuh"

namespace {

// ---------------------------------------------------------------------------
// Scratch, as this file uses the slots of common.cuh:
//   SCRATCH_WEIGHT  Wcat, bf16 [op, kp]
//   SCRATCH_LORA_A  the activation scratch: Xcat [rows,kp], Dcat [rows,op],
//                   z [rows,out] or e [rows,in], whichever the call builds
//   SCRATCH_LORA_B  bf16 A [rank,in] and B [out,rank] (backward without dx)
//   SCRATCH_T, SCRATCH_G  t and g [rows,rp]; SCRATCH_BIAS  bf16 bias [out]
//   SCRATCH_DROP    x0, bf16 [rows, in] (dropout only)
constexpr scratch_slot kActivations = SCRATCH_LORA_A, kFactors = SCRATCH_LORA_B;

// Sizes of the concatenated operands (see the contract above).
struct cat_layout {
  int64_t in, out, rank;
  int64_t rp;  // round8(rank)
  int64_t kx;  // round8(in): B's first column in Wcat, s·t's in Xcat
  int64_t kp;  // kx + rp: columns (and row stride) of Wcat and Xcat
  int64_t oy;  // round8(out): A's first row in Wcat, s·u's column in Dcat
  int64_t op;  // oy + rp: rows of Wcat, columns (and row stride) of Dcat
};

int64_t round8(int64_t n) { return (n + 7) & ~(int64_t)7; }

cat_layout layout_of(const tune_lora_shape *s) {
  cat_layout l;
  l.in = s->in;
  l.out = s->out;
  l.rank = s->rank;
  l.rp = round8(s->rank);
  l.kx = round8(s->in);
  l.kp = l.kx + l.rp;
  l.oy = round8(s->out);
  l.op = l.oy + l.rp;
  return l;
}

// at returns the address of element (row, col) of a bf16 matrix with row
// stride ld at base.
tune_ptr at(tune_ptr base, int64_t ld, int64_t row, int64_t col) { return base + 2 * (row * ld + col); }

// Kernels that write groups of 8 bf16 (one 16-byte store) take a 2-D grid:
// x over the groups of a row, y over rows, kGroupRows rows per thread (their
// loads are issued before any of their stores).
constexpr int kGroupRows = 4;
constexpr int64_t kMaxGridY = 65535;

dim3 group_grid(int64_t rows, int64_t cols8) {
  int64_t y = (rows + kGroupRows - 1) / kGroupRows;
  return dim3(blocks_for(cols8 / 8, kThreads), (unsigned)(y < kMaxGridY ? y : kMaxGridY));
}

__device__ __forceinline__ uint32_t pack2(float a, float b) {
  __nv_bfloat162 h = __floats2bfloat162_rn(a, b);
  return *reinterpret_cast<uint32_t *>(&h);
}

__device__ __forceinline__ uint4 pack8(const float (&v)[8]) {
  return make_uint4(pack2(v[0], v[1]), pack2(v[2], v[3]), pack2(v[4], v[5]), pack2(v[6], v[7]));
}

// ---------------------------------------------------------------------------
// The build kernel: Wcat (see the contract), one pass, one 16-byte store per
// 8 elements. A group of 8 columns lies in one block of Wcat (kx and the
// block starts are multiples of 8). W's groups take the vector path when
// in % 8 == 0 and the source is aligned (one 4-byte load of 8 NF4 codes and
// one block scale, since NF4 blocks of a power of two >= 8 hold whole
// groups; or 16-byte loads of fp32 or bf16); otherwise element by element.

struct cat_src {
  tune_weight w;
  const float *a, *b;
  cat_layout l;
  bool w_vector;  // W's groups load as one (see above)
  bool a_vector;  // A's groups load as two float4 (in % 8 == 0, A aligned)
};

// base1 returns element i of the flattened W as fp32 (code: the NF4 code
// book in shared memory).
__device__ __forceinline__ float base1(const tune_weight &w, const float *code, int64_t i) {
  if (w.is_nf4) {
    uint8_t byte = reinterpret_cast<const uint8_t *>(w.nf4.data)[i >> 1];
    int nib = (i & 1) ? (byte & 15) : (byte >> 4);
    return __fmul_rn(code[nib], nf4_scale(w.nf4, i));
  }
  if (w.dtype == TUNE_F32) return reinterpret_cast<const float *>(w.ptr)[i];
  return __bfloat162float(reinterpret_cast<const __nv_bfloat16 *>(w.ptr)[i]);
}

// base8 loads elements i..i+7 of W (i % 8 == 0, the vector path) as fp32;
// for NF4, from the 4 packed bytes the caller loaded.
__device__ __forceinline__ void base8(const tune_weight &w, const float *code, int64_t i, uint32_t word,
                                      float (&v)[8]) {
  if (w.is_nf4) {
    float scale = nf4_scale(w.nf4, i);
#pragma unroll
    for (int j = 0; j < 4; j++) {
      uint32_t byte = (word >> (8 * j)) & 0xff;
      v[2 * j] = __fmul_rn(code[byte >> 4], scale);
      v[2 * j + 1] = __fmul_rn(code[byte & 15], scale);
    }
  } else if (w.dtype == TUNE_F32) {
    const float4 *p = reinterpret_cast<const float4 *>(reinterpret_cast<const float *>(w.ptr) + i);
    float4 a = __ldg(p), b = __ldg(p + 1);
    v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
  } else {
    uint4 u = __ldg(reinterpret_cast<const uint4 *>(reinterpret_cast<const __nv_bfloat16 *>(w.ptr) + i));
    const uint32_t words[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int j = 0; j < 4; j++) {
      v[2 * j] = __uint_as_float(words[j] << 16);
      v[2 * j + 1] = __uint_as_float(words[j] & 0xffff0000u);
    }
  }
}

// group returns the 8 elements of Wcat at row o, columns c0..c0+7.
__device__ __forceinline__ void group(const cat_src &src, const float *code, int64_t o, int64_t c0, uint32_t word,
                                      float (&v)[8]) {
  const cat_layout &l = src.l;
#pragma unroll
  for (int j = 0; j < 8; j++) v[j] = 0.0f;
  if (o < l.out) {
    if (c0 < l.kx) {  // W
      if (src.w_vector) {
        base8(src.w, code, o * l.in + c0, word, v);
      } else {
#pragma unroll
        for (int j = 0; j < 8; j++)
          if (c0 + j < l.in) v[j] = base1(src.w, code, o * l.in + c0 + j);
      }
    } else {  // B
#pragma unroll
      for (int j = 0; j < 8; j++) {
        int64_t r = c0 - l.kx + j;
        if (r < l.rank) v[j] = __ldg(src.b + o * l.rank + r);
      }
    }
  } else if (o >= l.oy && o < l.oy + l.rank && c0 < l.kx) {  // A
    const float *row = src.a + (o - l.oy) * l.in;
    if (src.a_vector) {
      float4 a = __ldg(reinterpret_cast<const float4 *>(row + c0)), b = __ldg(reinterpret_cast<const float4 *>(row + c0) + 1);
      v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
    } else {
#pragma unroll
      for (int j = 0; j < 8; j++)
        if (c0 + j < l.in) v[j] = __ldg(row + c0 + j);
    }
  }
}

__global__ void __launch_bounds__(kThreads) build_kernel(__nv_bfloat16 *__restrict__ out, const cat_src src) {
  __shared__ float code[16];
  if (threadIdx.x == 0) {
    // Constant indices: a run-time index would copy src to local memory.
#pragma unroll
    for (int j = 0; j < 16; j++) code[j] = src.w.nf4.code[j];
  }
  __syncthreads();
  const cat_layout &l = src.l;
  const int64_t c0 = 8 * ((int64_t)blockIdx.x * blockDim.x + threadIdx.x);
  if (c0 >= l.kp) return;
  const bool nf4 = src.w.is_nf4 && src.w_vector && c0 < l.kx;
  for (int64_t o0 = (int64_t)blockIdx.y * kGroupRows; o0 < l.op; o0 += (int64_t)gridDim.y * kGroupRows) {
    uint32_t word[kGroupRows];
#pragma unroll
    for (int i = 0; i < kGroupRows; i++) {
      int64_t o = o0 + i;
      word[i] = nf4 && o < l.out ? __ldg(reinterpret_cast<const uint32_t *>(src.w.nf4.data + ((o * l.in + c0) >> 1)))
                                 : 0;
    }
#pragma unroll
    for (int i = 0; i < kGroupRows; i++) {
      int64_t o = o0 + i;
      if (o >= l.op) break;
      float v[8];
      group(src, code, o, c0, word[i], v);
      reinterpret_cast<uint4 *>(out + o * l.kp)[c0 >> 3] = pack8(v);
    }
  }
}

// build writes Wcat into the weight scratch.
tune_status build(tune_ctx *ctx, const tune_weight *w, tune_ptr a, tune_ptr b, const cat_layout &l, tune_ptr *out) {
  void *p = nullptr;
  TRY(scratch(ctx, SCRATCH_WEIGHT, (size_t)(l.op * l.kp) * 2, &p));
  cat_src src;
  memset(&src, 0, sizeof src);
  src.w = *w;
  src.a = reinterpret_cast<const float *>(a);
  src.b = reinterpret_cast<const float *>(b);
  src.l = l;
  if (w->is_nf4)
    src.w_vector = l.in % 8 == 0 && w->nf4.block_size % 8 == 0 && misalign(w->nf4.data) % 4 == 0;
  else
    src.w_vector = l.in % 8 == 0 && misalign(w->ptr) == 0;
  src.a_vector = l.in % 8 == 0 && misalign(a) == 0;
  build_kernel<<<group_grid(l.op, l.kp), kThreads, 0, ctx->stream>>>(static_cast<__nv_bfloat16 *>(p), src);
  *out = (tune_ptr)(uintptr_t)p;
  return launched("LoRA weight build kernel");
}

// ---------------------------------------------------------------------------
// The activation copy: dst[r, 0:round8(n)) = [src[r, 0:n) | 0], dst with
// row stride ld (a multiple of 8, 16-byte aligned); the columns from
// round8(n) on are left to the skinny GEMM that follows. 16-byte loads when
// n % 8 == 0 and src is aligned, else element by element.

__global__ void __launch_bounds__(kThreads) concat_kernel(__nv_bfloat16 *__restrict__ dst, int64_t ld,
                                                          const uint16_t *__restrict__ src, int64_t rows, int64_t n,
                                                          bool vector) {
  const int64_t c0 = 8 * ((int64_t)blockIdx.x * blockDim.x + threadIdx.x);
  if (c0 >= n) return;  // n <= c0 < round8(n) cannot happen: c0 is a multiple of 8
  for (int64_t r0 = (int64_t)blockIdx.y * kGroupRows; r0 < rows; r0 += (int64_t)gridDim.y * kGroupRows) {
    uint4 v[kGroupRows];
#pragma unroll
    for (int i = 0; i < kGroupRows; i++) {
      int64_t r = r0 + i;
      if (r >= rows) break;
      if (vector) {
        v[i] = __ldg(reinterpret_cast<const uint4 *>(src + r * n + c0));
      } else {
        uint32_t h[8];
#pragma unroll
        for (int j = 0; j < 8; j++) h[j] = c0 + j < n ? src[r * n + c0 + j] : 0;
        v[i] = make_uint4(h[0] | h[1] << 16, h[2] | h[3] << 16, h[4] | h[5] << 16, h[6] | h[7] << 16);
      }
    }
#pragma unroll
    for (int i = 0; i < kGroupRows; i++) {
      int64_t r = r0 + i;
      if (r >= rows) break;
      reinterpret_cast<uint4 *>(dst + r * ld)[c0 >> 3] = v[i];
    }
  }
}

// concat copies src [rows,n] into columns 0..round8(n)-1 of the activation
// scratch, a [rows,ld] matrix.
tune_status concat(tune_ctx *ctx, tune_ptr src, int64_t rows, int64_t n, int64_t ld, tune_ptr *out) {
  void *p = nullptr;
  TRY(scratch(ctx, kActivations, (size_t)(rows * ld) * 2, &p));
  bool vector = n % 8 == 0 && misalign(src) == 0;
  concat_kernel<<<group_grid(rows, round8(n)), kThreads, 0, ctx->stream>>>(
      static_cast<__nv_bfloat16 *>(p), ld, reinterpret_cast<const uint16_t *>(src), rows, n, vector);
  *out = (tune_ptr)(uintptr_t)p;
  return launched("LoRA activation copy kernel");
}

// ---------------------------------------------------------------------------
// Dropout (see the contract): the mask of package backend's DropoutMask,
// regenerated per element from the seed (dropout.cuh).

// drop_kernel writes dst[i] = src[i] where the mask keeps element i and 0
// where it drops it, for i < n (dst may be src). Each thread takes groups
// of 8 elements: one 16-byte load and store when vector (both pointers
// 16-byte aligned) and the group is whole, else element by element.
__global__ void __launch_bounds__(kThreads) drop_kernel(uint16_t *dst, const uint16_t *src, int64_t n,
                                                        dropout_mask m, bool vector) {
  const int64_t stride = 8 * (int64_t)gridDim.x * blockDim.x;
  for (int64_t i0 = 8 * ((int64_t)blockIdx.x * blockDim.x + threadIdx.x); i0 < n; i0 += stride) {
    if (vector && i0 + 8 <= n) {
      uint4 v = *reinterpret_cast<const uint4 *>(src + i0);
      uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int j = 0; j < 8; j++)  // element i0+j is the low half of w[j/2] when j is even
        if (dropped(m, i0 + j)) w[j / 2] &= j % 2 ? 0x0000ffffu : 0xffff0000u;
      *reinterpret_cast<uint4 *>(dst + i0) = make_uint4(w[0], w[1], w[2], w[3]);
    } else {
      for (int64_t i = i0; i < i0 + 8 && i < n; i++) dst[i] = dropped(m, i) ? 0 : src[i];
    }
  }
}

// drop zeroes, from src into dst, the elements of a [rows, in] matrix that
// the mask drops.
tune_status drop(tune_ctx *ctx, tune_ptr dst, tune_ptr src, int64_t n, const dropout_mask &m) {
  const int64_t groups = (n + 7) / 8;
  const unsigned grid = blocks_for(groups < (int64_t)1 << 24 ? groups : (int64_t)1 << 24, kThreads);
  drop_kernel<<<grid, kThreads, 0, ctx->stream>>>(reinterpret_cast<uint16_t *>(dst),
                                                  reinterpret_cast<const uint16_t *>(src), n, m,
                                                  misalign(dst) == 0 && misalign(src) == 0);
  return launched("LoRA dropout kernel");
}

// adapter_input returns what the adapter's GEMMs read for x: x itself, or
// with dropout x0 = x⊙m in its scratch.
tune_status adapter_input(tune_ctx *ctx, tune_ptr x, const tune_lora_shape *s, const dropout_mask &m,
                          tune_ptr *out) {
  *out = x;
  if (s->dropout == 0) return TUNE_OK;
  void *p = nullptr;
  TRY(scratch(ctx, SCRATCH_DROP, (size_t)(s->rows * s->in) * 2, &p));
  *out = (tune_ptr)(uintptr_t)p;
  return drop(ctx, *out, x, s->rows * s->in, m);
}

tune_status check_shape(const tune_lora_shape *s, const tune_weight *w, const char *op) {
  if (s == nullptr || w == nullptr) return fail(TUNE_ERR_ARGUMENT, "%s: null shape or weight", op);
  if (s->rows < 1 || s->in < 1 || s->out < 1 || s->rank < 1)
    return fail(TUNE_ERR_ARGUMENT, "%s: shape rows=%lld in=%lld out=%lld rank=%lld (each must be >= 1)", op,
                (long long)s->rows, (long long)s->in, (long long)s->out, (long long)s->rank);
  if (!(s->dropout >= 0 && s->dropout < 1))
    return fail(TUNE_ERR_ARGUMENT, "%s: dropout p = %g (want 0 <= p < 1)", op, (double)s->dropout);
  if (w->is_nf4) {
    TRY(nf4_check(&w->nf4, op));
    if (w->nf4.n != s->out * s->in)
      return fail(TUNE_ERR_ARGUMENT, "%s: NF4 weight of %lld elements for out=%lld in=%lld", op,
                  (long long)w->nf4.n, (long long)s->out, (long long)s->in);
  } else if (w->ptr == 0 || (w->dtype != TUNE_F32 && w->dtype != TUNE_BF16)) {
    return fail(TUNE_ERR_ARGUMENT, "%s: dense weight missing or of unknown type %d", op, (int)w->dtype);
  }
  return TUNE_OK;
}

const cudaDataType_t BF16 = CUDA_R_16BF, F32 = CUDA_R_32F;

}  // namespace

extern "C" {

TUNE_API tune_status tune_lora_linear_forward(tune_ctx *ctx, tune_ptr y, tune_ptr x, const tune_weight *w,
                                              tune_ptr bias, tune_dtype bias_type, tune_ptr a, tune_ptr b,
                                              const tune_lora_shape *s) {
  TRY(enter(ctx));
  TRY(check_shape(s, w, "tune_lora_linear_forward"));
  if (y == 0 || x == 0 || a == 0 || b == 0) return fail(TUNE_ERR_ARGUMENT, "tune_lora_linear_forward: null buffer");
  if (bias != 0 && bias_type != TUNE_F32 && bias_type != TUNE_BF16)
    return fail(TUNE_ERR_ARGUMENT, "tune_lora_linear_forward: bias type %d (want TUNE_F32 or TUNE_BF16)",
                (int)bias_type);
  const int64_t rows = s->rows, in = s->in, out = s->out;
  const cat_layout l = layout_of(s);
  const dropout_mask m = dropout_of(s->dropout, s->dropout_seed);
  const float ts = s->scale * m.keep;  // t = ts·x0·Aᵀ
  tune_ptr wcat = 0, bias16 = 0, x0 = 0;
  TRY(build(ctx, w, a, b, l, &wcat));
  const mat wT{wcat, BF16, l.kp, true};                      // [W 0 B 0]ᵀ, or Wᵀ with K = in
  const mat aT{at(wcat, l.kp, l.oy, 0), BF16, l.kp, true};   // A16ᵀ [in, rp]
  const mat bT{at(wcat, l.kp, 0, l.kx), BF16, l.kp, true};   // B16ᵀ [rp, out]
  if (bias != 0) TRY(convert_scratch(ctx, SCRATCH_BIAS, bias, bias_type, TUNE_BF16, out, &bias16));
  TRY(adapter_input(ctx, x, s, m, &x0));
  if (in <= out) {
    // Xcat = [x | 0 | s·x0·Aᵀ]; y = Xcat·[W 0 B 0]ᵀ + bias.
    tune_ptr xcat = 0;
    TRY(concat(ctx, x, rows, in, l.kp, &xcat));
    TRY(gemm(ctx, rows, l.rp, in, ts, mat{x0, BF16, in, false}, aT, 0.0f,
             mat{at(xcat, l.kp, 0, l.kx), BF16, l.kp, false}, 0));
    return gemm(ctx, rows, out, l.kp, 1.0f, mat{xcat, BF16, l.kp, false}, wT, 0.0f, mat{y, BF16, out, false}, bias16);
  }
  // t = s·x0·Aᵀ; z = t·Bᵀ + bias; y = x·Wᵀ + z.
  void *tp = nullptr, *zp = nullptr;
  TRY(scratch(ctx, SCRATCH_T, (size_t)(rows * l.rp) * 2, &tp));
  TRY(scratch(ctx, kActivations, (size_t)(rows * out) * 2, &zp));
  const tune_ptr t = (tune_ptr)(uintptr_t)tp, z = (tune_ptr)(uintptr_t)zp;
  TRY(gemm(ctx, rows, l.rp, in, ts, mat{x0, BF16, in, false}, aT, 0.0f, mat{t, BF16, l.rp, false}, 0));
  TRY(gemm(ctx, rows, out, l.rp, 1.0f, mat{t, BF16, l.rp, false}, bT, 0.0f, mat{z, BF16, out, false}, bias16));
  return gemm(ctx, rows, out, in, 1.0f, mat{x, BF16, in, false}, wT, 1.0f, mat{y, BF16, out, false}, 0, z);
}

TUNE_API tune_status tune_lora_linear_backward(tune_ctx *ctx, tune_ptr dx, tune_ptr da, tune_ptr db, tune_ptr dy,
                                               tune_ptr x, const tune_weight *w, tune_ptr a, tune_ptr b,
                                               const tune_lora_shape *s) {
  TRY(enter(ctx));
  TRY(check_shape(s, w, "tune_lora_linear_backward"));
  if (da == 0 || db == 0 || dy == 0 || x == 0 || a == 0 || b == 0)
    return fail(TUNE_ERR_ARGUMENT, "tune_lora_linear_backward: null buffer");
  const int64_t rows = s->rows, in = s->in, out = s->out, rank = s->rank;
  const cat_layout l = layout_of(s);
  const dropout_mask m = dropout_of(s->dropout, s->dropout_seed);
  void *tp = nullptr;
  TRY(scratch(ctx, SCRATCH_T, (size_t)(rows * l.rp) * 2, &tp));
  const tune_ptr t = (tune_ptr)(uintptr_t)tp;
  mat g{0, BF16, l.rp, false};  // s·dy·B [rows, >= rank]
  mat aT{0, BF16, 0, true};     // A16ᵀ [in, >= rank]
  int64_t tn = l.rp;            // columns of t written
  if (dx != 0) {
    tune_ptr wcat = 0;
    TRY(build(ctx, w, a, b, l, &wcat));
    const mat wcols{wcat, BF16, l.kp, false};               // [W ; 0 ; A ; 0], or W with K = out
    const mat a16{at(wcat, l.kp, l.oy, 0), BF16, l.kp, false};  // [rp, in]
    const mat b16{at(wcat, l.kp, 0, l.kx), BF16, l.kp, false};  // [out, rp]
    aT = mat{a16.p, BF16, l.kp, true};
    if (out <= in && s->dropout == 0) {
      // Dcat = [dy | 0 | s·dy·B]; dx = Dcat·[W ; 0 ; A ; 0].
      tune_ptr dcat = 0;
      TRY(concat(ctx, dy, rows, out, l.op, &dcat));
      g = mat{at(dcat, l.op, 0, l.oy), BF16, l.op, false};
      TRY(gemm(ctx, rows, l.rp, out, s->scale, mat{dy, BF16, out, false}, b16, 0.0f, g, 0));
      TRY(gemm(ctx, rows, in, l.op, 1.0f, mat{dcat, BF16, l.op, false}, wcols, 0.0f, mat{dx, BF16, in, false}, 0));
    } else {
      // g = s·dy·B; e = keep·g·A, zeroed where dropped; dx = dy·W + e.
      void *gp = nullptr, *ep = nullptr;
      TRY(scratch(ctx, SCRATCH_G, (size_t)(rows * l.rp) * 2, &gp));
      TRY(scratch(ctx, kActivations, (size_t)(rows * in) * 2, &ep));
      const tune_ptr e = (tune_ptr)(uintptr_t)ep;
      g = mat{(tune_ptr)(uintptr_t)gp, BF16, l.rp, false};
      TRY(gemm(ctx, rows, l.rp, out, s->scale, mat{dy, BF16, out, false}, b16, 0.0f, g, 0));
      TRY(gemm(ctx, rows, in, l.rp, m.keep, g, a16, 0.0f, mat{e, BF16, in, false}, 0));
      if (s->dropout != 0) TRY(drop(ctx, e, e, rows * in, m));
      TRY(gemm(ctx, rows, in, out, 1.0f, mat{dy, BF16, out, false}, wcols, 1.0f, mat{dx, BF16, in, false}, 0, e));
    }
  } else {
    // W is not needed: A and B alone, converted into one scratch.
    const int64_t a_elems = rank * in, b_off = (a_elems * 2 + 255) / 256 * 256;
    void *fp = nullptr, *gp = nullptr;
    TRY(scratch(ctx, kFactors, (size_t)b_off + (size_t)(out * rank) * 2, &fp));
    TRY(scratch(ctx, SCRATCH_G, (size_t)(rows * l.rp) * 2, &gp));
    const tune_ptr a16 = (tune_ptr)(uintptr_t)fp, b16 = a16 + b_off;
    TRY(convert(ctx, a16, TUNE_BF16, a, TUNE_F32, a_elems));
    TRY(convert(ctx, b16, TUNE_BF16, b, TUNE_F32, out * rank));
    aT = mat{a16, BF16, in, true};
    g = mat{(tune_ptr)(uintptr_t)gp, BF16, l.rp, false};
    tn = rank;
    TRY(gemm(ctx, rows, rank, out, s->scale, mat{dy, BF16, out, false}, mat{b16, BF16, rank, false}, 0.0f, g, 0));
  }
  // t = s·x0·Aᵀ; dA += keep·gᵀ·x0 [rank,in]; dB += dyᵀ·t [out,rank].
  tune_ptr x0 = 0;
  TRY(adapter_input(ctx, x, s, m, &x0));
  TRY(gemm(ctx, rows, tn, in, s->scale * m.keep, mat{x0, BF16, in, false}, aT, 0.0f, mat{t, BF16, l.rp, false}, 0));
  TRY(gemm(ctx, rank, in, rows, m.keep, mat{g.p, BF16, g.ld, true}, mat{x0, BF16, in, false}, 1.0f,
           mat{da, F32, in, false}, 0));
  return gemm(ctx, out, rank, rows, 1.0f, mat{dy, BF16, out, true}, mat{t, BF16, l.rp, false}, 1.0f,
              mat{db, F32, rank, false}, 0);
}

TUNE_API tune_status tune_matmul_bf16(tune_ctx *ctx, tune_ptr c, tune_ptr a, tune_ptr w, int64_t rows, int64_t k,
                                      int64_t n, int trans_w) {
  TRY(enter(ctx));
  if (c == 0 || a == 0 || w == 0) return fail(TUNE_ERR_ARGUMENT, "tune_matmul_bf16: null buffer");
  if (rows < 1 || k < 1 || n < 1)
    return fail(TUNE_ERR_ARGUMENT, "tune_matmul_bf16: shape rows=%lld k=%lld n=%lld", (long long)rows, (long long)k,
                (long long)n);
  return gemm(ctx, rows, n, k, 1.0f, mat{a, BF16, k, false}, mat{w, BF16, trans_w ? k : n, trans_w != 0}, 0.0f,
              mat{c, BF16, n, false}, 0);
}

}  // extern "C"
