#!/usr/bin/env python3
"""The PyTorch twin of a Cartformer gpt training step, for speed comparisons on the CPU.

The same model as a Cartformer config with `model.block: gpt` and no side channels (item and
position embeddings, pre-LayerNorm blocks with causal multi-head attention and a tanh-GELU MLP,
dropout after the embeddings, the attention projection and the MLP, a final LayerNorm, the item
head tied to the item embedding plus a bias), the same objective (full softmax cross-entropy over
every item at every position that has a next item) and optimizer (AdamW, gradient clipping), on
the same batches' shapes: 128 users drawn from the corpus, each the last max_len + 1 events of
its training prefix (all but the last two events). Written the way a PyTorch user would: padded
[B, T] tensors, `scaled_dot_product_attention`, the logits only for positions with a target.

Modes: eager fp32, eager with bf16 autocast, and torch.compile (fp32). Prints one Markdown row per
mode with tokens/s (tokens = input positions, as bench_pipeline counts them). Needs torch, h5py
and numpy; tools/bench/bench_vs_torch.sh runs it beside bench_pipeline.
"""
import argparse
import platform
import sys
import time

try:
    import h5py
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as missing:  # the caller skips the comparison
    print(f"torch_twin: skipped: {missing}", file=sys.stderr)
    sys.exit(3)


class Block(nn.Module):
    def __init__(self, d, heads, d_ff, dropout):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, d_ff), nn.Linear(d_ff, d)
        self.heads, self.dropout = heads, dropout

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        shape = (B, T, self.heads, C // self.heads)
        q, k, v = (t.view(shape).transpose(1, 2) for t in (q, k, v))
        # Right-padded rows: a causal mask keeps every real position off the padding after it.
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        a = a.transpose(1, 2).reshape(B, T, C)
        x = x + F.dropout(self.proj(a), self.dropout, self.training)
        h = F.gelu(self.fc1(self.ln2(x)), approximate="tanh")
        return x + F.dropout(self.fc2(h), self.dropout, self.training)


class Twin(nn.Module):
    def __init__(self, items, max_len, layers, d, heads, d_ff, dropout):
        super().__init__()
        self.item_emb = nn.Embedding(items, d)
        self.pos_emb = nn.Embedding(max_len, d)
        self.blocks = nn.ModuleList(Block(d, heads, d_ff, dropout) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.item_bias = nn.Parameter(torch.zeros(items))
        self.dropout = dropout
        # GPT-2's initialisation, as Cartformer's: N(0, 0.02) weights, zero biases, unit norms.
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, inputs, targets):
        T = inputs.shape[1]
        x = self.item_emb(inputs) + self.pos_emb(torch.arange(T))
        x = F.dropout(x, self.dropout, self.training)
        for block in self.blocks:
            x = block(x)
        h = self.ln_f(x)
        counted = targets > 0
        logits = h[counted] @ self.item_emb.weight.T + self.item_bias
        return F.cross_entropy(logits, targets[counted])


def training_windows(corpus, max_len):
    """Per user: the last max_len + 1 events of the training prefix (all but the last two)."""
    with h5py.File(corpus, "r") as f:
        items = f["events/item"][:]
        offsets = f["sequences/offsets"][:]
        num_items = f["stats/item_count"].shape[0]
    windows = []
    for u in range(len(offsets) - 1):
        seq = items[offsets[u]:offsets[u + 1] - 2]
        if len(seq) >= 2:
            windows.append(seq[-(max_len + 1):])
    return windows, num_items


def batches(windows, batch, max_len, count, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        inputs = np.zeros((batch, max_len), np.int64)
        targets = np.zeros((batch, max_len), np.int64)
        tokens = 0
        for b, u in enumerate(rng.integers(0, len(windows), batch)):
            w = windows[u]
            n = len(w) - 1
            inputs[b, :n], targets[b, :n] = w[:-1], w[1:]
            tokens += n
        out.append((torch.from_numpy(inputs), torch.from_numpy(targets), tokens))
    return out


def time_mode(mode, args, num_items, data):
    torch.manual_seed(args.seed)
    model = Twin(num_items, args.max_len, args.layers, args.d_model, args.heads, args.d_ff,
                 args.dropout)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, betas=(0.9, 0.98), weight_decay=0.0)
    # dynamic: the number of positions with a target changes from batch to batch.
    step_fn_model = torch.compile(model, dynamic=True) if mode == "compile" else model

    def step(inputs, targets):
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=(mode == "bf16 autocast")):
            loss = step_fn_model(inputs, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.detach()

    for inputs, targets, _ in data[:args.warmup]:  # also compiles, in the compile mode
        step(inputs, targets)
    tokens = 0
    start = time.perf_counter()
    for inputs, targets, n in data[args.warmup:]:
        loss = step(inputs, targets)
        tokens += n
    seconds = time.perf_counter() - start
    return tokens / seconds, seconds / args.steps, float(loss)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", default="runs/beauty/corpus.h5")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--modes", default="eager fp32,bf16 autocast,compile")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--max-len", type=int, default=50)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--heads", type=int, default=1)
    p.add_argument("--d-ff", type=int, default=256)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=2024)
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    windows, num_items = training_windows(args.corpus, args.max_len)
    data = batches(windows, args.batch, args.max_len, args.warmup + args.steps, args.seed)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, python "
          f"{platform.python_version()}; {args.corpus}: {len(windows)} users, {num_items} items")
    print("\n| mode | s/step | tokens/s | final loss |\n|---|---:|---:|---:|")
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        try:
            rate, per_step, loss = time_mode(mode, args, num_items, data)
            print(f"| torch {mode} | {per_step:.3f} | {rate:.0f} | {loss:.4f} |", flush=True)
        except Exception as e:  # e.g. torch.compile without a working C++ toolchain
            print(f"| torch {mode} | failed: {type(e).__name__}: {str(e).splitlines()[0][:80]} | - | - |",
                  flush=True)


if __name__ == "__main__":
    main()
