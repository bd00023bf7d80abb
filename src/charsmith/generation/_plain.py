"""Plain draws from the model, kept when they match: exact rejection sampling.

Each row is an ordinary draw from the model's next-character distribution, primed with the
prefix (which conditions on the prefix exactly). A row is dropped the moment it writes a
character that leaves no way to match (the automaton's live table says so); it would have
been rejected at the end anyway, so the items kept are exactly draws from the model
conditioned on the constraints, and dropping early only saves work.
"""

from __future__ import annotations

import numpy as np

from charsmith.generation.constraints import Plan
from charsmith.generation.controls import Controls
from charsmith.generation.stepper import Stepper
from charsmith.vocab import Vocab

__all__ = ["decode", "draw_matches"]

END_ID = 0


def draw_matches(
    stepper: Stepper, plan: Plan, controls: Controls, rng: np.random.Generator | None, batch: int, *,
    cut: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """``batch`` plain draws (greedy when ``rng`` is None). Returns the generated ids
    (M, max_len - t0) and lengths (M,) of the M rows that match ``plan``, in draw order.

    ``cut``: keep a row that reaches ``max_len`` without ending, cut there (a quick look at a
    model in training, not an exact sample; the end token is masked before ``min_len``)."""
    x, rows = stepper.prime(np.concatenate(([END_ID], plan.prefix_ids)), batch)
    width = plan.max_len - plan.t0
    out = np.zeros((batch, width), dtype=np.int64)  # generated ids after the prefix
    idx = np.arange(batch)  # the out row of each live row
    states = np.full(batch, plan.start)
    finished: list[np.ndarray] = []
    lengths = np.zeros(batch, dtype=np.int64)
    for t in range(plan.t0, plan.max_len + plan.ends):  # lines: at t == max_len only the end token may come
        if cut and t == plan.max_len:
            finished.append(idx)
            lengths[idx] = width
            break
        logits, rows = stepper.step(x, rows)
        banned = END_ID if cut and plan.ends and t < plan.min_len else None  # a quick look: too short to end
        if rng is None:
            p = controls.probs(logits)  # (b, V)
            if banned is not None:
                p[:, banned] = 0.0
            x = p.argmax(axis=1)
        else:
            x = controls.sample(logits, rng, banned=banned)
        ok = plan.permits(t, states, x)
        done = ok & (x == END_ID) if plan.ends else ok & (t + 1 == plan.max_len)
        if t < plan.max_len:
            out[idx, t - plan.t0] = x
        lengths[idx[done]] = t - plan.t0 + (not plan.ends)
        finished.append(idx[done])
        keep = ok & ~done
        if not keep.all():
            idx, x, rows = idx[keep], x[keep], rows.take(np.flatnonzero(keep))
            states = states[keep]
            if idx.size == 0:
                break
        states = plan.advance(states, x)
    got = np.sort(np.concatenate(finished)) if finished else np.zeros(0, dtype=np.int64)
    return out[got], lengths[got]


def decode(vocab: Vocab, prefix: str, ids: np.ndarray, lengths: np.ndarray) -> list[str]:
    """The items: ``prefix`` + the first ``lengths[i]`` ids of row i of ``ids``."""
    return [prefix + s for s in vocab.decode_rows(ids, lengths)]
