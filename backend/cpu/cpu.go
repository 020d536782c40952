package cpu

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/tune-dev/tune/backend"
)

// buf is the CPU buffer: a float32 slice in host memory.
type buf struct{ d []float32 }

func (b *buf) Len() int { return len(b.d) }

// Backend is the CPU implementation of backend.Backend.
type Backend struct {
	threads int
	tmp     [1][]float32 // scratch reused by Dropout for its mask
}

var _ backend.Backend = (*Backend)(nil)

// New returns a CPU backend that uses threads goroutines per op; 0 means
// runtime.GOMAXPROCS(0).
func New(threads int) *Backend {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	return &Backend{threads: threads}
}

// Name implements backend.Backend.
func (c *Backend) Name() string { return fmt.Sprintf("cpu (float32, %d threads)", c.threads) }

// Ops implements backend.Memory: every op of backend.Backend, none of the
// fused ones (the CPU gains nothing from them).
func (c *Backend) Ops() backend.OpSet { return backend.BackendOps }

// Alloc implements backend.Backend.
func (c *Backend) Alloc(n int) backend.Buffer {
	if n < 0 {
		panic(fmt.Sprintf("cpu: Alloc of %d elements", n))
	}
	return &buf{d: make([]float32, n)}
}

// ActivationDType implements backend.Memory: activations are float32.
func (c *Backend) ActivationDType() backend.DType { return backend.Float32 }

// AllocActivation implements backend.Memory: the same as Alloc.
func (c *Backend) AllocActivation(n int) backend.Buffer { return c.Alloc(n) }

// WeightDType implements backend.Memory: frozen weights are float32.
func (c *Backend) WeightDType() backend.DType { return backend.Float32 }

// AllocWeight implements backend.Memory: the same as Alloc.
func (c *Backend) AllocWeight(n int) backend.Buffer { return c.Alloc(n) }

// Free implements backend.Backend. The garbage collector reclaims host
// memory; Free drops the reference so a stale use panics.
func (c *Backend) Free(b backend.Buffer) {
	switch v := b.(type) {
	case *buf:
		v.d = nil
	case *nf4buf:
		v.q = nil
	}
}

// Slice implements backend.Backend.
func (c *Backend) Slice(b backend.Buffer, off, n int) backend.Buffer {
	d := b.(*buf).d
	if off < 0 || n < 0 || off+n > len(d) {
		panic(fmt.Sprintf("cpu: Slice [%d:%d] of a buffer of %d elements", off, off+n, len(d)))
	}
	return &buf{d: d[off : off+n : off+n]}
}

// Upload implements backend.Backend.
func (c *Backend) Upload(dst backend.Buffer, src []float32) {
	copy(data(dst, len(src), "Upload dst"), src)
}

// Download implements backend.Backend.
func (c *Backend) Download(dst []float32, src backend.Buffer) {
	copy(dst, data(src, len(dst), "Download src"))
}

// Zero implements backend.Memory.
func (c *Backend) Zero(b backend.Buffer, n int) { clear(data(b, n, "Zero")) }

// Data exposes the host slice behind a CPU buffer, for callers that know
// they run on the CPU (tests, the loss on host logits).
func Data(b backend.Buffer) []float32 { return b.(*buf).d }

// data returns the first n elements of b, panicking with both sizes when b
// is too small.
func data(b backend.Buffer, n int, what string) []float32 {
	d := b.(*buf).d
	if len(d) < n {
		panic(fmt.Sprintf("cpu: %s holds %d elements, op needs %d", what, len(d), n))
	}
	return d[:n]
}

