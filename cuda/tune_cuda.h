/*
 * tune_cuda.h: the C ABI of libtune_cuda, the CUDA kernel library of tune.
 *
 * Plain C, no CUDA headers: package cuda (Go) includes this file and calls
 * the library through function pointers found with dlsym, so the Go build
 * needs no CUDA toolkit.
 *
 * Conventions:
 *  - Every function that can fail returns a tune_status (the three that
 *    cannot return a version or the last error). TUNE_OK is 0; on any other
 *    value tune_last_error() describes the failure (the calling thread's
 *    last error). The library never exits, aborts or prints.
 *  - Device memory is named by tune_ptr, a device address (like the driver
 *    API's CUdeviceptr). 0 is the null address.
 *  - Every call that takes a tune_ctx runs on the context's device and its
 *    one stream, in call order. Calls that return host data (downloads,
 *    sums, norms, event times) wait for the stream; the others may return
 *    before the device has finished.
 *  - Matrices are row-major. A linear weight W is [out, in] (y = x*W^T).
 *  - Element types: TUNE_F32 (float) and TUNE_BF16 (bfloat16, stored as
 *    uint16_t). Arithmetic accumulates in fp32 (fp64 for sums of squares).
 */
#ifndef TUNE_CUDA_H
#define TUNE_CUDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version: raised whenever a signature, struct or meaning below
 * changes. Package cuda refuses a library whose tune_abi_version() differs
 * from the one it was written for. */
#define TUNE_CUDA_ABI_VERSION 6

#if defined(TUNE_CUDA_BUILD)
#define TUNE_API __attribute__((visibility("default")))
#else
#define TUNE_API
#endif

typedef enum tune_status {
  TUNE_OK = 0,
  TUNE_ERR_ARGUMENT = 1,      /* a bad argument (shape, null pointer, type) */
  TUNE_ERR_NO_DEVICE = 2,     /* no usable CUDA GPU or driver */
  TUNE_ERR_OUT_OF_MEMORY = 3, /* a device or host allocation failed */
  TUNE_ERR_CUDA = 4,          /* any other CUDA runtime error */
  TUNE_ERR_CUBLAS = 5         /* a cuBLASLt error, or no algorithm for a shape */
} tune_status;

typedef enum tune_dtype { TUNE_F32 = 0, TUNE_BF16 = 1 } tune_dtype;

typedef uint64_t tune_ptr;
typedef struct tune_ctx tune_ctx;
typedef struct tune_event tune_event;

/* --- library, devices, contexts (memory.cu) ----------------------------- */

TUNE_API int tune_abi_version(void);
/* The calling thread's last error message ("" when none). Valid until the
 * thread's next call into the library. */
TUNE_API const char *tune_last_error(void);
/* The CUDA version the library was built with (CUDART_VERSION, e.g.
 * 12080); it needs a driver of that version or newer. */
TUNE_API int tune_cuda_version(void);
/* The number of CUDA devices; TUNE_ERR_NO_DEVICE (with the runtime's
 * reason) when there is none or no driver. */
TUNE_API tune_status tune_device_count(int *count);

typedef struct tune_device_info {
  char name[256];
  int major, minor;          /* compute capability */
  int multiprocessors;
  int driver_version;        /* e.g. 12080 */
  int runtime_version;       /* of the linked cudart */
  uint64_t total_memory;     /* bytes */
  uint64_t l2_bytes;
} tune_device_info;

/* Creates a context on device: its stream, a cuBLASLt handle and the
 * scratch the kernels reuse. */
TUNE_API tune_status tune_create(int device, tune_ctx **ctx);
TUNE_API tune_status tune_destroy(tune_ctx *ctx);
TUNE_API tune_status tune_device(tune_ctx *ctx, tune_device_info *info);
/* The device's free and total memory in bytes (cudaMemGetInfo), for
 * planning a run against what is left. */
TUNE_API tune_status tune_memory_info(tune_ctx *ctx, uint64_t *free_bytes, uint64_t *total_bytes);
/* Waits for all work queued on the context's stream. */
TUNE_API tune_status tune_synchronize(tune_ctx *ctx);

/* --- memory (memory.cu) ------------------------------------------------- */

/* Allocates bytes of device memory (256-byte aligned, not cleared). */
TUNE_API tune_status tune_alloc(tune_ctx *ctx, uint64_t bytes, tune_ptr *out);
/* Frees memory from tune_alloc; like cudaFree it first waits for the
 * device. */
