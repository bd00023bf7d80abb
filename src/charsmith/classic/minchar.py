"""min-char-rnn (seed notebook 004, after Karpathy's min-char-rnn.py), reproduced exactly.

Parameters are the notebook's column-vector dictionary::

    Wxh (H, V)   Whh (H, H)   Why (V, H)   bh (H, 1)   by (V, 1)

``loss_fun`` does the notebook's ``lossFun`` arithmetic (no max-subtraction in the softmax,
loss summed over the window, gradients clipped elementwise at 5) with the same speed-ups
as :mod:`charsmith.classic.dinos`: a one-hot input is the column ``Wxh[:, i]``, elementwise
work runs on all steps at once, matrix-vector products stay per step.

Vocabulary: the notebook builds ``char_to_ix`` from ``list(set(data))``, whose order
changes from one Python process to the next (string hashing is randomised), so its printed
indices cannot be reproduced from the text. :func:`char_maps` uses the sorted characters
instead; pass your own ``chars`` to :func:`train` for another order.

Global RNG: ``init_params`` seeds and ``sample`` draws from the legacy global ``np.random``
state, as the notebook does (``np.random.seed(1337)`` in its first cell).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from charsmith.classic.dinos import _outer_sum_reversed
from charsmith.errors import DataError, InputError

__all__ = ["PARAM_NAMES", "init_params", "loss_fun", "sample", "char_maps", "train", "TrainResult"]

Params = dict[str, np.ndarray]
PARAM_NAMES = ("Wxh", "Whh", "Why", "bh", "by")


def init_params(hidden_size: int, vocab_size: int, seed: int | None = 1337) -> Params:
    """np.random.seed(seed) (unless None), then Wxh, Whh, Why = randn * 0.01; zero biases."""
    if seed is not None:
        np.random.seed(seed)
    Wxh = np.random.randn(hidden_size, vocab_size) * 0.01  # input to hidden
    Whh = np.random.randn(hidden_size, hidden_size) * 0.01  # hidden to hidden
    Why = np.random.randn(vocab_size, hidden_size) * 0.01  # hidden to output
    bh = np.zeros((hidden_size, 1))
    by = np.zeros((vocab_size, 1))
    return {"Wxh": Wxh, "Whh": Whh, "Why": Why, "bh": bh, "by": by}


def _forward(ids: np.ndarray, hprev: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray]:
    """Hidden states Hs (T+1, H) with Hs[0] = hprev, probabilities P (T, V)."""
    Wxh, Whh, Why, bh = params["Wxh"], params["Whh"], params["Why"], params["bh"][:, 0]
    T = len(ids)
    Hs = np.empty((T + 1, Whh.shape[0]))
    Hs[0] = hprev[:, 0]
    XW = Wxh.T[ids]  # (T, H): Wxh @ onehot(ids[t]), exactly
    for t in range(T):
        pre = np.dot(Whh, Hs[t])
        pre += XW[t]
        pre += bh
        np.tanh(pre, out=Hs[t + 1])
    Y = np.matmul(Why, Hs[1:, :, None])[:, :, 0]  # (T, V): np.dot(Why, h) per step
    Y += params["by"][:, 0]
    E = np.exp(Y)
    return Hs, E / np.sum(E, axis=1, keepdims=True)


def loss_fun(inputs: Sequence[int] | np.ndarray, targets: Sequence[int] | np.ndarray, hprev: np.ndarray,
             params: Params) -> tuple[np.float64, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The notebook's ``lossFun`` with the parameters passed in.

    inputs, targets: lists of character indices (same length T); hprev (H, 1).
    Returns (loss, dWxh, dWhh, dWhy, dbh, dby, h_last): the summed cross-entropy, the five
    gradients clipped to [-5, 5], and the last hidden state (H, 1).
    """
    ids = np.asarray(inputs, dtype=np.intp)
    tgt = np.asarray(targets, dtype=np.intp)
    if ids.shape != tgt.shape or ids.ndim != 1 or len(ids) == 0:
        raise ValueError("inputs and targets must be non-empty lists of the same length")
    Hs, P = _forward(ids, hprev, params)
    T = len(ids)
    loss = -np.cumsum(np.log(P[np.arange(T), tgt]))[-1]  # 0 + -l0 + -l1 ...
    dY = P.copy()
    dY[np.arange(T), tgt] -= 1  # (T, V)
    dh_out = np.matmul(params["Why"].T, dY[:, :, None])[:, :, 0]  # (T, H)
    one_minus = 1 - Hs[1:] * Hs[1:]
    Draw = np.empty_like(one_minus)
    dhnext = np.zeros(Hs.shape[1])
    WhhT = params["Whh"].T
    for t in range(T - 1, -1, -1):
        dh = dh_out[t] + dhnext
        np.multiply(one_minus[t], dh, out=Draw[t])
        dhnext = np.dot(WhhT, Draw[t])
    dWxhT = np.zeros((params["Wxh"].shape[1], Hs.shape[1]))
    np.add.at(dWxhT, ids[::-1], Draw[::-1])  # += dhraw onehot^T, reversed time order
    dWxh = np.ascontiguousarray(dWxhT.T)
    dWhh = _outer_sum_reversed(Draw, Hs[:-1], np.empty_like(params["Whh"]))
    dWhy = _outer_sum_reversed(dY, Hs[1:], np.empty_like(params["Why"]))
    dbh = np.add.reduce(Draw[::-1], axis=0)[:, None]
    dby = np.add.reduce(dY[::-1], axis=0)[:, None]
    for dparam in (dWxh, dWhh, dWhy, dbh, dby):
        np.clip(dparam, -5, 5, out=dparam)
    return loss, dWxh, dWhh, dWhy, dbh, dby, Hs[-1][:, None].copy()


