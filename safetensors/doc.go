// Package safetensors reads and writes checkpoints in the safetensors format
// used by Hugging Face models, including sharded checkpoints described by a
// model.safetensors.index.json file.
//
// # Format
//
// A safetensors file is
//
//	u64 little-endian N | N bytes of UTF-8 JSON header | data section
//
// The header is a JSON object mapping each tensor name to
// {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]},
// with offsets relative to the start of the data section, plus an optional
// "__metadata__" object of string keys and string values. Tensor bytes are
// stored row-major and little-endian.
//
// A sharded checkpoint is a set of such files plus an index
// {"metadata": {"total_size": bytes}, "weight_map": {tensor name: file name}}.
//
// # Validation
//
// [Open] and [ParseHeader] reject a file unless:
//   - the 8-byte header length fits inside the file;
//   - the header is valid UTF-8 JSON: one object with nothing but whitespace
//     after it, and no duplicate tensor names, metadata keys or entry fields
//     (encoding/json alone would silently keep the last duplicate);
//   - "__metadata__", if present, maps strings to strings;
//   - every tensor has a known dtype, a shape of non-negative integers and
//     integer data_offsets [begin, end] with begin <= end;
//   - shape × dtype size equals end − begin;
//   - sorted by begin, the tensors tile the data section exactly: the first
//     begins at 0, each begins where the previous one ended (no gap, no
//     overlap) and the last ends at the end of the file.
//
// [OpenCheckpoint] also checks the index: every shard exists, every tensor of
// weight_map is in the shard it names, no tensor is in two shards, no shard
// holds a tensor that weight_map leaves out, and metadata.total_size, when
// present, is a non-negative integer (its value is informational: exporters
// disagree on what it counts, so it is not compared with the shards).
//
// Errors are of type [*Error] and read
// "safetensors: <file>: tensor "<name>": <problem>".
//
// # Memory mapping
//
// On Unix systems a file is memory-mapped read-only, so opening a 15 GB
// checkpoint costs no Go heap: the Data of a tensor returned by [File.Tensor]
// or [Checkpoint.Tensor] is a slice of the mapping. It must not be written to
// (the process would fault), and it is valid only until the File or
// Checkpoint is closed. Copy it, or convert it with [Tensor.Float32s] or
// [Tensor.Int64s], to keep it longer. On other systems the file is read into
// memory instead.
//
// # Writing
//
// [WriteFile] writes the header with "__metadata__" first and the tensors
// sorted by name, their data laid out in the same order, padded with spaces
// to a multiple of 8 bytes. It writes to a temporary file in the target
// folder, syncs it and renames it into place, so a reader never sees a
// half-written file under the final name. [WriteSharded] splits tensors into
// Hugging Face style shards (model-00001-of-00003.safetensors, ...) with an
// index, or writes a single model.safetensors when everything fits.
package safetensors
