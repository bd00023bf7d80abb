"""Categories through the command line: train on labelled items, sample, score, eval,
classify and info, and every bad category input (one line, exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import make_styles, write_styles
from test_cli import assert_one_line_error, run


def test_train_on_a_labelled_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    styles = make_styles(60, seed=1)
    tsv = tmp_path / "styles.tsv"
    tsv.write_text("".join(f"{c}\t{s}\n" for c in ("ki", "bo") for s in styles[c]) + "bo\tbadon\n" * 20)
    out = tmp_path / "run"
    code, stdout, stderr = run(["train", str(tsv), "--out", str(out), "--model", "gru", "--hidden", "16",
                                "--steps", "10", "--eval-every", "10", "--cat-embed", "3", "--mix-order", "0"], capsys)
    assert code == 0, stderr
    assert "lines mode, 126 training items, 14 held out" in stderr
    assert "categories (training/held out/held out also in training): bo 72/8/" in stderr and ", ki 54/6/" in stderr
    assert "2 categories (embed 3)" in stderr
    info = json.loads(run(["info", str(out), "--json"], capsys)[1])
    assert info["categories"] == {"names": ["bo", "ki"], "counts": [72, 54]}
    assert info["model"]["categories"] == 2 and info["model"]["cat_embed"] == 3
    assert set(info["info"]["val_overlap_by_category"]) == {"bo", "ki"}


def test_sample_score_eval_classify(styled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = str(styled)
    code, stdout, _ = run(["sample", ckpt, "-n", "5", "--seed", "1", "--category", "ki"], capsys)
    assert code == 0 and len(stdout.split()) == 5
    code, blend, _ = run(["sample", ckpt, "-n", "5", "--seed", "1", "--category", "ki=0.5,bo=0.5", "--json"], capsys)
    assert code == 0 and len(json.loads(blend)["samples"]) == 5
    code, stdout, _ = run(["sample", ckpt, "--beam", "3", "-n", "2", "--category", "bo"], capsys)
    assert code == 0 and len(stdout.split()) == 2

    code, stdout, _ = run(["classify", ckpt, "gadolon", "kisetiki", "--top", "1"], capsys)
    assert code == 0 and stdout.split("\n")[0].split()[:2] == ["gadolon", "bo"]
    assert stdout.split("\n")[1].split()[:2] == ["kisetiki", "ki"]
    code, stdout, _ = run(["classify", ckpt, "gadolon", "--json", "--uniform-prior"], capsys)
    report = json.loads(stdout)
    probs = report["classifications"][0]["categories"]
    assert report["uniform_prior"] and [p["category"] for p in probs] == ["bo", "ki"]
    assert sum(p["probability"] for p in probs) == pytest.approx(1.0)

    code, stdout, _ = run(["score", ckpt, "kisetiki", "--category", "ki", "--json"], capsys)
    as_ki = json.loads(stdout)["scores"][0]["logprob"]
    code, stdout, _ = run(["score", ckpt, "kisetiki", "--category", "bo", "--json"], capsys)
    assert as_ki > json.loads(stdout)["scores"][0]["logprob"]

    tsv = tmp_path / "held.tsv"
    tsv.write_text("ki\tkisetiki\nbo\tgadolon\n")
    code, stdout, _ = run(["eval", ckpt, str(tsv), "--json"], capsys)
    assert code == 0 and json.loads(stdout)["n_items"] == 2
    plain = tmp_path / "held.txt"
    plain.write_text("kisetiki\nzatiki\n")
    code, stdout, _ = run(["eval", ckpt, str(plain), "--category", "ki"], capsys)
    assert code == 0 and "nats/char" in stdout


@pytest.mark.parametrize("argv, fragments", [
    (["sample", "{ckpt}", "--category", "Japanese"], ["unknown category 'Japanese'; this model knows: bo, ki"]),
    (["sample", "{ckpt}", "--category", "bo=0,ki=0"], ["weights sum to 0; give at least one positive weight"]),
    (["sample", "{ckpt}", "--category", "bo=-1,ki=2"], ["'bo' is -1.0; weights must be finite and >= 0"]),
    (["sample", "{ckpt}", "--category", "bo=x"], ["'x', not a number", "Japanese=0.7,Italian=0.3"]),
    (["sample", "{ckpt}", "--greedy"], ["depend on the category: pass one of bo, ki"]),
    (["score", "{ckpt}", "badon", "--category", "zz"], ["unknown category 'zz'"]),
    (["eval", "{ckpt}", "{tsv}", "--category", "bo"], ["is labelled, so each item is scored under its own"]),
    (["classify", "{ckpt}"], ["nothing to classify"]),
    (["classify", "{ckpt}", "bad", "--top", "0"], ["--top", "must be a whole number >= 1"]),
    (["sample", "{plain}", "--category", "bo"], ["trained without categories; drop the category"]),
    (["score", "{plain}", "bado", "--category", "bo"], ["trained without categories"]),
    (["classify", "{plain}", "bado"], ["trained without categories, so it cannot classify"]),
    (["sample", "shakespeare", "--category", "bo", "--length", "5"], ["trained without categories"]),
    (["train", "{bad_tsv}"], ["line 2 is not category<TAB>item: 'badon'", "one TAB"]),
    (["train", "{empty_cat}"], ["empty.txt is empty or holds only blank lines"]),
    (["train", "{folder}", "--mode", "text"], ["is a folder of category files, read in lines mode"]),
    (["eval", "{plain}", "{tsv}"], ["is labelled but this model was trained without categories"]),
])
def test_bad_category_input(styled: Path, trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            argv: list[str], fragments: list[str]) -> None:
    tsv = tmp_path / "held.tsv"
    tsv.write_text("ki\tkisetiki\n")
    bad = tmp_path / "bad.tsv"
    bad.write_text("ki\tkisetiki\nbadon\n")
    folder = write_styles(tmp_path / "f", n=5)
    empty = write_styles(tmp_path / "e", n=5)
    (empty / "empty.txt").write_text("")
    names = dict(ckpt=styled, plain=trained, tsv=tsv, bad_tsv=bad, empty_cat=empty, folder=folder)
    argv = [a.format(**names) for a in argv]
    if argv[0] == "train":
        argv += ["--out", str(tmp_path / "o")]
    code, _, err = run(argv, capsys)
    assert_one_line_error(code, err, *fragments)
    assert not (tmp_path / "o").exists()


def test_classify_a_labelled_file_reports_accuracy(styled_mix: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    styles = make_styles(40, seed=9)  # names the model never trained on
    pairs = [("bo", s) for s in styles["bo"][:30]] + [("ki", s) for s in styles["ki"][:10]] + [("xx", "gadolon")]
    tsv = tmp_path / "test.tsv"
    tsv.write_text("".join(f"{c}\t{s}\n" for c, s in pairs))
    code, stdout, stderr = run(["classify", str(styled_mix), "kisetiki", "--file", str(tsv), "--top", "1", "--json"],
                               capsys)
    assert code == 0, stderr
    data = json.loads(stdout)
    rows = data["classifications"]
    assert [r["item"] for r in rows] == ["kisetiki"] + [s for _, s in pairs]  # the items, not the lines
    assert "label" not in rows[0] and [r["label"] for r in rows[1:]] == [c for c, _ in pairs]
    hits = [r["categories"][0]["category"] == r["label"] for r in rows[1:]]
    acc = data["accuracy"]
    assert acc["items"] == 41 and acc["micro"] == pytest.approx(sum(hits) / 41)
    assert acc["recall"]["xx"] == 0.0 and acc["macro"] == pytest.approx(sum(acc["recall"].values()) / 3)
    assert 0.7 < acc["recall"]["bo"] <= 1 and 0.7 < acc["recall"]["ki"] <= 1  # the styles are told apart
    assert f"{acc['micro']:.3f} of its 41 labelled items classified as labelled" in stderr
    assert "1 of its categories the model does not know: xx" in stderr
    # the same file's items under score need a category (eval scores each under its own)
    code, _, stderr = run(["score", str(styled_mix), "--file", str(tsv)], capsys)
    assert code == 2 and "`charsmith eval` scores each item under its own category" in stderr
    code, stdout, _ = run(["score", str(styled_mix), "--file", str(tsv), "--category", "bo", "--json"], capsys)
    assert code == 0 and len(json.loads(stdout)["scores"]) == 41


def test_a_plain_file_of_long_items_classifies(styled_mix: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_path / "long.txt"
    plain.write_text("gadolon" * 100 + "\n\nkisetiki\n")  # 700 characters: over a training list's 500
    code, stdout, stderr = run(["classify", str(styled_mix), "--file", str(plain), "--top", "1"], capsys)
    assert code == 0, stderr
    assert [ln.split()[1] for ln in stdout.splitlines()] == ["bo", "ki"] and "labelled" not in stderr
