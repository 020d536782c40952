//go:build cgo

package cuda

/*
#include "tune_cuda.h"
typedef struct tl_lib tl_lib;
int tl_runtime_version(tl_lib *l, int *v);
int tl_create(tl_lib *l, int dev, tune_ctx **c);
int tl_destroy(tl_lib *l, tune_ctx *c);
int tl_device(tl_lib *l, tune_ctx *c, tune_device_info *i);
int tl_alloc(tl_lib *l, tune_ctx *c, uint64_t n, tune_ptr *p);
int tl_free(tl_lib *l, tune_ctx *c, tune_ptr p);
int tl_upload(tl_lib *l, tune_ctx *c, tune_ptr d, const void *s, uint64_t n);
int tl_download(tl_lib *l, tune_ctx *c, void *d, tune_ptr s, uint64_t n);
int tl_copy(tl_lib *l, tune_ctx *c, tune_ptr d, tune_ptr s, uint64_t n);
int tl_zero(tl_lib *l, tune_ctx *c, tune_ptr d, uint64_t n);
int tl_event_create(tl_lib *l, tune_ctx *c, tune_event **e);
int tl_event_destroy(tl_lib *l, tune_ctx *c, tune_event *e);
int tl_event_record(tl_lib *l, tune_ctx *c, tune_event *e);
int tl_event_elapsed(tl_lib *l, tune_ctx *c, tune_event *a, tune_event *b, float *ms);
*/
import "C"
