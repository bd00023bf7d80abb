"""The bundled ``base`` model: its languages and scripts, a start for lists in any script,
and tiny lists."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from test_cli import run

import charsmith


@pytest.fixture(scope="module")
def base() -> charsmith.CharModel:
    return charsmith.load("base")


def scripts(text: str) -> set[str]:
    return {unicodedata.name(ch).split()[0] for ch in text if ch.isalpha()}


def test_the_base_writes_words_of_its_languages_in_their_scripts(base: charsmith.CharModel) -> None:
    names = base.categories
    assert {"Finnish words", "Greek words", "Russian words", "Ukrainian words", "makemore names"} <= set(names)
    assert len([n for n in names if n.endswith(" words")]) >= 20
    assert {"LATIN", "GREEK", "CYRILLIC"} <= scripts(base.ckpt.vocab.chars)
    for category, script in (("Finnish words", "LATIN"), ("Greek words", "GREEK"), ("Russian words", "CYRILLIC")):
        words = base.sample(50, category=category, seed=0).samples
        assert len(words) == 50
        assert sum(scripts(w) == {script} for w in words) >= 40, (category, words)  # 42-50 at seed 0
    guess = base.classify(["järvellä", "σπίτι", "мысль", "їжак", "Nakamura"])
    assert [g.best for g in guess] == ["Finnish words", "Greek words", "Russian words", "Ukrainian words", "Japanese"]


def test_a_list_in_a_script_new_to_the_base_extends_its_vocabulary(tmp_path: Path) -> None:
    data = tmp_path / "armenian.txt"
    data.write_text("\n".join(["Արամ", "Անի", "Գոռ", "Լիլիթ", "Նարեկ", "Սոնա", "Տիգրան", "Մարիամ"] * 3) + "\n")
    m = charsmith.train(data, tmp_path / "m", init="base", steps=30)
    assert set(m.ckpt.info["added_characters"]) == set(m.ckpt.vocab.chars[1:])  # every one is new
    assert m.ckpt.vocab.chars == "\n" + "".join(sorted(set(data.read_text()) - {"\n"}))
    samples = m.sample(50, seed=0).samples
    assert samples and all(scripts(s) == {"ARMENIAN"} and s[0].isupper() for s in samples)


def test_a_tiny_list_starts_from_the_base_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "tiny.txt"
    data.write_text("Zorblax\nQuuxo\nFribble\n")
    code, _, err = run(["train", str(data), "--out", str(tmp_path / "t"), "--quiet"], capsys)
    assert code == 0, err
    assert "note: a tiny list (3 items): too few to learn from alone, so it fine-tunes the bundled base model on them" in err
    m = charsmith.load(tmp_path / "t")
    assert m.ckpt.train.init == "base" and set("".join(m.sample(100, seed=0).samples)) <= set("ZorblaxQuxFibe")
    # a network asked for: from scratch, still said to be tiny; six items are not tiny
    code, _, err = run(["train", str(data), "--out", str(tmp_path / "s"), "--quiet", "--hidden", "16"], capsys)
    assert code == 0 and "note: a tiny list (3 items): too few to learn from alone;" in err
    assert charsmith.load(tmp_path / "s").ckpt.train.init == ""
    data.write_text("Zorblax\nQuuxo\nFribble\nZappo\nQuiblo\nFrax\n")
    code, _, err = run(["train", str(data), "--out", str(tmp_path / "six"), "--quiet", "--steps", "2"], capsys)
    assert code == 0 and "tiny" not in err and charsmith.load(tmp_path / "six").ckpt.train.init == ""
