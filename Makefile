# tune: `make` builds bin/tune, `make test` runs every test.
GO      ?= go
BIN     := bin/tune
# tune --version: git describe and the commit, stamped at link time (empty
# outside a git checkout; tune then says what it does not know).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X github.com/tune-dev/tune/cli.version=$(VERSION) -X github.com/tune-dev/tune/cli.commit=$(COMMIT)

.PHONY: all build test vet fmt fuzz bench cuda clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) .

test:
	$(GO) vet ./...
	$(GO) test ./...

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

clean:
	rm -rf bin build
