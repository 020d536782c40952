package cpu_test

import (
	"testing"

	"github.com/tune-dev/tune/backend/conformance"
	"github.com/tune-dev/tune/backend/cpu"
)

func TestConformance(t *testing.T) {
	conformance.Test(t, cpu.New(0), conformance.CPUTolerances)
}

func TestConformanceOneThread(t *testing.T) {
	conformance.Test(t, cpu.New(1), conformance.CPUTolerances)
}

func TestConformancePortableKernels(t *testing.T) {
	saved := *cpu.UseAsm
	*cpu.UseAsm = false
	defer func() { *cpu.UseAsm = saved }()
	conformance.Test(t, cpu.New(0), conformance.CPUTolerances)
}
