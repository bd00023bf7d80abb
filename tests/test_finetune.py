"""Starting from a trained model (--init): vocabulary extension, categories carried over or
folded into the bias, the recorded start, the defaults, and every bad --init."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_names, make_styles, write_styles
from test_cli import assert_one_line_error, run

import charsmith
from charsmith import model as M
from charsmith.api import plan_run
from charsmith.categories import posterior
from charsmith.finetune import _blend_of, extend_vocab, start_params
from charsmith.scoring import category_logliks
from charsmith.vocab import Vocab


def start(base: Path, data: Path, **options: object) -> tuple[charsmith.CharModel, object, object, dict]:
    """The base, and the corpus, config and first weights of a run on ``data`` from it."""
    corpus, cfg, tcfg = plan_run(data, init=str(base), **options)
    b = charsmith.load(base)
    params, info = start_params(b.ckpt, corpus, cfg, np.random.default_rng(0))
    return b, corpus, cfg, dict(params=params, info=info, train=tcfg)


def test_extend_vocab_appends_and_keeps_old_ids() -> None:
    v = extend_vocab(Vocab("\nabc"), Vocab("\nabÉz-"))
    assert v.chars == "\nabc-zÉ" and all(v.index(ch) == i for i, ch in enumerate("\nabc"))
    assert extend_vocab(Vocab("\nabc"), Vocab("\nba")).chars == "\nabc"


@pytest.mark.parametrize("embed", [0, 8])
def test_new_characters_get_rows_and_old_rows_are_unchanged(tmp_path: Path, embed: int) -> None:
    base = tmp_path / "base"
    (tmp_path / "b.txt").write_text("\n".join(make_names(50)) + "\n")
    charsmith.train(tmp_path / "b.txt", base, cell="lstm", hidden=6, embed=embed, steps=2, eval_every=2)
    data = tmp_path / "new.txt"
    data.write_text("\n".join(["Bado-don", "kėmo", "tasaurus"] * 5) + "\n")  # B, -, ė are new
    b, corpus, cfg, s = start(base, data, base_chars=True)
    old, new = b.ckpt.params, s["params"]
    V0 = b.ckpt.vocab.size
    assert corpus.vocab.chars[:V0] == b.ckpt.vocab.chars and set(corpus.vocab.chars[V0:]) == set("B-ė")
    assert s["info"]["added_characters"] == corpus.vocab.chars[V0:] and cfg.vocab_size == V0 + 3
    inp = "wte" if embed else "l0.W_ih"
    for k in old:  # the old characters' rows, and every other weight, are unchanged
        if k == inp:
            np.testing.assert_array_equal(new[k][:V0], old[k])
        elif k in ("W_out", "b_out"):
            np.testing.assert_array_equal(new[k][..., :V0], old[k])
        else:
            np.testing.assert_array_equal(new[k], old[k], err_msg=k)
    ix = corpus.vocab.index
    for ch, rel in (("B", "b"), ("ė", "e")):  # read as its relative
        np.testing.assert_array_equal(new[inp][ix(ch)], old[inp][ix(rel)])
    np.testing.assert_allclose(new[inp][ix("-")], old[inp][1:].mean(axis=0), rtol=1e-6)  # no relative
    for ch in "B-ė":  # predicted as the rarest old character, whatever the context
        assert not new["W_out"][:, ix(ch)].any() and new["b_out"][ix(ch)] == old["b_out"][1:].min()
    M.check_params(new, cfg)
    # so the old characters' predictions keep their order and ratios
    ids, st = np.array([[0, 3, 5, 2]]), M.init_state(cfg, 1)
    before = M.forward(old, b.ckpt.model, ids, M.init_state(b.ckpt.model, 1))[0]
    after = M.forward(new, cfg, ids, st)[0]
    np.testing.assert_allclose(after[..., :V0], before, rtol=1e-5, atol=1e-6)


def test_by_default_the_model_has_the_data_characters_only(tmp_path: Path) -> None:
    """Without base_chars the vocabulary is the data's own: the base's other letters are gone,
    so the start is the base's distribution restricted to the data's alphabet (the same
    logits for the characters kept) and no sample can use a letter the data never has."""
    base = tmp_path / "base"
    (tmp_path / "b.txt").write_text("\n".join(make_names(50)) + "\n")
    charsmith.train(tmp_path / "b.txt", base, cell="gru", hidden=6, embed=4, steps=2, eval_every=2)
    data = tmp_path / "new.txt"
    data.write_text("\n".join(["Bado", "dano", "bonda"] * 5) + "\n")  # B is new; most base letters unused
    b, corpus, cfg, s = start(base, data)
    assert corpus.vocab.chars == "\nBabdno" and cfg.vocab_size == 7 and s["info"]["added_characters"] == "B"
    assert s["info"]["dropped_characters"] == b.ckpt.vocab.size - 6  # all but the end token and "abdno"
    old, new, ix = b.ckpt.params, s["params"], b.ckpt.vocab.index
    kept = [ix(ch) for ch in corpus.vocab.chars if ch != "B"]
    ids_new, ids_old = np.array([[0, 2, 4, 3]]), np.array([[0, ix("a"), ix("d"), ix("b")]])
    after = M.forward(new, cfg, ids_new, M.init_state(cfg, 1))[0]
    before = M.forward(old, b.ckpt.model, ids_old, M.init_state(b.ckpt.model, 1))[0]
    np.testing.assert_allclose(np.delete(after, 1, axis=-1), before[..., kept], rtol=1e-5, atol=1e-6)
    m = charsmith.train(data, tmp_path / "ft", init=str(base), steps=3)
    assert m.ckpt.vocab.chars == "\nBabdno" and not m.ckpt.train.base_chars
    assert set("".join(m.sample(200, seed=1).samples)) <= set("Babdno")


def test_the_other_case_of_a_base_letter_starts_with_the_base_case_shift(tmp_path: Path) -> None:
    """On a base with letters in both cases, a new capital starts as its small letter moved
    by the mean capital-minus-small difference of the base's rows, columns and biases."""
    (tmp_path / "b.txt").write_text("\n".join(["Abba", "Baab", "abz", "bazz", "Ozbo"] * 10) + "\n")
    charsmith.train(tmp_path / "b.txt", tmp_path / "base", cell="gru", hidden=6, embed=4, steps=3)
    (tmp_path / "new.txt").write_text("Zoba\nZaza\n")  # Z is new, z is in the base
    b, corpus, cfg, s = start(tmp_path / "base", tmp_path / "new.txt")
    old, new, ix, nx = b.ckpt.params, s["params"], b.ckpt.vocab.index, corpus.vocab.index
    pairs = [(ix(c), ix(c.upper())) for c in "abo"]
    for name, get in (("wte", lambda p, i: p["wte"][i]), ("W_out", lambda p, i: p["W_out"][:, i]),
                      ("b_out", lambda p, i: p["b_out"][i])):
        shift = np.mean([get(old, u) - get(old, lo) for lo, u in pairs], axis=0)
        np.testing.assert_allclose(get(new, nx("Z")), get(old, ix("z")) + shift, rtol=1e-5, atol=1e-6, err_msg=name)
        np.testing.assert_array_equal(get(new, nx("o")), get(old, ix("o")))


