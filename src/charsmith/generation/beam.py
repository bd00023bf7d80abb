"""The most likely items: beam search under the constraints.

Each step extends every kept prefix by every character the constraints still allow (the
same automaton and length table as sampling, so no kept prefix is a dead end) and keeps
the ``beam`` best extensions. Items are scored by the model's log-probability
(temperature 1, no top-k/top-p). Extensions are *ranked* by that log-probability plus a
look-ahead: the log-probability of the likeliest way to finish a match under the model's
own bigram statistics (``twist.Twist.from_bigram(best=True)``), when there are constraints
beyond the default length limit. Without it, a beam keeps
the prefixes that are likeliest so far, which for a suffix are those that would rather
have ended long ago, and a narrow beam returns long, unlikely items. With a beam at least
as wide as the number of matching prefixes of each length the search is exhaustive, so it
returns exactly the most likely matching items; a narrower beam may miss some.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from charsmith._checks import whole
from charsmith.errors import InputError
from charsmith.generation._twist import Twist, bigram
from charsmith.generation.constraints import Plan
from charsmith.generation.controls import Controls
from charsmith.generation.stepper import Stepper
from charsmith.limits import MAX_BEAM, check_limit
from charsmith.vocab import Vocab

__all__ = ["beam_search"]

END_ID = 0


def beam_search(
    stepper: Stepper, vocab: Vocab, plan: Plan, beam: int, *, n: int | None = None,
    exclude: Callable[[Sequence[str]], np.ndarray] | None = None, guide: Twist | None = None,
) -> list[tuple[str, float]]:
    """The ``n`` (default ``beam``) most likely matching items found by beam search of width
    ``beam``, as (item, log-probability given the prefix, end token included), best first.

    ``exclude(items) -> bool array`` rejects finished items (e.g. the input file's items), so the
    search returns the most likely items that pass it. ``guide`` ranks the extensions (a
    ``Twist`` with ``best=True``; default: from the model's bigram statistics when the plan
    constrains anything, else none, so that width 1 is the greedy argmax path).
    """
    beam = whole("beam", beam, 1)
    if not plan.ends:
        raise InputError("beam search writes list items; a text model completes a prompt instead", param="beam")
    n = n or beam
    check_limit(beam, MAX_BEAM, "MAX_BEAM", "`beam`", "a narrower beam finds the likeliest items nearly as well",
                param="beam")
    check_limit(n, MAX_BEAM, "MAX_BEAM", "`n` (items from one beam search)", "ask for fewer", param="n")
    if guide is None and plan.constrained:  # the model's character pairs, from a short seeded (repeatable) run
        guide = Twist.from_bigram(plan, bigram(stepper, plan, Controls(), np.random.default_rng(0)), best=True)
    guide = guide or Twist.mask(plan)  # no constraint: rank by the log-probability alone (greedy is the argmax path)
    x, rows = stepper.prime(np.concatenate(([END_ID], plan.prefix_ids)), 1)
    alive_ids = np.zeros((1, 0), dtype=np.int64)  # (K, t) ids generated so far per beam
    alive_lp = np.zeros(1)
    states = np.array([plan.start])
    finished: list[tuple[str, float]] = []
    for t in range(plan.t0, plan.max_len + 1):
        logits, rows = stepper.step(x, rows)
        z = logits.astype(np.float64)
        logp = z - (np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1))[:, None]  # (K, V)
        ahead = guide.next_log(t, states)  # (K, V) -inf where no match can follow
        cand = np.where(np.isfinite(ahead), alive_lp[:, None] + logp, -np.inf)  # log p of each extension
        ends = np.flatnonzero(np.isfinite(cand[:, END_ID]))
        if ends.size:
            texts = [plan.prefix + vocab.decode(ids) for ids in alive_ids[ends]]
            ok = ~exclude(texts) if exclude is not None else np.ones(len(texts), dtype=bool)
            finished += [(s, float(lp)) for s, lp, good in zip(texts, cand[ends, END_ID], ok, strict=True) if good]
        cand[:, END_ID] = -np.inf
        rank = cand + ahead  # ranked by the best whole item each extension can still become
        flat = np.argsort(-rank, axis=None, kind="stable")[:beam]
        k, v = np.unravel_index(flat, cand.shape)
        keep = np.isfinite(rank[k, v])
        k, v = k[keep], v[keep]
        if k.size == 0:
            break
        alive_ids = np.concatenate([alive_ids[k], v[:, None]], axis=1)
        alive_lp, x, rows, states = cand[k, v], v, rows.take(k), plan.advance(states[k], v)
        finished.sort(key=lambda f: -f[1])
        if len(finished) >= n and finished[n - 1][1] >= alive_lp.max():
            break  # log-probabilities only fall as items grow: nothing alive can overtake
    finished.sort(key=lambda f: -f[1])
    return finished[:n]
