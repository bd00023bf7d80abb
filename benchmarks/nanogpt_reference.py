"""nanoGPT's CPU configuration on tinyshakespeare, for a time budget, scored on our final held-out set.

    python benchmarks/nanogpt_reference.py [--minutes 3] [--iters N]

A small re-implementation in PyTorch (written for this benchmark, not copied) of nanoGPT's
character-level Shakespeare run as its README gives it for "I only have a macbook":

    python train.py config/train_shakespeare_char.py --device=cpu --compile=False --eval_iters=20
      --log_interval=1 --block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128
      --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0

followed at karpathy/nanoGPT commit 3adf61e154c3fe3fca428ad6bc3818b27a3b8291 (model.py, train.py,
config/train_shakespeare_char.py, data/shakespeare_char/prepare.py): a pre-LayerNorm GPT without
biases, GELU MLP of 4x width, tied input/output embeddings, learned positions, N(0, 0.02) weights
and 0.02/sqrt(2 n_layer) for the residual projections; AdamW (betas 0.9, 0.99; weight decay 0.1
on the 2-D tensors only), peak learning rate 1e-3 with 100 warm-up iterations and a cosine decay
to 1e-4 at ``lr_decay_iters``; gradients clipped to norm 1; random windows of the training ids;
an estimate of the train and held-out loss (20 batches each) every 250 iterations, the
checkpoint kept when the held-out estimate improves; the vocabulary is every character of the
file (as prepare.py), the first 90% of the ids train and the rest are held out.

Departures, each to put nanoGPT on the same footing as the budget grid
(``benchmarks/budget_grid.py``):

- the data: prepare.py's split is applied to the grid's training copy (the first 90% of the
  file), so nanoGPT trains on exactly our runs' training characters, and its held-out estimate
  uses our tuning characters; the file's last 10% (the FINAL set) is scored at the end;
- the budget: ``max_iters = lr_decay_iters`` is set from the time budget by the grid's
  steps-equivalent method: iters = 60 * minutes * r / (1 + q / 250), with r nanoGPT's iterations
  per second on the quiet machine (its speed measured against the grid's reference configuration
  in the same window, times that configuration's quiet rate) and q the cost of one of its
  estimates, in iterations, measured in the same window;
- the final figure: the kept checkpoint's mean loss per character over every character of the
  final set (windows of 64 with a stride of 32, each character predicted with at least 32 of
  context but at the start), not nanoGPT's 20-batch estimate;
- one thread (torch.set_num_threads(1), and one for the reference configuration while its speed
  is measured), float32, no torch.compile (as the README's CPU run). On a busy machine torch's
  two threads wait on each other: measured together, two-thread nanoGPT ran at 0.064 of the
  reference's speed and one-thread at 0.535 (2026-12-06, load 6-8), so the ratio is taken on one
  thread each and applied to the reference's two-thread quiet rate, which assumes nanoGPT gains
  from a second thread what the reference does (generous to nanoGPT if it gains less).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import budget_grid  # noqa: E402

OUT = budget_grid.ROOT / "benchmarks" / "results" / "nanogpt_reference.json"
REF = "gru128x1_b32"  # the grid configuration nanoGPT's speed is measured against
CFG = dict(block_size=64, batch_size=12, n_layer=4, n_head=4, n_embd=128, dropout=0.0, lr=1e-3, min_lr=1e-4,
           warmup_iters=100, weight_decay=0.1, betas=(0.9, 0.99), grad_clip=1.0, eval_interval=250, eval_iters=20,
           seed=1337)


def build(vocab: int, c: dict[str, Any]) -> Any:
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qkv = nn.Linear(c["n_embd"], 3 * c["n_embd"], bias=False)
            self.proj = nn.Linear(c["n_embd"], c["n_embd"], bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            B, T, C = x.shape
            q, k, v = (t.view(B, T, c["n_head"], C // c["n_head"]).transpose(1, 2)
                       for t in self.qkv(x).split(C, dim=2))  # (B, nh, T, hs) each
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.proj(y.transpose(1, 2).reshape(B, T, C))

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1 = nn.LayerNorm(c["n_embd"], bias=False)
            self.attn = Attention()
            self.ln2 = nn.LayerNorm(c["n_embd"], bias=False)
            self.fc = nn.Linear(c["n_embd"], 4 * c["n_embd"], bias=False)
            self.proj = nn.Linear(4 * c["n_embd"], c["n_embd"], bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = x + self.attn(self.ln1(x))
            return x + self.proj(F.gelu(self.fc(self.ln2(x))))

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tok = nn.Embedding(vocab, c["n_embd"])
            self.pos = nn.Embedding(c["block_size"], c["n_embd"])
            self.blocks = nn.ModuleList(Block() for _ in range(c["n_layer"]))
            self.ln_f = nn.LayerNorm(c["n_embd"], bias=False)
            self.head = nn.Linear(c["n_embd"], vocab, bias=False)
            self.tok.weight = self.head.weight  # tied
            for name, p in self.named_parameters():
                if p.dim() == 2:
                    std = 0.02 / math.sqrt(2 * c["n_layer"]) if name.endswith("proj.weight") else 0.02
                    nn.init.normal_(p, 0.0, std)

        def forward(self, idx: torch.Tensor) -> torch.Tensor:  # (B, T) -> logits (B, T, V)
            x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
            for b in self.blocks:
                x = b(x)
            return self.head(self.ln_f(x))

    return GPT()


def lr_at(it: int, c: dict[str, Any], decay_iters: int) -> float:
    if it < c["warmup_iters"]:
        return c["lr"] * (it + 1) / (c["warmup_iters"] + 1)
    if it > decay_iters:
        return c["min_lr"]
    ratio = (it - c["warmup_iters"]) / (decay_iters - c["warmup_iters"])
    return c["min_lr"] + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (c["lr"] - c["min_lr"])


class Run:
    """nanoGPT's training loop on ``train`` ids, estimating on ``val`` ids."""

    def __init__(self, text: str, train_text: str, c: dict[str, Any]) -> None:
        import torch

        torch.manual_seed(c["seed"])
        self.c = c
        chars = sorted(set(text))
        self.stoi = {ch: i for i, ch in enumerate(chars)}
        ids = np.array([self.stoi[ch] for ch in train_text], dtype=np.int64)
        n = int(len(ids) * 0.9)
        self.train, self.val = torch.from_numpy(ids[:n]), torch.from_numpy(ids[n:])
        self.model = build(len(chars), c)
        params = [p for p in self.model.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": c["weight_decay"]},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
        self.opt = torch.optim.AdamW(groups, lr=c["lr"], betas=c["betas"])
        self.best_val, self.best_state = math.inf, None

    def batch(self, data: Any) -> tuple[Any, Any]:
        import torch

        ix = torch.randint(len(data) - self.c["block_size"], (self.c["batch_size"],))
        x = torch.stack([data[i:i + self.c["block_size"]] for i in ix])
        y = torch.stack([data[i + 1:i + 1 + self.c["block_size"]] for i in ix])
        return x, y

    def loss(self, x: Any, y: Any) -> Any:
        from torch.nn import functional as F

        logits = self.model(x)
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), y.view(-1))

    def estimate(self) -> dict[str, float]:
        import torch

        self.model.eval()
        out = {}
        with torch.no_grad():
            for split, data in (("train", self.train), ("val", self.val)):
                out[split] = float(np.mean([self.loss(*self.batch(data)).item() for _ in range(self.c["eval_iters"])]))
        self.model.train()
        return out

    def step(self, it: int, decay_iters: int) -> float:
        import torch

        for g in self.opt.param_groups:
            g["lr"] = lr_at(it, self.c, decay_iters)
        loss = self.loss(*self.batch(self.train))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.c["grad_clip"])
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return float(loss.item())

    def train_for(self, iters: int) -> list[dict[str, float]]:
        """iters + 1 iterations, estimating every eval_interval (from 0), as train.py."""
        curve = []
        for it in range(iters + 1):
            if it % self.c["eval_interval"] == 0:
                est = self.estimate()
                curve.append({"iter": it, **est})
                if est["val"] < self.best_val:
                    self.best_val = est["val"]
                    self.best_state = {k: v.clone() for k, v in self.model.state_dict().items()}
            self.step(it, iters)
        return curve

    def score(self, text: str) -> float:
        """Mean NLL per character of ``text``: windows of block_size, stride block_size / 2."""
        import torch
        from torch.nn import functional as F

        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        self.model.eval()
        ids = torch.tensor([self.stoi[ch] for ch in text], dtype=torch.int64)
        T, half = self.c["block_size"], self.c["block_size"] // 2
        total, count = 0.0, 0
        starts = list(range(0, len(ids) - T, half))
        with torch.no_grad():
            for i in range(0, len(starts), 64):
                chunk = starts[i:i + 64]
                x = torch.stack([ids[s:s + T] for s in chunk])
                y = torch.stack([ids[s + 1:s + 1 + T] for s in chunk])
                nll = F.cross_entropy(self.model(x).transpose(1, 2), y, reduction="none")  # (B, T)
                for row, s in enumerate(chunk):
                    keep = nll[row] if s == 0 else nll[row, half:]
                    total += float(keep.sum())
                    count += keep.numel()
            last = starts[-1] + T  # the tail the windows did not reach
            if last < len(ids) - 1:
                s = len(ids) - 1 - T
                nll = F.cross_entropy(self.model(ids[s:s + T][None]).transpose(1, 2), ids[s + 1:s + 1 + T][None],
                                      reduction="none")[0]
                total += float(nll[T - (len(ids) - 1 - last):].sum())
                count += len(ids) - 1 - last
        return total / count


