// Package pyjson writes and reads JSON the way Python's json module does,
// for the files tune shares with Python tools (transformers'
// trainer_state.json, the training log, bitsandbytes' quantization state):
// floats print as repr() does (1.0, 1e-05, 1e+16; Float), NaN and
// ±Infinity as the bare words NaN, Infinity and -Infinity instead of
// failing, strings ASCII-only as with ensure_ascii, without escaping "<",
// ">" and "&", and objects with sorted keys (Append). Decode reads such
// documents back, bare words included.
package pyjson
