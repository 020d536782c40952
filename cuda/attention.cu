// attention.cu: causal grouped-query attention, flash-style, forward and
// backward, with the log-sum-exp saved between them.
//
// Contract (backend.Forward.Attention and backend.Backward.AttentionBackward;
// s = 1/sqrt(head_dim) rounded to fp32, as backend/cpu rounds it):
//   q, out, dout, dq  [batch, q, heads*head_dim]
//   k, v, dk, dv      [batch, kv_stride, kv_heads*head_dim], keys 0..kv-1 used
//   lse               fp32 [batch, heads, q]
// all activations of one call of one type (TUNE_F32 or TUNE_BF16), read as
// fp32 and accumulated in fp32. Query i of a row sits at position
// q_start+i; query head h reads kv head h/(heads/kv_heads). Key j is
// visible to a query at position p of row b when j <= p, j < kv and, with a
// key mask, mask[b*kv_stride+j] != 0 and, when the query's own entry
// g = mask[b*kv_stride+p] (p < kv_stride; else 0) is non-zero,
// mask[b*kv_stride+j] == g: padding keys are never seen, packed segments do
// not see each other, a padding query sees every non-padding key.
//   forward:  out = softmax(s·q·kᵀ over the visible keys)·v   (`=`; zeros for a
//             query with no visible key)
//             lse = log Σ_visible exp(s·q·k)                   (`=`; 0 there; lse
//             0: not written)
//   backward: with P = exp(s·q·kᵀ - lse) on the visible keys (0 elsewhere),
//             D = rowsum(dout ⊙ out), dP = dout·vᵀ, dS = P ⊙ (dP - D)·s:
//             dq = dS·k, dk = Σ_group dSᵀ·q, dv = Σ_group Pᵀ·dout     (`=`)
//             where Σ_group sums the query heads of a kv head. Rows of dk, dv
//             past kv are written 0. lse 0: recomputed first by the forward
//             kernel (bit-identical to the forward's own lse).
//
// Algorithm (FlashAttention-2's). Nothing of size q x kv is ever stored.
// The forward walks key tiles for a tile of queries and writes out and
// lse = m + log l, m and l being each query's max score and sum of
// exponentials. The backward runs three kernels, none with atomics, so its
// result depends on the shapes alone:
//   1. D = rowsum(dout ⊙ out), one thread per query row and head;
//   2. per key tile and kv head, over every query head of the group and
//      every query tile that can see the keys: rebuild P from q, k and lse,
//      dP from dout and v, and accumulate dv += Pᵀ·dout and dk += dSᵀ·q;
//   3. per query tile and query head, over the key tiles it can see: the
//      same P and dS, and dq += dS·k.
// Kernel 3 recomputes the scores kernel 2 computed (two more q·kᵀ and
// dout·vᵀ products, 7 instead of 5 matrix products in all) in exchange for
// no atomics and a deterministic dq.
//
// Two implementations share that plan:
//  - bf16 buffers at head dims 64 and 128 (Qwen2.5's) run on tensor cores,
//    WMMA 16x16x16 with bf16 operands and fp32 accumulators (sm_80 on).
//    WMMA leaves unspecified which row an accumulator element holds, so the
//    forward cannot rescale its running output as the online softmax does;
//    it walks the keys twice instead, first for m and l (hence lse), then
//    for out = Σ exp(s - lse)·v, normalized as it goes (three products
//    instead of two). P and dS are rounded to bf16, as operands of the next
//    products. See "Tensor-core forward" and "Tensor-core backward" below.
//  - fp32 buffers, and bf16 at other head dims up to kMaxHeadDim, run fp32
//    FMA kernels on CUDA cores: the forward with the online softmax (at
//    each key tile m' = max(m, max s), out = out·exp(m - m') +
//    exp(s - m')·v, l = l·exp(m - m') + Σ exp(s - m')), dim 64 and 128
//    unrolled, others with the size at run time. Their shared memory holds
//    fp32 tiles, key rows padded by one element so that the 32 lanes of a
//    warp, each on its own key, read 32 different banks.
// Every kernel stays within the 48 KiB of static shared memory.
//
// Precision: every sum in fp32 (expf and logf without fast math); bf16
// inputs are exact in fp32, so the bf16 roundings are of the outputs (and
// of out, which D reads), and on tensor cores of P and dS. Against a
// float64 softmax the fp32 path's error is a few 1e-7 relative.

#include <math.h>
#include <mma.h>

#include <type_traits>

#include "common.cuh"

