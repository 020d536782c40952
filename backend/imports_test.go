package backend_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoDomainImports checks that the op vocabulary, the CPU backend and
// the conformance suite (tests included) import no domain package of tune
// (lora, qwen, train, ...): ops are defined here, for every model. quant
// is the NF4 storage format Quant takes.
func TestNoDomainImports(t *testing.T) {
	const module = "github.com/tune-dev/tune/"
	allowed := []string{module + "backend", module + "quant"}
	for _, dir := range []string{".", "cpu", "conformance"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files (%v)", dir, err)
		}
		for _, f := range files {
			parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range parsed.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if !strings.HasPrefix(path, module) {
					continue
				}
				ok := false
				for _, a := range allowed {
					ok = ok || path == a || strings.HasPrefix(path, a+"/")
				}
				if !ok {
					t.Errorf("%s imports %s", f, path)
				}
			}
		}
	}
}
