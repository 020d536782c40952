package train

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"hash/crc64"
	"math"
	"strings"

	"github.com/tune-dev/tune/eval"
	"github.com/tune-dev/tune/train/data"
)

// Data-parallel training: every rank holds the whole model, adapter and
// optimizer state, and the micro-batches of each optimizer step are dealt
// out over the ranks. The ranks all-reduce the step's target count before
// the forward passes (so each scales its gradients by the count of the
// whole accumulated batch, as one process would), then the gradient arena
// and the loss after the backward passes, and take the same optimizer step.
// With GradAccum micro-batches per rank and per step, a run on N ranks
// matches a run of one process with GradAccum×N, up to the order in which
// float32 gradients are summed.

// stepBatch is one micro-batch of an optimizer step and its index within
// the step (which seeds its dropout).
type stepBatch struct {
	k int
	b data.Batch
}

// stepPlan is what every rank agrees on before an optimizer step.
type stepPlan struct {
	mine        []stepBatch // this rank's micro-batches
	targets     int         // counted targets of the whole accumulated batch, over every rank
	tokens      int         // real tokens of the whole accumulated batch
	interrupted bool        // some rank was asked to stop
}

// accumulation is the number of micro-batches of one optimizer step over
// every rank.
func (t *trainer) accumulation() int { return t.cfg.GradAccum * t.comm.Size() }

// plan deals step s's micro-batches (epoch s/perEpoch, accumulation group
// s%perEpoch; 0-based) out over the ranks, micro-batch k of the step to
// rank k mod size, and all-reduces their target and token counts and
// whether any rank's ctx was cancelled, so every rank stops at the same
// step.
func (t *trainer) plan(s int, cancelled bool) (stepPlan, error) {
	epoch, j := s/t.perEpoch, s%t.perEpoch
	g, n := t.accumulation(), t.loader.BatchesPerEpoch()
	var p stepPlan
	local := []float64{0, 0, 0}
	for i := j * g; i < min((j+1)*g, n); i++ {
		k := i - j*g
		if k%t.comm.Size() != t.comm.Rank() {
			continue
		}
		mb := t.loader.Batch(epoch, i)
		p.mine = append(p.mine, stepBatch{k: k, b: mb})
		local[0] += float64(mb.Targets)
		local[1] += float64(mb.Tokens)
	}
	if cancelled {
		local[2] = 1
	}
	if err := t.comm.AllReduce64(local); err != nil {
		return p, err
	}
	p.targets, p.tokens, p.interrupted = int(local[0]), int(local[1]), local[2] > 0
	return p, nil
}

// lead reports whether this rank writes the run's files and messages:
// rank 0.
func (t *trainer) lead() bool { return t.comm.Rank() == 0 }

// checkReplicas stops the run when the ranks' adapters differ: each
// compares a CRC-64 of its parameter arena with rank 0's. It runs at the
// start, every ReplicaCheckSteps steps and before every checkpoint.
func (t *trainer) checkReplicas(step int) error {
	size := t.comm.Size()
	if size == 1 {
		return nil
	}
	params := make([]float32, t.tr.N)
	t.b.Download(params, t.tr.Params)
	h := crc64.New(crc64.MakeTable(crc64.ECMA))
	buf := make([]byte, 4*1024)
	for lo := 0; lo < len(params); lo += 1024 {
		part := params[lo:min(lo+1024, len(params))]
		for i, v := range part {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
		}
		h.Write(buf[:4*len(part)])
	}
	mine := h.Sum64()
	root := binary.LittleEndian.AppendUint64(nil, mine)
	if err := t.comm.Broadcast(root, 0); err != nil {
		return err
	}
	differ := make([]float64, size)
	if binary.LittleEndian.Uint64(root) != mine {
		differ[t.comm.Rank()] = 1
	}
	if err := t.comm.AllReduce64(differ); err != nil {
		return err
	}
	var ranks []string
	for r, d := range differ {
		if d > 0 {
			ranks = append(ranks, fmt.Sprint(r))
		}
	}
	if len(ranks) > 0 {
		return fmt.Errorf("train: step %d: the adapter of rank %s differs from rank 0's (CRC-64 of the parameters): the ranks no longer train the same model (different data or checkpoint files, or a rank that computes differently); stopped",
			step, strings.Join(ranks, ", "))
	}
	return nil
}

// answerTest answers the test set with answer, which answers a QA; over
// several ranks each answers every size-th batch of batch prompts (the
// batches one process would form, so the answers match its) and rank 0
// gathers them in order (gob keeps each answer's bytes as they are).
// Other ranks return nil.
func (t *trainer) answerTest(batch int, answer func(*QA) ([]eval.Example, error)) ([]eval.Example, error) {
	size, rank := t.comm.Size(), t.comm.Rank()
	if size == 1 {
		return answer(t.test)
	}
	q := *t.test
	q.Prompts, q.Refs, q.Lines = nil, nil, nil
	for lo, b := 0, 0; lo < len(t.test.Prompts); lo, b = lo+batch, b+1 {
		if b%size != rank {
			continue
		}
		hi := min(lo+batch, len(t.test.Prompts))
		q.Prompts = append(q.Prompts, t.test.Prompts[lo:hi]...)
		q.Refs = append(q.Refs, t.test.Refs[lo:hi]...)
		q.Lines = append(q.Lines, t.test.Lines[lo:hi]...)
	}
	mine, err := answer(&q)
	if err != nil {
		return nil, err
	}
	parts := make([][]eval.Example, size)
	for r := range size {
		var data []byte
		if r == rank {
			var w bytes.Buffer
			if err := gob.NewEncoder(&w).Encode(mine); err != nil {
				return nil, fmt.Errorf("train: test answers: %w", err)
			}
			data = w.Bytes()
		}
		n := binary.LittleEndian.AppendUint64(nil, uint64(len(data)))
		if err := t.comm.Broadcast(n, r); err != nil {
			return nil, err
		}
		if r != rank {
			data = make([]byte, binary.LittleEndian.Uint64(n))
		}
		if err := t.comm.Broadcast(data, r); err != nil {
			return nil, err
		}
		if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&parts[r]); err != nil {
			return nil, fmt.Errorf("train: test answers of rank %d: %w", r, err)
		}
	}
	if rank != 0 {
		return nil, nil
	}
	// Batch b went to rank b mod size: take them back in that order.
	out := make([]eval.Example, 0, len(t.test.Prompts))
	next := make([]int, size)
	for lo, b := 0, 0; lo < len(t.test.Prompts); lo, b = lo+batch, b+1 {
		r, k := b%size, min(batch, len(t.test.Prompts)-lo)
		out = append(out, parts[r][next[r]:next[r]+k]...)
		next[r] += k
	}
	return out, nil
}
