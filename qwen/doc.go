// Package qwen is the Qwen2 causal language model (the architecture of the
// whole Qwen2.5 family, 0.5B to 72B) written once against backend.Backend.
//
// It reads a Hugging Face model folder: config.json (Config, validated,
// with Family listing the published sizes), the weights from
// model.safetensors or a sharded index (BF16, F16 or F32, converted to the
// backend's float32; every tensor's shape is checked against the config and
// errors name the file and tensor), and generation_config.json.
//
// The forward pass follows transformers' Qwen2ForCausalLM exactly:
//
//	x = embed(ids)
//	for each layer:
//	    h = rmsnorm(x) ; q, k, v = h·Wqᵀ+bq, h·Wkᵀ+bk, h·Wvᵀ+bv
//	    q, k = rope(q), rope(k)            (rotate-half, theta = rope_theta)
//	    x = x + o_proj(attention(q, k, v))  (causal, grouped-query, key padding masked)
//	    h = rmsnorm(x) ; x = x + down(silu(gate(h)) * up(h))
//	logits = rmsnorm(x)·Wheadᵀ               (Whead = Wembed when tied)
//
// with an optional PEFT LoRA adapter adding s·(x·Aᵀ)·Bᵀ to each targeted
// projection. Activations live in one arena sized by ActivationLayout;
// keys and values live in a KVCache, which prefill and decoding share.
// Loss is the Hugging Face causal-LM loss (labels shifted inside, -100
// ignored, one mean over the counted targets); Generate decodes greedily or
// by sampling (temperature, top-k, top-p, repetition penalty) and stops on
// any eos id.
//
// Training (train.go): Train attaches an adapter whose factors live in one
// parameter arena (gradients in another), and TrainStep runs the forward
// pass keeping what the backward pass needs (or only each layer's input,
// recomputing the rest: gradient checkpointing), the LM head and loss on
// the scored rows a chunk at a time, and the backward pass through
// RMSNorm, RoPE, attention, SwiGLU and the frozen projections (NF4 weights
// dequantized on the fly for QLoRA), accumulating the LoRA gradients.
// LoRA dropout masks are regenerated from a seed in the backward pass.
//
// Everything is checked against transformers 4.44.2 + peft 0.12.0 goldens
// in testdata/golden.
package qwen
