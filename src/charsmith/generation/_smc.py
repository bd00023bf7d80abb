"""Sequential Monte Carlo: draws from the model conditioned on the constraints when plain
draws rarely match.

The target is the model's own distribution restricted to matching items,
``p(item | match) = p(item) [item matches] / P(match)``, where ``p`` is the model at the
chosen temperature, top-k and top-p. Masking each step to the characters the automaton
allows (``q_t = p_t * allowed_t / Z_t``, with ``Z_t`` the mass the mask keeps) always
ends in a match but draws from the wrong distribution: ``q(item) = p(item) / prod_t Z_t``,
so items whose prefixes lost much mass to the mask are over-drawn. The importance weight
``w = p / q = prod_t Z_t`` corrects this exactly in expectation.

A look-ahead ``psi`` (``twist.py``) sharpens this: proposals ``q_t(c) ~ p_t(c) psi(prefix + c)``
and weight factors ``Z_t / psi(prefix)`` with ``Z_t = sum_c p_t(c) psi(prefix + c)``; the
product telescopes to the same ``p / q`` whatever ``psi`` is (the mask is ``psi`` = 1 where a
match is still possible, else 0), and a ``psi`` close to the true probability of still
matching makes the weights even.

A group of N particles (rows) steps together; each particle's log-weight gains
``log Z_t - log psi(prefix)`` at every step. When the group's effective sample size
``ESS = (sum w)^2 / sum w^2`` falls below N/2, the group is resampled (systematic
resampling: particles copied in proportion to their weights, which then become equal), so
effort follows the prefixes that still carry probability (SMC steering, Lew et al. 2023,
arXiv 2306.03081). At the end, one particle is drawn in proportion to its weight.

What is exact and what is not: the returned item is drawn exactly from the particle
approximation, which is consistent (it converges to ``p(item | match)`` as N grows) with a
bias of order 1/N; each group is independent, so items from different groups are
independent draws. ``correct=False`` gives the uncorrected masked sampler, for comparison.
"""

from __future__ import annotations

import numpy as np

from charsmith.generation._twist import Twist
from charsmith.generation.constraints import Plan
from charsmith.generation.controls import Controls, draw
from charsmith.generation.stepper import Stepper

__all__ = ["smc_draws"]

END_ID = 0


def smc_draws(
    stepper: Stepper, plan: Plan, controls: Controls, rng: np.random.Generator | None, groups: int, particles: int,
    *, twist: Twist | None = None, correct: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """One item from each of ``groups`` independent runs of ``particles`` particles; groups
    whose particles all lost every bit of probability give none. Returns ids
    (M, max_len - t0) and lengths (M,), M <= groups. ``twist`` (default: the mask alone)
    guides the proposals; ``rng=None`` takes the likeliest proposal at each step."""
    twist = twist or Twist.mask(plan)
    G, N = groups, particles
    R = G * N
    x, rows = stepper.prime(np.concatenate(([END_ID], plan.prefix_ids)), R)
    width = plan.max_len - plan.t0
    out = np.zeros((R, width), dtype=np.int64)
    lengths = np.zeros(R, dtype=np.int64)
    states = np.full(R, plan.start)
    logw = np.zeros(R)  # log importance weight
    psi = np.zeros(R)  # log twist of each particle's prefix (the same for all at the start)
    done = np.zeros(R, dtype=bool)
    act = np.arange(R)  # particles still writing; row i of `rows` is particle act[i]
    for t in range(plan.t0, plan.max_len + plan.ends):
        logits, rows = stepper.step(x, rows)
        ahead = twist.next_log(t, states[act])  # (A, V) log psi after each id
        with np.errstate(divide="ignore"):
            score = np.log(controls.probs(logits)) + ahead  # (A, V) log p(c) psi(c)
        top = score.max(axis=1)
        ok = np.isfinite(top)  # some continuation can still match
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.exp(score - np.where(ok, top, 0.0)[:, None])  # (A, V) the proposal, unnormalised
            log_mass = top + np.log(q.sum(axis=1))  # log sum_c p(c) psi(c); -inf where nothing can match
        logw[act] += log_mass - psi[act] if correct else np.where(ok, 0.0, -np.inf)  # masking alone: no weights
        if not ok.all():
            keep = np.flatnonzero(ok)
            act, rows, q, ahead = act[keep], rows.take(keep), q[keep], ahead[keep]
        x = q.argmax(axis=1) if rng is None else draw(q, rng)
        psi[act] = ahead[np.arange(len(x)), x]
        if t < plan.max_len:
            out[act, t - plan.t0] = x
        states[act] = plan.advance(states[act], x)
        end = x == END_ID if plan.ends else np.full(len(x), t + 1 == plan.max_len)
        done[act[end]] = True
        lengths[act[end]] = t - plan.t0 + (not plan.ends)
        if end.any():
            act, x, rows = act[~end], x[~end], rows.take(np.flatnonzero(~end))
        if correct and rng is not None:
            parent = _resample_where_needed(logw.reshape(G, N), rng)
            if parent is not None:
                out, lengths, states = out[parent], lengths[parent], states[parent]
                done, psi = done[parent], psi[parent]
                pos = np.full(R, -1)
                pos[act] = np.arange(len(act))
                act = np.flatnonzero(~done & (pos[parent] >= 0))  # children of particles still writing
                take = pos[parent[act]]
                x, rows = x[take], rows.take(take)
        if act.size == 0:
            break
    return _pick(logw.reshape(G, N), done.reshape(G, N), rng, out, lengths)


def _resample_where_needed(logw: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """Systematic resampling of the groups (rows of logw (G, N), updated in place) whose
    effective sample size fell below N/2. Returns every particle's parent (G*N,), or None
    when no group needs it."""
    G, N = logw.shape
    top = logw.max(axis=1, keepdims=True)
    alive = np.isfinite(top[:, 0])
    w = np.exp(logw - np.where(alive[:, None], top, 0.0))  # (G, N) relative weights; a dead group is all 0
    ess = np.where(alive, w.sum(axis=1) ** 2 / np.maximum((w * w).sum(axis=1), 1e-300), N)
    need = np.flatnonzero(ess < N / 2)
    if need.size == 0:
        return None
    cdf = np.cumsum(w[need], axis=1)
    cdf /= cdf[:, -1:]  # (k, N)
    u = (rng.random((need.size, 1)) + np.arange(N)) / N  # (k, N) one uniform per group, evenly spaced
    shift = np.arange(need.size)[:, None]  # lifts group g into [g, g + 1], so one sorted search serves all
    child = np.searchsorted((cdf + shift).ravel(), (u + shift).ravel(), side="right").reshape(u.shape) - shift * N
    parent = np.arange(G * N).reshape(G, N)
    parent[need] = need[:, None] * N + np.minimum(child, N - 1)
    logw[need] = (top[need, 0] + np.log(w[need].mean(axis=1)))[:, None]  # equal weights, same total
    return parent.ravel()


def _pick(logw: np.ndarray, done: np.ndarray, rng: np.random.Generator | None, out: np.ndarray,
          lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One finished particle per group in proportion to its weight (the heaviest when rng
    is None); groups with no weight give none."""
    G, N = logw.shape
    logw = np.where(done, logw, -np.inf)
    top = logw.max(axis=1)
    has = np.isfinite(top)
    w = np.exp(logw[has] - top[has, None])  # (g, N)
    choice = w.argmax(axis=1) if rng is None else draw(w, rng)
    rows = np.flatnonzero(has) * N + choice
    return out[rows], lengths[rows]