// parallel runs f over [0, n) split into contiguous chunks, one per worker.
func (c *Backend) parallel(n int, f func(lo, hi int)) {
	workers := c.threads
	if workers > n {
		workers = n
	}
	if workers <= 1 {
		if n > 0 {
			f(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	wg.Add(workers)
	for w := 0; w < workers; w++ {
		lo, hi := n*w/workers, n*(w+1)/workers
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}

// Embedding implements backend.Backend.
func (c *Backend) Embedding(out, table backend.Buffer, ids []int32, dim int) {
	t := table.(*buf).d
	vocab := len(t) / dim
	o := data(out, len(ids)*dim, "Embedding out")
	for i, id := range ids {
		if id < 0 || int(id) >= vocab {
			panic(fmt.Sprintf("cpu: Embedding id %d at position %d outside vocab [0, %d)", id, i, vocab))
		}
		copy(o[i*dim:(i+1)*dim], t[int(id)*dim:(int(id)+1)*dim])
	}
}

// RMSNorm implements backend.Backend.
func (c *Backend) RMSNorm(out, x, w backend.Buffer, rows, dim int, eps float32) {
	o := data(out, rows*dim, "RMSNorm out")
	xs := data(x, rows*dim, "RMSNorm x")
	ws := data(w, dim, "RMSNorm w")
	c.parallel(rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := xs[r*dim : (r+1)*dim]
			var ss float64
			for _, v := range xr {
				ss += float64(v) * float64(v)
			}
			// HF: variance in float32, x * rsqrt(variance + eps), then * w.
			inv := float32(1 / math.Sqrt(float64(float32(ss/float64(dim))+eps)))
			or := o[r*dim : (r+1)*dim]
			for j, v := range xr {
				or[j] = ws[j] * (v * inv)
			}
		}
	})
}

// Linear implements backend.Backend.
func (c *Backend) Linear(out, x, w, bias backend.Buffer, rows, in, outDim int) {
	o := data(out, rows*outDim, "Linear out")
	xs := data(x, rows*in, "Linear x")
	ws := data(w, outDim*in, "Linear w")
	var bs []float32
	if bias != nil {
		bs = data(bias, outDim, "Linear bias")
	}
	// Split the output features across workers; each worker walks its
	// slice in tiles of rowBlock rows × featBlock features, so that a tile
	// of w (featBlock × in, 56 KiB at in = 896) stays in cache while every
	// row pair of the block passes over it.
	const rowBlock, featBlock = 64, 16
	c.parallel((outDim+3)/4, func(lo, hi int) {
		oLo, oHi := lo*4, min(hi*4, outDim)
		for r0 := 0; r0 < rows; r0 += rowBlock {
			r1 := min(r0+rowBlock, rows)
			for f0 := oLo; f0 < oHi; f0 += featBlock {
				linearBlock(o, xs, ws, bs, r0, r1, f0, min(f0+featBlock, oHi), in, outDim)
			}
		}
	})
}

// linearBlock computes out rows [r0,r1) × features [o0,o1) with a 2×4
// register tile (see dot2x4).
func linearBlock(o, x, w, b []float32, r0, r1, o0, o1, in, outDim int) {
	r := r0
	for ; r+2 <= r1; r += 2 {
		x0 := x[r*in : (r+1)*in]
		x1 := x[(r+1)*in : (r+2)*in]
		f := o0
		for ; f+4 <= o1; f += 4 {
			a := dot2x4(x0, x1, w[f*in:(f+1)*in], w[(f+1)*in:(f+2)*in], w[(f+2)*in:(f+3)*in], w[(f+3)*in:(f+4)*in])
			p, q := o[r*outDim+f:r*outDim+f+4], o[(r+1)*outDim+f:(r+1)*outDim+f+4]
			for j := 0; j < 4; j++ {
				p[j] = a[j] + biasAt(b, f+j)
				q[j] = a[4+j] + biasAt(b, f+j)
			}
		}
		for ; f < o1; f++ {
			o[r*outDim+f] = dot(x0, w[f*in:(f+1)*in]) + biasAt(b, f)
			o[(r+1)*outDim+f] = dot(x1, w[f*in:(f+1)*in]) + biasAt(b, f)
		}
	}
	// A row left without a partner runs the same tile with itself as the
	// partner: a row's outputs never depend on the rows beside it, so a
	// token gets bit-identical activations alone or in any batch (the
	// server's batched greedy answers equal the same requests run alone).
	for ; r < r1; r++ {
		xr := x[r*in : (r+1)*in]
		f := o0
		for ; f+4 <= o1; f += 4 {
			a := dot2x4(xr, xr, w[f*in:(f+1)*in], w[(f+1)*in:(f+2)*in], w[(f+2)*in:(f+3)*in], w[(f+3)*in:(f+4)*in])
			p := o[r*outDim+f : r*outDim+f+4]
			for j := 0; j < 4; j++ {
				p[j] = a[j] + biasAt(b, f+j)
			}
		}
		for ; f < o1; f++ {
			o[r*outDim+f] = dot(xr, w[f*in:(f+1)*in]) + biasAt(b, f)
		}
	}
}

// dot2x4Go is the portable 2×4 tile: the dot products of rows x0, x1 with
// rows w0..w3, returned as [x0·w0, x0·w1, x0·w2, x0·w3, x1·w0, ..., x1·w3].
func dot2x4Go(x0, x1, w0, w1, w2, w3 []float32) [8]float32 {
	x1, w0, w1, w2, w3 = x1[:len(x0)], w0[:len(x0)], w1[:len(x0)], w2[:len(x0)], w3[:len(x0)]
	var a00, a01, a02, a03, a10, a11, a12, a13 float32
	for k := range x0 {
		xa, xb := x0[k], x1[k]
		wa, wb, wc, wd := w0[k], w1[k], w2[k], w3[k]
		a00 += xa * wa
		a01 += xa * wb
		a02 += xa * wc
		a03 += xa * wd
		a10 += xb * wa
		a11 += xb * wb
		a12 += xb * wc
		a13 += xb * wd
	}
	return [8]float32{a00, a01, a02, a03, a10, a11, a12, a13}
}

func biasAt(b []float32, f int) float32 {
	if b == nil {
		return 0
	}
	return b[f]
}

// axpyGo computes y += a*x.
func axpyGo(a float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}

// dotGo is a float32 dot product with four independent accumulators.
func dotGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	k := 0
	for ; k+4 <= len(a); k += 4 {
		s0 += a[k] * b[k]
		s1 += a[k+1] * b[k+1]
		s2 += a[k+2] * b[k+2]
		s3 += a[k+3] * b[k+3]
	}
	for ; k < len(a); k++ {
		s0 += a[k] * b[k]
	}
	return (s0 + s1) + (s2 + s3)
}

// RoPE implements backend.Backend.
func (c *Backend) RoPE(x backend.Buffer, pos []int32, rows, heads int, invFreq []float32) {
	c.rope(x, pos, rows, heads, invFreq, 1)
}

// rope rotates by sign·angle: 1 for RoPE, -1 for its transpose.
func (c *Backend) rope(x backend.Buffer, pos []int32, rows, heads int, inv []float32, sign float32) {
	if len(pos) < rows {
		panic(fmt.Sprintf("cpu: RoPE has %d positions for %d rows", len(pos), rows))
	}
	half := len(inv)
	headDim := 2 * half
	xs := data(x, rows*heads*headDim, "RoPE x")
	c.parallel(rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			p := float32(pos[r])
			row := xs[r*heads*headDim : (r+1)*heads*headDim]
			for j := 0; j < half; j++ {
				// HF builds the angle in float32, then takes cos and sin.
				a := float64(p * inv[j])
				cs, sn := float32(math.Cos(a)), sign*float32(math.Sin(a))
				for h := 0; h < heads; h++ {
					x1, x2 := row[h*headDim+j], row[h*headDim+j+half]
					row[h*headDim+j] = x1*cs - x2*sn
					row[h*headDim+j+half] = x2*cs + x1*sn
				}
			}
		}
	})
}

