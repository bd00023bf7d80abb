"""Central-difference gradient checking in float64 for the tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from charsmith.classic.gradcheck import numerical_gradients

__all__ = ["numerical_grad", "rel_error", "assert_grads_close"]


def numerical_grad(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """df/dx by central differences, perturbing ``x`` (float64, contiguous) in place and restoring it."""
    if x.dtype != np.float64 or not x.flags.c_contiguous:
        raise TypeError(f"gradcheck needs a contiguous float64 array, got {x.dtype}")
    return numerical_gradients(f, {"x": x}, eps)["x"]


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / (||a|| + ||b||), 0 when both are zero."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise AssertionError(f"shape mismatch: {a.shape} vs {b.shape}")
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b) / denom)


def assert_grads_close(
    f: Callable[[], float],
    arrays: Mapping[str, np.ndarray],
    analytic: Mapping[str, np.ndarray],
    *,
    eps: float = 1e-6,
    tol: float = 1e-6,
) -> None:
    """Check ``analytic[name]`` against central differences of ``f`` w.r.t. ``arrays[name]``
    (perturbed in place) for every name; also insist each gradient is non-trivial."""
    bad = []
    for name, x in arrays.items():
        num = numerical_grad(f, x, eps)
        err = rel_error(analytic[name], num)
        if err > tol or not np.any(num):
            bad.append(f"{name}: rel error {err:.2e} (|num| = {np.linalg.norm(num):.2e})")
    if bad:
        raise AssertionError("gradient check failed:\n  " + "\n  ".join(bad))
