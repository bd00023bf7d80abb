"""charsmith.classic.batched / gradcheck (notebook 002) and the `charsmith classic` CLI."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

from charsmith import _cli_classic  # noqa: E402
from charsmith.classic import batched, gradcheck  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def test_padded_dinosaur_batch_shape():
    if not DATA.is_dir():
        pytest.skip("shared data directory absent")
    names = [x.strip() for x in (DATA / "dinosaurs.csv").read_text().split("\n") if x.strip()]
    onehot, indices, ch2i = batched.encode_padded(names)
    assert onehot.shape == (1325, 23, 27) and ch2i[" "] == 0
    assert np.array_equal(onehot.argmax(-1), indices) and np.all(onehot.sum(-1) == 1)


def test_one_hot_gather_is_bitwise_the_matmul():
    rng = np.random.default_rng(0)
    x = np.eye(6, dtype=int)[rng.integers(0, 6, (4, 5))]
    Wxh = rng.normal(size=(6, 7))
    for t in range(5):
        assert np.array_equal(x[:, t] @ Wxh, Wxh[x[:, t].argmax(-1)])
    Whh, Who = rng.normal(size=(7, 7)), rng.normal(size=(7, 6))
    # the gather path (one-hot) and the product path (same numbers as floats 0/1 + 1e-300 noise) agree
    assert np.allclose(batched.forward(x, Wxh, Whh, Who), batched.forward(x + 1e-300, Wxh, Whh, Who))


def test_backprop_against_notebook_numerical_gradient():
    rng = np.random.default_rng(3)
    x = np.eye(5, dtype=int)[rng.integers(0, 5, (3, 4))]
    y = np.eye(5)[rng.integers(0, 5, 3)]
    Wxh, Whh, Who = rng.normal(0, 0.5, (5, 6)), rng.normal(0, 0.5, (6, 6)), rng.normal(0, 0.5, (6, 5))
    y_hat, *analytic = batched.backprop(x, y, Wxh, Whh, Who)
    assert np.allclose(y_hat.sum(-1), 1)
    assert batched.loss(x, y, Wxh, Whh, Who) == pytest.approx(3 * batched.cross_entropy(y, y_hat))
    for a, n in zip(analytic, gradcheck.numerical_gradient(x, y, Wxh, Whh, Who)):
        assert gradcheck.relative_error(a, n) < 1e-7


def test_run_gradcheck_all_small():
    errors = gradcheck.run_gradcheck(1)
    assert len(errors) == 13 and max(errors.values()) < 1e-7
    assert gradcheck.relative_error(np.ones(3), -np.ones(3)) == pytest.approx(1.0)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    _cli_classic.add_parser(p.add_subparsers(dest="command"))
    return p


def test_cli_dinos_prints_the_notebook_layout(tmp_path):
    if not DATA.is_dir():
        pytest.skip("shared data directory absent")
    out = io.StringIO()
    args = parser().parse_args(["classic", "dinos", str(DATA / "dinos.txt"), "--iterations", "1"])
    assert _cli_classic.run(args, out) == 0
    assert out.getvalue() == (
        "There are 19909 total characters and 27 unique characters in your data.\n"
        "Iteration: 0, Loss: 23.087336\n\n"
        "Nkzxwtdmfqoeyhsqwasjkjvu\nKneb\nKzxwtdmfqoeyhsqwasjkjvu\nNeb\nZxwtdmfqoeyhsqwasjkjvu\nEb\n"
        "Xwtdmfqoeyhsqwasjkjvu\n\n\n"
    )


def test_cli_gradcheck_and_minchar(tmp_path):
    out = io.StringIO()
    assert _cli_classic.run(parser().parse_args(["classic", "gradcheck"]), out) == 0
    assert "dinos dWax" in out.getvalue() and out.getvalue().rstrip().splitlines()[-1].startswith("ok:")
    text = tmp_path / "t.txt"
    text.write_text("to be or not to be, that is the question. " * 10)
    out = io.StringIO()
    args = parser().parse_args(["classic", "minchar", str(text), "--notebook", "--iterations", "101"])
    assert _cli_classic.run(args, out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == "data has 420 characters, 15 unique." and lines[1].startswith("iter 0, loss: ")
    assert lines[2].startswith("iter 100, loss: ") and len(lines) == 3


def test_cli_bad_input_raises_value_error(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        _cli_classic.run(parser().parse_args(["classic", "dinos", str(tmp_path / "nope.txt")]), io.StringIO())
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match="UTF-8"):
        _cli_classic.run(parser().parse_args(["classic", "minchar", str(tmp_path / "bin.txt")]), io.StringIO())