TUNE_API tune_status tune_free(tune_ctx *ctx, tune_ptr p);
/* Host to device and device to host copies; both return once the copy is
 * done (ordered after the work queued before them). */
TUNE_API tune_status tune_upload(tune_ctx *ctx, tune_ptr dst, const void *src, uint64_t bytes);
TUNE_API tune_status tune_download(tune_ctx *ctx, void *dst, tune_ptr src, uint64_t bytes);
/* Device to device copy and zero fill, queued on the stream. */
TUNE_API tune_status tune_copy(tune_ctx *ctx, tune_ptr dst, tune_ptr src, uint64_t bytes);
TUNE_API tune_status tune_zero(tune_ctx *ctx, tune_ptr dst, uint64_t bytes);

/* Events, for timing work on the stream. */
TUNE_API tune_status tune_event_create(tune_ctx *ctx, tune_event **ev);
TUNE_API tune_status tune_event_destroy(tune_ctx *ctx, tune_event *ev);
TUNE_API tune_status tune_event_record(tune_ctx *ctx, tune_event *ev);
/* Milliseconds between two recorded events; waits for the later one. */
TUNE_API tune_status tune_event_elapsed(tune_ctx *ctx, tune_event *start, tune_event *end, float *ms);

/* --- NF4 (nf4.cu) ------------------------------------------------------- */

/* An NF4 tensor in bitsandbytes' layout, in device memory. Element i of
 * the flattened tensor is code[nibble] * absmax[i / block_size], where the
 * nibble is the high half of byte data[i/2] for even i and the low half for
 * odd i. With double quantization (absmax == 0) the block scales are
 * themselves 8-bit: absmax[b] = code2[qabsmax[b]] * absmax2[b / block_size2]
 * + offset, each step rounded to fp32 as bitsandbytes does. */
typedef struct tune_nf4 {
  tune_ptr data;        /* uint8  [(n+1)/2] */
  tune_ptr absmax;      /* float  [ceil(n/block_size)], 0 with double quantization */
  tune_ptr qabsmax;     /* uint8  [ceil(n/block_size)] (double quantization) */
  tune_ptr absmax2;     /* float  [ceil(ceil(n/block_size)/block_size2)] */
  tune_ptr code2;       /* float  [256] */
  int64_t n;            /* logical elements */
  int32_t block_size;   /* elements per block scale, a power of two (bitsandbytes: 64) */
  int32_t block_size2;  /* block scales per second-level scale, a power of two (256) */
  float offset;         /* added back to the decoded block scales */
  float code[16];       /* the NF4 code book */
} tune_nf4;

/* out[0:n] = dequantized q, as fp32 or bf16 (fp32 product rounded to
 * nearest even). */
TUNE_API tune_status tune_nf4_dequantize(tune_ctx *ctx, tune_ptr out, tune_dtype out_type, const tune_nf4 *q);

/* Quantizes w [q->n] (TUNE_F32 or TUNE_BF16, every element finite) into q
 * with double quantization, bit for bit as package quant's Quantize(w,
 * shape, q->block_size, true) (bitsandbytes' quantize_4bit with
 * compress_statistics): the caller sets n, block_size (32 to 4096),
 * block_size2 = 256, absmax = 0 and points data, qabsmax, absmax2 and
 * code2 at device memory of their sizes, code2 holding the nested 8-bit
 * map. The call writes data, qabsmax and absmax2, and sets q->offset
 * (waiting for the stream). */
TUNE_API tune_status tune_nf4_quantize(tune_ctx *ctx, tune_nf4 *q, tune_ptr w, tune_dtype w_type);

/* --- linear layers (lora_linear.cu) ------------------------------------- */

/* A linear layer's frozen weight W [out, in]: an NF4 tensor of out*in
 * elements (is_nf4 != 0), or dense elements of type dtype at ptr. */
typedef struct tune_weight {
  int32_t is_nf4;
  tune_dtype dtype;
  tune_ptr ptr;
  tune_nf4 nf4;
} tune_weight;

typedef struct tune_lora_shape {
  int64_t rows, in, out, rank;
  float scale;          /* the LoRA scaling, alpha/rank */
  float dropout;        /* p in [0, 1) of the dropout on the adapter's input; 0: none */
  uint64_t dropout_seed;
} tune_lora_shape;

