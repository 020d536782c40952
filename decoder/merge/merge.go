package merge

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/internal/atomicfile"
	"github.com/tune-dev/tune/internal/paths"
	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/quant"
	"github.com/tune-dev/tune/qwen/tokenizer"
	"github.com/tune-dev/tune/safetensors"
)

// Options describes one merge of an adapter into its base model.
type Options struct {
	// BaseModel is the Hugging Face model folder the adapter was trained on.
	BaseModel string
	// Adapter is the adapter to merge; when nil, AdapterDir is loaded.
	Adapter    *lora.Adapter
	AdapterDir string
	// Output is the merged model's folder (written atomically). It must
	// not exist, be empty, or hold an earlier merge output (see Write).
	Output string
	// QLoRA merges into the NF4 round trip of the base projections, the
	// weights a QLoRA run trained against (a checkpoint that is already
	// 4-bit is always dequantized).
	QLoRA     bool
	BlockSize int
	// MaxShardBytes splits the weights into shards with an index above
	// this size (0: Hugging Face's default, 5 GB).
	MaxShardBytes int64
	// WriteTokenizer writes the tokenizer files when the base folder has
	// none to copy.
	WriteTokenizer func(dir string) error
}

// Marker is the file Write writes last into every merged model
// folder: what was merged, and the list of files the merge wrote. Only a
// folder holding it and nothing else than those files is ever replaced.
const Marker = "tune_merge.json"

// record is the content of Marker.
type record struct {
	BaseModel string   `json:"base_model"`
	Adapter   string   `json:"adapter,omitempty"`
	QLoRA     bool     `json:"use_qlora"`
	Files     []string `json:"files"`
}

// Write writes base + adapter as a plain Hugging Face model folder:
// config.json (without a quantization_config), generation_config.json,
// the weights (model.safetensors, or shards with an index) with every
// adapted projection replaced by W + s·B·A in the base weight's dtype
// (bfloat16 for a 4-bit base), the tokenizer files, the system prompt
// recorded with the adapter (lora.SystemPromptFile), if any, and
// Marker.
//
// Nothing is lost: before anything is read, Write refuses an output that
// is the base model's or the adapter's folder or contains either (paths
// compared after resolving symbolic links), that lies inside the base
// model's folder, that is a file, or that is a non-empty folder other
// than an earlier merge output (Marker and only the files it lists).
// An output inside the adapter's folder is allowed: a run keeps its
// merged model in RUN/merged_model beside the adapter. The new folder is
// written beside the output and swapped in (atomicfile.CommitDir), so an earlier
// merge output is replaced only once the new one is complete.
func Write(o Options) error {
	if err := CheckOutput(o); err != nil {
		return err
	}
	cfg, err := decoder.LoadConfig(o.BaseModel)
	if err != nil {
		return err
	}
	a := o.Adapter
	if a == nil {
		if a, err = lora.Load(o.AdapterDir, "default", cfg.NumHiddenLayers, cfg.ModuleShape); err != nil {
			return err
		}
	}
	ck, err := safetensors.OpenCheckpoint(o.BaseModel)
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	defer ck.Close()
	if err := os.MkdirAll(filepath.Dir(filepath.Clean(o.Output)), atomicfile.DirMode); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	tmp, err := atomicfile.TempDir(filepath.Dir(filepath.Clean(o.Output)), filepath.Base(o.Output))
	if err != nil {
		return err
	}
	if err := writeMerged(o, cfg, a, ck, tmp); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	return atomicfile.CommitDir(tmp, o.Output)
}

// CheckOutput refuses an output folder whose replacement would lose data
// (see Write): a run checks it before training when it will merge at the
// end.
func CheckOutput(o Options) error {
	out, err := CheckPaths(o)
	if err != nil {
		return err
	}
	return checkContents(o, out)
}

