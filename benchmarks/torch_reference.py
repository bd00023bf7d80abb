"""The PyTorch reference for charsmith's speed benchmarks: the same model, trained and sampled
the way a competent PyTorch user would write it.

    embedding (nn.Embedding, or one-hot input when embed == 0)
      -> nn.RNN(tanh) / nn.GRU / nn.LSTM, batch_first, 1 layer by default
      -> nn.Linear head
    loss: F.cross_entropy over the flattened (B*T, V) logits, padding ignored (ignore_index=-1)
    step: zero_grad(set_to_none) -> forward -> backward -> clip_grad_norm_(5.0) -> Adam.step
          (betas (0.9, 0.99), eps 1e-8: charsmith's)

Nothing here is slow on purpose: torch.set_num_threads(cores), no data-loader, the batches
are tensors built before the timed loop, Adam uses the fastest CPU implementation measured
on this machine (``fused=True``; see ``ADAM_KW``), sampling runs under ``torch.inference_mode``
and drops finished rows as charsmith does. torch is optional: importing this module without
torch installed raises ImportError, which callers turn into "torch missing".
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ADAM_KW", "TorchCharModel", "make_trainer", "to_torch_batches", "sample_names", "setup_threads"]

# Measured on the benchmark machine (GRU E64 H64 B32, names): fused 1.00, foreach 1.03x slower,
# default for-loop 1.10x slower. The fastest is used.
ADAM_KW = dict(betas=(0.9, 0.99), eps=1e-8, fused=True)

_RNN = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


def setup_threads(n: int | None = None) -> int:
    """One intra-op thread per core (the brief: torch.set_num_threads(2) on 2 cores)."""
    n = n or os.cpu_count() or 1
    torch.set_num_threads(n)
    return n


class TorchCharModel(nn.Module):
    """charsmith's model in PyTorch: (embedding | one-hot) -> recurrent layers -> linear head."""

    def __init__(self, cell: str, vocab_size: int, hidden: int, embed: int = 64, layers: int = 1) -> None:
        super().__init__()
        self.V, self.embed_dim = vocab_size, embed
        self.emb = nn.Embedding(vocab_size, embed) if embed > 0 else None
        kw = {"nonlinearity": "tanh"} if cell == "rnn" else {}
        self.rnn = _RNN[cell](embed if embed > 0 else vocab_size, hidden, num_layers=layers, batch_first=True, **kw)
        self.head = nn.Linear(hidden, vocab_size)

    def inputs(self, ids: torch.Tensor) -> torch.Tensor:
        if self.emb is not None:
            return self.emb(ids)
        return F.one_hot(ids, self.V).to(self.head.weight.dtype)

    def forward(self, ids: torch.Tensor, state=None):
        out, state = self.rnn(self.inputs(ids), state)
        return self.head(out), state


def to_torch_batches(batches) -> list[tuple[torch.Tensor, torch.Tensor, int]]:
    """charsmith ``Batch``es -> (ids, targets with -1 where masked, n_chars) tensors."""
    out = []
    for b in batches:
        targets = np.where(b.mask > 0, b.targets, -1)
        out.append((torch.from_numpy(np.ascontiguousarray(b.ids)), torch.from_numpy(targets), int(b.mask.sum())))
    return out


def make_trainer(model: TorchCharModel, *, lr: float = 3e-3, clip_norm: float = 5.0):
    """A ``step(ids, targets) -> loss`` closure: one full training step."""
    opt = torch.optim.Adam(model.parameters(), lr=lr, **ADAM_KW)
    params = [p for p in model.parameters()]
    V = model.V

    def step(ids: torch.Tensor, targets: torch.Tensor) -> float:
        opt.zero_grad(set_to_none=True)
        logits, _ = model(ids)
        loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-1)
        loss.backward()
        nn.utils.clip_grad_norm_(params, clip_norm)
        opt.step()
        return loss.item()

    return step


@torch.inference_mode()
def sample_names(model: TorchCharModel, n: int, end: int, chars: str, *, max_len: int = 50,
                 generator: torch.Generator | None = None, temperature: float = 1.0, top_k: int = 0) -> list[str]:
    """``n`` names drawn together: step the recurrent module one character at a time for the
    whole batch, softmax(logits / temperature) over the ``top_k`` likeliest (0: all),
    torch.multinomial, drop rows that produced the end token."""
    x = torch.full((n,), end, dtype=torch.long)
    out = torch.full((n, max_len), end, dtype=torch.long)
    rows = torch.arange(n)
    state = None
    for t in range(max_len):
        o, state = model.rnn(model.inputs(x)[:, None, :], state)
        logits = model.head(o[:, 0]) / temperature
        if 0 < top_k < logits.shape[1]:
            kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        probs = torch.softmax(logits, dim=-1)
        x = torch.multinomial(probs, 1, generator=generator)[:, 0]
        out[rows, t] = x
        live = x != end
        if not bool(live.all()):
            keep = live.nonzero()[:, 0]
            rows, x = rows[keep], x[keep]
            state = tuple(s[:, keep] for s in state) if isinstance(state, tuple) else state[:, keep]
            if rows.numel() == 0:
                break
    names = []
    for ids in out.tolist():
        k = ids.index(end) if end in ids else len(ids)
        names.append("".join(chars[i] for i in ids[:k]))
    return names
