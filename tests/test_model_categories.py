"""The category-conditioned model: gradients (category embedding included), step vs forward,
blends as weighted table rows, PyTorch parity (embedding + concat + recurrent layer)."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import assert_grads_close
from test_model import rand_params, rand_state

from charsmith import model
from charsmith.config import ModelConfig
from charsmith.nn import loss

CELLS = ("rnn", "lstm", "gru")
B, T, V, K = 4, 5, 7, 3  # B differs from test_model's: pass it to rand_state


def conditions(kind: str, rng: np.random.Generator) -> np.ndarray:
    """(B,) ids with a repeat (two rows share a block), or (B, K) blend weights."""
    if kind == "ids":
        return np.array([2, 0, 2, 1])
    w = rng.random((B, K))
    w[1] = w[3]  # a repeated blend row
    return w / w.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("kind", ["ids", "blend"])
@pytest.mark.parametrize("embed", [0, 4])
@pytest.mark.parametrize("cell", CELLS)
def test_gradients_with_categories(cell: str, embed: int, kind: str, engine: str) -> None:
    """Central differences in float64 through forward -> loss -> backward, the category
    embedding ``cat`` and its projection ``W_cat`` included, dropout on."""
    cfg = ModelConfig(cell, V, 5, layers=2, embed=embed, dropout=0.3, categories=K, cat_embed=2)
    params = rand_params(cfg, 1)
    rng = np.random.default_rng(2)
    ids = rng.integers(0, V, size=(B, T))
    ids[0, 0] = ids[2, 3] = -1
    targets = rng.integers(0, V, size=(B, T))
    mask = rng.random((B, T)) < 0.8
    state = rand_state(cfg, rng, B)
    cond = conditions(kind, rng)

    def f() -> float:
        logits, _, _ = model.forward(params, cfg, ids, state, cond=cond, rng=np.random.default_rng(5))
        return loss.cross_entropy_forward(logits, targets, mask)[0]

    logits, _, cache = model.forward(params, cfg, ids, state, cond=cond, rng=np.random.default_rng(5))
    _, lcache = loss.cross_entropy_forward(logits, targets, mask)
    grads = model.backward(params, cfg, loss.cross_entropy_backward(1.0, lcache), cache)
    assert list(grads) == list(params) and {"cat", "W_cat"} <= set(grads)
    assert_grads_close(f, params, grads)
    fused = model.loss_and_grads(params, cfg, ids, targets, mask, state, cond=cond, rng=np.random.default_rng(5))[1]
    for k in params:
        np.testing.assert_allclose(fused[k], grads[k], rtol=1e-10, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("embed", [0, 4])
@pytest.mark.parametrize("cell", CELLS)
def test_condition_is_an_extra_input_fed_at_every_step(cell: str, embed: int) -> None:
    """The folded table gives exactly the model without categories whose layer-0 input is
    concat(x, e) with weights concat(W_ih, W_cat), with e fed at every step (-1 included)."""
    cfg = ModelConfig(cell, V, 6, layers=2, embed=embed, categories=K, cat_embed=3)
    params = rand_params(cfg, 3)
    rng = np.random.default_rng(4)
    ids = rng.integers(0, V, size=(B, T))
    ids[1, 2] = -1
    cond = conditions("blend", rng)
    state = rand_state(cfg, rng, B)
    logits, final, _ = model.forward(params, cfg, ids, state, cond=cond)

    from charsmith.nn import layer

    x = params["wte"][ids] if embed else np.eye(V)[ids]  # (B, T, D)
    x[ids < 0] = 0.0
    e = np.repeat((cond @ params["cat"])[:, None], T, axis=1)  # (B, T, C)
    h = np.concatenate([x, e], axis=2)
    for i in range(cfg.layers):
        p = {k.split(".", 1)[1]: v for k, v in params.items() if k.startswith(f"l{i}.")}
        if i == 0:
            p["W_ih"] = np.concatenate([p["W_ih"], params["W_cat"]])
        h, _, _ = layer.forward(cell, p, h, state[i])
    np.testing.assert_allclose(logits, h @ params["W_out"] + params["b_out"], rtol=1e-12, atol=1e-12)

    st = state
    for t in range(T):  # step with the same condition gives the same numbers
        lt, st = model.step(params, cfg, ids[:, t], st, cond=cond)
        np.testing.assert_allclose(lt, logits[:, t], rtol=1e-12, atol=1e-12)
    for a, b in zip(st, final):
        for u, v in zip(a, b):
            np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12)


def test_ids_equal_one_hot_weights_and_blends_mix_table_rows() -> None:
    cfg = ModelConfig("gru", V, 6, layers=1, embed=3, categories=K, cat_embed=2)
    params = rand_params(cfg, 6)
    rng = np.random.default_rng(7)
    ids = rng.integers(0, V, size=(3, T))
    state = model.init_state(cfg, 3, np.float64)
    cats = np.array([0, 2, 1])
    a = model.forward(params, cfg, ids, state, cond=cats)[0]
    b = model.forward(params, cfg, ids, state, cond=np.eye(K)[cats])[0]
    np.testing.assert_array_equal(a, b)
    # a 0.3/0.7 blend's layer-0 input is 0.3 * (category 0's) + 0.7 * (category 2's)
    p0 = {"W_ih": params["l0.W_ih"], "b": params["l0.b"]}
    w = np.array([[0.3, 0.0, 0.7]])
    one = np.zeros(1, dtype=np.int64)  # the row's distinct condition
    blend, _, _ = model._input_table(params, cfg, p0, ids[:1], (w, one))
    pure0, _, _ = model._input_table(params, cfg, p0, ids[:1], (np.eye(K)[[0]], one))
    pure2, _, _ = model._input_table(params, cfg, p0, ids[:1], (np.eye(K)[[2]], one))
    np.testing.assert_allclose(blend, 0.3 * pure0 + 0.7 * pure2, atol=1e-12)


def test_condition_errors() -> None:
    cfg = ModelConfig("gru", V, 4, categories=K, cat_embed=2)
    params = model.init_params(cfg, np.random.default_rng(0))
    ids = np.zeros((2, 3), dtype=np.int64)
    state = model.init_state(cfg, 2)
    with pytest.raises(ValueError, match="conditioned on 3 categories"):
        model.forward(params, cfg, ids, state)
    with pytest.raises(ValueError, match=r"\(2,\) array in \[0, 3\)"):
        model.forward(params, cfg, ids, state, cond=np.array([0, 3]))
    with pytest.raises(ValueError, match=r"finite \(2, 3\)"):
        model.step(params, cfg, ids[:, 0], state, cond=np.full((2, 3), np.nan))
    plain = ModelConfig("gru", V, 4)
    with pytest.raises(ValueError, match="no categories"):
        model.forward(model.init_params(plain, np.random.default_rng(0)), plain, ids, state, cond=np.array([0, 1]))
    with pytest.raises(ValueError, match="exactly when categories > 0"):
        ModelConfig("gru", V, 4, categories=3)


@pytest.mark.parametrize("embed", [0, 4])
@pytest.mark.parametrize("cell", CELLS)
def test_categories_match_torch(cell: str, embed: int, engine: str) -> None:
    """nn.Embedding for characters and categories, concatenated, through a 2-layer torch RNN
    and a Linear head: same logits, loss and every gradient (float64)."""
    torch = pytest.importorskip("torch")
    from test_torch_parity import check_layer_grads, close, load_torch_rnn, torch_embedding, torch_head_and_input

    H, L = 5, 2
    F = torch.nn.functional
    cfg = ModelConfig(cell, V, H, layers=L, embed=embed, categories=K, cat_embed=2)
    rng = np.random.default_rng(8)
    params = rand_params(cfg, 9)
    ids = rng.integers(0, V, size=(B, T))
    cats = np.array([1, 0, 2, 1])
    targets = rng.integers(0, V, size=(B, T))
    mask = rng.random((B, T)) < 0.7
    mask[0, 0] = True
    logits, _, cache = model.forward(params, cfg, ids, model.init_state(cfg, B, np.float64), cond=cats)
    value, lcache = loss.cross_entropy_forward(logits, targets, mask)
    grads = model.backward(params, cfg, loss.cross_entropy_backward(1.0, lcache), cache)

    layer_params = [{k.split(".", 1)[1]: v for k, v in params.items() if k.startswith(f"l{i}.")} for i in range(L)]
    layer_params[0] = dict(layer_params[0], W_ih=np.concatenate([layer_params[0]["W_ih"], params["W_cat"]]))
    net = load_torch_rnn(cell, layer_params, (embed or V) + 2)
    head, emb, x = torch_head_and_input(params, ids)
    cat_emb = torch_embedding(params["cat"])
    e = cat_emb(torch.from_numpy(cats))[:, None, :].expand(B, T, 2)
    logits_t = head(net(torch.cat([x, e], dim=2))[0])
    tgt = torch.from_numpy(np.where(mask, targets, -100))
    loss_t = F.cross_entropy(logits_t.reshape(-1, V), tgt.reshape(-1), ignore_index=-100)
    loss_t.backward()

    close(logits, logits_t)
    assert value == pytest.approx(loss_t.item(), abs=1e-12)
    close(grads["cat"], cat_emb.weight.grad)
    if embed:
        close(grads["wte"], emb.weight.grad)
    g0 = {k.split(".", 1)[1]: v for k, v in grads.items() if k.startswith("l0.")}
    g0["W_ih"] = np.concatenate([g0["W_ih"], grads["W_cat"]])
    check_layer_grads(cell, net, 0, g0)
    check_layer_grads(cell, net, 1, {k.split(".", 1)[1]: v for k, v in grads.items() if k.startswith("l1.")})
    close(grads["W_out"], head.weight.grad.T)
