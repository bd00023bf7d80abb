"""The training loop: learning, checkpoints, resume, interruption, NaN handling."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import make_names

from charsmith import _runlog, optim
from charsmith import model as M
from charsmith._batching import encode_items, pad_batch
from charsmith._corpus import make_corpus
from charsmith.checkpoint import load_checkpoint
from charsmith.config import ModelConfig, TrainConfig
from charsmith.errors import CheckpointError
from charsmith.nn.loss import cross_entropy_backward, cross_entropy_forward
from charsmith.trainer import Progress, Trainer
from charsmith.vocab import Vocab


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_overfits_one_small_batch(cell: str) -> None:
    items = ["tyrannosaurus", "stegosaurus", "raptor", "diplodocus"]
    vocab = Vocab.from_texts(items)
    batch = pad_batch(encode_items(vocab, items))
    cfg = ModelConfig(cell, vocab.size, hidden=32, embed=8)
    params = M.init_params(cfg, np.random.default_rng(0))
    state = optim.init_state("adam", params)
    for t in range(1, 301):
        logits, _, cache = M.forward(params, cfg, batch.ids, M.init_state(cfg, 4))
        loss, lcache = cross_entropy_forward(logits, batch.targets, batch.mask)
        grads = M.backward(params, cfg, cross_entropy_backward(1.0, lcache), cache)
        optim.update("adam", params, grads, state, lr=2e-2, t=t)
        if t == 1:
            first = loss
    assert first == pytest.approx(math.log(vocab.size), abs=0.15)
    floor = len(items) * math.log(len(items)) / batch.n_chars  # only first letters are guesses
    assert loss < floor + 0.02


def corpus(n: int = 400, mode: str = "lines"):
    text = "\n".join(make_names(n, seed=2))
    return make_corpus(text, mode=mode, lowercase=False, val_fraction=0.1, rng=np.random.default_rng(0))


def test_training_improves_and_writes_a_checkpoint(tmp_path: Path) -> None:
    c = corpus()
    reports: list[Progress] = []
    done = Trainer(c, ModelConfig("gru", c.vocab.size, 32, embed=8), TrainConfig(steps=120, eval_every=40, batch_size=32),
                   tmp_path / "run").run(reports.append)
    assert done.reason == "steps" and done.step == 120
    evals = [r for r in reports if r.kind == "eval"]
    assert len(evals) == 3 and evals[-1].val_loss < evals[0].val_loss < math.log(c.vocab.size)
    assert all(len(r.samples) == 5 for r in evals)
    assert sum(r.kind == "step" for r in reports) == 120
    records = _runlog.read(tmp_path / "run")
    assert [r["step"] for r in records if r["kind"] == "eval"] == [40, 80, 120]
    train = [r for r in records if r["kind"] == "train"]  # every 2% of the steps
    assert len(train) == _runlog.TRAIN_RECORDS and sum(r["steps"] for r in train) == 120
    ckpt = load_checkpoint(tmp_path / "run")
    assert ckpt.info["best_val_loss"] == pytest.approx(min(r.val_loss for r in evals))
    assert ckpt.known is not None and ckpt.known.size == len(set(c.train) | set(c.val))  # held-out items too


def test_text_mode_trains_with_carried_state(tmp_path: Path) -> None:
    c = corpus(300, mode="text")
    done = Trainer(c, ModelConfig("lstm", c.vocab.size, 32, layers=2, embed=8, dropout=0.1),
                   TrainConfig(mode="text", steps=150, eval_every=50, batch_size=8, seq_len=32, warmup_steps=10, lr=1e-2), tmp_path / "t").run()
    assert done.best_val < math.log(c.vocab.size) - 0.5
    assert load_checkpoint(tmp_path / "t").known is None


def test_interrupt_then_resume_continues_the_run(tmp_path: Path) -> None:
    c = corpus()
    mcfg, tcfg = ModelConfig("rnn", c.vocab.size, 32), TrainConfig(steps=90, eval_every=30, batch_size=32)
    trainer = Trainer(c, mcfg, tcfg, tmp_path / "r")

    def stop_at_50(p: Progress) -> None:
        if p.kind == "step" and p.step == 50:
            trainer.request_stop()

    first = trainer.run(stop_at_50)
    assert first.reason == "interrupted" and first.step == 50
    with pytest.raises(CheckpointError, match="pass `resume`"):
        Trainer(c, mcfg, tcfg, tmp_path / "r")
    resumed = Trainer(c, mcfg, tcfg, tmp_path / "r", resume=True)
    assert resumed.step == 50
    np.testing.assert_array_equal(resumed.params["W_out"], trainer.params["W_out"])
    done = resumed.run()
    assert done.reason == "steps" and done.step == 90
    with pytest.raises(CheckpointError, match=r"used cell 'rnn', not 'gru'"):
        Trainer(c, ModelConfig("gru", c.vocab.size, 32), tcfg, tmp_path / "r", resume=True)
    with pytest.raises(CheckpointError, match="training data differs"):
        Trainer(corpus(300), mcfg, tcfg, tmp_path / "r", resume=True)


def test_nan_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    c = corpus()
    trainer = Trainer(c, ModelConfig("gru", c.vocab.size, 16), TrainConfig(steps=100, eval_every=20), tmp_path / "n")

    def poison(p: Progress) -> None:
        if p.kind == "step" and p.step == 30:
            trainer.params["W_out"][0, 0] = np.nan

    done = trainer.run(poison)
    assert done.reason == "nan" and done.step == 30
    ckpt = load_checkpoint(tmp_path / "n")
    assert ckpt.info["step"] == 20 and all(np.isfinite(p).all() for p in ckpt.params.values())


def test_output_directory_protection(tmp_path: Path) -> None:
    c = corpus(50)
    mcfg, tcfg = ModelConfig("rnn", c.vocab.size, 8), TrainConfig(steps=2, eval_every=1)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "thesis.tex").write_text("precious")
    with pytest.raises(CheckpointError, match="holds other files"):
        Trainer(c, mcfg, tcfg, tmp_path / "other")
    assert (tmp_path / "other" / "thesis.tex").read_text() == "precious"
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="is a file"):
        Trainer(c, mcfg, tcfg, tmp_path / "file")
    with pytest.raises(CheckpointError, match="nothing to resume"):
        Trainer(c, mcfg, tcfg, tmp_path / "new", resume=True)
    Trainer(c, mcfg, tcfg, tmp_path / "ok").run()
    Trainer(c, mcfg, tcfg, tmp_path / "ok", force=True).run()


def test_early_stopping(tmp_path: Path) -> None:
    c = corpus(60)
    done = Trainer(c, ModelConfig("gru", c.vocab.size, 64), TrainConfig(lr=0.05, warmup_steps=0, decay="none",
                   eval_every=10, patience=2, steps=5000, batch_size=8), tmp_path / "e").run()
    assert done.reason == "early-stop" and done.step < 5000