// checkAttn panics on an inconsistent attention shape or a short mask.
func checkAttn(s backend.AttnShape, keyMask []int32) {
	if s.KVHeads <= 0 || s.Heads%s.KVHeads != 0 {
		panic(fmt.Sprintf("cpu: Attention with %d heads and %d kv heads", s.Heads, s.KVHeads))
	}
	if s.KV > s.KVStride {
		panic(fmt.Sprintf("cpu: Attention KV %d exceeds KVStride %d", s.KV, s.KVStride))
	}
	if keyMask != nil && len(keyMask) < s.Batch*s.KVStride {
		panic(fmt.Sprintf("cpu: Attention key mask has %d entries, needs %d", len(keyMask), s.Batch*s.KVStride))
	}
}

// attnProbs fills p[0..last] with the softmax weights of query qv (at
// absolute position qpos of batch row b, kv head kh) over the keys it may
// see (0 for the others) and returns their log-sum-exp, and whether it
// sees any key.
func attnProbs(p, qv, ks []float32, keyMask []int32, s backend.AttnShape, b, kh, qpos, last int, scale float32) (float32, bool) {
	kd := s.KVHeads * s.HeadDim
	var seg int32
	if keyMask != nil && qpos < s.KVStride {
		seg = keyMask[b*s.KVStride+qpos]
	}
	mx := float32(math.Inf(-1))
	seen := false
	for j := 0; j <= last; j++ {
		if keyMask != nil {
			m := keyMask[b*s.KVStride+j]
			if m == 0 || (seg != 0 && m != seg) {
				p[j] = float32(math.Inf(-1))
				continue
			}
		}
		at := (b*s.KVStride+j)*kd + kh*s.HeadDim
		sc := dot(qv, ks[at:at+s.HeadDim]) * scale
		p[j] = sc
		mx = max(mx, sc)
		seen = true
	}
	if !seen {
		return 0, false
	}
	var sum float32
	for j := 0; j <= last; j++ {
		e := float32(math.Exp(float64(p[j] - mx)))
		p[j] = e
		sum += e
	}
	for j := 0; j <= last; j++ {
		p[j] /= sum
	}
	return mx + float32(math.Log(float64(sum))), true
}