// CheckPaths refuses an output that is, contains or (for the base model)
// lies inside an input folder, and returns the resolved output. It is the
// part of CheckOutput that holds whatever the output folder holds.
func CheckPaths(o Options) (string, error) {
	out, err := paths.Resolve(o.Output)
	if err != nil {
		return "", fmt.Errorf("merge: output %s: %w", o.Output, err)
	}
	// An output inside the adapter's folder is RUN/merged_model.
	type input struct {
		what, path string
		insideOK   bool
	}
	inputs := []input{{"base model", o.BaseModel, false}}
	if o.AdapterDir != "" {
		inputs = append(inputs, input{"adapter", o.AdapterDir, true})
	}
	for _, in := range inputs {
		p, err := paths.Resolve(in.path)
		if err != nil {
			return "", fmt.Errorf("merge: %s %s: %w", in.what, in.path, err)
		}
		switch {
		case p == out:
			return "", fmt.Errorf("merge: the output folder %s is the %s folder %s; choose a new folder", o.Output, in.what, in.path)
		case paths.Within(p, out):
			return "", fmt.Errorf("merge: the output folder %s contains the %s folder %s; choose a new folder", o.Output, in.what, in.path)
		case !in.insideOK && paths.Within(out, p):
			return "", fmt.Errorf("merge: the output folder %s is inside the %s folder %s; choose a folder outside it", o.Output, in.what, in.path)
		}
	}
	return out, nil
}

// checkContents refuses an existing output (resolved: out) that is a
// file, or a non-empty folder other than an earlier merge output.
func checkContents(o Options, out string) error {
	st, err := os.Stat(out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("merge: output %s: %w", o.Output, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("merge: the output %s is a file, not a folder; choose a new folder", o.Output)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		return fmt.Errorf("merge: output %s: %w", o.Output, err)
	}
	if len(entries) == 0 {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(out, Marker))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("merge: the output folder %s is not empty and is not an earlier merge output (it has no %s); refusing to replace it: choose a new or empty folder", o.Output, Marker)
	}
	if err != nil {
		return fmt.Errorf("merge: output %s: %w", o.Output, err)
	}
	var rec record
	if err := json.Unmarshal(data, &rec); err != nil {
		return fmt.Errorf("merge: %s: %w; refusing to replace the folder", filepath.Join(o.Output, Marker), err)
	}
	for _, e := range entries {
		if name := e.Name(); name != Marker && (!e.Type().IsRegular() || !slices.Contains(rec.Files, name)) {
			return fmt.Errorf("merge: the output folder %s holds %s, which the earlier merge did not write; refusing to replace it: move it away or choose another folder", o.Output, name)
		}
	}
	return nil
}

// writeMerged writes the merged model's files into the new folder dir.
func writeMerged(o Options, cfg *decoder.Config, a *lora.Adapter, ck *safetensors.Checkpoint, dir string) error {
	var ts []safetensors.Tensor
	var total int64
	merged := 0
	for _, s := range cfg.Specs() {
		t, err := mergedTensor(o, a, ck, s, &merged)
		if err != nil {
			return err
		}
		ts = append(ts, t)
		total += int64(len(t.Data))
	}
	if merged == 0 {
		return fmt.Errorf("merge: adapter %s adapts no projection of %s", a.Name, o.BaseModel)
	}
	md := map[string]string{"format": "pt"}
	limit := o.MaxShardBytes
	if limit == 0 {
		limit = 5_000_000_000
	}
	if total > limit {
		if err := safetensors.WriteSharded(dir, ts, md, limit); err != nil {
			return fmt.Errorf("merge: %w", err)
		}
	} else if err := safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), ts, md); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	if err := copyConfig(o.BaseModel, dir); err != nil {
		return err
	}
	if err := copyIfPresent(filepath.Join(o.BaseModel, "generation_config.json"), filepath.Join(dir, "generation_config.json")); err != nil {
		return err
	}
	copied := 0
	for _, f := range tokenizer.ModelFiles {
		if _, err := os.Stat(filepath.Join(o.BaseModel, f)); err == nil {
			if err := copyIfPresent(filepath.Join(o.BaseModel, f), filepath.Join(dir, f)); err != nil {
				return err
			}
			copied++
		}
	}
	if copied == 0 && o.WriteTokenizer != nil {
		if err := o.WriteTokenizer(dir); err != nil {
			return fmt.Errorf("merge: tokenizer: %w", err)
		}
	}
	if a.System != nil { // the merged model answers with the adapter's system prompt by default too
		if err := a.System.Write(dir); err != nil {
			return fmt.Errorf("merge: %w", err)
		}
	}
	return writeMarker(o, dir)
}