namespace {

constexpr int kAttnThreads = 128;  // 4 warps
constexpr int kKeys = 32;          // keys per tile: one per lane of a warp
constexpr int kFwdQ = 16;          // queries per forward block: 4 per warp
constexpr int kBwdQ = 8;           // queries per backward tile: 2 per warp
constexpr int kMaxHeadDim = 128;

// The call's shape, checked and narrowed to int on the host.
struct attn_shape {
  int batch, q, kv, kv_stride, heads, kv_heads, d, q_start;
  float scale;
};

__device__ __forceinline__ float ld(const float *p) { return *p; }
__device__ __forceinline__ float ld(const __nv_bfloat16 *p) { return __bfloat162float(*p); }
__device__ __forceinline__ void st(float *p, float v) { *p = v; }
__device__ __forceinline__ void st(__nv_bfloat16 *p, float v) { *p = __float2bfloat16_rn(v); }

// key_entry is key j's mask entry as the kernels test it: 0 (never seen)
// for padding and for keys past kv, the segment id otherwise (1 without a
// mask).
__device__ __forceinline__ int key_entry(const int32_t *mask, const attn_shape &s, int b, int j) {
  if (j >= s.kv) return 0;
  return mask ? mask[(int64_t)b * s.kv_stride + j] : 1;
}

// query_segment is the mask entry of the query at position p: 0 (sees every
// non-padding key) without a mask or past kv_stride.
__device__ __forceinline__ int query_segment(const int32_t *mask, const attn_shape &s, int b, int p) {
  return (mask && p < s.kv_stride) ? mask[(int64_t)b * s.kv_stride + p] : 0;
}

__device__ __forceinline__ bool visible(int key, int key_seg, int qpos, int qseg) {
  return key <= qpos && key_seg != 0 && (qseg == 0 || key_seg == qseg);
}

// load_rows copies n rows of d elements, row r at src + r*stride, into
// dst [rows][ld] as fp32, zeros for rows n..rows-1 (threads stride the
// elements).
template <class T>
__device__ __forceinline__ void load_rows(float *dst, int ld_dst, int rows, int n, const T *src, int64_t stride,
                                          int d) {
  for (int e = threadIdx.x; e < rows * d; e += kAttnThreads) {
    int r = e / d, c = e % d;
    dst[r * ld_dst + c] = r < n ? ld(src + r * stride + c) : 0.0f;
  }
}

template <int D>
__device__ __forceinline__ float dot(const float *a, const float *b, int d) {
  float acc = 0.0f;
  if (D > 0) {
#pragma unroll 16
    for (int c = 0; c < D; c++) acc += a[c] * b[c];
  } else {
    for (int c = 0; c < d; c++) acc += a[c] * b[c];
  }
  return acc;
}

// ---------------------------------------------------------------------------
// Forward: grid (ceil(q/kFwdQ), heads, batch). For the scores warp w
// computes rows w, w+4, w+8, w+12 of the tile (lane = key); thread r <
// kFwdQ then keeps row r's softmax state and rescales its scores in one
// pass over the kKeys (a shared-memory pass instead of warp shuffles: on
// the GPU about as fast at kKeys = 32, and the CPU emulation of the
// shuffles costs 32 fiber switches each); for P·V thread t owns row t/8
// and columns t%8 + 8·j.

template <int D, class T>
__global__ void __launch_bounds__(kAttnThreads)
    attn_forward_kernel(T *__restrict__ out, float *__restrict__ lse, const T *__restrict__ q,
                        const T *__restrict__ k, const T *__restrict__ v, const int32_t *__restrict__ mask,
                        attn_shape s) {
  constexpr int DM = D > 0 ? D : kMaxHeadDim;
  const int d = D > 0 ? D : s.d;
  __shared__ float qs[kFwdQ * DM];
  __shared__ float ks[kKeys * (DM + 1)];
  __shared__ float vs[kKeys * DM];
  __shared__ float ps[kFwdQ * kKeys];
  __shared__ float alpha_s[kFwdQ];
  __shared__ float l_s[kFwdQ];
  __shared__ int qpos_s[kFwdQ];
  __shared__ int qseg_s[kFwdQ];
  __shared__ int kseg[kKeys];

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * kFwdQ;
  const int kh = h / (s.heads / s.kv_heads);
  const int64_t qd = (int64_t)s.heads * d, kd = (int64_t)s.kv_heads * d;
  const int rows = min(kFwdQ, s.q - q0);
  load_rows(qs, DM, kFwdQ, rows, q + ((int64_t)b * s.q + q0) * qd + (int64_t)h * d, qd, d);

  // Thread r < kFwdQ: row r's running max and sum.
  float m = -INFINITY, l = 0.0f;
  if (threadIdx.x < kFwdQ) {
    const int r = threadIdx.x;
    qpos_s[r] = r < rows ? s.q_start + q0 + r : -1;  // -1: no key is visible to a row past q
    qseg_s[r] = query_segment(mask, s, b, s.q_start + q0 + r);
  }
  constexpr int kCols = DM / 8;
  const int orow = threadIdx.x / 8, ocol = threadIdx.x % 8;
  float acc[kCols];
#pragma unroll
  for (int j = 0; j < kCols; j++) acc[j] = 0.0f;

  const int kend = min(s.kv, s.q_start + q0 + rows);  // the keys any row of the tile may see
  for (int k0 = 0; k0 < kend; k0 += kKeys) {
    __syncthreads();  // the previous tile's P·V is done with ks, vs and ps
    const int n = min(kKeys, kend - k0);
    const int64_t at = ((int64_t)b * s.kv_stride + k0) * kd + (int64_t)kh * d;
    load_rows(ks, DM + 1, kKeys, n, k + at, kd, d);
    load_rows(vs, DM, kKeys, n, v + at, kd, d);
    if (threadIdx.x < kKeys) kseg[threadIdx.x] = key_entry(mask, s, b, k0 + (int)threadIdx.x);
    __syncthreads();
#pragma unroll
    for (int i = 0; i < kFwdQ / 4; i++) {
      const int r = warp + 4 * i;
      float sc = -INFINITY;  // invisible
      if (visible(k0 + lane, kseg[lane], qpos_s[r], qseg_s[r]))
        sc = dot<D>(qs + r * DM, ks + lane * (DM + 1), d) * s.scale;
      ps[r * kKeys + lane] = sc;
    }
    __syncthreads();
    if (threadIdx.x < kFwdQ) {
      float *row = ps + threadIdx.x * kKeys;
      float mnew = m;
      for (int j = 0; j < kKeys; j++) mnew = fmaxf(mnew, row[j]);
      float sum = 0.0f;
      for (int j = 0; j < kKeys; j++) {
        const float p = row[j] == -INFINITY ? 0.0f : expf(row[j] - mnew);
        row[j] = p;
        sum += p;
      }
      const float alpha = mnew == -INFINITY ? 1.0f : expf(m - mnew);
      l = l * alpha + sum;
      m = mnew;
      alpha_s[threadIdx.x] = alpha;
    }
    __syncthreads();
    const float alpha = alpha_s[orow];
#pragma unroll
    for (int j = 0; j < kCols; j++) {
      const int c = ocol + 8 * j;
      if (D > 0 || c < d) {
        float t = acc[j] * alpha;
        for (int kk = 0; kk < kKeys; kk++) t += ps[orow * kKeys + kk] * vs[kk * DM + c];
        acc[j] = t;
      }
    }
  }
  if (threadIdx.x < kFwdQ) {
    const int r = threadIdx.x;
    l_s[r] = l;
    if (lse != nullptr && r < rows) lse[((int64_t)b * s.heads + h) * s.q + q0 + r] = l > 0 ? m + logf(l) : 0.0f;
  }
  __syncthreads();
  if (out == nullptr || orow >= rows) return;
  const float inv = l_s[orow] > 0 ? 1.0f / l_s[orow] : 0.0f;
  T *o = out + ((int64_t)b * s.q + q0 + orow) * qd + (int64_t)h * d;
#pragma unroll
  for (int j = 0; j < kCols; j++) {
    const int c = ocol + 8 * j;
    if (D > 0 || c < d) st(o + c, acc[j] * inv);
  }
}

// ---------------------------------------------------------------------------
// Tensor-core forward (bf16 buffers, head dim 64 or 128): WMMA 16x16x16
// bf16 products with fp32 accumulation. A block takes kTcQ = 64 queries
// and a head; warp w owns query rows 16w..16w+15, holding them as
// D/16 matrix_a fragments and its rows of out as D/16 accumulators. The
// online softmax's rescaling of out by exp(m - m') would need each
// accumulator element's row, which WMMA does not specify, so the forward
// takes two passes over the key tiles instead: the first computes S = q·kᵀ
// and each query's running max and sum (thread r < kTcQ owns query r),
// hence lse; the second computes S again and P = exp(s·S - lse), already
// normalized and rounded to bf16, and accumulates out += P·v in the
// fragments, which are stored once. That is three products instead of two,
// on tensor cores.
//
// Shared memory is one 32-byte aligned buffer carved in turn: the bf16 q
// tile (read into fragments once), then S (fp32) and P (bf16) in the same
// place; the bf16 k and v tiles; at the end out's fp32 staging over all of
// it. Row strides are padded (+8 bf16, +4 fp32) against bank conflicts and
// kept multiples of 16 bytes, every tile start a multiple of 32 bytes, as
// WMMA requires.

constexpr int kTcQ = 64;   // queries per block: 16 per warp
constexpr int kTcK = 32;   // keys per tile

struct alignas(32) smem_chunk {
  float w[8];
};

template <int D>
struct tc_layout {
  static constexpr int ldk = D + 8;       // bf16 q, k and v rows
  static constexpr int lds = kTcK + 4;    // fp32 S rows
  static constexpr int ldp = kTcK + 8;    // bf16 P rows
  static constexpr int ldo = D + 4;       // fp32 out rows
  static constexpr size_t q_bytes = (size_t)kTcQ * ldk * 2;
  static constexpr size_t sp_bytes = (size_t)kTcQ * lds * 4 + (size_t)kTcQ * ldp * 2;
  static constexpr size_t a_bytes = q_bytes > sp_bytes ? q_bytes : sp_bytes;
  static constexpr size_t kv_bytes = (size_t)kTcK * ldk * 2;
  static constexpr size_t o_bytes = (size_t)kTcQ * ldo * 4;
  static constexpr size_t bytes = (a_bytes + 2 * kv_bytes) > o_bytes ? a_bytes + 2 * kv_bytes : o_bytes;
  static constexpr int chunks = (int)((bytes + 31) / 32);
  static_assert(a_bytes % 32 == 0 && kv_bytes % 32 == 0, "tile starts must stay 32-byte aligned");
};

// copy_tile copies n rows of D bf16 elements, row r at src + r*stride, into
// dst [rows][ld], zeros for rows n..rows-1.
template <int D>
__device__ __forceinline__ void copy_tile(__nv_bfloat16 *dst, int ld, int rows, int n, const __nv_bfloat16 *src,
                                          int64_t stride) {
  const __nv_bfloat16 zero = __float2bfloat16_rn(0.0f);
  for (int e = threadIdx.x; e < rows * D; e += kAttnThreads) {
    const int r = e / D, c = e % D;
    dst[r * ld + c] = r < n ? src[r * stride + c] : zero;
  }
}

template <int D>
__global__ void __launch_bounds__(kAttnThreads)
    attn_forward_tc_kernel(__nv_bfloat16 *__restrict__ out, float *__restrict__ lse,
                           const __nv_bfloat16 *__restrict__ q, const __nv_bfloat16 *__restrict__ k,
                           const __nv_bfloat16 *__restrict__ v, const int32_t *__restrict__ mask, attn_shape s) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  __trap();  // bf16 WMMA needs sm_80; the library is built for 80 and newer
#else
  namespace wmma = nvcuda::wmma;
  using L = tc_layout<D>;
  using frag_a = wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major>;
  using frag_bt = wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major>;  // kᵀ
  using frag_b = wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major>;   // v
  using frag_c = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;
  __shared__ smem_chunk smem[L::chunks];
  __shared__ float lse_s[kTcQ];
  __shared__ int qpos_s[kTcQ];
  __shared__ int qseg_s[kTcQ];
  __shared__ int kseg[kTcK];
  char *base = reinterpret_cast<char *>(smem);
  __nv_bfloat16 *qs = reinterpret_cast<__nv_bfloat16 *>(base);
  float *ss = reinterpret_cast<float *>(base);
  __nv_bfloat16 *ps = reinterpret_cast<__nv_bfloat16 *>(base + (size_t)kTcQ * L::lds * 4);
  __nv_bfloat16 *ks = reinterpret_cast<__nv_bfloat16 *>(base + L::a_bytes);
  __nv_bfloat16 *vs = reinterpret_cast<__nv_bfloat16 *>(base + L::a_bytes + L::kv_bytes);
  float *os = reinterpret_cast<float *>(base);

