package dist

import (
	"fmt"
	"strconv"
	"strings"
)

// Launch is what the environment says about the process's place in a
// multi-process run, before any library is loaded.
type Launch struct {
	// Rank and Size are the process's rank and the number of processes;
	// Size is 0 when the launcher says only that the run is a parallel one
	// (PMIx), and MPI then tells.
	Rank, Size int
	// LocalRank is the rank among the processes on this machine: the GPU
	// the process uses.
	LocalRank int
	// From names the variables that said so ("" for a single process).
	From string
}

// Parallel reports whether the launch asks for more than one process, or
// may (a PMIx launch whose size only MPI knows).
func (l Launch) Parallel() bool { return l.Size > 1 || (l.Size == 0 && l.From != "") }

// launchVars are the environment variables of each launcher tune
// recognizes, in order of precedence: Open MPI's mpirun, an MPICH-style PMI
// launch (srun --mpi=pmi2, hydra), torchrun and the like (RANK, WORLD_SIZE,
// LOCAL_RANK), and PMIx (srun --mpi=pmix, prterun), which sets only the
// rank.
var launchVars = []struct{ rank, size, local string }{
	{"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"},
	{"PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"},
	{"RANK", "WORLD_SIZE", "LOCAL_RANK"},
	{"PMIX_RANK", "", "SLURM_LOCALID"},
}

// LaunchFromEnv reads the launch from the environment (getenv is
// os.Getenv). No launcher variable set, or a size of 1, is a single
// process. A variable that is not a number, or a rank outside the size, is
// an error naming it.
func LaunchFromEnv(getenv func(string) string) (Launch, error) {
	for _, v := range launchVars {
		rs := getenv(v.rank)
		if rs == "" {
			continue
		}
		l := Launch{From: v.rank}
		var err error
		if l.Rank, err = envInt(v.rank, rs); err != nil {
			return Launch{}, err
		}
		if v.size != "" {
			l.From += ", " + v.size
			ss := getenv(v.size)
			if ss == "" {
				return Launch{}, fmt.Errorf("dist: %s=%s is set but %s is not: set both or neither", v.rank, rs, v.size)
			}
			if l.Size, err = envInt(v.size, ss); err != nil {
				return Launch{}, err
			}
			if l.Size < 1 || l.Rank >= l.Size {
				return Launch{}, fmt.Errorf("dist: %s=%d is not a rank of %s=%d", v.rank, l.Rank, v.size, l.Size)
			}
		}
		l.LocalRank = l.Rank // without the launcher's word, guess one machine
		if ls := getenv(v.local); ls != "" {
			if l.LocalRank, err = envInt(v.local, ls); err != nil {
				return Launch{}, err
			}
		}
		if l.Size == 1 {
			return Launch{}, nil
		}
		return l, nil
	}
	return Launch{}, nil
}

func envInt(name, s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("dist: %s=%q is not a non-negative integer", name, s)
	}
	return n, nil
}

// VisibleDevice returns the CUDA_VISIBLE_DEVICES value that gives a
// process of local rank local its own GPU: entry local of the list the
// launcher set (visible, "" for every GPU), or local itself. It is an
// error when the list is shorter than the local ranks.
func VisibleDevice(visible string, local int) (string, error) {
	if strings.TrimSpace(visible) == "" {
		return strconv.Itoa(local), nil
	}
	ids := strings.Split(visible, ",")
	if local >= len(ids) {
		return "", fmt.Errorf("dist: local rank %d has no GPU of its own: CUDA_VISIBLE_DEVICES=%s lists %d (one GPU per local rank)", local, visible, len(ids))
	}
	return strings.TrimSpace(ids[local]), nil
}
