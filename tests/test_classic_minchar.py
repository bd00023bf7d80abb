"""charsmith.classic.minchar: notebook 004's printed numbers and a transcription of lossFun."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

from charsmith.classic import minchar  # noqa: E402

INPUTS = [15, 59, 27, 40, 48, 50, 15, 35, 27, 57, 48, 15, 27, 57, 15, 35, 32, 6, 15, 33, 24, 16, 48, 50, 60]
TARGETS = [59, 27, 40, 48, 50, 15, 35, 27, 57, 48, 15, 27, 57, 15, 35, 32, 6, 15, 33, 24, 16, 48, 50, 60, 44]


def notebook_params():
    return minchar.init_params(10, 67, seed=1337)  # np.random.seed(1337); hidden 10; 67 characters


def test_walkthrough_numbers():
    p = notebook_params()
    h0 = np.zeros((10, 1))
    loss, *_, h = minchar.loss_fun([15], [59], h0, p)
    assert np.array_equal(np.round(h.ravel(), 8), [-0.01691059, 0.01554663, 0.00144864, -0.00465686, 0.01337068,
                                                   -0.00197203, -0.01462834, 0.0021453, 0.00716481, -0.00585728])
    assert float(np.exp(-loss)) == pytest.approx(0.01492726675670666, rel=1e-13)
    assert float(loss) == pytest.approx(4.20456575473928, rel=1e-13)


def test_lossfun_printed_value():
    loss, *_ = minchar.loss_fun(INPUTS, TARGETS, np.zeros((10, 1)), notebook_params())
    assert float(loss) == pytest.approx(105.11784328521104, rel=1e-14)


def lossfun_transcription(inputs, targets, hprev, Wxh, Whh, Why, bh, by):
    """The notebook's lossFun, verbatim but for the parameters passed in."""
    vocab_size = Wxh.shape[1]
    xs, hs, ys, ps = {}, {}, {}, {}
    hs[-1] = np.copy(hprev)
    loss = 0
    for t in range(len(inputs)):
        xs[t] = np.zeros((vocab_size, 1))
        xs[t][inputs[t]] = 1
        hs[t] = np.tanh(np.dot(Wxh, xs[t]) + np.dot(Whh, hs[t - 1]) + bh)
        ys[t] = np.dot(Why, hs[t]) + by
        ps[t] = np.exp(ys[t]) / np.sum(np.exp(ys[t]))
        loss += -np.log(ps[t][targets[t], 0])
    dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
    dbh, dby = np.zeros_like(bh), np.zeros_like(by)
    dhnext = np.zeros_like(hs[0])
    for t in reversed(range(len(inputs))):
        dy = np.copy(ps[t])
        dy[targets[t]] -= 1
        dWhy += np.dot(dy, hs[t].T)
        dby += dy
        dh = np.dot(Why.T, dy) + dhnext
        dhraw = (1 - hs[t] * hs[t]) * dh
        dbh += dhraw
        dWxh += np.dot(dhraw, xs[t].T)
        dWhh += np.dot(dhraw, hs[t - 1].T)
        dhnext = np.dot(Whh.T, dhraw)
    for dparam in [dWxh, dWhh, dWhy, dbh, dby]:
        np.clip(dparam, -5, 5, out=dparam)
    return loss, dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]


@pytest.mark.parametrize("scale", [0.01, 0.5, 3.0])  # 3.0: gradients get clipped
def test_loss_fun_bitwise_equal_to_transcription(scale):
    rng = np.random.default_rng(int(scale * 100))
    H, V = 12, 30
    p = {"Wxh": rng.normal(0, scale, (H, V)), "Whh": rng.normal(0, scale, (H, H)), "Why": rng.normal(0, scale, (V, H)),
         "bh": rng.normal(0, scale, (H, 1)), "by": rng.normal(0, scale, (V, 1))}
    inputs = [int(i) for i in rng.integers(0, V, 25)]
    targets = inputs[1:] + [3]
    h0 = rng.normal(0, 0.5, (H, 1))
    mine = minchar.loss_fun(inputs, targets, h0, p)
    theirs = lossfun_transcription(inputs, targets, h0, *(p[k] for k in minchar.PARAM_NAMES))
    assert mine[0] == theirs[0]
    for a, b in zip(mine[1:], theirs[1:]):
        assert a.shape == b.shape and np.array_equal(a, b)
    if scale == 3.0:
        assert max(np.abs(g).max() for g in mine[1:6]) == 5.0