/* The dropout mask (package backend's DropoutMask) is [rows,in] like x:
 * element i = row*in + col is dropped when splitmix64(splitmix64(seed) + i)
 * >> 40 < ceil(p * 2^24), and kept and scaled by float(1/(1-p)) otherwise;
 * dropout(x) = x (.) mask. The kernels regenerate it from the seed in the
 * forward and the backward call alike; nothing is stored between them.
 *
 * y [rows,out] (bf16) = x [rows,in] (bf16) * W^T + bias
 *                       + scale*(dropout(x)*A^T)*B^T
 * with bias [out] (bias_type TUNE_F32 or TUNE_BF16, 0 for none), A
 * [rank,in] and B [out,rank] (fp32). */
TUNE_API tune_status tune_lora_linear_forward(tune_ctx *ctx, tune_ptr y, tune_ptr x, const tune_weight *w,
                                              tune_ptr bias, tune_dtype bias_type, tune_ptr a, tune_ptr b,
                                              const tune_lora_shape *s);
/* dx = dy*W + scale*mask(.)((dy*B)*A) (bf16, dx = 0 to skip),
 * dA += scale*(dy*B)^T*dropout(x) and dB += scale*dy^T*(dropout(x)*A^T)
 * (fp32), from dy [rows,out] and the forward's x (bf16) and shape. */
TUNE_API tune_status tune_lora_linear_backward(tune_ctx *ctx, tune_ptr dx, tune_ptr da, tune_ptr db, tune_ptr dy,
                                               tune_ptr x, const tune_weight *w, tune_ptr a, tune_ptr b,
                                               const tune_lora_shape *s);
/* A plain bf16 GEMM through cuBLASLt, the baseline the fused layer is
 * measured against: c [rows,n] = a [rows,k] * W^T for W [n,k] when
 * trans_w != 0, else a * W for W [k,n]. All bf16, fp32 accumulation. */
TUNE_API tune_status tune_matmul_bf16(tune_ctx *ctx, tune_ptr c, tune_ptr a, tune_ptr w, int64_t rows, int64_t k,
                                      int64_t n, int trans_w);

/* --- frozen linear layers (linear.cu) ----------------------------------- */

/* The activations (x, y, dy, dx) are fp32 or bf16 (their tune_dtype
 * arguments); every product is summed in fp32. The GEMM runs in the type of
 * x (forward, weight gradient) or dy (backward); W, dense fp32 or bf16 or
 * NF4, is used as it is when it has that type and is otherwise converted
 * to it, per call, into a scratch (NF4 dequantized). A bf16 output needs a
 * bf16 GEMM. Outputs must not overlap inputs.
 *
 * y [rows,out] = x [rows,in] * W^T + bias, W [out,in], bias [out] (bias_type
 * TUNE_F32 or TUNE_BF16; 0 for none), added in the output's type. */
TUNE_API tune_status tune_linear(tune_ctx *ctx, tune_ptr y, tune_dtype y_type, tune_ptr x, tune_dtype x_type,
                                 const tune_weight *w, tune_ptr bias, tune_dtype bias_type, int64_t rows, int64_t in,
                                 int64_t out);
/* dx [rows,in] = dy [rows,out] * W. */
TUNE_API tune_status tune_linear_backward(tune_ctx *ctx, tune_ptr dx, tune_dtype dx_type, tune_ptr dy,
                                          tune_dtype dy_type, const tune_weight *w, int64_t rows, int64_t in,
                                          int64_t out);
/* dW [out,in] (fp32) += dy^T * x, dy [rows,out] and x [rows,in] of one
 * type. */
TUNE_API tune_status tune_linear_weight_grad(tune_ctx *ctx, tune_ptr dw, tune_ptr dy, tune_dtype dy_type, tune_ptr x,
                                             tune_dtype x_type, int64_t rows, int64_t in, int64_t out);

/* --- cross-entropy (loss.cu) -------------------------------------------- */

/* A target that does not count (PyTorch's ignore_index). */
#define TUNE_IGNORE_INDEX (-100)

/* For each row r of logits [rows,vocab] (fp32 or bf16) and t = targets[r]
 * (int32, device): loss[r] (fp32) = logsumexp(logits[r]) - logits[r][t],
 * 0 where t is TUNE_IGNORE_INDEX, NaN for any other t outside [0, vocab).
 * When sum is not 0 (float[2] on the device), also, without a host copy:
 *   sum[0] += scale * (loss[0] + ... + loss[rows-1])   (summed in fp64 in a
 *             fixed order, added and rounded to fp32 once)
 *   sum[1] += the number of rows whose target is not ignored.
 * loss may be 0 when sum is given. */
TUNE_API tune_status tune_cross_entropy(tune_ctx *ctx, tune_ptr loss, tune_ptr logits, tune_dtype logits_type,
                                        tune_ptr targets, int64_t rows, int64_t vocab, tune_ptr sum, float scale);