// writeMarker writes Marker, listing every file already in dir.
func writeMarker(o Options, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	rec := record{BaseModel: o.BaseModel, Adapter: o.AdapterDir, QLoRA: o.QLoRA, Files: []string{}}
	for _, e := range entries {
		rec.Files = append(rec.Files, e.Name())
	}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	return atomicfile.WriteFile(filepath.Join(dir, Marker), append(data, '\n'), 0o644)
}

// mergedTensor returns one tensor of the merged model.
func mergedTensor(o Options, a *lora.Adapter, ck *safetensors.Checkpoint, s decoder.TensorSpec, merged *int) (safetensors.Tensor, error) {
	layer, module, proj := decoder.ProjectionOf(s.Name)
	if !proj {
		t, err := ck.Tensor(s.Name)
		if err != nil {
			return t, fmt.Errorf("merge: %w", err)
		}
		if err := t.CheckFinite(); err != nil {
			return t, fmt.Errorf("merge: %s: %w", ck.FileOf(s.Name), err)
		}
		return t, nil
	}
	var w []float32
	dtype := safetensors.BF16
	if quant.IsQuantized(s.Name, ck.Has) {
		q, err := quant.Read(s.Name, func(n string) (safetensors.Tensor, bool) {
			t, err := ck.Tensor(n)
			return t, err == nil
		})
		if err != nil {
			return safetensors.Tensor{}, fmt.Errorf("merge: %s: %w", ck.FileOf(s.Name), err)
		}
		w = make([]float32, q.Len())
		q.Dequantize(w)
		dtype = map[string]safetensors.DType{"float32": safetensors.F32, "float16": safetensors.F16}[q.DType]
		if dtype == "" {
			dtype = safetensors.BF16
		}
	} else {
		t, err := ck.Tensor(s.Name)
		if err != nil {
			return t, fmt.Errorf("merge: %w", err)
		}
		if err := t.CheckFinite(); err != nil {
			return t, fmt.Errorf("merge: %s: %w", ck.FileOf(s.Name), err)
		}
		if w, err = t.Float32s(); err != nil {
			return t, fmt.Errorf("merge: %s: %w", ck.FileOf(s.Name), err)
		}
		dtype = t.DType
		if o.QLoRA {
			q, err := quant.Quantize(w, s.Shape, cmp.Or(o.BlockSize, 64), true)
			if err != nil {
				return t, fmt.Errorf("merge: %s: %w", s.Name, err)
			}
			q.Dequantize(w)
		}
	}
	if a.Merge(w, layer, module.Name) {
		*merged++
	}
	switch dtype {
	case safetensors.F32:
		return safetensors.F32Tensor(s.Name, s.Shape, w), nil
	case safetensors.F16:
		return safetensors.F16Tensor(s.Name, s.Shape, w), nil
	}
	return safetensors.BF16Tensor(s.Name, s.Shape, w), nil
}

// copyConfig copies config.json without the quantization_config of a
// 4-bit checkpoint (the merged weights are plain).
func copyConfig(base, dir string) error {
	data, err := os.ReadFile(filepath.Join(base, "config.json"))
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("merge: %s: %w", filepath.Join(base, "config.json"), err)
	}
	delete(m, "quantization_config")
	if _, ok := m["torch_dtype"]; !ok {
		m["torch_dtype"] = "bfloat16"
	}
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	return atomicfile.WriteFile(filepath.Join(dir, "config.json"), append(out, '\n'), 0o644)
}

func copyIfPresent(src, dst string) error {
	data, err := os.ReadFile(src)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	return atomicfile.WriteFile(dst, data, 0o644)
}
