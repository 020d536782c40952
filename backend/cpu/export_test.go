package cpu

// UseAsm lets the tests run the portable kernels on machines with AVX2.
var UseAsm = &useAsm
