"""The NumPy reference backend: the specification every other backend is checked against.

Plain NumPy on the caller's thread (NumPy's BLAS may use its own threads). The time loops
call the cells' one-step feature-major maths (``forward_fm``/``backward_fm``) step by step.
"""

from __future__ import annotations

import numpy as np

from charsmith.backend._interface import Backend, Cell

__all__ = ["Reference"]


def _steps(buffers: list[np.ndarray], n: int) -> list[tuple[np.ndarray, ...]]:
    """n per-step tuples of row views, (b[t] for b in buffers) for t < n, of time-major
    (T, rows, B) buffers (empty tuples if no buffers)."""
    if not buffers:
        return [()] * n
    return list(zip(*(list(b) for b in buffers), strict=False))


def _time_major(a: np.ndarray) -> np.ndarray:
    """(F, T, B) -> a contiguous (T, F, B) copy."""
    return np.ascontiguousarray(a.transpose(1, 0, 2))


def _row_max(a: np.ndarray) -> np.ndarray:
    """a (N, V) -> (N,) max over V. Reduced over the leading axis of a (V, N) copy: ~4x
    faster than a.max(axis=-1) for small V (a short inner reduction per row is slow)."""
    return np.ascontiguousarray(a.T).max(axis=0)


def _scatter_rows(idx: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """out[v] = sum of rows[k] where idx[k] == v; idx (N,) with -1 = skip, rows (N, D) -> (n, D),
    by sorting (for when a one-hot matrix would be large)."""
    keep = idx >= 0
    idx, rows = idx[keep], rows[keep]
    order = np.argsort(idx, kind="stable")
    s = idx[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]]) if s.size else np.zeros(0, np.intp)
    out = np.zeros((n, rows.shape[1]), dtype=rows.dtype)
    if s.size:
        out[s[starts]] = np.add.reduceat(rows[order], starts, axis=0)
    return out


class Reference(Backend):
    """NumPy only. ``reason`` is its status line: why the compiled kernels are not in use."""

    compiled = False
    threads = 1

    def __init__(self, reason: str = "the NumPy reference") -> None:
        self._reason = reason

    @property
    def status(self) -> str:
        return self._reason

    def with_threads(self, n: int) -> Reference:
        return self

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a @ b

    def recur_forward(self, cell: Cell, p: dict[str, np.ndarray], xp: np.ndarray, S: list[np.ndarray],
                      C: list[np.ndarray], ids: np.ndarray | None = None) -> None:  # fmt: skip
        """On time-major copies, whose per-step slices are contiguous (NumPy's many small
        calls per step are much faster on them), copied back gate-major at the end."""
        T, B = S[0].shape[1] - 1, S[0].shape[2]
        if ids is not None:
            xp = np.take(xp, ids.reshape(-1), axis=1, mode="wrap").reshape(-1, T, B)  # -1 -> last column
        q = cell.prepare(p)
        St = [_time_major(s) for s in S]
        Ct = [np.empty((T, c.shape[0], B), dtype=c.dtype) for c in C]
        states, caches, xs = _steps(St, T + 1), _steps(Ct, T), _time_major(xp)
        for t in range(T):
            cell.forward_fm(q, xs[t], states[t], states[t + 1], caches[t])
        for gm, tm in zip(S + C, St + Ct, strict=True):
            gm[...] = tm.transpose(1, 0, 2)

    def recur_backward(self, cell: Cell, p: dict[str, np.ndarray], S: list[np.ndarray], C: list[np.ndarray],
                       dhs: np.ndarray, D: list[np.ndarray], carry: list[np.ndarray]) -> list[np.ndarray]:  # fmt: skip
        """On time-major copies, as :meth:`recur_forward`."""
        H, T, B = dhs.shape
        q = cell.prepare(p)
        nxt = [np.empty((H, B), dtype=dhs.dtype) for _ in carry]
        scratch = np.empty((cell.SCRATCH, H, B), dtype=dhs.dtype)
        dh = np.empty((H, B), dtype=dhs.dtype)
        Dt = [np.empty((T, d.shape[0], B), dtype=d.dtype) for d in D]
        states = _steps([_time_major(s) for s in S], T + 1)
        caches, outs, ups = _steps([_time_major(c) for c in C], T), _steps(Dt, T), _time_major(dhs)
        for t in range(T - 1, -1, -1):
            np.add(ups[t], carry[0], out=dh)  # from the layer above and from step t+1
            cell.backward_fm(q, (dh, *carry[1:]), states[t], states[t + 1], caches[t], outs[t], nxt, scratch)
            carry, nxt = nxt, carry
        for gm, tm in zip(D, Dt, strict=True):
            gm[...] = tm.transpose(1, 0, 2)
        return carry

    def cell_step(self, cell: Cell, p: dict[str, np.ndarray], xp: np.ndarray, state: tuple[np.ndarray, ...],
                  ids: np.ndarray | None = None) -> tuple[np.ndarray, ...]:  # fmt: skip
        return cell.step(p, xp if ids is None else np.take(xp, ids, axis=0), state)

    def softmax_xent(self, logits: np.ndarray, targets: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        N, V = logits.shape
        on = w != 0
        flat = np.arange(0, N * V, V) + np.where(on, targets, 0)  # (N,) flat index of each target logit
        z = logits - _row_max(logits)[:, None]  # (N, V), <= 0
        grad = np.exp(z)
        s = grad @ np.ones(V, dtype=grad.dtype)  # (N,) row sums: a matvec is ~6x faster than sum(-1)
        nll = np.where(on, np.log(s) - np.take(z, flat), 0).astype(logits.dtype, copy=False)
        grad *= (w / s)[:, None]
        grad.reshape(-1)[flat] -= w  # each position's target logit
        return nll, grad

    def head_xent(self, y: np.ndarray, W_out: np.ndarray, b_out: np.ndarray, targets: np.ndarray,
                  w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        logits = self.matmul(y.T, W_out)  # (N, V)
        logits += b_out
        nll, g = self.softmax_xent(logits, targets, w)  # g (N, V)
        return nll, self.matmul(y, g), np.ones(g.shape[0], dtype=g.dtype) @ g, self.matmul(W_out, g.T)

    def adam(self, p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, mask: np.ndarray, *,
             step: float, b1: float, b2: float, eps: float, decay: float) -> None:  # fmt: skip
        if decay:
            p -= decay * mask * p
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * (g * g)
        p -= step * m / (np.sqrt(v) + eps)

    def scatter_cols(self, idx: np.ndarray, cols: np.ndarray, n: int) -> np.ndarray:
        """A (N, n+1) one-hot matmul (rows of an identity gathered by id), or sorting when
        that would be large."""
        if (n + 1) * idx.size <= 1 << 22:
            onehot = np.take(np.eye(n + 1, dtype=cols.dtype), idx, axis=0, mode="wrap")  # (N, n+1)
            return cols @ onehot
        out = np.empty((cols.shape[0], n + 1), dtype=cols.dtype)
        out[:, :n] = _scatter_rows(idx, cols.T, n).T
        out[:, n] = cols[:, idx < 0].sum(axis=1)
        return out