/* dlogits[r] = scale * (softmax(logits[r]) - onehot(t)), 0 for ignored rows
 * (NaN for an invalid t). dlogits may be logits itself (same type: in
 * place); otherwise they must not overlap. */
TUNE_API tune_status tune_cross_entropy_backward(tune_ctx *ctx, tune_ptr dlogits, tune_dtype dlogits_type,
                                                 tune_ptr logits, tune_dtype logits_type, tune_ptr targets,
                                                 int64_t rows, int64_t vocab, float scale);
/* --- whole-model ops: norms, RoPE, elementwise (norm.cu, rope.cu,
 * pointwise.cu) ---------------------------------------------------------
 *
 * Every activation argument (and the norm weight) is a device array of
 * fp32 or bf16 elements, its tune_dtype given right after it; arithmetic is
 * fp32 and each result is rounded once to its output's type. Outputs are
 * written with `=` except by tune_add_scaled. Index arrays (ids, pos) are
 * device int32. Each .cu file's contract has the details. */

/* out [rows, dim] = RMSNorm(x) * w, w [dim], per row:
 * w * (x * 1/sqrt(mean(x^2) + eps)). */
TUNE_API tune_status tune_rmsnorm(tune_ctx *ctx, tune_ptr out, tune_dtype out_type, tune_ptr x, tune_dtype x_type,
                                  tune_ptr w, tune_dtype w_type, int64_t rows, int64_t dim, float eps);
/* dx = inv*(dy*w) - x*inv^3*mean(dy*w*x) per row; dx may alias dy. */
TUNE_API tune_status tune_rmsnorm_backward(tune_ctx *ctx, tune_ptr dx, tune_dtype dx_type, tune_ptr dy,
                                           tune_dtype dy_type, tune_ptr x, tune_dtype x_type, tune_ptr w,
                                           tune_dtype w_type, int64_t rows, int64_t dim, float eps);
/* sum = a + b (stored rounded; sum may alias a or b), then
 * h = RMSNorm(sum) * w of the stored sum: tune_add and tune_rmsnorm in one
 * pass. */
TUNE_API tune_status tune_add_rmsnorm(tune_ctx *ctx, tune_ptr sum, tune_dtype sum_type, tune_ptr h,
                                      tune_dtype h_type, tune_ptr a, tune_dtype a_type, tune_ptr b, tune_dtype b_type,
                                      tune_ptr w, tune_dtype w_type, int64_t rows, int64_t dim, float eps);
/* Rotates x [rows, heads*head_dim] in place by RoPE (rotate-half) at the
 * angles a = float(pos[r]) * inv_freq[j] (fp32), j < head_dim/2, or by -a
 * when transpose != 0 (the backward pass). pos: int32 [rows]; inv_freq:
 * fp32 [head_dim/2], computed by the caller. */
TUNE_API tune_status tune_rope(tune_ctx *ctx, tune_ptr x, tune_dtype x_type, tune_ptr pos, tune_ptr inv_freq,
                               int64_t rows, int64_t heads, int64_t head_dim, int transpose);
/* out [rows, dim] = table[ids[i]] for table [vocab, dim]; ids: int32
 * [rows] in [0, vocab) (a row with another id is written as NaN). */
TUNE_API tune_status tune_embedding(tune_ctx *ctx, tune_ptr out, tune_dtype out_type, tune_ptr table,
                                    tune_dtype table_type, tune_ptr ids, int64_t rows, int64_t dim, int64_t vocab);
/* out = silu(gate) * up over n elements, silu(x) = x/(1+exp(-x)). */
TUNE_API tune_status tune_silu_mul(tune_ctx *ctx, tune_ptr out, tune_dtype out_type, tune_ptr gate,
                                   tune_dtype gate_type, tune_ptr up, tune_dtype up_type, int64_t n);
/* dgate = dy*up*sig*(1 + gate*(1-sig)), dup = dy*gate*sig with
 * sig = 1/(1+exp(-gate)); dgate may alias dy. */
TUNE_API tune_status tune_silu_mul_backward(tune_ctx *ctx, tune_ptr dgate, tune_dtype dgate_type, tune_ptr dup,
                                            tune_dtype dup_type, tune_ptr dy, tune_dtype dy_type, tune_ptr gate,
                                            tune_dtype gate_type, tune_ptr up, tune_dtype up_type, int64_t n);
