package runlog

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goldenState is what transformers' TrainerState.save_to_json writes
// (json.dumps(asdict(state), indent=2, sort_keys=True) + "\n") for the
// state built in TestTrainerStateSaveGolden: floats in repr form (1.0,
// 1e-05, 1.5e+16), keys sorted at every level, nulls for unset options.
const goldenState = `{
  "best_global_step": 10,
  "best_metric": 1.5,
  "best_model_checkpoint": "out/checkpoint-10",
  "epoch": 1.0,
  "eval_steps": 10,
  "global_step": 20,
  "is_hyper_param_search": false,
  "is_local_process_zero": true,
  "is_world_process_zero": true,
  "log_history": [
    {
      "epoch": 0.5,
      "grad_norm": 0.75,
      "learning_rate": 1e-05,
      "loss": 1.25,
      "step": 10
    },
    {
      "epoch": 0.5,
      "eval_loss": 1.5,
      "eval_runtime": 2.0,
      "eval_samples_per_second": 4.0,
      "eval_steps_per_second": 1.0,
      "step": 10
    }
  ],
  "logging_steps": 10,
  "max_steps": 20,
  "num_input_tokens_seen": 12345,
  "num_train_epochs": 1,
  "save_steps": 10,
  "stateful_callbacks": {},
  "total_flos": 1.5e+16,
  "train_batch_size": 4,
  "trial_name": null,
  "trial_params": null
}
`

func TestTrainerStateSaveGolden(t *testing.T) {
	s := NewTrainerState()
	s.Epoch = 1
	s.EvalSteps, s.LoggingSteps, s.SaveSteps = 10, 10, 10
	s.GlobalStep, s.MaxSteps = 20, 20
	s.NumInputTokensSeen = 12345
	s.NumTrainEpochs = 1
	s.TotalFlos = 1.5e16
	s.TrainBatchSize = 4
	s.Log(TrainLogEntry(0.5, 10, 1.25, 0.75, 1e-5))
	s.Log(EvalLogEntry(0.5, 10, 1.5, 2, 8, 2))
	if !s.UpdateBest(1.5, 10, "out/checkpoint-10", false) {
		t.Fatal("first metric not best")
	}
	path := filepath.Join(t.TempDir(), "trainer_state.json")
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != goldenState {
		t.Errorf("saved:\n%s\nwant:\n%s", got, goldenState)
	}

	loaded, err := LoadTrainerState(path)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.GlobalStep != 20 || loaded.Epoch != 1 || *loaded.BestMetric != 1.5 || *loaded.BestGlobalStep != 10 ||
		*loaded.BestModelCheckpoint != "out/checkpoint-10" || loaded.TotalFlos != 1.5e16 ||
		loaded.NumInputTokensSeen != 12345 || loaded.TrainBatchSize != 4 || len(loaded.LogHistory) != 2 ||
		loaded.TrialName != nil || loaded.TrialParams != nil {
		t.Errorf("loaded %+v", loaded)
	}
	if step, ok := EntryInt(loaded.LogHistory[1], "step"); !ok || step != 10 {
		t.Errorf("eval step %v %v", step, ok)
	}
	if l, ok := EntryFloat(loaded.LogHistory[1], "eval_loss"); !ok || l != 1.5 {
		t.Errorf("eval_loss %v %v", l, ok)
	}
	// Loading and saving again gives the same bytes.
	if err := loaded.Save(path); err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(path)
	if string(again) != goldenState {
		t.Errorf("re-saved:\n%s", again)
	}
}

// hfState looks like a file written by a recent transformers: stateful
// callbacks, a NaN grad_norm, a key this package does not know.
const hfState = `{
  "best_global_step": null,
  "best_metric": null,
  "best_model_checkpoint": null,
  "epoch": 0.3333333333333333,
  "eval_steps": 500,
  "future_key": {
    "a": [
      1,
      2.5,
      "\u00e9\ud83d\ude00<&>"
    ]
  },
  "global_step": 3,
  "is_hyper_param_search": false,
  "is_local_process_zero": true,
  "is_world_process_zero": true,
  "log_history": [
    {
      "epoch": 0.1111111111111111,
      "grad_norm": NaN,
      "learning_rate": 2e-05,
      "loss": 2.0,
      "step": 1
    },
    {
      "epoch": 0.3333333333333333,
      "grad_norm": Infinity,
      "learning_rate": 1.3333333333333335e-05,
      "loss": 1.5,
      "step": 3
    }
  ],
  "logging_steps": 1,
  "max_steps": 9,
  "num_input_tokens_seen": 0,
  "num_train_epochs": 3,
  "save_steps": 500,
  "stateful_callbacks": {
    "TrainerControl": {
      "args": {
        "should_epoch_stop": false,
        "should_evaluate": false,
        "should_log": false,
        "should_save": true,
        "should_training_stop": false
      },
      "attributes": {}
    }
  },
  "total_flos": 1234567.0,
  "train_batch_size": 8,
  "trial_name": null,
  "trial_params": null
}
`

func TestTrainerStateHFRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "trainer_state.json")
	if err := os.WriteFile(path, []byte(hfState), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := LoadTrainerState(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.BestMetric != nil || s.BestGlobalStep != nil || s.GlobalStep != 3 || s.MaxSteps != 9 ||
		s.TrainBatchSize != 8 || s.NumTrainEpochs != 3 || s.Extra["future_key"] == nil {
		t.Errorf("loaded %+v", s)
	}
	if g, ok := EntryFloat(s.LogHistory[0], "grad_norm"); !ok || !math.IsNaN(g) {
		t.Errorf("grad_norm %v %v, want NaN", g, ok)
	}
	if g, ok := EntryFloat(s.LogHistory[1], "grad_norm"); !ok || !math.IsInf(g, 1) {
		t.Errorf("grad_norm %v %v, want +Inf", g, ok)
	}
	out := filepath.Join(dir, "again.json")
	if err := s.Save(out); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if string(got) != hfState {
		t.Errorf("round trip changed the file:\n%s", got)
	}

	// encoding/json goes through MarshalJSON/UnmarshalJSON, and refuses
	// NaN as it does for a float64.
	if _, err := json.Marshal(s); err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("json.Marshal with NaN: %v", err)
	}
	s.LogHistory[0]["grad_norm"] = 0.5
	s.LogHistory[1]["grad_norm"] = 0.25
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var s2 TrainerState
	if err := json.Unmarshal(b, &s2); err != nil {
		t.Fatal(err)
	}
	if s2.GlobalStep != 3 || len(s2.LogHistory) != 2 {
		t.Errorf("json round trip %+v", s2)
	}
}

func TestTrainerStateZero(t *testing.T) {
	var s TrainerState
	b, err := s.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"best_metric": null`, `"best_model_checkpoint": null`, `"best_global_step": null`,
		`"trial_name": null`, `"trial_params": null`, `"log_history": []`, `"stateful_callbacks": {}`,
		`"is_local_process_zero": true`, `"is_world_process_zero": true`, `"is_hyper_param_search": false`,
		`"epoch": 0.0`, `"total_flos": 0.0`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
}

func TestLoadTrainerStateErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.json")
	if _, err := LoadTrainerState(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
	for name, text := range map[string]string{
		"syntax.json": `{"global_step": 1,`,
		"type.json":   `{"global_step": "ten"}`,
		"frac.json":   `{"max_steps": 1.5}`,
		"array.json":  `[1, 2]`,
		"hist.json":   `{"log_history": [1]}`,
		"trail.json":  `{} {}`,
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadTrainerState(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v does not name the file", name, err)
		}
	}
	// An integral float (Python 500.0) is accepted for an int field.
	path := filepath.Join(dir, "float.json")
	os.WriteFile(path, []byte(`{"global_step": 500.0}`), 0o644)
	if s, err := LoadTrainerState(path); err != nil || s.GlobalStep != 500 || s.LoggingSteps != 500 {
		t.Errorf("integral float: %+v %v", s, err)
	}
}

func TestUpdateBest(t *testing.T) {
	s := NewTrainerState()
	steps := []struct {
		metric float64
		better bool
	}{{2, true}, {2.5, false}, {math.NaN(), false}, {1.5, true}, {1.5, false}}
	for i, c := range steps {
		if got := s.UpdateBest(c.metric, i, "", false); got != c.better {
			t.Errorf("step %d metric %v: best=%v, want %v", i, c.metric, got, c.better)
		}
	}
	if *s.BestMetric != 1.5 || *s.BestGlobalStep != 3 || s.BestModelCheckpoint != nil {
		t.Errorf("best %v at %v, checkpoint %v", *s.BestMetric, *s.BestGlobalStep, s.BestModelCheckpoint)
	}
	if !s.UpdateBest(3, 9, "c", true) || s.UpdateBest(2, 10, "d", true) || *s.BestModelCheckpoint != "c" {
		t.Error("greater is better")
	}
}