def speed(text: str, train_text: str, c: dict[str, Any], lo: int = 20, hi: int = 220) -> tuple[float, float]:
    """(iterations/s, one estimate's cost in iterations), on the machine as it is."""
    times = []
    for n in (lo, hi):
        run = Run(text, train_text, c)
        t0 = time.perf_counter()
        for it in range(n):
            run.step(it, hi)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    run.estimate()
    est = time.perf_counter() - t0
    r = (hi - lo) / (times[1] - times[0])
    return r, est * r


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--iters", type=int, default=0, help="train this many iterations instead (no speed measurement)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from charsmith import backend
    from charsmith._reading import read_text

    text = read_text(budget_grid.DATA / "tinyshakespeare.txt")
    with tempfile.TemporaryDirectory(prefix="charsmith-nanogpt-") as tmp_name:
        files = budget_grid.prepare(Path(tmp_name))
        train_text = files["text"]["train"].read_text(encoding="utf-8")
        final_text = files["text"]["final"].read_text(encoding="utf-8")
        result: dict[str, Any] = {"config": {k: v for k, v in CFG.items()}, "minutes": args.minutes,
                                  "load_start": [round(x, 2) for x in os.getloadavg()]}
        if args.iters:
            iters = args.iters
        else:  # ours, nanoGPT, ours, nanoGPT, one thread each: the faster of each pair
            opts = {**budget_grid.BASE["text"], **budget_grid.config(REF)}
            ours, theirs, q = [], [], 0.0
            with backend.use(backend.current().with_threads(1)):
                for _ in range(2):
                    a = budget_grid.timed(files["text"]["train"], opts, 20, Path(tmp_name) / "ref")
                    b = budget_grid.timed(files["text"]["train"], opts, 220, Path(tmp_name) / "ref")
                    ours.append(200 / (b - a))
                    r, q = speed(text, train_text, CFG)
                    theirs.append(r)
            r_ref_quiet = budget_grid.RATES[f"text:{REF}"]
            r_quiet = r_ref_quiet * max(theirs) / max(ours)
            iters = round(60 * args.minutes * r_quiet / (1 + q / CFG["eval_interval"]))
            result.update(ref=REF, r_ref_quiet=r_ref_quiet, r_ref_now=round(max(ours), 3), r_now=round(max(theirs), 3),
                          ratio=round(max(theirs) / max(ours), 4), r_quiet=round(r_quiet, 3), q=round(q, 2))
        t0 = time.perf_counter()
        run = Run(text, train_text, CFG)
        curve = run.train_for(iters)
        wall = time.perf_counter() - t0
        final = run.score(final_text)
    result.update(iters=iters, curve=curve, tune=round(run.best_val, 4), final=round(final, 4), wall_s=round(wall, 1),
                  load_end=[round(x, 2) for x in os.getloadavg()],
                  date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
    tmp = OUT.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    tmp.replace(OUT)
    print(f"nanoGPT CPU configuration, {iters} iterations ({args.minutes:g} min): tuning estimate {run.best_val:.4f}, "
          f"final set {final:.4f} nats/char, {wall:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
