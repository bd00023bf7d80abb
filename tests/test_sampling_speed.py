"""What the fast sampling path must keep: the draw follows the model's distribution, the
novelty filter draws in rounds sized to what it needs, thread budgets and batching do not
change seeded results, and sampling keeps the BLAS on one thread under the kernels."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import pytest

import charsmith
from charsmith import backend
from charsmith.generation import Constraints, Controls, SampleStream, draw, next_probs


def _counts(ids: np.ndarray, V: int) -> np.ndarray:
    return np.bincount(ids, minlength=V) / len(ids)


@pytest.mark.parametrize("rows", [40_000, 32])  # summed as columns (many rows) and along rows (few)
@pytest.mark.parametrize("controls", [Controls(), Controls(temperature=0.6), Controls(temperature=1.7)])
def test_the_float32_draw_follows_the_softmax(rows: int, controls: Controls) -> None:
    """Controls.sample draws float32 logits from softmax(logits / T) (computed in float64 here),
    within sampling noise, and never an id of zero probability (the banned one)."""
    logits = np.array([[2.0, -1.0, 0.5, 1.5, -30.0, 0.0]], dtype=np.float32)
    want = next_probs(logits, temperature=controls.temperature)[0].copy()
    want[5] = 0.0  # banned
    want /= want.sum()
    rng = np.random.default_rng(0)
    ids = np.concatenate([controls.sample(np.repeat(logits, rows, axis=0), rng, banned=5)
                          for _ in range(40_000 // rows)])
    got = _counts(ids, 6)
    assert got[5] == 0
    noise = np.sqrt(want * (1 - want) / len(ids))  # the standard error of each share
    assert (np.abs(got - want) <= 4 * noise + 1e-9).all(), (got, want)


def test_columns_and_rows_draw_the_same_ids() -> None:
    """The two ways of summing (down columns for many rows, along rows for few) give the
    same ids for the same uniforms."""
    p = np.random.default_rng(1).random((200, 30)).astype(np.float32) ** 4  # (200, 30) weights
    many = draw(p, np.random.default_rng(7))  # 200 rows: summed as columns
    few = draw(p[:40], np.random.default_rng(7))  # 40 rows: along rows, with the same first 40 uniforms
    assert (many[:40] == few).all()


def test_a_uniform_rounded_up_to_the_total_draws_no_zero_weight() -> None:
    """u * total may round to the total in float32; the draw must still pick an id of
    positive weight (the last id here has none)."""

    class NearOne:
        def random(self, n: int) -> np.ndarray:
            return np.full(n, 1 - 2.0**-53)

    for rows in (3, 100):
        p = np.tile(np.array([[0.3, 0.7, 0.0]], dtype=np.float32), (rows, 1))
        assert (draw(p, NearOne()) == 1).all()  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["dinosaurs", "names"])
def test_novelty_rounds_draw_about_what_they_need(name: str) -> None:
    """n novel items exactly, from rounds sized by the observed acceptance rate: the draws
    exceed those the filter had to examine by a small margin only (the first round used to
    draw 2.2 n whatever the rate)."""
    m = charsmith.load(name)
    for n in (10, 1000):
        r = m.sample(n, seed=0)
        assert len(r.samples) == n and not any(m.is_known(r.samples))
        examined = n + r.dropped_known
        assert examined <= r.drawn <= 1.1 * examined + 15, (n, r.drawn, examined)
        assert m.sample(n, seed=0).samples == r.samples  # seeded: reproducible


def test_novelty_filtering_is_plain_rejection() -> None:
    """Items with the filter on follow the model's distribution restricted to novel items:
    their first letters match those of draws with the filter off, known ones removed."""
    m = charsmith.load("names")
    on = m.sample(4000, seed=1).samples
    drawn = m.sample(6000, seed=2, allow_known=True).samples
    off = [s for s, old in zip(drawn, m.is_known(drawn) or []) if not old]
    letters = sorted(set(s[0] for s in on + off))
    p_on = np.array([sum(s[0] == c for s in on) for c in letters]) / len(on)
    p_off = np.array([sum(s[0] == c for s in off) for c in letters]) / len(off)
    assert 0.5 * np.abs(p_on - p_off).sum() < 0.06


def test_rounds_grow_when_nothing_is_accepted_yet() -> None:
    """With a rule that rejects nearly everything and no pilot (method="rejection"), rounds
    double until items come, and the effort bound is kept."""
    m = charsmith.load("dinosaurs")
    plan = m.plan(Constraints(pattern="q[a-z]*x"))  # no match in thousands of plain draws
    stream = SampleStream(m.stepper(), m.ckpt.vocab, plan, Controls(), 5, np.random.default_rng(0),
                          method="rejection", max_draws=3000)
    sizes: list[int] = []
    plain = stream._plain
    stream._plain = lambda size: (sizes.append(size), plain(size))[1]  # type: ignore[method-assign]
    items = list(stream)
    assert items == [] and stream.drawn == sum(sizes) == 3000  # nothing found, and the bound kept exactly
    # each round draws twice what was drawn so far, the last what the bound leaves
    assert sizes[1:-1] == [2 * sum(sizes[:i]) for i in range(1, len(sizes) - 1)] and len(sizes) >= 4


@pytest.mark.parametrize("name", ["dinosaurs", "languages"])
def test_two_threads_sample_what_one_thread_samples(name: str) -> None:
    m = charsmith.load(name)
    got = []
    for threads in (1, 2):
        with backend.use(backend.current().with_threads(threads)):
            got.append(m.sample(3000, seed=3).samples)
    assert got[0] == got[1]


def test_batches_hand_out_the_items_the_iterator_would() -> None:
    m = charsmith.load("dinosaurs")
    items = list(m.stream(5000, seed=4))
    stream = m.stream(5000, seed=4)
    head = [next(stream) for _ in range(3)]
    batches = list(stream.batches())
    assert head + [s for b in batches for s in b] == items
    assert len(batches) >= 2 and stream.delivered == 5000


def test_sampling_steps_keep_the_blas_on_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """A step runs inside the backend's blas_on_one_thread (a threaded BLAS under the
    kernels' own threads made two threads slower than one)."""
    entered = []

    @contextlib.contextmanager
    def watched(self: backend.Backend) -> Iterator[None]:
        entered.append(1)
        yield

    monkeypatch.setattr(type(backend.current()), "blas_on_one_thread", watched)
    charsmith.load("dinosaurs").sample(3, seed=0)
    assert len(entered) >= 3  # the prime and every step


@pytest.mark.parametrize("rows", [5, 64])  # both summing paths
@pytest.mark.parametrize("controls", [Controls(temperature=0.01), Controls(temperature=1e-40),
                                      Controls(temperature=0.01, top_p=0.5)])
def test_a_banned_id_holding_all_the_mass_leaves_the_likeliest_allowed_one(rows: int, controls: Controls) -> None:
    logits = np.zeros((rows, 5), np.float32)
    logits[:, 0], logits[:, 3] = 5.0, 0.5  # id 0 banned (as the end token is before the minimum length)
    ids = controls.sample(logits, np.random.default_rng(0), banned=0)
    assert (ids == 3).all()  # at these temperatures, the likeliest id left
