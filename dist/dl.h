// dl.h: the dlopen both of package dist's shims use (mpi_shim.h, nccl_shim.h).
#ifndef TUNE_DIST_DL_H
#define TUNE_DIST_DL_H

#include <dlfcn.h>
#include <stdio.h>

// dist_dlopen dlopens path with flags, or returns NULL with dlerror's
// message in err (dlerror is per thread, so both happen in this one call).
static inline void *dist_dlopen(const char *path, int flags, char *err, size_t n) {
	void *h = dlopen(path, flags);
	if (h == NULL) {
		const char *e = dlerror();
		snprintf(err, n, "%s", e ? e : "unknown dlopen error");
	}
	return h;
}

#endif
