package quant

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func bits(f float32) uint32 { return math.Float32bits(f) }

func nextUp(f float32) float32   { return math.Nextafter32(f, float32(math.Inf(1))) }
func nextDown(f float32) float32 { return math.Nextafter32(f, float32(math.Inf(-1))) }

// TestNF4Code: the bit patterns of the float32 values of bitsandbytes'
// functional.get_4bit_type("nf4") (torch.tensor of its literals) and of the
// CUDA nf4_dequantization_lut in csrc/kernels.cu, which are the same.
func TestNF4Code(t *testing.T) {
	want := [16]uint32{
		0xbf800000, 0xbf3239b1, 0xbf066b30, 0xbeca32a0, 0xbe91a24d, 0xbe3d353f, 0xbdba7871, 0x00000000,
		0x3da2faff, 0x3e24cae3, 0x3e7c04dd, 0x3ead033a, 0x3ee1a4b8, 0x3f1007ab, 0x3f3913b3, 0x3f800000,
	}
	for k, w := range want {
		assert.Equal(t, w, bits(NF4Code[k]), "code %d", k)
		if k > 0 {
			assert.Less(t, NF4Code[k-1], NF4Code[k], "ascending at %d", k)
		}
	}
}

// TestNF4Thresholds: the 15 literals of dQuantizeNF4 (csrc/kernels.cu,
// e.g. 0.8614784181118011f) rounded from decimal to the nearest float32 (the
// bit patterns were computed exactly from the decimals with Python's
// fractions; note that torch.tensor of the Python floats rounds twice and
// gets four of them wrong). The tree compares with a strict x > threshold,
// so a value on a threshold gets the lower code and the next float32 up
// the upper one. A NaN falls through every comparison to code 0b0000.
func TestNF4Thresholds(t *testing.T) {
	want := [15]uint32{
		0xbf591cd9, 0xbf1c5270, 0xbeeb8480, 0xbeadea76, 0xbe703cec, 0xbe0d38bc, 0xbd3a7871, 0x3d22faff,
		0x3df64863, 0x3e5067e0, 0x3e9582d4, 0x3ec753f9, 0x3f006d03, 0x3f248daf, 0x3f5c89d9,
	}
	for k, th := range nf4Thresholds {
		assert.Equal(t, fmt.Sprintf("%08x", want[k]), fmt.Sprintf("%08x", bits(th)), "threshold %d", k)
		assert.Equal(t, byte(k), quantizeNF4(th), "on threshold %d", k)
		assert.Equal(t, byte(k), quantizeNF4(nextDown(th)), "just below threshold %d", k)
		assert.Equal(t, byte(k+1), quantizeNF4(nextUp(th)), "just above threshold %d", k)
		// A value exactly halfway between two codes (their float32
		// midpoint) gets the lower code, except where the rounded literal
		// lies one float32 below the midpoint (thresholds 0, 12 and 14).
		mid := float32(NF4Code[k]+NF4Code[k+1]) * 0.5
		assert.InDelta(t, mid, th, float64(nextUp(abs32(mid))-abs32(mid)), "threshold %d is the midpoint within one ulp", k)
		wantMid := byte(k)
		if k == 0 || k == 12 || k == 14 {
			wantMid = byte(k + 1)
		}
		assert.Equal(t, wantMid, quantizeNF4(mid), "on the midpoint of codes %d and %d", k, k+1)
	}
	for _, c := range []struct {
		x    float32
		want byte
	}{
		{-1, 0}, {1, 15}, {0, 7}, {NF4Code[9], 9},
		{float32(math.NaN()), 0}, {float32(math.Inf(1)), 15}, {float32(math.Inf(-1)), 0},
	} {
		assert.Equal(t, c.want, quantizeNF4(c.x), "x=%v", c.x)
	}

	// End to end: a block whose absmax is 1 scales by exactly 1, so the
	// thresholds reach the decision tree unchanged.
	w := []float32{1}
	for _, th := range nf4Thresholds {
		w = append(w, th, nextUp(th))
	}
	w = append(w, 0) // 32 elements
	q, err := Quantize(w, []int{len(w)}, 32, false)
	require.NoError(t, err)
	codes := unpack(q.Data, len(w))
	for k := range nf4Thresholds {
		assert.Equal(t, byte(k), codes[1+2*k], "on threshold %d", k)
		assert.Equal(t, byte(k+1), codes[2+2*k], "above threshold %d", k)
	}
}

