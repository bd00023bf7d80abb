"""Engines behind the trainer: what computes a training step.

The :class:`charsmith.trainer.Trainer` owns the run (data order, schedule, evaluation,
checkpoints, resume state); an engine owns the arithmetic of one step. Two engines train
the same models into the same checkpoint:

- ``"numpy"`` (the default): :mod:`charsmith.model` and :mod:`charsmith.optim`, the compiled
  kernels when they are built.
- ``"torch"``: :mod:`charsmith.engines._torch_engine`, PyTorch's fused recurrent layers on a
  ``device`` ("cpu", "cuda", "cuda:N", "mps"), and under ``torchrun`` several processes
  with DistributedDataParallel (:mod:`charsmith.engines._distributed`).

Both keep the weights in the layout of :mod:`charsmith.model` (one flat float32 array, the
params its views), and the optimiser state as :class:`charsmith.optim.FlatOptimizer` keeps
it, so a resume state written by one is read by the other. The torch engine holds device
copies and ``pull`` / ``push`` move them to and from those host arrays.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

import numpy as np

from charsmith import model as M
from charsmith import optim
from charsmith._batching import Batch
from charsmith.config import ModelConfig
from charsmith.errors import CharsmithError, InputError

__all__ = ["ENGINES", "Engine", "NumpyEngine", "RankLostError", "make_engine"]

ENGINES = ("numpy", "torch")
TORCH_HINT = 'pip install "charsmith[torch]"'


class RankLostError(CharsmithError):
    """Another process of a torchrun run stopped, so this one cannot go on."""


def launched_by_torchrun() -> bool:
    """Whether this process is one of several that torchrun (or another launcher setting
    WORLD_SIZE) started."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def quiet_rank() -> bool:
    """Whether this is a process other than rank 0 of a torchrun run: it reports nothing but
    a lost peer (rank 0 reports everything else, for all)."""
    return launched_by_torchrun() and os.environ.get("RANK", "0") != "0"


class Engine(Protocol):
    """What the trainer asks of an engine. ``State`` objects are the engine's own (the
    hidden state carried between text windows); ``state_to_host`` / ``state_from_host``
    convert them to and from :data:`charsmith.model.State` of the whole (global) batch."""

    name: str
    rank: int  # this process's rank (0 alone writes); 0 without torchrun
    world: int  # processes training together

    def shard(self, batch: Batch) -> Batch: ...
    def zero_state(self, rows: int) -> Any: ...
    def rows(self, state: Any) -> int: ...
    def step(self, batch: Batch, state: Any, *, lr: float, t: int, clip_norm: float, clip_value: float,
             weight_decay: float, rng: np.random.Generator | None, frozen: tuple[str, ...],
             check: bool) -> tuple[float, Any, bool]: ...
    def average(self, decay: float) -> None: ...
    def pull(self) -> None: ...
    def push(self) -> None: ...
    def state_to_host(self, state: Any) -> M.State | None: ...
    def state_from_host(self, state: M.State) -> Any: ...
    def agree(self, value: int) -> int: ...
    def close(self) -> None: ...


class NumpyEngine:
    """The NumPy engine: :func:`charsmith.trainer.train_step` on the host arrays themselves."""

    name = "numpy"
    rank, world = 0, 1

    def __init__(self, cfg: ModelConfig, opt: optim.FlatOptimizer, ema: np.ndarray | None) -> None:
        self.cfg, self.opt, self.ema = cfg, opt, ema

    def shard(self, batch: Batch) -> Batch:
        return batch

    def zero_state(self, rows: int) -> M.State:
        return M.init_state(self.cfg, rows)

    def rows(self, state: M.State) -> int:
        return len(state[0][0])

    def step(self, batch: Batch, state: M.State, *, lr: float, t: int, clip_norm: float, clip_value: float,
             weight_decay: float, rng: np.random.Generator | None, frozen: tuple[str, ...],
             check: bool) -> tuple[float, M.State, bool]:
        from charsmith.trainer import train_step

        return train_step(self.cfg, self.opt, batch, state, lr=lr, t=t, clip_norm=clip_norm, clip_value=clip_value,
                          weight_decay=weight_decay, rng=rng, check=check, frozen=frozen)

    def average(self, decay: float) -> None:
        if self.ema is not None:
            self.ema += (1.0 - decay) * (self.opt.flat - self.ema)

    def pull(self) -> None:
        pass

    def push(self) -> None:
        pass

    def state_to_host(self, state: M.State) -> M.State:
        return state

    def state_from_host(self, state: M.State) -> M.State:
        return state

    def agree(self, value: int) -> int:
        return value

    def close(self) -> None:
        pass


def make_engine(name: str, device: str | None, cfg: ModelConfig, opt: optim.FlatOptimizer, ema: np.ndarray | None,
                batch_size: int) -> Engine:
    """The engine ``name`` ("numpy" or "torch") over the host arrays ``opt`` (weights and
    optimiser state) and ``ema`` (their moving average, or None). Raises InputError for an
    unknown engine, a device the machine lacks, torch missing, or several processes
    (torchrun) with the numpy engine or a ``batch_size`` they cannot share."""
    if name not in ENGINES:
        raise InputError(f"`engine` must be one of {', '.join(ENGINES)}; got {name!r}", param="engine")
    if name == "numpy":
        if device not in (None, "", "cpu"):
            raise InputError(f"`device={device}` needs `engine=torch`; the numpy engine runs on the cpu", param="device")
        if launched_by_torchrun():
            raise InputError("several processes (torchrun) train together only with `engine=torch`; pass it, "
                             "or run without torchrun", param="engine")
        return NumpyEngine(cfg, opt, ema)
    try:
        import torch  # noqa: F401
    except ImportError:
        raise InputError(f"`engine=torch` needs PyTorch, which is not installed; {TORCH_HINT}", param="engine") from None
    from charsmith.engines._torch_engine import TorchEngine

    return TorchEngine(cfg, opt, ema, device=device or "cpu", batch_size=batch_size)


def describe(engine: Engine, batch_size: int, lr: float) -> str:
    """The engine in a line; under torchrun with the rule the learning rate follows."""
    if engine.world == 1:
        return engine.name
    return (f"{engine.name}: global batch {batch_size} = {engine.world} processes x {batch_size // engine.world} rows; "
            f"lr {lr:g} applies to the global batch, whatever the number of processes (each process's loss is "
            "weighted so that DDP's mean gradient is the global batch's)")
