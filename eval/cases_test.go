package eval

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// The reference cases: sacrebleu 2.6.0 and rouge_score values, copied from
// the project's shared reference data (see testdata/metrics/SOURCE.md).

type bleuCaseConfig struct {
	Tokenize       string   `json:"tokenize"`
	SmoothMethod   string   `json:"smooth_method"`
	SmoothValue    *float64 `json:"smooth_value"`
	Lowercase      bool     `json:"lowercase"`
	EffectiveOrder bool     `json:"effective_order"`
}

func (c bleuCaseConfig) options() BLEUOptions {
	o := BLEUOptions{
		Tokenize:       BLEUTokenizer(c.Tokenize),
		Smooth:         BLEUSmooth(c.SmoothMethod),
		Lowercase:      c.Lowercase,
		EffectiveOrder: c.EffectiveOrder,
	}
	if c.SmoothValue != nil {
		o.SmoothValue = *c.SmoothValue
	}
	return o
}

// bleuCase is one sacrebleu result; its score fields share BLEUResult's
// JSON names.
type bleuCase struct {
	Config    bleuCaseConfig `json:"config"`
	Signature string         `json:"signature"`
	BLEUResult
}

type metricCases struct {
	Generator string `json:"generator"`
	Sentence  []struct {
		Name         string                        `json:"name"`
		Hyp          string                        `json:"hyp"`
		Refs         []string                      `json:"refs"`
		SentenceBLEU []bleuCase                    `json:"sentence_bleu"`
		Rouge        map[string]map[string]float64 `json:"rouge"`
	} `json:"sentence"`
	Corpus       []bleuCase `json:"corpus"`
	CorpusInputs struct {
		Hyps []string   `json:"hyps"`
		Refs [][]string `json:"refs"` // sacrebleu reference streams
	} `json:"corpus_inputs"`
}

func loadMetricCases(t *testing.T) metricCases {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "metrics", "cases.json"))
	require.NoError(t, err)
	var c metricCases
	require.NoError(t, json.Unmarshal(data, &c))
	require.NotEmpty(t, c.Sentence)
	require.NotEmpty(t, c.Corpus)
	return c
}

const caseTol = 1e-4

// bleuMismatches lists every field of got that differs from want.
func bleuMismatches(want bleuCase, got BLEUResult) []string {
	var bad []string
	near := func(field string, w, g float64) {
		if math.Abs(w-g) > caseTol {
			bad = append(bad, fmt.Sprintf("%s: want %v, got %v", field, w, g))
		}
	}
	if len(want.Counts) != bleuMaxOrder || len(want.Totals) != bleuMaxOrder || len(want.Precisions) != bleuMaxOrder {
		return []string{"case lacks counts, totals or precisions"}
	}
	near("score", want.Score, got.Score)
	near("bp", want.BP, got.BP)
	near("sys_len", float64(want.SysLen), float64(got.SysLen))
	near("ref_len", float64(want.RefLen), float64(got.RefLen))
	for i := range want.Counts {
		near(fmt.Sprintf("counts[%d]", i), want.Counts[i], got.Counts[i])
	}
	for i := range want.Totals {
		near(fmt.Sprintf("totals[%d]", i), want.Totals[i], got.Totals[i])
	}
	for i := range want.Precisions {
		near(fmt.Sprintf("precisions[%d]", i), want.Precisions[i], got.Precisions[i])
	}
	return bad
}

func TestMetricCases(t *testing.T) {
	c := loadMetricCases(t)
	var checked, failed int
	check := func(name string, bad []string) {
		checked++
		if len(bad) > 0 {
			failed++
			t.Errorf("%s: %v", name, bad)
		}
	}
	for _, sc := range c.Sentence {
		for _, bc := range sc.SentenceBLEU {
			got := SentenceBLEU(sc.Hyp, sc.Refs, bc.Config.options())
			check(sc.Name+" "+bc.Signature, bleuMismatches(bc, got))
		}
		for _, stem := range []bool{false, true} {
			got := Rouge(sc.Refs[0], sc.Hyp, stem)
			for name, score := range map[string]RougeScore{
				"rouge1": got.Rouge1, "rouge2": got.Rouge2, "rougeL": got.RougeL, "rougeLsum": got.RougeLsum,
			} {
				key := name
				if stem {
					key += "_stem"
				}
				want, ok := sc.Rouge[key]
				require.True(t, ok, "%s: no %s in cases", sc.Name, key)
				var bad []string
				for field, g := range map[string]float64{"precision": score.Precision, "recall": score.Recall, "fmeasure": score.FMeasure} {
					if math.Abs(want[field]-g) > caseTol {
						bad = append(bad, fmt.Sprintf("%s: want %v, got %v", field, want[field], g))
					}
				}
				check(sc.Name+" "+key, bad)
			}
		}
	}

	// sacrebleu takes reference streams (refs[stream][segment]); CorpusBLEU
	// takes the references of each segment.
	in := c.CorpusInputs
	segRefs := make([][]string, len(in.Hyps))
	for _, stream := range in.Refs {
		require.Len(t, stream, len(in.Hyps))
		for i, r := range stream {
			segRefs[i] = append(segRefs[i], r)
		}
	}
	for _, cc := range c.Corpus {
		got := CorpusBLEU(in.Hyps, segRefs, cc.Config.options())
		check("corpus "+cc.Signature, bleuMismatches(cc, got))
	}
	t.Logf("metric reference cases: %d/%d match to %g (%s)", checked-failed, checked, caseTol, c.Generator)
}
