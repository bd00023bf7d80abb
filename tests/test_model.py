"""The stacked model: gradients, dropout, zero inputs, init loss, step, shapes and errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import split_everything
from gradcheck import assert_grads_close

from charsmith import backend, model
from charsmith.config import ModelConfig
from charsmith.nn import layer, loss

CELLS = ("rnn", "lstm", "gru")
B, T, V = 3, 5, 7


def rand_params(cfg: ModelConfig, seed: int) -> dict[str, np.ndarray]:
    """float64 params, all entries random and non-zero (biases included)."""
    rng = np.random.default_rng(seed)
    return {k: rng.normal(0.0, 0.5, size=s) for k, s in model.param_shapes(cfg).items()}


def rand_state(cfg: ModelConfig, rng: np.random.Generator, batch: int = B) -> model.State:
    n = 2 if cfg.cell == "lstm" else 1
    return tuple(tuple(rng.normal(0.0, 0.5, size=(batch, cfg.hidden)) for _ in range(n)) for _ in range(cfg.layers))


def check_model_gradients(cfg: ModelConfig, *, dropout_seed: int | None = None) -> None:
    rng = np.random.default_rng(10)
    params = rand_params(cfg, 11)
    ids = rng.integers(0, V, size=(B, T))
    ids[:, 0] = -1
    ids[1, 3] = -1
    targets = rng.integers(0, V, size=(B, T))
    mask = rng.random((B, T)) < 0.7
    mask[0, 0] = True
    state = rand_state(cfg, rng)
    G_state = rand_state(cfg, rng)  # random upstream gradient on the final state

    def run() -> tuple[float, model.State, model.Cache, object]:
        drop = None if dropout_seed is None else np.random.default_rng(dropout_seed)
        logits, final, cache = model.forward(params, cfg, ids, state, rng=drop)
        value, lcache = loss.cross_entropy_forward(logits, targets, mask)
        value += sum(float((s * g).sum()) for fs, gs in zip(final, G_state) for s, g in zip(fs, gs))
        return value, final, cache, lcache

    def f() -> float:
        return run()[0]

    _, _, cache, lcache = run()
    grads, d_state0 = model.backward_with_state(params, cfg, loss.cross_entropy_backward(1.0, lcache), cache, G_state)
    assert list(grads) == list(params)
    assert all(grads[k].shape == params[k].shape and grads[k].dtype == params[k].dtype for k in params)
    analytic = dict(grads)
    arrays = dict(params)
    for i, (ds, s) in enumerate(zip(d_state0, state)):
        for k, (d, a) in enumerate(zip(ds, s)):
            analytic[f"state{i}.{k}"] = d
            arrays[f"state{i}.{k}"] = a
    assert_grads_close(f, arrays, analytic)


@pytest.mark.parametrize("embed", [0, 4])
@pytest.mark.parametrize("cell", CELLS)
def test_model_gradients(cell: str, embed: int, engine: str) -> None:
    check_model_gradients(ModelConfig(cell, V, 5, layers=2, embed=embed))


@pytest.mark.parametrize("cell", CELLS)
def test_model_gradients_with_dropout(cell: str, engine: str) -> None:
    """Re-seeding the rng identically for every evaluation fixes the masks, so the
    finite differences only agree if backward reuses forward's masks."""
    check_model_gradients(ModelConfig(cell, V, 5, layers=2, embed=3, dropout=0.4), dropout_seed=123)


