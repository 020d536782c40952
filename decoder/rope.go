package decoder

import (
	"fmt"
	"math"

	"github.com/tune-dev/tune/backend"
)

// RopeScaling is config.json's rope_scaling. Only Llama 3.1's "llama3"
// type is implemented; Validate refuses any other.
type RopeScaling struct {
	RopeType string `json:"rope_type,omitempty"`
	// Type is the key older configs use for rope_type.
	Type                          string  `json:"type,omitempty"`
	Factor                        float64 `json:"factor"`
	LowFreqFactor                 float64 `json:"low_freq_factor"`
	HighFreqFactor                float64 `json:"high_freq_factor"`
	OriginalMaxPositionEmbeddings int     `json:"original_max_position_embeddings"`
}

// kind is the scaling's rope_type ("default" when none).
func (s *RopeScaling) kind() string {
	switch {
	case s == nil:
		return "default"
	case s.RopeType != "":
		return s.RopeType
	}
	return s.Type
}

// validate reports a scaling the decoder does not implement or whose
// numbers are inconsistent.
func (s *RopeScaling) validate() error {
	switch k := s.kind(); k {
	case "default":
		return nil
	case "llama3":
		if s.Factor <= 0 || s.LowFreqFactor <= 0 || s.HighFreqFactor <= s.LowFreqFactor || s.OriginalMaxPositionEmbeddings <= 0 {
			return fmt.Errorf("rope_scaling llama3 needs factor > 0, 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0; got %+v", *s)
		}
		return nil
	default:
		return fmt.Errorf("rope_scaling type %q is not supported (only llama3)", k)
	}
}

// InvFreq is the table of RoPE inverse frequencies the model rotates by
// (backend.Forward.RoPE): theta^(-2j/d), then rescaled by rope_scaling,
// in float32 as transformers 4.44.2 computes them.
func (c *Config) InvFreq() []float32 {
	inv := backend.InvFreq(c.HeadDim(), c.RopeTheta)
	if c.RopeScaling.kind() == "llama3" {
		llama3Scale(inv, c.RopeScaling)
	}
	return inv
}

// llama3Scale rescales inv in place as transformers 4.44.2's
// _compute_llama3_parameters does: wavelengths shorter than
// original_max_position_embeddings/high_freq_factor keep their frequency,
// those longer than original_max_position_embeddings/low_freq_factor are
// divided by factor, and those between are interpolated. transformers
// computes on float32 tensors with Python scalars, which torch rounds to
// float32 first, so every step here rounds to float32 in the same order
// (the explicit conversions keep the compiler from fusing a multiply and
// an add).
func llama3Scale(inv []float32, s *RopeScaling) {
	old := float32(s.OriginalMaxPositionEmbeddings)
	factor, low := float32(s.Factor), float32(s.LowFreqFactor)
	span := float32(s.HighFreqFactor - s.LowFreqFactor)
	lowWavelen := float32(float64(s.OriginalMaxPositionEmbeddings) / s.LowFreqFactor)
	highWavelen := float32(float64(s.OriginalMaxPositionEmbeddings) / s.HighFreqFactor)
	for j, f := range inv {
		wavelen := float32(2*math.Pi) / f
		switch {
		case wavelen < highWavelen:
		case wavelen > lowWavelen:
			inv[j] = f / factor
		default:
			smooth := (old/wavelen - low) / span
			inv[j] = float32(float32((1-smooth)*f)/factor) + float32(smooth*f)
		}
	}
}