func unpack(data []byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		if i%2 == 0 {
			out[i] = data[i/2] >> 4
		} else {
			out[i] = data[i/2] & 15
		}
	}
	return out
}

// TestPacking: bitsandbytes' kernel stores qvals[j] = code(vals[2j]) << 4 |
// code(vals[2j+1]) (kQuantizeBlockwise, NF4 case), so element 2i is the
// high nibble of byte i. An odd tensor's last byte pairs its last element
// with a zero the kernel loads as padding (code 7, or 0 in an all-zero
// block).
func TestPacking(t *testing.T) {
	for _, c := range []struct {
		w    []float32
		want []byte
	}{
		{[]float32{1, -1}, []byte{0xf0}},
		{[]float32{-1, 1}, []byte{0x0f}},
		{[]float32{0, 1}, []byte{0x7f}},
		{[]float32{1, -1, 0.5}, []byte{0xf0, 0xc7}}, // 0.5 -> code 12 (0.4407), padding 0 -> 7
		{[]float32{0, 0, 0}, []byte{0x00, 0x00}},    // all-zero block: NaN scaled values -> code 0, padding too
	} {
		q, err := Quantize(c.w, []int{len(c.w)}, 64, false)
		require.NoError(t, err)
		assert.Equal(t, c.want, q.Data, "%v", c.w)
	}
}

// TestHandWorkedBlock: absmax 2 gives the reciprocal 0.5, so the scaled
// values are exact halves; their codes are read off the thresholds by hand
// (e.g. -0.25 is above the 4 thresholds up to -0.3397 and below -0.2346:
// code 4).
func TestHandWorkedBlock(t *testing.T) {
	w := []float32{2, -2, 1, -0.5, 0.2, 0, -0.1, 0.09}
	codes := []byte{15, 0, 12, 4, 8, 7, 6, 8}
	q, err := Quantize(w, []int{2, 4}, 64, false)
	require.NoError(t, err)
	assert.Equal(t, []float32{2}, q.Absmax)
	assert.Equal(t, []byte{0xf0, 0xc4, 0x87, 0x68}, q.Data)
	assert.Equal(t, codes, unpack(q.Data, len(w)))
	out := make([]float32, len(w))
	q.Dequantize(out)
	for i, c := range codes {
		assert.Equal(t, NF4Code[c]*2, out[i], "element %d", i)
	}
	assert.Equal(t, "float32", q.DType)
	assert.Equal(t, 8, q.Len())
}

// TestAllZeroBlock: absmax 0 makes the kernel's reciprocal +Inf and every
// scaled value NaN, which dQuantizeNF4 maps to code 0; -1 * 0 dequantizes
// to zero. The neighbouring block is unaffected.
func TestAllZeroBlock(t *testing.T) {
	w := make([]float32, 64)
	w[40], w[41] = 0.5, -0.25
	q, err := Quantize(w, []int{64}, 32, false)
	require.NoError(t, err)
	assert.Equal(t, []float32{0, 0.5}, q.Absmax)
	assert.Equal(t, make([]byte, 16), q.Data[:16])
	out := make([]float32, 64)
	q.Dequantize(out)
	for i, v := range out {
		switch i {
		case 40:
			assert.Equal(t, float32(0.5), v)
		case 41:
			assert.Equal(t, NF4Code[2]*0.5, v) // -0.5 scaled: between -0.6106 and -0.4600 -> code 2
		default:
			assert.Zero(t, v, "element %d", i)
		}
	}
}

