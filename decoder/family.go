package decoder

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tune-dev/tune/qwen/tokenizer"
)

// Family is what one model family brings to the decoder: how its
// config.json is named and read, the traits in which its layers differ
// from the others', and its chat template. A family's package (qwen,
// llama) registers it; the decoder, generation, scoring, training and
// merging work from a Config's family alone.
type Family struct {
	// ModelType is config.json's model_type ("qwen2"); Architecture the
	// transformers class (architectures[0], "Qwen2ForCausalLM"), which
	// also identifies a config.json without a model_type.
	ModelType, Architecture string
	// Defaults are the transformers config class's values for the fields
	// a config.json may leave out.
	Defaults Config
	// QKVBias says the q, k and v projections have biases (the other four
	// never have one).
	QKVBias bool
	// Check reports what the family's config allows but the decoder does
	// not implement (Validate has checked the shapes).
	Check func(*Config) error
	// Chat is the family's instruct chat template.
	Chat tokenizer.ChatTemplate
}

// families are the registered families by model_type.
var families = map[string]*Family{}

// Register makes f known to LoadConfig and Validate; each family's
// package calls it once, from init.
func Register(f *Family) {
	if _, dup := families[f.ModelType]; dup {
		panic("decoder: family " + f.ModelType + " registered twice")
	}
	families[f.ModelType] = f
}

// detect finds the family of a config.json by its model_type, else by its
// architectures.
func detect(modelType string, architectures []string) (*Family, error) {
	if modelType != "" {
		if f, ok := families[modelType]; ok {
			return f, nil
		}
		return nil, fmt.Errorf("model_type %q (architectures %v) is not a supported family (%s)", modelType, architectures, familyNames())
	}
	for _, f := range families {
		if slices.Contains(architectures, f.Architecture) {
			return f, nil
		}
	}
	return nil, fmt.Errorf("no model_type, and architectures %v name no supported family (%s)", architectures, familyNames())
}

// familyNames lists the registered model types, sorted.
func familyNames() string {
	var names []string
	for n, f := range families {
		names = append(names, n+" ("+f.Architecture+")")
	}
	if len(names) == 0 {
		return "none registered"
	}
	slices.Sort(names)
	return "supported: " + strings.Join(names, ", ")
}
