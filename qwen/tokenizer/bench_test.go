package tokenizer

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkEncodeCUAD measures Encode throughput on the CUAD contracts in
// testdata/cuad/contracts (CC BY 4.0, see SOURCE.md there). The BPE cache is
// warm after the first iteration, as in a long training run.
func BenchmarkEncodeCUAD(b *testing.B) {
	tok := qwen(b)
	paths, err := filepath.Glob(filepath.Join("..", "..", "testdata", "cuad", "contracts", "*.txt"))
	require.NoError(b, err)
	require.NotEmpty(b, paths)
	var texts []string
	var size int64
	for _, p := range paths {
		data, err := os.ReadFile(p)
		require.NoError(b, err)
		texts = append(texts, string(data))
		size += int64(len(data))
	}
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		for _, text := range texts {
			tok.Encode(text)
		}
	}
}
