// Package lora implements Low-Rank Adaptation (LoRA) adapters for the Qwen2
// decoder linears, compatible with Hugging Face PEFT: it creates, loads,
// saves and merges them (applying one is an op of package backend).
//
// # LoRA
//
// LoRA fine-tunes a model by freezing each adapted linear's weight W
// [out, in] and learning a low-rank update instead: two factors A [r, in]
// and B [out, r] with r much smaller than in and out. The adapted linear
// computes
//
//	y = x·Wᵀ + b + s·(dropout(x)·Aᵀ)·Bᵀ
//
// (a Pair holds A and B; the layer itself, forward and backward, is
// backend.LoRALinearForward and LoRALinearBackward, and backend.DropoutMask
// draws the dropout). A starts random and B at zero (New), so training
// starts from the base model exactly. After training, the update can be folded into the
// weight, W' = W + s·B·A (Adapter.Merge), giving a plain model with no
// extra cost per token; Adapter.Unmerge takes it out again. Without merging,
// several adapters can share one base model and be switched per request
// (Set).
//
// The linears that can be adapted are the seven projections of each
// decoder layer (Modules): q_proj, k_proj, v_proj, o_proj, gate_proj,
// up_proj and down_proj. Config.Targets decides which are adapted, from
// PEFT's target_modules.
//
// # Scaling and rsLoRA
//
// The scaling s is lora_alpha/r (Config.Scaling). With use_rslora
// (rank-stabilized LoRA, Kalajdzievski 2023) it is lora_alpha/√r instead,
// which keeps the size of the update stable as r grows: an adapter with r
// 4 and alpha 8 has s = 2, or s = 4 with rsLoRA.
//
// # PEFT file format
//
// An adapter is a folder of two files, as PEFT's save_pretrained writes
// them (Adapter.Save) and from_pretrained reads them (Load):
//
//   - adapter_config.json: the LoraConfig as JSON, with r, lora_alpha,
//     lora_dropout, target_modules (a list of module names, or one regular
//     expression matched against the whole module name), use_rslora, bias,
//     use_dora, fan_in_fan_out, peft_type "LORA", task_type and more
//     (Config). bias must be "none", and use_dora and fan_in_fan_out false.
//   - adapter_model.safetensors: F32 tensors named as Key gives them, e.g.
//     base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight [r, in]
//     and ...q_proj.lora_B.weight [out, r], one pair for every targeted
//     linear of every layer and nothing else, with metadata
//     {"format": "pt"}. The names carry no adapter name (PEFT strips
//     ".default").
//
// tune adds a third file that PEFT does not read: tune_system_prompt.json
// (SystemPromptFile), the system prompt the adapter was trained with, so
// that inference can use the same one by default.
//
// All matrices in this package are row-major float32 slices, in the same
// layouts as the files: weights [out, in], A [r, in] and B [out, r].
package lora