def test_dropout_only_with_rng() -> None:
    cfg = ModelConfig("gru", V, 16, layers=2, embed=4, dropout=0.5)
    params = model.init_params(cfg, np.random.default_rng(0), np.float64)
    ids = np.random.default_rng(1).integers(0, V, size=(4, 6))
    st = model.init_state(cfg, 4, np.float64)
    a = model.forward(params, cfg, ids, st)[0]
    b = model.forward(params, cfg, ids, st)[0]
    np.testing.assert_array_equal(a, b)
    c = model.forward(params, cfg, ids, st, rng=np.random.default_rng(5))[0]
    d = model.forward(params, cfg, ids, st, rng=np.random.default_rng(5))[0]
    np.testing.assert_array_equal(c, d)
    assert np.abs(a - c).max() > 1e-6
    masks = model.forward(params, cfg, ids, st, rng=np.random.default_rng(5))[2]["masks"]
    frac = np.mean([(m == 0).mean() for m in masks])
    assert 0.4 < frac < 0.6


@pytest.mark.parametrize("embed", [0, 4])
@pytest.mark.parametrize("cell", CELLS)
def test_minus_one_is_a_zero_input(cell: str, embed: int) -> None:
    cfg = ModelConfig(cell, V, 6, layers=2, embed=embed)
    params = rand_params(cfg, 3)
    rng = np.random.default_rng(4)
    ids = rng.integers(0, V, size=(B, T))
    ids[:, 0] = -1
    ids[2, 2] = -1
    state = rand_state(cfg, rng)
    logits, _, _ = model.forward(params, cfg, ids, state)

    # reference: the layers fed an explicit zero vector where the id is -1
    D0 = embed if embed else V
    x = np.zeros((B, T, D0))
    for bi in range(B):
        for t in range(T):
            if ids[bi, t] >= 0:
                x[bi, t] = params["wte"][ids[bi, t]] if embed else np.eye(V)[ids[bi, t]]
    for i in range(cfg.layers):
        p = {k.split(".", 1)[1]: v for k, v in params.items() if k.startswith(f"l{i}.")}
        x, _, _ = layer.forward(cell, p, x, state[i])
    ref = x @ params["W_out"] + params["b_out"]
    np.testing.assert_allclose(logits, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("embed", [0, 16])
@pytest.mark.parametrize("cell", CELLS)
def test_loss_at_init_is_log_v(cell: str, embed: int) -> None:
    for vocab in (27, 65):
        cfg = ModelConfig(cell, vocab, 64, layers=2, embed=embed)
        rng = np.random.default_rng(7)
        params = model.init_params(cfg, rng)
        assert all(v.dtype == np.float32 for v in params.values())
        ids = rng.integers(0, vocab, size=(32, 20))
        logits, _, _ = model.forward(params, cfg, ids, model.init_state(cfg, 32))
        assert logits.dtype == np.float32
        value, _ = loss.cross_entropy_forward(logits, rng.integers(0, vocab, size=(32, 20)), np.ones((32, 20)))
        assert abs(value - np.log(vocab)) < 0.1


@pytest.mark.parametrize("batch", [3, 12])  # 12 > V exercises step's projected-table path
@pytest.mark.parametrize("embed", [0, 4])
@pytest.mark.parametrize("cell", CELLS)
def test_step_matches_forward(cell: str, embed: int, batch: int) -> None:
    cfg = ModelConfig(cell, V, 6, layers=2, embed=embed, dropout=0.3)
    params = rand_params(cfg, 8)
    rng = np.random.default_rng(9)
    ids = rng.integers(0, V, size=(batch, T))
    ids[:, 0] = -1
    state = rand_state(cfg, rng, batch)
    logits, final, _ = model.forward(params, cfg, ids, state)
    st = state
    for t in range(T):
        lt, st = model.step(params, cfg, ids[:, t], st)
        np.testing.assert_allclose(lt, logits[:, t], rtol=1e-12, atol=1e-12)
    for a, b in zip(st, final):
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("embed", [0, 5])
@pytest.mark.parametrize("cell", CELLS)
def test_param_shapes_match_init(cell: str, embed: int) -> None:
    cfg = ModelConfig(cell, 11, 8, layers=3, embed=embed)
    params = model.init_params(cfg, np.random.default_rng(0), np.float64)
    shapes = model.param_shapes(cfg)
    assert list(shapes) == list(params)
    assert {k: v.shape for k, v in params.items()} == shapes
    assert all(v.dtype == np.float64 for v in params.values())
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    assert shapes["l0.W_ih"] == ((embed or 11), gates * 8) and shapes["l2.W_ih"] == (8, gates * 8)
    assert ("wte" in shapes) == (embed > 0) and ("l1.b_hn" in shapes) == (cell == "gru")
    assert shapes["W_out"] == (8, 11) and shapes["b_out"] == (11,)
    model.check_params(params, cfg)
    if cell == "lstm":
        np.testing.assert_array_equal(params["l0.b"][8:16], 1.0)
    # same seed, same params; the global RNG is not used
    np.random.seed(0)
    again = model.init_params(cfg, np.random.default_rng(0), np.float64)
    assert all(np.array_equal(params[k], again[k]) for k in params)
    state = model.init_state(cfg, 4)
    assert len(state) == 3 and all(len(s) == (2 if cell == "lstm" else 1) for s in state)
    assert all(a.shape == (4, 8) and a.dtype == np.float32 and not a.any() for s in state for a in s)


def test_bad_inputs_raise_clear_errors() -> None:
    cfg = ModelConfig("lstm", V, 4, layers=2, embed=3)
    params = model.init_params(cfg, np.random.default_rng(0))
    state = model.init_state(cfg, 2)
    ids = np.zeros((2, 3), dtype=np.int64)
    with pytest.raises(ValueError, match=r"\(B, T\).*\(6,\)"):
        model.forward(params, cfg, np.zeros(6, dtype=int), state)
    with pytest.raises(ValueError, match=r"\[-1, 7\).*\[0, 7\]"):
        model.forward(params, cfg, np.array([[0, 7, 1], [0, 0, 0]]), state)
    with pytest.raises(ValueError, match=r"\[-2, 0\]"):
        model.forward(params, cfg, np.array([[0, -2, 0], [0, 0, 0]]), state)
    with pytest.raises(TypeError, match="integers"):
        model.forward(params, cfg, ids.astype(float), state)
    with pytest.raises(ValueError, match=r"\(2, 4\).*\(3, 4\)"):
        model.forward(params, cfg, ids, model.init_state(cfg, 3))
    with pytest.raises(ValueError, match="2 per-layer"):
        model.forward(params, cfg, ids, state[:1])
    with pytest.raises(ValueError, match="2 array"):
        model.forward(params, cfg, ids, ((state[0][0],), state[1]))
    with pytest.raises(TypeError, match=r"float32.*float64"):
        model.forward(params, cfg, ids, model.init_state(cfg, 2, np.float64))
    with pytest.raises(ValueError, match=r"\(B,\).*\(2, 3\)"):
        model.step(params, cfg, ids, state)
    bad = dict(params, **{"l1.W_hh": np.zeros((4, 4), np.float32)})
    with pytest.raises(ValueError, match=r"l1\.W_hh has shape \(4, 4\), expected \(4, 16\)"):
        model.forward(bad, cfg, ids, state)
    with pytest.raises(ValueError, match=r"missing.*wte"):
        model.check_params({k: v for k, v in params.items() if k != "wte"}, cfg)
    logits, _, cache = model.forward(params, cfg, ids, state)
    with pytest.raises(ValueError, match=r"\(2, 3, 7\).*\(2, 3, 6\)"):
        model.backward(params, cfg, logits[..., :6], cache)
    with pytest.raises(TypeError, match="Generator"):
        model.init_params(cfg, 0)  # type: ignore[arg-type]


def test_float32_end_to_end_keeps_dtype() -> None:
    cfg = ModelConfig("gru", V, 8, layers=2, embed=0, dropout=0.2)
    params = model.init_params(cfg, np.random.default_rng(0))
    ids = np.random.default_rng(1).integers(-1, V, size=(4, 6))
    logits, final, cache = model.forward(params, cfg, ids, model.init_state(cfg, 4), rng=np.random.default_rng(2))
    assert logits.dtype == np.float32 and all(a.dtype == np.float32 for s in final for a in s)
    value, lcache = loss.cross_entropy_forward(logits, np.zeros((4, 6), int), np.ones((4, 6)))
    grads, d0 = model.backward_with_state(params, cfg, loss.cross_entropy_backward(1.0, lcache), cache)
    assert all(g.dtype == np.float32 for g in grads.values())
    assert all(a.dtype == np.float32 for s in d0 for a in s)


@pytest.mark.parametrize("n", [5, 1 << 21])  # numpy: small = one-hot matmul; huge n = sorting
def test_scatter_cols_all_paths(n: int, engine: str) -> None:
    rng = np.random.default_rng(21)
    idx = rng.integers(-1, 5, size=40)
    cols = rng.normal(size=(3, 40))
    got = backend.current().scatter_cols(idx, cols, n)
    want = np.zeros((3, n + 1))
    for k, v in enumerate(idx):
        want[:, v if v >= 0 else n] += cols[:, k]
    np.testing.assert_allclose(got, want, atol=1e-12)
    none = backend.current().scatter_cols(np.full(4, -1), cols[:, :4], n)  # every id -1: all in the last column
    np.testing.assert_array_equal(none[:, :n], 0.0)
    np.testing.assert_allclose(none[:, n], cols[:, :4].sum(axis=1), atol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_forward_check_false_matches_checked(cell: str) -> None:
    cfg = ModelConfig(cell, V, 6, layers=2, embed=3)
    params = rand_params(cfg, 22)
    rng = np.random.default_rng(23)
    ids = rng.integers(-1, V, size=(4, 5))
    state = rand_state(cfg, rng, 4)
    a, sa, _ = model.forward(params, cfg, ids, state)
    b, sb, _ = model.forward(params, cfg, ids, state, check=False)
    np.testing.assert_array_equal(a, b)
    for x, y in zip(sa, sb):
        for u, v in zip(x, y):
            np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("embed", [0, 4])
@pytest.mark.parametrize("cell", CELLS)
def test_loss_and_grads_matches_forward_loss_backward(cell: str, embed: int, threads: int, engine: str) -> None:
    """The fused output layer + loss gives the numbers of the separate steps (float64),
    also split over threads; the loss is then checked against finite differences."""
    cfg = ModelConfig(cell, V, 5, layers=2, embed=embed)
    params = rand_params(cfg, 31)
    rng = np.random.default_rng(32)
    Bx, Tx = 4, 6
    ids = rng.integers(-1, V, size=(Bx, Tx))
    targets = rng.integers(0, V, size=(Bx, Tx))
    mask = rng.random((Bx, Tx)) < 0.7
    targets[~mask] = -1  # padding targets are never read
    state = rand_state(cfg, rng, Bx)
    with backend.use(split_everything(threads)):
        value, grads, final = model.loss_and_grads(params, cfg, ids, targets, mask, state)
        logits, final_ref, cache = model.forward(params, cfg, ids, state)
        ref, lcache = loss.cross_entropy_forward(logits, targets, mask)
        ref_grads = model.backward(params, cfg, loss.cross_entropy_backward(1.0, lcache), cache)
    assert value == pytest.approx(ref, rel=1e-12)
    assert list(grads) == list(params)
    for k in params:
        np.testing.assert_allclose(grads[k], ref_grads[k], rtol=1e-10, atol=1e-12, err_msg=k)
    for fs, rs in zip(final, final_ref):
        for a, b in zip(fs, rs):
            np.testing.assert_array_equal(a, b)
    if threads == 1:
        assert_grads_close(lambda: model.loss_and_grads(params, cfg, ids, targets, mask, state)[0],
                           {k: params[k] for k in ("W_out", "b_out", "l1.W_hh", "l0.W_ih")}, grads)
