"""Training options that change what the loop does with the weights: the moving average
(ema) and frozen recurrent weights (freeze_steps); and category-balanced batches (balance)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import make_names, make_styles

from charsmith._corpus import make_corpus
from charsmith.checkpoint import load_checkpoint
from charsmith.config import ModelConfig, TrainConfig
from charsmith.errors import InputError
from charsmith.trainer import Progress, Trainer


def corpus():
    return make_corpus("\n".join(make_names(200, seed=3)), mode="lines", lowercase=False, val_fraction=0.1,
                       rng=np.random.default_rng(0))


def trainer(tmp_path: Path, name: str = "run", **train: object) -> Trainer:
    c = corpus()
    options = dict(steps=6, eval_every=3, batch_size=16, warmup_steps=0, decay="none", lr=1e-2) | train
    return Trainer(c, ModelConfig("gru", c.vocab.size, 16, embed=4), TrainConfig(**options), tmp_path / name)  # type: ignore[arg-type]


def test_ema_saves_the_moving_average_of_the_weights(tmp_path: Path) -> None:
    t = trainer(tmp_path, ema=0.9)
    avg = t.opt.flat.astype(np.float64)
    seen: list[int] = []

    def follow(p: Progress) -> None:  # the average by hand, after every step
        nonlocal avg
        if p.kind == "step" and p.step not in seen:
            seen.append(p.step)
            decay = min(0.9, (1 + p.step) / (10 + p.step))
            avg = decay * avg + (1 - decay) * t.opt.flat

    t.run(follow)
    assert seen == list(range(1, 7))
    saved = load_checkpoint(tmp_path / "run").params
    flat = np.concatenate([saved[k].ravel() for k in t.params])
    np.testing.assert_allclose(flat, avg, rtol=1e-5, atol=1e-6)
    assert np.abs(flat - t.opt.flat).max() > 1e-3  # not the optimiser's own weights


def test_ema_resume_matches_the_uninterrupted_run(tmp_path: Path) -> None:
    whole = trainer(tmp_path, "whole", ema=0.9)
    whole.run()
    first = trainer(tmp_path, "split", ema=0.9)
    first.run(lambda p: first.request_stop() if p.kind == "step" and p.step == 4 else None)
    second = Trainer(first.corpus, first.model_cfg, first.cfg, tmp_path / "split", resume=True)
    assert second.step == 4
    second.run()
    a, b = load_checkpoint(tmp_path / "whole").params, load_checkpoint(tmp_path / "split").params
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_freeze_steps_keeps_the_recurrent_matrices_only(tmp_path: Path) -> None:
    t = trainer(tmp_path, freeze_steps=4, steps=4, weight_decay=0.5)  # decay would move them too
    before = {k: v.copy() for k, v in t.params.items()}
    t.run()
    for k, v in t.params.items():
        frozen = k.endswith((".W_ih", ".W_hh"))
        assert np.array_equal(v, before[k]) == frozen, k
    later = Trainer(t.corpus, t.model_cfg, TrainConfig(**(vars(t.cfg) | {"steps": 6})), tmp_path / "run", resume=True)
    later.run()  # past freeze_steps the matrices train too
    assert not np.array_equal(later.params["l0.W_hh"], before["l0.W_hh"])


def test_without_an_embedding_the_characters_table_is_not_frozen(tmp_path: Path) -> None:
    c = corpus()
    t = Trainer(c, ModelConfig("gru", c.vocab.size, 16, embed=0),
                TrainConfig(steps=3, eval_every=3, batch_size=16, freeze_steps=3), tmp_path / "r")
    before = {k: v.copy() for k, v in t.params.items()}
    t.run()
    assert np.array_equal(t.params["l0.W_hh"], before["l0.W_hh"])
    assert not np.array_equal(t.params["l0.W_ih"], before["l0.W_ih"])  # layer 0's input rows: the characters


@pytest.mark.parametrize("field,value", [("ema", 1.0), ("ema", -0.1), ("freeze_steps", -1)])
def test_bad_values_are_refused(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})  # type: ignore[arg-type]



def labelled_corpus(n_big: int = 300, n_small: int = 30):
    from charsmith._corpus import make_labelled_corpus
    from charsmith._labelled import Labelled

    styles = make_styles(n_big, seed=5)
    items = styles["bo"] + styles["ki"][:n_small]
    cats = np.array([0] * n_big + [1] * n_small)
    return make_labelled_corpus(Labelled(("bo", "ki"), items, cats, "f"), val_fraction=0.1,
                                rng=np.random.default_rng(0))


@pytest.mark.parametrize("balance, share", [(0.0, 27 / 297), (0.5, None), (1.0, 0.5)])
def test_balanced_batches_give_small_categories_their_share(balance: float, share: float | None) -> None:
    c = labelled_corpus()
    n_bo, n_ki = np.bincount(c.train_cats)  # 270, 27
    batches = c.batches(32, 128, seed=1, balance=balance)
    drawn = np.concatenate([next(batches)[0].cats for _ in range(300)])
    want = share if share is not None else n_ki ** 0.5 / (n_ki ** 0.5 + n_bo ** 0.5)  # n_c ** (1 - balance)
    assert np.mean(drawn == 1) == pytest.approx(want, abs=0.02)
    again = c.batches(32, 128, seed=1, balance=balance, position=(2, 3))  # an order fixed by the seed
    batches = c.batches(32, 128, seed=1, balance=balance)
    per_epoch = -(-len(c.train) // 32)
    for _ in range(2 * per_epoch + 3):
        next(batches)
    np.testing.assert_array_equal(next(again)[0].ids, next(batches)[0].ids)


def test_balance_is_checked() -> None:
    with pytest.raises(InputError, match=r"`balance` must be in \[0, 1.0\], got 1.5"):
        TrainConfig(balance=1.5)