// dynamicMapHex is bitsandbytes' create_dynamic_map(signed=True,
// max_exponent_bits=7, total_bits=8) as run with PyTorch 1.13 on x86-64
// with ATEN_CPU_CAPABILITY=avx2 (the float32 bit patterns, ascending).
const dynamicMapHex = "" +
	"bf7e3333 bf7a9999 bf770000 bf736666 bf6fcccc bf6c3333 bf68999a bf650000 bf616666 bf5dcccc " +
	"bf5a3333 bf569999 bf530000 bf4f6666 bf4bcccc bf483333 bf44999a bf410000 bf3d6667 bf39cccd " +
	"bf363334 bf32999a bf2f0000 bf2b6667 bf27cccd bf243333 bf20999a bf1d0000 bf196666 bf15cccd " +
	"bf123334 bf0e999a bf0b0000 bf076666 bf03cccd bf003333 bef93334 bef20000 beeacccc bee3999a " +
	"bedc6666 bed53332 bece0000 bec6cccc bebf999a beb86666 beb13332 beaa0000 bea2cccc be9b999a " +
	"be946666 be8d3334 be860000 be7d999a be6f3334 be60cccd be526666 be440000 be359999 be273333 " +
	"be18cccd be0a6666 bdf80000 bddb3334 bdc9eb85 bdc428f5 bdbe6667 bdb8a3d7 bdb2e148 bdad1eb8 " +
	"bda75c28 bda1999a bd9bd70a bd96147b bd9051eb bd8a8f5d bd84cccd bd7e147a bd728f5d bd670a3d " +
	"bd5b851f bd500000 bd447ae1 bd38f5c3 bd2d70a3 bd21eb85 bd166667 bd0ae147 bcfeb852 bce7ae13 " +
	"bcd0a3d7 bcb9999a bca28f5c bc8b851f bc68f5c3 bc3ae148 bc1f3b64 bc160418 bc0ccccd bc039581 " +
	"bbf4bc6a bbe24dd3 bbcfdf3b bbbd70a4 bbab020d bb989374 bb8624dd bb676c8a bb428f5c bb1db22d " +
	"baf1a9fc baa7ef9d ba7765ff ba59e83e ba3c6a80 ba1eecc1 ba016f01 b9c7e283 b98ce705 b923d70b " +
	"b8ba1f4b b88aefb3 b8378034 b7b24206 b70205ff b65a1a94 b513a3b7 00000000 3513a3b7 365a1a94 " +
	"370205ff 37b24206 38378034 388aefb3 38ba1f4b 3923d70b 398ce705 39c7e283 3a016f01 3a1eecc1 " +
	"3a3c6a80 3a59e83e 3a7765ff 3aa7ef9d 3af1a9fc 3b1db22d 3b428f5c 3b676c8a 3b8624dd 3b989374 " +
	"3bab020d 3bbd70a4 3bcfdf3b 3be24dd3 3bf4bc6a 3c039581 3c0ccccd 3c160418 3c1f3b64 3c3ae148 " +
	"3c68f5c3 3c8b851f 3ca28f5c 3cb9999a 3cd0a3d7 3ce7ae13 3cfeb852 3d0ae147 3d166667 3d21eb85 " +
	"3d2d70a3 3d38f5c3 3d447ae1 3d500000 3d5b851f 3d670a3d 3d728f5d 3d7e147a 3d84cccd 3d8a8f5d " +
	"3d9051eb 3d96147b 3d9bd70a 3da1999a 3da75c28 3dad1eb8 3db2e148 3db8a3d7 3dbe6667 3dc428f5 " +
	"3dc9eb85 3ddb3334 3df80000 3e0a6666 3e18cccd 3e273333 3e359999 3e440000 3e526666 3e60cccd " +
	"3e6f3334 3e7d999a 3e860000 3e8d3334 3e946666 3e9b999a 3ea2cccc 3eaa0000 3eb13332 3eb86666 " +
	"3ebf999a 3ec6cccc 3ece0000 3ed53332 3edc6666 3ee3999a 3eeacccc 3ef20000 3ef93334 3f003333 " +
	"3f03cccd 3f076666 3f0b0000 3f0e999a 3f123334 3f15cccd 3f196666 3f1d0000 3f20999a 3f243333 " +
	"3f27cccd 3f2b6667 3f2f0000 3f32999a 3f363334 3f39cccd 3f3d6667 3f410000 3f44999a 3f483333 " +
	"3f4bcccc 3f4f6666 3f530000 3f569999 3f5a3333 3f5dcccc 3f616666 3f650000 3f68999a 3f6c3333 " +
	"3f6fcccc 3f736666 3f770000 3f7a9999 3f7e3333 3f800000"