  const int warp = threadIdx.x / 32;
  const int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * kTcQ;
  const int kh = h / (s.heads / s.kv_heads);
  const int64_t qd = (int64_t)s.heads * D, kd = (int64_t)s.kv_heads * D;
  const int rows = min(kTcQ, s.q - q0);
  copy_tile<D>(qs, L::ldk, kTcQ, rows, q + ((int64_t)b * s.q + q0) * qd + (int64_t)h * D, qd);
  if (threadIdx.x < kTcQ) {
    const int r = threadIdx.x;
    qpos_s[r] = r < rows ? s.q_start + q0 + r : -1;
    qseg_s[r] = query_segment(mask, s, b, s.q_start + q0 + r);
  }
  __syncthreads();
  frag_a qf[D / 16];
#pragma unroll
  for (int kk = 0; kk < D / 16; kk++) wmma::load_matrix_sync(qf[kk], qs + warp * 16 * L::ldk + kk * 16, L::ldk);

  // scores fills ss with q·kᵀ of the key tile in ks: warp w, rows 16w..
  auto scores = [&]() {
#pragma unroll
    for (int j = 0; j < kTcK / 16; j++) {
      frag_c acc;
      wmma::fill_fragment(acc, 0.0f);
#pragma unroll
      for (int kk = 0; kk < D / 16; kk++) {
        frag_bt kf;
        wmma::load_matrix_sync(kf, ks + j * 16 * L::ldk + kk * 16, L::ldk);
        wmma::mma_sync(acc, qf[kk], kf, acc);
      }
      wmma::store_matrix_sync(ss + warp * 16 * L::lds + j * 16, acc, L::lds, wmma::mem_row_major);
    }
  };
  // load_keys copies key tile k0 (and its values when with_v) and its mask entries.
  auto load_keys = [&](int k0, int kend, bool with_v) {
    const int n = min(kTcK, kend - k0);
    const int64_t at = ((int64_t)b * s.kv_stride + k0) * kd + (int64_t)kh * D;
    copy_tile<D>(ks, L::ldk, kTcK, n, k + at, kd);
    if (with_v) copy_tile<D>(vs, L::ldk, kTcK, n, v + at, kd);
    if (threadIdx.x < kTcK) kseg[threadIdx.x] = key_entry(mask, s, b, k0 + (int)threadIdx.x);
  };

  const int kend = min(s.kv, s.q_start + q0 + rows);
  float m = -INFINITY, l = 0.0f;  // thread r < kTcQ: query r's running max and sum
  __syncthreads();                // the q tile is in fragments: its place is S and P's now
  for (int k0 = 0; k0 < kend; k0 += kTcK) {
    load_keys(k0, kend, false);
    __syncthreads();
    scores();
    __syncthreads();
    if (threadIdx.x < kTcQ) {
      const int r = threadIdx.x;
      float sc[kTcK];
      float mnew = m;
#pragma unroll
      for (int j = 0; j < kTcK; j++) {
        sc[j] = visible(k0 + j, kseg[j], qpos_s[r], qseg_s[r]) ? ss[r * L::lds + j] * s.scale : -INFINITY;
        mnew = fmaxf(mnew, sc[j]);
      }
      float sum = 0.0f;
#pragma unroll
      for (int j = 0; j < kTcK; j++) sum += sc[j] == -INFINITY ? 0.0f : expf(sc[j] - mnew);
      l = (mnew == -INFINITY ? 1.0f : expf(m - mnew)) * l + sum;
      m = mnew;
    }
    __syncthreads();  // ks and ss are free for the next tile
  }
  if (threadIdx.x < kTcQ) {
    const int r = threadIdx.x;
    const float x = l > 0 ? m + logf(l) : 0.0f;
    lse_s[r] = x;
    if (lse != nullptr && r < rows) lse[((int64_t)b * s.heads + h) * s.q + q0 + r] = x;
  }

  frag_c of[D / 16];
#pragma unroll
  for (int j = 0; j < D / 16; j++) wmma::fill_fragment(of[j], 0.0f);
  for (int k0 = 0; k0 < kend; k0 += kTcK) {
    load_keys(k0, kend, true);
    __syncthreads();
    scores();
    __syncthreads();
    for (int e = threadIdx.x; e < kTcQ * kTcK; e += kAttnThreads) {
      const int r = e / kTcK, j = e % kTcK;
      float p = 0.0f;
      if (visible(k0 + j, kseg[j], qpos_s[r], qseg_s[r])) p = expf(ss[r * L::lds + j] * s.scale - lse_s[r]);
      ps[r * L::ldp + j] = __float2bfloat16_rn(p);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTcK / 16; kk++) {
      frag_a pf;
      wmma::load_matrix_sync(pf, ps + warp * 16 * L::ldp + kk * 16, L::ldp);
#pragma unroll
      for (int j = 0; j < D / 16; j++) {
        frag_b vf;
        wmma::load_matrix_sync(vf, vs + kk * 16 * L::ldk + j * 16, L::ldk);
        wmma::mma_sync(of[j], pf, vf, of[j]);
      }
    }
    __syncthreads();  // ks, vs, ss and ps are free for the next tile
  }
  if (out == nullptr) return;
#pragma unroll
  for (int j = 0; j < D / 16; j++)
    wmma::store_matrix_sync(os + warp * 16 * L::ldo + j * 16, of[j], L::ldo, wmma::mem_row_major);
  __syncthreads();
  for (int e = threadIdx.x; e < rows * D; e += kAttnThreads) {
    const int r = e / D, c = e % D;
    out[((int64_t)b * s.q + q0 + r) * qd + (int64_t)h * D + c] = __float2bfloat16_rn(os[r * L::ldo + c]);
  }
#endif
}

// ---------------------------------------------------------------------------
// Backward pre-pass: dsum[b, h, i] = Σ_c dout·out, one thread per
// (b, i, h) row of head_dim elements (a pass over 4·q·heads·head_dim
// bytes, beside the kernels' q·kv·heads·head_dim products).

