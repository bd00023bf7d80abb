"""Finite-difference gradient checking for the classic models (seed notebook 002's checker).

``numerical_gradient`` keeps the notebook's signature and central differences (eps 1e-4,
one perturbed copy per entry); :func:`numerical_gradients` does the same for any
dictionary of parameters; :func:`run_gradcheck` checks every classic backward pass on a
small random model and returns the relative errors ``charsmith classic gradcheck`` prints.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from charsmith.classic import batched, dinos, minchar

__all__ = ["numerical_gradient", "numerical_gradients", "relative_error", "run_gradcheck"]

LossFn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], float]


def numerical_gradient(x: np.ndarray, y: np.ndarray, Wxh: np.ndarray, Whh: np.ndarray, Who: np.ndarray,
                       loss: LossFn = batched.loss, eps: float = 1e-4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dWxh, dWhh, dWho) of ``loss(x, y, Wxh, Whh, Who)`` by central differences."""
    weights = [Wxh, Whh, Who]
    grads = []
    for k, W in enumerate(weights):
        dW = np.zeros_like(W, dtype=float)
        for r in range(W.shape[0]):
            for c in range(W.shape[1]):
                pls, mns = list(weights), list(weights)
                pls[k] = W.copy()
                mns[k] = W.copy()
                pls[k][r, c] += eps
                mns[k][r, c] -= eps
                dW[r, c] = (loss(x, y, *pls) - loss(x, y, *mns)) / (2 * eps)
        grads.append(dW)
    return grads[0], grads[1], grads[2]


def numerical_gradients(f: Callable[[], float], params: dict[str, np.ndarray],
                        eps: float = 1e-5) -> dict[str, np.ndarray]:
    """df/dparams[k] for every key: perturbs each entry in place (float64) and restores it."""
    out = {}
    for name, p in params.items():
        g = np.zeros_like(p, dtype=float)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            fp = f()
            p[idx] = old - eps
            fm = f()
            p[idx] = old
            g[idx] = (fp - fm) / (2 * eps)
        out[name] = g
    return out


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / max(||a|| + ||b||, 1e-300): 0 for equal arrays, ~1 for unrelated ones."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.linalg.norm(a - b) / max(float(np.linalg.norm(a) + np.linalg.norm(b)), 1e-300))


def _check_batched(rng: np.random.Generator) -> dict[str, float]:
    n, T, V, H = 4, 5, 6, 7
    x = np.eye(V, dtype=int)[rng.integers(0, V, size=(n, T))]
    y = np.eye(V)[rng.integers(0, V, size=n)]
    Wxh, Whh, Who = (rng.normal(0, 0.5, s) for s in ((V, H), (H, H), (H, V)))
    _, *analytic = batched.backprop(x, y, Wxh, Whh, Who)
    numeric = numerical_gradient(x, y, Wxh, Whh, Who, eps=1e-5)
    return {f"batched {k}": relative_error(a, g) for k, a, g in zip(("dWxh", "dWhh", "dWho"), analytic, numeric)}


def _check_dinos(rng: np.random.Generator) -> dict[str, float]:
    n_a, V, T = 7, 6, 5
    params = {"Wax": rng.normal(0, 0.5, (n_a, V)), "Waa": rng.normal(0, 0.5, (n_a, n_a)),
              "Wya": rng.normal(0, 0.5, (V, n_a)), "b": rng.normal(0, 0.5, (n_a, 1)), "by": rng.normal(0, 0.5, (V, 1))}
    ids = [int(i) for i in rng.integers(0, V, T - 1)]
    X: list[int | None] = [None, *ids]
    Y = [*ids, 0]
    a0 = rng.normal(0, 0.5, (n_a, 1))
    _, cache = dinos.rnn_forward(X, Y, a0, params)
    analytic, _ = dinos.rnn_backward(X, Y, params, cache)
    numeric = numerical_gradients(lambda: float(dinos.rnn_forward(X, Y, a0, params)[0]), params)
    return {f"dinos d{k}": relative_error(analytic["d" + k], numeric[k]) for k in dinos.PARAM_NAMES}


def _check_minchar(rng: np.random.Generator) -> dict[str, float]:
    H, V, T = 7, 6, 5
    params = {"Wxh": rng.normal(0, 0.5, (H, V)), "Whh": rng.normal(0, 0.5, (H, H)),
              "Why": rng.normal(0, 0.5, (V, H)), "bh": rng.normal(0, 0.5, (H, 1)), "by": rng.normal(0, 0.5, (V, 1))}
    inputs = [int(i) for i in rng.integers(0, V, T)]
    targets = [int(i) for i in rng.integers(0, V, T)]
    h0 = rng.normal(0, 0.5, (H, 1))
    _, *grads, _ = minchar.loss_fun(inputs, targets, h0, params)  # |grads| < 5 here: clipping is a no-op
    numeric = numerical_gradients(lambda: float(minchar.loss_fun(inputs, targets, h0, params)[0]), params)
    return {f"minchar d{k}": relative_error(g, numeric[k]) for k, g in zip(minchar.PARAM_NAMES, grads)}


def run_gradcheck(seed: int = 0) -> dict[str, float]:
    """Relative errors analytic vs numerical for batched (002), dinos (001) and min-char (004).

    Small random float64 models drawn from ``np.random.default_rng(seed)``; a correct
    backward pass gives errors around 1e-9 or below.
    """
    rng = np.random.default_rng(seed)
    return {**_check_batched(rng), **_check_dinos(rng), **_check_minchar(rng)}
