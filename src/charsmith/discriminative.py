"""The training objective of a labelled model with a discriminative term (``disc_weight``).

A model with categories is generative: it learns log P(x | c), and classifies by Bayes'
rule, P(c | x) = P(x | c) pi_c / sum_k P(x | k) pi_k (:func:`charsmith.categories.posterior`).
Maximum likelihood spends its capacity on the characters that all categories share; this
term also asks the per-category likelihoods to tell the categories apart:

    loss = xent(batch) + disc_weight * mean_i -log P(c_i | x_i)

over the first ``disc_items`` items x_i of the batch (with their categories c_i), where
P(c | x) is the model's own posterior above, with the training priors pi. The decision
stays Bayes' rule over the same generative model; only the training objective changes.

Each item i is run once under every category k (rows of one extra block of the batch,
A*K rows for A items and K categories), s_ik = log P(x_i | k) summed over its characters
(end token included). With q_ik = P(k | x_i), the gradient of -log q_ic w.r.t. s_ik is
q_ik - [k == c_i], and s_ik is a sum of per-position -xent, so the term's gradient is the
per-position cross-entropy gradient with the weight -(q_ik - [k == c_i]) * disc_weight / A
on every position of row (i, k). The batch and the extra block share one forward and one
backward pass through the recurrence.
"""

from __future__ import annotations

import numpy as np

from charsmith import backend
from charsmith import model as M
from charsmith.categories import posterior
from charsmith.config import ModelConfig
from charsmith.nn import loss

__all__ = ["hybrid_loss_and_grads"]


def hybrid_loss_and_grads(
    params: dict[str, np.ndarray], cfg: ModelConfig, ids: np.ndarray, targets: np.ndarray, mask: np.ndarray,
    cats: np.ndarray, log_prior: np.ndarray, *, disc_weight: float, disc_items: int,
    rng: np.random.Generator | None = None, check: bool = True,
) -> tuple[float, float, dict[str, np.ndarray]]:
    """(xent, disc, grads): the batch's mean cross-entropy per character, the mean -log P(c_i | x_i)
    of the discriminative term, and the gradient of every param of the loss ``xent +
    disc_weight * disc`` in the module docstring; for a batch of items (ids, targets, mask
    (B, T); cats (B,) their category ids) each starting from the zero state, and log_prior
    (K,) = log pi. ``rng`` drives dropout (the same masks for the whole forward pass)."""
    B, T = np.shape(ids)
    K = cfg.categories
    A = min(int(disc_items), B)  # items of the discriminative term
    dtype = params["W_out"].dtype
    # rows: the batch (B), then each of its first A items under every category (A*K, item-major)
    rows = np.concatenate([np.arange(B), np.repeat(np.arange(A), K)])
    cond = np.concatenate([np.asarray(cats), np.tile(np.arange(K), A)])
    R = len(rows)
    state = M.init_state(cfg, R, dtype)
    y, _, cache = M._features(params, cfg, np.asarray(ids)[rows], state, cond, rng, check)
    w_gen, safe = loss.weights_and_targets((B, T, cfg.vocab_size), dtype, targets, mask)  # (B, T) mean weights
    tgt = safe[rows].T.reshape(-1)  # (T*R,) in y's column order t*R + r
    m_rows = np.asarray(mask, dtype=dtype)[rows]  # (R, T)
    w = np.zeros((R, T), dtype)  # per-position weights of the cross-entropy gradient
    w[:B] = w_gen
    disc = 0.0
    if A:
        s = -_row_nll(y, params, tgt, T, R, B).astype(np.float64)  # (A*K, T) log p per position
        s = (s * m_rows[B:]).sum(axis=1).reshape(A, K)  # (A, K) log P(x_i | k)
        q = posterior(s, log_prior)  # (A, K)
        c = np.asarray(cats)[:A]
        disc = float(-np.log(np.maximum(q[np.arange(A), c], 1e-300)).mean())
        g = q.copy()
        g[np.arange(A), c] -= 1.0  # d(-log q_ic) / d s_ik
        w[B:] = (-g.reshape(-1, 1) * (disc_weight / A)).astype(dtype) * m_rows[B:]  # d loss / d nll, per position
    nll, dW_out, db_out, dy = backend.current().head_xent(y, params["W_out"], params["b_out"], tgt, w.T.reshape(-1))
    xent = float(w_gen.T.reshape(-1) @ nll.reshape(T, R)[:, :B].reshape(-1))
    grads = {"W_out": dW_out, "b_out": db_out}
    M._features_backward(params, cfg, dy, cache, None, grads)
    return xent, disc, {k: np.ascontiguousarray(grads[k]) for k in params}


def _row_nll(y: np.ndarray, params: dict[str, np.ndarray], tgt: np.ndarray, T: int, R: int, B: int) -> np.ndarray:
    """-log p of every position of rows B..R-1: (R-B, T), from y (H, T*R) (columns t*R + r)
    and the targets tgt (T*R,)."""
    H = y.shape[0]
    ya = y.reshape(H, T, R)[:, :, B:]  # (H, T, R-B)
    logits = backend.current().matmul(np.ascontiguousarray(ya.transpose(2, 1, 0)).reshape(-1, H), params["W_out"])
    logits += params["b_out"]  # ((R-B)*T, V), rows r*T + t
    top = logits.max(axis=1, keepdims=True)
    lse = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]
    t = tgt.reshape(T, R)[:, B:].T.reshape(-1)  # ((R-B)*T,)
    return (lse - logits[np.arange(len(t)), t]).reshape(R - B, T)
