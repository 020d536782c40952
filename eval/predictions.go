package eval

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/tune-dev/tune/internal/atomicfile"
)

// WritePredictions writes examples to path as the predictions file that
// ReadPredictions reads back: one {"prediction", "reference"} line per
// example, or {"prediction", "references": [...]} when it has several. The
// file is written atomically (mode 0644), so it is either complete or not
// there.
func WritePredictions(path string, examples []Example) error {
	err := atomicfile.Write(path, 0o644, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, ex := range examples {
			rec := predictionRecord{Prediction: &ex.Prediction}
			if len(ex.References) == 1 {
				rec.Reference = &ex.References[0]
			} else {
				rec.References = &ex.References
			}
			if err := enc.Encode(rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("eval: writing %s: %w", path, err)
	}
	return nil
}