/* out = a + b over n elements (out may alias a or b). */
TUNE_API tune_status tune_add(tune_ctx *ctx, tune_ptr out, tune_dtype out_type, tune_ptr a, tune_dtype a_type,
                              tune_ptr b, tune_dtype b_type, int64_t n);
/* out += s * x over n elements. */
TUNE_API tune_status tune_add_scaled(tune_ctx *ctx, tune_ptr out, tune_dtype out_type, tune_ptr x,
                                     tune_dtype x_type, float s, int64_t n);
/* out = x * mask over n elements, mask[i] = 0 or float(1/(1-p)) as
 * package backend's DropoutMask draws it from (p, seed) (the mask of
 * tune_lora_linear_forward above, indexed by i); out may alias x;
 * 0 <= p < 1. */
TUNE_API tune_status tune_dropout(tune_ctx *ctx, tune_ptr out, tune_dtype out_type, tune_ptr x, tune_dtype x_type,
                                  float p, uint64_t seed, int64_t n);

/* --- attention (attention.cu) ------------------------------------------- */

/* One causal grouped-query attention call (package backend's AttnShape):
 * queries [batch, q, heads*head_dim], keys and values [batch, kv_stride,
 * kv_heads*head_dim] of which keys 0..kv-1 are used; query i sits at
 * position q_start+i and its head h reads kv head h/(heads/kv_heads).
 * head_dim is at most 128. */
typedef struct tune_attn_shape {
  int64_t batch, q, kv, kv_stride, heads, kv_heads, head_dim, q_start;
} tune_attn_shape;

/* out = softmax(q*k^T/sqrt(head_dim) over the visible keys)*v and, unless
 * lse is 0, lse [batch, heads, q] (fp32) = the log-sum-exp of those scores
 * (0 for a query with no visible key, whose out is 0). key_mask (device
 * int32 [batch*kv_stride], 0 for none) removes padding keys (0) and keeps
 * packed segments apart (see attention.cu). q, k, v and out are all of
 * type act; the sums are fp32. */
TUNE_API tune_status tune_attention_forward(tune_ctx *ctx, tune_ptr out, tune_ptr lse, tune_ptr q, tune_ptr k,
                                            tune_ptr v, tune_ptr key_mask, tune_dtype act,
                                            const tune_attn_shape *shape);
/* dq, dk, dv (`=`; dk and dv summed over the query heads of a kv head, rows
 * past kv set to 0) from dout, the forward's q, k, v, out and lse (0:
 * recomputed first), all activations of type act. */
TUNE_API tune_status tune_attention_backward(tune_ctx *ctx, tune_ptr dq, tune_ptr dk, tune_ptr dv, tune_ptr dout,
                                             tune_ptr q, tune_ptr k, tune_ptr v, tune_ptr out, tune_ptr lse,
                                             tune_ptr key_mask, tune_dtype act, const tune_attn_shape *shape);

/* --- optimizer (adamw.cu) ----------------------------------------------- */

/* *out = sum of x[i]^2 over n fp32 elements, accumulated in fp64. */
TUNE_API tune_status tune_sum_squares(tune_ctx *ctx, tune_ptr x, int64_t n, double *out);

typedef struct tune_adamw_step {
  double lr, beta1, beta2, eps, weight_decay;
  int64_t step;         /* counts from 1 */
  float grad_scale;     /* multiplies every gradient (used when max_norm <= 0) */
  float max_norm;       /* > 0: clip by the global norm, see tune_adamw */
} tune_adamw_step;

/* One AdamW update of n fp32 parameters p from gradients g with moments m
 * and v, in one launch, by PyTorch's rule and float32 operation order:
 *   g' = g*scale; p *= 1-lr*wd; m = b1*m + (1-b1)*g';
 *   v = b2*v + ((1-b2)*g')*g'; p += (-lr/(1-b1^t))*m / (sqrt(v)/sqrt(1-b2^t) + eps)
 * With max_norm > 0 the library first sums g^2 on the device (fp64) and
 * uses scale = min(1, max_norm/(float(sqrt(sum)) + 1e-6)) as
 * torch.nn.utils.clip_grad_norm_ does, without a host round trip; else
 * scale = grad_scale. norm (may be NULL) receives sqrt(sum of g^2) in the
 * clipping case (waiting for the stream) and is left alone otherwise. */
TUNE_API tune_status tune_adamw(tune_ctx *ctx, tune_ptr p, tune_ptr g, tune_ptr m, tune_ptr v, int64_t n,
                                const tune_adamw_step *s, double *norm);

#ifdef __cplusplus
}
#endif

#endif /* TUNE_CUDA_H */