template <class T>
__global__ void __launch_bounds__(kAttnThreads)
    attn_rowdot_kernel(float *__restrict__ dsum, const T *__restrict__ dout, const T *__restrict__ out,
                       attn_shape s) {
  const int64_t row = (int64_t)blockIdx.x * kAttnThreads + threadIdx.x;  // (b*q + i)*heads + h
  if (row >= (int64_t)s.batch * s.q * s.heads) return;
  const T *a = dout + row * s.d, *o = out + row * s.d;
  float acc = 0.0f;
  for (int c = 0; c < s.d; c++) acc += ld(a + c) * ld(o + c);
  const int64_t h = row % s.heads, bi = row / s.heads, i = bi % s.q, b = bi / s.q;
  dsum[(b * s.heads + h) * s.q + i] = acc;
}

// One kBwdQ x kKeys tile of the backward's scores, shared by kernels 2
// and 3: thread t computes, for row r = t/32 + 4·rr (rr < 2) and key lane,
// P and dS into ps and dss (ps may be null).
template <int D>
__device__ __forceinline__ void backward_scores(float *ps, float *dss, const float *qs, const float *dos,
                                                const float *ks, const float *vs, const float *lse_s,
                                                const float *dsum_s, const int *qpos_s, const int *qseg_s,
                                                const int *kseg, int k0, int d, float scale) {
  constexpr int DM = D > 0 ? D : kMaxHeadDim;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
#pragma unroll
  for (int rr = 0; rr < kBwdQ / 4; rr++) {
    const int r = warp + 4 * rr;
    float p = 0.0f, ds = 0.0f;
    if (visible(k0 + lane, kseg[lane], qpos_s[r], qseg_s[r])) {
      p = expf(dot<D>(qs + r * DM, ks + lane * (DM + 1), d) * scale - lse_s[r]);
      const float dp = dot<D>(dos + r * DM, vs + lane * (DM + 1), d);
      ds = p * (dp - dsum_s[r]) * scale;
    }
    if (ps != nullptr) ps[r * kKeys + lane] = p;
    dss[r * kKeys + lane] = ds;
  }
}

// load_query_tile fills the per-query values of a backward tile of n rows
// i0.. of head h: position (-1 past q), segment, lse and D.
__device__ __forceinline__ void load_query_tile(int *qpos_s, int *qseg_s, float *lse_s, float *dsum_s,
                                                const float *lse, const float *dsum, const int32_t *mask,
                                                const attn_shape &s, int b, int h, int i0, int n) {
  const int r = threadIdx.x;
  if (r >= n) return;
  const int i = i0 + r;
  const int64_t at = ((int64_t)b * s.heads + h) * s.q + i;
  qpos_s[r] = i < s.q ? s.q_start + i : -1;
  qseg_s[r] = query_segment(mask, s, b, s.q_start + i);
  lse_s[r] = i < s.q ? lse[at] : 0.0f;
  dsum_s[r] = i < s.q ? dsum[at] : 0.0f;
}

// Kernel 2: grid (ceil(kv_stride/kKeys), kv_heads, batch). Thread t owns
// key row t/4 and columns t%4 + 4·j of dk and dv.
template <int D, class T>
__global__ void __launch_bounds__(kAttnThreads)
    attn_backward_kv_kernel(T *__restrict__ dk, T *__restrict__ dv, const T *__restrict__ q,
                            const T *__restrict__ k, const T *__restrict__ v, const T *__restrict__ dout,
                            const float *__restrict__ lse, const float *__restrict__ dsum,
                            const int32_t *__restrict__ mask, attn_shape s) {
  constexpr int DM = D > 0 ? D : kMaxHeadDim;
  const int d = D > 0 ? D : s.d;
  __shared__ float ks[kKeys * (DM + 1)];
  __shared__ float vs[kKeys * (DM + 1)];
  __shared__ float qs[kBwdQ * DM];
  __shared__ float dos[kBwdQ * DM];
  __shared__ float ps[kBwdQ * kKeys];
  __shared__ float dss[kBwdQ * kKeys];
  __shared__ float lse_s[kBwdQ];
  __shared__ float dsum_s[kBwdQ];
  __shared__ int qpos_s[kBwdQ];
  __shared__ int qseg_s[kBwdQ];
  __shared__ int kseg[kKeys];

  const int b = blockIdx.z, kh = blockIdx.y, k0 = blockIdx.x * kKeys;
  const int rep = s.heads / s.kv_heads;
  const int64_t qd = (int64_t)s.heads * d, kd = (int64_t)s.kv_heads * d;
  const int n = max(0, min(kKeys, s.kv - k0));  // keys of the tile below kv
  const int64_t at = ((int64_t)b * s.kv_stride + k0) * kd + (int64_t)kh * d;
  constexpr int kCols = DM / 4;
  const int krow = threadIdx.x / 4, kcol = threadIdx.x % 4;
  float acc_k[kCols], acc_v[kCols];
#pragma unroll
  for (int j = 0; j < kCols; j++) acc_k[j] = acc_v[j] = 0.0f;

  if (n > 0) {
    load_rows(ks, DM + 1, kKeys, n, k + at, kd, d);
    load_rows(vs, DM + 1, kKeys, n, v + at, kd, d);
    if (threadIdx.x < kKeys) kseg[threadIdx.x] = key_entry(mask, s, b, k0 + (int)threadIdx.x);
    // The first query that may see key k0 is at position k0.
    const int ibeg = max(0, k0 - s.q_start) / kBwdQ * kBwdQ;
    for (int h = kh * rep; h < (kh + 1) * rep; h++) {
      for (int i0 = ibeg; i0 < s.q; i0 += kBwdQ) {
        __syncthreads();  // the previous tile is done with qs, dos, ps and dss
        const int rows = min(kBwdQ, s.q - i0);
        const int64_t qat = ((int64_t)b * s.q + i0) * qd + (int64_t)h * d;
        load_rows(qs, DM, kBwdQ, rows, q + qat, qd, d);
        load_rows(dos, DM, kBwdQ, rows, dout + qat, qd, d);
        load_query_tile(qpos_s, qseg_s, lse_s, dsum_s, lse, dsum, mask, s, b, h, i0, kBwdQ);
        __syncthreads();
        backward_scores<D>(ps, dss, qs, dos, ks, vs, lse_s, dsum_s, qpos_s, qseg_s, kseg, k0, d, s.scale);
        __syncthreads();
#pragma unroll
        for (int j = 0; j < kCols; j++) {
          const int c = kcol + 4 * j;
          if (D > 0 || c < d) {
            float tk = acc_k[j], tv = acc_v[j];
            for (int r = 0; r < kBwdQ; r++) {
              tv += ps[r * kKeys + krow] * dos[r * DM + c];
              tk += dss[r * kKeys + krow] * qs[r * DM + c];
            }
            acc_k[j] = tk;
            acc_v[j] = tv;
          }
        }
      }
    }
  }
  if (k0 + krow >= s.kv_stride) return;
  T *dkr = dk + at + (int64_t)krow * kd, *dvr = dv + at + (int64_t)krow * kd;
#pragma unroll
  for (int j = 0; j < kCols; j++) {
    const int c = kcol + 4 * j;
    if (D > 0 || c < d) {
      st(dkr + c, acc_k[j]);
      st(dvr + c, acc_v[j]);
    }
  }
}