def fitted_blend(b: charsmith.CharModel, items: list[str]) -> np.ndarray:
    """The blend start_params gives ``items``, checked to be the maximum-likelihood mixture
    weights: EM's fixed point, and a better fit than the mean posterior under the base's priors."""
    ck = b.ckpt
    loglik = category_logliks(ck.params, ck.model, ck.vocab, items)  # (N, K)
    w = _blend_of(ck, ck.params, ck.vocab, items)
    np.testing.assert_allclose(posterior(loglik, np.log(w)).mean(axis=0), w, atol=1e-4)  # a fixed point of EM

    def fit(v: np.ndarray) -> float:  # sum_i log sum_k v_k P(x_i | k)
        z = loglik + np.log(v)
        return float((np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1)) + z.max(axis=1)).sum())

    one_step = posterior(loglik, ck.categories.log_priors()).mean(axis=0)
    assert fit(w) >= fit(one_step) - 1e-9 and fit(w) > fit(np.full(len(w), 1 / len(w)))
    return w


def test_unlabelled_data_on_a_base_with_categories_folds_the_blend(styled: Path, tmp_path: Path) -> None:
    """The new model has no categories and starts as the base conditioned on the blend its
    classifier gives the training items."""
    data = tmp_path / "mine.txt"
    data.write_text("\n".join(make_styles(40, seed=5)["ki"] + make_styles(10, seed=6)["bo"]) + "\n")
    b, corpus, cfg, s = start(styled, data)
    assert cfg.categories == 0 and "cat" not in s["params"] and corpus.categories is None
    blend = s["info"]["folded_blend"]
    assert set(blend) == {"bo", "ki"} and blend["ki"] > 0.6 and sum(blend.values()) == pytest.approx(1, abs=1e-3)
    np.testing.assert_allclose(list(blend.values()), fitted_blend(b, corpus.train), atol=1e-6)
    w = b.condition(blend)
    ids = np.array([[0, 3, 4, 2, 7], [0, 1, 1, 5, 6]])
    st = M.init_state(cfg, 2)
    ours = M.forward(s["params"], cfg, ids, st)[0]
    theirs = M.forward(b.ckpt.params, b.ckpt.model, ids, st, cond=np.tile(w, (2, 1)).astype(np.float32))[0]
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_labelled_data_on_a_plain_base_starts_exactly_as_the_base(trained: Path, tmp_path: Path) -> None:
    folder = write_styles(tmp_path / "f", n=20)
    b, corpus, cfg, s = start(trained, folder, base_chars=True)
    assert cfg.categories == 2 and cfg.cat_embed == 16 and not s["params"]["W_cat"].any()
    ids = np.array([[0, 3, 4, 2]])
    st = M.init_state(cfg, 1)
    base_logits = M.forward(b.ckpt.params, b.ckpt.model, ids, st)[0]
    for c in (0, 1):
        ours = M.forward(s["params"], cfg, ids, st, cond=np.array([c]))[0]  # 'l' is a new character:
        np.testing.assert_array_equal(ours[..., : b.ckpt.vocab.size], base_logits)  # the rest is the base's


