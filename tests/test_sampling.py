"""Sampling controls, reproducibility, novelty, greedy and beam decoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import charsmith
from charsmith.data import item_hashes
from charsmith.sampling import beam_search, complete, draw, generate, next_probs, sample_items


@pytest.fixture(scope="module")
def m(trained: Path) -> charsmith.CharModel:
    return charsmith.load(trained)


def args(m: charsmith.CharModel) -> tuple:
    return m.ckpt.params, m.ckpt.model, m.ckpt.vocab


def test_next_probs_filters() -> None:
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))
    np.testing.assert_allclose(next_probs(logits), [[0.5, 0.3, 0.15, 0.05]])
    np.testing.assert_allclose(next_probs(logits, top_k=2), [[0.625, 0.375, 0, 0]])
    np.testing.assert_allclose(next_probs(logits, top_p=0.8), [[0.625, 0.375, 0, 0]])
    np.testing.assert_allclose(next_probs(logits, top_p=0.81), [[0.5, 0.3, 0.15, 0]] / np.float64(0.95))
    cold = next_probs(logits, temperature=0.01)
    assert cold[0, 0] > 0.999
    hot = next_probs(logits, temperature=100.0)
    assert np.ptp(hot) < 0.01


def test_draw_follows_the_distribution() -> None:
    p = np.tile([[0.1, 0.0, 0.6, 0.3]], (40_000, 1))
    counts = np.bincount(draw(p, np.random.default_rng(0)), minlength=4) / 40_000
    np.testing.assert_allclose(counts, [0.1, 0.0, 0.6, 0.3], atol=0.01)
    assert counts[1] == 0


def test_top_k_1_equals_greedy(m: charsmith.CharModel) -> None:
    greedy = sample_items(*args(m), 4, None, prefix="b")
    top1 = sample_items(*args(m), 4, np.random.default_rng(5), top_k=1, prefix="b")
    assert greedy == top1 and len(set(greedy)) == 1


def test_seeded_sampling_is_reproducible(m: charsmith.CharModel) -> None:
    a = m.sample(20, seed=7, allow_known=True).samples
    assert a == m.sample(20, seed=7, allow_known=True).samples
    assert a != m.sample(20, seed=8, allow_known=True).samples


def test_prefix_and_lengths(m: charsmith.CharModel) -> None:
    items = sample_items(*args(m), 50, np.random.default_rng(0), prefix="ka", max_len=6, min_len=4)
    assert all(s.startswith("ka") and 4 <= len(s) <= 6 for s in items)
    assert all(s for s in sample_items(*args(m), 200, np.random.default_rng(1), temperature=3.0))  # never empty
    with pytest.raises(ValueError, match="never saw: 'Q!'"):
        sample_items(*args(m), 1, np.random.default_rng(0), prefix="Q!")
    with pytest.raises(ValueError, match="temperature must be > 0"):
        sample_items(*args(m), 1, np.random.default_rng(0), temperature=0)
    with pytest.raises(ValueError, match="top_p must be in"):
        sample_items(*args(m), 1, np.random.default_rng(0), top_p=1.5)


def test_novelty_filter_drops_training_items(m: charsmith.CharModel) -> None:
    first = m.sample(100, seed=0, allow_known=True).samples
    known = item_hashes(first[:50])
    result = generate(*args(m), 100, np.random.default_rng(0), known=known)
    assert result.dropped_known >= 1  # the same seed regenerates them, and they are now "known"
    assert not set(result.samples) & set(first[:50])
    assert len(result.samples) == 100 and result.drawn >= 100 + result.dropped_known


def test_trained_model_writes_mostly_novel_items(m: charsmith.CharModel) -> None:
    result = m.sample(200, seed=0)
    assert len(result.samples) == 200
    assert result.dropped_known < result.drawn  # the novelty filter counted what it dropped
    endings = sum(s.endswith(("saurus", "don", "raptor", "ops")) for s in result.samples)
    assert endings > 120  # it learned the shape of the data


def test_unique(m: charsmith.CharModel) -> None:
    result = m.sample(30, seed=0, unique=True, temperature=0.3, allow_known=True)
    assert len(set(result.samples)) == len(result.samples)


def test_beam_search_finds_the_likeliest_items(m: charsmith.CharModel) -> None:
    found = beam_search(*args(m), 8, n=5)
    assert [lp for _, lp in found] == sorted((lp for _, lp in found), reverse=True)
    scores = {s.item: s.logprob for s in m.score([s for s, _ in found])}
    for item, lp in found:
        assert lp == pytest.approx(scores[item], abs=1e-4)
    greedy = sample_items(*args(m), 1, None)[0]
    assert found[0][1] >= m.score([greedy])[0].logprob - 1e-6
    widest = beam_search(*args(m), 1)[0]
    assert widest[1] <= found[0][1] + 1e-9


def test_beam_search_can_exclude_known_items(m: charsmith.CharModel) -> None:
    best = beam_search(*args(m), 4, n=3)
    skip = {best[0][0]}
    found = beam_search(*args(m), 4, n=3, exclude=lambda items: np.array([s in skip for s in items]))
    assert best[0][0] not in [s for s, _ in found]


def test_complete_extends_the_prompt(m: charsmith.CharModel) -> None:
    out = complete(*args(m), "ba", 12, np.random.default_rng(0), n=3)
    assert len(out) == 3 and all(len(s) == 14 and s.startswith("ba") for s in out)