func TestDynamicMap(t *testing.T) {
	m := DynamicMap()
	words := strings.Fields(dynamicMapHex)
	require.Len(t, words, 256)
	for i, w := range words {
		b, err := strconv.ParseUint(w, 16, 32)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("%08x", b), fmt.Sprintf("%08x", bits(m[i])), "entry %d", i)
	}
	// The shape of the map (create_dynamic_map's construction): 127
	// negatives mirroring the 127 positives, 0 at 127 and 1 at 255.
	assert.Zero(t, m[127])
	assert.Equal(t, float32(1), m[255])
	for k := range 127 {
		assert.Equal(t, -m[254-k], m[k], "mirror of %d", k)
		assert.Less(t, m[k], m[k+1])
	}
	m[0] = 5
	assert.NotEqual(t, float32(5), DynamicMap()[0], "DynamicMap returns a copy")
}

// TestQuantize8 follows bitsandbytes' CUDA dQuantize<0> (csrc/kernels.cu)
// by hand: a 7-step binary search from index 127, then x against the
// float32 midpoint of the final pivot and its neighbour across x, keeping
// the pivot when x is exactly on it. The expected indices were traced
// through that code.
func TestQuantize8(t *testing.T) {
	c := DynamicMap()
	mid := func(a, b int) float32 { return float32(c[a]+c[b]) * 0.5 }
	for _, tc := range []struct {
		name string
		x    float32
		want uint8
	}{
		{"1 (the block's absmax) reaches 255 via upper_pivot", 1, 255},
		{"-1 ends at lower_pivot 0", -1, 0},
		{"0 is code 127", 0, 127},
		{"a code value maps to itself", c[200], 200},
		{"tie 127|128: pivot 128 after descending from 191", mid(127, 128), 128},
		{"just below tie 127|128", nextDown(mid(127, 128)), 127},
		{"tie 128|129: pivot 128, the lower neighbour", mid(128, 129), 128},
		{"just above tie 128|129", nextUp(mid(128, 129)), 129},
		{"tie 126|127: pivot 126 after ascending from 63", mid(126, 127), 126},
		{"tie 254|255: pivot 254", mid(254, 255), 254},
		{"just above tie 254|255", nextUp(mid(254, 255)), 255},
		{"NaN falls to pivot 0", float32(math.NaN()), 0},
	} {
		assert.Equal(t, tc.want, quantize8(&c, tc.x), tc.name)
	}

	// Away from exact ties the search finds the nearest code: no code is
	// nearer than the chosen one by more than float32 rounding of the
	// midpoint.
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		x := float32(r.Float64()*2 - 1)
		if r.IntN(2) == 0 {
			x = c[r.IntN(256)] * float32(1+1e-3*r.NormFloat64())
		}
		got := float64(c[quantize8(&c, x)])
		best := math.Inf(1)
		for _, v := range c {
			best = min(best, math.Abs(float64(x)-float64(v)))
		}
		require.LessOrEqual(t, math.Abs(float64(x)-got), best+1e-7, "x=%v", x)
	}
}

// maxHalfGap is half the largest distance between adjacent entries of an
// ascending code: the worst quantization error of a value inside it.
func maxHalfGap(code []float32) float64 {
	var g float64
	for k := 1; k < len(code); k++ {
		g = max(g, (float64(code[k])-float64(code[k-1]))/2)
	}
	return g
}

func blockAbsmax(w []float32, bs int) []float32 {
	out := make([]float32, (len(w)+bs-1)/bs)
	for i, v := range w {
		out[i/bs] = max(out[i/bs], abs32(v))
	}
	return out
}

func randn(r *rand.Rand, n int, std float64) []float32 {
	w := make([]float32, n)
	for i := range w {
		w[i] = float32(r.NormFloat64() * std)
	}
	return w
}

