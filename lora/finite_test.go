package lora_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/lora"
)

// TestLoadRefusesNonFiniteFactors: an adapter holding a NaN or an
// infinity (a run that diverged) is refused at load, naming the file, the
// tensor and the first bad element.
func TestLoadRefusesNonFiniteFactors(t *testing.T) {
	shape := shapes(64, 32, 176)
	for _, v := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
		a, err := lora.New("a", lora.Config{R: 4, LoraAlpha: 8, TargetModules: []string{"q_proj", "v_proj"}}, 2, shape, 1)
		require.NoError(t, err)
		a.Pairs[1]["v_proj"].B[6] = v
		dir := t.TempDir()
		require.NoError(t, a.Save(dir))
		_, err = lora.Load(dir, "a", 2, shape)
		require.ErrorContains(t, err, filepath.Join(dir, "adapter_model.safetensors"))
		require.ErrorContains(t, err, `tensor "`+lora.Key(1, "v_proj", "B")+`"`)
		require.ErrorContains(t, err, "element 6 [1, 2]")
	}
}
