#!/usr/bin/env python3
"""Greedy decoding with a KV cache in plain PyTorch (float32, CPU), random
weights in a real Qwen2.5 shape: the reference side of
scripts/bench-decode.sh, the work Hugging Face generate() does with its
cache (transformers is not installed here, so the Qwen2 decoder is written
out, with torch_forward.py's shapes, norm and RoPE).

--batch sequences of --seq random prompt tokens are prefilled together
(not timed), then decoded together for --decode new tokens each, every
step feeding each row's argmax back. Prints one JSON line like
`tune bench --decode`: tokens_per_s counts the tokens of the decode steps.
"""
import json
import math
import resource
import time

import torch
import torch.nn.functional as F

from torch_forward import bench_args, random_model, rms, rope


def main():
    a = bench_args(32, 1, [("decode", 32)])
    (H, I, L, NH, KV, V, D), emb, head, layers, norm = random_model(a.shape)
    B, T, N = a.batch, a.seq, a.decode
    inv = 1.0 / (1e6 ** (torch.arange(0, D, 2).float() / D))
    ang = torch.outer(torch.arange(T + N).float(), inv)
    cos_all, sin_all = torch.cat((ang, ang), -1).cos(), torch.cat((ang, ang), -1).sin()

    def step(ids, start, cache):
        """Runs ids [B, t] at positions start.. with the cache [layer] of
        (k, v) [B, KV, len, D], which it extends; returns the last logits."""
        t = ids.shape[1]
        cos, sin = cos_all[start:start + t], sin_all[start:start + t]
        mask = torch.full((t, start + t), float("-inf")).triu(start + 1)
        x = emb[ids]
        for li, p in enumerate(layers):
            h = rms(x, p["n1"])
            q = F.linear(h, p["q"], p["qb"]).view(B, t, NH, D).transpose(1, 2)
            k = F.linear(h, p["k"], p["kb"]).view(B, t, KV, D).transpose(1, 2)
            v = F.linear(h, p["v"], p["vb"]).view(B, t, KV, D).transpose(1, 2)
            q, k = rope(q, cos, sin), rope(k, cos, sin)
            if cache[li] is not None:
                k, v = torch.cat((cache[li][0], k), 2), torch.cat((cache[li][1], v), 2)
            cache[li] = (k, v)
            k, v = k.repeat_interleave(NH // KV, 1), v.repeat_interleave(NH // KV, 1)
            s = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D) + mask, -1)
            x = x + F.linear((s @ v).transpose(1, 2).reshape(B, t, H), p["o"])
            h = rms(x, p["n2"])
            x = x + F.linear(F.silu(F.linear(h, p["gate"])) * F.linear(h, p["up"]), p["down"])
        return F.linear(rms(x[:, -1], norm), head)

    def run():
        with torch.no_grad():
            cache = [None] * L
            ids = torch.randint(0, V, (B, T))
            nxt = step(ids, 0, cache).argmax(-1, keepdim=True)  # the first new token comes from the prefill
            t0 = time.perf_counter()
            for i in range(N - 1):
                nxt = step(nxt, T + i, cache).argmax(-1, keepdim=True)
            return time.perf_counter() - t0

    run()  # warm-up
    sec = sum(run() for _ in range(a.iters)) / a.iters
    print(json.dumps({"shape": a.shape, "mode": "decode",
                      "backend": "pytorch %s (float32, %d threads)" % (torch.__version__, torch.get_num_threads()),
                      "batch": B, "seq": T, "seconds_per_iter": sec, "tokens_per_s": B * (N - 1) / sec,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
