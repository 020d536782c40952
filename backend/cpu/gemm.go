package cpu

// gemmNN computes the m×n matrix c (leading dimension ldc) as
// Σ_k a(i,k)·b[k, j] over kdim steps, where a(i,k) = a[i·sa + k·sk] (so
// either a or its transpose, row-major) and b is kdim×n row-major with
// leading dimension ldb. With acc the result is added to c (`+=`),
// otherwise it replaces it (`=`).
//
// No operand is transposed in memory: the work is cut into tiles of 4
// rows × 16 columns (nn4x16) whose k loop broadcasts a(i,k) against a
// 16-wide row of b, blocked so that a panel of b (kTile rows × nPanel
// columns) stays in cache while every row block of the worker passes over
// it. Workers split the rows.
func (cb *Backend) gemmNN(c []float32, ldc int, a []float32, sa, sk int, b []float32, ldb int, m, n, kdim int, acc bool) {
	const kTile, nPanel = 128, 256
	cb.parallel((m+3)/4, func(lo, hi int) {
		r0, r1 := lo*4, min(hi*4, m)
		for p0 := 0; p0 < n; p0 += nPanel {
			p1 := min(p0+nPanel, n)
			for k0 := 0; k0 < kdim; k0 += kTile {
				kn := min(kTile, kdim-k0)
				add := acc || k0 > 0
				for r := r0; r < r1; r += 4 {
					rows := min(4, r1-r)
					for j := p0; j < p1; j += 16 {
						cols := min(16, p1-j)
						ao, bo, co := r*sa+k0*sk, k0*ldb+j, r*ldc+j
						if rows == 4 && cols == 16 {
							nn4x16(kn, a, ao, sa, sk, b, bo, ldb, c, co, ldc, add)
						} else {
							nnTileGo(kn, a, ao, sa, sk, b, bo, ldb, c, co, ldc, rows, cols, add)
						}
					}
				}
			}
		}
		if kdim == 0 && !acc {
			for r := r0; r < r1; r++ {
				clear(c[r*ldc : r*ldc+n])
			}
		}
	})
}

// nnTileGo is gemmNN's edge tile (and, without the assembly kernel, every
// tile): rows×cols elements of c from offset co, over k steps of a (from
// offset ao) and b (from offset bo), one row at a time with axpy.
func nnTileGo(k int, a []float32, ao, sa, sk int, b []float32, bo, ldb int, c []float32, co, ldc int, rows, cols int, acc bool) {
	for i := 0; i < rows; i++ {
		ci := c[co+i*ldc : co+i*ldc+cols]
		if !acc {
			clear(ci)
		}
		for kk := 0; kk < k; kk++ {
			av := a[ao+i*sa+kk*sk]
			axpy(av, b[bo+kk*ldb:bo+kk*ldb+cols], ci)
		}
	}
}
