// mpi_shim.h: package dist's C side for MPI: the table of Open MPI's entry
// points and predefined handles, found with dlsym in libmpi.so.40, and
// trampolines that call through it (cgo cannot call a function pointer).
// It needs no MPI header: the declarations below are Open MPI's ABI, in
// which every handle (MPI_Comm, MPI_Datatype, MPI_Op, MPI_Errhandler) is a
// pointer, the predefined ones are the addresses of globals such as
// ompi_mpi_comm_world, and MPI_IN_PLACE is (void *)1. MPICH's ABI (integer
// handles) differs and is not supported.
#ifndef TUNE_MPI_SHIM_H
#define TUNE_MPI_SHIM_H

#include <stdio.h>
#include <stdlib.h>

#include "dl.h"

typedef void *dm_handle;

#define DM_IN_PLACE ((void *)1)
#define DM_THREAD_FUNNELED 1
#define DM_MAX_STRING 256 /* MPI_MAX_ERROR_STRING, MPI_MAX_LIBRARY_VERSION_STRING */

// The functions, each as (name, return, parameters).
#define DM_FUNCS(X) \
	X(Init_thread, int, (int *, char ***, int, int *)) \
	X(Initialized, int, (int *)) \
	X(Finalize, int, (void)) \
	X(Abort, int, (dm_handle, int)) \
	X(Comm_rank, int, (dm_handle, int *)) \
	X(Comm_size, int, (dm_handle, int *)) \
	X(Comm_set_errhandler, int, (dm_handle, dm_handle)) \
	X(Allreduce, int, (const void *, void *, int, dm_handle, dm_handle, dm_handle)) \
	X(Bcast, int, (void *, int, dm_handle, int, dm_handle)) \
	X(Barrier, int, (dm_handle)) \
	X(Error_string, int, (int, char *, int *)) \
	X(Get_library_version, int, (char *, int *))

// The predefined handles: (field, Open MPI global).
#define DM_HANDLES(X) \
	X(comm_world, ompi_mpi_comm_world) \
	X(float32, ompi_mpi_float) \
	X(float64, ompi_mpi_double) \
	X(byte, ompi_mpi_byte) \
	X(sum, ompi_mpi_op_sum) \
	X(errors_return, ompi_mpi_errors_return)

typedef struct dm_lib {
#define DM_FIELD(name, ret, params) ret(*name) params;
	DM_FUNCS(DM_FIELD)
#undef DM_FIELD
#define DM_HFIELD(field, sym) dm_handle field;
	DM_HANDLES(DM_HFIELD)
#undef DM_HFIELD
} dm_lib;

// dm_open dlopens path. RTLD_GLOBAL: Open MPI's plugins, which it
// dlopens in MPI_Init, resolve their symbols in libmpi.
static inline void *dm_open(const char *path, char *err, size_t n) {
	return dist_dlopen(path, RTLD_NOW | RTLD_GLOBAL, err, n);
}

// dm_bind fills l from h and returns NULL, or the first missing symbol.
static inline const char *dm_bind(void *h, dm_lib *l) {
#define DM_BIND(name, ret, params) \
	l->name = (ret(*) params)dlsym(h, "MPI_" #name); \
	if (l->name == NULL) return "MPI_" #name;
	DM_FUNCS(DM_BIND)
#undef DM_BIND
#define DM_HBIND(field, sym) \
	l->field = dlsym(h, #sym); \
	if (l->field == NULL) return #sym;
	DM_HANDLES(DM_HBIND)
#undef DM_HBIND
	return NULL;
}

// Trampolines.
static inline int dm_init(dm_lib *l, int *provided) {
	int done = 0;
	l->Initialized(&done);
	if (done) return -1;
	int rc = l->Init_thread(NULL, NULL, DM_THREAD_FUNNELED, provided);
	if (rc == 0) l->Comm_set_errhandler(l->comm_world, l->errors_return);
	return rc;
}
static inline int dm_rank(dm_lib *l, int *r) { return l->Comm_rank(l->comm_world, r); }
static inline int dm_size(dm_lib *l, int *s) { return l->Comm_size(l->comm_world, s); }
static inline int dm_allreduce_f32(dm_lib *l, float *buf, int n) {
	return l->Allreduce(DM_IN_PLACE, buf, n, l->float32, l->sum, l->comm_world);
}
static inline int dm_allreduce_f64(dm_lib *l, double *buf, int n) {
	return l->Allreduce(DM_IN_PLACE, buf, n, l->float64, l->sum, l->comm_world);
}
static inline int dm_bcast(dm_lib *l, void *buf, int n, int root) { return l->Bcast(buf, n, l->byte, root, l->comm_world); }
static inline int dm_barrier(dm_lib *l) { return l->Barrier(l->comm_world); }
static inline int dm_abort(dm_lib *l, int code) { return l->Abort(l->comm_world, code); }
static inline int dm_finalize(dm_lib *l) { return l->Finalize(); }
static inline void dm_error_string(dm_lib *l, int rc, char *out) {
	int n = 0;
	if (l->Error_string(rc, out, &n) != 0) snprintf(out, DM_MAX_STRING, "MPI error %d", rc);
}
static inline void dm_version(dm_lib *l, char *out) {
	int n = 0;
	if (l->Get_library_version(out, &n) != 0) snprintf(out, DM_MAX_STRING, "unknown version");
}

#endif
