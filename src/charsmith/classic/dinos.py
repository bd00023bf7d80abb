"""Dinosaurus Island (seed notebook 001, helpers as seed notebook 003), reproduced exactly.

Same function names, arguments and return values as the notebook; parameters are the
notebook's column-vector dictionary::

    Wax (n_a, n_x)   Waa (n_a, n_a)   Wya (n_y, n_a)   b (n_a, 1)   by (n_y, 1)

The arithmetic is the notebook's, operation for operation, so results are bit-identical to
a straight transcription (``benchmarks/classic_reference.py``; the tests check it). What is
faster is only the bookkeeping:

* a one-hot input ``Wax @ x`` is the column ``Wax[:, i]`` (exact: every other product is a
  zero, and the tests check the two are bitwise equal); ``X[t] = None`` adds nothing, as the
  notebook's zero vector does;
* elementwise work (``+ by``, softmax, ``1 - a*a``, ``dy[Y[t]] -= 1``) runs on all time steps
  at once, in the notebook's order of operations;
* the per-step outer products ``dy a^T`` are formed in one broadcast and summed over time in
  the notebook's (reversed) order with ``np.add.reduce`` over the leading axis, which adds
  slice after slice, so every accumulator sees the same additions in the same order;
* the matrix-vector products stay per step (``np.dot`` of a matrix and one vector), because
  a batched matrix product takes a different BLAS kernel and differs in the last bit.

Global RNG: ``initialize_parameters``, ``sample`` and ``model`` call ``np.random.seed`` and
draw from the legacy global ``np.random`` state, exactly as the notebook does; that is the
point of this module (the seeded draws *are* the expected outputs). It is the one place in
charsmith allowed to touch global RNG state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import overload

import numpy as np

__all__ = [
    "softmax", "smooth", "get_initial_loss", "initialize_parameters", "rnn_step_forward",
    "rnn_step_backward", "rnn_forward", "rnn_backward", "update_parameters", "clip",
    "sample", "optimize", "model", "print_sample", "examples_from_text", "char_maps",
]

Params = dict[str, np.ndarray]
Index = int | None
Log = Callable[[str], None] | None

PARAM_NAMES = ("Wax", "Waa", "Wya", "b", "by")
GRAD_NAMES = ("dWax", "dWaa", "dWya", "db", "dby")


# --------------------------------------------------------------------------- helpers


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over axis 0 of a column (n, 1) or of each column of (n, T)."""
    e_x = np.exp(x - np.max(x, axis=0))
    return e_x / e_x.sum(axis=0)


def _softmax_rows(z: np.ndarray) -> np.ndarray:
    """Softmax of each row of z (T, n): bitwise the notebook's softmax of each column z[t]."""
    e_x = np.exp(z - np.max(z, axis=1, keepdims=True))
    return e_x / e_x.sum(axis=1, keepdims=True)


def smooth(loss: float, cur_loss: float) -> float:
    """Exponential moving average used for the printed loss: loss*0.999 + cur_loss*0.001."""
    return loss * 0.999 + cur_loss * 0.001


def get_initial_loss(vocab_size: int, seq_length: int) -> float:
    """The smoothed loss's starting value: -log(1/vocab_size) * seq_length."""
    return -np.log(1.0 / vocab_size) * seq_length


def initialize_parameters(n_a: int, n_x: int, n_y: int) -> Params:
    """Small random weights (seed 1: Wax, then Waa, then Wya, each randn * 0.01), zero biases."""
    np.random.seed(1)
    Wax = np.random.randn(n_a, n_x) * 0.01  # (n_a, n_x) input to hidden
    Waa = np.random.randn(n_a, n_a) * 0.01  # (n_a, n_a) hidden to hidden
    Wya = np.random.randn(n_y, n_a) * 0.01  # (n_y, n_a) hidden to output
    b = np.zeros((n_a, 1))
    by = np.zeros((n_y, 1))
    return {"Wax": Wax, "Waa": Waa, "Wya": Wya, "b": b, "by": by}


def print_sample(sample_ix: Sequence[int], ix_to_char: dict[int, str]) -> str:
    """The text the notebook's ``print_sample`` shows: the name, first letter capitalised.

    Returns the string instead of printing it (``print(..., end='')`` in the notebook);
    the sampled newline at the end is kept.
    """
    txt = "".join(ix_to_char[ix] for ix in sample_ix)
    return txt[0].upper() + txt[1:]


