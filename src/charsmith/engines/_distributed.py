"""Several processes training one model: torchrun's environment, DDP, and the few
collectives the trainer needs (PyTorch's own; nothing here reduces by hand).

``torchrun --nproc-per-node N -m charsmith train FILE --engine torch`` starts N processes
with RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous in their environment. Each joins the
process group (NCCL on CUDA, gloo on the CPU), trains on its share of the rows of every
global batch (``batch_size`` is the global batch: ``batch_size / WORLD_SIZE`` rows a
process), and DDP averages the gradients, so every process applies the same update to the
same weights. Each process's loss is weighted by ``WORLD_SIZE / (real targets in the global
batch)``: after DDP's average the gradient is that of the global batch's mean loss, the very
gradient one process with the whole batch computes. The learning rate therefore applies to
the global batch unchanged ("same batch_size, same lr"): adding processes splits a batch,
it does not make it larger.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from charsmith.engines import RankLostError, launched_by_torchrun
from charsmith.errors import InputError

__all__ = ["Group", "RankLostError", "join"]


LOST = ("another process of this torchrun run stopped or lost its connection ({}); the last checkpoint and "
        "resume state in the run directory are kept: run the same command with `resume` to continue")


@dataclass
class Group:
    """This process's place in the run: rank, world size and device (one process: 0, 1)."""

    rank: int
    world: int
    device: torch.device

    def wrap(self, net: nn.Module) -> nn.Module:
        if self.world == 1:
            return net
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(net, device_ids=ids)

    def sum(self, t: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            t = t.clone()
            _call(dist.all_reduce, t, op=dist.ReduceOp.SUM)
        return t

    def max(self, value: int) -> int:
        if self.world == 1:
            return value
        t = torch.tensor([value], dtype=torch.int64, device=self.device)
        _call(dist.all_reduce, t, op=dist.ReduceOp.MAX)
        return int(t.item())

    def gather_rows(self, t: torch.Tensor, counts: list[int]) -> torch.Tensor:
        """Every process's rows of ``t`` (counts[r] rows on rank r), in rank order."""
        if self.world == 1:
            return t
        most = max(counts)
        padded = torch.zeros((most, *t.shape[1:]), dtype=t.dtype, device=t.device)
        padded[: len(t)] = t
        parts = [torch.empty_like(padded) for _ in range(self.world)]
        _call(dist.all_gather, parts, padded)
        return torch.cat([p[:n] for p, n in zip(parts, counts, strict=True)])

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Turn a lost peer (a RuntimeError of DDP's collectives) into RankLostError."""
        try:
            yield
        except RuntimeError as e:
            if self.world == 1:
                raise
            raise RankLostError(LOST.format(_first_line(e))) from None

    def leave(self) -> None:
        """Leave the group, all together (a barrier first: gloo can abort a process whose peer
        tears its connections down while it still reads from them); after a lost peer, alone."""
        if self.world > 1 and dist.is_initialized():
            try:
                dist.barrier()
            except RuntimeError:
                pass
            dist.destroy_process_group()


def _first_line(e: BaseException) -> str:
    """The first line of a backend's error, without its source location ("[.../pair.cc:537] ")."""
    text = re.sub(r"^\[[^\]]*\]\s*", "", str(e).splitlines()[0]) if str(e) else ""
    return text[:120] or type(e).__name__


def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except RuntimeError as e:  # gloo/NCCL report a lost peer as a RuntimeError (DistBackendError)
        raise RankLostError(LOST.format(_first_line(e))) from None


def join(device: torch.device, batch_size: int) -> Group:
    """This process's group: alone, or (under torchrun) one of WORLD_SIZE joined with
    NCCL (cuda) or gloo (cpu). InputError when ``batch_size`` does not split evenly."""
    if not launched_by_torchrun():
        return Group(0, 1, device)
    world, rank = int(os.environ["WORLD_SIZE"]), int(os.environ.get("RANK", "0"))
    if batch_size % world:
        lower, upper = batch_size - batch_size % world, batch_size + world - batch_size % world
        raise InputError(f"`batch_size={batch_size}` does not split over {world} processes; pass "
                         f"`batch_size={lower or upper}` or `batch_size={upper}` (the global batch; each process "
                         f"takes 1/{world} of it)", param="batch_size")
    if device.type == "mps":
        raise InputError("several processes (torchrun) need `device=cpu` or `device=cuda`; PyTorch has no MPS "
                         "process group", param="device")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        try:
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        except (RuntimeError, ValueError) as e:
            raise RankLostError(f"could not join the other processes ({_first_line(e)}); "
                                "start the run with torchrun") from None
    return Group(rank, world, device)
