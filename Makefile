# tune: `make` builds bin/tune, `make test` runs every test.
GO      ?= go
BIN     := bin/tune

.PHONY: all build test vet fmt fuzz bench cuda clean

all: build

build:
	$(GO) build -o $(BIN) .

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

cuda:
	@echo "make cuda: the CUDA backend is not built yet (it arrives with the CUDA library issue);"
	@echo "bin/tune runs on the CPU reference path."
	@exit 2

clean:
	rm -rf bin build
