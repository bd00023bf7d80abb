"""The PyTorch engine: the model of :mod:`charsmith.model` on PyTorch's fused recurrent layers.

The weights live on the device as one flat float32 tensor ``flat`` (P,), laid out as the
host's :class:`charsmith.optim.FlatOptimizer` lays them out (the order of
:func:`charsmith.model.param_shapes`); every parameter is a view of it, so DDP reduces one
gradient buffer and the optimiser is a handful of tensor operations, as on the host.

Each layer runs ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` (cuDNN on a GPU) through
``torch.func.functional_call`` with our weights. Our layout maps onto theirs exactly
(PyTorch's gate order; see :mod:`charsmith.model`)::

    weight_ih_l0 = W_ih.T (G, D)      weight_hh_l0 = W_hh.T (G, H)
    bias_ih_l0   = b                   bias_hh_l0   = 0 (gru: [0 | 0 | b_hn])

The category input does not fit a fused layer as the NumPy engine computes it (there it is
folded into layer 0's table of projected inputs); here it is what that folding stands for:
layer 0 reads ``concat(x_0, e)`` with ``e = onehot(cat) @ cat`` at every step, and
``weight_ih_l0 = concat(W_ih, W_cat).T``, the same function. With ``embed == 0`` the
characters enter as one-hot rows (the NumPy engine gathers rows of ``W_ih`` instead; same
function, more arithmetic when the vocabulary is large: prefer ``embed`` there).

Each layer is a separate one-layer fused call, so dropout falls where the NumPy engine
puts it: on every layer's output, the top one's included (``nn.LSTM(dropout=)`` skips the
top layer). Masks are drawn on the device from a generator seeded by the step's dropout
stream, for the whole global batch, so they do not depend on the number of processes
(they differ from the NumPy engine's masks, drawn from NumPy's generator).

The optimiser, clipping, frozen matrices and weight average are those of
:mod:`charsmith.optim` and :mod:`charsmith.trainer`, written again in tensor operations.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from charsmith import model as M
from charsmith import optim
from charsmith._batching import Batch, text_windows
from charsmith.config import ModelConfig
from charsmith.engines import _distributed
from charsmith.errors import InputError

__all__ = ["FlatModel", "TorchEngine", "check_device"]

TorchState = tuple[tuple[torch.Tensor, ...], ...]  # per layer (h,) or (h, c), each (B, H) on the device
FUSED = {"rnn": lambda d, h: nn.RNN(d, h, nonlinearity="tanh", batch_first=True),
         "gru": lambda d, h: nn.GRU(d, h, batch_first=True),
         "lstm": lambda d, h: nn.LSTM(d, h, batch_first=True)}


def check_device(device: str) -> torch.device:
    """``device`` as a torch.device this machine has; InputError naming the fix otherwise."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"`device` must be cpu, cuda, cuda:N or mps; got {device!r}", param="device") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"`device={device}`: PyTorch sees no CUDA GPU here; pass `device=cpu` "
                             "(or install a CUDA build of PyTorch on a machine with a GPU)", param="device")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(f"`device={device}`: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                             "numbered from 0; pass `device=cuda:0`", param="device")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise InputError(f"`device={device}`: PyTorch sees no Apple GPU (MPS) here; pass `device=cpu`",
                             param="device")
    elif dev.type != "cpu":
        raise InputError(f"`device` must be cpu, cuda, cuda:N or mps; got {device!r}", param="device")
    return dev


