package runlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"

	"github.com/tune-dev/tune/internal/atomicfile"
	"github.com/tune-dev/tune/internal/pyjson"
)

// TrainerState mirrors Hugging Face transformers' TrainerState dataclass
// (trainer_callback.py), saved as trainer_state.json in every checkpoint.
// Save writes what TrainerState.save_to_json writes, byte for byte:
// json.dumps(dataclasses.asdict(state), indent=2, sort_keys=True) + "\n",
// with Python's number formatting (floats always with a "." or exponent,
// NaN and Infinity as bare words) and ASCII-only strings.
//
// The JSON keys are those of transformers' dataclass: best_global_step,
// best_metric, best_model_checkpoint, epoch, eval_steps, global_step,
// is_hyper_param_search, is_local_process_zero, is_world_process_zero,
// log_history, logging_steps, max_steps, num_input_tokens_seen,
// num_train_epochs, save_steps, stateful_callbacks, total_flos,
// train_batch_size, trial_name, trial_params. This trainer is one process
// and does no hyper-parameter search, so is_local_process_zero and
// is_world_process_zero are always written true and
// is_hyper_param_search false (they are not fields here).
//
// Log history entries keep transformers' keys: a training log is
// {"epoch", "grad_norm", "learning_rate", "loss", "step"} (see
// TrainLogEntry), an evaluation {"epoch", "eval_loss", "eval_runtime",
// "eval_samples_per_second", "eval_steps_per_second", "step"} (see
// EvalLogEntry). Loaded entries hold numbers as json.Number (so an
// integer stays an integer when saved again) and NaN/±Infinity as
// float64; read them with EntryFloat and EntryInt.
type TrainerState struct {
	// BestGlobalStep is the step of BestMetric (null while unset).
	BestGlobalStep *int
	// BestMetric is the best evaluation metric so far (null while unset).
	BestMetric *float64
	// BestModelCheckpoint is the checkpoint directory of BestMetric.
	BestModelCheckpoint *string
	// Epoch is the fractional epoch reached (1.5 = half way through the
	// second epoch).
	Epoch float64
	// EvalSteps, LoggingSteps and SaveSteps are the intervals, in
	// optimizer steps, of evaluation, logging and checkpointing.
	EvalSteps    int
	LoggingSteps int
	SaveSteps    int
	// GlobalStep is the number of optimizer steps completed.
	GlobalStep int
	// MaxSteps is the number of optimizer steps of the whole run.
	MaxSteps int
	// LogHistory is every log entry so far, oldest first.
	LogHistory []map[string]any
	// NumInputTokensSeen counts the input tokens trained on.
	NumInputTokensSeen int64
	// NumTrainEpochs is the number of epochs of the whole run.
	NumTrainEpochs int
	// StatefulCallbacks is transformers' per-callback saved state
	// ({"TrainerControl": {"args": {...}, "attributes": {}}}); written as
	// {} when nil.
	StatefulCallbacks map[string]any
	// TotalFlos is the floating-point operations done so far.
	TotalFlos float64
	// TrainBatchSize is the per-device batch size.
	TrainBatchSize int
	// TrialName and TrialParams describe a hyper-parameter search trial;
	// nil (null) for ordinary runs.
	TrialName   *string
	TrialParams map[string]any
	// Extra keeps keys this version does not know (from a newer
	// transformers, say) so that loading and saving preserves them.
	Extra map[string]any
}

// NewTrainerState returns a state with transformers' defaults: logging,
// evaluation and save intervals of 500 steps, empty history.
func NewTrainerState() *TrainerState {
	return &TrainerState{EvalSteps: 500, LoggingSteps: 500, SaveSteps: 500, LogHistory: []map[string]any{}}
}

// TrainLogEntry returns a training log entry with transformers' keys.
func TrainLogEntry(epoch float64, step int, loss, gradNorm, learningRate float64) map[string]any {
	return map[string]any{
		"epoch":         epoch,
		"grad_norm":     gradNorm,
		"learning_rate": learningRate,
		"loss":          loss,
		"step":          step,
	}
}

// EvalLogEntry returns an evaluation log entry with transformers' keys;
// runtime is in seconds, and the rates are derived from it as
// transformers' speed_metrics does (omitted when runtime is not positive).
func EvalLogEntry(epoch float64, step int, evalLoss, runtime float64, samples, steps int) map[string]any {
	e := map[string]any{
		"epoch":        epoch,
		"eval_loss":    evalLoss,
		"eval_runtime": runtime,
		"step":         step,
	}
	if runtime > 0 {
		e["eval_samples_per_second"] = float64(samples) / runtime
		e["eval_steps_per_second"] = float64(steps) / runtime
	}
	return e
}

