// tl.h: package cuda's C side: the table of libtune_cuda's entry points,
// found with dlsym, and trampolines that call through it (cgo cannot call a
// function pointer). Included by the cgo preamble of each Go file that
// calls the library; the Go build needs no CUDA header, only tune_cuda.h.
#ifndef TUNE_TL_H
#define TUNE_TL_H

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include "tune_cuda.h"

// Every entry point but tune_abi_version, which is looked up first.
#define TUNE_FUNCS(X) \
	X(last_error) X(cuda_version) X(device_count) X(create) X(destroy) X(device) X(memory_info) \
	X(synchronize) X(alloc) X(free) X(upload) X(download) X(copy) X(zero) \
	X(event_create) X(event_destroy) X(event_record) X(event_elapsed) \
	X(nf4_dequantize) X(nf4_quantize) X(lora_linear_forward) X(lora_linear_backward) X(matmul_bf16) \
	X(linear) X(linear_backward) X(linear_weight_grad) X(cross_entropy) X(cross_entropy_backward) \
	X(sum_squares) X(adamw) \
	X(rmsnorm) X(rmsnorm_backward) X(add_rmsnorm) X(rope) X(embedding) X(silu_mul) \
	X(silu_mul_backward) X(add) X(add_scaled) X(dropout) \
	X(attention_forward) X(attention_backward)

typedef struct tl_lib {
#define FIELD(name) __typeof__(&tune_##name) name;
	TUNE_FUNCS(FIELD)
#undef FIELD
} tl_lib;

// tl_open dlopens path, or returns NULL with dlerror's message in err
// (dlerror is per thread, so both happen in this one call).
static inline void *tl_open(const char *path, char *err, size_t n) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		const char *e = dlerror();
		snprintf(err, n, "%s", e ? e : "unknown dlopen error");
	}
	return h;
}

static inline void tl_close(void *h) { dlclose(h); }

// tl_abi_version returns the library's ABI version, or -1 when it has no
// tune_abi_version (it is not a tune CUDA library).
static inline int tl_abi_version(void *h) {
	int (*f)(void) = (int (*)(void))dlsym(h, "tune_abi_version");
	return f ? f() : -1;
}