// Kernel 3: grid (ceil(q/kBwdQ), heads, batch). Thread t owns query row
// t/16 and columns t%16 + 16·j of dq.
template <int D, class T>
__global__ void __launch_bounds__(kAttnThreads)
    attn_backward_q_kernel(T *__restrict__ dq, const T *__restrict__ q, const T *__restrict__ k,
                           const T *__restrict__ v, const T *__restrict__ dout, const float *__restrict__ lse,
                           const float *__restrict__ dsum, const int32_t *__restrict__ mask, attn_shape s) {
  constexpr int DM = D > 0 ? D : kMaxHeadDim;
  const int d = D > 0 ? D : s.d;
  __shared__ float qs[kBwdQ * DM];
  __shared__ float dos[kBwdQ * DM];
  __shared__ float ks[kKeys * (DM + 1)];
  __shared__ float vs[kKeys * (DM + 1)];
  __shared__ float dss[kBwdQ * kKeys];
  __shared__ float lse_s[kBwdQ];
  __shared__ float dsum_s[kBwdQ];
  __shared__ int qpos_s[kBwdQ];
  __shared__ int qseg_s[kBwdQ];
  __shared__ int kseg[kKeys];

  const int b = blockIdx.z, h = blockIdx.y, i0 = blockIdx.x * kBwdQ;
  const int kh = h / (s.heads / s.kv_heads);
  const int64_t qd = (int64_t)s.heads * d, kd = (int64_t)s.kv_heads * d;
  const int rows = min(kBwdQ, s.q - i0);
  const int64_t qat = ((int64_t)b * s.q + i0) * qd + (int64_t)h * d;
  load_rows(qs, DM, kBwdQ, rows, q + qat, qd, d);
  load_rows(dos, DM, kBwdQ, rows, dout + qat, qd, d);
  load_query_tile(qpos_s, qseg_s, lse_s, dsum_s, lse, dsum, mask, s, b, h, i0, kBwdQ);
  constexpr int kCols = DM / 16;
  const int qrow = threadIdx.x / 16, qcol = threadIdx.x % 16;
  float acc[kCols];
#pragma unroll
  for (int j = 0; j < kCols; j++) acc[j] = 0.0f;

  const int kend = min(s.kv, s.q_start + i0 + rows);
  for (int k0 = 0; k0 < kend; k0 += kKeys) {
    __syncthreads();  // the previous tile is done with ks, vs and dss
    const int n = min(kKeys, kend - k0);
    const int64_t at = ((int64_t)b * s.kv_stride + k0) * kd + (int64_t)kh * d;
    load_rows(ks, DM + 1, kKeys, n, k + at, kd, d);
    load_rows(vs, DM + 1, kKeys, n, v + at, kd, d);
    if (threadIdx.x < kKeys) kseg[threadIdx.x] = key_entry(mask, s, b, k0 + (int)threadIdx.x);
    __syncthreads();
    backward_scores<D>(nullptr, dss, qs, dos, ks, vs, lse_s, dsum_s, qpos_s, qseg_s, kseg, k0, d, s.scale);
    __syncthreads();
#pragma unroll
    for (int j = 0; j < kCols; j++) {
      const int c = qcol + 16 * j;
      if (D > 0 || c < d) {
        float t = acc[j];
        for (int kk = 0; kk < kKeys; kk++) t += dss[qrow * kKeys + kk] * ks[kk * (DM + 1) + c];
        acc[j] = t;
      }
    }
  }
  if (qrow >= rows) return;
  T *o = dq + qat + (int64_t)qrow * qd;
#pragma unroll
  for (int j = 0; j < kCols; j++) {
    const int c = qcol + 16 * j;
    if (D > 0 || c < d) st(o + c, acc[j]);
  }
}

// ---------------------------------------------------------------------------
// Tensor-core backward (bf16 buffers, head dims 64 and 128): the FMA
// kernels' algorithm on WMMA products, in tiles of kTcBK keys by kTcBQ
// queries. Scores are computed into fp32 shared memory, turned into P and
// dS elementwise (rounded to bf16: they are the next products' operands),
// and every sum of the tile (dv += Pᵀ·dout, dk += dSᵀ·q, dq += dS·k) runs
// in accumulator fragments, which never need rescaling since P comes from
// the saved lse. The four warps split each 32 x 32 score tile into its four
// 16 x 16 quarters and each 32 x D result into halves of D.

constexpr int kTcBK = 32, kTcBQ = 32;

template <int D>
struct tc_bwd_layout {
  static constexpr int ldk = D + 8;    // bf16 rows of q, dout, k and v
  static constexpr int lds = kTcBK + 4;  // fp32 score rows
  static constexpr int ldp = kTcBK + 8;  // bf16 P and dS rows (over the fp32 scores)
  static constexpr int ldo = D + 4;    // fp32 result staging rows
  static constexpr size_t tile_bytes = (size_t)32 * ldk * 2;
  static constexpr size_t score_bytes = (size_t)32 * lds * 4;
  static constexpr size_t bytes = 4 * tile_bytes + 2 * score_bytes;
  static constexpr int chunks = (int)((bytes + 31) / 32);
  static_assert(tile_bytes % 32 == 0 && score_bytes % 32 == 0, "tile starts must stay 32-byte aligned");
  static_assert(2 * (size_t)32 * ldo * 4 <= 4 * tile_bytes, "the staging of two results fits over the tiles");
};

// tc_bwd_shared is a backward block's shared memory: four bf16 tiles of
// 32 rows, two fp32 score tiles (over which the bf16 P and dS are written
// once the scores are read), and the per-query and per-key values.
template <int D>
struct tc_bwd_shared {
  using L = tc_bwd_layout<D>;
  smem_chunk raw[L::chunks];
  float lse[kTcBQ], dsum[kTcBQ];
  int qpos[kTcBQ], qseg[kTcBQ], kseg[kTcBK];
  __device__ __forceinline__ __nv_bfloat16 *tile(int i) {
    return reinterpret_cast<__nv_bfloat16 *>(reinterpret_cast<char *>(raw) + i * L::tile_bytes);
  }
  __device__ __forceinline__ float *score(int i) {
    return reinterpret_cast<float *>(reinterpret_cast<char *>(raw) + 4 * L::tile_bytes + i * L::score_bytes);
  }
  // staging is the fp32 [32][ldo] result i, over the tiles once they are done.
  __device__ __forceinline__ float *staging(int i) { return reinterpret_cast<float *>(raw) + i * 32 * L::ldo; }
};

// tc_scores computes, by warp w, the quarter (w/2, w%2) of a = x·yᵀ for the
// 32-row tiles x and y (bf16, stride ldk) into sa (fp32, stride lds), and
// likewise b = u·zᵀ into sb.
template <int D>
__device__ __forceinline__ void tc_scores(float *sa, float *sb, const __nv_bfloat16 *x, const __nv_bfloat16 *y,
                                          const __nv_bfloat16 *u, const __nv_bfloat16 *z) {
  namespace wmma = nvcuda::wmma;
  using L = tc_bwd_layout<D>;
  const int warp = threadIdx.x / 32, rb = warp / 2, cb = warp % 2;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> fa, fb;
  wmma::fill_fragment(fa, 0.0f);
  wmma::fill_fragment(fb, 0.0f);
#pragma unroll
  for (int kk = 0; kk < D / 16; kk++) {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> bt;
    wmma::load_matrix_sync(a, x + rb * 16 * L::ldk + kk * 16, L::ldk);
    wmma::load_matrix_sync(bt, y + cb * 16 * L::ldk + kk * 16, L::ldk);
    wmma::mma_sync(fa, a, bt, fa);
    wmma::load_matrix_sync(a, u + rb * 16 * L::ldk + kk * 16, L::ldk);
    wmma::load_matrix_sync(bt, z + cb * 16 * L::ldk + kk * 16, L::ldk);
    wmma::mma_sync(fb, a, bt, fb);
  }
  wmma::store_matrix_sync(sa + rb * 16 * L::lds + cb * 16, fa, L::lds, wmma::mem_row_major);
  wmma::store_matrix_sync(sb + rb * 16 * L::lds + cb * 16, fb, L::lds, wmma::mem_row_major);
}

// tc_accumulate adds, by warp w, rows 16·(w/2).. and its half of D's
// columns of p·x to acc (p: 32 x 32 bf16, stride ldp; x: 32 x D bf16,
// stride ldk).
template <int D>
__device__ __forceinline__ void tc_accumulate(
    nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float> (&acc)[D / 32], const __nv_bfloat16 *p,
    const __nv_bfloat16 *x) {
  namespace wmma = nvcuda::wmma;
  using L = tc_bwd_layout<D>;
  const int warp = threadIdx.x / 32, rb = warp / 2, half = warp % 2;
#pragma unroll
  for (int kk = 0; kk < 2; kk++) {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
    wmma::load_matrix_sync(a, p + rb * 16 * L::ldp + kk * 16, L::ldp);
#pragma unroll
    for (int j = 0; j < D / 32; j++) {
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> bf;
      wmma::load_matrix_sync(bf, x + kk * 16 * L::ldk + (half * (D / 32) + j) * 16, L::ldk);
      wmma::mma_sync(acc[j], a, bf, acc[j]);
    }
  }
}