// Log appends entry to the log history.
func (s *TrainerState) Log(entry map[string]any) {
	s.LogHistory = append(s.LogHistory, entry)
}

// UpdateBest records metric as the best one if it improves on BestMetric
// (greater when greaterIsBetter, else smaller; NaN never improves), with
// its step and checkpoint (pass "" to leave BestModelCheckpoint as is).
// It reports whether metric became the best.
func (s *TrainerState) UpdateBest(metric float64, step int, checkpoint string, greaterIsBetter bool) bool {
	if math.IsNaN(metric) {
		return false
	}
	if s.BestMetric != nil {
		if greaterIsBetter && !(metric > *s.BestMetric) || !greaterIsBetter && !(metric < *s.BestMetric) {
			return false
		}
	}
	s.BestMetric = &metric
	s.BestGlobalStep = &step
	if checkpoint != "" {
		s.BestModelCheckpoint = &checkpoint
	}
	return true
}

// toMap returns the state as transformers' asdict() would.
func (s *TrainerState) toMap() map[string]any {
	m := make(map[string]any, 20+len(s.Extra))
	for k, v := range s.Extra {
		m[k] = v
	}
	m["best_global_step"] = nil
	if s.BestGlobalStep != nil {
		m["best_global_step"] = *s.BestGlobalStep
	}
	m["best_metric"] = nil
	if s.BestMetric != nil {
		m["best_metric"] = *s.BestMetric
	}
	m["best_model_checkpoint"] = nil
	if s.BestModelCheckpoint != nil {
		m["best_model_checkpoint"] = *s.BestModelCheckpoint
	}
	m["epoch"] = s.Epoch
	m["eval_steps"] = s.EvalSteps
	m["global_step"] = s.GlobalStep
	m["is_hyper_param_search"] = false
	m["is_local_process_zero"] = true
	m["is_world_process_zero"] = true
	hist := s.LogHistory
	if hist == nil {
		hist = []map[string]any{}
	}
	m["log_history"] = hist
	m["logging_steps"] = s.LoggingSteps
	m["max_steps"] = s.MaxSteps
	m["num_input_tokens_seen"] = s.NumInputTokensSeen
	m["num_train_epochs"] = s.NumTrainEpochs
	m["save_steps"] = s.SaveSteps
	sc := s.StatefulCallbacks
	if sc == nil {
		sc = map[string]any{}
	}
	m["stateful_callbacks"] = sc
	m["total_flos"] = s.TotalFlos
	m["train_batch_size"] = s.TrainBatchSize
	m["trial_name"] = nil
	if s.TrialName != nil {
		m["trial_name"] = *s.TrialName
	}
	m["trial_params"] = nil
	if s.TrialParams != nil {
		m["trial_params"] = s.TrialParams
	}
	return m
}

// MarshalJSON encodes the state with Python's json conventions (see
// TrainerState). Like encoding/json, and unlike Save, it fails when a
// value is NaN or infinite, which standard JSON cannot represent.
func (s *TrainerState) MarshalJSON() ([]byte, error) {
	b, err := pyjson.Append(nil, s.toMap(), "")
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		return nil, errors.New("trainer state holds NaN or Infinity, which standard JSON cannot represent (Save writes them as Python does)")
	}
	return b, nil
}

// UnmarshalJSON decodes a trainer_state.json document (NaN and Infinity
// accepted, as Python writes them).
func (s *TrainerState) UnmarshalJSON(data []byte) error {
	v, err := pyjson.Decode(data)
	if err != nil {
		return err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("want a JSON object, got %s", pyjson.Kind(v))
	}
	var st TrainerState
	r := fieldReader{m: m}
	st.BestGlobalStep = r.optInt("best_global_step")
	st.BestMetric = r.optFloat("best_metric")
	st.BestModelCheckpoint = r.optString("best_model_checkpoint")
	if f := r.optFloat("epoch"); f != nil {
		st.Epoch = *f
	}
	st.EvalSteps = r.int("eval_steps", 500)
	st.GlobalStep = r.int("global_step", 0)
	r.skip("is_hyper_param_search", "is_local_process_zero", "is_world_process_zero")
	st.LogHistory = r.history("log_history")
	st.LoggingSteps = r.int("logging_steps", 500)
	st.MaxSteps = r.int("max_steps", 0)
	st.NumInputTokensSeen = int64(r.int("num_input_tokens_seen", 0))
	st.NumTrainEpochs = r.int("num_train_epochs", 0)
	st.SaveSteps = r.int("save_steps", 500)
	st.StatefulCallbacks = r.object("stateful_callbacks")
	if f := r.optFloat("total_flos"); f != nil {
		st.TotalFlos = *f
	}
	if n := r.optInt("train_batch_size"); n != nil {
		st.TrainBatchSize = *n
	}
	st.TrialName = r.optString("trial_name")
	st.TrialParams = r.object("trial_params")
	if r.err != nil {
		return r.err
	}
	for k, v := range m {
		if !r.seen[k] {
			if st.Extra == nil {
				st.Extra = map[string]any{}
			}
			st.Extra[k] = v
		}
	}
	*s = st
	return nil
}

