#!/usr/bin/env python3
"""PyTorch peer for bench/lm-peers.js: the same GPT as rsft (src/graph/gpt.ts) in eager PyTorch.

Architecture (identical to rsft's): token + position embeddings, pre-LayerNorm blocks of causal
multi-head self-attention (q scaled by 1/sqrt(head), masked scores, softmax) and a tanh-GELU MLP
(4x width), final LayerNorm, output head tied to the token embedding. Weights are rsft's initial
weights, copied in (Conv1D [in, out] layout transposed into nn.Linear's [out, in]).

usage: lm_peers.py SPEC.json
  SPEC: { mode: 'train' | 'generate', cfg: {vocab, context, dModel, nHeads, nLayers}, threads,
          weights: path of float32 values in `params` order, params: [{name, shape, decay}],
          train: { tokens, targets: [B*T] ints, B, T, iters, lr, weightDecay },
          generate: { prompts: [[ids]] (one per row, BOS included), pad, maxNew, temperature, reps } }
Prints JSON on stdout: train -> ms per step (median, p25, p75) and the losses of the first steps;
generate -> tokens/s (median over reps) and seconds per rep. Exit code 3 without torch.

Training step: forward, masked token cross-entropy (ignore_index -100, mean over target tokens),
backward, torch.optim.AdamW (weight decay on the parameters rsft decays: embeddings and matrices,
not biases and LayerNorms), float32. Generation: torch.inference_mode(), left-padded prompts with
position ids and a key mask, a KV cache (past keys/values concatenated each step, as Hugging Face
GPT-2 does), sampling with torch.multinomial at the given temperature, the log-probability of each
sampled token accumulated per row (rsft returns it too), a fixed number of new tokens per row.
"""
import json
import math
import statistics
import sys
import time

from torch_peer import blas_library, import_torch

torch = import_torch()
import torch.nn.functional as F  # noqa: E402 - after the guarded import
from torch import nn  # noqa: E402


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h, self.hd = h, d // h
        self.ln_1 = nn.LayerNorm(d)
        self.c_attn = nn.Linear(d, 3 * d)
        self.attn_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d)
        self.c_fc = nn.Linear(d, 4 * d)
        self.mlp_proj = nn.Linear(4 * d, d)

    def forward(self, x, mask, past=None):
        """x [B, T, d]; mask broadcastable to [B, H, T, S] (True = masked out); past (k, v) or None."""
        B, T, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q = q.view(B, T, self.h, self.hd).transpose(1, 2) * (1.0 / math.sqrt(self.hd))
        k = k.view(B, T, self.h, self.hd).transpose(1, 2)
        v = v.view(B, T, self.h, self.hd).transpose(1, 2)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        att = (q @ k.transpose(-2, -1)).masked_fill(mask, -1e9).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, d)
        x = x + self.attn_proj(y)
        x = x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))
        return x, (k, v)


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        V, C, d, H, L = cfg["vocab"], cfg["context"], cfg["dModel"], cfg["nHeads"], cfg["nLayers"]
        self.wte = nn.Embedding(V, d)
        self.wpe = nn.Embedding(C, d)
        self.h = nn.ModuleList([Block(d, H) for _ in range(L)])
        self.ln_f = nn.LayerNorm(d)
        self.register_buffer("causal", torch.ones(C, C, dtype=torch.bool).triu(1), persistent=False)

    def forward(self, idx, pos=None, key_mask=None, past=None):
        """idx [B, T]; pos [B, T] (default 0..T-1); key_mask [B, S] bool (True = real token);
        past: list of (k, v) per layer. Returns logits [B, T, V] and the presents."""
        B, T = idx.shape
        P = 0 if past is None else past[0][0].shape[2]
        if pos is None:
            pos = torch.arange(P, P + T).unsqueeze(0)
        mask = self.causal[P:P + T, :P + T]  # [T, S]
        if key_mask is not None:
            mask = mask | ~key_mask[:, None, None, :]  # [B, 1, T, S]
        x = self.wte(idx) + self.wpe(pos)
        presents = []
        for l, blk in enumerate(self.h):
            x, kv = blk(x, mask, None if past is None else past[l])
            presents.append(kv)
        logits = F.linear(self.ln_f(x), self.wte.weight)
        return logits, presents


# rsft parameter name -> (torch parameter name, transpose)
def name_map(cfg):
    m = {"wte.weight": ("wte.weight", False), "wpe.weight": ("wpe.weight", False),
         "ln_f.weight": ("ln_f.weight", False), "ln_f.bias": ("ln_f.bias", False)}
    for l in range(cfg["nLayers"]):
        p = f"h.{l}"
        for a, b in [("ln_1", "ln_1"), ("ln_2", "ln_2")]:
            m[f"{p}.{a}.weight"] = (f"{p}.{b}.weight", False)
            m[f"{p}.{a}.bias"] = (f"{p}.{b}.bias", False)
        for a, b in [("attn.c_attn", "c_attn"), ("attn.c_proj", "attn_proj"), ("mlp.c_fc", "c_fc"), ("mlp.c_proj", "mlp_proj")]:
            m[f"{p}.{a}.weight"] = (f"{p}.{b}.weight", True)
            m[f"{p}.{a}.bias"] = (f"{p}.{b}.bias", False)
    return m