// Attention implements backend.Backend.
func (c *Backend) Attention(out, lse, q, k, v backend.Buffer, keyMask []int32, s backend.AttnShape) {
	checkAttn(s, keyMask)
	qd, kd := s.Heads*s.HeadDim, s.KVHeads*s.HeadDim
	o := data(out, s.Batch*s.Q*qd, "Attention out")
	var ls []float32
	if lse != nil {
		ls = data(lse, s.Batch*s.Heads*s.Q, "Attention lse")
	}
	qs := data(q, s.Batch*s.Q*qd, "Attention q")
	ks := data(k, s.Batch*s.KVStride*kd, "Attention k")
	vs := data(v, s.Batch*s.KVStride*kd, "Attention v")
	rep := s.Heads / s.KVHeads
	scale := float32(1 / math.Sqrt(float64(s.HeadDim)))
	c.parallel(s.Batch*s.Heads, func(lo, hi int) {
		p := make([]float32, s.KV)
		for bh := lo; bh < hi; bh++ {
			b, h := bh/s.Heads, bh%s.Heads
			kh := h / rep
			for i := 0; i < s.Q; i++ {
				at := (b*s.Q+i)*qd + h*s.HeadDim
				ov := o[at : at+s.HeadDim]
				clear(ov)
				last := min(s.QStart+i, s.KV-1)
				l, ok := attnProbs(p, qs[at:at+s.HeadDim], ks, keyMask, s, b, kh, s.QStart+i, last, scale)
				if ls != nil {
					ls[bh*s.Q+i] = l
				}
				if !ok {
					continue
				}
				for j := 0; j <= last; j++ {
					if p[j] == 0 {
						continue
					}
					kat := (b*s.KVStride+j)*kd + kh*s.HeadDim
					axpy(p[j], vs[kat:kat+s.HeadDim], ov)
				}
			}
		}
	})
}

// SiLUMul implements backend.Backend.
func (c *Backend) SiLUMul(out, gate, up backend.Buffer, n int) {
	o := data(out, n, "SiLUMul out")
	g := data(gate, n, "SiLUMul gate")
	u := data(up, n, "SiLUMul up")
	c.parallel(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x := g[i]
			o[i] = x / (1 + float32(math.Exp(float64(-x)))) * u[i]
		}
	})
}

// Add implements backend.Backend.
func (c *Backend) Add(out, a, b backend.Buffer, n int) {
	o := data(out, n, "Add out")
	as := data(a, n, "Add a")
	bs := data(b, n, "Add b")
	for i := range o {
		o[i] = as[i] + bs[i]
	}
}

// AddScaled implements backend.Backend.
func (c *Backend) AddScaled(out, x backend.Buffer, s float32, n int) {
	o := data(out, n, "AddScaled out")
	xs := data(x, n, "AddScaled x")
	for i := range o {
		o[i] += s * xs[i]
	}
}

// CrossEntropy implements backend.Backend.
func (c *Backend) CrossEntropy(loss []float64, logits backend.Buffer, targets []int32, rows, vocab int) {
	l := data(logits, rows*vocab, "CrossEntropy logits")
	if len(loss) < rows || len(targets) < rows {
		panic(fmt.Sprintf("cpu: CrossEntropy has %d losses and %d targets for %d rows", len(loss), len(targets), rows))
	}
	c.parallel(rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			t := targets[r]
			if t == backend.IgnoreIndex {
				loss[r] = 0
				continue
			}
			if t < 0 || int(t) >= vocab {
				panic(fmt.Sprintf("cpu: CrossEntropy target %d at row %d outside vocab [0, %d)", t, r, vocab))
			}
			row := l[r*vocab : (r+1)*vocab]
			mx := row[0]
			for _, v := range row {
				if v > mx {
					mx = v
				}
			}
			var sum float64
			for _, v := range row {
				sum += math.Exp(float64(v - mx))
			}
			loss[r] = float64(mx) + math.Log(sum) - float64(row[t])
		}
	})
}