// Save writes the state to path atomically (atomicfile.WriteFile), formatted as
// transformers' save_to_json does: indent 2, sorted keys, trailing
// newline. The directory must exist.
func (s *TrainerState) Save(path string) error {
	b, err := pyjson.Append(nil, s.toMap(), "  ")
	if err != nil {
		return fmt.Errorf("trainer state %s: %w", path, err)
	}
	b = append(b, '\n')
	return atomicfile.WriteFile(path, b, 0o644)
}

// LoadTrainerState reads a trainer_state.json written by Save or by
// transformers.
func LoadTrainerState(path string) (*TrainerState, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trainer state: %w", err)
	}
	var s TrainerState
	if err := s.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("trainer state %s: %w", path, err)
	}
	return &s, nil
}

// EntryFloat returns the number under key in a log entry (see Number).
func EntryFloat(e map[string]any, key string) (float64, bool) {
	return Number(e[key])
}

// EntryInt returns the integer under key in a log entry (for "step");
// false when absent, not a number or not integral.
func EntryInt(e map[string]any, key string) (int, bool) {
	f, ok := Number(e[key])
	if !ok || f != math.Trunc(f) || math.IsInf(f, 0) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int(f), true
}

// Number returns a decoded JSON number as a float64, whatever its Go type
// (json.Number from a loaded file, float64, float32 or an integer type
// from this process); false for anything else.
func Number(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case uint32:
		return float64(x), true
	}
	return 0, false
}

// fieldReader pulls typed fields out of a decoded JSON object, keeping
// the first error.
type fieldReader struct {
	m    map[string]any
	seen map[string]bool
	err  error
}

func (r *fieldReader) get(key string) (any, bool) {
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	r.seen[key] = true
	v, ok := r.m[key]
	return v, ok && v != nil
}

func (r *fieldReader) fail(key, want string, v any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: want %s, got %s", key, want, pyjson.Kind(v))
	}
}

func (r *fieldReader) skip(keys ...string) {
	for _, k := range keys {
		r.get(k)
	}
}

func (r *fieldReader) optInt(key string) *int {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	n, isNum := v.(json.Number)
	if !isNum {
		r.fail(key, "an integer", v)
		return nil
	}
	i, err := strconv.ParseInt(n.String(), 10, 0)
	if err != nil {
		// Python may have written an integral float such as 500.0.
		f, ferr := n.Float64()
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			r.fail(key, "an integer", v)
			return nil
		}
		i = int64(f)
	}
	x := int(i)
	return &x
}

func (r *fieldReader) int(key string, def int) int {
	if p := r.optInt(key); p != nil {
		return *p
	}
	return def
}

func (r *fieldReader) optFloat(key string) *float64 {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	f, isNum := Number(v)
	if !isNum {
		r.fail(key, "a number", v)
		return nil
	}
	return &f
}

func (r *fieldReader) optString(key string) *string {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	s, isStr := v.(string)
	if !isStr {
		r.fail(key, "a string", v)
		return nil
	}
	return &s
}

func (r *fieldReader) object(key string) map[string]any {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	m, isObj := v.(map[string]any)
	if !isObj {
		r.fail(key, "an object", v)
		return nil
	}
	return m
}

func (r *fieldReader) history(key string) []map[string]any {
	v, ok := r.get(key)
	if !ok {
		return []map[string]any{}
	}
	arr, isArr := v.([]any)
	if !isArr {
		r.fail(key, "an array", v)
		return nil
	}
	out := make([]map[string]any, 0, len(arr))
	for i, e := range arr {
		m, isObj := e.(map[string]any)
		if !isObj {
			r.fail(fmt.Sprintf("%s[%d]", key, i), "an object", e)
			return nil
		}
		out = append(out, m)
	}
	return out
}
