"""Look-ahead for SMC: how likely each prefix is to end in a match (a "twist").

The mask alone knows what is still *possible*; when a constraint only bites at the end
(a suffix, a length window), masked particles wander as the model likes and are forced
into the match at the last steps, and their weights become informative too late for
resampling to help. A twist ``psi_t(prefix)`` estimates the probability that the prefix
still ends in a match; SMC then proposes ``q(c) ~ p(c) psi_{t+1}(prefix + c)`` and weights
by ``sum_c p(c) psi_{t+1}(prefix + c) / psi_t(prefix)`` (twisted SMC). Any positive twist
gives the same target, so the estimate only has to be cheap and never zero where a match
is possible; better estimates give more even weights.

Here ``psi`` is the exact probability of matching under a character bigram model
``B[a, c]`` (the model's own next-character probabilities averaged over a short pilot
run, mixed with 1% uniform so that no possible continuation gets zero), computed by
dynamic programming over (characters written, last character, automaton state). The same
recursion with a max in place of the sum (``best=True``) gives the log-probability of the
likeliest match instead, which ranks the extensions in beam search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from charsmith.generation.constraints import Plan
from charsmith.generation.controls import Controls, draw
from charsmith.generation.stepper import Stepper

__all__ = ["Twist", "bigram", "TABLE_LIMIT"]

END_ID = 0
TABLE_LIMIT = 4_000_000  # entries (float64) of the look-ahead table; beyond it, the mask alone


@dataclass(frozen=True)
class Twist:
    """log psi: ``table[t, a, s]`` for t characters written ending in id a (A = V) or any
    (A = 1), in automaton state s; -inf where no match is possible."""

    plan: Plan
    table: np.ndarray  # (max_len + 1, A, S)

    @classmethod
    def mask(cls, plan: Plan) -> Twist:
        """psi = 1 where a match is still possible, else 0: plain masking."""
        S, L = plan.dfa.size, plan.max_len
        live = np.stack([plan.can_match(t, np.arange(S)) for t in range(L + 1)])  # (L + 1, S)
        with np.errstate(divide="ignore"):
            return cls(plan, np.log(live)[:, None, :])

    @classmethod
    def from_bigram(cls, plan: Plan, B: np.ndarray, *, best: bool = False) -> Twist:
        """The exact log-probability of a match under the bigram B (V, V) (rows sum to 1,
        column 0 the end token), or ``mask`` if that table would be too large. ``best``:
        the log-probability of the likeliest match instead (a max over completions, not a
        sum), which guides beam search."""
        S, L, V = plan.dfa.size, plan.max_len, B.shape[0]
        if (L + 1) * V * S > TABLE_LIMIT:
            return cls.mask(plan)
        trans, accept = plan.dfa.trans, plan.dfa.accept
        safe, moves = np.maximum(trans, 0), trans >= 0
        chars = np.arange(V)
        table = np.full((L + 1, V, S), -np.inf)
        if not plan.ends:  # text: after exactly L characters the automaton must accept
            table[L] = np.where(accept, 0.0, -np.inf)
        for t in range(L - (not plan.ends), plan.t0 - 1, -1):
            X = np.full((S, V), -np.inf)  # X[s, c]: log psi after id c from state s
            if t < L:
                X = np.where(moves, table[t + 1][chars, safe], -np.inf)
            if plan.ends:
                X[:, END_ID] = np.where(accept & (plan.min_len <= t), 0.0, -np.inf)
            top = X.max(axis=1)  # (S,)
            ok = np.isfinite(top)
            if best:
                table[t][:, ok] = (np.log(B)[:, None, :] + X[None, ok, :]).max(axis=2)  # (V, s)
                continue
            E = np.exp(X[ok] - top[ok, None])  # (s, V), each row's largest 1: no underflow to all zeros
            table[t][:, ok] = top[ok] + np.log(B @ E.T)  # (V, s); B > 0, so finite wherever a match is possible
        return cls(plan, table)

    def next_log(self, t: int, states: np.ndarray) -> np.ndarray:
        """(B, V) log psi after each possible next id, for rows in ``states`` after t
        characters; -inf for ids that cannot lead to a match."""
        plan = self.plan
        nxt = plan.dfa.trans[states]  # (B, V)
        if t + 1 > plan.max_len:
            out = np.full(nxt.shape, -np.inf)
        else:
            layer = self.table[t + 1]  # (A, S)
            rows = np.arange(nxt.shape[1]) if layer.shape[0] > 1 else np.zeros(nxt.shape[1], dtype=np.int64)
            out = np.where(nxt >= 0, layer[rows, np.maximum(nxt, 0)], -np.inf)
        if plan.ends:
            out[:, END_ID] = np.where(plan.dfa.accept[states] & (plan.min_len <= t <= plan.max_len), 0.0, -np.inf)
        return out


def bigram(stepper: Stepper, plan: Plan, controls: Controls, rng: np.random.Generator, rows: int = 128,
           steps: int = 16) -> np.ndarray:
    """B (V, V): the model's next-id probabilities (under ``controls``) averaged by the
    previous id, over ``rows`` free-running draws of ``steps`` steps after the prefix (in
    lines mode an end token starts a new item, as in training); mixed with 1% uniform."""
    x, r = stepper.prime(np.concatenate(([END_ID], plan.prefix_ids)), rows)
    V = stepper.cfg.vocab_size
    total = np.zeros((V, V))
    for _ in range(steps):
        logits, r = stepper.step(x, r)
        p = controls.probs(logits)  # (rows, V)
        np.add.at(total, x, p)
        x = draw(p, rng)
    seen = total.sum(axis=1, keepdims=True)
    B = np.where(seen > 0, total / np.maximum(seen, 1e-300), 1.0 / V)
    return 0.99 * B + 0.01 / V
