"""Bounded resources and honest results: memory estimated before training, a bounded
evaluation subset, and no silent nonsense (too-short texts, non-finite JSON)."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from conftest import make_names

from charsmith import _resources, _runlog
from charsmith._corpus import make_corpus
from charsmith.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from charsmith.cli import main
from charsmith.config import ModelConfig, TrainConfig
from charsmith.errors import ResourceError
from charsmith.trainer import Trainer


def one_line_error(capsys: pytest.CaptureFixture[str], *fragments: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert all(f in err for f in fragments), err
    return err


@pytest.fixture()
def names(tmp_path: Path) -> Path:
    path = tmp_path / "names.txt"
    path.write_text("\n".join(make_names(200)) + "\n")
    return path


@pytest.mark.parametrize("flags, fragments", [
    (["--hidden", "30000"], ["needs about", "GB", "hidden 30000", "16.0 GB of memory available", "lower --hidden"]),
    (["--layers", "1000000000"], ["needs about", "1000000000 layer(s)"]),
])
def test_a_model_too_big_for_memory_is_refused_before_allocating(names: Path, tmp_path: Path, capsys,
                                                                  monkeypatch, flags: list[str], fragments) -> None:
    monkeypatch.setattr(_resources, "available_memory", lambda: 16 * 10**9)
    tracemalloc.start()
    try:
        code = main(["train", str(names), "--out", str(tmp_path / "o"), "--steps", "1", *flags])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 2 and peak < 50 * 2**20
    one_line_error(capsys, *fragments)
    assert not (tmp_path / "o").exists()


def test_the_estimate_covers_what_training_allocates() -> None:
    """The estimate is at least the weights, gradients and Adam state, and within a small
    factor of a real model's needs (it refuses absurd models, not ordinary ones)."""
    cfg = ModelConfig("lstm", 65, hidden=256, layers=2, embed=64)
    need = _resources.training_bytes(cfg, TrainConfig(batch_size=32, seq_len=128), 128)
    params = 4 * (65 * 64 + 64 * 1024 + 256 * 1024 * 3 + 1024 * 2 + 256 * 65 + 65)
    assert 4 * params < need < 100 * 2**20
    with pytest.raises(ResourceError):
        _resources.check_training_memory(ModelConfig("gru", 27, hidden=10**6), TrainConfig(), 20)


def test_evaluation_uses_a_fixed_bounded_subset_stated_in_the_log(tmp_path: Path, capsys) -> None:
    data = tmp_path / "story.txt"
    data.write_text(" ".join(make_names(6000, seed=5)))  # ~60k characters, ~6k held out
    out = tmp_path / "run"
    args = ["train", str(data), "--mode", "text", "--out", str(out), "--hidden", "8", "--layers", "1",
            "--steps", "4", "--eval-every", "2", "--seq-len", "16", "--batch-size", "4"]
    assert main(args + ["--eval-chars", "1000"]) == 0
    err = capsys.readouterr().err
    assert "validation: every 2 steps on a fixed 992 of the " in err and "--eval-chars 0" in err
    rows = [r for r in _runlog.read(out) if r["kind"] == "eval"]
    assert [r["val_chars"] for r in rows] == [992, 992]
    held = load_checkpoint(out).info["val_chars"][1]
    assert held > 5000
    assert main(args + ["--eval-chars", "0", "--force"]) == 0
    assert "validation:" not in capsys.readouterr().err
    assert next(r["val_chars"] for r in _runlog.read(out) if r["kind"] == "eval") == held


def test_lines_mode_evaluates_a_prefix_of_the_held_out_items(tmp_path: Path) -> None:
    c = make_corpus("\n".join(make_names(2000)), mode="lines", lowercase=False, val_fraction=0.5,
                    rng=np.random.default_rng(0))
    t = Trainer(c, ModelConfig("rnn", c.vocab.size, 8), TrainConfig(eval_chars=500, val_fraction=0.5), tmp_path / "r")
    t.close()
    scored, held = t.val_chars
    assert 480 < scored <= 500 < held and t.val_chars[0] == sum(len(s) + 1 for s in t.held_out.items)


def test_eval_on_a_text_too_short_is_an_error(tmp_path: Path, capsys) -> None:
    data = tmp_path / "play.txt"
    data.write_text("to be or not to be " * 30)
    out = tmp_path / "bard"
    assert main(["train", str(data), "--mode", "text", "--out", str(out), "--hidden", "8", "--steps", "2",
                 "--quiet"]) == 0
    (tmp_path / "short.txt").write_text("t")
    assert main(["eval", str(out), str(tmp_path / "short.txt")]) == 2
    one_line_error(capsys, "1 character(s)", "at least 2")
    (tmp_path / "odd.txt").write_text("to be or not to be, 7")
    assert main(["eval", str(out), str(tmp_path / "odd.txt")]) == 0  # characters it never saw: scored apart
    assert "over 18 characters the model knows\n2 characters the model never saw left out" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow this test provokes
def test_json_output_is_strict_json(tmp_path: Path, trained: Path, capsys) -> None:
    """A model whose logits overflow scores NaN; --json writes null, never a bare NaN."""
    ckpt = load_checkpoint(trained)
    params = {k: v.copy() for k, v in ckpt.params.items()}
    params["W_out"][...] = 3e38
    save_checkpoint(tmp_path / "hot", Checkpoint(ckpt.model, ckpt.vocab, params, ckpt.train, ckpt.known, ckpt.info))
    assert main(["score", str(tmp_path / "hot"), "bakasaurus", "--json"]) == 0
    out = capsys.readouterr().out

    def no_constants(name: str) -> None:
        raise AssertionError(f"bare {name} in the JSON output")

    row = json.loads(out, parse_constant=no_constants)["scores"][0]
    assert row["logprob"] is None and row["nats_per_char"] is None
