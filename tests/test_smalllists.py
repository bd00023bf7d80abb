"""Small lists: the model chosen by cross-validation, and the options that force a choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import charsmith
from charsmith import mixture, smalllists
from charsmith.api import small_list_corpus
from charsmith.cli import main
from charsmith.config import ModelConfig
from charsmith.ngram import NgramConfig

NAMES = ["Aoife", "Brigid", "Ciara", "Deirdre", "Eithne", "Fionnuala", "Grainne", "Orla", "Niamh", "Siobhan",
         "Roisin", "Sinead", "Aisling", "Caoimhe", "Clodagh", "Dearbhla", "Eimear", "Gobnait", "Laoise", "Meabh",
         "Muireann", "Nuala", "Oonagh", "Riona", "Saoirse", "Sorcha", "Treasa", "Una", "Blathnaid", "Ailbhe"]


@pytest.fixture(scope="module")
def names(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("small") / "names.txt"
    path.write_text("\n".join(NAMES) + "\n", encoding="utf-8")
    return path


def test_the_default_weighs_every_candidate_and_keeps_the_best(names: Path, tmp_path: Path) -> None:
    m = charsmith.train(names, tmp_path / "r", seed=1)
    choice = m.ckpt.info["choice"]
    losses = choice["losses"]
    assert {f"ngram-{o}" for o in smalllists.ORDERS} <= set(losses) and {"network", "mixture"} <= set(losses)
    assert choice["chosen"] == min(losses, key=losses.get) and choice["folds"] == 5 and choice["items"] == 30
    assert m.ckpt.info["cv_loss"] == losses[choice["chosen"]]
    if choice["chosen"] in ("network", "mixture"):  # the committee: five folds' networks and one on all items
        assert isinstance(m.ckpt.model, mixture.MixtureConfig) and m.ckpt.model.nets == 6
    assert m.ckpt.known is not None and all(m.is_known(NAMES))  # novelty as before: every item is known
    assert len(m.sample(5, seed=0).samples) == 5


def test_the_cross_validated_ngram_loss_is_the_held_out_folds(names: Path) -> None:
    corpus = small_list_corpus(names)
    assert corpus is not None
    seqs = [corpus.vocab.encode(s) for s in corpus.train]
    folds = smalllists.make_folds(len(seqs), np.random.default_rng(0))
    assert sorted(np.concatenate(folds).tolist()) == list(range(len(seqs)))  # every item held out once
    p, used = smalllists.ngram_heldout(seqs, np.zeros(len(seqs), dtype=np.int64), corpus.vocab.size, 0, 3, folds)
    assert len(p) == sum(len(s) + 1 for s in seqs) and (p > 0).all() and (p < 1).all() and used.max() <= 2


@pytest.mark.parametrize("options, applies", [
    ({}, True), ({"cell": "ngram"}, True), ({"cell": "gru"}, False), ({"steps": 5}, False),
    ({"init": "names"}, False), ({"seed": 3, "lowercase": True}, True),
])
def test_which_runs_choose_by_cross_validation(names: Path, options: dict, applies: bool) -> None:
    assert (small_list_corpus(names, **options) is not None) == applies


def test_a_big_list_or_a_text_trains_the_network(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("\n".join(f"name{i}" for i in range(smalllists.SMALL_LIST_ITEMS + 1)) + "\n", encoding="utf-8")
    assert small_list_corpus(big) is None and small_list_corpus(big, cell="ngram") is not None
    text = tmp_path / "text.txt"
    text.write_text("It was a dark and stormy night; the rain fell in torrents, except at occasional intervals. " * 40,
                    encoding="utf-8")
    assert small_list_corpus(text) is None
    with pytest.raises(charsmith.errors.DataError, match="running text"):
        small_list_corpus(text, cell="ngram")


def test_val_fraction_holds_items_out_and_reports_them(names: Path, tmp_path: Path) -> None:
    m = charsmith.train(names, tmp_path / "r", cell="ngram", val_fraction=0.2)
    assert isinstance(m.ckpt.model, NgramConfig) and m.ckpt.info["train_items"] == 24
    assert m.ckpt.info["best_val_loss"] > 0 and all(m.is_known(NAMES))


@pytest.mark.parametrize("bundled", [True, False])
def test_tiny_lists_train_and_say_so(bundled: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiny list fine-tunes the bundled base on all its items; without a bundled start it
    gets the n-gram model alone. Either way it says it is tiny."""
    if not bundled:
        monkeypatch.setattr(smalllists, "STARTS", ())
    for n in (1, 2, 5, 6):
        path = tmp_path / f"t{n}.txt"
        path.write_text("\n".join(NAMES[:n]) + "\n", encoding="utf-8")
        assert main(["train", str(path), "--out", str(tmp_path / f"r{n}"), "--quiet"]) == 0
        err = capsys.readouterr().err
        m = charsmith.load(tmp_path / f"r{n}")
        if n == 6:  # not tiny: cross-validated
            assert "tiny" not in err and not m.ckpt.info["choice"]["tiny"]
            continue
        assert f"note: a tiny list ({n} item{'s' if n > 1 else ''}): too few to learn from alone" in err
        assert m.ckpt.info["choice"]["tiny"]
        if bundled:
            assert m.ckpt.train.init == "base" and m.ckpt.info["choice"]["chosen"] == "base"
            assert "fine-tunes the bundled base model" in err
            assert isinstance(m.ckpt.model, mixture.MixtureConfig) and m.ckpt.model.nets == 1
        else:
            assert isinstance(m.ckpt.model, NgramConfig) and m.ckpt.train.init == ""
        assert len(m.sample(2, seed=0, max_draws=50_000).samples) == 2


def test_network_options_still_force_the_network(names: Path, tmp_path: Path) -> None:
    m = charsmith.train(names, tmp_path / "r", steps=3, seed=0)
    assert isinstance(m.ckpt.model, ModelConfig) and "choice" not in m.ckpt.info


def test_init_from_an_ngram_checkpoint_is_refused(names: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(names), "--model", "ngram", "--out", str(tmp_path / "ng"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["train", str(names), "--init", str(tmp_path / "ng"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no network weights" in err


@pytest.mark.parametrize("options, message", [
    ({"cell": "ngram", "init": "names"}, "an n-gram model has none"),
    ({"cell": "ngram", "hidden": 32}, "`hidden` is an option of a network's training, and `cell`=ngram trains no network; drop it"),
    ({"cell": "mixture", "steps": 9}, "chooses its network by cross-validation"),
])
def test_network_options_with_a_kind_chosen_here_are_refused(names: Path, options: dict, message: str) -> None:
    with pytest.raises(charsmith.errors.InputError, match=message):
        small_list_corpus(names, **options)
