"""Memory a training run needs, estimated before anything is allocated.

A model too large for the machine is refused with a one-line error that names the estimate,
instead of a MemoryError traceback after gigabytes were allocated. The estimate is
deliberately generous about what training keeps (weights, gradients, optimiser state, a
copy being saved, one batch's activations), so it errs towards refusing only what cannot fit.
"""

from __future__ import annotations

import os

from charsmith.config import ModelConfig, TrainConfig
from charsmith.errors import ResourceError
from charsmith.model import param_count
from charsmith.nn import layer

__all__ = ["available_memory", "check_training_memory", "training_bytes"]

_OPTIMIZER_SLOTS = {"adam": 2, "adagrad": 1, "sgd": 0}


def training_bytes(model: ModelConfig, train: TrainConfig, max_len: int) -> int:
    """Bytes to train ``model`` on batches of ``train.batch_size`` rows and ``max_len`` steps.

    weights: params, their flat gradient and per-parameter gradients, the weight-decay mask,
    optimiser slots, and the checkpoint copy and its serialised bytes while saving;
    activations per position: every layer's gates and states (and dropout mask), the logits
    and their gradient. All float32.
    """
    _, P = param_count(model)
    H, V, L = model.hidden, model.vocab_size, model.layers
    G = layer.get_cell(model.cell).GATES * H
    weights = P * (6 + _OPTIMIZER_SLOTS.get(train.optimizer, 2))
    activations = train.batch_size * max_len * (L * (G + 4 * H) + 3 * V)
    return 4 * (weights + activations)


def available_memory() -> int | None:
    """Bytes this process may still allocate: the kernel's MemAvailable, capped by an address
    space limit (``ulimit -v``); None where neither can be read."""
    have = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    have = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError):
        try:
            have = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            have = None
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/statm", encoding="ascii") as f:
                used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            have = min(have if have is not None else soft, max(soft - used, 0))
    except (ImportError, OSError, ValueError):
        pass
    return have


def _size(n: int) -> str:
    if n >= 1e12:
        return f"{n / 1e12:,.0f} TB"
    return f"{n / 1e9:,.1f} GB" if n >= 1e8 else f"{n / 1e6:,.0f} MB"


def check_training_memory(model: ModelConfig, train: TrainConfig, max_len: int) -> None:
    """Raise ResourceError when training would need more memory than is available."""
    need = training_bytes(model, train, max_len)
    have = available_memory()
    if have is not None and need > have:
        _, P = param_count(model)
        seq = f", sequences of {train.seq_len}" if train.mode == "text" else ""
        raise ResourceError(
            f"training this model needs about {_size(need)} ({P:,} parameters: {model.layers} layer(s) of "
            f"hidden {model.hidden}, batch {train.batch_size}{seq}), more than the {_size(have)} of memory available; "
            f"lower `hidden`, `layers`{', `seq_len`' if seq else ''} or `batch_size`"
        )
