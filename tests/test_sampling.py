"""Sampling controls, reproducibility, novelty, greedy and beam decoding, streaming."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import charsmith
from charsmith._novelty import item_hashes
from charsmith.errors import CharsmithError, ConstraintError
from charsmith.generation import Constraints, Controls, beam_search, complete, draw, generate, next_probs, sample_items
from charsmith.scoring import score_items


@pytest.fixture(scope="module")
def m(trained: Path) -> charsmith.CharModel:
    return charsmith.load(trained)


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


@pytest.mark.parametrize("controls", [dict(temperature=1e-320), dict(temperature=5e-324), dict(top_p=1e-12)])
def test_vanishing_temperature_or_top_p_is_the_argmax(controls: dict) -> None:
    """Defined limits: a temperature so small that logits/T overflows is T -> 0 (the
    likeliest character, ties shared), and top-p always keeps the likeliest character."""
    logits = np.array([[1.0, 3.0, 2.0, -5.0], [0.5, 0.5, -1.0, 0.0]], dtype=np.float32)
    p = next_probs(logits, **controls)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p[0], [0, 1, 0, 0])
    tied = [0.5, 0.5, 0, 0] if "temperature" in controls else [1, 0, 0, 0]  # top-p keeps the first of a tie
    np.testing.assert_allclose(p[1], tied)


@pytest.mark.parametrize("controls", [dict(temperature=1e-320), dict(top_p=1e-12)])
def test_vanishing_controls_sample_the_greedy_item(m: charsmith.CharModel, controls: dict) -> None:
    greedy = sample_items(m.stepper(), m.ckpt.vocab, 1, None, prefix="b")[0]
    items = m.sample(5, prefix="b", seed=0, allow_known=True, **controls).samples
    assert items == [greedy] * 5 and len(greedy) > 1


def test_draw_follows_the_distribution() -> None:
    p = np.tile([[0.1, 0.0, 0.6, 0.3]], (40_000, 1))
    counts = np.bincount(draw(p, np.random.default_rng(0)), minlength=4) / 40_000
    np.testing.assert_allclose(counts, [0.1, 0.0, 0.6, 0.3], atol=0.01)
    assert counts[1] == 0


def test_top_k_1_equals_greedy(m: charsmith.CharModel) -> None:
    greedy = sample_items(m.stepper(), m.ckpt.vocab, 4, None, prefix="b")
    top1 = sample_items(m.stepper(), m.ckpt.vocab, 4, np.random.default_rng(5), top_k=1, prefix="b")
    assert greedy == top1 and len(set(greedy)) == 1


def test_seeded_sampling_is_reproducible(m: charsmith.CharModel) -> None:
    a = m.sample(20, seed=7, allow_known=True).samples
    assert a == m.sample(20, seed=7, allow_known=True).samples
    assert a != m.sample(20, seed=8, allow_known=True).samples
    assert list(m.stream(20, seed=7, allow_known=True)) == a


def test_prefix_and_lengths(m: charsmith.CharModel) -> None:
    items = m.sample(50, seed=0, prefix="ka", max_len=6, min_len=4, allow_known=True).samples
    assert len(items) == 50 and all(s.startswith("ka") and 4 <= len(s) <= 6 for s in items)
    assert all(s for s in m.sample(200, seed=1, temperature=3.0, allow_known=True).samples)  # never empty
    with pytest.raises(ConstraintError, match="never saw: '7', '!'"):
        m.sample(1, seed=0, prefix="7!")
    with pytest.raises(CharsmithError, match="`temperature` must be a finite number > 0"):
        m.sample(1, seed=0, temperature=0)
    with pytest.raises(CharsmithError, match="`top_p` must be a probability in"):
        m.sample(1, seed=0, top_p=1.5)


def test_plain_draws_end_or_are_cut(m: charsmith.CharModel) -> None:
    """sample_items is the quick look used while training: cut at max_len, never empty."""
    items = sample_items(m.stepper(), m.ckpt.vocab, 64, np.random.default_rng(0), max_len=4, temperature=2.0)
    assert len(items) == 64 and all(1 <= len(s) <= 4 for s in items) and any(len(s) == 4 for s in items)


def test_novelty_filter_drops_training_items(m: charsmith.CharModel) -> None:
    first = m.sample(100, seed=0, allow_known=True).samples
    known = item_hashes(first[:50])
    plan = Constraints().plan(m.ckpt.vocab)
    result = generate(m.stepper(), m.ckpt.vocab, plan, Controls(), 100, np.random.default_rng(0), known=known)
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
    plan = Constraints().plan(m.ckpt.vocab)
    found = beam_search(m.stepper(), m.ckpt.vocab, plan, 8, n=5)
    assert [lp for _, lp in found] == sorted((lp for _, lp in found), reverse=True)
    ck = m.ckpt  # the generation layer's distribution: the known symbols only (no unknown class)
    scores = {s.item: s.logprob for s in score_items(ck.params, ck.model, ck.vocab, [s for s, _ in found])}
    for item, lp in found:
        assert lp == pytest.approx(scores[item], abs=1e-4)
    greedy = sample_items(m.stepper(), m.ckpt.vocab, 1, None)[0]
    assert found[0][1] >= m.score([greedy])[0].logprob - 1e-6
    widest = beam_search(m.stepper(), m.ckpt.vocab, plan, 1)[0]
    assert widest[1] <= found[0][1] + 1e-9


def test_beam_search_can_exclude_known_items(m: charsmith.CharModel) -> None:
    plan = Constraints().plan(m.ckpt.vocab)
    best = beam_search(m.stepper(), m.ckpt.vocab, plan, 4, n=3)
    skip = {best[0][0]}
    found = beam_search(m.stepper(), m.ckpt.vocab, plan, 4, n=3,
                        exclude=lambda items: np.array([s in skip for s in items]))
    assert best[0][0] not in [s for s, _ in found]


def test_complete_extends_the_prompt(m: charsmith.CharModel) -> None:
    plan = Constraints(prefix="ba").plan(m.ckpt.vocab, text_length=12)
    out = complete(m.stepper(), m.ckpt.vocab, plan, np.random.default_rng(0), n=3)
    assert len(out) == 3 and all(len(s) == 14 and s.startswith("ba") for s in out)


# ----- streaming large n ------------------------------------------------------------------
def _peak_bytes(run) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_large_sample_streams_in_bounded_memory(m: charsmith.CharModel) -> None:
    """Memory does not grow with n: items come a batch at a time (NumPy's allocations are
    traced by tracemalloc). All of them in one batch, as before, took ~25 MB at n = 60,000."""
    def consume(n: int) -> None:
        count = sum(1 for _ in m.stream(n, seed=0, allow_known=True))
        assert count == n

    small, large = _peak_bytes(lambda: consume(4_000)), _peak_bytes(lambda: consume(60_000))
    assert large < 12e6, f"peak {large / 1e6:.1f} MB"
    assert large < 2 * small + 2e6, (small, large)


def test_the_stream_yields_before_it_finishes(m: charsmith.CharModel) -> None:
    stream = m.stream(30_000, seed=0, allow_known=True)
    first = next(stream)
    assert first and stream.delivered == 1 and stream.drawn < 30_000


def test_the_cli_writes_a_large_sample_as_it_goes(trained: Path) -> None:
    """``sample -n`` large: items are written batch by batch, in bounded memory (before,
    the whole sample was drawn at once: 3.3 GB for a million names)."""
    from charsmith.cli import main

    class Sink:
        def __init__(self) -> None:
            self.lines = self.flushes = 0
            self.flushed_at: list[int] = []

        def write(self, text: str) -> int:
            self.lines += text.count("\n")
            return len(text)

        def flush(self) -> None:
            self.flushed_at.append(self.lines)

    sink = Sink()
    peak = _peak_bytes(lambda: main(["sample", str(trained), "-n", "60000", "--seed", "0", "--allow-known"],
                                    out=sink, err=Sink()))  # type: ignore[arg-type]
    assert sink.lines == 60_000
    assert peak < 12e6, f"peak {peak / 1e6:.1f} MB"
    assert len({n for n in sink.flushed_at if 0 < n < 60_000}) >= 5  # written in several batches, not at the end
