#!/usr/bin/env python3
"""PyTorch peer for bench/train-peers.js: the identical training step (same MLP, AdamW with
decoupled weight decay, softmax cross-entropy on logits, float32, same batch and threads).

usage: train_peers.py SIZES BATCH THREADS ITERS [LR WD]
  SIZES like 784-1024-1024-10. Prints JSON: median / p25 / p75 ms per step, versions.
Exit code 3 when torch is not importable (the caller skips with a message).
"""
import json
import statistics
import sys
import time

from torch_peer import blas_library, import_torch

torch = import_torch()


def main():
    sizes = [int(s) for s in sys.argv[1].split("-")]
    batch, threads, iters = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    lr = float(sys.argv[5]) if len(sys.argv) > 5 else 1e-3
    wd = float(sys.argv[6]) if len(sys.argv) > 6 else 0.01
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    # Same grouping as rsft: weight decay on weights, not on biases.
    decay = [p for n, p in model.named_parameters() if n.endswith("weight")]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, sizes[0], generator=g)
    y = torch.randint(0, sizes[-1], (batch,), generator=g)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(max(3, iters // 10)):
        step()
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        step().item()
        times.append((time.perf_counter() - t) * 1000)
    q = statistics.quantiles(times, n=4)
    print(json.dumps({
        "ms": statistics.median(times), "p25": q[0], "p75": q[2],
        "torch": torch.__version__, "python": sys.version.split()[0], "threads": torch.get_num_threads(),
        "blas": blas_library(),
    }))


main()
