#include "textflag.h"

// REDUCE sums the eight lanes of y (whose low half is x) into the float32
// at off(DX).
#define REDUCE(y, x, off) \
	VEXTRACTF128 $1, y, X8 \
	VADDPS       X8, x, x  \
	VHADDPS      x, x, x   \
	VHADDPS      x, x, x   \
	VMOVSS       x, off(DX)

// func dot2x4avx(x0, x1, w0, w1, w2, w3 *float32, n int, out *[8]float32)
//
// Y0..Y3 accumulate x0·w0..w3 and Y4..Y7 accumulate x1·w0..w3, eight lanes
// each; the lanes of each are then summed into out[0..7].
TEXT ·dot2x4avx(SB), NOSPLIT, $0-64
	MOVQ x0+0(FP), SI
	MOVQ x1+8(FP), DI
	MOVQ w0+16(FP), R8
	MOVQ w1+24(FP), R9
	MOVQ w2+32(FP), R10
	MOVQ w3+40(FP), R11
	MOVQ n+48(FP), CX
	MOVQ out+56(FP), DX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ AX, AX
	SHRQ $3, CX
	JZ   done

loop:
	VMOVUPS (SI)(AX*1), Y8
	VMOVUPS (DI)(AX*1), Y9
	VMOVUPS (R8)(AX*1), Y10
	VFMADD231PS Y10, Y8, Y0
	VFMADD231PS Y10, Y9, Y4
	VMOVUPS (R9)(AX*1), Y11
	VFMADD231PS Y11, Y8, Y1
	VFMADD231PS Y11, Y9, Y5
	VMOVUPS (R10)(AX*1), Y12
	VFMADD231PS Y12, Y8, Y2
	VFMADD231PS Y12, Y9, Y6
	VMOVUPS (R11)(AX*1), Y13
	VFMADD231PS Y13, Y8, Y3
	VFMADD231PS Y13, Y9, Y7
	ADDQ $32, AX
	DECQ CX
	JNZ  loop

done:
	REDUCE(Y0, X0, 0)
	REDUCE(Y1, X1, 4)
	REDUCE(Y2, X2, 8)
	REDUCE(Y3, X3, 12)
	REDUCE(Y4, X4, 16)
	REDUCE(Y5, X5, 20)
	REDUCE(Y6, X6, 24)
	REDUCE(Y7, X7, 28)
	VZEROUPPER
	RET

// func dotavx(a, b *float32, n int) float32
//
// The dot product of the first n (a multiple of 8) elements.
TEXT ·dotavx(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	XORQ AX, AX
	SHRQ $3, CX
	JZ   dsum

dloop:
	VMOVUPS (SI)(AX*1), Y2
	VFMADD231PS (DI)(AX*1), Y2, Y0
	ADDQ $32, AX
	DECQ CX
	JNZ  dloop

dsum:
	VEXTRACTF128 $1, Y0, X8
	VADDPS       X8, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VMOVSS       X0, ret+24(FP)
	VZEROUPPER
	RET

// func axpyavx(a float32, x, y *float32, n int)
//
// y[i] += a*x[i] for the first n (a multiple of 8) elements.
TEXT ·axpyavx(SB), NOSPLIT, $0-32
	VBROADCASTSS a+0(FP), Y0
	MOVQ x+8(FP), SI
	MOVQ y+16(FP), DI
	MOVQ n+24(FP), CX
	XORQ AX, AX
	SHRQ $3, CX
	JZ   adone

aloop:
	VMOVUPS (DI)(AX*1), Y1
	VFMADD231PS (SI)(AX*1), Y0, Y1
	VMOVUPS Y1, (DI)(AX*1)
	ADDQ $32, AX
	DECQ CX
	JNZ  aloop

adone:
	VZEROUPPER
	RET

// func nn4x16avx(k int, a *float32, sa, sk int, b *float32, ldb int, c *float32, ldc int, acc bool)
//
// The 4×16 tile of c (rows 4 apart by ldc bytes) gets Σ_k a(i,k)·b[k, 0:16]
// for i = 0..3, where a(i,k) is the float32 at a + i·sa + k·sk (bytes) and
// b's rows are ldb bytes apart; with acc the tile is added to c, otherwise
// it replaces it. Y0..Y7 hold the tile: two 8-lane registers per row.
TEXT ·nn4x16avx(SB), NOSPLIT, $0-65
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ sa+16(FP), R8
	MOVQ sk+24(FP), R9
	MOVQ b+32(FP), DI
	MOVQ ldb+40(FP), R10
	MOVQ c+48(FP), DX
	MOVQ ldc+56(FP), R11
	LEAQ (SI)(R8*1), R12
	LEAQ (SI)(R8*2), R13
	LEAQ (R12)(R8*2), BX
	LEAQ (DX)(R11*1), AX
	MOVBLZX acc+64(FP), R8
	TESTQ R8, R8
	JZ    zero
	VMOVUPS (DX), Y0
	VMOVUPS 32(DX), Y1
	VMOVUPS (AX), Y2
	VMOVUPS 32(AX), Y3
	VMOVUPS (DX)(R11*2), Y4
	VMOVUPS 32(DX)(R11*2), Y5
	VMOVUPS (AX)(R11*2), Y6
	VMOVUPS 32(AX)(R11*2), Y7
	JMP   check

zero:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

check:
	TESTQ CX, CX
	JZ    store

kloop:
	VMOVUPS      (DI), Y12
	VMOVUPS      32(DI), Y13
	VBROADCASTSS (SI), Y8
	VFMADD231PS  Y12, Y8, Y0
	VFMADD231PS  Y13, Y8, Y1
	VBROADCASTSS (R12), Y9
	VFMADD231PS  Y12, Y9, Y2
	VFMADD231PS  Y13, Y9, Y3
	VBROADCASTSS (R13), Y10
	VFMADD231PS  Y12, Y10, Y4
	VFMADD231PS  Y13, Y10, Y5
	VBROADCASTSS (BX), Y11
	VFMADD231PS  Y12, Y11, Y6
	VFMADD231PS  Y13, Y11, Y7
	ADDQ R9, SI
	ADDQ R9, R12
	ADDQ R9, R13
	ADDQ R9, BX
	ADDQ R10, DI
	DECQ CX
	JNZ  kloop

store:
	VMOVUPS Y0, (DX)
	VMOVUPS Y1, 32(DX)
	VMOVUPS Y2, (AX)
	VMOVUPS Y3, 32(AX)
	VMOVUPS Y4, (DX)(R11*2)
	VMOVUPS Y5, 32(DX)(R11*2)
	VMOVUPS Y6, (AX)(R11*2)
	VMOVUPS Y7, 32(AX)(R11*2)
	VZEROUPPER
	RET