def build(spec):
    cfg = spec["cfg"]
    model = GPT(cfg)
    flat = torch.from_file(spec["weights"], shared=False, size=sum(math.prod(p["shape"]) for p in spec["params"]), dtype=torch.float32)
    names = name_map(cfg)
    tp = dict(model.named_parameters())
    decay, no_decay, off = [], [], 0
    with torch.no_grad():
        for p in spec["params"]:
            n = math.prod(p["shape"])
            w = flat[off:off + n].view(*p["shape"])
            off += n
            tn, tr = names[p["name"]]
            tp[tn].copy_(w.t() if tr else w)
            (decay if p["decay"] else no_decay).append(tp[tn])
    assert len(decay) + len(no_decay) == len(tp), "every torch parameter comes from rsft's list"
    return model, decay, no_decay


def train(spec):
    model, decay, no_decay = build(spec)
    t = spec["train"]
    B, T = t["B"], t["T"]
    tokens = torch.tensor(t["tokens"], dtype=torch.long).view(B, T)
    targets = torch.tensor(t["targets"], dtype=torch.long).view(B, T)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": t["weightDecay"]}, {"params": no_decay, "weight_decay": 0.0}], lr=t["lr"])
    V = spec["cfg"]["vocab"]

    def step():
        opt.zero_grad(set_to_none=True)
        logits, _ = model(tokens)
        loss = F.cross_entropy(logits.view(-1, V), targets.view(-1), ignore_index=-100)
        loss.backward()
        opt.step()
        return loss.item()

    losses = [step() for _ in range(3)]  # warm-up (and the first losses, to compare with rsft)
    times = []
    for _ in range(t["iters"]):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    q = statistics.quantiles(times, n=4)
    return {"ms": statistics.median(times), "p25": q[0], "p75": q[2], "losses": losses}


@torch.inference_mode()
def generate(model, prompts, pad, max_new, temperature, gen):
    """One batch: left-padded prompts, prefill, then max_new - 1 cached decode steps."""
    B = len(prompts)
    P = max(len(p) for p in prompts)
    idx = torch.full((B, P), pad, dtype=torch.long)
    key_mask = torch.zeros(B, P, dtype=torch.bool)
    for b, p in enumerate(prompts):
        idx[b, P - len(p):] = torch.tensor(p)
        key_mask[b, P - len(p):] = True
    pos = (key_mask.long().cumsum(1) - 1).clamp(min=0)
    lengths = key_mask.sum(1, keepdim=True)  # [B, 1]
    out = torch.empty(B, max_new, dtype=torch.long)
    logprob = torch.zeros(B)
    logits, past = model(idx, pos, key_mask)
    ones = torch.ones(B, 1, dtype=torch.bool)
    for t in range(max_new):
        z = logits[:, -1, :] / temperature
        logp = z.log_softmax(-1)
        nxt = torch.multinomial(logp.exp(), 1, generator=gen)  # [B, 1]
        logprob += logp.gather(1, nxt).squeeze(1)
        out[:, t] = nxt.squeeze(1)
        if t + 1 == max_new:
            break
        key_mask = torch.cat([key_mask, ones], dim=1)
        logits, past = model(nxt, lengths + t, key_mask, past)
    return out, logprob


def run_generate(spec):
    model, _, _ = build(spec)
    model.eval()
    g = spec["generate"]
    gen = torch.Generator().manual_seed(1)
    prompts, n = g["prompts"], len(g["prompts"]) * g["maxNew"]
    for _ in range(3):  # warm-up (as rsft's side)
        generate(model, prompts, g["pad"], g["maxNew"], g["temperature"], gen)
    secs = []
    for _ in range(g["reps"]):
        t0 = time.perf_counter()
        out, _ = generate(model, prompts, g["pad"], g["maxNew"], g["temperature"], gen)
        secs.append(time.perf_counter() - t0)
    eos = int((out == g["eos"]).sum()) if "eos" in g else 0
    return {"tokensPerSecond": n / statistics.median(secs), "seconds": secs, "tokens": n, "eosSampled": eos}


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    torch.set_num_threads(spec["threads"])
    res = train(spec) if spec["mode"] == "train" else run_generate(spec)
    res.update({"torch": torch.__version__, "python": sys.version.split()[0], "threads": torch.get_num_threads(), "blas": blas_library()})
    print(json.dumps(res))


main()
