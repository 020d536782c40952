// Package lora reads Low-Rank Adaptation adapters in the Hugging Face PEFT
// format: adapter_config.json (r, lora_alpha, target_modules, use_rslora,
// ...) and adapter_model.safetensors with PEFT's tensor names, such as
// base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight ([r, in])
// and ...lora_B.weight ([out, r]).
//
// An adapted linear computes y = x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ with the scaling
// s = lora_alpha/r, or lora_alpha/sqrt(r) with rsLoRA.
package lora
