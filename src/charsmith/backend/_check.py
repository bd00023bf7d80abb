"""Each compiled kernel against the NumPy reference, on one small float64 problem.

:meth:`Compiled._ok <charsmith.backend.compiled.Compiled._ok>` runs the check of a kernel
group the first time the process uses it. The problems are split over two blocks run by
the calling thread (the decomposition threads would run, without starting any), both ways
for the recurrence. A kernel that disagrees is reported and not used; the tests compare
every kernel far more thoroughly (tests/test_backend.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from charsmith.backend._interface import Backend, Cell

if TYPE_CHECKING:
    from charsmith.backend.compiled import Compiled

__all__ = ["check"]

RTOL, ATOL = 1e-9, 1e-12


def _differs(ours: list[np.ndarray], ref: list[np.ndarray]) -> str:
    for a, b in zip(ours, ref, strict=True):
        if a.shape != b.shape or not np.allclose(a, b, rtol=RTOL, atol=ATOL):
            worst = np.max(np.abs(a - b)) if a.shape == b.shape else f"shape {a.shape}, not {b.shape}"
            return f"differ by {worst:.3g}" if not isinstance(worst, str) else worst
    return ""


def check(compiled: Compiled, reference: Backend, group: str, cell: Cell | None) -> str:
    """'' if kernel ``group`` of ``compiled`` agrees with ``reference``, else what went wrong."""
    checker = compiled.with_options(threads=2, pace="one", min_work=1, min_matmul=1, min_elements=1,
                                    min_head_cols=1, split="")  # fmt: skip
    rng = np.random.default_rng(0)
    try:
        if cell is not None:
            return _check_cell(checker, reference, cell, rng)
        return _CHECKS[group](checker, reference, rng)
    except Exception as e:  # noqa: BLE001  (a kernel that raises is as bad as a wrong one)
        return f"{type(e).__name__}: {e}"


def _check_cell(checker: Compiled, reference: Backend, cell: Cell, rng: np.random.Generator) -> str:
    """Forward (from an array and by id) and backward, split by units and by batch, and the
    sampling step (from an array and by id)."""
    T, B, H, n = 3, 5, 4, 6
    G = cell.GATES * H
    p = {"W_hh": rng.normal(0, 0.5, (H, G))}
    if cell.NAME == "gru":
        p["b_hn"] = rng.normal(0, 0.5, H)
    table = rng.normal(0, 1.5, (G, n + 1))
    ids = rng.integers(-1, n, (T, B))
    state = [rng.normal(0, 0.7, (B, H)) for _ in range(cell.STATE_SIZE)]
    dhs, d_final = rng.normal(0, 1, (H, T, B)), [rng.normal(0, 1, (B, H)) for _ in state]
    xp_step = rng.normal(0, 1.5, (B, G))
    step_ids = rng.integers(0, n + 1, B)  # rows of table.T read by the step

    def run(be: Any, by_id: bool) -> list[np.ndarray]:
        S = [np.empty((H, T + 1, B)) for _ in state]
        for s, s0 in zip(S, state, strict=True):
            s[:, 0] = s0.T
        C = [np.empty((rows, T, B)) for rows in cell.cache_rows(H)]
        xp = table if by_id else table[:, np.where(ids < 0, n, ids)]
        be.recur_forward(cell, p, xp, S, C, ids if by_id else None)
        D = [np.empty((rows, T, B)) for rows in cell.grad_rows(H)]
        carry = be.recur_backward(cell, p, S, C, dhs, D, [np.ascontiguousarray(d.T) for d in d_final])
        by_row = be.cell_step(cell, p, np.ascontiguousarray(table.T), tuple(state), step_ids)
        return [*S, *C, *D, *carry, *be.cell_step(cell, p, xp_step, tuple(state)), *by_row]

    want = run(reference, False)
    for split in ("units", "batch"):
        ours = checker.with_options(split=split, min_cols=1)
        for by_id in (False, True):
            problem = _differs(run(_Raw(ours), by_id), want)
            if problem:
                return f"{split} split{', inputs by id' if by_id else ''}: {problem}"
    return ""


class _Raw:
    """A Compiled whose recurrence and step skip the check (the check itself runs them)."""

    def __init__(self, compiled: Compiled) -> None:
        self.c = compiled

    def recur_forward(self, cell: Cell, p: dict[str, np.ndarray], xp: np.ndarray, S: list[np.ndarray],
                      C: list[np.ndarray], ids: np.ndarray | None = None) -> None:  # fmt: skip
        self.c._recur_forward(cell, p, xp, S, C, ids)

    def recur_backward(self, cell: Cell, p: dict[str, np.ndarray], S: list[np.ndarray], C: list[np.ndarray],
                       dhs: np.ndarray, D: list[np.ndarray], carry: list[np.ndarray]) -> list[np.ndarray]:  # fmt: skip
        return self.c._recur_backward(cell, p, S, C, dhs, D, carry)

    def cell_step(self, cell: Cell, p: dict[str, np.ndarray], xp: np.ndarray, state: tuple[np.ndarray, ...],
                  ids: np.ndarray | None = None) -> tuple[np.ndarray, ...]:  # fmt: skip
        return self.c._cell_step(cell, p, xp, state, ids)


def _check_matmul(c: Compiled, ref: Backend, rng: np.random.Generator) -> str:
    from charsmith.backend.compiled import _blas_layout

    a, b = rng.normal(size=(7, 5)), rng.normal(size=(30, 5)).T  # b (5, 30) a transposed view
    pairs = ((a, b), (b.T, a.T))
    ours = [c._matmul(x, y, _blas_layout(x), _blas_layout(y), 2) for x, y in pairs]  # type: ignore[arg-type]
    return _differs(ours, [x @ y for x, y in pairs])


def _xent_problem(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    N, V = 37, 11
    w = rng.random(N) * (rng.random(N) < 0.8)
    return rng.normal(0, 3, (N, V)), rng.integers(0, V, N), w


def _check_xent(c: Compiled, ref: Backend, rng: np.random.Generator) -> str:
    logits, targets, w = _xent_problem(rng)
    ours = c._softmax_xent(logits, targets, w)
    return "out of memory" if ours is None else _differs(list(ours), list(ref.softmax_xent(logits, targets, w)))


def _check_head(c: Compiled, ref: Backend, rng: np.random.Generator) -> str:
    y, W_out, b_out = rng.normal(size=(6, 37)), rng.normal(size=(6, 11)), rng.normal(size=11)
    _, targets, w = _xent_problem(rng)
    want = ref.head_xent(y, W_out, b_out, targets, w)
    return _differs(list(c._head_xent(y, 37, W_out, b_out, targets, w)), list(want))


def _check_adam(c: Compiled, ref: Backend, rng: np.random.Generator) -> str:
    p, g, m = rng.normal(size=(3, 1000))
    v, mask = rng.random(1000), (rng.random(1000) < 0.5).astype(np.float64)
    results = []
    for adam in (c._adam, ref.adam):
        arrays = [p.copy(), g, m.copy(), v.copy(), mask]
        adam(*arrays, step=0.01, b1=0.9, b2=0.99, eps=1e-8, decay=0.001)
        results.append([arrays[0], arrays[2], arrays[3]])
    return _differs(*results)


def _check_scatter(c: Compiled, ref: Backend, rng: np.random.Generator) -> str:
    idx = np.concatenate([rng.integers(-1, 6, 50), np.full(9, -1), np.full(5, 2)])
    cols = rng.normal(size=(7, idx.size))
    return _differs([c._scatter_cols(idx, cols, 6)], [ref.scatter_cols(idx, cols, 6)])


_CHECKS = {"matmul": _check_matmul, "xent": _check_xent, "head_xent": _check_head, "adam": _check_adam,
           "scatter_cols": _check_scatter}  # fmt: skip