// tl_bind fills l from h and returns NULL, or the first missing symbol.
static inline const char *tl_bind(void *h, tl_lib *l) {
#define BIND(name) \
	l->name = (__typeof__(l->name))dlsym(h, "tune_" #name); \
	if (l->name == NULL) return "tune_" #name;
	TUNE_FUNCS(BIND)
#undef BIND
	return NULL;
}

// Trampolines.
static inline const char *tl_last_error(tl_lib *l) { return l->last_error(); }
static inline int tl_cuda_version(tl_lib *l) { return l->cuda_version(); }
static inline int tl_device_count(tl_lib *l, int *n) { return l->device_count(n); }
static inline int tl_create(tl_lib *l, int dev, tune_ctx **c) { return l->create(dev, c); }
static inline int tl_destroy(tl_lib *l, tune_ctx *c) { return l->destroy(c); }
static inline int tl_device(tl_lib *l, tune_ctx *c, tune_device_info *i) { return l->device(c, i); }
static inline int tl_memory_info(tl_lib *l, tune_ctx *c, uint64_t *f, uint64_t *t) { return l->memory_info(c, f, t); }
static inline int tl_synchronize(tl_lib *l, tune_ctx *c) { return l->synchronize(c); }
static inline int tl_alloc(tl_lib *l, tune_ctx *c, uint64_t n, tune_ptr *p) { return l->alloc(c, n, p); }
static inline int tl_free(tl_lib *l, tune_ctx *c, tune_ptr p) { return l->free(c, p); }
static inline int tl_upload(tl_lib *l, tune_ctx *c, tune_ptr d, const void *s, uint64_t n) { return l->upload(c, d, s, n); }
static inline int tl_download(tl_lib *l, tune_ctx *c, void *d, tune_ptr s, uint64_t n) { return l->download(c, d, s, n); }
static inline int tl_copy(tl_lib *l, tune_ctx *c, tune_ptr d, tune_ptr s, uint64_t n) { return l->copy(c, d, s, n); }
static inline int tl_zero(tl_lib *l, tune_ctx *c, tune_ptr d, uint64_t n) { return l->zero(c, d, n); }
static inline int tl_event_create(tl_lib *l, tune_ctx *c, tune_event **e) { return l->event_create(c, e); }
static inline int tl_event_destroy(tl_lib *l, tune_ctx *c, tune_event *e) { return l->event_destroy(c, e); }
static inline int tl_event_record(tl_lib *l, tune_ctx *c, tune_event *e) { return l->event_record(c, e); }
static inline int tl_event_elapsed(tl_lib *l, tune_ctx *c, tune_event *a, tune_event *b, float *ms) {
	return l->event_elapsed(c, a, b, ms);
}
static inline int tl_nf4_dequantize(tl_lib *l, tune_ctx *c, tune_ptr out, tune_dtype t, const tune_nf4 *q) {
	return l->nf4_dequantize(c, out, t, q);
}
static inline int tl_nf4_quantize(tl_lib *l, tune_ctx *c, tune_nf4 *q, tune_ptr w, tune_dtype t) {
	return l->nf4_quantize(c, q, w, t);
}
static inline int tl_lora_linear_forward(tl_lib *l, tune_ctx *c, tune_ptr y, tune_ptr x, const tune_weight *w,
		tune_ptr bias, tune_dtype bt, tune_ptr a, tune_ptr b, const tune_lora_shape *s) {
	return l->lora_linear_forward(c, y, x, w, bias, bt, a, b, s);
}
static inline int tl_lora_linear_backward(tl_lib *l, tune_ctx *c, tune_ptr dx, tune_ptr da, tune_ptr db, tune_ptr dy,
		tune_ptr x, const tune_weight *w, tune_ptr a, tune_ptr b, const tune_lora_shape *s) {
	return l->lora_linear_backward(c, dx, da, db, dy, x, w, a, b, s);
}
static inline int tl_matmul_bf16(tl_lib *l, tune_ctx *c, tune_ptr out, tune_ptr a, tune_ptr w, int64_t rows, int64_t k,
		int64_t n, int trans) {
	return l->matmul_bf16(c, out, a, w, rows, k, n, trans);
}
static inline int tl_linear(tl_lib *l, tune_ctx *c, tune_ptr y, tune_dtype yt, tune_ptr x, tune_dtype xt,
		const tune_weight *w, tune_ptr bias, tune_dtype bt, int64_t rows, int64_t in, int64_t out) {
	return l->linear(c, y, yt, x, xt, w, bias, bt, rows, in, out);
}
static inline int tl_linear_backward(tl_lib *l, tune_ctx *c, tune_ptr dx, tune_dtype dxt, tune_ptr dy, tune_dtype dyt,
		const tune_weight *w, int64_t rows, int64_t in, int64_t out) {
	return l->linear_backward(c, dx, dxt, dy, dyt, w, rows, in, out);
}
static inline int tl_linear_weight_grad(tl_lib *l, tune_ctx *c, tune_ptr dw, tune_ptr dy, tune_dtype dyt, tune_ptr x,
		tune_dtype xt, int64_t rows, int64_t in, int64_t out) {
	return l->linear_weight_grad(c, dw, dy, dyt, x, xt, rows, in, out);
}
static inline int tl_cross_entropy(tl_lib *l, tune_ctx *c, tune_ptr loss, tune_ptr logits, tune_dtype lt,
		tune_ptr targets, int64_t rows, int64_t vocab, tune_ptr sum, float scale) {
	return l->cross_entropy(c, loss, logits, lt, targets, rows, vocab, sum, scale);
}
static inline int tl_cross_entropy_backward(tl_lib *l, tune_ctx *c, tune_ptr dl, tune_dtype dlt, tune_ptr logits,
		tune_dtype lt, tune_ptr targets, int64_t rows, int64_t vocab, float scale) {
	return l->cross_entropy_backward(c, dl, dlt, logits, lt, targets, rows, vocab, scale);
}
static inline int tl_sum_squares(tl_lib *l, tune_ctx *c, tune_ptr x, int64_t n, double *out) {
	return l->sum_squares(c, x, n, out);
}
static inline int tl_adamw(tl_lib *l, tune_ctx *c, tune_ptr p, tune_ptr g, tune_ptr m, tune_ptr v, int64_t n,
		const tune_adamw_step *s, double *norm) {
	return l->adamw(c, p, g, m, v, n, s, norm);
}
static inline int tl_rmsnorm(tl_lib *l, tune_ctx *c, tune_ptr out, tune_dtype ot, tune_ptr x, tune_dtype xt,
		tune_ptr w, tune_dtype wt, int64_t rows, int64_t dim, float eps) {
	return l->rmsnorm(c, out, ot, x, xt, w, wt, rows, dim, eps);
}
static inline int tl_rmsnorm_backward(tl_lib *l, tune_ctx *c, tune_ptr dx, tune_dtype dxt, tune_ptr dy, tune_dtype dyt,
		tune_ptr x, tune_dtype xt, tune_ptr w, tune_dtype wt, int64_t rows, int64_t dim, float eps) {
	return l->rmsnorm_backward(c, dx, dxt, dy, dyt, x, xt, w, wt, rows, dim, eps);
}
static inline int tl_add_rmsnorm(tl_lib *l, tune_ctx *c, tune_ptr sum, tune_dtype st, tune_ptr h, tune_dtype ht,
		tune_ptr a, tune_dtype at, tune_ptr b, tune_dtype bt, tune_ptr w, tune_dtype wt, int64_t rows, int64_t dim,
		float eps) {
	return l->add_rmsnorm(c, sum, st, h, ht, a, at, b, bt, w, wt, rows, dim, eps);
}
static inline int tl_rope(tl_lib *l, tune_ctx *c, tune_ptr x, tune_dtype xt, tune_ptr pos, tune_ptr inv, int64_t rows,
		int64_t heads, int64_t head_dim, int transpose) {
	return l->rope(c, x, xt, pos, inv, rows, heads, head_dim, transpose);
}
static inline int tl_embedding(tl_lib *l, tune_ctx *c, tune_ptr out, tune_dtype ot, tune_ptr table, tune_dtype tt,
		tune_ptr ids, int64_t rows, int64_t dim, int64_t vocab) {
	return l->embedding(c, out, ot, table, tt, ids, rows, dim, vocab);
}
static inline int tl_silu_mul(tl_lib *l, tune_ctx *c, tune_ptr out, tune_dtype ot, tune_ptr g, tune_dtype gt, tune_ptr u,
		tune_dtype ut, int64_t n) {
	return l->silu_mul(c, out, ot, g, gt, u, ut, n);
}
static inline int tl_silu_mul_backward(tl_lib *l, tune_ctx *c, tune_ptr dg, tune_dtype dgt, tune_ptr du, tune_dtype dut,
		tune_ptr dy, tune_dtype dyt, tune_ptr g, tune_dtype gt, tune_ptr u, tune_dtype ut, int64_t n) {
	return l->silu_mul_backward(c, dg, dgt, du, dut, dy, dyt, g, gt, u, ut, n);
}
static inline int tl_add(tl_lib *l, tune_ctx *c, tune_ptr out, tune_dtype ot, tune_ptr a, tune_dtype at, tune_ptr b,
		tune_dtype bt, int64_t n) {
	return l->add(c, out, ot, a, at, b, bt, n);
}
static inline int tl_add_scaled(tl_lib *l, tune_ctx *c, tune_ptr out, tune_dtype ot, tune_ptr x, tune_dtype xt, float s,
		int64_t n) {
	return l->add_scaled(c, out, ot, x, xt, s, n);
}
static inline int tl_dropout(tl_lib *l, tune_ctx *c, tune_ptr out, tune_dtype ot, tune_ptr x, tune_dtype xt, float p,
		uint64_t seed, int64_t n) {
	return l->dropout(c, out, ot, x, xt, p, seed, n);
}
static inline int tl_attention_forward(tl_lib *l, tune_ctx *c, tune_ptr out, tune_ptr lse, tune_ptr q, tune_ptr k,
		tune_ptr v, tune_ptr mask, tune_dtype t, const tune_attn_shape *s) {
	return l->attention_forward(c, out, lse, q, k, v, mask, t, s);
}
static inline int tl_attention_backward(tl_lib *l, tune_ctx *c, tune_ptr dq, tune_ptr dk, tune_ptr dv, tune_ptr dout,
		tune_ptr q, tune_ptr k, tune_ptr v, tune_ptr out, tune_ptr lse, tune_ptr mask, tune_dtype t,
		const tune_attn_shape *s) {
	return l->attention_backward(c, dq, dk, dv, dout, q, k, v, out, lse, mask, t, s);
}

#endif