def test_categories_are_matched_by_name(styled: Path, tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "ki.txt").write_text("\n".join(make_styles(20)["ki"]) + "\n")
    (folder / "zu.txt").write_text("zuzu\nzuzo\nzozu\n")
    (folder / "bo2.txt").write_text("\n".join(make_styles(20, seed=7)["bo"]) + "\n")  # new name, bo's style
    b, corpus, cfg, s = start(styled, folder)
    assert corpus.categories.names == ("bo2", "ki", "zu") and s["info"]["new_categories"] == ["bo2", "zu"]
    cat = b.ckpt.params["cat"]  # base: bo, ki
    np.testing.assert_array_equal(s["params"]["cat"][1], cat[1])
    # a new category starts as the blend of the base's categories that fits its items best
    k = corpus.categories.index("bo2")
    items = [x for x, c in zip(corpus.train, corpus.train_cats) if c == k]
    blend = fitted_blend(b, items)
    assert blend[0] > 0.9  # bo-style names: near bo's vector, far from the mean
    np.testing.assert_allclose(s["params"]["cat"][0], blend @ cat, rtol=1e-4, atol=1e-5)
    assert np.linalg.norm(s["params"]["cat"][0] - cat[0]) < 0.2 * np.linalg.norm(cat[0] - cat[1])


