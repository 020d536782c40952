# tune: `make` builds bin/tune, `make test` runs every test.
GO      ?= go
BIN     := bin/tune
# tune --version: git describe and the commit, stamped at link time (empty
# outside a git checkout; tune then says what it does not know).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X github.com/tune-dev/tune/cli.version=$(VERSION) -X github.com/tune-dev/tune/cli.commit=$(COMMIT)

.PHONY: all build test vet fmt fuzz bench test-serve-client cuda cuda-emu test-cuda-emu clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) .

test:
	$(GO) vet ./...
	$(GO) test ./...
	@$(MAKE) --no-print-directory test-cuda-emu

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

fmt:
	gofmt -w .

# A short run of the safetensors header fuzzer (CI runs it too).
fuzz:
	$(GO) test ./safetensors -run '^$$' -fuzz FuzzParseHeader -fuzztime 20s

bench:
	$(GO) test -run '^$$' -bench . -benchtime 3x ./...

# tune serve through the official openai npm client (Node and npm; see
# scripts/serve-client-test.sh). CI runs it on the demo's output.
test-serve-client: build
	bash scripts/serve-client-test.sh

# The CUDA library (see cuda/README.md): CMake in build/cuda, Release, all
# cores, then libtune_cuda.so beside bin/tune. CUDA_ARCHS picks the GPU
# architectures, e.g. make cuda CUDA_ARCHS=90.
CUDA_ARCHS  ?= 80;86;89;90
CUDA_BUILD  := build/cuda
CMAKE       ?= cmake
CUDA_JOBS   ?= $(shell nproc 2>/dev/null || echo 4)

cuda:
	$(CMAKE) -S . -B $(CUDA_BUILD) -DCMAKE_BUILD_TYPE=Release "-DTUNE_CUDA_ARCHITECTURES=$(CUDA_ARCHS)"
	$(CMAKE) --build $(CUDA_BUILD) -j $(CUDA_JOBS)
	@mkdir -p bin
	cp $(CUDA_BUILD)/libtune_cuda.so bin/

# The CUDA sources on the CPU (cuda/README.md): g++ compiles cuda/*.cu
# against the stand-in CUDA headers of cuda/emu into
# build/cuda-emu/libtune_cuda.so, and with AddressSanitizer and UBSan into
# libtune_cuda_asan.so beside it; TUNE_CUDA_LIB loads either. Objects are
# rebuilt only when their sources change. CUDA_EMU_SRC and CUDA_EMU_DIR let
# cuda/emu/mutants.sh build a mutated copy of the sources elsewhere.
CUDA_EMU_SRC ?= cuda
CUDA_EMU_DIR ?= build/cuda-emu
EMU_INCLUDE  := cuda/emu/include
EMU_FLAGS    := -std=c++20 -fPIC -g -O1 -ffp-contract=off -fno-strict-aliasing -Wall -Wno-unknown-pragmas \
                -DTUNE_CUDA_BUILD -I$(EMU_INCLUDE) -I$(CUDA_EMU_SRC) -MMD -MP
