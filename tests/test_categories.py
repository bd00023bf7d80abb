"""Categories: labelled data, conditions and blends, Bayes' rule on a hand-computable model,
novelty against the whole input, and a trained two-style model's blends."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import make_names, make_styles, write_styles

import charsmith
from charsmith._corpus import make_labelled_corpus
from charsmith._labelled import read_labelled
from charsmith._novelty import is_known, item_hashes
from charsmith.categories import Categories, posterior
from charsmith.checkpoint import Checkpoint
from charsmith.config import ModelConfig, TrainConfig
from charsmith.errors import CategoryError, DataError
from charsmith.openvocab import LEGACY_MASS
from charsmith.vocab import Vocab

CATS = Categories(("Italian", "Japanese", "Irish"), (6, 3, 1))


# ----- conditions ------------------------------------------------------------------------
@pytest.mark.parametrize("spec, want", [
    ("Japanese", [0, 1, 0]),
    ("Japanese=0.7,Italian=0.3", [0.3, 0.7, 0]),
    (" Japanese = 3 , Irish=1 ", [0, 0.75, 0.25]),
    ("Japanese,Irish", [0, 0.5, 0.5]),
    ({"Italian": 2, "Irish": 2.0}, [0.5, 0, 0.5]),
    ("Italian=0,Irish=1", [0, 0, 1]),
])
def test_conditions_become_weights_summing_to_one(spec: object, want: list[float]) -> None:
    np.testing.assert_allclose(CATS.weights(spec), want)  # type: ignore[arg-type]


@pytest.mark.parametrize("spec, message", [
    ("Japanes", "unknown category 'Japanes'; this model knows: Italian, Japanese, Irish"),
    ("Japanese=0,Italian=0", "sum to 0; give at least one positive weight"),
    ("Japanese=-0.5,Italian=1", "'Japanese' is -0.5; weights must be finite and >= 0"),
    ("Japanese=nan", "weights must be finite"),
    ("Japanese=inf,Irish=1", "weights must be finite"),
    ("Japanese=lots", "'lots', not a number"),
    ("Japanese=", "cannot read the category"),
    ("Japanese,,Irish", "cannot read the category"),
    ("Irish=1,Irish=2", "'Irish' is given twice"),
    ({"Irish": "1"}, "maps names to numbers"),
    (3, "a category is a name"),
])
def test_bad_conditions_are_category_errors(spec: object, message: str) -> None:
    with pytest.raises(CategoryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        CATS.weights(spec)  # type: ignore[arg-type]


def test_a_category_for_a_model_without_categories(trained: Path) -> None:
    m = charsmith.load(trained)
    with pytest.raises(CategoryError, match="trained without categories; drop the category"):
        m.sample(2, category="Irish")
    with pytest.raises(CategoryError, match="cannot classify"):
        m.classify(["bado"])


# ----- Bayes' rule on a model whose likelihoods are known in closed form -------------------
def hand_model(counts: tuple[int, int] = (3, 1)) -> charsmith.CharModel:
    """A 1-layer tanh RNN whose state ignores the characters: h = tanh(b + e_c @ W_cat) =
    tanh(10) e_c for category c, so every step predicts p_c = softmax(tanh(10) W_out[c] + b_out)."""
    cfg = ModelConfig("rnn", 3, 2, categories=2, cat_embed=2)
    params = {
        "cat": np.eye(2), "W_cat": 10 * np.eye(2), "l0.W_ih": np.zeros((3, 2)), "l0.W_hh": np.zeros((2, 2)),
        "l0.b": np.zeros(2), "W_out": np.array([[0.0, 1.5, -1.0], [0.5, -1.0, 1.0]]), "b_out": np.array([0.2, 0, 0]),
    }
    ckpt = Checkpoint(cfg, Vocab("\nab"), params, TrainConfig(), None, {}, Categories(("A", "B"), counts))
    return charsmith.CharModel(ckpt)


def closed_form_loglik(item: str) -> np.ndarray:
    """(2,) log P(item | c): the product of (1 - u) p_c over the item's characters and its end
    (u: the unknown class's mass, charsmith.openvocab; this checkpoint has the legacy one)."""
    W = np.array([[0.0, 1.5, -1.0], [0.5, -1.0, 1.0]])
    logp = []
    for c in range(2):
        z = math.tanh(10.0) * W[c] + np.array([0.2, 0, 0])
        lp = z - math.log(np.exp(z).sum())
        logp.append(sum(lp[" \nab".index(ch) - 1] + math.log1p(-LEGACY_MASS) for ch in item + "\n"))
    return np.array(logp)


@pytest.mark.parametrize("uniform", [False, True])
def test_classify_is_bayes_rule(uniform: bool) -> None:
    m = hand_model((3, 1))
    items = ["a", "ab", "bbb", "abba"]
    got = m.classify(items, uniform_prior=uniform)
    prior = np.array([0.5, 0.5]) if uniform else np.array([0.75, 0.25])
    for r, item in zip(got, items):
        joint = np.exp(closed_form_loglik(item)) * prior
        want = dict(zip("AB", joint / joint.sum()))
        assert dict(r.probs) == pytest.approx(want, rel=1e-9)
        assert [p for _, p in r.probs] == sorted((p for _, p in r.probs), reverse=True)
    # the likelihoods themselves, and the mixture score log sum_c P(x|c) pi_c
    np.testing.assert_allclose([m.score(["ab"], category=c)[0].logprob for c in "AB"], closed_form_loglik("ab"))
    mix = np.log((np.exp(closed_form_loglik("ab")) * [0.75, 0.25]).sum())
    assert m.score(["ab"])[0].logprob == pytest.approx(mix, rel=1e-12)
    blend = m.score(["ab"], category="A=1,B=3")[0].logprob  # a blend is one model, not a mixture
    assert np.isfinite(blend) and not math.isclose(blend, mix, rel_tol=1e-6)


def test_classify_does_not_underflow_on_long_items() -> None:
    """P(x | c) of a 490-character item is below exp(-750): a naive product underflows to 0/0."""
    m = hand_model((3, 1))
    item = "ab" * 245
    ll = closed_form_loglik(item)
    assert np.exp(ll).max() == 0.0  # what the naive formula would divide
    probs = dict(m.classify([item])[0].probs)
    z = ll + np.log([0.75, 0.25])
    want = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    assert probs == pytest.approx(dict(zip("AB", want)), rel=1e-9)
    assert m.classify([item], top=1)[0].probs == [("A" if want[0] > want[1] else "B", pytest.approx(want.max()))]


def test_posterior_handles_a_zero_prior() -> None:
    p = posterior(np.array([[-1.0, -2.0, -0.5]]), Categories(("a", "b", "c"), (1, 1, 0)).log_priors())
    assert p[0, 2] == 0.0 and p.sum() == pytest.approx(1.0)


# ----- labelled data -----------------------------------------------------------------------
def test_folder_and_tsv_read_the_same(tmp_path: Path) -> None:
    folder = write_styles(tmp_path / "f", n=20)
    tsv = tmp_path / "t.tsv"
    styles = make_styles(20)
    tsv.write_text("\n".join(f"{c}\t{s}" for c in ("ki", "bo") for s in styles[c]) + "\n\n")
    a, b = read_labelled(folder, lowercase=False), read_labelled(tsv, lowercase=False)
    assert a.names == b.names == ("bo", "ki")  # sorted; the hidden .notes.txt is skipped
    assert sorted(zip(a.cats.tolist(), a.items)) == sorted(zip(b.cats.tolist(), b.items))


def test_split_is_stratified_with_per_category_overlap(tmp_path: Path) -> None:
    tsv = tmp_path / "t.tsv"
    rows = [("big", s) for s in make_names(200, seed=1)] + [("small", f"x{i}") for i in range(10)]
    rows += [("small", "x1")] * 30 + [("one", "solo")]  # repeats: held-out copies occur in training
    tsv.write_text("".join(f"{c}\t{s}\n" for c, s in rows))
    corpus = make_labelled_corpus(read_labelled(tsv, lowercase=False), val_fraction=0.1,
                                  rng=np.random.default_rng(0))
    cats = corpus.categories
    assert cats.names == ("big", "one", "small")
    held = np.bincount(corpus.val_cats, minlength=3)
    assert held.tolist() == [20, 0, 4] and list(cats.counts) == [180, 1, 36]
    val_small = [s for s, c in zip(corpus.val, corpus.val_cats) if c == 2]
    train_small = {s for s, c in zip(corpus.train, corpus.train_cats) if c == 2}
    assert corpus.overlaps[2] == sum(s in train_small for s in val_small) >= 1
    assert corpus.overlap == sum(corpus.overlaps)


@pytest.mark.parametrize("text, message", [
    ("a\tanna\nb\tbob\nclara\n", "line 3 is not category<TAB>item: 'clara'"),
    ("a\tanna\n\n\tbob\n", "line 3 is not category<TAB>item"),
    ("a\tanna\nb\t\n", "line 2 is not category<TAB>item"),
    ("a\tanna\nb\tbo\tb\n", "line 2 is not category<TAB>item"),
    ("a,b\tanna\n", "line 1: category name 'a,b' must be"),
])
def test_malformed_labelled_lines(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "t.tsv").write_text(text)
    with pytest.raises(DataError, match=message):
        read_labelled(tmp_path / "t.tsv", lowercase=False)


def test_bad_category_folders(tmp_path: Path) -> None:
    folder = write_styles(tmp_path / "f", n=5)
    (folder / "empty.txt").write_text("\n  \n")
    with pytest.raises(DataError, match=r"empty\.txt is empty or holds only blank lines"):
        read_labelled(folder, lowercase=False)
    (folder / "empty.txt").unlink()
    (folder / "bo.csv").write_text("x\n")
    with pytest.raises(DataError, match=r"bo\.csv and bo\.txt .* name the same category"):
        read_labelled(folder, lowercase=False)
    (tmp_path / "none").mkdir()
    with pytest.raises(DataError, match="holds no files"):
        read_labelled(tmp_path / "none", lowercase=False)


# ----- novelty covers the whole input ------------------------------------------------------
@pytest.mark.parametrize("labelled", [False, True])
def test_known_covers_every_item_held_out_ones_included(tmp_path: Path, labelled: bool) -> None:
    """Novel means "not in the user's file": every item of the input, whichever category and
    whether trained on or held out, is known to the checkpoint."""
    if labelled:
        path = write_styles(tmp_path / "data", n=60)
        items = [s for f in ("bo.txt", "ki.txt") for s in (path / f).read_text().split()]
    else:
        path = tmp_path / "names.txt"
        items = make_names(120, seed=7)
        path.write_text("\n".join(items) + "\n")
    m = charsmith.train(path, tmp_path / "run", cell="gru", hidden=8, steps=2, eval_every=2, val_fraction=0.25)
    assert is_known(items, m.ckpt.known).all()
    assert m.ckpt.known.size == item_hashes(items).size
    assert not is_known(["zzqqzz"], m.ckpt.known).any()


# ----- a model trained on two styles ---------------------------------------------------------
def mean_p_bo(m: charsmith.CharModel, items: list[str]) -> float:
    return float(np.mean([dict(r.probs)["bo"] for r in m.classify(items, uniform_prior=True)]))


def test_blend_samples_score_between_the_pure_categories(styled: Path) -> None:
    """Under the classifier, a 50/50 blend's samples sit between the two pure categories'."""
    m = charsmith.load(styled)
    draw = {c: m.sample(200, seed=1, category=c, allow_known=True).samples for c in ("bo", "ki", "bo=1,ki=1")}
    pure_bo, blend, pure_ki = (mean_p_bo(m, draw[c]) for c in ("bo", "bo=1,ki=1", "ki"))
    print(f"mean P(bo | sample): bo {pure_bo:.3f}, 50/50 blend {blend:.3f}, ki {pure_ki:.3f}")
    assert pure_bo > 0.9 and pure_ki < 0.1  # the model learned the two styles
    assert pure_bo - 0.1 > blend > pure_ki + 0.1, (pure_bo, blend, pure_ki)


def test_classify_and_sample_use_the_training_priors(styled: Path) -> None:
    m = charsmith.load(styled)
    assert m.categories == ["bo", "ki"] and m.ckpt.categories.counts == (540, 270)
    styles = make_styles(100, seed=9)
    acc = np.mean([r.best == c for c in ("bo", "ki") for r in m.classify(styles[c])])
    assert acc > 0.95
    # no category: each item's category drawn from the priors (2:1)
    share = np.mean([r.best == "bo" for r in m.classify(m.sample(300, seed=4, allow_known=True).samples)])
    assert 0.55 < share < 0.8


def test_evaluate_labelled_and_plain_files(styled: Path, tmp_path: Path) -> None:
    m = charsmith.load(styled)
    styles = make_styles(30, seed=11)
    tsv = tmp_path / "held.tsv"
    tsv.write_text("".join(f"{c}\t{s}\n" for c in ("ki", "bo") for s in styles[c]))
    r = m.evaluate(tsv)
    want = [sc for c in ("ki", "bo") for sc in m.score(styles[c], category=c)]
    assert r.n_items == 60 and r.loss == pytest.approx(-sum(s.logprob for s in want) / sum(s.n_chars for s in want))
    mixture = [sc for c in ("ki", "bo") for sc in m.score(styles[c])]
    assert r.loss < -sum(s.logprob for s in mixture) / r.n_chars  # knowing the category helps
    plain = tmp_path / "ki.txt"
    plain.write_text("\n".join(styles["ki"]) + "\n")
    as_ki, as_bo = m.evaluate(plain, category="ki").loss, m.evaluate(plain, category="bo").loss
    assert as_ki < m.evaluate(plain).loss < as_bo  # the mixture lies between
    with pytest.raises(CategoryError, match="is labelled, so each item is scored under its own category"):
        m.evaluate(tsv, category="ki")
    tsv.write_text("xx\tbadon\n")
    with pytest.raises(CategoryError, match="unknown category 'xx'; this model knows: bo, ki"):
        m.evaluate(tsv)
    with pytest.raises(CategoryError, match="depend on the category"):
        m.most_likely(2)
    assert len(m.most_likely(2, category="ki")) == 2


@pytest.mark.parametrize("name, file, lower", [("dinosaurs", "dinos.txt", True),
                                               ("names", "makemore_names.txt", False)])
def test_bundled_models_know_every_item_of_their_data(shared_data: Path, name: str, file: str, lower: bool) -> None:
    items = [s.strip() for s in (shared_data / file).read_text().splitlines() if s.strip()]
    m = charsmith.load(name)
    assert is_known([s.lower() for s in items] if lower else items, m.ckpt.known).all()


@pytest.mark.parametrize("init", [False, True])
def test_labelled_and_fine_tuned_runs_resume_bit_identical(tmp_path: Path, trained: Path, init: bool) -> None:
    """Each batch's categories come with the batch order, so an interrupted labelled run (or a
    run started from another model's weights) resumes to the very weights of an uninterrupted one."""
    from charsmith.api import make_trainer

    folder = write_styles(tmp_path / "data", n=80, seed=4)
    options = dict(steps=24, eval_every=8, batch_size=16, seed=3, lr=1e-2, warmup_steps=4, dropout=0.2)
    options.update(init=str(trained)) if init else options.update(cell="gru", hidden=16, embed=8, cat_embed=4)
    reference = make_trainer(folder, tmp_path / "ref", **options)
    reference.run()
    trainer = make_trainer(folder, tmp_path / "run", **options)
    for stop in (5, 8, 17):
        trainer.run(lambda p, s=stop, t=trainer: t.request_stop() if p.kind == "step" and p.step == s else None)
        trainer = make_trainer(folder, tmp_path / "run", resume=True, **options)
        assert trainer.step == stop
    assert trainer.run().reason == "steps"
    assert reference.model_cfg.categories == 2 and reference.cfg.init == (str(trained) if init else "")
    for k, p in reference.params.items():
        np.testing.assert_array_equal(trainer.params[k], p, err_msg=k)


def test_categories_with_constraints_and_beam_search(styled: Path) -> None:
    """The condition reaches every generation path through the Stepper: constrained sampling
    (rejection or SMC), streaming and beam search."""
    m = charsmith.load(styled)
    got = m.sample(40, seed=3, category="ki", suffix="is", allow_known=True)
    assert len(got.samples) == 40 and all(s.endswith("is") for s in got.samples)
    assert mean_p_bo(m, got.samples) < 0.1  # still in the ki style
    rare = m.sample(10, seed=3, category="bo", contains="gal", allow_known=True, max_draws=5000)
    assert rare.method == "rejection" and len(rare.samples) == 10 and all("gal" in s for s in rare.samples)
    assert mean_p_bo(m, rare.samples) > 0.9
    rarer = m.sample(10, seed=3, category="bo", contains="ki", allow_known=True, max_draws=5000)  # the other style's
    assert rarer.method == "smc" and len(rarer.samples) == 10 and all("ki" in s for s in rarer.samples)
    streamed = list(m.stream(5, seed=3, category="ki"))
    assert streamed == m.sample(5, seed=3, category="ki").samples
    best_ki, best_bo = (m.most_likely(3, category=c, allow_known=True) for c in ("ki", "bo"))
    assert [s for s, _ in best_ki] != [s for s, _ in best_bo]
    assert all(lp == pytest.approx(m.score([s], category="ki")[0].logprob, abs=1e-4) for s, lp in best_ki)


def test_a_stepper_drawing_categories_needs_an_rng(styled: Path) -> None:
    from charsmith.generation import Stepper

    m = charsmith.load(styled)
    with pytest.raises(ValueError, match="needs an rng"):
        Stepper(m.ckpt.params, m.ckpt.model, priors=np.array([0.5, 0.5])).prime(np.array([0]), 3)
    x, rows = Stepper(m.ckpt.params, m.ckpt.model, cond=np.array([0.0, 1.0])).prime(np.array([0, 3]), 4)
    assert rows.extras["cond"].tolist() == [1, 1, 1, 1] and (x == 3).all()  # a category: its id, not a one-hot row
    _, rows = Stepper(m.ckpt.params, m.ckpt.model, cond=np.array([0.25, 0.75])).prime(np.array([0, 3]), 4)
    assert rows.extras["cond"].shape == (4, 2) and (rows.extras["cond"] == [0.25, 0.75]).all()  # a blend's weights


def test_accuracy_is_micro_over_items_and_macro_over_labels() -> None:
    from charsmith.categories import accuracy

    acc = accuracy(["a", "a", "a", "b"], ["a", "a", "b", "a"])
    assert (acc.micro, acc.items, acc.recall) == (0.5, 4, {"a": 2 / 3, "b": 0.0})
    assert acc.macro == pytest.approx(1 / 3)  # not the micro figure: the labels weigh alike
    with pytest.raises(ValueError, match="one guess per label"):
        accuracy(["a"], [])


def test_a_comment_on_the_first_line_does_not_unlabel_a_file(tmp_path: Path) -> None:
    from charsmith._labelled import is_labelled

    tsv = tmp_path / "t.tsv"
    tsv.write_text("# my names\na\tanna\nb\tbob\nb\tbert\n")
    assert is_labelled(tsv)  # most lines are category<TAB>item: the stray line is named, not swallowed
    with pytest.raises(DataError, match=r"line 1 is not category<TAB>item: '# my names'"):
        read_labelled(tsv, lowercase=False)
    plain = tmp_path / "plain.txt"
    plain.write_text("anna\tx\nbob\nbert\n")  # one tab in a plain list
    assert not is_labelled(plain)


def test_category_names_are_compared_composed(tmp_path: Path) -> None:
    import unicodedata

    decomposed = unicodedata.normalize("NFD", "Itälian")  # as macOS spells file names
    assert decomposed != "Itälian"
    folder = tmp_path / "cats"
    folder.mkdir()
    (folder / f"{decomposed}.txt").write_text("Rossi\nBianchi\n")
    (folder / "Japanese.txt").write_text("Tanaka\n")
    assert read_labelled(folder, lowercase=False).names == ("Itälian", "Japanese")
    tsv = tmp_path / "t.tsv"
    tsv.write_text(f"Itälian\tRossi\n{decomposed}\tBianchi\nJapanese\tTanaka\n")
    assert read_labelled(tsv, lowercase=False).names == ("Itälian", "Japanese")  # one category, not two
    from charsmith.categories import Categories

    old = Categories((decomposed, "Japanese"), (2, 1))  # names an earlier charsmith kept as read
    assert old.index("Itälian") == 0 and Categories(("Itälian", "Japanese"), (2, 1)).index(decomposed) == 0