// TestRoundTripErrorBound: every element dequantizes to within
// absmax*(max half gap of the NF4 code) of itself, plus, with double
// quantization, the error of its block's scale, which is at most the
// nested absmax times the max half gap of the dynamic map. The slack
// covers float32 rounding. Block sizes 32..4096, lengths that are not a
// multiple of the block size, odd lengths and enough blocks for several
// nested blocks.
func TestRoundTripErrorBound(t *testing.T) {
	nfGap := maxHalfGap(NF4Code[:])
	dm := DynamicMap()
	dynGap := maxHalfGap(dm[:])
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		shape []int
		bs    int
	}{
		{[]int{7, 9}, 32}, {[]int{1, 64}, 64}, {[]int{300, 129}, 64}, {[]int{129, 301}, 128},
		{[]int{17, 31}, 256}, {[]int{1001}, 512}, {[]int{33, 65}, 1024}, {[]int{5, 1000}, 2048},
		{[]int{3, 4097}, 4096}, {[]int{600, 257}, 32},
	} {
		for _, double := range []bool{false, true} {
			name := fmt.Sprintf("%v bs=%d double=%v", c.shape, c.bs, double)
			n := c.shape[0]
			if len(c.shape) == 2 {
				n *= c.shape[1]
			}
			w := randn(r, n, 0.02)
			q, err := Quantize(w, c.shape, c.bs, double)
			require.NoError(t, err, name)
			require.Len(t, q.Data, (n+1)/2, name)
			am := blockAbsmax(w, c.bs)
			scales := q.Scales()
			require.Len(t, scales, len(am), name)
			if double {
				require.Nil(t, q.Absmax, name)
				require.Len(t, q.Double.QAbsmax, len(am), name)
				require.Len(t, q.Double.Absmax, (len(am)+255)/256, name)
			} else {
				require.Equal(t, am, q.Absmax, name)
			}
			out := make([]float32, n)
			q.Dequantize(out)
			worst := 0.0
			for i, x := range w {
				b := i / c.bs
				scaleErr := math.Abs(float64(scales[b]) - float64(am[b]))
				if double {
					require.LessOrEqual(t, scaleErr, float64(q.Double.Absmax[b/256])*dynGap+1e-6*float64(am[b]), "%s block %d scale", name, b)
				} else {
					require.Zero(t, scaleErr)
				}
				bound := float64(am[b])*nfGap + scaleErr + 1e-6*float64(am[b])
				e := math.Abs(float64(x) - float64(out[i]))
				require.LessOrEqual(t, e, bound, "%s element %d", name, i)
				worst = max(worst, e/float64(am[b]))
			}
			assert.Greater(t, worst, 0.5*nfGap, "%s: the bound is not vacuous", name)
		}
	}
}

// TestDoubleQuant checks quantize_4bit's compress_statistics step: the
// offset is the mean of the absmax values, each nested block of 256 keeps
// the absolute maximum of absmax-offset, the map is the dynamic map, and
// each quantized absmax is the nearest dynamic-map value (within float32
// rounding).
func TestDoubleQuant(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	w := randn(r, 64*600+1, 0.03)
	for i := range 64 { // one block much larger than the rest
		w[64*7+i] *= 20
	}
	q, err := Quantize(w, []int{len(w)}, 64, true)
	require.NoError(t, err)
	d := q.Double
	am := blockAbsmax(w, 64)
	require.Len(t, am, 601)
	var sum float64
	for _, a := range am {
		sum += float64(a)
	}
	assert.Equal(t, float32(sum/601), d.Offset)
	assert.Equal(t, 256, d.BlockSize)
	assert.Equal(t, DynamicMap(), d.Code)
	require.Len(t, d.Absmax, 3)
	for j, nested := range d.Absmax {
		var m float32
		for _, a := range am[j*256 : min((j+1)*256, len(am))] {
			m = max(m, abs32(a-d.Offset))
		}
		assert.Equal(t, m, nested, "nested block %d", j)
	}
	for i, a := range am {
		diff := float64(a - d.Offset)
		nested := float64(d.Absmax[i/256])
		got := math.Abs(float64(d.Code[d.QAbsmax[i]])*nested - diff)
		best := math.Inf(1)
		for _, v := range d.Code {
			best = min(best, math.Abs(float64(v)*nested-diff))
		}
		assert.LessOrEqual(t, got, best+1e-7*nested, "absmax %d", i)
	}
	// The scale of the large block comes back close to its absmax.
	assert.InDelta(t, am[7], q.Scales()[7], float64(am[7])*0.01)
}