class FlatModel(nn.Module):
    """The model of :mod:`charsmith.model` with its weights as views of one Parameter ``flat``.

    ``forward`` returns the weighted sum of the next-character losses (the weights say how
    each position counts) and the final state. The fused layers are kept outside the
    module's parameters (only their code is used), so DDP sees ``flat`` alone.
    """

    def __init__(self, cfg: ModelConfig, flat: np.ndarray, device: torch.device) -> None:
        super().__init__()
        self.cfg = cfg
        self.flat = nn.Parameter(torch.from_numpy(flat.copy()).to(device))
        self.shapes = M.param_shapes(cfg)
        H, G = cfg.hidden, self.shapes["l0.b"][0]
        d0 = self.shapes["l0.W_ih"][0] + cfg.cat_embed
        self._layers = [FUSED[cfg.cell](d0 if i == 0 else H, H).to(device) for i in range(cfg.layers)]
        zeros = torch.zeros(G, device=device, dtype=self.flat.dtype)
        self._zero_bias = zeros

    def views(self, flat: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """name -> a view of ``flat`` (default: the Parameter) shaped as in :func:`charsmith.model.param_shapes`."""
        flat = self.flat if flat is None else flat
        out, start = {}, 0
        for name, shape in self.shapes.items():
            n = math.prod(shape)
            out[name] = flat[start : start + n].view(shape)
            start += n
        return out

    def forward(self, ids: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, state: TorchState,
                cats: torch.Tensor | None, masks: list[torch.Tensor] | None, flat: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, TorchState]:
        """ids, targets (B, T) int64 (id -1: a zero input), weights (B, T); cats (B,) or None;
        masks: per layer (B, T, H) scaled dropout masks, or None; ``flat``: other weights
        than the Parameter's (the weight average)."""
        cfg, p = self.cfg, self.views(flat)
        valid = (ids >= 0).unsqueeze(-1).to(self.flat.dtype)  # (B, T, 1)
        safe = ids.clamp(min=0)
        if cfg.embed > 0:
            x = p["wte"][safe] * valid  # (B, T, E)
        else:
            x = F.one_hot(safe, cfg.vocab_size).to(self.flat.dtype) * valid  # (B, T, V)
        w_ih0 = p["l0.W_ih"]
        if cats is not None:  # layer 0 reads concat(x_0, e) through concat(W_ih, W_cat)
            e = p["cat"][cats]  # (B, C)
            x = torch.cat([x, e.unsqueeze(1).expand(-1, x.shape[1], -1)], dim=-1)
            w_ih0 = torch.cat([w_ih0, p["W_cat"]], dim=0)
        final = []
        for i, fused in enumerate(self._layers):
            pre = f"l{i}."
            b_hh = self._zero_bias
            if cfg.cell == "gru":
                b_hh = torch.cat([self._zero_bias[: 2 * cfg.hidden], p[pre + "b_hn"]])
            weights_i = {"weight_ih_l0": (w_ih0 if i == 0 else p[pre + "W_ih"]).T, "weight_hh_l0": p[pre + "W_hh"].T,
                         "bias_ih_l0": p[pre + "b"], "bias_hh_l0": b_hh}
            s = tuple(t.unsqueeze(0) for t in state[i])
            x, s_new = functional_call(fused, weights_i, (x, s if cfg.cell == "lstm" else s[0]))
            final.append(tuple(t.squeeze(0) for t in (s_new if cfg.cell == "lstm" else (s_new,))))
            if masks is not None:
                x = x * masks[i]
        logits = x @ p["W_out"] + p["b_out"]  # (B, T, V)
        nll = F.cross_entropy(logits.reshape(-1, cfg.vocab_size), targets.clamp(min=0).reshape(-1), reduction="none")
        return (nll * weights.reshape(-1)).sum(), tuple(final)


class TorchEngine:
    """Trains on ``device``; under torchrun one of ``world`` processes (see
    :mod:`charsmith.engines._distributed`). ``opt`` and ``ema`` are the host arrays it
    reads at the start and on ``push``, and writes on ``pull``."""

    def __init__(self, cfg: ModelConfig, opt: optim.FlatOptimizer, ema: np.ndarray | None, *, device: str,
                 batch_size: int) -> None:
        self.cfg, self.opt, self.host_ema = cfg, opt, ema
        dev = check_device(device)
        self.group = _distributed.join(dev, batch_size)
        self.rank, self.world, self.device = self.group.rank, self.group.world, self.group.device
        self.name = f"torch {self.device}" + (f", {self.world} processes (DDP)" if self.world > 1 else "")
        self.net = FlatModel(cfg, opt.flat, self.device)
        self.module: nn.Module = self.group.wrap(self.net)
        self.flat = self.net.flat
        self.state = {k: torch.zeros_like(self.flat) for k in opt.state}
        self.ema = None if ema is None else torch.zeros_like(self.flat)
        self.decay_mask = torch.from_numpy(opt.decay_mask).to(self.device)
        self._frozen: dict[tuple[str, ...], torch.Tensor] = {}
        self._split: tuple[int, int, list[int]] = (0, 0, [])  # this rank's rows [lo, hi), every rank's count
        self.push()

    # ----- host arrays ----------------------------------------------------------------
    def push(self) -> None:
        """Copy the host weights, optimiser state and weight average to the device."""
        with torch.no_grad():
            self.flat.copy_(torch.from_numpy(self.opt.flat))
            for k, v in self.state.items():
                v.copy_(torch.from_numpy(self.opt.state[k]))
            if self.ema is not None and self.host_ema is not None:
                self.ema.copy_(torch.from_numpy(self.host_ema))

    def pull(self) -> None:
        """Copy the device's weights, optimiser state and weight average to the host arrays."""
        self.opt.flat[...] = self.flat.detach().cpu().numpy()
        for k, v in self.state.items():
            self.opt.state[k][...] = v.cpu().numpy()
        if self.ema is not None and self.host_ema is not None:
            self.host_ema[...] = self.ema.cpu().numpy()

    # ----- batches and states ------------------------------------------------------------
    def shard(self, batch: Batch) -> Batch:
        """Note how the global batch is split over the processes (``batch`` is this process's
        share when ``batch.total`` is set, the whole batch otherwise)."""
        self._place(batch.rows if batch.total else len(batch.ids))
        if self.world > 1 and not batch.total:
            raise ValueError("with several processes, batches must be this process's share (Corpus.batches(part=...))")
        return batch

    def _place(self, rows: int) -> tuple[int, int]:
        """Split ``rows`` global rows over the processes as ``np.array_split`` does (as
        :class:`charsmith._batching.TrainBatches` does); keep and return this process's [lo, hi)."""
        counts = [len(a) for a in np.array_split(np.arange(rows), self.world)]
        lo = sum(counts[: self.rank])
        self._split = (lo, lo + counts[self.rank], counts)
        return lo, lo + counts[self.rank]

    def zero_state(self, rows: int) -> TorchState:
        n = 2 if self.cfg.cell == "lstm" else 1
        z = (rows, self.cfg.hidden)
        return tuple(tuple(torch.zeros(z, device=self.device) for _ in range(n)) for _ in range(self.cfg.layers))

    def rows(self, state: TorchState) -> int:
        return int(state[0][0].shape[0])

    def state_to_host(self, state: TorchState) -> M.State:
        """The state of the global batch's rows, gathered from every process."""
        lo, hi, counts = self._split
        out = []
        for layer_state in state:
            parts = []
            for t in layer_state:
                t = t[: hi - lo] if hi > lo else t[:0]
                parts.append(self.group.gather_rows(t.detach(), counts).cpu().numpy().astype(np.float32))
            out.append(tuple(parts))
        return tuple(out)

    def state_from_host(self, state: M.State) -> TorchState:
        """This process's rows of a host state of the global batch (one zero row if it has none)."""
        lo, hi = self._place(len(state[0][0]))
        if hi == lo:
            return self.zero_state(1)
        return tuple(tuple(torch.from_numpy(np.ascontiguousarray(s[lo:hi])).to(self.device) for s in layer)
                     for layer in state)

    def agree(self, value: int) -> int:
        """The largest ``value`` of all processes."""
        return self.group.max(value)

    def close(self) -> None:
        self.group.leave()

    @torch.no_grad()
    def stream_loss(self, ids: np.ndarray, *, seq_len: int, max_chars: int) -> float:
        """:func:`charsmith.scoring.stream_loss` of the weights evaluated (the average, with
        ema) on the device: the same windows, rows and carried state."""
        from charsmith.scoring import EVAL_ROWS

        total, count, state = 0.0, 0, None
        flat = self.flat if self.ema is None else self.ema
        for batch in text_windows(ids, EVAL_ROWS, seq_len, max_chars=max_chars):
            if state is None:
                state = self.zero_state(len(batch.ids))
            t = [torch.from_numpy(a).to(self.device) for a in (batch.ids, batch.targets, batch.mask)]
            nll, state = self.net(*t, state, None, None, flat)
            total += float(nll)
            count += batch.targets.size
        return total / max(count, 1)

    # ----- one step -------------------------------------------------------------------------
    def _masks(self, rng: np.random.Generator | None, B: int, T: int) -> list[torch.Tensor] | None:
        """Dropout masks for this process's rows, drawn for the whole global batch."""
        p = self.cfg.dropout
        if rng is None or p == 0.0:
            return None
        lo, hi, counts = self._split
        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(rng.integers(2**62)))
        shape = (sum(counts), T, self.cfg.hidden)
        masks = []
        for _ in range(self.cfg.layers):
            keep = torch.rand(shape, generator=gen, device=self.device) >= p
            m = keep.to(self.flat.dtype) * (1.0 / (1.0 - p))
            masks.append(m[lo:hi] if hi > lo else m[:B])
        return masks

    def _frozen_mask(self, frozen: tuple[str, ...]) -> torch.Tensor:
        if frozen not in self._frozen:
            mask = np.zeros(self.opt.flat.size, dtype=bool)
            start = 0
            for name, shape in self.net.shapes.items():
                n = math.prod(shape)
                mask[start : start + n] = name in frozen
                start += n
            self._frozen[frozen] = torch.from_numpy(mask).to(self.device)
        return self._frozen[frozen]

    def step(self, batch: Batch, state: TorchState, *, lr: float, t: int, clip_norm: float, clip_value: float,
             weight_decay: float, rng: np.random.Generator | None, frozen: tuple[str, ...],
             check: bool = False) -> tuple[float, TorchState, bool]:
        """One update on this process's ``batch`` (see :func:`charsmith.trainer.train_step`)."""
        dev = self.device
        ids = torch.from_numpy(batch.ids).to(dev, non_blocking=True)
        targets = torch.from_numpy(batch.targets).to(dev, non_blocking=True)
        mask = torch.from_numpy(batch.mask).to(dev, torch.float32)
        cats = None if batch.cats is None else torch.from_numpy(np.asarray(batch.cats, dtype=np.int64)).to(dev)
        total = float(batch.total or batch.n_chars) or 1.0
        weights = mask * (self.world / total)  # DDP averages the processes' gradients: the global mean
        masks = self._masks(rng, *batch.ids.shape)
        self.flat.grad = None
        with self.group.guard():
            loss, final = self.module(ids, targets, weights, state, cats, masks)
            loss.backward()
        mean = self.group.sum(loss.detach() / self.world)
        g = self.flat.grad
        assert g is not None
        kept = None
        if frozen:
            fz = self._frozen_mask(frozen)
            g.masked_fill_(fz, 0.0)
            kept = self.flat.detach()[fz].clone()
        if clip_value:
            g.clamp_(-clip_value, clip_value)
        value, norm = (float(x) for x in torch.stack([mean, torch.linalg.vector_norm(g)]).tolist())
        if math.isfinite(norm):
            if clip_norm > 0 and norm > clip_norm:
                g.mul_(clip_norm / (norm + 1e-6))
            self._update(g, lr=lr, t=t, weight_decay=weight_decay)
            if kept is not None:
                with torch.no_grad():
                    self.flat[fz] = kept
        ok = math.isfinite(value) and math.isfinite(norm)
        return value, (tuple(tuple(s.detach() for s in layer) for layer in final) if ok else state), ok

    @torch.no_grad()
    def _update(self, g: torch.Tensor, *, lr: float, t: int, weight_decay: float) -> None:
        """:func:`charsmith.optim.update` on the flat tensors (same order of operations)."""
        p, kind = self.flat, self.opt.optimizer
        if weight_decay:
            p.sub_((lr * weight_decay) * self.decay_mask * p)
        if kind == "adam":
            b1, b2 = optim.ADAM_BETAS
            step = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
            m, v = self.state["m/all"], self.state["v/all"]
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            p.addcdiv_(m, v.sqrt().add_(optim.EPS["adam"]), value=-step)
        elif kind == "sgd":
            p.sub_(lr * g)
        else:  # adagrad
            g2 = self.state["g2/all"]
            g2.addcmul_(g, g)
            p.sub_(lr * g / torch.sqrt(g2 + optim.EPS["adagrad"]))

    @torch.no_grad()
    def average(self, decay: float) -> None:
        if self.ema is not None:
            self.ema.add_(self.flat - self.ema, alpha=1.0 - decay)
