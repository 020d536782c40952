package backend

import "fmt"

// DropoutMask fills mask with inverted-dropout multipliers for dropout
// probability p in [0, 1): each element is 0 (dropped) or keep =
// float32(1/(1-p)) (1/(1-p) computed in float64, then rounded). The draw
// depends only on (seed, index), so the backward pass and a GPU kernel can
// regenerate exactly the same mask from the seed instead of storing it:
//
//	key  = splitmix64(seed)
//	h    = splitmix64(key + i)            (uint64 arithmetic, i the element index)
//	u    = h >> 40                        (the top 24 bits, 0 ≤ u < 2^24)
//	mask[i] = 0 if u < p·2^24, else keep
//
// where splitmix64(z) is Steele, Lea and Flood's SplitMix64 output function
// on the state z + 0x9E3779B97F4A7C15:
//
//	z += 0x9E3779B97F4A7C15
//	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
//	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
//	return z ^ (z >> 31)
//
// p·2^24 is exact in float32 and float64 alike (a power-of-two scaling), and
// u is exact in both, so a kernel comparing float(u) < p*16777216.0f with the
// float32 p drops exactly the same elements; the integer form of the test is
// u < ⌈p·2^24⌉. Hashing the seed first keeps nearby seeds from giving masks
// that are shifts of each other. A dropped fraction is ⌈p·2^24⌉/2^24 in
// expectation, and p = 0 gives all ones.
//
// PEFT applies an independent dropout to the input of each adapted linear,
// so a training step should use a different seed for every (step, layer,
// module) and reuse it for that linear's backward pass. mask is laid out
// like the x it multiplies ([rows, In] for a linear layer's input).
//
// DropoutMask panics if p is not in [0, 1).
func DropoutMask(mask []float32, p float64, seed uint64) {
	if !(p >= 0 && p < 1) {
		panic(fmt.Sprintf("backend: DropoutMask: p = %v is not in [0, 1)", p))
	}
	keep := float32(1 / (1 - p))
	threshold := p * (1 << 24)
	key := splitmix64(seed)
	for i := range mask {
		if u := splitmix64(key+uint64(i)) >> 40; float64(u) < threshold {
			mask[i] = 0
		} else {
			mask[i] = keep
		}
	}
}

// splitmix64 is SplitMix64's output for the state z (see DropoutMask).
func splitmix64(z uint64) uint64 {
	z += 0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}
