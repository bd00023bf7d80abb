"""A list's casing habits: read from the items, recorded at training, kept by sampling."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import charsmith
from charsmith.habits import casing_bias, casing_of
from charsmith.vocab import Vocab

NAMES = ["Anna", "Berta", "Carla", "Dora", "Emil", "Frank", "Gustav", "Hanna", "Ilse", "Jonas"] * 3


def test_casing_of() -> None:
    assert casing_of(["Anna", "Jean-Luc", "O'Neil"]) == {"first": ["upper"], "capital_after_letter": False}
    assert casing_of(["anna", "McDonald", "'t Hooft", ""]) == {"first": ["lower", "other", "upper"],
                                                                "capital_after_letter": True}


def test_casing_bias_masks_only_letters() -> None:
    v = Vocab("\n-'AMaln")
    bias = casing_bias(v, casing_of(["Anna", "Jean-Luc"]))
    banned = {(v.chars[i], v.chars[j]) for i, j in zip(*np.nonzero(np.isinf(bias)))}
    assert banned == {("\n", "a"), ("\n", "l"), ("\n", "n")} | {(p, c) for p in "AMaln" for c in "AM"}
    assert not bias[:, 0].any() and not bias[v.index("-")].any()  # the end token, and after a hyphen: free
    assert casing_bias(v, casing_of(["Anna", "eMma"])) is None  # both cases start, a capital after a letter
    assert casing_bias(v, None) is None


@pytest.fixture(scope="module")
def barely_trained(tmp_path_factory: pytest.TempPathFactory) -> charsmith.CharModel:
    """A model after 2 steps: its samples are nearly uniform strings of the list's letters."""
    tmp = tmp_path_factory.mktemp("habits")
    (tmp / "names.txt").write_text("\n".join(NAMES) + "\n")
    return charsmith.train(tmp / "names.txt", tmp / "m", steps=2, eval_every=2)


def test_samples_keep_the_casing_the_list_has(barely_trained: charsmith.CharModel) -> None:
    m = barely_trained
    assert m.ckpt.info["casing"] == {"first": ["upper"], "capital_after_letter": False}
    ok = [s for s in m.sample(300, seed=0).samples if s[0].isupper() and not any(c.isupper() for c in s[1:])]
    assert len(ok) == 300
    beam = m.most_likely(5, beam=8)
    assert all(s[0].isupper() and not any(c.isupper() for c in s[1:]) for s, _ in beam)
    # without the recorded habits (a checkpoint of an older charsmith) the same model breaks them
    info = {k: v for k, v in m.ckpt.info.items() if k != "casing"}
    old = charsmith.CharModel(dataclasses.replace(m.ckpt, info=info))
    bad = [s for s in old.sample(300, seed=0).samples if not s[0].isupper() or any(c.isupper() for c in s[1:])]
    assert len(bad) > 100


def test_the_habits_survive_saving(barely_trained: charsmith.CharModel, tmp_path: Path) -> None:
    from charsmith.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "copy", barely_trained.ckpt)
    assert charsmith.load(tmp_path / "copy").ckpt.info["casing"] == barely_trained.ckpt.info["casing"]