// TestSingleBlockDouble: with one block the offset is its absmax, the
// difference and the nested absmax are 0, the scaled difference is 0*Inf =
// NaN, and dQuantize maps NaN to index 0; code[0]*0 + offset gives the
// absmax back exactly.
func TestSingleBlockDouble(t *testing.T) {
	w := []float32{0.5, -0.25, 0.125}
	q, err := Quantize(w, []int{3}, 64, true)
	require.NoError(t, err)
	assert.Equal(t, float32(0.5), q.Double.Offset)
	assert.Equal(t, []float32{0}, q.Double.Absmax)
	assert.Equal(t, []uint8{0}, q.Double.QAbsmax)
	assert.Equal(t, []float32{0.5}, q.Scales())
}

func TestDequantizeRange(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, double := range []bool{false, true} {
		w := randn(r, 37*129, 1)
		q, err := Quantize(w, []int{37, 129}, 64, double)
		require.NoError(t, err)
		full := make([]float32, q.Len())
		q.Dequantize(full)
		for range 300 {
			start := r.IntN(len(w) + 1)
			n := r.IntN(len(w) - start + 1)
			out := make([]float32, n)
			q.DequantizeRange(out, start)
			require.Equal(t, full[start:start+n], out, "double=%v [%d, %d)", double, start, start+n)
		}
		// Whole rows, the way the training loop tiles a projection.
		row := make([]float32, 129)
		for i := range 37 {
			q.DequantizeRange(row, i*129)
			require.Equal(t, full[i*129:(i+1)*129], row)
		}
	}
}

