"""Parity with PyTorch's nn.RNN / nn.LSTM / nn.GRU and a small torch reference model (float64)."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import rel_error  # noqa: F401  (also puts src on sys.path)

from charsmith import model
from charsmith.config import ModelConfig
from charsmith.nn import layer, loss

torch = pytest.importorskip("torch")
F = torch.nn.functional

CELLS = ("rnn", "lstm", "gru")
B, T, D, H, L = 3, 6, 4, 5, 2
TORCH_RNN = {"rnn": lambda d, h, n: torch.nn.RNN(d, h, n, nonlinearity="tanh", batch_first=True),
             "lstm": lambda d, h, n: torch.nn.LSTM(d, h, n, batch_first=True),
             "gru": lambda d, h, n: torch.nn.GRU(d, h, n, batch_first=True)}


def close(ours: np.ndarray, theirs: object, atol: float = 1e-10) -> None:
    t = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    np.testing.assert_allclose(ours, t, rtol=0, atol=atol)


def load_torch_rnn(cell: str, layer_params: list[dict[str, np.ndarray]], d_in: int) -> object:
    """A float64 torch RNN holding our weights: W.T layout, our b in bias_ih, zeros (or b_hn) in bias_hh."""
    net = TORCH_RNN[cell](d_in, H, len(layer_params)).double()
    with torch.no_grad():
        for i, p in enumerate(layer_params):
            getattr(net, f"weight_ih_l{i}").copy_(torch.from_numpy(p["W_ih"].T))
            getattr(net, f"weight_hh_l{i}").copy_(torch.from_numpy(p["W_hh"].T))
            getattr(net, f"bias_ih_l{i}").copy_(torch.from_numpy(p["b"]))
            b_hh = np.zeros_like(p["b"])
            if cell == "gru":
                b_hh[2 * H :] = p["b_hn"]
            getattr(net, f"bias_hh_l{i}").copy_(torch.from_numpy(b_hh))
    return net


def check_layer_grads(cell: str, net: object, i: int, g: dict[str, np.ndarray]) -> None:
    close(g["W_ih"], getattr(net, f"weight_ih_l{i}").grad.T)
    close(g["W_hh"], getattr(net, f"weight_hh_l{i}").grad.T)
    close(g["b"], getattr(net, f"bias_ih_l{i}").grad)
    gb_hh = getattr(net, f"bias_hh_l{i}").grad.numpy()
    if cell == "gru":
        close(g["b"][: 2 * H], gb_hh[: 2 * H])
        close(g["b_hn"], gb_hh[2 * H :])
    else:
        close(g["b"], gb_hh)


@pytest.mark.parametrize("cell", CELLS)
def test_two_layers_match_torch(cell: str, engine: str) -> None:
    rng = np.random.default_rng(0)
    ps = [{k: rng.normal(0.0, 0.5, size=s) for k, s in layer.param_shapes(cell, D if i == 0 else H, H).items()}
          for i in range(L)]
    n_state = 2 if cell == "lstm" else 1
    x = rng.normal(size=(B, T, D))
    state = [tuple(rng.normal(size=(B, H)) for _ in range(n_state)) for _ in range(L)]
    G_out = rng.normal(size=(B, T, H))
    G_state = [tuple(rng.normal(size=(B, H)) for _ in range(n_state)) for _ in range(L)]

    # ours
    out0, fin0, c0 = layer.forward(cell, ps[0], x, state[0])
    out1, fin1, c1 = layer.forward(cell, ps[1], out0, state[1])
    d_out0, ds1, g1 = layer.backward(cell, ps[1], G_out, G_state[1], c1)
    dx, ds0, g0 = layer.backward(cell, ps[0], d_out0, G_state[0], c0)

    # torch: state (L, B, H) per component
    net = load_torch_rnn(cell, ps, D)
    xt = torch.tensor(x, requires_grad=True)
    st = [torch.tensor(np.stack([state[i][k] for i in range(L)]), requires_grad=True) for k in range(n_state)]
    out_t, fin_t = net(xt, (st[0], st[1]) if cell == "lstm" else st[0])
    fin_t = fin_t if cell == "lstm" else (fin_t,)
    obj = (out_t * torch.from_numpy(G_out)).sum()
    for k in range(n_state):
        obj = obj + (fin_t[k] * torch.from_numpy(np.stack([G_state[i][k] for i in range(L)]))).sum()
    obj.backward()

    close(out1, out_t)
    for k in range(n_state):
        close(fin0[k], fin_t[k][0])
        close(fin1[k], fin_t[k][1])
        close(ds0[k], st[k].grad[0])
        close(ds1[k], st[k].grad[1])
    close(dx, xt.grad)
    check_layer_grads(cell, net, 0, g0)
    check_layer_grads(cell, net, 1, g1)


def torch_embedding(weight: np.ndarray) -> object:
    """A float64 nn.Embedding holding ``weight`` (n, E)."""
    emb = torch.nn.Embedding(*weight.shape).double()
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(weight))
    return emb


def torch_head_and_input(params: dict[str, np.ndarray], ids: np.ndarray) -> tuple[object, object, object]:
    """Our output layer as a float64 nn.Linear, the character embedding (None for one-hot
    input) and layer 0's character input for ``ids`` (B, T) as torch sees it."""
    H, V = params["W_out"].shape
    head = torch.nn.Linear(H, V).double()
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(params["W_out"].T))
        head.bias.copy_(torch.from_numpy(params["b_out"]))
    ids_t = torch.from_numpy(ids)
    if "wte" in params:
        emb = torch_embedding(params["wte"])
        return head, emb, emb(ids_t)
    return head, None, F.one_hot(ids_t, V).double()


@pytest.mark.parametrize("embed", [0, 4])
@pytest.mark.parametrize("cell", CELLS)
def test_model_and_loss_match_torch(cell: str, embed: int, engine: str) -> None:
    V = 7
    cfg = ModelConfig(cell, V, H, layers=L, embed=embed)
    rng = np.random.default_rng(1)
    params = {k: rng.normal(0.0, 0.5, size=s) for k, s in model.param_shapes(cfg).items()}
    ids = rng.integers(0, V, size=(B, T))
    targets = rng.integers(0, V, size=(B, T))
    mask = rng.random((B, T)) < 0.7
    mask[0, 0] = True
    state = model.init_state(cfg, B, np.float64)

    logits, _, cache = model.forward(params, cfg, ids, state)
    value, lcache = loss.cross_entropy_forward(logits, targets, mask)
    grads = model.backward(params, cfg, loss.cross_entropy_backward(1.0, lcache), cache)

    layer_params = [{k.split(".", 1)[1]: v for k, v in params.items() if k.startswith(f"l{i}.")} for i in range(L)]
    net = load_torch_rnn(cell, layer_params, embed or V)
    head, emb, x = torch_head_and_input(params, ids)
    logits_t = head(net(x)[0])
    tgt = torch.from_numpy(np.where(mask, targets, -100))
    loss_t = F.cross_entropy(logits_t.reshape(-1, V), tgt.reshape(-1), ignore_index=-100)
    loss_t.backward()

    close(logits, logits_t)
    assert value == pytest.approx(loss_t.item(), abs=1e-12)
    close(grads["W_out"], head.weight.grad.T)
    close(grads["b_out"], head.bias.grad)
    if embed:
        close(grads["wte"], emb.weight.grad)
    for i in range(L):
        check_layer_grads(cell, net, i, {k.split(".", 1)[1]: v for k, v in grads.items() if k.startswith(f"l{i}.")})
