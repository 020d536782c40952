// Package decoder is the decoder-only causal language model written once
// against backend.Backend, for every model family whose layers differ only
// in traits: Qwen2 (package qwen) and Llama 3 (package llama) today.
//
// A family is a Family registered by its package: config.json's
// model_type and class, its config defaults and checks, whether q, k and
// v have biases, and its chat template. LoadConfig picks the family from
// model_type (else architectures) and refuses an unknown one by name; the
// rest of this package, and the trainer, generation, scoring and serving
// above it, see only Config and Model. Adding a family is adding one
// package that registers it, and importing that package in cli.
//
// It reads a Hugging Face model folder: config.json (Config, validated),
// the weights from model.safetensors or a sharded index (BF16, F16 or F32,
// converted to the backend's float32; every tensor's shape is checked
// against Specs, the one checkpoint tensor table, and errors name the file
// and tensor), and generation_config.json. The seven projections of a
// layer and their shapes are lora.Modules.
//
// The forward pass follows transformers' Qwen2ForCausalLM and
// LlamaForCausalLM exactly:
//
//	x = embed(ids)
//	for each layer:
//	    h = rmsnorm(x) ; q, k, v = h·Wqᵀ(+bq), h·Wkᵀ(+bk), h·Wvᵀ(+bv)   (biases: Family.QKVBias)
//	    q, k = rope(q), rope(k)            (rotate-half, by Config.InvFreq: rope_theta, llama3 rope_scaling)
//	    x = x + o_proj(attention(q, k, v))  (causal, grouped-query, key padding masked)
//	    h = rmsnorm(x) ; x = x + down(silu(gate(h)) * up(h))
//	logits = rmsnorm(x)·Wheadᵀ               (Whead = Wembed when tied)
//
// with an optional PEFT LoRA adapter adding s·(dropout(x)·Aᵀ)·Bᵀ to each
// targeted projection.
//
// The decoder layer is written once (pass.layerForward, with its backward
// pass beside it) and the LM head and loss once (pass.loss), and every
// entry point runs them: Forward for inference with a KVCache (Batcher),
// Logits for every row's logits (the goldens' test), Loss for scoring and
// evaluation, ForwardBackward for training. Loss and ForwardBackward compute the
// logits of the scored rows a chunk at a time, so the [tokens × vocab]
// logits never exist whole. Every projection goes through
// backend.LoRALinearForward and LoRALinearBackward when adapted (the
// backend's fused op when it has one; NF4 weights are passed as they are),
// and a plain Linear, with NF4 weights dequantized, when frozen.
// Activations live in one arena of the backend's activation dtype, laid
// out by one table, ActivationLayout; keys and values of generation live
// in a KVCache. A model refuses, with an error naming the op, a backend
// that lacks an op it needs: at load for inference, at ForwardBackward for
// training.
//
// Loss is the Hugging Face causal-LM loss (labels shifted inside, -100
// ignored, one mean over the counted targets); Generate decodes greedily or
// by sampling (temperature, top-k, top-p, repetition penalty) and stops on
// any eos id.
//
// Generation runs through a Batcher (continuous batching): a KVCache of
// slots, each sequence in its own slot with its own positions, so a
// sequence joins a running batch (its prompt prefilled alone) and leaves
// it between steps; each decode step runs every running sequence as one
// row of one pass. Rows may use different adapters (DeviceAdapter, one
// upload per adapter over the one base model): the pass groups rows by
// adapter and calls each projection's LoRA pair on its rows. Each
// sequence samples from its own seeded generator, and the CPU backend's
// kernels are row-wise, so a sequence's tokens are the same bits alone or
// beside any others. GenerateBatch and Generate are the batcher over
// given prompts.
//
// Training (train.go): Train attaches an adapter whose factors live in one
// parameter arena (gradients in another), and ForwardBackward runs the forward
// pass keeping what the backward pass needs (or only each layer's input,
// recomputing the rest: gradient checkpointing), the loss, and the
// backward pass through RMSNorm, RoPE, attention, SwiGLU and the
// projections, accumulating the LoRA gradients. LoRA dropout masks are
// drawn from a seed per (micro-batch, layer, module) and regenerated in
// the backward pass.
//
// PlanMemory (memory.go) sizes a training run before anything is loaded,
// from config.json and a backend.Storage, with the same tables the model
// allocates from: the checkpoint's tensor list (Specs), the adapter's
// parameter layout (paramLayout, which Train lays its arenas out with)
// and ActivationLayout with ForwardBackward's plan; LongestFit searches
// the longest sequence that fits a budget.
//
// Everything is checked against transformers 4.44.2 + peft 0.12.0 goldens
// of both families in testdata/golden.
package decoder
