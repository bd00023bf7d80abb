"""A list's casing habits: read from the items, recorded at training, kept by sampling
(charsmith.habits, through the Stepper's ``allowed`` mask)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import charsmith
from charsmith.habits import allowed_next, of_items, unseen_casing
from charsmith.vocab import Vocab

NAMES = ["Anna", "Berta", "Carla", "Dora", "Emil", "Frank", "Gustav", "Hanna", "Ilse", "Jonas"] * 3


def casing(items: list[str]) -> dict[str, bool]:
    return of_items(items, alphabet=False)


def test_of_items() -> None:
    assert casing(["Anna", "Jean-Luc", "O'Neil"]) == {"capital_inside": False, "small_start": False,
                                                      "capital_start": True}
    assert casing(["anna", "McDonald", "'t Hooft", ""]) == {"capital_inside": True, "small_start": True,
                                                            "capital_start": True}
    assert casing(["anna", "jean-luc"])["capital_start"] is False
    assert of_items(["ba", "ab"])["alphabet"] == "ab"
    h = casing(["anna", "jean-luc"])
    assert [unseen_casing(s, h) for s in ("anna", "Anna", "anNa", "an-na")] == [False, True, True, False]


def test_the_mask_leaves_out_only_letters() -> None:
    v = Vocab("\n-'AMaln")
    ok = allowed_next(v, casing(["Anna", "Jean-Luc"]))
    assert ok is not None
    banned = {(v.chars[i], v.chars[j]) for i, j in zip(*np.nonzero(~ok))}
    assert banned == {("\n", "a"), ("\n", "l"), ("\n", "n")} | {(p, c) for p in "AMaln" for c in "AM"}
    assert ok[:, 0].all() and ok[v.index("-")].all()  # the end token, and after a hyphen: free
    assert allowed_next(v, casing(["Anna", "eMma"])) is None  # both cases start, a capital after a letter
    small = allowed_next(v, casing(["anna", "jean-luc"]))  # a list with no capital: none at the start either
    assert small is not None and not small[0, v.index("A")] and small[0, v.index("a")]
    assert allowed_next(v, None) is None


@pytest.fixture(scope="module")
def barely_trained(tmp_path_factory: pytest.TempPathFactory) -> charsmith.CharModel:
    """A model after 2 steps: its samples are nearly uniform strings of the list's letters."""
    tmp = tmp_path_factory.mktemp("habits")
    (tmp / "names.txt").write_text("\n".join(NAMES) + "\n")
    return charsmith.train(tmp / "names.txt", tmp / "m", steps=2, eval_every=2)


def test_samples_keep_the_casing_the_list_has(barely_trained: charsmith.CharModel) -> None:
    m = barely_trained
    assert casing(NAMES).items() <= m.ckpt.info["habits"].items()
    ok = [s for s in m.sample(300, seed=0).samples if s[0].isupper() and not any(c.isupper() for c in s[1:])]
    assert len(ok) == 300
    beam = m.most_likely(5, beam=8)
    assert all(s[0].isupper() and not any(c.isupper() for c in s[1:]) for s, _ in beam)
    # without the recorded habits (a checkpoint of an older charsmith) the same model breaks them
    info = {k: v for k, v in m.ckpt.info.items() if k != "habits"}
    old = charsmith.CharModel(dataclasses.replace(m.ckpt, info=info))
    bad = [s for s in old.sample(300, seed=0).samples if not s[0].isupper() or any(c.isupper() for c in s[1:])]
    assert len(bad) > 100
    assert len([s for s in m.sample(300, seed=0, habits=False).samples if unseen_casing(s, casing(NAMES))]) > 100


def test_the_habits_survive_saving(barely_trained: charsmith.CharModel, tmp_path: Path) -> None:
    from charsmith.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "copy", barely_trained.ckpt)
    assert charsmith.load(tmp_path / "copy").ckpt.info["habits"] == barely_trained.ckpt.info["habits"]


def test_a_casing_of_fewer_than_one_item_in_a_hundred_is_a_slip_not_a_habit() -> None:
    names = [f"Name{chr(97 + k % 26)}" for k in range(199)]  # capital start, small letters inside
    assert of_items([*names, "StrakaO"])["capital_inside"] is False  # 1 of 200: a slip of the data
    assert of_items([*names[:97], "McDonald", "MacLeod", "DiMaggio"])["capital_inside"] is True  # 3 of 100
    assert of_items(["McDonald"])["capital_inside"] is True  # a short list: every item counts
    assert of_items([*names, "van"])["small_start"] is False and of_items([*names[:98], "van", "de"])["small_start"]