def test_train_init_through_the_cli(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "mine.txt"
    data.write_text("\n".join(make_names(60, seed=8)) + "\nZorasaurus\n")
    out = tmp_path / "ft"
    code, stdout, stderr = run(["train", str(data), "--init", str(trained), "--out", str(out), "--steps", "20",
                                "--hidden", "48"], capsys)  # --hidden equal to the base's is fine
    assert code == 0, stderr
    assert f"start: the weights of {trained} (gru x1, hidden 48, embed 16), 1 new characters 'Z'" in stderr
    assert "lr 0.001" in stderr and "dropout 0.3" in stderr and "weight decay 0" in stderr
    assert "recurrent matrices frozen for 20 steps; evaluate every 20 steps, stop at 20 steps;" in stderr
    info = json.loads(run(["info", str(out), "--json"], capsys)[1])
    assert info["train"]["init"] == str(trained) and info["info"]["init_model"] == "gru x1, hidden 48, embed 16"
    assert info["info"]["added_characters"] == "Z" and info["vocab"].startswith("\nZa")  # the file's own characters
    m = charsmith.train(data, tmp_path / "api", init=str(trained), steps=5, lr=2e-3)  # the same through the API
    assert m.ckpt.train.init == str(trained) and m.ckpt.train.lr == 2e-3 and m.ckpt.model.hidden == 48


def test_a_small_list_gets_a_fixed_schedule_and_a_long_one_early_stopping(trained: Path, tmp_path: Path) -> None:
    """Up to SMALL_FINETUNE_ITEMS training items: FINETUNE_EPOCHS passes within FINETUNE_STEPS,
    the recurrent matrices frozen throughout and one evaluation at the end; a step budget
    given moves all three. A longer list stops early on its held-out items."""
    from charsmith.defaults import FINETUNE_EPOCHS, FINETUNE_STEPS

    def schedule(n: int, **options: object) -> tuple:
        data = tmp_path / f"{n}.txt"
        data.write_text("\n".join(make_names(n, seed=3)) + "\n")
        corpus, _, t = plan_run(data, init=str(trained), **options)
        return len(corpus.train), (t.steps, t.freeze_steps, t.eval_every, t.patience, t.minutes)

    k, got = schedule(200)
    steps = -(-FINETUNE_EPOCHS * k // 32)
    assert FINETUNE_STEPS[0] < steps < FINETUNE_STEPS[1] and got == (steps, steps, steps, 0, 1.0)
    assert schedule(20)[1] == (FINETUNE_STEPS[0], FINETUNE_STEPS[0], FINETUNE_STEPS[0], 0, 1.0)
    assert schedule(200, steps=77)[1] == (77, 77, 77, 0, 0.0)
    assert schedule(1500)[1] == (0, 50, 10, 10, 1.0)
    data = tmp_path / "scratch.txt"
    data.write_text("\n".join(make_names(200)) + "\n")
    assert plan_run(data, steps=77)[2].freeze_steps == 0  # a run from scratch freezes nothing


@pytest.mark.parametrize("argv, fragments", [
    (["--init", "nosuchmodel"], ["no checkpoint at nosuchmodel and no bundled model of that name", "bundled models:"]),
    (["--init", "shakespeare"], ["--init shakespeare learned running text (text mode)",
                                 "start from a lines-mode model"]),
    (["--init", "{base}", "--hidden", "64"], ["--hidden 64 conflicts with its hidden 48", "drop --hidden"]),
    (["--init", "{base}", "--model", "lstm"], ["--model lstm conflicts with its cell gru"]),
    (["--init", "{base}", "--layers", "2"], ["--layers 2 conflicts with its layers 1"]),
    (["--init", "{base}", "--embed", "0"], ["--embed 0 conflicts with its embed 16"]),
    (["--keep-base-chars"], ["--keep-base-chars keeps the characters of the model a run starts from",
                             "give --init too"]),
    (["--cat-embed", "4"], ["--cat-embed is for labelled items", "has no categories"]),
    (["--balance", "0.5"], ["--balance is for labelled items", "has no categories"]),
    (["--balance", "1.5"], ["--balance", "must be in [0, 1.0], got 1.5"]),
])
def test_bad_init(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                  fragments: list[str]) -> None:
    data = tmp_path / "mine.txt"
    data.write_text("\n".join(make_names(30)) + "\n")
    argv = ["train", str(data), "--out", str(tmp_path / "o"), *(a.format(base=trained) for a in argv)]
    code, _, err = run(argv, capsys)
    assert_one_line_error(code, err, *fragments)
    assert not (tmp_path / "o").exists()


def test_text_data_on_a_lines_base(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "t.txt"
    data.write_text("the quick brown fox jumps over the lazy dog " * 40)
    code, _, err = run(["train", str(data), "--init", str(trained), "--out", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "learned a list of items (lines mode), but the data is running text")


def test_a_text_run_from_a_text_base_reads_the_text_with_the_base_ids(tmp_path: Path) -> None:
    """The text's ids are those of the extended vocabulary (base characters first), and the
    run starts where the base is: about the base's held-out loss on that text."""
    text = "the quick brown fox jumps over the lazy dog. " * 60
    (tmp_path / "a.txt").write_text(text)
    base = charsmith.train(tmp_path / "a.txt", tmp_path / "base", mode="text", cell="gru", hidden=16, embed=8,
                           steps=60, eval_every=60, seq_len=32, batch_size=8)
    (tmp_path / "b.txt").write_text("QUIZ! " + text[:900])
    corpus, cfg, _ = plan_run(tmp_path / "b.txt", init=str(tmp_path / "base"), seq_len=32, base_chars=True)
    assert corpus.vocab.chars.startswith(base.ckpt.vocab.chars) and corpus.vocab.chars.endswith("!IQUZ")
    assert corpus.vocab.decode(corpus.train[:12]) == "QUIZ! the qu"
    held = tmp_path / "held.txt"
    held.write_text(text[:600])
    before = base.evaluate(held).loss
    m = charsmith.train(tmp_path / "b.txt", tmp_path / "ft", init=str(tmp_path / "base"), steps=1, lr=1e-9,
                        base_chars=True)
    assert before - 0.01 < m.evaluate(held).loss < before + 0.3  # only the 5 new characters' share added
