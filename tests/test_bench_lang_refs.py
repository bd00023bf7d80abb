"""The names-by-language references (benchmarks/lang_trigram.py, lang_refs.py): Witten-Bell
probabilities by hand and summing to one, Naive Bayes decisions, and the accuracy figures."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
if not (BENCH / "lang_trigram.py").is_file():  # tests/ copied out of the source checkout
    pytest.skip(f"the benchmark scripts these tests check are in the source checkout's benchmarks/, not in {BENCH}",
                allow_module_level=True)
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import lang_refs  # noqa: E402
import lang_trigram  # noqa: E402
from lang_trigram import END, START  # noqa: E402


def test_witten_bell_by_hand() -> None:
    # One name "ab" over outcomes a, b, END (uniform 1/3). Unigram: each seen once, 3 types
    # -> (1 + 3/3) / (3 + 3) = 1/3. Bigram after "a": b once, 1 type -> (1 + 1/3) / 2 = 2/3.
    # Trigram after START "a": b once -> (1 + 2/3) / 2 = 5/6.
    wb = lang_trigram.WittenBell(["ab"], ["a", "b", END])
    assert wb.prob("b", START, "a") == pytest.approx(5 / 6)
    assert wb.prob("a", START, "a") == pytest.approx((0 + (0 + 1 / 3) / 2) / 2)  # 1/12
    assert wb.prob("b", "x", "y") == pytest.approx(1 / 3)  # unseen contexts: the unigram
    expected = math.log(wb.prob("a", START, START)) + math.log(5 / 6) + math.log(wb.prob(END, "a", "b"))
    assert wb.logprob("ab") == pytest.approx(expected)


@pytest.mark.parametrize("context", [(START, START), (START, "A"), ("a", "r"), ("q", "x"), ("z", "z")])
def test_witten_bell_sums_to_one(context: tuple[str, str]) -> None:
    names = ["Abbas", "Abboud", "Araya", "Arrazi", "Asker", "Azar", "Bazzi"]
    outcomes = [*sorted({ch for n in names for ch in n} | set("qxz")), END]
    wb = lang_trigram.WittenBell(names, outcomes)
    total = sum(wb.prob(w, *context) for w in outcomes)
    assert total == pytest.approx(1.0, abs=1e-12)
    assert min(wb.prob(w, *context) for w in outcomes) > 0


def test_naive_bayes_prior_decides_an_ambiguous_name() -> None:
    train = [("big", "ab")] * 9 + [("big", "cd")] + [("small", "ab"), ("small", "cd")]
    lm = lang_trigram.fit(train, list("abcd"))
    # "cd" is likelier under "small" (half its names) than under "big" (a tenth), so the
    # uniform prior picks "small"; the 10:2 training prior outweighs the likelihood ratio.
    ll = dict(zip(lm.categories, lm.log_likelihoods("cd")))
    assert ll["small"] > ll["big"]
    assert lm.classify(["cd"], uniform_prior=True) == ["small"]
    assert lm.classify(["cd"]) == ["big"]
    # read_both_priors does the same from log-likelihoods (a uniform-prior score)
    scores = np.array([lm.log_likelihoods("cd")])
    log_prior = np.array([lm.log_prior[c] for c in lm.categories])
    both = lang_refs.read_both_priors(scores, "uniform", ["small"], lm.categories, log_prior)
    assert (both["micro_uniform_prior"], both["micro_training_prior"]) == (1.0, 0.0)


def test_accuracy_micro_and_macro() -> None:
    truth = ["a", "a", "a", "b"]
    pred = ["a", "a", "b", "a"]
    micro, macro = lang_refs.accuracy(truth, pred)
    assert micro == pytest.approx(2 / 4)
    assert macro == pytest.approx((2 / 3 + 0 / 1) / 2)