def test_sample_uses_given_params_and_global_rng():
    p = notebook_params()
    np.random.seed(5)
    a = minchar.sample(np.zeros((10, 1)), 15, 40, p)
    np.random.seed(5)
    b = minchar.sample(np.zeros((10, 1)), 15, 40, p)
    assert a == b and len(a) == 40 and all(0 <= i < 67 for i in a)


def train_transcription(data, hidden, seq_length, lr, iterations, adagrad):
    chars = sorted(set(data))
    c2i = {ch: i for i, ch in enumerate(chars)}
    V = len(chars)
    np.random.seed(1337)
    Wxh, Whh, Why = (np.random.randn(*s) * 0.01 for s in ((hidden, V), (hidden, hidden), (V, hidden)))
    bh, by = np.zeros((hidden, 1)), np.zeros((V, 1))
    mems = [np.zeros_like(x) for x in (Wxh, Whh, Why, bh, by)]
    n, p, losses = 0, 0, []
    while n < iterations:
        if p + seq_length + 1 >= len(data) or n == 0:
            hprev = np.zeros((hidden, 1))
            p = 0
        inputs = [c2i[ch] for ch in data[p : p + seq_length]]
        targets = [c2i[ch] for ch in data[p + 1 : p + seq_length + 1]]
        loss, dWxh, dWhh, dWhy, dbh, dby, hprev = lossfun_transcription(inputs, targets, hprev, Wxh, Whh, Why, bh, by)
        losses.append(loss)
        for param, dparam, mem in zip([Wxh, Whh, Why, bh, by], [dWxh, dWhh, dWhy, dbh, dby], mems):
            if adagrad:
                mem += dparam * dparam
                param += -lr * dparam / np.sqrt(mem + 1e-8)
            else:
                param += -lr * dparam
        p += seq_length
        n += 1
    return losses, Wxh


@pytest.mark.parametrize("optimizer,lr", [("adagrad", 0.1), ("sgd", 1e-3)])
def test_train_matches_transcription_of_the_loop(optimizer, lr):
    """60 windows over a 600-character text: wraps around the data twice (state reset)."""
    data = ("the quick brown fox jumps over the lazy dog. " * 20)[:600]
    theirs, Wxh = train_transcription(data, 16, 25, lr, 60, optimizer == "adagrad")
    result = minchar.train(data, hidden_size=16, learning_rate=lr, optimizer=optimizer, num_iterations=60)
    assert result["losses"] == [float(x) for x in theirs]
    assert np.array_equal(result["params"]["Wxh"], Wxh)


def test_train_logs_notebook_lines():
    lines: list[str] = []
    data = "hello world, hello there. " * 30
    minchar.train(data, hidden_size=8, num_iterations=201, log=lines.append, sample_every=100, sample_length=20)
    iters = [s for s in lines if s.startswith("iter ")]
    assert [s.split(",")[0] for s in iters] == ["iter 0", "iter 100", "iter 200"]
    samples = [s for s in lines if s.startswith("----\n")]
    assert len(samples) == 3 and all(s.endswith(" \n----") for s in samples)


def test_train_rejects_bad_input():
    with pytest.raises(ValueError):
        minchar.train("short", num_iterations=1)
    with pytest.raises(ValueError):
        minchar.train("x" * 100, optimizer="adam", num_iterations=1)
    with pytest.raises(ValueError, match="missing from chars"):
        minchar.train("abcabc" * 20, chars="ab", num_iterations=1)