EMU_SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
EMU_KERNELS  := $(patsubst $(CUDA_EMU_SRC)/%.cu,%,$(wildcard $(CUDA_EMU_SRC)/*.cu))
EMU_RUNTIME  := $(patsubst cuda/emu/%.cpp,emu-%,$(wildcard cuda/emu/*.cpp))
EMU_LIB      := $(CUDA_EMU_DIR)/libtune_cuda.so
EMU_ASAN_LIB := $(CUDA_EMU_DIR)/libtune_cuda_asan.so

$(CUDA_EMU_DIR)/src/%.cpp: $(CUDA_EMU_SRC)/%.cu cuda/emu/cu2cpp.pl
	@mkdir -p $(@D)
	perl cuda/emu/cu2cpp.pl $< >$@
.SECONDARY: $(patsubst %,$(CUDA_EMU_DIR)/src/%.cpp,$(EMU_KERNELS))

# emu_objects: the object rules of one variant, $(1) its folder under
# CUDA_EMU_DIR, $(2) its extra flags.
define emu_objects
$(CUDA_EMU_DIR)/$(1)/%.o: $(CUDA_EMU_DIR)/src/%.cpp
	@mkdir -p $$(@D)
	$$(CXX) $$(EMU_FLAGS) $(2) -c $$< -o $$@
$(CUDA_EMU_DIR)/$(1)/emu-%.o: cuda/emu/%.cpp
	@mkdir -p $$(@D)
	$$(CXX) $$(EMU_FLAGS) $(2) -c $$< -o $$@
endef
$(eval $(call emu_objects,obj,))
$(eval $(call emu_objects,obj-asan,$(EMU_SANITIZE)))
-include $(wildcard $(CUDA_EMU_DIR)/obj*/*.d)

$(EMU_LIB): $(patsubst %,$(CUDA_EMU_DIR)/obj/%.o,$(EMU_KERNELS) $(EMU_RUNTIME))
	$(CXX) -shared -o $@ $^ -lpthread
$(EMU_ASAN_LIB): $(patsubst %,$(CUDA_EMU_DIR)/obj-asan/%.o,$(EMU_KERNELS) $(EMU_RUNTIME))
	$(CXX) -shared $(EMU_SANITIZE) -o $@ $^ -lpthread

cuda-emu: $(EMU_LIB) $(EMU_ASAN_LIB)

# test-cuda-emu runs every GPU test of package cuda (the tests named
# Test...CUDA) against the emulated library: under the schedules low and
# high, then with AddressSanitizer and UBSan under a random schedule. The
# whole-model tests (EMU_MODEL_TESTS: the goldens, the transfers of a
# training step, a QLoRA load, and tune's commands with --device cuda in
# package cli)
# run once, under schedule low: the emulator takes tens of seconds for
# them. It also checks that a library finding no GPU is reported as such,
# and that the benchmarks scripts/gpu-check.sh runs on a GPU do run.
# Without g++ or cgo it says so and passes, unless CUDA_EMU_REQUIRED is set
# (CI sets it).
EMU_HAVE := $(shell command -v $(CXX) >/dev/null 2>&1 && [ "$$($(GO) env CGO_ENABLED 2>/dev/null)" = 1 ] && echo yes)
EMU_TESTS := $(CUDA_EMU_DIR)/cuda.test
EMU_CLI_TESTS := $(CUDA_EMU_DIR)/cli.test
EMU_MODEL_TESTS := ^Test(Golden|StepTransfers|QLoRALoad|PlanMatchesAllocations)CUDA$$
# emu_run: the GPU tests in cuda/ but the whole-model ones with the
# environment $(1) and library $(2).
emu_run = cd cuda && $(1) TUNE_CUDA_EXPECT=gpu TUNE_CUDA_LIB=$(abspath $(2)) \
	  $(abspath $(EMU_TESTS)) -test.run 'CUDA$$' -test.skip '$(EMU_MODEL_TESTS)' -test.count=1
ifeq ($(EMU_HAVE),yes)
test-cuda-emu: cuda-emu
	$(GO) test -c -o $(EMU_TESTS) ./cuda
	$(GO) test -c -o $(EMU_CLI_TESTS) ./cli
	@echo "== the GPU tests:" $$(cd cuda && $(abspath $(EMU_TESTS)) -test.list 'CUDA$$') \
	  $$(cd cli && $(abspath $(EMU_CLI_TESTS)) -test.list 'CUDA$$')
	@echo "== on the emulated library, schedule low"
	$(call emu_run,TUNE_EMU_SCHED=low,$(EMU_LIB))
	@echo "== the whole model, schedule low"
	cd cuda && TUNE_EMU_SCHED=low TUNE_CUDA_EXPECT=gpu TUNE_CUDA_LIB=$(abspath $(EMU_LIB)) \
	  $(abspath $(EMU_TESTS)) -test.run '$(EMU_MODEL_TESTS)' -test.count=1
	cd cli && TUNE_EMU_SCHED=low TUNE_CUDA_EXPECT=gpu TUNE_CUDA_LIB=$(abspath $(EMU_LIB)) \
	  $(abspath $(EMU_CLI_TESTS)) -test.run 'CUDA$$' -test.count=1
	@echo "== schedule high"
	$(call emu_run,TUNE_EMU_SCHED=high,$(EMU_LIB))
	@echo "== AddressSanitizer and UBSan, schedule random"
	$(call emu_run,TUNE_EMU_SCHED=random LD_PRELOAD=$$($(CXX) -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0,$(EMU_ASAN_LIB))
	@echo "== a library that finds no GPU"
	cd cuda && TUNE_EMU_NO_DEVICE=1 TUNE_CUDA_EXPECT=no-device TUNE_CUDA_LIB=$(abspath $(EMU_LIB)) \
	  $(abspath $(EMU_TESTS)) -test.run '^TestOpenSaysWhatIsMissing$$' -test.count=1
	@echo "== the GPU benchmarks run (once each, at 1/64 of their sizes)"
	cd cuda && TUNE_CUDA_LIB=$(abspath $(EMU_LIB)) $(abspath $(EMU_TESTS)) -test.run '^$$' -test.bench . \
	  -test.benchtime 1x -test.short >/dev/null
else
test-cuda-emu:
	@echo "test-cuda-emu: skipped: running the CUDA sources on the CPU needs $(CXX) and cgo (install g++)"
	@test -z "$(CUDA_EMU_REQUIRED)" || { echo "test-cuda-emu: CUDA_EMU_REQUIRED is set, so that is a failure"; exit 1; }
endif

clean:
	rm -rf bin build
