package safetensors

import (
	"fmt"
	"strings"
)

// Error is the error type of this package. It names the file (a safetensors
// file, an index or a checkpoint folder) and, where one is concerned, the
// tensor.
type Error struct {
	File   string // empty when the input did not come from a file (ParseHeader)
	Tensor string // empty when no single tensor is concerned
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("safetensors: ")
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Tensor != "" {
		fmt.Fprintf(&b, "tensor %q: ", e.Tensor)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// errorf returns an *Error for file and tensor (either may be empty).
func errorf(file, tensor, format string, args ...any) *Error {
	return &Error{File: file, Tensor: tensor, Err: fmt.Errorf(format, args...)}
}

// withFile sets the file of err if it is an *Error without one.
func withFile(file string, err error) error {
	if e, ok := err.(*Error); ok && e.File == "" {
		e.File = file
	}
	return err
}
