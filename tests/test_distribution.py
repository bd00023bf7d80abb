"""The right distribution: items follow the model conditioned on the constraints.

On a tiny model every item's probability is known by enumeration, so rejection and SMC are
checked against the exact conditional distribution; on a bundled model they are checked
against plain sampling followed by rejection, on low-dimensional statistics. In both, the
masked sampler without the SMC correction must fail the same tolerance, so the tests can
tell the two apart. Beam search is checked against exhaustive enumeration.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
import pytest

import charsmith
from charsmith import model as M
from charsmith.config import ModelConfig
from charsmith.generation import Constraints, Controls, SampleStream, Stepper, beam_search, sample_items
from charsmith.generation._plain import decode, draw_matches
from charsmith.generation._smc import smc_draws
from charsmith.scoring import score_items
from charsmith.vocab import Vocab

TINY = Vocab("\nab")
L = 6  # every item of at most L characters is enumerated
ITEMS = ["".join(p) for n in range(1, L + 1) for p in itertools.product("ab", repeat=n)]


@pytest.fixture(scope="module")
def tiny() -> tuple[Stepper, np.ndarray]:
    """A GRU over 'ab' with random weights scaled up (so the model has preferences), and the
    log-probability of every item of at most L characters."""
    cfg = ModelConfig("gru", TINY.size, hidden=6, embed=0)
    params = {k: 3 * w for k, w in M.init_params(cfg, np.random.default_rng(3), np.float64).items()}
    logp = np.array([s.logprob for s in score_items(params, cfg, TINY, ITEMS)])
    return Stepper(params, cfg), logp


def exact(c: Constraints, logp: np.ndarray) -> np.ndarray:
    """p(item | constraints) over ITEMS."""
    plan = c.plan(TINY)
    ok = np.array([s.startswith(c.prefix) and plan.dfa.matches(TINY.encode(s))
                   and plan.min_len <= len(s) <= plan.max_len for s in ITEMS])
    p = np.where(ok, np.exp(logp), 0.0)
    return p / p.sum()


def histogram(items: Sequence[str], keys: Sequence[str]) -> np.ndarray:
    index = {k: i for i, k in enumerate(keys)}
    return np.bincount([index[s] for s in items], minlength=len(keys)) / len(items)


def tv(p: np.ndarray, q: np.ndarray) -> float:
    """Total variation distance."""
    return 0.5 * float(np.abs(p - q).sum())


TINY_CASES = [
    Constraints(suffix="a", max_len=L),
    Constraints(contains="bb", max_len=L),
    Constraints(min_len=4, max_len=5),
    Constraints(pattern="(ab|b)+a?", max_len=L),
]


@pytest.mark.parametrize("c", TINY_CASES, ids=["suffix", "contains", "length", "pattern"])
def test_samples_follow_the_exact_conditional_distribution(tiny: tuple[Stepper, np.ndarray], c: Constraints) -> None:
    """3,000 items per sampler, seed 0; tolerance: total variation 0.1 from the exact
    conditional (sampling noise alone is about 0.04 here). Masking alone is off by 0.28-0.5."""
    stepper, logp = tiny
    p = exact(c, logp)
    plan = c.plan(TINY)
    rng = np.random.default_rng(0)
    rejection = decode(TINY, c.prefix, *draw_matches(stepper, plan, Controls(), rng, 40_000))[:3000]
    smc = SampleStream(stepper, TINY, plan, Controls(), 3000, rng, particles=16, method="smc").result().samples
    masked = decode(TINY, c.prefix, *smc_draws(stepper, plan, Controls(), rng, 3000, 1, correct=False))
    assert len(rejection) == len(smc) == len(masked) == 3000
    assert tv(histogram(rejection, ITEMS), p) < 0.1
    assert tv(histogram(smc, ITEMS), p) < 0.1
    assert tv(histogram(masked, ITEMS), p) > 0.2


@pytest.mark.parametrize("c", [*TINY_CASES, Constraints(prefix="b", suffix="ba", min_len=3, max_len=L)],
                         ids=["suffix", "contains", "length", "pattern", "prefix"])
def test_beam_search_returns_the_most_likely_matching_items(tiny: tuple[Stepper, np.ndarray],
                                                            c: Constraints) -> None:
    """A beam as wide as the number of prefixes is exhaustive: the exact top items. (Their
    log-probabilities are given the prefix, so they differ from the enumeration's by the
    prefix's own log-probability.)"""
    stepper, logp = tiny
    p = exact(c, logp)
    order = np.argsort(-p, kind="stable")[:5]
    best = [(ITEMS[i], logp[i]) for i in order if p[i] > 0]
    found = beam_search(stepper, TINY, c.plan(TINY), 2 ** L, n=5)
    assert [s for s, _ in found] == [s for s, _ in best]
    gap = np.array([lp for _, lp in best]) - [lp for _, lp in found]
    np.testing.assert_allclose(gap, gap[0] if c.prefix else 0.0, atol=1e-9)
    narrow = beam_search(stepper, TINY, c.plan(TINY), 2, n=2)
    assert all(p[ITEMS.index(s)] > 0 and lp <= found[0][1] + 1e-9 for s, lp in narrow)


# ----- a bundled model, against plain sampling + rejection -----------------------------------
def _tv_of(key: Callable[[str], object], a: Sequence[str], b: Sequence[str]) -> float:
    ca, cb = Counter(map(key, a)), Counter(map(key, b))
    return 0.5 * sum(abs(ca[k] / len(a) - cb[k] / len(b)) for k in set(ca) | set(cb))


STATS: dict[str, Callable[[str], object]] = {"length": len, "first letter": lambda s: s[0],
                                             "last letter": lambda s: s[-1]}
BUNDLED_CASES = [
    (dict(suffix="a"), lambda s: s.endswith("a")),
    (dict(min_len=6, max_len=8), lambda s: 6 <= len(s) <= 8),
]


@pytest.mark.parametrize("kind, keep", BUNDLED_CASES, ids=["suffix a", "length 6-8"])
def test_bundled_model_matches_plain_sampling_and_rejection(kind: dict, keep: Callable[[str], bool]) -> None:
    """``dinosaurs`` (the cheapest bundled model; plain draws meet each case ~9% of the
    time), seed 0. The reference is 2,000 plain draws that happen to match, filtered here
    in Python. What ``CharModel.sample`` returns (exact rejection at this acceptance), SMC
    forced with 32 particles (the default is 64), and masking without the correction, 1,000
    items each, are compared on the distributions of length, first and last letter.
    Tolerance: total variation 0.15 for each (sampling noise alone reaches ~0.1 on the
    first letter). Masking alone is off by 0.4-0.85 on the length."""
    m = charsmith.load("dinosaurs")
    stepper, vocab = m.stepper(), m.ckpt.vocab
    rng = np.random.default_rng(0)
    reference: list[str] = []
    while len(reference) < 2000:
        draws = sample_items(stepper, vocab, 8192, rng)
        reference += [s for s in draws if len(s) < 50 and keep(s)]  # ended on their own, and match
    plan = m.plan(Constraints(**kind))
    returned = m.sample(1000, rng=rng, allow_known=True, **kind)
    smc = SampleStream(stepper, vocab, plan, Controls(), 1000, rng, particles=32, method="smc").result().samples
    masked = decode(vocab, "", *smc_draws(stepper, plan, Controls(), rng, 1000, 1, correct=False))
    assert returned.method == "rejection" and 0.05 < returned.acceptance < 0.15
    for name, items in [("returned", returned.samples), ("smc", smc)]:
        assert len(items) == 1000 and all(map(keep, items))
        for stat, key in STATS.items():
            assert _tv_of(key, items, reference[:2000]) < 0.15, (name, stat)
    assert _tv_of(len, masked, reference[:2000]) > 0.3