// tc_stage stores acc (as tc_accumulate lays it out) into o [32][ldo].
template <int D>
__device__ __forceinline__ void tc_stage(float *o,
                                         const nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float> (&acc)[D / 32]) {
  namespace wmma = nvcuda::wmma;
  using L = tc_bwd_layout<D>;
  const int warp = threadIdx.x / 32, rb = warp / 2, half = warp % 2;
#pragma unroll
  for (int j = 0; j < D / 32; j++)
    wmma::store_matrix_sync(o + rb * 16 * L::ldo + (half * (D / 32) + j) * 16, acc[j], L::ldo, wmma::mem_row_major);
}

// Kernel 2 on tensor cores: grid (ceil(kv_stride/kTcBK), kv_heads, batch).
// Scores are kept transposed, keys by queries: Sᵀ = k·qᵀ, dPᵀ = v·doutᵀ.
template <int D>
__global__ void __launch_bounds__(kAttnThreads)
    attn_backward_kv_tc_kernel(__nv_bfloat16 *__restrict__ dk, __nv_bfloat16 *__restrict__ dv,
                               const __nv_bfloat16 *__restrict__ q, const __nv_bfloat16 *__restrict__ k,
                               const __nv_bfloat16 *__restrict__ v, const __nv_bfloat16 *__restrict__ dout,
                               const float *__restrict__ lse, const float *__restrict__ dsum,
                               const int32_t *__restrict__ mask, attn_shape s) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  __trap();  // bf16 WMMA needs sm_80; the library is built for 80 and newer
#else
  namespace wmma = nvcuda::wmma;
  using L = tc_bwd_layout<D>;
  __shared__ tc_bwd_shared<D> sh[1];
  tc_bwd_shared<D> &m = sh[0];
  float *lse_s = m.lse, *dsum_s = m.dsum;
  int *qpos_s = m.qpos, *qseg_s = m.qseg, *kseg = m.kseg;
  __nv_bfloat16 *ks = m.tile(0), *vs = m.tile(1), *qs = m.tile(2), *dos = m.tile(3);
  float *st = m.score(0), *dpt = m.score(1);
  __nv_bfloat16 *pt = reinterpret_cast<__nv_bfloat16 *>(st);    // Pᵀ over Sᵀ
  __nv_bfloat16 *dst = reinterpret_cast<__nv_bfloat16 *>(dpt);  // dSᵀ over dPᵀ

  const int b = blockIdx.z, kh = blockIdx.y, k0 = blockIdx.x * kTcBK;
  const int rep = s.heads / s.kv_heads;
  const int64_t qd = (int64_t)s.heads * D, kd = (int64_t)s.kv_heads * D;
  const int n = max(0, min(kTcBK, s.kv - k0));
  const int64_t at = ((int64_t)b * s.kv_stride + k0) * kd + (int64_t)kh * D;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc_k[D / 32], acc_v[D / 32];
#pragma unroll
  for (int j = 0; j < D / 32; j++) {
    wmma::fill_fragment(acc_k[j], 0.0f);
    wmma::fill_fragment(acc_v[j], 0.0f);
  }
  if (n > 0) {
    copy_tile<D>(ks, L::ldk, kTcBK, n, k + at, kd);
    copy_tile<D>(vs, L::ldk, kTcBK, n, v + at, kd);
    if (threadIdx.x < kTcBK) kseg[threadIdx.x] = key_entry(mask, s, b, k0 + (int)threadIdx.x);
    const int ibeg = max(0, k0 - s.q_start) / kTcBQ * kTcBQ;
    for (int h = kh * rep; h < (kh + 1) * rep; h++) {
      for (int i0 = ibeg; i0 < s.q; i0 += kTcBQ) {
        __syncthreads();  // the previous tile is done with qs, dos, Pᵀ and dSᵀ
        const int rows = min(kTcBQ, s.q - i0);
        const int64_t qat = ((int64_t)b * s.q + i0) * qd + (int64_t)h * D;
        copy_tile<D>(qs, L::ldk, kTcBQ, rows, q + qat, qd);
        copy_tile<D>(dos, L::ldk, kTcBQ, rows, dout + qat, qd);
        load_query_tile(qpos_s, qseg_s, lse_s, dsum_s, lse, dsum, mask, s, b, h, i0, kTcBQ);
        __syncthreads();
        tc_scores<D>(st, dpt, ks, qs, vs, dos);
        __syncthreads();
        float p[kTcBK * kTcBQ / kAttnThreads], ds[kTcBK * kTcBQ / kAttnThreads];
#pragma unroll
        for (int i = 0; i < kTcBK * kTcBQ / kAttnThreads; i++) {
          const int e = threadIdx.x + i * kAttnThreads, j = e / kTcBQ, r = e % kTcBQ;
          p[i] = ds[i] = 0.0f;
          if (visible(k0 + j, kseg[j], qpos_s[r], qseg_s[r])) {
            p[i] = expf(st[j * L::lds + r] * s.scale - lse_s[r]);
            ds[i] = p[i] * (dpt[j * L::lds + r] - dsum_s[r]) * s.scale;
          }
        }
        __syncthreads();  // Sᵀ and dPᵀ are read: their place takes Pᵀ and dSᵀ
#pragma unroll
        for (int i = 0; i < kTcBK * kTcBQ / kAttnThreads; i++) {
          const int e = threadIdx.x + i * kAttnThreads, j = e / kTcBQ, r = e % kTcBQ;
          pt[j * L::ldp + r] = __float2bfloat16_rn(p[i]);
          dst[j * L::ldp + r] = __float2bfloat16_rn(ds[i]);
        }
        __syncthreads();
        tc_accumulate<D>(acc_v, pt, dos);
        tc_accumulate<D>(acc_k, dst, qs);
      }
    }
  }
  __syncthreads();  // every tile is done: the staging goes over them
  float *ok = m.staging(0), *ov = m.staging(1);
  tc_stage<D>(ok, acc_k);
  tc_stage<D>(ov, acc_v);
  __syncthreads();
  const int keys = min(kTcBK, s.kv_stride - k0);
  for (int e = threadIdx.x; e < keys * D; e += kAttnThreads) {
    const int r = e / D, c = e % D;
    dk[at + r * kd + c] = __float2bfloat16_rn(ok[r * L::ldo + c]);
    dv[at + r * kd + c] = __float2bfloat16_rn(ov[r * L::ldo + c]);
  }
#endif
}

// Kernel 3 on tensor cores: grid (ceil(q/kTcBQ), heads, batch).
template <int D>
__global__ void __launch_bounds__(kAttnThreads)
    attn_backward_q_tc_kernel(__nv_bfloat16 *__restrict__ dq, const __nv_bfloat16 *__restrict__ q,
                              const __nv_bfloat16 *__restrict__ k, const __nv_bfloat16 *__restrict__ v,
                              const __nv_bfloat16 *__restrict__ dout, const float *__restrict__ lse,
                              const float *__restrict__ dsum, const int32_t *__restrict__ mask, attn_shape s) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  __trap();  // bf16 WMMA needs sm_80; the library is built for 80 and newer
