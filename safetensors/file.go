package safetensors

import (
	"os"
	"slices"
)

// File is an open safetensors file. Its tensors' Data slices point into a
// read-only memory map that Close releases. Its methods may be called from
// several goroutines at once, except Close.
type File struct {
	Path     string
	Metadata map[string]string // the header's __metadata__ (nil if absent)
	Header   *Header

	data    []byte
	tensors map[string]Tensor
	names   []string
}

// Open maps the file at path and validates its header (see the package
// documentation for the checks).
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Err: err}
	}
	defer f.Close() // the mapping outlives the descriptor
	st, err := f.Stat()
	if err != nil {
		return nil, &Error{File: path, Err: err}
	}
	if !st.Mode().IsRegular() {
		return nil, errorf(path, "", "not a regular file")
	}
	data, err := mapFile(f, st.Size())
	if err != nil {
		return nil, &Error{File: path, Err: err}
	}
	h, err := ParseHeader(data, st.Size())
	if err != nil {
		// The header was rejected, so nothing refers to the mapping;
		// the parse error matters more than an unmap error.
		_ = unmapFile(data)
		return nil, withFile(path, err)
	}
	file := &File{
		Path:     path,
		Metadata: h.Metadata,
		Header:   h,
		data:     data,
		tensors:  make(map[string]Tensor, len(h.Tensors)),
		names:    make([]string, 0, len(h.Tensors)),
	}
	for _, ti := range h.Tensors {
		b, e := h.DataOffset+ti.Begin, h.DataOffset+ti.End
		file.tensors[ti.Name] = Tensor{Name: ti.Name, DType: ti.DType, Shape: ti.Shape, Data: data[b:e:e]}
		file.names = append(file.names, ti.Name)
	}
	slices.Sort(file.names)
	return file, nil
}

// Names returns the tensor names, sorted.
func (f *File) Names() []string { return slices.Clone(f.names) }

// Tensor returns the named tensor. Its Data is valid until Close and must not
// be written to.
func (f *File) Tensor(name string) (Tensor, bool) {
	t, ok := f.tensors[name]
	t.Shape = slices.Clone(t.Shape)
	return t, ok
}

// Close releases the memory map; the Data of every tensor read from f becomes
// invalid. Closing twice is harmless.
func (f *File) Close() error {
	data := f.data
	f.data, f.tensors, f.names = nil, nil, nil
	if err := unmapFile(data); err != nil {
		return &Error{File: f.Path, Err: err}
	}
	return nil
}
