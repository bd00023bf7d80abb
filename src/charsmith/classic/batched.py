"""The batched, padded one-hot RNN of seed notebook 002.

The notebook pads every name with spaces to the longest name's length, one-hot encodes the
batch as x (n_batch, T, V) and runs a bias-free tanh RNN over it, row-vector convention::

    s_t = tanh(s_{t-1} @ Whh + x_t @ Wxh)      Wxh (V, H), Whh (H, H), Who (H, V)
    y_hat = softmax(s_{T-1} @ Who)             (n_batch, V): one prediction per sequence

``backprop`` returns the gradients of the cross-entropy SUMMED over the batch
(``ro = y_hat - y``); ``cross_entropy`` reports the batch AVERAGE, as the notebook. Its
``numerical_gradient`` calls an ``mse`` the notebook never defines; here the checked loss
is :func:`loss`, the summed cross-entropy ``backprop`` differentiates (see
:mod:`charsmith.classic.gradcheck`).

A one-hot input x_t @ Wxh is the row gather ``Wxh[idx]`` (bitwise equal: every other term
is a zero). Non-one-hot inputs (the notebook's toy shapes allow any numbers) use the
product. Vocabulary: the notebook's ``list(set(...))`` order changes per process; here the
padding space is index 0 and the other characters follow sorted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["encode_padded", "tanh", "tanh_der", "softmax", "cross_entropy", "forward", "backprop", "loss"]


def encode_padded(names: Sequence[str], seed: int | None = 0) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Shuffle (np.random.seed(seed); None: keep order), pad with spaces, one-hot encode.

    Returns onehot (n, T, V) int, indices (n, T) int, ch2i (' ' -> 0, then sorted chars).
    """
    data = list(names)
    if not data:
        raise ValueError("no names to encode")
    chars = [" "] + sorted(set("".join(data)) - {" "})
    ch2i = {ch: i for i, ch in enumerate(chars)}
    if seed is not None:
        np.random.seed(seed)
        np.random.shuffle(data)
    max_len = len(max(data, key=len))
    indices = np.array([[ch2i[ch] for ch in name.ljust(max_len)] for name in data], dtype=int)
    onehot = np.eye(len(chars), dtype=int)[indices]  # (n, T, V)
    return onehot, indices, ch2i


def tanh(x: np.ndarray) -> np.ndarray:
    return np.tanh(x)


def tanh_der(x: np.ndarray) -> np.ndarray:
    """d tanh(x) / dx = 1 - tanh(x)**2."""
    return 1.0 - np.tanh(x) ** 2


def softmax(x: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis."""
    max_ = np.max(x, axis=-1, keepdims=True)
    ex = np.exp(x - max_)
    return ex / np.sum(ex, axis=-1, keepdims=True)


def cross_entropy(y: np.ndarray, y_hat: np.ndarray) -> float:
    """Cross-entropy of one-hot targets y (n_batch, V), averaged over the batch."""
    if not (np.all(y.sum(axis=-1) == 1) and np.all(y.max(axis=-1) == 1)):
        raise ValueError("y must be one-hot encoded")
    prob_correct = y_hat[np.arange(len(y_hat)), np.argmax(y, axis=-1)]
    return float(np.average(-np.log(prob_correct)))


def _one_hot_ids(x: np.ndarray) -> np.ndarray | None:
    """Indices (n_batch, T) if every x[b, t] is a one-hot vector, else None."""
    if x.size == 0 or not (np.all((x == 0) | (x == 1)) and np.all(x.sum(axis=-1) == 1)):
        return None
    return np.argmax(x, axis=-1)


def _check(x: np.ndarray, Wxh: np.ndarray, Whh: np.ndarray, Who: np.ndarray) -> None:
    if x.ndim != 3 or x.shape[2] != Wxh.shape[0]:
        raise ValueError(f"x must be (n_batch, T, {Wxh.shape[0]}), got {x.shape}")
    if Whh.shape != (Wxh.shape[1],) * 2 or Who.shape[0] != Wxh.shape[1]:
        raise ValueError(f"weight shapes do not fit: Wxh {Wxh.shape}, Whh {Whh.shape}, Who {Who.shape}")


def _run(x: np.ndarray, Wxh: np.ndarray, Whh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pre-activations z (T, n_batch, H) and states s (T+1, n_batch, H), s[0] = 0."""
    ids = _one_hot_ids(x)
    n, T = x.shape[:2]
    xw = Wxh[ids] if ids is not None else x @ Wxh  # (n, T, H)
    z = np.empty((T, n, Whh.shape[0]))
    s = np.zeros((T + 1, n, Whh.shape[0]))
    for t in range(T):
        z[t] = s[t] @ Whh + xw[:, t]
        s[t + 1] = tanh(z[t])
    return z, s


def forward(x: np.ndarray, Wxh: np.ndarray, Whh: np.ndarray, Who: np.ndarray) -> np.ndarray:
    """y_hat (n_batch, V_out): softmax of the last state's output; x (n_batch, T, V)."""
    _check(x, Wxh, Whh, Who)
    _, s = _run(x, Wxh, Whh)
    return softmax(s[-1] @ Who)


def backprop(x: np.ndarray, y: np.ndarray, Wxh: np.ndarray, Whh: np.ndarray,
             Who: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(y_hat, dWxh, dWhh, dWho): gradients of the batch-summed cross-entropy; y (n_batch, V_out)."""
    _check(x, Wxh, Whh, Who)
    if y.shape != (len(x), Who.shape[1]):
        raise ValueError(f"y must be one-hot (n_batch, {Who.shape[1]}), got {y.shape}")
    z, s = _run(x, Wxh, Whh)
    T = x.shape[1]
    y_hat = softmax(s[-1] @ Who)
    ro = y_hat - y  # through the loss
    dWho = s[-1].T @ ro
    ro = ro @ Who.T * (1.0 - s[-1] ** 2)  # into the last pre-activation; tanh_der(z) = 1 - s**2
    dWxh = np.zeros_like(Wxh)
    dWhh = np.zeros_like(Whh)
    for t in reversed(range(T)):
        dWxh += x[:, t].T @ ro
        dWhh += s[t].T @ ro
        if t != 0:  # don't backprop into t = -1
            ro = ro @ Whh.T * tanh_der(z[t - 1])
    return y_hat, dWxh, dWhh, dWho


def loss(x: np.ndarray, y: np.ndarray, Wxh: np.ndarray, Whh: np.ndarray, Who: np.ndarray) -> float:
    """The loss ``backprop`` differentiates: cross-entropy summed over the batch."""
    return cross_entropy(y, forward(x, Wxh, Whh, Who)) * len(x)
