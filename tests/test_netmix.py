"""A network mixed with the n-gram model of its training items (charsmith.netmix, ``mix_order``):
one checkpoint of kind mixture that samples, scores and classifies, the default for long
labelled lists."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import make_styles, write_styles
from test_cli import run

import charsmith
from charsmith import calibration, mixture, ngram
from charsmith.api import plan_run
from charsmith.checkpoint import load_checkpoint, save_checkpoint
from charsmith.defaults import LABELLED_MIX_ORDER
from charsmith.errors import InputError
from charsmith.mixture import MixtureConfig
from charsmith.netmix import mix_network, mix_networks
from charsmith.scoring import score_items


def test_the_mixed_run_keeps_the_network_and_adds_the_ngram_model(styled: Path, styled_mix: Path) -> None:
    net, mixed = load_checkpoint(styled), load_checkpoint(styled_mix)
    assert isinstance(mixed.model, MixtureConfig) and mixed.model.nets == 1 and mixed.model.ngram.order == 3
    assert mixed.model.net == net.model and mixed.categories == net.categories
    nets, ng = mixture.split(mixed.params, mixed.model)
    assert all(np.array_equal(nets[0][k], net.params[k]) for k in net.params)  # the same network, trained the same
    facts = mixed.info["mix"]
    assert facts["order"] == 3 and len(facts["weights"]) == 4 and all(0 <= w <= 1 for w in facts["weights"])
    # EM reaches about what the better part alone gives on the held-out items it was fitted on (its one
    # pseudo-count per weight keeps a weight off 0 and 1)
    assert facts["val_loss_mixture"] <= min(facts["val_loss_network"], facts["val_loss_ngram"]) + 5e-3
    assert mixed.info["best_val_loss"] == facts["val_loss_mixture"]


def test_the_mixture_scores_each_character_as_the_weighted_mean(styled: Path, styled_mix: Path) -> None:
    net, mixed = load_checkpoint(styled), load_checkpoint(styled_mix)
    _, ng = mixture.split(mixed.params, mixed.model)
    item, cat = "gadolan", 0
    p_net = np.exp(score_items(net.params, net.model, net.vocab, [item], cond=np.array([cat]))[0].char_logprobs)
    seq = mixed.vocab.encode(item)
    grams, gcats = ngram.item_grams([seq], np.array([cat]), 3)
    probs, used = ngram.lookup(ng, mixed.model.ngram, grams[:, :-1], gcats)
    want = mixture.combine(p_net, probs[np.arange(len(grams)), grams[:, -1]], used, mixed.params[mixture.WEIGHTS])
    got = score_items(mixed.params, mixed.model, mixed.vocab, [item], cond=np.array([cat]))[0].char_logprobs
    assert np.allclose(got, np.log(want), atol=1e-9)


def test_the_mixture_classifies_and_samples_after_a_round_trip(styled_mix: Path, tmp_path: Path) -> None:
    m = charsmith.load(styled_mix)
    copy = tmp_path / "copy"
    save_checkpoint(copy, m.ckpt)
    again = charsmith.load(copy)
    items = ["gadolon", "kisetiki", "gadőlon", "kƨseki"]  # two of them with a character training lacks
    a, b = m.classify(items, top=2), again.classify(items, top=2)
    assert [r.best for r in a] == ["bo", "ki", "bo", "ki"] and [r.unknown_chars for r in a] == [0, 0, 1, 1]
    assert [r.probs for r in a] == [r.probs for r in b]
    for cat, letters in (("bo", set("bdglaon")), ("ki", set("kstzies"))):
        samples = again.sample(50, category=cat, seed=1).samples
        assert samples == m.sample(50, category=cat, seed=1).samples
        assert sum(set(s) <= letters for s in samples) >= 45  # each style writes its own letters
        assert sum(r.best == cat for r in again.classify(samples)) >= 45


def test_mix_order_needs_items_held_out(tmp_path: Path) -> None:
    folder = write_styles(tmp_path / "data", n=100, seed=1)
    with pytest.raises(InputError, match="held-out items and there are none") as e:
        charsmith.train(folder, tmp_path / "run", cell="gru", hidden=8, steps=2, val_fraction=0.0, mix_order=3)
    assert e.value.param == "mix_order"
    text = tmp_path / "play.txt"
    text.write_text("ROMEO: but soft, what light through yonder window breaks?\n" * 50)
    with pytest.raises(InputError, match="a running text has no items"):
        charsmith.train(text, tmp_path / "run2", mode="text", cell="gru", hidden=8, steps=2, mix_order=3)
    wide = tmp_path / "wide"  # 2 categories and 80 symbols: an order-10 n-gram's keys would pass 2**62
    wide.mkdir()
    letters = [chr(c) for c in range(33, 112)]
    for cat in ("a", "b"):
        (wide / f"{cat}.txt").write_text("\n".join("".join(letters[(i + j) % 79] for j in range(5)) for i in range(80)))
    with pytest.raises(InputError, match="order 10 is too high for") as e:  # refused before the network trains
        charsmith.train(wide, tmp_path / "run3", cell="gru", hidden=8, steps=2, mix_order=10)
    assert e.value.param == "mix_order" and not (tmp_path / "run3" / "config.json").exists()
    assert not (tmp_path / "run" / "config.json").exists()


def test_long_labelled_lists_get_the_mixture_by_default(tmp_path: Path) -> None:
    styles = make_styles(4000, seed=5)  # > 50,000 training characters: a long list
    folder = tmp_path / "long"
    folder.mkdir()
    for cat, names in styles.items():
        (folder / f"{cat}.txt").write_text("\n".join(names) + "\n")
    plain = tmp_path / "plain.txt"
    plain.write_text("\n".join(styles["bo"] + styles["ki"]) + "\n")
    short = write_styles(tmp_path / "short", n=200, seed=1)
    assert plan_run(folder)[2].mix_order == LABELLED_MIX_ORDER > 0
    assert plan_run(folder, mix_order=0)[2].mix_order == 0  # an explicit choice wins
    assert plan_run(folder, val_fraction=0.0)[2].mix_order == 0  # nothing held out to fit the weights on
    assert plan_run(plain)[2].mix_order == 0  # unlabelled: the network alone
    assert plan_run(short, cell="gru")[2].mix_order == LABELLED_MIX_ORDER  # a short labelled list too
    short_plain = tmp_path / "short.txt"
    short_plain.write_text("\n".join(styles["bo"][:300]) + "\n")
    assert plan_run(short_plain, cell="gru")[2].mix_order == 0


def test_the_cli_trains_a_mixture_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_styles(tmp_path / "data", n=200, seed=3)
    out = tmp_path / "run"
    code, stdout, stderr = run(["train", str(folder), "--out", str(out), "--model", "gru", "--hidden", "16",
                                "--steps", "60", "--eval-every", "30", "--cat-embed", "4", "--mix-order", "2"], capsys)
    assert code == 0, stderr
    assert "mixed with the items' n-gram model of order 2" in stdout
    ck = load_checkpoint(out)
    assert isinstance(ck.model, MixtureConfig) and ck.model.ngram.order == 2
    assert math.isfinite(ck.info["mix"]["val_loss_mixture"])
    code, _, stderr = run(["train", str(folder), "--out", str(tmp_path / "bad"), "--mix-order", "-1"], capsys)
    assert code == 2 and "--mix-order" in stderr


def test_a_run_can_start_from_a_mixed_run(styled_mix: Path, tmp_path: Path) -> None:
    folder = write_styles(tmp_path / "data", n=100, seed=6)
    m = charsmith.train(folder, tmp_path / "run", init=str(styled_mix), steps=5, eval_every=5)
    assert m.ckpt.info["init"] == str(styled_mix)  # its network's weights, the n-gram model left behind
    net = load_checkpoint(styled_mix).model.net  # type: ignore[union-attr]
    assert isinstance(m.ckpt.model, type(net)) and (m.ckpt.model.cell, m.ckpt.model.hidden) == (net.cell, net.hidden)


def test_a_resumed_mixed_run_mixes_its_new_network(tmp_path: Path) -> None:
    folder = write_styles(tmp_path / "data", n=150, seed=7)
    out = tmp_path / "run"
    opts = dict(cell="gru", hidden=16, cat_embed=4, eval_every=10, lr=1e-2, seed=0, mix_order=2)
    first = charsmith.train(folder, out, steps=10, **opts).ckpt
    again = charsmith.train(folder, out, resume=True, steps=40).ckpt
    assert isinstance(first.model, MixtureConfig) and isinstance(again.model, MixtureConfig)
    assert again.info["step"] > first.info["step"]  # a better network was saved, then mixed in turn
    assert again.info["mix"]["val_loss_network"] < first.info["mix"]["val_loss_network"]
    done = charsmith.train(folder, out, resume=True, steps=40).ckpt  # nothing left to train: kept as it is
    assert done.info == again.info and isinstance(done.model, MixtureConfig)


def _styled_corpus(styled: Path):  # the corpus the `styled` network was trained on (its options, its split)
    corpus, _, _ = plan_run(styled.parent / "data", cell="gru", hidden=48, embed=16, cat_embed=4, dropout=0.0,
                            weight_decay=0.0, batch_size=32, lr=1e-2, steps=400, seed=0)
    assert corpus.fingerprint == load_checkpoint(styled).info["data_fingerprint"]
    return corpus


def test_the_calibration_is_fitted_on_the_held_out_items_and_their_categories(styled_mix: Path, styled: Path) -> None:
    mixed, corpus = load_checkpoint(styled_mix), _styled_corpus(styled)
    L = calibration.part_logliks(mixed.params, mixed.model, mixed.vocab, list(corpus.val))
    want = calibration.fit(L, np.asarray(corpus.val_cats), mixed.categories.log_priors())
    assert np.allclose(mixed.params[mixture.CALIBRATION], want, atol=1e-9)
    wrong = calibration.fit(L, 1 - np.asarray(corpus.val_cats), mixed.categories.log_priors())  # labels swapped
    assert not np.allclose(mixed.params[mixture.CALIBRATION], wrong, atol=0.1)


def test_an_ensemble_of_networks_mixes_their_mean_distribution(styled: Path, tmp_path: Path) -> None:
    net = load_checkpoint(styled)
    corpus = _styled_corpus(styled)
    rng = np.random.default_rng(0)  # a second network of the same shape: the first one, perturbed
    other = dataclasses.replace(net, params={k: v + rng.normal(0, 0.3, v.shape).astype(v.dtype)
                                             for k, v in net.params.items()})
    one, facts1 = mix_network(net, corpus, 3)
    two, facts2 = mix_networks([net, other], corpus, 3)
    assert isinstance(two.model, MixtureConfig) and two.model.nets == 2 and "val_loss_networks" not in facts1
    assert facts2["val_loss_networks"][0] == round(facts1["val_loss_network"], 4)
    assert facts2["val_loss_mixture"] <= facts2["val_loss_ngram"] + 5e-3
    assert facts2["weights"] != facts1["weights"]  # fitted again, on the ensemble's probabilities
    # each character: lam[u] * the mean of the networks' probabilities + (1 - lam[u]) * the n-gram model's
    _, ng = mixture.split(two.params, two.model)
    item, cat = "kisetiki", 1
    p_nets = [np.exp(score_items(ck.params, ck.model, ck.vocab, [item], cond=np.array([cat]))[0].char_logprobs)
              for ck in (net, other)]
    grams, gcats = ngram.item_grams([two.vocab.encode(item)], np.array([cat]), 3)
    probs, used = ngram.lookup(ng, two.model.ngram, grams[:, :-1], gcats)
    want = mixture.combine((p_nets[0] + p_nets[1]) / 2, probs[np.arange(len(grams)), grams[:, -1]], used,
                           two.params[mixture.WEIGHTS])
    got = score_items(two.params, two.model, two.vocab, [item], cond=np.array([cat]))[0].char_logprobs
    assert np.allclose(got, np.log(want), atol=1e-9)
    # classification reads the networks' part as their mean distribution (charsmith.calibration)
    L = calibration.part_logliks(two.params, two.model, two.vocab, [item])
    assert two.model.calibrated and np.isclose(L[0, 0, cat], np.log((p_nets[0] + p_nets[1]) / 2).sum(), atol=1e-9)
    save_checkpoint(tmp_path / "ens", two)  # one checkpoint that samples and classifies
    m = charsmith.load(tmp_path / "ens")
    assert m.classify(["gadolon"], top=1)[0].best == "bo"
    assert len(m.sample(5, category="ki", seed=0).samples) == 5


def test_an_ensemble_needs_networks_of_one_shape(styled: Path, styled_mix: Path) -> None:
    net, corpus = load_checkpoint(styled), _styled_corpus(styled)
    other = dataclasses.replace(net, model=dataclasses.replace(net.model, dropout=0.5))  # another config
    with pytest.raises(InputError, match="one shape, vocabulary and set of categories"):
        mix_networks([net, other], corpus, 3)
    with pytest.raises(TypeError, match="mixes networks, not a mixture"):
        mix_networks([net, load_checkpoint(styled_mix)], corpus, 3)
