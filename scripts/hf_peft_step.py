#!/usr/bin/env python3
"""hf_peft_step.py: the Python stack's LoRA training step, timed, for
scripts/gpu-check.sh to set beside tune's own step on the same GPU.

It builds a Qwen2 model in the real Qwen2.5-7B-Instruct shapes with random
bf16 weights (transformers' Qwen2ForCausalLM, SDPA attention), wraps it with
PEFT's LoRA at rank --r on all seven projections (alpha 2r, dropout 0.05, as
`tune bench --train` does), and times forward + backward + AdamW on one
sequence of --seq random tokens (micro-batch 1, every token a target),
with and without gradient checkpointing. bitsandbytes is not installed on
the GPU machines, so this is bf16 LoRA, not QLoRA: it is the baseline that
tune's LoRA and QLoRA steps are both compared with.

It prints one JSON line per run, with the fields of `tune bench` that the
summary reads: mode, seq, seconds_per_iter, tokens_per_s, and peak_gpu_mib
(torch.cuda.max_memory_allocated: tensors only, not the CUDA context).

Only for the GPU check: nothing in tune needs Python.
"""
import argparse
import json
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seq", type=int, default=2048)
    p.add_argument("--r", type=int, default=16)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--gradient_checkpointing", action="store_true")
    a = p.parse_args()
    try:
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import Qwen2Config, Qwen2ForCausalLM
    except ImportError as e:
        print(f"hf_peft_step: {e}: torch, transformers and peft are needed", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("hf_peft_step: no CUDA device", file=sys.stderr)
        return 2

    # Qwen2.5-7B-Instruct's config.json.
    cfg = Qwen2Config(
        vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
        num_attention_heads=28, num_key_value_heads=4, max_position_embeddings=32768,
        rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=False,
        attn_implementation="sdpa", use_cache=False)
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = Qwen2ForCausalLM(cfg)
    torch.set_default_dtype(torch.float32)
    lc = LoraConfig(r=a.r, lora_alpha=2 * a.r, lora_dropout=0.05, task_type="CAUSAL_LM",
                    target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    model = get_peft_model(model, lc)
    # PEFT keeps the adapter in the base model's dtype unless told; train
    # it in fp32, as tune does.
    for n, prm in model.named_parameters():
        if prm.requires_grad:
            prm.data = prm.data.float()
    if a.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.train()
    params = [prm for prm in model.parameters() if prm.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0, fused=True)
    g = torch.Generator(device="cuda").manual_seed(1)
    ids = torch.randint(0, cfg.vocab_size, (1, a.seq), device="cuda", generator=g)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()  # warm-up: allocator, kernels
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(a.iters):
        step()
    torch.cuda.synchronize()
    sec = (time.perf_counter() - start) / a.iters
    mode = "hf-peft-lora" + ("-recompute" if a.gradient_checkpointing else "")
    print(json.dumps({
        "shape": "Qwen2.5-7B-Instruct", "mode": mode, "backend": torch.cuda.get_device_name(),
        "batch": 1, "seq": a.seq, "seconds_per_iter": sec, "tokens_per_s": a.seq / sec,
        "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20,
        "torch": torch.__version__,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
