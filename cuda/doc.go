// Package cuda is tune's GPU backend: libtune_cuda, a CUDA library with a
// plain C ABI (tune_cuda.h), loaded at run time with dlopen, so that one
// bin/tune runs on the GPU where the library and a GPU are present and on
// the CPU elsewhere. The Go build needs no CUDA toolkit and no headers but
// tune_cuda.h; without cgo, Open reports that the backend needs it.
package cuda
