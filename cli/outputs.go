package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/tune-dev/tune/internal/paths"
)

// flagPath is a path and the flag that named it.
type flagPath struct{ flag, path string }

// checkOutput refuses, before anything is written, an output file that
// would overwrite one of the command's inputs: the same file as an input
// file (through a symbolic or hard link too), or an existing file inside an
// input folder (a model, adapter or tokenizer folder). Unset flags (empty
// paths) are skipped.
func checkOutput(out flagPath, inputs ...flagPath) error {
	if out.path == "" {
		return nil
	}
	ost, err := os.Stat(out.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("--%s %s: %w", out.flag, out.path, err)
	}
	for _, in := range inputs {
		if in.path == "" {
			continue
		}
		ist, err := os.Stat(in.path)
		if err != nil {
			continue // the command reports a missing input itself
		}
		if os.SameFile(ost, ist) {
			return fmt.Errorf("--%s %s is the --%s file %s: refusing to overwrite an input; choose another --%s", out.flag, out.path, in.flag, in.path, out.flag)
		}
		if !ist.IsDir() {
			continue
		}
		o, oerr := paths.Resolve(out.path)
		d, derr := paths.Resolve(in.path)
		if oerr == nil && derr == nil && paths.Within(o, d) {
			return fmt.Errorf("--%s %s is a file inside the --%s folder %s: refusing to overwrite it; choose another --%s", out.flag, out.path, in.flag, in.path, out.flag)
		}
	}
	return nil
}

// printJSON writes v to w as one line of JSON. A value JSON cannot hold
// (NaN or an infinity) or a failed write is an error, never a blank line.
func printJSON(w io.Writer, v any) error {
	if err := json.NewEncoder(w).Encode(v); err != nil {
		return fmt.Errorf("writing the JSON output: %w", err)
	}
	return nil
}
