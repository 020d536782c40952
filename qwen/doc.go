// Package qwen is the Qwen2 family (Qwen2ForCausalLM, model_type "qwen2",
// the architecture of the whole Qwen2.5 family, 0.5B to 72B) for the
// decoder: what Qwen2 has of its own, registered with decoder.Register
// when the package is imported.
//
// Qwen2's layers have q, k and v biases and plain RoPE (no rope_scaling,
// no sliding window, both refused by name); its chat template is the
// ChatML of Qwen2.5-Instruct (tokenizer.ChatML, in the tokenizer package
// below, which is also the byte-level BPE tokenizer of both families);
// Sizes lists the published Qwen2.5 sizes for benchmarks. The decoder
// itself, loading, training and generation are in package decoder.
package qwen
