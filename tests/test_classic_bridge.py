"""charsmith.classic.bridge: the modern engine trained the classic way follows classic.model's
loss trajectory, and an exported checkpoint computes the same probabilities as the notebook."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

from charsmith import _cli_classic  # noqa: E402
from charsmith.checkpoint import load_checkpoint  # noqa: E402
from charsmith.classic import bridge, dinos  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="module")
def dinos_text() -> str:
    if not DATA.is_dir():
        pytest.skip("shared data directory absent")
    return (DATA / "dinos.txt").read_text()


def test_modern_engine_follows_classic_model_for_2000_iterations(dinos_text):
    """charsmith.model.forward/backward + nn.loss (sum), zero first input, SGD 0.01 per name,
    clip 5 elementwise, state carried, same init: every loss within 1e-9 of classic.model."""
    c2i, i2c = dinos.char_maps(dinos_text)
    classic: list[float] = []
    dinos.model(dinos_text, i2c, c2i, num_iterations=2000, losses=classic)
    modern = bridge.modern_classic_losses(dinos_text, 2000)
    assert len(modern) == len(classic) == 2000
    np.testing.assert_allclose(modern, classic, rtol=0, atol=1e-9)
    assert classic[-1] < classic[0]  # it trained: not a constant being compared


def test_layout_round_trip():
    p = dinos.initialize_parameters(6, 5, 5)
    p["b"] += 0.5
    m = bridge.to_modern(p)
    assert m["l0.W_ih"].shape == (5, 6) and m["l0.b"].shape == (6,) and m["W_out"].shape == (6, 5)
    back = bridge.from_modern(m)
    assert all(np.array_equal(back[k], p[k]) for k in p)


def classic_probs(params, name, c2i):
    X = [None] + [c2i[ch] for ch in name]
    Y = X[1:] + [c2i["\n"]]
    loss, cache = dinos.rnn_forward(X, Y, np.zeros((params["Waa"].shape[0], 1)), params)
    return loss, cache[0][:, :, 0]


def modern_probs(ckpt, name):
    from charsmith import model as engine

    ids = np.concatenate([[-1], ckpt.vocab.encode(name)])[None, :]
    logits, _, _ = engine.forward(ckpt.params, ckpt.model, ids, engine.init_state(ckpt.model, 1, np.float64))
    z = logits[0] - logits[0].max(axis=1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)


def trained_params(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_a = 8
    return {"Wax": rng.normal(0, 0.5, (n_a, 27)), "Waa": rng.normal(0, 0.5, (n_a, n_a)),
            "Wya": rng.normal(0, 0.5, (27, n_a)), "b": rng.normal(0, 0.5, (n_a, 1)), "by": rng.normal(0, 0.5, (27, 1))}


@pytest.mark.parametrize("how", ["chars-array", "chars-string", "default", "data"])
def test_export_checkpoint_computes_the_notebook_probabilities(tmp_path, how, dinos_text):
    params = trained_params()
    chars = "\nabcdefghijklmnopqrstuvwxyz"
    c2i = {ch: i for i, ch in enumerate(chars)}
    extra = {"chars-array": {"chars": np.array(list(chars))}, "chars-string": {"chars": np.array(chars)}}.get(how, {})
    np.savez(tmp_path / "p.npz", **params, **extra)
    data = None
    if how == "data":
        data = tmp_path / "names.txt"
        data.write_text(dinos_text)
    out = bridge.export_checkpoint(tmp_path / "p.npz", tmp_path / "ckpt", data_path=data)
    ckpt = load_checkpoint(out)
    assert ckpt.vocab.chars == chars and ckpt.model.cell == "rnn" and ckpt.model.embed == 0
    assert (ckpt.known is not None) == (how == "data")
    for name in ("tyrannosaurus", "ab", ""):
        _, p_classic = classic_probs(params, name, c2i)
        np.testing.assert_allclose(modern_probs(ckpt, name), p_classic, rtol=1e-12, atol=1e-15)


def test_export_permutes_a_differently_ordered_vocabulary(tmp_path):
    params = trained_params(1)
    chars = "zyxwvutsrqponmlkjihgfedcba\n"  # newline last: rows/columns must be permuted
    c2i = {ch: i for i, ch in enumerate(chars)}
    np.savez(tmp_path / "p.npz", **params, chars=np.array(list(chars)))
    ckpt = load_checkpoint(bridge.export_checkpoint(tmp_path / "p.npz", tmp_path / "ckpt"))
    assert ckpt.vocab.chars == "\nabcdefghijklmnopqrstuvwxyz"
    _, p_classic = classic_probs(params, "velociraptor", c2i)
    perm = [c2i[ch] for ch in ckpt.vocab.chars]
    np.testing.assert_allclose(modern_probs(ckpt, "velociraptor"), p_classic[:, perm], rtol=1e-12, atol=1e-15)


def test_export_errors(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        bridge.export_checkpoint(tmp_path / "missing.npz", tmp_path / "out")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable"):
        bridge.export_checkpoint(tmp_path / "bad.npz", tmp_path / "out")
    p = trained_params()
    del p["Waa"]
    np.savez(tmp_path / "part.npz", **p)
    with pytest.raises(ValueError, match="lacks Waa"):
        bridge.export_checkpoint(tmp_path / "part.npz", tmp_path / "out")
    np.savez(tmp_path / "short.npz", **trained_params(), chars=np.array(list("\nabc")))
    with pytest.raises(ValueError, match="expected"):
        bridge.export_checkpoint(tmp_path / "short.npz", tmp_path / "out")


def test_cli_train_save_export_then_sample(tmp_path, dinos_text):
    """`classic dinos --save`, `classic export`, then the main CLI's `sample` on the result."""
    names = tmp_path / "dinos.txt"
    names.write_text(dinos_text)
    parser = argparse.ArgumentParser()
    _cli_classic.add_parser(parser.add_subparsers(dest="command"))
    out = io.StringIO()
    args = parser.parse_args(["classic", "dinos", str(names), "--iterations", "300", "--save", str(tmp_path / "p.npz")])
    assert _cli_classic.run(args, out) == 0
    args = parser.parse_args(["classic", "export", str(tmp_path / "p.npz"), "--out", str(tmp_path / "ckpt")])
    assert _cli_classic.run(args, out) == 0
    assert "charsmith sample" in out.getvalue()
    try:
        from charsmith.cli import main
    except ImportError:
        pytest.skip("charsmith.cli not available")
    sample_out = io.StringIO()
    assert main(["sample", str(tmp_path / "ckpt")], out=sample_out, err=io.StringIO()) == 0
    assert sample_out.getvalue().strip()
