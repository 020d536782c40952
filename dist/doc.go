// Package dist runs one training over several processes (ranks): Comm is
// the communicator (rank, size, float32 and float64 all-reduce, broadcast,
// barrier), with Single for a run of one process, whose collectives do
// nothing, and an MPI implementation for several.
//
// MPI is Open MPI's libmpi.so.40, loaded with dlopen when a launcher
// (mpirun, srun --mpi=pmix; see LaunchFromEnv) starts the process, and
// called through a small C shim (mpi_shim.h) that declares Open MPI's ABI
// itself: tune builds without MPI headers and runs without MPI until a run
// asks for it. Every MPI call runs on one OS thread and its caller waits
// with a timeout, since MPI's collectives have none: a dead or stuck rank
// turns into an error that names the call, not a hang.
//
// NCCL (libnccl.so.2, also loaded at run time, its unique id broadcast
// over MPI) all-reduces device buffers of the CUDA backend; Reducer sums a
// backend buffer over the ranks in buckets, through NCCL for CUDA buffers
// and through MPI for host ones.
package dist
