// Package llama is the Llama 3 family (LlamaForCausalLM, model_type
// "llama") for the decoder: what Llama 3 has of its own, registered with
// decoder.Register when the package is imported.
//
// The decoder layer is Qwen2's without the q, k and v biases; RoPE takes
// Llama 3.1's "llama3" rope_scaling (decoder.Config.InvFreq); the LM head
// is untied in the published sizes from 8B up (tie_word_embeddings is read
// as for any family). What is Llama's alone is here: the checks of
// config.json (no attention or MLP biases, rope_scaling absent or llama3)
// and the Llama 3.1 Instruct chat template (Chat), with its
// <|begin_of_text|>, <|start_header_id|>, <|end_header_id|> and <|eot_id|>
// tokens. The tokenizer is the byte-level BPE of qwen/tokenizer, which
// reads Llama 3's tokenizer.json.
//
// Everything is checked against the transformers 4.44.2 + peft 0.12.0
// goldens of testdata/golden/llama3-tiny (the decoder's golden tests).
package llama
