package train

import (
	"fmt"
	"math"
	"strings"
)

// Learning-rate schedules with the semantics of Hugging Face transformers'
// get_scheduler (src/transformers/optimization.py). There every schedule
// is a torch LambdaLR: the learning rate is base_lr * lambda(n), where n is
// the number of scheduler.step() calls made so far. The Trainer calls
// optimizer.step() and then scheduler.step(), so optimizer step k
// (k = 0, 1, ...) runs with base_lr * lambda(k): the very first update of
// a warmup schedule uses a learning rate of 0.
//
// The lambdas, with W = warmup steps and T = total training steps:
//
//	constant:             1
//	constant_with_warmup: k/max(1, W) if k < W, else 1
//	linear:               k/max(1, W) if k < W,
//	                      else max(0, (T-k)/max(1, T-W))
//	cosine:               k/max(1, W) if k < W,
//	                      else max(0, 0.5*(1 + cos(pi * 0.5 * 2 * p))),
//	                      p = (k-W)/max(1, T-W)  (num_cycles = 0.5)
//
// As in transformers, cosine is not clamped past T: with p > 1 the cosine
// rises again (0.5 at p = 1.5); a run never steps past T, so this only
// matters to callers probing LR(k) for k > T.

// Schedule kinds accepted by NewSchedule (transformers' SchedulerType
// values of the same names).
const (
	ScheduleLinear             = "linear"
	ScheduleCosine             = "cosine"
	ScheduleConstant           = "constant"
	ScheduleConstantWithWarmup = "constant_with_warmup"
)

// ScheduleKinds lists the kinds NewSchedule accepts.
var ScheduleKinds = []string{ScheduleLinear, ScheduleCosine, ScheduleConstant, ScheduleConstantWithWarmup}

// Schedule is a learning-rate schedule: LR(k) is the learning rate of
// optimizer step k (0-based). WarmupSteps is already resolved from a
// warmup ratio; it is 0 for "constant", which has no warmup (as
// transformers' get_constant_schedule ignores num_warmup_steps).
type Schedule struct {
	Kind        string
	BaseLR      float64
	WarmupSteps int
	TotalSteps  int
}

// DependsOnTotal reports whether the learning rate of a step depends on
// TotalSteps (linear and cosine decay over it), so that changing the total
// changes every step's learning rate.
func (s Schedule) DependsOnTotal() bool {
	return s.Kind == ScheduleLinear || s.Kind == ScheduleCosine
}

// NewSchedule builds a schedule. The warmup is warmupSteps when it is
// positive, else ceil(warmupRatio * totalSteps), as transformers'
// TrainingArguments.get_warmup_steps computes it (the product is a float64
// one, so 0.07*100 = 7.000000000000001 gives 8 steps there as here).
// totalSteps must be positive for "linear" and "cosine" (transformers
// requires num_training_steps for them), warmupSteps non-negative,
// warmupRatio in [0, 1] and baseLR finite and non-negative.
func NewSchedule(kind string, baseLR float64, warmupSteps int, warmupRatio float64, totalSteps int) (Schedule, error) {
	switch kind {
	case ScheduleLinear, ScheduleCosine, ScheduleConstant, ScheduleConstantWithWarmup:
	default:
		return Schedule{}, fmt.Errorf("unknown learning-rate schedule %q (want one of %s)", kind, strings.Join(ScheduleKinds, ", "))
	}
	if math.IsNaN(baseLR) || math.IsInf(baseLR, 0) || baseLR < 0 {
		return Schedule{}, fmt.Errorf("learning rate %v: want a finite, non-negative number", baseLR)
	}
	if warmupSteps < 0 {
		return Schedule{}, fmt.Errorf("warmup steps %d: want >= 0", warmupSteps)
	}
	if math.IsNaN(warmupRatio) || warmupRatio < 0 || warmupRatio > 1 {
		return Schedule{}, fmt.Errorf("warmup ratio %v: want a number in [0, 1]", warmupRatio)
	}
	if totalSteps < 0 {
		return Schedule{}, fmt.Errorf("total steps %d: want >= 0", totalSteps)
	}
	if totalSteps == 0 && (kind == ScheduleLinear || kind == ScheduleCosine) {
		return Schedule{}, fmt.Errorf("%s schedule needs the total number of training steps", kind)
	}
	warmup := warmupSteps
	if warmup <= 0 {
		warmup = int(math.Ceil(float64(totalSteps) * warmupRatio))
	}
	if kind == ScheduleConstant {
		warmup = 0
	}
	return Schedule{Kind: kind, BaseLR: baseLR, WarmupSteps: warmup, TotalSteps: totalSteps}, nil
}

// LR returns the learning rate of optimizer step step (0-based): BaseLR
// times the schedule's lambda at step. A negative step is treated as 0.
func (s Schedule) LR(step int) float64 {
	return s.BaseLR * s.Factor(step)
}

// Factor returns the schedule's multiplier (transformers' lr_lambda) at
// step.
func (s Schedule) Factor(step int) float64 {
	if step < 0 {
		step = 0
	}
	k, w, t := float64(step), float64(s.WarmupSteps), float64(s.TotalSteps)
	switch s.Kind {
	case ScheduleConstant:
		return 1
	case ScheduleConstantWithWarmup:
		if step < s.WarmupSteps {
			return k / math.Max(1, w)
		}
		return 1
	case ScheduleLinear:
		if step < s.WarmupSteps {
			return k / math.Max(1, w)
		}
		return math.Max(0, (t-k)/math.Max(1, t-w))
	case ScheduleCosine:
		if step < s.WarmupSteps {
			return k / math.Max(1, w)
		}
		const numCycles = 0.5
		progress := (k - w) / math.Max(1, t-w)
		return math.Max(0, 0.5*(1+math.Cos(math.Pi*numCycles*2*progress)))
	}
	// Only reachable for a Schedule built by hand with a bad Kind.
	return 1
}
