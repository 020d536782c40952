#!/usr/bin/env python3
"""The Qwen2 forward pass in plain PyTorch (float32, CPU), random weights in
a real Qwen2.5 shape: the reference side of scripts/bench-forward.sh.

Runs with Debian's python3-torch (/usr/bin/python3); needs no transformers.
Prints one JSON line like `tune bench`.
"""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn.functional as F

SHAPES = {  # hidden, intermediate, layers, heads, kv heads, vocab, tied
    "Qwen2.5-0.5B-Instruct": (896, 4864, 24, 14, 2, 151936, True),
    "Qwen2.5-1.5B-Instruct": (1536, 8960, 28, 12, 2, 151936, True),
    "Qwen2.5-3B-Instruct": (2048, 11008, 36, 16, 2, 151936, True),
    "Qwen2.5-7B-Instruct": (3584, 18944, 28, 28, 4, 152064, False),
}


def rms(x, w, eps=1e-6):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rope(x, cos, sin):
    h = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., h:], x[..., :h]), -1) * sin


def bench_args(seq, iters, extra=()):
    """Parses the flags both benchmarks take (--shape, --seq, --batch,
    --iters, --threads, and extra (name, default) integer flags), sets
    the threads and seeds torch."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="Qwen2.5-0.5B-Instruct")
    ap.add_argument("--seq", type=int, default=seq)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--iters", type=int, default=iters)
    ap.add_argument("--threads", type=int, default=0)
    for name, default in extra:
        ap.add_argument("--" + name, type=int, default=default)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    return a


def random_model(shape):
    """A random model of shape: (H, I, L, NH, KV, V, D), the embedding,
    the head (the embedding when tied), the layers' weights and the final
    norm."""
    H, I, L, NH, KV, V, tied = SHAPES[shape]
    D = H // NH
    g = lambda *s: torch.randn(*s) * 0.02
    emb = g(V, H)
    head = emb if tied else g(V, H)
    layers = [dict(n1=torch.ones(H), n2=torch.ones(H), q=g(H, H), qb=g(H), k=g(KV * D, H), kb=g(KV * D),
                   v=g(KV * D, H), vb=g(KV * D), o=g(H, H), gate=g(I, H), up=g(I, H), down=g(H, I)) for _ in range(L)]
    return (H, I, L, NH, KV, V, D), emb, head, layers, torch.ones(H)


def main():
    a = bench_args(256, 2)
    (H, I, L, NH, KV, V, D), emb, head, layers, norm = random_model(a.shape)
    B, T = a.batch, a.seq
    ids = torch.randint(0, V, (B, T))
    inv = 1.0 / (1e6 ** (torch.arange(0, D, 2).float() / D))
    ang = torch.outer(torch.arange(T).float(), inv)
    cos, sin = torch.cat((ang, ang), -1).cos(), torch.cat((ang, ang), -1).sin()
    mask = torch.full((T, T), float("-inf")).triu(1)

    def forward():
        with torch.no_grad():
            x = emb[ids]
            for p in layers:
                h = rms(x, p["n1"])
                q = F.linear(h, p["q"], p["qb"]).view(B, T, NH, D).transpose(1, 2)
                k = F.linear(h, p["k"], p["kb"]).view(B, T, KV, D).transpose(1, 2)
                v = F.linear(h, p["v"], p["vb"]).view(B, T, KV, D).transpose(1, 2)
                q, k = rope(q, cos, sin), rope(k, cos, sin)
                k, v = k.repeat_interleave(NH // KV, 1), v.repeat_interleave(NH // KV, 1)
                s = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D) + mask, -1)
                x = x + F.linear((s @ v).transpose(1, 2).reshape(B, T, H), p["o"])
                h = rms(x, p["n2"])
                x = x + F.linear(F.silu(F.linear(h, p["gate"])) * F.linear(h, p["up"]), p["down"])
            logits = F.linear(rms(x, norm), head)
            return F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))

    forward()
    t0 = time.perf_counter()
    for _ in range(a.iters):
        forward()
    sec = (time.perf_counter() - t0) / a.iters
    print(json.dumps({"shape": a.shape, "backend": "pytorch %s (float32, %d threads)" % (torch.__version__, torch.get_num_threads()),
                      "batch": B, "seq": T, "seconds_per_forward": sec, "tokens_per_s": B * T / sec,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
