"""Open vocabulary: characters the model never saw get the unknown class's probability in
scoring, evaluation and classification (charsmith.openvocab), and sampling never writes one."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import make_styles
from test_cli import run

import charsmith
from charsmith.checkpoint import load_checkpoint, save_checkpoint
from charsmith.errors import CheckpointError, InputError
from charsmith.openvocab import LEGACY_MASS, OUTSIDE, encode_open, estimate_mass, items_mass
from charsmith.scoring import category_scores, score_items
from charsmith.vocab import END, Vocab


def test_the_mass_is_good_turing_with_one_pseudo_count() -> None:
    assert items_mass(["ab", "abc"]) == (1 + 1) / (7 + 1)  # 'c' occurs once; 5 characters and 2 end tokens
    assert items_mass(["ab", "ba"]) == 1 / 7  # no character occurs once: the pseudo-count alone
    assert estimate_mass(Counter("aab"), 3) == 2 / 4


@pytest.mark.parametrize("model", ["styled", "styled_mix"])  # the network, and its mixture with an n-gram model
@pytest.mark.parametrize("category", [None, "ki", "bo"])
def test_known_characters_and_the_unknown_class_sum_to_one(model: str, category: str | None,
                                                           request: pytest.FixtureRequest) -> None:
    m = charsmith.load(request.getfixturevalue(model))
    vocab, u = m.ckpt.vocab, m.ckpt.unknown
    history = "gado"
    known = [history + ch for ch in vocab.chars[1:]]  # every next character, then the end token (history alone)
    scores = m.score([*known, history, history + "Ω"], category=category)
    p_known = sum(math.exp(s.char_logprobs[len(history)]) for s in scores[:-1])
    p_unknown_char = math.exp(scores[-1].char_logprobs[len(history)])
    assert p_unknown_char == pytest.approx(u / OUTSIDE, rel=1e-9)
    assert p_known == pytest.approx(1 - u, abs=1e-6)
    assert p_known + OUTSIDE * p_unknown_char == pytest.approx(1.0, abs=1e-6)
    assert [s.unknown_chars for s in scores[-2:]] == [0, 1]


def test_an_unknown_character_is_read_as_its_base_letter(styled: Path) -> None:
    m = charsmith.load(styled)
    plain, accented = m.score(["gadon", "gadón"], category="bo")
    assert accented.unknown_chars == 1 and plain.unknown_chars == 0
    # the characters after it are predicted as after 'o'; the accented one costs log(u / OUTSIDE)
    assert accented.char_logprobs[4:] == pytest.approx(plain.char_logprobs[4:])
    assert accented.char_logprobs[3] == pytest.approx(math.log(m.ckpt.unknown / OUTSIDE))
    targets, inputs = encode_open(m.ckpt.vocab, "gΩó")
    assert targets[1:].tolist() == [-1, -1] and inputs[1] == -1 and inputs[2] == m.ckpt.vocab.index("o")


def test_without_a_mass_an_unknown_character_is_an_error(styled: Path) -> None:
    ck = charsmith.load(styled).ckpt
    with pytest.raises(InputError, match="never saw: 'Ω'"):
        score_items(ck.params, ck.model, ck.vocab, ["gaΩ"], cond=np.array([0]))


@pytest.mark.parametrize("model", ["styled", "styled_mix"])
def test_classification_compares_categories_on_equal_terms(model: str, request: pytest.FixtureRequest) -> None:
    m = charsmith.load(request.getfixturevalue(model))
    ck = m.ckpt
    per_cat = category_scores(ck.params, ck.model, ck.vocab, ["kiseΩ"], unknown_mass=ck.unknown)[0]
    assert len({s.char_logprobs[4] for s in per_cat}) == 1  # the unknown character: the same term for each
    found = m.classify(["kisetikΩ", "gadolon", "gadőlon", "ΩΩΩ"], top=2)
    assert [r.unknown_chars for r in found] == [1, 0, 1, 3]
    assert [r.best for r in found[:3]] == ["ki", "bo", "bo"]
    assert all(sum(p for _, p in r.probs) == pytest.approx(1.0) for r in found)


@pytest.mark.parametrize("model", ["styled", "styled_mix"])
def test_sampling_writes_only_known_characters(model: str, request: pytest.FixtureRequest) -> None:
    m = charsmith.load(request.getfixturevalue(model))
    samples = m.sample(200, category="ki", temperature=2.0, seed=0, allow_known=True).samples
    assert samples and set("".join(samples)) <= set(m.ckpt.vocab.chars)


def test_the_mass_is_saved_and_old_checkpoints_get_the_legacy_one(styled: Path, tmp_path: Path) -> None:
    ck = load_checkpoint(styled)
    assert ck.unknown_mass is not None and 0 < ck.unknown_mass < 0.01  # estimated from the training file
    assert charsmith.load("names").ckpt.unknown == LEGACY_MASS  # bundled before there was a mass
    assert charsmith.load("languages").score(["Kamińsky"])[0].unknown_chars == 0
    assert charsmith.load("dinosaurs").score(["rex7"])[0].unknown_chars == 1
    copy = tmp_path / "copy"
    save_checkpoint(copy, ck)
    assert load_checkpoint(copy).unknown_mass == ck.unknown_mass
    meta = json.loads((copy / "config.json").read_text())
    for bad in (0, 1.5, "x", True):
        meta["unknown_mass"] = bad
        (copy / "config.json").write_text(json.dumps(meta))
        with pytest.raises(CheckpointError, match="unknown-character mass must be a number in"):
            load_checkpoint(copy)


def test_text_eval_scores_unknown_characters_apart(tmp_path: Path) -> None:
    bard = charsmith.load("shakespeare")
    clean, dirty = tmp_path / "clean.txt", tmp_path / "dirty.txt"
    clean.write_text("ROMEO:\nBut soft, what light through yonder window breaks?\n")
    dirty.write_text("ROMEO:\nBut soft, what light through yonder window breaks?\n".replace("light", "lïght☃"))
    a, b = bard.evaluate(clean), bard.evaluate(dirty)
    assert a.unknown_chars == 0 and b.unknown_chars == 2
    # 'ï' replaces 'i' and '☃' is one character more: the known predictions are scored, the unknown ones apart
    assert b.n_chars + b.unknown_chars == a.n_chars + 1 and math.isfinite(b.loss)


def test_a_held_out_file_with_characters_training_lacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Train -> eval -> classify -> score through the CLI, on a labelled file whose held-out
    part has characters its training part lacks."""
    styles = make_styles(150, seed=4)
    train = tmp_path / "train.tsv"
    train.write_text("".join(f"{c}\t{s}\n" for c in ("bo", "ki") for s in styles[c]))
    held = tmp_path / "held.tsv"
    held.write_text("bo\tgadolón\nki\tkisetikí\nbo\tgadolon\nki\tkƨsetiki\nki\tkisetiki\n")
    out = tmp_path / "run"
    code, _, stderr = run(["train", str(train), "--out", str(out), "--model", "gru", "--hidden", "32", "--steps",
                           "150", "--eval-every", "50", "--cat-embed", "4", "--seed", "0"], capsys)
    assert code == 0, stderr
    vocab = Vocab(json.loads((out / "config.json").read_text())["vocab"])
    assert END + "ó" not in vocab.chars and not {"ó", "í", "ƨ"} & set(vocab.chars)

    code, stdout, stderr = run(["eval", str(out), str(held), "--json"], capsys)
    report = json.loads(stdout)
    assert code == 0 and report["n_items"] == 2 and report["unknown_chars"] == 3
    assert report["with_unknown"]["n_items"] == 3 and report["with_unknown"]["loss"] > report["loss"]
    code, stdout, _ = run(["eval", str(out), str(held)], capsys)
    assert "in 2 items whose characters the model all knows" in stdout
    assert "in the 3 items holding 3 characters the model never saw (scored apart)" in stdout

    items = [line.split("\t")[1] for line in held.read_text().splitlines()]
    (tmp_path / "items.txt").write_text("\n".join(items) + "\n")
    code, stdout, stderr = run(["classify", str(out), "--file", str(tmp_path / "items.txt"), "--json", "--top", "1"],
                               capsys)
    rows = json.loads(stdout)["classifications"]
    assert code == 0 and [r["unknown_chars"] for r in rows] == [1, 1, 0, 1, 0]
    assert [r["categories"][0]["category"] for r in rows] == ["bo", "ki", "bo", "ki", "ki"]
    assert "3 items hold 3 characters the model never saw ('óíƨ')" in stderr

    code, stdout, stderr = run(["score", str(out), "gadolón", "gadolon", "--json"], capsys)
    scores = json.loads(stdout)["scores"]
    assert [s["unknown_chars"] for s in scores] == [1, 0] and scores[0]["logprob"] < scores[1]["logprob"]
    assert "1 item holds 1 character the model never saw ('ó')" in stderr
