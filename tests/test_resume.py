"""Exact resume: interrupted and resumed runs end bit-identical to the uninterrupted run.

Same seed, same steps, same thread count (both runs here share a process). Interruptions
land on the first step, mid-epoch, on an evaluation step and just before the end, several
per run, in lines mode (dropout on) and in text mode (state carried across windows).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_names

from charsmith._corpus import make_corpus
from charsmith.checkpoint import load_checkpoint
from charsmith.config import ModelConfig, TrainConfig
from charsmith.errors import CheckpointError
from charsmith.trainer import Progress, Trainer

STEPS, EVERY = 40, 10
STOPS = (1, 7, 10, 23, 39)  # epochs are 17 (lines) and 19 (text) batches long


def setup(mode: str):
    text = "\n".join(make_names(300, seed=3))
    c = make_corpus(text, mode=mode, lowercase=False, val_fraction=0.1, rng=np.random.default_rng(7))
    if mode == "lines":
        mcfg = ModelConfig("gru", c.vocab.size, 24, embed=8, dropout=0.2)
        tcfg = TrainConfig(steps=STEPS, eval_every=EVERY, batch_size=16, seed=7, lr=1e-2, warmup_steps=5)
    else:
        mcfg = ModelConfig("lstm", c.vocab.size, 16, layers=2, embed=8, dropout=0.1)
        tcfg = TrainConfig(mode="text", steps=STEPS, eval_every=EVERY, batch_size=8, seq_len=16, seed=7, lr=1e-2)
    return c, mcfg, tcfg


def metrics(run: Path) -> list[dict]:
    rows = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("elapsed", "chars_per_s", "eval_seconds")} for r in rows]


@pytest.mark.parametrize("mode", ["lines", "text"])
def test_interrupted_runs_resume_bit_identical(tmp_path: Path, mode: str) -> None:
    c, mcfg, tcfg = setup(mode)
    reference = Trainer(c, mcfg, tcfg, tmp_path / "ref")
    reference.run()
    run = tmp_path / "run"
    trainer = Trainer(c, mcfg, tcfg, run)
    for stop in STOPS:
        def at(p: Progress, stop: int = stop, t: Trainer = trainer) -> None:
            if p.kind == "step" and p.step == stop:
                t.request_stop()

        done = trainer.run(at)
        assert done.reason == "interrupted" and done.step == stop
        assert load_checkpoint(run).params.keys() == reference.params.keys()  # usable from the first stop
        trainer = Trainer(c, mcfg, tcfg, run, resume=True)
        assert trainer.step == stop
    assert trainer.run().reason == "steps"
    for k, p in reference.params.items():
        np.testing.assert_array_equal(trainer.params[k], p, err_msg=k)
    for k, s in reference.opt.state.items():
        np.testing.assert_array_equal(trainer.opt.state[k], s, err_msg=k)
    best, ref_best = load_checkpoint(run), load_checkpoint(tmp_path / "ref")
    assert best.info["step"] == ref_best.info["step"] and best.info["best_val_loss"] == ref_best.info["best_val_loss"]
    for k, p in ref_best.params.items():
        np.testing.assert_array_equal(best.params[k], p)
    assert metrics(run) == metrics(tmp_path / "ref")


def test_batches_resume_from_a_position() -> None:
    c, _, _ = setup("lines")
    per_epoch = -(-len(c.train) // 16)
    whole = c.batches(16, 128, seed=7)
    seen = [next(whole)[0].ids for _ in range(per_epoch + 12)]
    later = c.batches(16, 128, seed=7, position=(1, 9))
    np.testing.assert_array_equal(next(later)[0].ids, seen[per_epoch + 9])
    assert whole.position == (1, 12)


def test_resume_refuses_other_options(tmp_path: Path) -> None:
    c, mcfg, tcfg = setup("lines")
    t = Trainer(c, mcfg, tcfg, tmp_path / "r")
    t.run(lambda p: t.request_stop() if p.step == 3 else None)
    for change, message in [({"lr": 0.5}, "used lr 0.01, not 0.5"), ({"seed": 8}, "used seed 7, not 8"),
                            ({"batch_size": 8}, "used batch_size 16, not 8")]:
        with pytest.raises(CheckpointError, match=message):
            Trainer(c, mcfg, TrainConfig(**{**tcfg.__dict__, **change}), tmp_path / "r", resume=True)
    longer = Trainer(c, mcfg, TrainConfig(**{**tcfg.__dict__, "steps": 60, "eval_every": 5}), tmp_path / "r", resume=True)
    assert longer.run().step == 60


def test_a_corrupt_resume_state_is_one_line(tmp_path: Path) -> None:
    c, mcfg, tcfg = setup("lines")
    t = Trainer(c, mcfg, tcfg, tmp_path / "r")
    t.run(lambda p: t.request_stop() if p.step == 3 else None)
    (tmp_path / "r" / "resume.npz").write_bytes(b"PK\x05\x06" + bytes(18))
    with pytest.raises(CheckpointError, match=r"resume\.npz"):
        Trainer(c, mcfg, tcfg, tmp_path / "r", resume=True)