def examples_from_text(data: str) -> list[str]:
    """The notebook's training examples: ``[x.lower().strip() for x in f.readlines()]``."""
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [x.lower().strip() for x in lines]


def char_maps(data: str) -> tuple[dict[str, int], dict[int, str]]:
    """``char_to_ix`` and ``ix_to_char`` over the sorted characters of ``data.lower()``."""
    chars = sorted(set(data.lower()))
    return {ch: i for i, ch in enumerate(chars)}, {i: ch for i, ch in enumerate(chars)}


# --------------------------------------------------------------------------- one step


def rnn_step_forward(parameters: Params, a_prev: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One step: a_next = tanh(Wax x + Waa a_prev + b), p_t = softmax(Wya a_next + by).

    x (n_x, 1) one-hot or zeros, a_prev (n_a, 1) -> a_next (n_a, 1), p_t (n_y, 1).
    """
    p = parameters
    a_next = np.tanh(np.dot(p["Wax"], x) + np.dot(p["Waa"], a_prev) + p["b"])
    p_t = softmax(np.dot(p["Wya"], a_next) + p["by"])
    return a_next, p_t


def rnn_step_backward(
    dy: np.ndarray, gradients: dict[str, np.ndarray], parameters: Params,
    x: np.ndarray, a: np.ndarray, a_prev: np.ndarray,
) -> dict[str, np.ndarray]:
    """Accumulate one step's gradients into ``gradients`` (in place) and set ``da_next``.

    dy (n_y, 1) = p_t - onehot(y_t); x (n_x, 1); a, a_prev (n_a, 1).
    """
    gradients["dWya"] += np.dot(dy, a.T)
    gradients["dby"] += dy
    da = np.dot(parameters["Wya"].T, dy) + gradients["da_next"]  # backprop into a
    daraw = (1 - a * a) * da  # through tanh
    gradients["db"] += daraw
    gradients["dWax"] += np.dot(daraw, x.T)
    gradients["dWaa"] += np.dot(daraw, a_prev.T)
    gradients["da_next"] = np.dot(parameters["Waa"].T, daraw)
    return gradients


# --------------------------------------------------------------------------- one example


class Cache(tuple):
    """``(y_hat, a, x)`` as the notebook's cache, stored as arrays.

    y_hat (T, n_y, 1): ``y_hat[t]`` is step t's probability column, as the notebook's dict.
    a: mapping t -> (n_a, 1) for t = -1 .. T-1 (``a[-1]`` is a0), as the notebook's dict.
    x (T,) int: the input indices, -1 where ``X[t]`` was None (the zero vector).
    ``A`` (T+1, n_a) holds the same hidden states as one array, for ``rnn_backward``.
    """

    A: np.ndarray


class States(Mapping[int, np.ndarray]):
    """The notebook's dict of hidden states, a[t] (n_a, 1) for t = -1 .. T-1, over one array."""

    def __init__(self, A: np.ndarray) -> None:
        self.A = A  # (T+1, n_a); A[0] is a0

    def __getitem__(self, t: int) -> np.ndarray:
        if not -1 <= t < len(self.A) - 1:
            raise KeyError(t)
        return self.A[t + 1][:, None]

    def __iter__(self) -> Iterator[int]:
        return iter(range(-1, len(self.A) - 1))

    def __len__(self) -> int:
        return len(self.A)


def _input_ids(X: Sequence[Index]) -> np.ndarray:
    return np.fromiter((-1 if i is None else i for i in X), dtype=np.intp, count=len(X))


def _forward_arrays(ids: np.ndarray, a0: np.ndarray, parameters: Params) -> tuple[np.ndarray, np.ndarray]:
    """Hidden states A (T+1, n_a) with A[0] = a0 (n_a,), and probabilities P (T, n_y)."""
    Wax, Waa, Wya, b = parameters["Wax"], parameters["Waa"], parameters["Wya"], parameters["b"][:, 0]
    T, n_a = len(ids), Waa.shape[0]
    A = np.empty((T + 1, n_a))
    A[0] = a0
    XW = Wax.T[ids]  # (T, n_a): row t is Wax[:, ids[t]], i.e. Wax @ onehot(ids[t]) exactly
    for t in range(T):
        pre = np.dot(Waa, A[t])  # (n_a,)
        if ids[t] >= 0:  # X[t] = None: the zero vector adds nothing
            pre += XW[t]
        pre += b
        np.tanh(pre, out=A[t + 1])
    # one matrix-vector product per step, batched in C: bitwise the notebook's np.dot(Wya, a)
    Z = np.matmul(Wya, A[1:, :, None])[:, :, 0]  # (T, n_y)
    Z += parameters["by"][:, 0]
    return A, _softmax_rows(Z)


def _loss(P: np.ndarray, targets: np.ndarray) -> np.float64:
    logs = np.log(P[np.arange(len(targets)), targets])
    return -np.cumsum(logs)[-1]  # 0 - l0 - l1 - ..., the notebook's order of additions


def rnn_forward(X: Sequence[Index], Y: Sequence[int], a0: np.ndarray, parameters: Params,
                vocab_size: int = 27) -> tuple[np.float64, Cache]:
    """Forward through one example; loss is the SUM over steps of -log p_t[Y[t]].

    X: input indices, ``None`` meaning the zero vector; Y: target indices (len(X));
    a0 (n_a, 1). ``vocab_size`` is accepted for the notebook's signature; the width comes
    from the parameters. Returns (loss, cache=(y_hat, a, x)), see :class:`Cache`.
    """
    ids = _input_ids(X)
    A, P = _forward_arrays(ids, a0[:, 0], parameters)
    cache = Cache((P[:, :, None], States(A), ids))
    cache.A = A
    return _loss(P, np.asarray(Y, dtype=np.intp)), cache


def _sum_reversed(terms: np.ndarray, out: np.ndarray) -> np.ndarray:
    """terms[T-1] + terms[T-2] + ... + terms[0], added one slice at a time, into ``out``."""
    return np.add.reduce(terms[::-1], axis=0, out=out)


def _outer_sum_reversed(u: np.ndarray, v: np.ndarray, out: np.ndarray) -> np.ndarray:
    """sum_t u[t] v[t]^T for t = T-1 .. 0, each product rounded, added in that order.

    u (T, m), v (T, n) -> out (m, n). ``einsum`` without ``optimize`` accumulates every
    output element over t in the given order with separate multiply and add, exactly as
    the notebook's ``dW += np.dot(u_t, v_t.T)`` (a matrix product would not; the tests
    compare with the transcription bit for bit). Not ``out=``: with it einsum takes another
    path that is not bitwise equal.
    """
    u_rev = np.ascontiguousarray(u[::-1])  # einsum's loop order depends on the layout:
    v_rev = np.ascontiguousarray(v[::-1])  # always hand it C-contiguous operands
    out[...] = np.einsum("ti,tj->ij", u_rev, v_rev)
    return out


class _Layout:
    """Offsets of Wax, Waa, Wya, b, by in one flat float64 buffer."""

    def __init__(self, n_a: int, n_x: int, n_y: int) -> None:
        self.shapes = {"Wax": (n_a, n_x), "Waa": (n_a, n_a), "Wya": (n_y, n_a), "b": (n_a, 1), "by": (n_y, 1)}
        self.slices: dict[str, slice] = {}
        start = 0
        for name, (r, c) in self.shapes.items():
            self.slices[name] = slice(start, start + r * c)
            start += r * c
        self.size = start

    def views(self, flat: np.ndarray, prefix: str = "") -> dict[str, np.ndarray]:
        out = {}
        for name, (r, c) in self.shapes.items():
            v = flat[self.slices[name]]
            # dWax is written transposed (rows per input symbol), so view it as such
            out[prefix + name] = v.reshape(c, r).T if name == "Wax" else v.reshape(r, c)
        return out


def _backward_arrays(ids: np.ndarray, targets: np.ndarray, A: np.ndarray, P: np.ndarray,
                     parameters: Params, flat: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The five gradients as views of one flat buffer (``flat``, or a new one), plus da_next."""
    Waa, Wya = parameters["Waa"], parameters["Wya"]
    n_a, n_y, n_x = Waa.shape[0], Wya.shape[0], parameters["Wax"].shape[1]
    T = len(ids)
    layout = _Layout(n_a, n_x, n_y)
    if flat is None:
        flat = np.empty(layout.size)
    g = layout.views(flat, "d")
    dY = P.copy()  # (T, n_y)
    dY[np.arange(T), targets] -= 1
    da_out = np.matmul(Wya.T, dY[:, :, None])[:, :, 0]  # (T, n_a): np.dot(Wya.T, dy) per step
    one_minus = 1 - A[1:] * A[1:]  # (T, n_a)
    Draw = np.empty_like(one_minus)  # (T, n_a) gradient of the tanh pre-activation
    da_next = np.zeros(n_a)
    WaaT = Waa.T
    for t in range(T - 1, -1, -1):
        da = da_out[t] + da_next
        np.multiply(one_minus[t], da, out=Draw[t])
        da_next = np.dot(WaaT, Draw[t])
    dWax_T = g["dWax"].T  # (n_x, n_a)
    dWax_T[...] = 0.0
    rev = slice(None, None, -1)
    keep = ids[rev] >= 0
    np.add.at(dWax_T, ids[rev][keep], Draw[rev][keep])  # += daraw onehot^T, reversed order
    _outer_sum_reversed(Draw, A[:-1], g["dWaa"])
    _outer_sum_reversed(dY, A[1:], g["dWya"])
    _sum_reversed(Draw, g["db"][:, 0])
    _sum_reversed(dY, g["dby"][:, 0])
    g["da_next"] = da_next[:, None]
    return g


def rnn_backward(X: Sequence[Index], Y: Sequence[int], parameters: Params,
                 cache: Cache) -> tuple[dict[str, np.ndarray], Mapping[int, np.ndarray]]:
    """Backpropagation through time for one example.

    ``cache`` is what :func:`rnn_forward` returned (a notebook-style cache of dicts works too).
    Returns (gradients, a): gradients dWax, dWaa, dWya, db, dby (shapes of the parameters)
    and da_next (n_a, 1), the gradient flowing into a0; ``a`` is the cache's hidden states.
    """
    y_hat, a, _ = cache
    ids = _input_ids(X)
    T = len(ids)
    A = getattr(cache, "A", None)
    if A is None:  # a cache built by the notebook's own rnn_forward (dicts of columns)
        A = np.stack([a[t][:, 0] for t in range(-1, T)])  # (T+1, n_a)
    P = np.stack([y_hat[t][:, 0] for t in range(T)]) if isinstance(y_hat, dict) else y_hat[:, :, 0]
    gradients = _backward_arrays(ids, np.asarray(Y, dtype=np.intp), A, P, parameters)
    return gradients, a


def update_parameters(parameters: Params, gradients: dict[str, np.ndarray], lr: float) -> Params:
    """Gradient-descent step in place: parameters[k] += -lr * gradients['d' + k]."""
    for name in PARAM_NAMES:
        parameters[name] += -lr * gradients["d" + name]
    return parameters


def clip(gradients: dict[str, np.ndarray], maxValue: float) -> dict[str, np.ndarray]:
    """Clip each of dWax, dWaa, dWya, db, dby elementwise to [-maxValue, maxValue], in place.

    Returns a new dictionary holding just those five (the same arrays), as the notebook.
    """
    for name in GRAD_NAMES:
        np.clip(gradients[name], -maxValue, maxValue, out=gradients[name])
    return {name: gradients[name] for name in ("dWaa", "dWax", "dWya", "db", "dby")}


def optimize(X: Sequence[Index], Y: Sequence[int], a_prev: np.ndarray, parameters: Params,
             learning_rate: float = 0.01) -> tuple[np.float64, dict[str, np.ndarray], np.ndarray]:
    """One SGD step on one example: forward, backward, clip at 5, update in place.

    Returns (loss, gradients, a[len(X)-1]): the summed loss, the clipped gradients and the
    last hidden state (n_a, 1), which ``model`` carries to the next name.
    """
    loss, cache = rnn_forward(X, Y, a_prev, parameters)
    gradients, a = rnn_backward(X, Y, parameters, cache)
    gradients = clip(gradients, 5)
    parameters = update_parameters(parameters, gradients, learning_rate)
    return loss, gradients, a[len(X) - 1]


# --------------------------------------------------------------------------- sampling


def sample(parameters: Params, char_to_ix: dict[str, int], seed: int) -> list[int]:
    """Sample a name: zero first input, then feed back each drawn index.

    Before each draw the global RNG is reseeded with ``counter + seed`` (``seed`` itself also
    grows by one per step, as in the notebook) and the index is drawn with
    ``np.random.choice(vocab_size, p=y)``, which draws exactly as the notebook's
    ``np.random.choice(list(range(vocab_size)), p=...)``. Stops after the newline or after
    50 characters, then appends a newline.

    Note: on today's NumPy/OpenBLAS the notebook's printed index list for its test case is
    reproduced for the first 43 draws; draw 44 differs because one matrix product differs
    in the last bit from the original machine's and the draw falls on the boundary.
    The code is not bent to chase the rest.
    """
    Waa, Wax, Wya, by, b = parameters["Waa"], parameters["Wax"], parameters["Wya"], parameters["by"], parameters["b"]
    vocab_size = by.shape[0]
    a_prev = np.zeros((Waa.shape[1], 1))
    indices: list[int] = []
    idx = -1
    counter = 0
    newline_character = char_to_ix["\n"]
    while idx != newline_character and counter != 50:
        pre = np.dot(Waa, a_prev)
        if idx >= 0:
            pre = Wax[:, idx : idx + 1] + pre  # == Wax @ onehot(idx), bitwise
        a = np.tanh(pre + b)
        y = softmax(np.dot(Wya, a) + by)
        np.random.seed(counter + seed)
        idx = int(np.random.choice(vocab_size, p=y.ravel()))
        indices.append(idx)
        a_prev = a
        seed += 1
        counter += 1
    if counter == 50:
        indices.append(char_to_ix["\n"])
    return indices


# --------------------------------------------------------------------------- training


@overload
def model(data: str, ix_to_char: dict[int, str], char_to_ix: dict[str, int], num_iterations: int = ...,
          n_a: int = ..., dino_names: int = ..., vocab_size: int = ..., verbose: bool = ..., *,
          log: Log = ..., parameters: Params | None = ..., losses: list[float] | None = ...,
          sample_seed: int = ...) -> Params: ...


@overload
def model(data: list[str], ix_to_char: dict[int, str], char_to_ix: dict[str, int], num_iterations: int = ...,
          n_a: int = ..., dino_names: int = ..., vocab_size: int = ..., verbose: bool = ..., *,
          log: Log = ..., parameters: Params | None = ..., losses: list[float] | None = ...,
          sample_seed: int = ...) -> tuple[Params, str]: ...


def model(data: str | list[str], ix_to_char: dict[int, str], char_to_ix: dict[str, int],
          num_iterations: int = 35000, n_a: int = 50, dino_names: int = 7, vocab_size: int = 27,
          verbose: bool = False, *, log: Log = print, parameters: Params | None = None,
          losses: list[float] | None = None, sample_seed: int = 0) -> Params | tuple[Params, str]:
    """Train on the names in ``data`` and sample ``dino_names`` every 2,000 steps.

    Two notebook signatures: the seed's ``model(data, ...)`` with ``data`` the text of the
    names file (names lower-cased and stripped, blank lines dropped), returning the
    parameters; and the course's newer ``model(data_x, ..., verbose=False)`` with ``data_x``
    a list of names (each stripped, kept as given), returning ``(parameters,
    last_dino_name)``; ``verbose=True`` adds that notebook's debugging lines (the example and
    index at iterations 0, len-1 and len). Both train the same way and print the same reports.

    As the notebook: parameters from ``initialize_parameters`` (unless ``parameters`` is
    given, e.g. another notebook's initialisation; it is updated in place), names
    lower-cased and stripped, shuffled with ``np.random.seed(0)``, one SGD step per name
    (lr 0.01, clip 5) with the hidden state carried from name to name, and the loss smoothed
    from ``get_initial_loss(vocab_size, dino_names)``.

    ``log`` receives each line the notebook prints: ``print`` by default, as the notebook
    (the one place charsmith prints outside its CLI: this function is the notebook's cell);
    ``log=None`` is silent, ``log=lines.append`` collects them.
    ``losses``, if given, receives every iteration's unsmoothed loss. ``sample_seed`` is
    the first name's sampling seed (the notebook's 0; name k uses sample_seed + k).
    Returns the trained parameters.
    """
    n_x, n_y = vocab_size, vocab_size
    if parameters is None:
        parameters = initialize_parameters(n_a, n_x, n_y)
    loss = get_initial_loss(vocab_size, dino_names)
    newer = isinstance(data, list)
    examples = [x.strip() for x in data] if isinstance(data, list) else examples_from_text(data)
    if not examples:
        raise ValueError("no training examples: the data is empty")
    np.random.seed(0)
    np.random.shuffle(examples)
    newline = char_to_ix["\n"]
    encoded = []
    for name in examples:
        ids = _encode(name, char_to_ix)
        encoded.append((np.array([-1] + ids, dtype=np.intp), np.array(ids + [newline], dtype=np.intp)))
    trainer = _Trainer(parameters, learning_rate=0.01, max_value=5)
    a_prev = np.zeros(n_a)  # (n_a,)
    last_name = "abc"  # the newer notebook's starting value
    for j in range(num_iterations):
        X, Y = encoded[j % len(examples)]
        curr_loss, a_prev = trainer.step(X, Y, a_prev)
        if verbose and log is not None:
            _debug(log, j, examples, char_to_ix)
        if losses is not None:
            losses.append(float(curr_loss))
        loss = smooth(loss, curr_loss)
        if j % 2000 == 0 and (log is not None or newer):
            trainer.sync()
            last_name = _report(log, j, loss, parameters, ix_to_char, char_to_ix, dino_names, sample_seed)
    trainer.sync()
    if newer:
        return parameters, last_name
    return parameters


class _Trainer:
    """``optimize`` for ``model``'s loop, with parameters and gradients in flat buffers.

    Clipping and the update are elementwise, so doing them once on the flat buffer gives
    the same numbers as the notebook's five ``np.clip`` calls and five updates.
    """

    def __init__(self, parameters: Params, learning_rate: float, max_value: float) -> None:
        n_a, n_x = parameters["Wax"].shape
        n_y = parameters["Wya"].shape[0]
        self.layout = _Layout(n_a, n_x, n_y)
        self.flat = np.empty(self.layout.size)
        self.params = self.layout.views(self.flat)
        for name in PARAM_NAMES:
            self.params[name][...] = parameters[name]
        self.grads = np.empty(self.layout.size)
        self.out = parameters
        self.lr, self.max_value = learning_rate, max_value

    def step(self, X: np.ndarray, Y: np.ndarray, a_prev: np.ndarray) -> tuple[np.float64, np.ndarray]:
        A, P = _forward_arrays(X, a_prev, self.params)
        loss = _loss(P, Y)
        _backward_arrays(X, Y, A, P, self.params, self.grads)
        np.clip(self.grads, -self.max_value, self.max_value, out=self.grads)
        self.flat += -self.lr * self.grads
        return loss, A[-1]

    def sync(self) -> None:
        """Copy the trained values back into the caller's parameter dictionary."""
        for name in PARAM_NAMES:
            self.out[name][...] = self.params[name]


def _encode(name: str, char_to_ix: dict[str, int]) -> list[int]:
    try:
        return [char_to_ix[ch] for ch in name]
    except KeyError as e:
        raise ValueError(f"character {e.args[0]!r} in {name!r} is not in char_to_ix") from None


def _report(log: Log, j: int, loss: float, parameters: Params,
            ix_to_char: dict[int, str], char_to_ix: dict[str, int], dino_names: int, seed: int) -> str:
    """The notebook's progress block: header line, blank line, the names, two blank lines.
    Returns the last name sampled (the newer notebook's ``last_dino_name``, without its
    newline); the names are sampled (and the global RNG drawn) even when ``log`` is None."""
    if log is not None:
        log("Iteration: %d, Loss: %f" % (j, loss) + "\n")
    name = ""
    for _ in range(dino_names):
        name = print_sample(sample(parameters, char_to_ix, seed), ix_to_char)[:-1]
        if log is not None:
            log(name)  # print(txt, end='') of a newline-ended txt
        seed += 1
    if log is not None:
        log("\n")
    return name


def _debug(log: Callable[[str], None], j: int, examples: list[str], char_to_ix: dict[str, int]) -> None:
    """The newer notebook's ``verbose`` lines: the index at iterations 0, len-1 and len, and the
    first example as characters, ids, X and Y."""
    idx = j % len(examples)
    if j in (0, len(examples) - 1, len(examples)):
        log(f"j =  {j} idx =  {idx}")
    if j == 0:
        ids = [char_to_ix[c] for c in examples[idx]]
        X: list[int | None] = [None, *ids]
        Y = [*ids, char_to_ix["\n"]]
        log(f"single_example = {examples[idx]}")
        log(f"single_example_chars {list(examples[idx])}")
        log(f"single_example_ix {ids}")
        log(f" X =  {X} \n Y =        {Y} \n")
