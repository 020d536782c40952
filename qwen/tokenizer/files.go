package tokenizer

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tune-dev/tune/internal/atomicfile"
)

// The files a tokenizer is read from and written to. A Hugging Face model
// folder holds JSONFile and usually ConfigFile; tune also reads a gzipped
// JSONFile (GzFile), the form its built-in tokenizer ships in.
const (
	JSONFile   = "tokenizer.json"
	GzFile     = "tokenizer.json.gz"
	ConfigFile = "tokenizer_config.json"
)

// ModelFiles are every tokenizer file a Hugging Face model folder may
// hold, the slow tokenizer's among them: a merged model copies those its
// base folder has.
var ModelFiles = []string{JSONFile, ConfigFile, "vocab.json", "merges.txt", "special_tokens_map.json", "added_tokens.json"}

// Files is a tokenizer's content as read from disk.
type Files struct {
	// JSON is tokenizer.json's content (inflated when it was gzipped),
	// read from JSONPath.
	JSON     []byte
	JSONPath string
	// Config is tokenizer_config.json's content, read from ConfigPath;
	// nil when there is none.
	Config     []byte
	ConfigPath string
}

// ReadFiles reads the tokenizer at path: a tokenizer.json file, a gzipped
// one (name ending in ".gz") or a folder. A folder must hold tokenizer.json
// or tokenizer.json.gz; its tokenizer_config.json is read when present.
func ReadFiles(path string) (*Files, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	f := &Files{JSONPath: path}
	if info.IsDir() {
		f.JSONPath = filepath.Join(path, JSONFile)
		if _, err := os.Stat(f.JSONPath); errors.Is(err, fs.ErrNotExist) {
			f.JSONPath = filepath.Join(path, GzFile)
		}
		cfg := filepath.Join(path, ConfigFile)
		data, err := os.ReadFile(cfg)
		switch {
		case err == nil:
			f.Config, f.ConfigPath = data, cfg
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
	}
	data, err := os.ReadFile(f.JSONPath)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if strings.HasSuffix(f.JSONPath, ".gz") {
		g, err := Gunzip(data, f.JSONPath)
		if err != nil {
			return nil, err
		}
		data = g.JSON
	}
	f.JSON = data
	return f, nil
}

// Gunzip is a gzipped tokenizer.json held in memory (the tokenizer built
// into a binary), inflated; name says where it came from in errors and in
// Parse's.
func Gunzip(gz []byte, name string) (*Files, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", name, err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", name, err)
	}
	return &Files{JSON: data, JSONPath: name}, nil
}

// Write puts the tokenizer into the model folder dir as tokenizer.json
// and, when it has one, tokenizer_config.json, each atomically.
func (f *Files) Write(dir string) error {
	if f.Config != nil {
		if err := atomicfile.WriteFile(filepath.Join(dir, ConfigFile), f.Config, 0o644); err != nil {
			return fmt.Errorf("tokenizer: %w", err)
		}
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, JSONFile), f.JSON, 0o644); err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	return nil
}
