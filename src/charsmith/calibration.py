"""How a mixture classifies: its two parts' evidence, weighed on held-out items.

Bayes' rule on a model's likelihood, P(k | x) = P(x | k) pi_k / sum_j P(x | j) pi_j, is
what a network or an n-gram model classifies by. A mixture of the two (:mod:`charsmith.mixture`)
generates better than either, but as a classifier its likelihood is overconfident (an
item's characters are not that many independent pieces of evidence) and each category's
model is off by its own amount (a small category's is poorer). A calibrated mixture reads
its two parts apart and weighs them as the held-out items say:

    z[n, k] = a[0] L[0, n, k] + a[1] L[1, n, k] + b[k]        (N, K)
    P(k | x_n) = softmax_k(z[n, k] + log_prior[k])

L[0] = log P_net(x | k) (the networks' mean), L[1] = log P_ngram(x | k). ``theta`` = [a, b]
(2 + K,) maximises sum_n log P(y_n | x_n) - REG/2 (|a - A0|^2 + |b|^2) over held-out items
of known category y_n, under the training priors; the objective is concave, so Newton's
method finds its one maximum (:func:`fit`). On names by language a comes out near
(0.3, 0.2): both parts tempered, together about half of Bayes' weight
(``benchmarks/QUALITY.md``, "Names by language: classification across splits").

log_prior + b acts as the calibrated prior. With equal priors (``uniform_prior``) both are
left out: z without b, Bayes' rule for a change of prior applied to the calibrated one.
(Keeping b instead gave a little more macro accuracy and much less micro accuracy on names
by language.)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from charsmith import mixture
from charsmith._deadline import NEVER, Deadline
from charsmith.kinds import AnyConfig
from charsmith.scoring import category_logliks
from charsmith.vocab import Vocab

__all__ = ["calibrate", "class_evidence", "evidence", "fit", "objective", "part_logliks"]

A0 = np.array([0.5, 0.5])  # where the regulariser pulls a: the two parts' geometric mean
REG = 1.0  # the regulariser's weight: a Gaussian prior of variance 1 on a - A0 and on b
MAX_POSITIONS = 600_000  # characters x categories the fit scores at most (about 4,000 names of 18 categories)


def evidence(theta: np.ndarray, L: np.ndarray) -> np.ndarray:
    """z (N, K) = a[0] L[0] + a[1] L[1] + b, for theta (2 + K,) and L (2, N, K)."""
    return theta[0] * L[0] + theta[1] * L[1] + theta[2:]


def objective(theta: np.ndarray, L: np.ndarray, y: np.ndarray,
              log_prior: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:  # fmt: skip
    """The negated regularised log-likelihood of the categories y (N,) given L (2, N, K),
    with its gradient (2 + K,) and Hessian (2 + K, 2 + K) in theta."""
    N, K = L.shape[1:]
    z = evidence(theta, L) + log_prior  # (N, K)
    zmax = z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z - zmax).sum(axis=1, keepdims=True)) + zmax  # (N, 1)
    P = np.exp(z - lse)  # (N, K) P(k | x_n)
    a, b = theta[:2], theta[2:]
    f = float((lse[:, 0] - z[np.arange(N), y]).sum()) + 0.5 * REG * float(((a - A0) ** 2).sum() + (b**2).sum())
    R = P.copy()
    R[np.arange(N), y] -= 1.0  # (N, K) dF/dz
    g = np.concatenate([(R * L).sum(axis=(1, 2)), R.sum(axis=0)]) + REG * np.concatenate([a - A0, b])
    m = (P * L).sum(axis=2)  # (2, N) each part's mean under P
    H = np.empty((2 + K, 2 + K))
    H[:2, :2] = np.einsum("ink,jnk->ij", L * P, L) - m @ m.T
    H[:2, 2:] = (P * L).sum(axis=1) - m @ P
    H[2:, :2] = H[:2, 2:].T
    H[2:, 2:] = np.diag(P.sum(axis=0)) - P.T @ P
    return f, g, H + REG * np.eye(2 + K)


def fit(L: np.ndarray, y: np.ndarray, log_prior: np.ndarray, *, iters: int = 50) -> np.ndarray:
    """theta (2 + K,) that minimises :func:`objective`, by Newton's method with backtracking
    from a = A0, b = 0. L (2, N, K): the parts' log-likelihoods of N held-out items under
    each category; y (N,) their categories; log_prior (K,). Each item's mean over the
    categories is taken off L first: z changes by a constant per item, which P(k | x)
    ignores, and the Hessian stays accurate for long items (log-likelihoods of -1e6)."""
    L = np.asarray(L, dtype=np.float64)
    L = L - L.mean(axis=2, keepdims=True)
    y = np.asarray(y, dtype=np.int64)
    theta = np.concatenate([A0, np.zeros(L.shape[2])])
    f, g, H = objective(theta, L, y, log_prior)
    for _ in range(iters):
        step = np.linalg.solve(H, g)
        if np.abs(step).max() <= 1e-12:  # Newton's step is the distance to the minimum, near it
            break
        t = 1.0
        while t >= 1e-8:  # the objective is strictly convex, so a short enough step lowers it
            f_new, g_new, H_new = objective(theta - t * step, L, y, log_prior)
            if f_new <= f:
                break
            t /= 2
        else:  # no step lowers it within rounding: this is the minimum as far as float64 can tell
            break
        theta, f, g, H = theta - t * step, f_new, g_new, H_new
    return theta


def part_logliks(params: dict[str, np.ndarray], cfg: mixture.MixtureConfig, vocab: Vocab, items: Sequence[str], *,
                 deadline: Deadline = NEVER, unknown_mass: float = 0.0) -> np.ndarray:
    """L (2, N, K): each item's log-likelihood under each category, by the mixture's
    networks (their mean) and by its n-gram model."""
    return np.stack([category_logliks(p, c, vocab, items, deadline=deadline, unknown_mass=unknown_mass)
                     for p, c in mixture.parts(params, cfg)])


def class_evidence(params: dict[str, np.ndarray], cfg: AnyConfig, vocab: Vocab, items: Sequence[str], *,
                   uniform: bool = False, deadline: Deadline = NEVER, unknown_mass: float = 0.0) -> np.ndarray:
    """(N, K): what classification adds to the log priors (``uniform``: equal ones) for each
    item and category: z above for a calibrated mixture (without b if ``uniform``),
    log P(item | k) (Bayes' rule) for any other model. An unknown character changes every
    category's by the same amount."""
    if isinstance(cfg, mixture.MixtureConfig) and cfg.calibrated:
        L = part_logliks(params, cfg, vocab, items, deadline=deadline, unknown_mass=unknown_mass)
        theta = params[mixture.CALIBRATION]
        return evidence(np.concatenate([theta[:2], np.zeros(cfg.categories)]) if uniform else theta, L)
    return category_logliks(params, cfg, vocab, items, deadline=deadline, unknown_mass=unknown_mass)


def calibrate(params: dict[str, np.ndarray], cfg: mixture.MixtureConfig, vocab: Vocab, items: Sequence[str],
              cats: np.ndarray, log_prior: np.ndarray) -> np.ndarray | None:
    """theta (2 + K,) fitted on held-out ``items`` of categories ``cats`` (N,), or None if a
    part gives an item no probability under some category (then Bayes' rule stays). It
    reads evenly spaced items (the held-out items are in random order), as many as keep
    the characters scored under all K categories within MAX_POSITIONS."""
    per_item = cfg.categories * (sum(map(len, items)) / max(len(items), 1) + 1)  # positions an item costs
    n = min(len(items), max(int(MAX_POSITIONS // per_item), 1))
    keep = np.unique(np.linspace(0, len(items) - 1, n).round().astype(np.int64))
    L = part_logliks(params, cfg, vocab, [items[i] for i in keep])
    if not np.isfinite(L).all():
        return None
    return fit(L, np.asarray(cats)[keep], log_prior)
