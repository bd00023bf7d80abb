"""Cells (one step), the sequence layer and the loss against central finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import assert_grads_close, numerical_grad, rel_error

from charsmith.nn import gru, layer, loss, lstm, rnn

CELLS = {"rnn": rnn, "lstm": lstm, "gru": gru}
B, T, D, H = 3, 5, 4, 5


def rand_params(cell: str, rng: np.random.Generator, d: int = D, h: int = H) -> dict[str, np.ndarray]:
    """float64 params with non-zero biases, big enough to leave the linear regime."""
    shapes = layer.param_shapes(cell, d, h)
    return {k: rng.normal(0.0, 0.6, size=s) for k, s in shapes.items()}


def rand_state(cell: str, rng: np.random.Generator, b: int = B, h: int = H) -> tuple[np.ndarray, ...]:
    return tuple(rng.normal(0.0, 0.8, size=(b, h)) for _ in range(CELLS[cell].STATE_SIZE))


@pytest.mark.parametrize("cell", CELLS)
def test_cell_step_gradients(cell: str) -> None:
    mod = CELLS[cell]
    rng = np.random.default_rng(1)
    p = rand_params(cell, rng)
    xp = rng.normal(size=(B, mod.GATES * H))
    state = rand_state(cell, rng)
    G = [rng.normal(size=(B, H)) for _ in state]  # upstream grads of each new-state component

    def f() -> float:
        new, _ = mod.forward(p, xp, state)
        return float(sum((s * g).sum() for s, g in zip(new, G)))

    _, cache = mod.forward(p, xp, state)
    dxp, d_prev, grads = mod.backward(p, tuple(G), cache)
    analytic = {"xp": dxp, **{f"state{k}": d for k, d in enumerate(d_prev)}}
    analytic.update(mod.hidden_grads(state[0], grads["gh"]))
    arrays = {"xp": xp, **{f"state{k}": s for k, s in enumerate(state)}, "W_hh": p["W_hh"]}
    if cell == "gru":
        arrays["b_hn"] = p["b_hn"]
    assert_grads_close(f, arrays, analytic)


@pytest.mark.parametrize("cell", CELLS)
def test_cell_step_matches_forward(cell: str) -> None:
    mod = CELLS[cell]
    rng = np.random.default_rng(2)
    p = rand_params(cell, rng)
    xp = rng.normal(size=(B, mod.GATES * H))
    state = rand_state(cell, rng)
    new, _ = mod.forward(p, xp, state)
    fast = mod.step(p, xp, state)
    assert len(fast) == len(new) == mod.STATE_SIZE
    for a, b in zip(new, fast):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-14)


@pytest.mark.parametrize("cell", CELLS)
def test_cell_does_not_mutate_inputs(cell: str) -> None:
    mod = CELLS[cell]
    rng = np.random.default_rng(3)
    p = rand_params(cell, rng)
    xp = rng.normal(size=(B, mod.GATES * H))
    state = rand_state(cell, rng)
    G = tuple(rng.normal(size=(B, H)) for _ in state)
    before = [a.copy() for a in (xp, *state, *G, *p.values())]
    _, cache = mod.forward(p, xp, state)
    mod.step(p, xp, state)
    mod.backward(p, G, cache)
    for a, b in zip(before, (xp, *state, *G, *p.values())):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cell", CELLS)
def test_layer_gradients(cell: str, engine: str) -> None:
    rng = np.random.default_rng(4)
    p = rand_params(cell, rng)
    x = rng.normal(size=(B, T, D))
    state = rand_state(cell, rng)
    G_out = rng.normal(size=(B, T, H))
    G_state = tuple(rng.normal(size=(B, H)) for _ in state)

    def f() -> float:
        out, final, _ = layer.forward(cell, p, x, state)
        return float((out * G_out).sum() + sum((s * g).sum() for s, g in zip(final, G_state)))

    out, final, cache = layer.forward(cell, p, x, state)
    assert out.shape == (B, T, H) and all(s.shape == (B, H) for s in final)
    dx, d_state0, grads = layer.backward(cell, p, G_out, G_state, cache)
    assert set(grads) == set(p)
    analytic = {"x": dx, **{f"state{k}": d for k, d in enumerate(d_state0)}, **grads}
    arrays = {"x": x, **{f"state{k}": s for k, s in enumerate(state)}, **p}
    assert_grads_close(f, arrays, analytic)


@pytest.mark.parametrize("cell", CELLS)
def test_layer_zero_final_grad_is_default(cell: str) -> None:
    rng = np.random.default_rng(5)
    p = rand_params(cell, rng)
    x = rng.normal(size=(B, T, D))
    state = rand_state(cell, rng)
    G_out = rng.normal(size=(B, T, H))
    _, _, cache = layer.forward(cell, p, x, state)
    zeros = tuple(np.zeros((B, H)) for _ in state)
    a = layer.backward(cell, p, G_out, None, cache)
    b = layer.backward(cell, p, G_out, zeros, cache)
    np.testing.assert_allclose(a[0], b[0], atol=1e-14)
    for k in a[2]:
        np.testing.assert_allclose(a[2][k], b[2][k], atol=1e-14)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("mask_kind", ["bool", "float"])
def test_loss_gradients(reduction: str, mask_kind: str, engine: str) -> None:
    rng = np.random.default_rng(6)
    Bl, Tl, V = 3, 4, 6
    logits = rng.normal(0.0, 2.0, size=(Bl, Tl, V))
    targets = rng.integers(0, V, size=(Bl, Tl))
    on = rng.random((Bl, Tl)) < 0.6
    on[0, 0] = True
    targets[~on] = -1  # padding targets are ignored where masked out
    mask = on if mask_kind == "bool" else on * rng.uniform(0.5, 2.0, size=(Bl, Tl))
    dloss = 0.7

    def f() -> float:
        return dloss * loss.cross_entropy_forward(logits, targets, mask, reduction)[0]

    value, cache = loss.cross_entropy_forward(logits, targets, mask, reduction)
    # direct reference: -log softmax at the target, weighted
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    w = np.asarray(mask, dtype=np.float64)
    nll = -np.take_along_axis(logp, np.where(on, targets, 0)[..., None], -1)[..., 0]
    ref = (w * nll).sum() / (w.sum() if reduction == "mean" else 1.0)
    assert value == pytest.approx(ref, rel=1e-12)
    dlogits = loss.cross_entropy_backward(dloss, cache)
    assert dlogits.shape == logits.shape
    assert not dlogits[~on].any()
    assert_grads_close(f, {"logits": logits}, {"logits": dlogits})


def test_loss_is_stable_and_keeps_dtype(engine: str) -> None:
    logits = np.array([[[1000.0, 0.0, -1000.0]]], dtype=np.float32)
    value, cache = loss.cross_entropy_forward(logits, np.array([[1]]), np.ones((1, 1), bool))
    assert value == pytest.approx(1000.0)
    d = loss.cross_entropy_backward(1.0, cache)
    assert d.dtype == np.float32 and np.isfinite(d).all()
    np.testing.assert_allclose(d[0, 0], [1.0, -1.0, 0.0], atol=1e-6)


def test_loss_uses_each_positions_own_max(engine: str) -> None:
    # positions whose logits sit 1e4 apart: one shared shift would underflow all but one
    rng = np.random.default_rng(8)
    base = rng.normal(size=(2, 3, 5))
    offsets = np.array([[0.0, 1e4, -1e4], [5e3, -5e3, 2e4]])[..., None]
    targets = rng.integers(0, 5, size=(2, 3))
    mask = np.ones((2, 3))
    ref, ref_cache = loss.cross_entropy_forward(base, targets, mask)
    for logits in (base + offsets, np.asfortranarray(base + offsets)):  # also a non-C-contiguous input
        value, cache = loss.cross_entropy_forward(logits, targets, mask)
        assert value == pytest.approx(ref, rel=1e-9)
        d = loss.cross_entropy_backward(1.0, cache)
        np.testing.assert_allclose(d, loss.cross_entropy_backward(1.0, ref_cache), atol=1e-9)  # offsets cost ~1e-12


def test_loss_empty_mask_and_errors() -> None:
    logits = np.zeros((2, 3, 4))
    value, cache = loss.cross_entropy_forward(logits, np.full((2, 3), -1), np.zeros((2, 3)))
    assert value == 0.0 and not loss.cross_entropy_backward(1.0, cache).any()
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        loss.cross_entropy_forward(logits, np.zeros((3, 2), int), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        loss.cross_entropy_forward(logits, np.full((2, 3), 4), np.ones((2, 3)))
    with pytest.raises(ValueError, match="reduction"):
        loss.cross_entropy_forward(logits, np.zeros((2, 3), int), np.ones((2, 3)), "max")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        loss.cross_entropy_forward(logits, np.zeros((2, 3)), np.ones((2, 3)))


def test_gradcheck_detects_a_wrong_gradient() -> None:
    x = np.array([1.0, 2.0, 3.0])
    with pytest.raises(AssertionError):
        assert_grads_close(lambda: float((x**2).sum()), {"x": x}, {"x": 2 * x + np.array([0, 0, 1e-3])})
    assert rel_error(numerical_grad(lambda: float((x**3).sum()), x), 3 * x**2) < 1e-8