def sample(h: np.ndarray, seed_ix: int, n: int, params: Params) -> list[int]:
    """Sample ``n`` indices, starting from state h (H, 1) and the seed character ``seed_ix``.

    Draws with the global ``np.random.choice`` (unseeded, as the notebook).
    """
    Wxh, Whh, Why, bh, by = (params[k] for k in PARAM_NAMES)
    vocab_size = by.shape[0]
    ix = seed_ix
    ixes = []
    for _ in range(n):
        h = np.tanh(Wxh[:, ix : ix + 1] + np.dot(Whh, h) + bh)
        y = np.dot(Why, h) + by
        p = np.exp(y) / np.sum(np.exp(y))
        ix = int(np.random.choice(vocab_size, p=p.ravel()))
        ixes.append(ix)
    return ixes


def char_maps(data: str, chars: str | None = None) -> tuple[dict[str, int], dict[int, str]]:
    """char_to_ix, ix_to_char over ``chars`` (default: the sorted characters of ``data``)."""
    order = sorted(set(data)) if chars is None else list(chars)
    if len(set(order)) != len(order):
        raise DataError("chars must not repeat a character")
    missing = set(data) - set(order)
    if missing:
        raise DataError(f"characters of the data missing from chars: {''.join(sorted(missing))!r}")
    return {ch: i for i, ch in enumerate(order)}, {i: ch for i, ch in enumerate(order)}


class TrainResult(dict):
    """``params`` plus ``smooth_loss`` (final) and ``losses`` (every window's loss)."""


def train(data: str, *, hidden_size: int = 100, seq_length: int = 25, learning_rate: float = 1e-1,
          optimizer: str = "adagrad", num_iterations: int = 10000, seed: int | None = 1337,
          chars: str | None = None, sample_every: int = 100, sample_length: int = 200,
          print_every: int = 100, log: Callable[[str], None] | None = print,
          params: Params | None = None) -> TrainResult:
    """min-char-rnn's loop: 25-character windows swept left to right, state carried across.

    The state and the data pointer reset at the start and whenever the next window would
    run past the end. Each window: (every ``sample_every`` iterations, if > 0, print a
    ``sample_length`` sample from the window's first character as '----\\n %s \\n----'),
    ``loss_fun``, smooth_loss = smooth_loss*0.999 + loss*0.001 (starting at
    -log(1/V)*seq_length), print 'iter %d, loss: %f' every ``print_every`` iterations, then
    the update: "adagrad" (original: mem += d*d; p -= lr*d/sqrt(mem + 1e-8), lr 0.1) or
    "sgd" (the notebook's printed run: p -= lr*d, with lr 1e-3, hidden 10, no samples).
    """
    if optimizer not in ("adagrad", "sgd"):
        raise InputError(f"optimizer must be 'adagrad' or 'sgd', got {optimizer!r}")
    if len(data) < seq_length + 2:
        raise DataError(f"the text has {len(data)} characters; need at least seq_length + 2 = {seq_length + 2}")
    char_to_ix, ix_to_char = char_maps(data, chars)
    vocab_size = len(char_to_ix)
    if params is None:
        params = init_params(hidden_size, vocab_size, seed)
    hidden_size = params["Whh"].shape[0]
    encoded = np.fromiter((char_to_ix[ch] for ch in data), dtype=np.intp, count=len(data))
    mem = {k: np.zeros_like(params[k]) for k in PARAM_NAMES}
    smooth_loss = -np.log(1.0 / vocab_size) * seq_length
    losses: list[float] = []
    n, p = 0, 0
    hprev = np.zeros((hidden_size, 1))
    while n < num_iterations:
        if p + seq_length + 1 >= len(data) or n == 0:
            hprev = np.zeros((hidden_size, 1))
            p = 0
        inputs = encoded[p : p + seq_length]
        targets = encoded[p + 1 : p + seq_length + 1]
        if log is not None and sample_every > 0 and n % sample_every == 0:
            sample_ix = sample(hprev, int(inputs[0]), sample_length, params)
            log("----\n %s \n----" % ("".join(ix_to_char[ix] for ix in sample_ix),))
        loss, *grads, hprev = loss_fun(inputs, targets, hprev, params)
        smooth_loss = smooth_loss * 0.999 + loss * 0.001
        losses.append(float(loss))
        if log is not None and print_every > 0 and n % print_every == 0:
            log("iter %d, loss: %f" % (n, smooth_loss))
        for name, dparam in zip(PARAM_NAMES, grads):
            if optimizer == "adagrad":
                mem[name] += dparam * dparam
                params[name] += -learning_rate * dparam / np.sqrt(mem[name] + 1e-8)
            else:
                params[name] += -learning_rate * dparam
        p += seq_length
        n += 1
    return TrainResult(params=params, smooth_loss=float(smooth_loss), losses=losses,
                       char_to_ix=char_to_ix)
