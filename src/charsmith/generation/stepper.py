"""The one door from generation to the model.

Everything in ``charsmith.generation`` reaches the network through a :class:`Stepper`: it
primes a prefix, steps a batch of rows one character, and selects rows of the state. Rows
carry their model state and any per-row extras, model inputs besides the ids that stay with
a row as rows are dropped, copied (SMC resampling) or reordered (beam search). A new kind of
model input (for example a category condition, ``cond`` (B, K)) plugs in here and nowhere
else: ``prime`` puts each row's value in ``Rows.extras`` and ``step`` hands the extras to
``model.step`` as keyword arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from charsmith import model as M
from charsmith.config import ModelConfig
from charsmith.deadline import NEVER, Deadline

__all__ = ["Rows", "Stepper"]

Params = dict[str, np.ndarray]


@dataclass(frozen=True)
class Rows:
    """The state of B rows: the model state (one tuple per layer, each (B, H)) and per-row
    extras, each an array whose first axis is B."""

    state: M.State
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def take(self, idx: np.ndarray) -> Rows:
        """Rows ``idx`` (an index array; repeats copy a row)."""
        state = tuple(tuple(s[idx] for s in layer) for layer in self.state)
        return Rows(state, {k: v[idx] for k, v in self.extras.items()})


@dataclass(frozen=True)
class Stepper:
    """A model ready to generate: its parameters and config, and a ``deadline`` past which
    a step raises TimeLimitError (so one time limit covers every way of generating)."""

    params: Params
    cfg: ModelConfig
    deadline: Deadline = NEVER

    def prime(self, ids: np.ndarray, batch: int) -> tuple[np.ndarray, Rows]:
        """Feed ``ids`` (all but the last) to a zero state; return the last id for ``batch``
        rows (B,) and their rows, all alike."""
        dtype = self.params["W_out"].dtype
        state = M.init_state(self.cfg, 1, dtype)
        for i in ids[:-1]:
            _, state = M.step(self.params, self.cfg, np.array([i]), state)
        rows = Rows(state).take(np.zeros(batch, dtype=np.int64))
        return np.full(batch, ids[-1], dtype=np.int64), rows

    def step(self, x: np.ndarray, rows: Rows) -> tuple[np.ndarray, Rows]:
        """One character for every row: ids x (B,) -> logits (B, V) and the rows' new state."""
        self.deadline.check()
        logits, state = M.step(self.params, self.cfg, x, rows.state, check=False, **rows.extras)
        return logits, Rows(state, rows.extras)
