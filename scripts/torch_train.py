#!/usr/bin/env python3
"""One LoRA training step of Qwen2 in plain PyTorch (float32, CPU), random
weights in a real Qwen2.5 shape: the reference side of scripts/bench-train.sh.

The step matches `tune bench --train`: frozen base weights, LoRA (r=16,
alpha=32, dropout 0.05 on the LoRA input) on all seven projections, A uniform
in ±1/sqrt(in) and B zero as at init, every next token a target (logits for
every row), loss.backward(), clip_grad_norm_(1.0), AdamW (lr 1e-4, weight
decay 0), zero_grad. B = 0 makes dA zero at the first steps, but the compute
is the same.

Runs with Debian's python3-torch (/usr/bin/python3); needs no transformers
or peft. Prints one JSON line like `tune bench --train`.
"""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn.functional as F

from torch_forward import SHAPES, rms, rope  # the shapes and layer helpers shared with the forward benchmark


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="Qwen2.5-0.5B-Instruct")
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--iters", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--lora_r", type=int, default=16)
    ap.add_argument("--verbose", action="store_true", help="print each step's loss to stderr")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    H, I, L, NH, KV, V, tied = SHAPES[a.shape]
    D = H // NH
    R, scale, drop = a.lora_r, 2.0, 0.05  # alpha = 2r
    g = lambda *s: torch.randn(*s) * 0.02
    emb = g(V, H)
    head = emb if tied else g(V, H)
    base = [emb] + ([] if tied else [head])
    lora = []  # (A, B) pairs, the only tensors with requires_grad

    def proj(out, inp, bias=False):
        w = g(out, inp)
        b = g(out) if bias else None
        bound = 1 / math.sqrt(inp)
        A = (torch.rand(R, inp) * 2 - 1).mul_(bound).requires_grad_()
        B = torch.zeros(out, R, requires_grad=True)
        lora.append((A, B))
        base.extend([w] + ([b] if bias else []))
        return w, b, A, B

    layers = []
    for _ in range(L):
        p = dict(n1=torch.ones(H), n2=torch.ones(H),
                 q=proj(H, H, True), k=proj(KV * D, H, True), v=proj(KV * D, H, True), o=proj(H, H),
                 gate=proj(I, H), up=proj(I, H), down=proj(H, I))
        base.extend([p["n1"], p["n2"]])
        layers.append(p)
    norm = torch.ones(H)
    base.append(norm)
    params = [t for pair in lora for t in pair]
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)

    B_, T = a.batch, a.seq
    ids = torch.randint(0, V, (B_, T))
    inv = 1.0 / (1e6 ** (torch.arange(0, D, 2).float() / D))
    ang = torch.outer(torch.arange(T).float(), inv)
    cos, sin = torch.cat((ang, ang), -1).cos(), torch.cat((ang, ang), -1).sin()
    mask = torch.full((T, T), float("-inf")).triu(1)

    def lin(x, m):
        w, b, A, Bm = m
        return F.linear(x, w, b) + scale * F.linear(F.linear(F.dropout(x, drop, True), A), Bm)

    def loss_fn():
        x = emb[ids]
        for p in layers:
            h = rms(x, p["n1"])
            q = lin(h, p["q"]).view(B_, T, NH, D).transpose(1, 2)
            k = lin(h, p["k"]).view(B_, T, KV, D).transpose(1, 2)
            v = lin(h, p["v"]).view(B_, T, KV, D).transpose(1, 2)
            q, k = rope(q, cos, sin), rope(k, cos, sin)
            k, v = k.repeat_interleave(NH // KV, 1), v.repeat_interleave(NH // KV, 1)
            s = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D) + mask, -1)
            x = x + lin((s @ v).transpose(1, 2).reshape(B_, T, H), p["o"])
            h = rms(x, p["n2"])
            x = x + lin(F.silu(lin(h, p["gate"])) * lin(h, p["up"]), p["down"])
        logits = F.linear(rms(x, norm), head)
        return F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))

    def step(i):
        loss = loss_fn()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=False)
        l = loss.item()
        if not math.isfinite(l):
            raise SystemExit("step %d: loss is %r" % (i, l))
        if a.verbose:
            print("step %d loss %.4f" % (i, l), file=__import__("sys").stderr)

    step(0)  # warm-up: allocator, optimizer state
    t0 = time.perf_counter()
    for i in range(1, a.iters + 1):
        step(i)
    sec = (time.perf_counter() - t0) / a.iters
    print(json.dumps({"shape": a.shape, "mode": "torch-lora",
                      "backend": "pytorch %s (float32, %d threads)" % (torch.__version__, torch.get_num_threads()),
                      "batch": B_, "seq": T, "params": sum(t.numel() for t in base),
                      "trainable_params": sum(t.numel() for t in params),
                      "seconds_per_iter": sec, "tokens_per_s": B_ * T / sec,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