#else
  namespace wmma = nvcuda::wmma;
  using L = tc_bwd_layout<D>;
  __shared__ tc_bwd_shared<D> sh[1];
  tc_bwd_shared<D> &m = sh[0];
  float *lse_s = m.lse, *dsum_s = m.dsum;
  int *qpos_s = m.qpos, *qseg_s = m.qseg, *kseg = m.kseg;
  __nv_bfloat16 *qs = m.tile(0), *dos = m.tile(1), *ks = m.tile(2), *vs = m.tile(3);
  float *ss = m.score(0), *dps = m.score(1);
  __nv_bfloat16 *dsb = reinterpret_cast<__nv_bfloat16 *>(ss);  // dS over S

  const int b = blockIdx.z, h = blockIdx.y, i0 = blockIdx.x * kTcBQ;
  const int kh = h / (s.heads / s.kv_heads);
  const int64_t qd = (int64_t)s.heads * D, kd = (int64_t)s.kv_heads * D;
  const int rows = min(kTcBQ, s.q - i0);
  const int64_t qat = ((int64_t)b * s.q + i0) * qd + (int64_t)h * D;
  copy_tile<D>(qs, L::ldk, kTcBQ, rows, q + qat, qd);
  copy_tile<D>(dos, L::ldk, kTcBQ, rows, dout + qat, qd);
  load_query_tile(qpos_s, qseg_s, lse_s, dsum_s, lse, dsum, mask, s, b, h, i0, kTcBQ);
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[D / 32];
#pragma unroll
  for (int j = 0; j < D / 32; j++) wmma::fill_fragment(acc[j], 0.0f);

  const int kend = min(s.kv, s.q_start + i0 + rows);
  for (int k0 = 0; k0 < kend; k0 += kTcBK) {
    __syncthreads();  // the previous tile is done with ks, vs and dS
    const int n = min(kTcBK, kend - k0);
    const int64_t at = ((int64_t)b * s.kv_stride + k0) * kd + (int64_t)kh * D;
    copy_tile<D>(ks, L::ldk, kTcBK, n, k + at, kd);
    copy_tile<D>(vs, L::ldk, kTcBK, n, v + at, kd);
    if (threadIdx.x < kTcBK) kseg[threadIdx.x] = key_entry(mask, s, b, k0 + (int)threadIdx.x);
    __syncthreads();
    tc_scores<D>(ss, dps, qs, ks, dos, vs);
    __syncthreads();
    float ds[kTcBK * kTcBQ / kAttnThreads];
#pragma unroll
    for (int i = 0; i < kTcBK * kTcBQ / kAttnThreads; i++) {
      const int e = threadIdx.x + i * kAttnThreads, r = e / kTcBK, j = e % kTcBK;
      ds[i] = 0.0f;
      if (visible(k0 + j, kseg[j], qpos_s[r], qseg_s[r])) {
        const float p = expf(ss[r * L::lds + j] * s.scale - lse_s[r]);
        ds[i] = p * (dps[r * L::lds + j] - dsum_s[r]) * s.scale;
      }
    }
    __syncthreads();  // S is read: its place takes dS
#pragma unroll
    for (int i = 0; i < kTcBK * kTcBQ / kAttnThreads; i++) {
      const int e = threadIdx.x + i * kAttnThreads, r = e / kTcBK, j = e % kTcBK;
      dsb[r * L::ldp + j] = __float2bfloat16_rn(ds[i]);
    }
    __syncthreads();
    tc_accumulate<D>(acc, dsb, ks);
  }
  __syncthreads();  // every tile is done: the staging goes over them
  float *o = m.staging(0);
  tc_stage<D>(o, acc);
  __syncthreads();
  for (int e = threadIdx.x; e < rows * D; e += kAttnThreads) {
    const int r = e / D, c = e % D;
    dq[qat + r * qd + c] = __float2bfloat16_rn(o[r * L::ldo + c]);
  }
#endif
}

// ---------------------------------------------------------------------------
// Host side.

tune_status check_shape(const char *fn, const tune_attn_shape *a, attn_shape *s) {
  if (a == nullptr) return fail(TUNE_ERR_ARGUMENT, "%s: null shape", fn);
  const int64_t lim = 1LL << 30;
  if (a->batch < 1 || a->q < 1 || a->kv < 0 || a->heads < 1 || a->kv_heads < 1 || a->head_dim < 1 ||
      a->q_start < 0 || a->kv > a->kv_stride || a->heads % a->kv_heads != 0 || a->batch > 65535 ||
      a->heads > 65535 || a->q > lim || a->kv_stride > lim || a->q_start > lim)
    return fail(TUNE_ERR_ARGUMENT,
                "%s: shape batch=%lld q=%lld kv=%lld kv_stride=%lld heads=%lld kv_heads=%lld head_dim=%lld "
                "q_start=%lld (sizes >= 1, kv <= kv_stride, heads a multiple of kv_heads)",
                fn, (long long)a->batch, (long long)a->q, (long long)a->kv, (long long)a->kv_stride,
                (long long)a->heads, (long long)a->kv_heads, (long long)a->head_dim, (long long)a->q_start);
  if (a->head_dim > kMaxHeadDim)
    return fail(TUNE_ERR_ARGUMENT, "%s: head_dim %lld (the kernels take at most %d)", fn, (long long)a->head_dim,
                kMaxHeadDim);
  *s = attn_shape{(int)a->batch, (int)a->q,        (int)a->kv,       (int)a->kv_stride, (int)a->heads,
                  (int)a->kv_heads, (int)a->head_dim, (int)a->q_start, (float)(1.0 / sqrt((double)a->head_dim))};
  return TUNE_OK;
}

tune_status check_type(const char *fn, tune_dtype t) {
  if (t != TUNE_F32 && t != TUNE_BF16) return fail(TUNE_ERR_ARGUMENT, "%s: activation type %d", fn, (int)t);
  return TUNE_OK;
}

template <int D, class T>
tune_status forward_as(tune_ctx *ctx, tune_ptr out, tune_ptr lse, tune_ptr q, tune_ptr k, tune_ptr v,
                       tune_ptr mask, const attn_shape &s) {
  dim3 grid((unsigned)((s.q + kFwdQ - 1) / kFwdQ), (unsigned)s.heads, (unsigned)s.batch);
  attn_forward_kernel<D, T><<<grid, kAttnThreads, 0, ctx->stream>>>(
      reinterpret_cast<T *>(out), reinterpret_cast<float *>(lse), reinterpret_cast<const T *>(q),
      reinterpret_cast<const T *>(k), reinterpret_cast<const T *>(v), reinterpret_cast<const int32_t *>(mask), s);
  return launched("attention forward kernel");
}

template <int D, class T>
tune_status backward_as(tune_ctx *ctx, tune_ptr dq, tune_ptr dk, tune_ptr dv, tune_ptr dout, tune_ptr q, tune_ptr k,
                        tune_ptr v, tune_ptr lse, tune_ptr dsum, tune_ptr mask, const attn_shape &s) {
  const T *qp = reinterpret_cast<const T *>(q), *kp = reinterpret_cast<const T *>(k);
  const T *vp = reinterpret_cast<const T *>(v), *dop = reinterpret_cast<const T *>(dout);
  const float *lp = reinterpret_cast<const float *>(lse), *dp = reinterpret_cast<const float *>(dsum);
  const int32_t *mp = reinterpret_cast<const int32_t *>(mask);
  dim3 kv_grid((unsigned)((s.kv_stride + kKeys - 1) / kKeys), (unsigned)s.kv_heads, (unsigned)s.batch);
  attn_backward_kv_kernel<D, T><<<kv_grid, kAttnThreads, 0, ctx->stream>>>(
      reinterpret_cast<T *>(dk), reinterpret_cast<T *>(dv), qp, kp, vp, dop, lp, dp, mp, s);
  TRY(launched("attention backward dk/dv kernel"));
  dim3 q_grid((unsigned)((s.q + kBwdQ - 1) / kBwdQ), (unsigned)s.heads, (unsigned)s.batch);
  attn_backward_q_kernel<D, T><<<q_grid, kAttnThreads, 0, ctx->stream>>>(reinterpret_cast<T *>(dq), qp, kp, vp,
                                                                         dop, lp, dp, mp, s);
  return launched("attention backward dq kernel");
}