// lcg returns n float32 values from a 32-bit linear congruential generator
// (multiplier 1664525, increment 1013904223), each a signed 24-bit integer
// times 2^-28, so that Go and Python produce the same exact inputs.
func lcg(n int, seed uint32) []float32 {
	w := make([]float32, n)
	s := seed
	for i := range w {
		s = s*1664525 + 1013904223
		w[i] = float32(int32(s)>>8) * (1.0 / (1 << 28))
	}
	return w
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

func f32digest(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return digest(b)
}

// TestTorchGolden compares with an independent PyTorch reimplementation of
// bitsandbytes' CUDA quantize_4bit (float32 reciprocal scaling, the
// dQuantizeNF4 thresholds, high-nibble-first packing, the dQuantize binary
// search over create_dynamic_map() run under ATEN_CPU_CAPABILITY=avx2) on
// the same lcg inputs with one all-zero block; the digests are the first 8
// bytes of SHA-256 of the packed codes, the uint8 and little-endian float32
// arrays it printed.
func TestTorchGolden(t *testing.T) {
	for _, c := range []struct {
		n, bs             int
		double            bool
		seed              uint32
		zeroBlock         int
		packed, head, deq string
		absmax            string // single quantization
		qabsmax, nested   string // double quantization
		offset            uint32
	}{
		{n: 19237, bs: 64, double: true, seed: 1, zeroBlock: 5, packed: "c00fac1edb300b2e", head: "ce028e3071de14c7",
			deq: "38f5018371132218", qabsmax: "13482722e86c1f02", nested: "cb05e03de87ecaa0", offset: 0x3cfb6e35},
		{n: 1001, bs: 128, seed: 2, zeroBlock: 3, packed: "1bdd62c625db3c26", head: "cfb22acf012a03ff",
			deq: "be45b32e07fda534", absmax: "aa74b0bd610337de"},
		{n: 70001, bs: 32, double: true, seed: 3, zeroBlock: 40, packed: "e7a642a5c04ec0e2", head: "c043e41e82b30215",
			deq: "ed40007de621bada", qabsmax: "c26207de5989b822", nested: "c73efaa92b47ac6e", offset: 0x3cf82e30},
	} {
		name := fmt.Sprintf("n=%d bs=%d double=%v", c.n, c.bs, c.double)
		w := lcg(c.n, c.seed)
		clear(w[c.zeroBlock*c.bs : (c.zeroBlock+1)*c.bs])
		q, err := Quantize(w, []int{c.n}, c.bs, c.double)
		require.NoError(t, err, name)
		assert.Equal(t, c.packed, digest(q.Data), name)
		assert.Equal(t, c.head, hex.EncodeToString(q.Data[:8]), name)
		out := make([]float32, c.n)
		q.Dequantize(out)
		assert.Equal(t, c.deq, f32digest(out), name)
		if c.double {
			assert.Equal(t, c.qabsmax, digest(q.Double.QAbsmax), name)
			assert.Equal(t, c.nested, f32digest(q.Double.Absmax), name)
			assert.Equal(t, fmt.Sprintf("%08x", c.offset), fmt.Sprintf("%08x", bits(q.Double.Offset)), name)
		} else {
			assert.Equal(t, c.absmax, f32digest(q.Absmax), name)
		}
	}
}

func TestQuantizeErrors(t *testing.T) {
	w := []float32{1, 2, 3, 4, 5, 6}
	for _, c := range []struct {
		name  string
		w     []float32
		shape []int
		bs    int
		want  string
	}{
		{"block size 0", w, []int{6}, 0, "quant: block size 0 is not a power of two from 32 to 4096"},
		{"block size 16", w, []int{6}, 16, "block size 16 is not"},
		{"block size 48", w, []int{6}, 48, "block size 48 is not"},
		{"block size 8192", w, []int{6}, 8192, "block size 8192 is not"},
		{"shape mismatch", w, []int{2, 4}, 64, "quant: shape [2 4] holds 8 elements but 6 values were given"},
		{"negative dimension", w, []int{-6}, 64, "negative dimension in shape [-6]"},
		{"empty", nil, []int{0, 3}, 64, "quant: shape [0 3] holds no elements"},
		{"overflow", w, []int{1 << 40, 1 << 40}, 64, "quant: shape [1099511627776 1099511627776] holds too many elements"},
		{"NaN", []float32{1, float32(math.NaN())}, []int{2}, 64, "quant: element 1 is NaN"},
		{"Inf", []float32{float32(math.Inf(-1))}, []int{1}, 64, "quant: element 0 is -Inf"},
	} {
		for _, double := range []bool{false, true} {
			_, err := Quantize(c.w, c.shape, c.bs, double)
			require.Error(t, err, c.name)
			assert.Contains(t, err.Error(), c.want, c.name)
		}
	}
}

func TestDequantizePanics(t *testing.T) {
	q, err := Quantize([]float32{1, 2, 3}, []int{3}, 64, false)
	require.NoError(t, err)
	assert.PanicsWithValue(t, "quant: Dequantize: out holds 4 elements but the tensor has 3",
		func() { q.Dequantize(make([]float32, 4)) })
	assert.PanicsWithValue(t, "quant: DequantizeRange: range [2, 4) is not inside the tensor's [0, 3)",
		func() { q.DequantizeRange(make([]float32, 2), 2) })
	assert.PanicsWithValue(t, "quant: DequantizeRange: range [-1, 0) is not inside the tensor's [0, 3)",
		func() { q.DequantizeRange(make([]float32, 1), -1) })
	assert.NotPanics(t, func() { q.DequantizeRange(nil, 3) })
}

// TestBytes: packed codes plus the statistics, as the memory report counts
// them.
func TestBytes(t *testing.T) {
	w := make([]float32, 64*300+1)
	w[0] = 1
	single, err := Quantize(w, []int{len(w)}, 64, false)
	require.NoError(t, err)
	assert.Equal(t, 9601+4*301, single.Bytes())
	double, err := Quantize(w, []int{len(w)}, 64, true)
	require.NoError(t, err)
	assert.Equal(t, 9601+301+4*2+4*256+4, double.Bytes())
	assert.Equal(t, single.Absmax, single.Scales())
}

// BenchmarkDequantize measures the dequantization of a Qwen2.5-0.5B MLP
// projection (4864x896, blocks of 64, double-quantized); the bytes are
// those of the float32 output.
func BenchmarkDequantize(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 10))
	w := randn(r, 4864*896, 0.02)
	q, err := Quantize(w, []int{4864, 896}, 64, true)
	require.NoError(b, err)
	out := make([]float32, len(w))
	b.SetBytes(int64(4 * len(out)))
	for b.Loop() {
		q.Dequantize(out)
	}
}
