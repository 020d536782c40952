package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/cli"
	"github.com/tune-dev/tune/internal/testmodel"
	"github.com/tune-dev/tune/safetensors"
	"github.com/tune-dev/tune/train/runlog"
)

// The multi-process tests start this test binary as tune under mpirun:
// with asTune set, TestMain runs the command line in os.Args instead of
// the tests.
const asTune = "TUNE_TEST_RUN_AS_TUNE"

func TestMain(m *testing.M) {
	if os.Getenv(asTune) == "1" {
		if err := cli.Run(append([]string{"tune"}, os.Args[1:]...), assets, os.Stdin, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "tune:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if sharedDemo.root != "" {
		os.RemoveAll(sharedDemo.root)
	}
	os.Exit(code)
}

// The compared runs take parallelSteps optimizer steps at a learning rate
// of at most parallelLR, with parallelAccum micro-batches per step over
// every rank.
const (
	parallelSteps = 4
	parallelLR    = 1e-2
	parallelAccum = 6
)

// Tolerances of a data-parallel run against one process with the same
// total gradient accumulation G = parallelAccum. Both sum the same G
// micro-batch gradients in float32, in another order: one process adds
// them one after the other into the arena, each rank adds its share and
// MPI adds the ranks' sums. Each element of either sum is within
// (G-1)·u·Σ|g_k| of the exact sum (u = 2^-24, the float32 unit roundoff;
// Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., §4.2),
// so the two differ by at most ε = 2(G-1)·u = 6e-7 relative to Σ|g_k|.
// The loss sums and the token counts are float64 (the counts exact), and
// the first step's forward passes see the same adapter.
//
//   - Losses and gradient norms: the norm moves by ε at most; a later
//     loss moves by the gradient times the adapter's shift below, about
//     ε relative. lossRelTol is 10ε, rounded.
//   - The adapter: AdamW divides the first moment by the root of the
//     second, so a gradient that moves by a relative ε moves an element's
//     update lr·m̂/(√v̂+eps) by about lr·ε; over S steps about S·lr·ε =
//     2.4e-8, with the same again from later gradients seeing the shifted
//     adapter. adapterRMSTol, on the root mean square of the differences,
//     is 10 times S·lr·ε. One element can move further: where its
//     micro-batch gradients nearly cancel, Σ|g_k| is far larger than the
//     sum, and the relative change of the sum (so of the update) is
//     larger by that ratio. AdamW still moves an element by at most about
//     lr a step, so any element stays within adapterMaxTol, 1e-3 of the
//     S·lr the run can move it. A micro-batch lost or counted twice
//     changes most elements' updates by about lr, far beyond both bounds;
//     a wrong normalization scales every gradient, which AdamW hardly
//     sees, but the losses and gradient norms do.
//
// Measured (2 and 3 ranks, resumed either way): losses and norms within
// 1.8e-7 relative, adapter RMS at most 7e-9, the largest element
// difference 4.5e-7. With 24 training records instead of 14, one element
// whose sum cancels moved by 2.7e-6 (the rest within 3e-8): the case
// adapterMaxTol is for.
const (
	lossRelTol    = 1e-5                                   // per-step train loss, grad norm and eval loss, relative
	adapterRMSTol = 10 * parallelSteps * parallelLR * 6e-7 // root mean square of the adapter's differences
	adapterMaxTol = 1e-3 * parallelSteps * parallelLR      // any one parameter of the final adapter, absolute
)

// multiProcess starts a multi-process test: it runs in parallel with the
// others (mostly waiting: MPI's start, a timeout, so they overlap well),
// or skips where Open MPI is missing (CI installs it).
func multiProcess(t *testing.T) {
	t.Helper()
	skipSlow(t)
	if _, err := exec.LookPath("mpirun"); err != nil {
		t.Skip("mpirun not found: the multi-process tests need Open MPI (Debian: apt-get install openmpi-bin; CI installs it)")
	}
	t.Parallel()
}

// launch returns a command that runs tune args on n ranks under mpirun
// (one process, without mpirun, when n is 0). Each rank uses one thread.
func launch(t *testing.T, ctx context.Context, n int, args ...string) *exec.Cmd {
	exe, err := os.Executable()
	require.NoError(t, err)
	tune := append([]string{exe, "--threads", "1"}, args...)
	var cmd *exec.Cmd
	if n == 0 {
		cmd = exec.CommandContext(ctx, tune[0], tune[1:]...)
	} else {
		// --oversubscribe: more ranks than this machine's cores;
		// --allow-run-as-root: CI runs as root.
		mpi := append([]string{"--oversubscribe", "--allow-run-as-root", "-np", strconv.Itoa(n)}, tune...)
		cmd = exec.CommandContext(ctx, "mpirun", mpi...)
	}
	cmd.Env = append(os.Environ(), asTune+"=1")
	return cmd
}

// runRanks runs tune args on n ranks (0: one process without mpirun) and
// returns its combined output; it fails the test on an error unless fail
// is set.
func runRanks(t *testing.T, n int, fail bool, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard, not a timing
	defer cancel()
	out, err := launch(t, ctx, n, args...).CombinedOutput()
	if !fail {
		require.NoError(t, err, "%d ranks: %s", n, out)
	} else {
		require.Error(t, err, "%d ranks should fail: %s", n, out)
	}
	return string(out)
}

// parallelData writes a tiny model with its byte-level tokenizer and chat
// records of varied lengths (so batches are padded): 14 to train on, 6 to
// validate on and 5 to answer after training.
func parallelData(t *testing.T) (model, data string) {
	dir := t.TempDir()
	model, data = filepath.Join(dir, "model"), filepath.Join(dir, "data")
	require.NoError(t, testmodel.Write(model, 3))
	require.NoError(t, os.MkdirAll(data, 0o755))
	write := func(name string, n, from int) {
		var sb strings.Builder
		for i := from; i < from+n; i++ {
			line, _ := json.Marshal(map[string]string{"instruction": "Name the clause.",
				"input": fmt.Sprintf("Section %d%s", i, strings.Repeat(" and more", i%4)), "output": fmt.Sprintf("Clause %d.", i*7%10)})
			sb.Write(append(line, '\n'))
		}
		require.NoError(t, os.WriteFile(filepath.Join(data, name), []byte(sb.String()), 0o644))
	}
	write("train.jsonl", 14, 0)
	write("validation.jsonl", 6, 30)
	write("test.jsonl", 5, 40)
	return model, data
}

// trainArgs are the flags of the runs compared: 14 records in
// micro-batches of 2 make 7 micro-batches an epoch; with 6 per optimizer
// step, 2 steps an epoch (the second of one micro-batch, so that some
// ranks have none) and 4 in all, with dropout, clipping, an evaluation
// every 2 steps, a checkpoint every step and the end-of-training report.
func trainArgs(model, data, out string, accum int) []string {
	lr := strconv.FormatFloat(parallelLR, 'g', -1, 64)
	return []string{"train", "--base_model", model, "--data_path", data, "--output_dir", out,
		"--lora_r", "4", "--lora_alpha", "8", "--lora_dropout", "0.1", "--batch_size", "2", "--gradient_accumulation_steps", strconv.Itoa(accum),
		"--num_epochs", "2", "--learning_rate", lr, "--warmup_steps", "1", "--max_grad_norm", "0.5", "--weight_decay", "0.01",
		"--logging_steps", "1", "--eval_steps", "2", "--save_steps", "1", "--save_total_limit", "0", "--replica_check_steps", "1",
		"--eval_max_new_tokens", "4", "--ddp_timeout", "60"}
}

// logged returns the training log's numbers by step: loss, grad_norm and
// (at evaluation steps) eval_loss.
func logged(t *testing.T, out string) map[int]map[string]float64 {
	entries, err := runlog.ReadLog(filepath.Join(out, "training_log.jsonl"))
	require.NoError(t, err)
	got := map[int]map[string]float64{}
	for _, e := range entries {
		step, ok := runlog.EntryInt(e, "step")
		require.True(t, ok)
		if got[step] == nil {
			got[step] = map[string]float64{}
		}
		for _, k := range []string{"loss", "grad_norm", "eval_loss"} {
			if v, ok := runlog.EntryFloat(e, k); ok {
				got[step][k] = v
			}
		}
	}
	return got
}

// adapterTensors reads an adapter's tensors.
func adapterTensors(t *testing.T, dir string) map[string][]float32 {
	f, err := safetensors.Open(filepath.Join(dir, "adapter_model.safetensors"))
	require.NoError(t, err)
	defer f.Close()
	out := map[string][]float32{}
	for _, n := range f.Names() {
		tn, _ := f.Tensor(n)
		v, err := tn.Float32s()
		require.NoError(t, err)
		out[n] = v
	}
	return out
}

// sameRun requires run got to match run want from step from on: the
// logged numbers within lossRelTol, the adapter within adapterAbsTol and
// the test answers exactly.
func sameRun(t *testing.T, what, want, got string, from int) {
	t.Helper()
	lw, lg := logged(t, want), logged(t, got)
	steps, worstLoss := 0, 0.0
	for step, w := range lw {
		if step < from {
			continue
		}
		steps++
		for k, v := range w {
			g, ok := lg[step][k]
			require.True(t, ok, "%s: step %d has no %s", what, step, k)
			rel := math.Abs(g-v) / math.Abs(v)
			worstLoss = max(worstLoss, rel)
			require.False(t, !(rel <= lossRelTol), "%s: step %d %s = %.10g, one process %.10g (relative difference %.2g > %g)", what, step, k, g, v, rel, lossRelTol)
		}
	}
	require.Greater(t, steps, 0, "%s: no step compared", what)
	aw, ag := adapterTensors(t, want), adapterTensors(t, got)
	require.Equal(t, len(aw), len(ag), what)
	var sq, worst float64
	n := 0
	for name, w := range aw {
		g := ag[name]
		require.Len(t, g, len(w), "%s: %s", what, name)
		for i := range w {
			d := math.Abs(float64(g[i]) - float64(w[i]))
			require.False(t, !(d <= adapterMaxTol), "%s: %s[%d] = %g, one process %g", what, name, i, g[i], w[i])
			sq += d * d
			worst = max(worst, d)
			n++
		}
	}
	rms := math.Sqrt(sq / float64(n))
	require.False(t, !(rms <= adapterRMSTol), "%s: the adapters differ by %.3g (root mean square) > %.3g", what, rms, adapterRMSTol)
	t.Logf("%s: losses within %.2g relative; adapter RMS difference %.3g, largest %.3g", what, worstLoss, rms, worst)
	pw, err := os.ReadFile(filepath.Join(want, "test_predictions.jsonl"))
	require.NoError(t, err)
	pg, err := os.ReadFile(filepath.Join(got, "test_predictions.jsonl"))
	require.NoError(t, err)
	require.Equal(t, string(pw), string(pg), "%s: test answers", what)
}

// TestDataParallel trains on 2 and 3 ranks under mpirun and requires the
// same run as one process with the same total gradient accumulation (6),
// then resumes a 2-rank checkpoint on one process and a one-process
// checkpoint on 2 ranks, each matching the uninterrupted run.
func TestDataParallel(t *testing.T) {
	multiProcess(t)
	model, data := parallelData(t)
	dir := t.TempDir()
	one := filepath.Join(dir, "one")
	runRanks(t, 0, false, trainArgs(model, data, one, 6)...)
	require.FileExists(t, filepath.Join(one, "evaluation_report.json"))

	two := filepath.Join(dir, "two")
	stdout := runRanks(t, 2, false, trainArgs(model, data, two, 3)...)
	require.Contains(t, stdout, "accumulation 3 on each of 2 ranks (gradients summed by MPI (Open MPI")
	require.Equal(t, 1, strings.Count(stdout, "trained 4 steps"), "rank 0 alone reports: %s", stdout)
	sameRun(t, "2 ranks", one, two, 1)
	three := filepath.Join(dir, "three")
	runRanks(t, 3, false, trainArgs(model, data, three, 2)...)
	sameRun(t, "3 ranks", one, three, 1)

	// A 2-rank checkpoint resumed by one process, and the reverse.
	r21 := filepath.Join(dir, "r21")
	runRanks(t, 0, false, append(trainArgs(model, data, r21, 6), "--resume_from_checkpoint", filepath.Join(two, "checkpoint-1"))...)
	sameRun(t, "2 ranks resumed on 1", one, r21, 2)
	r12 := filepath.Join(dir, "r12")
	runRanks(t, 2, false, append(trainArgs(model, data, r12, 3), "--resume_from_checkpoint", filepath.Join(one, "checkpoint-1"))...)
	sameRun(t, "1 process resumed on 2 ranks", one, r12, 2)

	// Another total accumulation would see other data at each step.
	out := runRanks(t, 2, true, append(trainArgs(model, data, filepath.Join(dir, "bad"), 6), "--resume_from_checkpoint", filepath.Join(one, "checkpoint-1"))...)
	require.Contains(t, out, "12 micro-batches per optimizer step (--gradient_accumulation_steps 6 on 2 ranks; recorded 6: every later step would take other data; use --gradient_accumulation_steps 3 on 2 ranks)")
}

// startLongRun starts a 2-rank run of many steps, waits until rank 0 has
// logged two of them and returns it with rank 1's process and the run's
// output so far.
func startLongRun(t *testing.T, extra ...string) (cmd *exec.Cmd, rank1 int, out *bytes.Buffer) {
	if _, err := os.Stat("/proc/self/environ"); err != nil {
		t.Skip("finding rank 1's process needs Linux's /proc")
	}
	model, data := parallelData(t)
	dir := t.TempDir()
	args := append([]string{"train", "--base_model", model, "--data_path", data, "--output_dir", dir, "--lora_r", "2",
		"--batch_size", "1", "--gradient_accumulation_steps", "1", "--max_steps", "100000", "--warmup_steps", "0",
		"--logging_steps", "1", "--save_steps", "0", "--skip_test_eval"}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard, not a timing
	t.Cleanup(cancel)
	cmd = launch(t, ctx, 2, args...)
	out = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	for ctx.Err() == nil {
		if entries, err := runlog.ReadLog(filepath.Join(dir, "training_log.jsonl")); err == nil && len(entries) >= 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	rank1 = rankProcess(t, cmd.Process.Pid, 1)
	t.Cleanup(func() { syscall.Kill(rank1, syscall.SIGKILL) })
	return cmd, rank1, out
}

// rankProcess returns the process id of rank r, a child of mpirun.
func rankProcess(t *testing.T, mpirun, r int) int {
	procs, err := os.ReadDir("/proc")
	require.NoError(t, err)
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", p.Name(), "status"))
		if err != nil || !strings.Contains(string(status), fmt.Sprintf("\nPPid:\t%d\n", mpirun)) {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", p.Name(), "environ"))
		if err == nil && bytes.Contains(env, []byte(fmt.Sprintf("\x00OMPI_COMM_WORLD_RANK=%d\x00", r))) {
			return pid
		}
	}
	t.Fatalf("no process of rank %d under mpirun %d", r, mpirun)
	return 0
}

// TestDataParallelRankKilled kills rank 1 in the middle of a run: mpirun
// notices and stops rank 0 (which waits for rank 1 in a collective) with
// a message naming the rank, instead of hanging.
func TestDataParallelRankKilled(t *testing.T) {
	multiProcess(t)
	cmd, rank1, out := startLongRun(t)
	require.NoError(t, syscall.Kill(rank1, syscall.SIGKILL))
	err := cmd.Wait()
	require.Error(t, err, "%s", out)
	require.Contains(t, out.String(), "process rank 1 with PID 0 on node")
	require.Contains(t, out.String(), "exited on signal 9 (Killed)")
}

// TestDataParallelRankStuck stops rank 1 (SIGSTOP): it neither dies nor
// answers, so rank 0's next collective times out after --ddp_timeout,
// rank 0 says so and exits, and mpirun ends the run.
func TestDataParallelRankStuck(t *testing.T) {
	multiProcess(t)
	cmd, rank1, out := startLongRun(t, "--ddp_timeout", "2")
	require.NoError(t, syscall.Kill(rank1, syscall.SIGSTOP))
	err := cmd.Wait()
	require.Error(t, err, "%s", out)
	require.Regexp(t, `tune: rank 0 of 2: train: step \d+: dist: rank 0 of 2: all-reduce of \d+ float(32|64)s: collective timed out: no answer from the other ranks within 2s`, out.String())
}

// TestLaunchWithoutMPI: a process that launcher variables call a rank of
// several, but that MPI does not connect to others (torchrun sets only
// the variables), or where Open MPI is missing, stops before training
// with a message that says how to launch it.
func TestLaunchWithoutMPI(t *testing.T) {
	multiProcess(t)
	model, data := parallelData(t)
	for _, c := range []struct{ env, want string }{
		{"TUNE_MPI_LIB=", "dist: RANK, WORLD_SIZE say rank 0 of 2 but MPI says rank 0 of 1: tune's ranks talk over MPI, so launch them with mpirun -np N"},
		{"TUNE_MPI_LIB=" + filepath.Join(t.TempDir(), "absent.so"), "dist: Open MPI not found:"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard
		cmd := launch(t, ctx, 0, trainArgs(model, data, filepath.Join(t.TempDir(), "out"), 1)...)
		cmd.Env = append(cmd.Env, "RANK=0", "WORLD_SIZE=2", c.env)
		out, err := cmd.CombinedOutput()
		cancel()
		require.Error(t, err, "%s", out)
		require.Contains(t, string(out), c.want)
	}
}

// TestDataParallelInterrupted: Ctrl-C to mpirun reaches every rank; they
// stop at the same step, rank 0 saves its checkpoint and alone says so.
func TestDataParallelInterrupted(t *testing.T) {
	multiProcess(t)
	cmd, _, out := startLongRun(t)
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	require.Error(t, cmd.Wait(), "%s", out)
	m := regexp.MustCompile(`tune: rank 0 of 2: train: training interrupted at step (\d+); checkpoint saved in (\S+)\n`).FindStringSubmatch(out.String())
	require.NotNil(t, m, "%s", out)
	require.True(t, strings.HasSuffix(m[2], "checkpoint-"+m[1]))
	require.FileExists(t, filepath.Join(m[2], "trainer_state.json"))
	require.NotContains(t, out.String(), "rank 1 of 2", "rank 0 speaks for the run")
}