// forward_typed picks the FMA instance for the head dim.
template <class T>
tune_status forward_typed(tune_ctx *ctx, tune_ptr out, tune_ptr lse, tune_ptr q, tune_ptr k, tune_ptr v,
                          tune_ptr mask, const attn_shape &s) {
  switch (s.d) {
    case 64: return forward_as<64, T>(ctx, out, lse, q, k, v, mask, s);
    case 128: return forward_as<128, T>(ctx, out, lse, q, k, v, mask, s);
    default: return forward_as<0, T>(ctx, out, lse, q, k, v, mask, s);
  }
}

template <int D>
tune_status forward_tc(tune_ctx *ctx, tune_ptr out, tune_ptr lse, tune_ptr q, tune_ptr k, tune_ptr v, tune_ptr mask,
                       const attn_shape &s) {
  dim3 grid((unsigned)((s.q + kTcQ - 1) / kTcQ), (unsigned)s.heads, (unsigned)s.batch);
  attn_forward_tc_kernel<D><<<grid, kAttnThreads, 0, ctx->stream>>>(
      reinterpret_cast<__nv_bfloat16 *>(out), reinterpret_cast<float *>(lse),
      reinterpret_cast<const __nv_bfloat16 *>(q), reinterpret_cast<const __nv_bfloat16 *>(k),
      reinterpret_cast<const __nv_bfloat16 *>(v), reinterpret_cast<const int32_t *>(mask), s);
  return launched("attention forward kernel (tensor cores)");
}

// forward queues the forward: on tensor cores for bf16 at head dims 64 and
// 128, else the fp32 FMA kernels.
tune_status forward(tune_ctx *ctx, tune_ptr out, tune_ptr lse, tune_ptr q, tune_ptr k, tune_ptr v, tune_ptr mask,
                    tune_dtype t, const attn_shape &s) {
  if (t == TUNE_BF16 && s.d == 64) return forward_tc<64>(ctx, out, lse, q, k, v, mask, s);
  if (t == TUNE_BF16 && s.d == 128) return forward_tc<128>(ctx, out, lse, q, k, v, mask, s);
  if (t == TUNE_BF16) return forward_typed<__nv_bfloat16>(ctx, out, lse, q, k, v, mask, s);
  return forward_typed<float>(ctx, out, lse, q, k, v, mask, s);
}

template <int D>
tune_status backward_tc(tune_ctx *ctx, tune_ptr dq, tune_ptr dk, tune_ptr dv, tune_ptr dout, tune_ptr q, tune_ptr k,
                        tune_ptr v, tune_ptr lse, tune_ptr dsum, tune_ptr mask, const attn_shape &s) {
  using T = __nv_bfloat16;
  const T *qp = reinterpret_cast<const T *>(q), *kp = reinterpret_cast<const T *>(k);
  const T *vp = reinterpret_cast<const T *>(v), *dop = reinterpret_cast<const T *>(dout);
  const float *lp = reinterpret_cast<const float *>(lse), *dp = reinterpret_cast<const float *>(dsum);
  const int32_t *mp = reinterpret_cast<const int32_t *>(mask);
  dim3 kv_grid((unsigned)((s.kv_stride + kTcBK - 1) / kTcBK), (unsigned)s.kv_heads, (unsigned)s.batch);
  attn_backward_kv_tc_kernel<D><<<kv_grid, kAttnThreads, 0, ctx->stream>>>(
      reinterpret_cast<T *>(dk), reinterpret_cast<T *>(dv), qp, kp, vp, dop, lp, dp, mp, s);
  TRY(launched("attention backward dk/dv kernel (tensor cores)"));
  dim3 q_grid((unsigned)((s.q + kTcBQ - 1) / kTcBQ), (unsigned)s.heads, (unsigned)s.batch);
  attn_backward_q_tc_kernel<D><<<q_grid, kAttnThreads, 0, ctx->stream>>>(reinterpret_cast<T *>(dq), qp, kp, vp, dop,
                                                                        lp, dp, mp, s);
  return launched("attention backward dq kernel (tensor cores)");
}

template <class T>
tune_status backward_typed(tune_ctx *ctx, tune_ptr dq, tune_ptr dk, tune_ptr dv, tune_ptr dout, tune_ptr q,
                           tune_ptr k, tune_ptr v, tune_ptr out, tune_ptr lse, tune_ptr dsum, tune_ptr mask,
                           const attn_shape &s) {
  const int64_t rows = (int64_t)s.batch * s.q * s.heads;
  attn_rowdot_kernel<T><<<blocks_for(rows, kAttnThreads), kAttnThreads, 0, ctx->stream>>>(
      reinterpret_cast<float *>(dsum), reinterpret_cast<const T *>(dout), reinterpret_cast<const T *>(out), s);
  TRY(launched("attention backward rowsum kernel"));
  if (std::is_same<T, __nv_bfloat16>::value && s.d == 64)
    return backward_tc<64>(ctx, dq, dk, dv, dout, q, k, v, lse, dsum, mask, s);
  if (std::is_same<T, __nv_bfloat16>::value && s.d == 128)
    return backward_tc<128>(ctx, dq, dk, dv, dout, q, k, v, lse, dsum, mask, s);
  switch (s.d) {
    case 64: return backward_as<64, T>(ctx, dq, dk, dv, dout, q, k, v, lse, dsum, mask, s);
    case 128: return backward_as<128, T>(ctx, dq, dk, dv, dout, q, k, v, lse, dsum, mask, s);
    default: return backward_as<0, T>(ctx, dq, dk, dv, dout, q, k, v, lse, dsum, mask, s);
  }
}

}  // namespace

extern "C" {

TUNE_API tune_status tune_attention_forward(tune_ctx *ctx, tune_ptr out, tune_ptr lse, tune_ptr q, tune_ptr k,
                                            tune_ptr v, tune_ptr key_mask, tune_dtype act,
                                            const tune_attn_shape *shape) {
  static const char fn[] = "tune_attention_forward";
  TRY(enter(ctx));
  attn_shape s;
  TRY(check_shape(fn, shape, &s));
  TRY(check_type(fn, act));
  if (out == 0 || q == 0 || (s.kv > 0 && (k == 0 || v == 0)))
    return fail(TUNE_ERR_ARGUMENT, "%s: a null out, q, k or v", fn);
  return forward(ctx, out, lse, q, k, v, key_mask, act, s);
}

TUNE_API tune_status tune_attention_backward(tune_ctx *ctx, tune_ptr dq, tune_ptr dk, tune_ptr dv, tune_ptr dout,
                                             tune_ptr q, tune_ptr k, tune_ptr v, tune_ptr out, tune_ptr lse,
                                             tune_ptr key_mask, tune_dtype act, const tune_attn_shape *shape) {
  static const char fn[] = "tune_attention_backward";
  TRY(enter(ctx));
  attn_shape s;
  TRY(check_shape(fn, shape, &s));
  TRY(check_type(fn, act));
  if (dq == 0 || dk == 0 || dv == 0 || dout == 0 || q == 0 || k == 0 || v == 0 || out == 0)
    return fail(TUNE_ERR_ARGUMENT, "%s: a null dq, dk, dv, dout, q, k, v or out", fn);
  const size_t per_query = (size_t)s.batch * s.heads * s.q * sizeof(float);
  if (lse == 0) {
    void *p = nullptr;
    TRY(scratch(ctx, SCRATCH_ATTN_LSE, per_query, &p));
    lse = (tune_ptr)(uintptr_t)p;
    TRY(forward(ctx, 0, lse, q, k, v, key_mask, act, s));
  }
  void *dsum = nullptr;
  TRY(scratch(ctx, SCRATCH_ATTN_DSUM, per_query, &dsum));
  if (act == TUNE_BF16)
    return backward_typed<__nv_bfloat16>(ctx, dq, dk, dv, dout, q, k, v, out, lse, (tune_ptr)(uintptr_t)dsum,
                                         key_mask, s);
  return backward_typed<float>(ctx, dq, dk, dv, dout, q, k, v, out, lse, (tune_ptr)(uintptr_t)dsum, key_mask, s);
}

}  // extern "C"
