"""A quick speed check of this machine, behind ``charsmith bench``.

Trains and samples a small model (GRU, embedding 64, hidden 128, batches of 32) on
deterministic synthetic names with the current engine, twice per round: with the default
thread budget and with one thread, alternating the two on the same batches (the machine
may be busy: a ratio measured in the same run is what to read, not the absolute rate).
Needs NumPy only, reads no file and writes none. The full benchmarks, with PyTorch and the
seed notebooks' loop as references, are ``benchmarks/`` in the source checkout; they share
the measuring primitives here (:func:`interleave`, :class:`Timing`, :func:`calibrate`).

A "character" is a real training target: each letter of an item plus its end token
(padding is not counted), i.e. ``Batch.n_chars``.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from charsmith import backend, optim
from charsmith import model as M
from charsmith._batching import Batch, encode_items, line_batches
from charsmith.config import ModelConfig
from charsmith.generation import Stepper, sample_items
from charsmith.trainer import train_step
from charsmith.vocab import Vocab

__all__ = ["CharsmithTrainer", "Timing", "calibrate", "interleave", "make_batches", "quick_bench", "synthetic_names",
           "timed"]


# ----- work ---------------------------------------------------------------------------------
def synthetic_names(n: int, seed: int = 0) -> list[str]:
    """``n`` deterministic name-like strings of lowercase letters, 2-15 long (mean about 6,
    as a list of first names)."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(np.rint(rng.normal(6.1, 1.5, n)), 2, 15).astype(int)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return ["".join(rng.choice(letters, k)) for k in lengths]


def make_batches(names: Sequence[str], batch_size: int, *, seed: int = 0, limit: int | None = None,
                 vocab: Vocab | None = None) -> tuple[Vocab, list[Batch]]:
    """One epoch of charsmith's own training batches (length-bucketed, padded, masked), as
    ``Trainer`` makes them: ``line_batches(encode_items(...), batch_size, rng)``."""
    vocab = vocab or Vocab.from_texts(names)
    seqs = encode_items(vocab, names)
    batches = list(line_batches(seqs, batch_size, np.random.default_rng(seed)))
    return vocab, batches[:limit] if limit else batches


class CharsmithTrainer:
    """charsmith's real training step (``charsmith.trainer.train_step``: forward ->
    cross_entropy_forward/backward -> backward -> clip -> flat optimiser update), at a fixed
    learning rate."""

    def __init__(self, cfg: ModelConfig, *, optimizer: str = "adam", lr: float = 3e-3, clip_norm: float = 5.0,
                 clip_value: float = 0.0, seed: int = 0, dtype: Any = np.float32) -> None:
        self.cfg, self.lr, self.clip_norm, self.clip_value = cfg, lr, clip_norm, clip_value
        self.rng = np.random.default_rng(seed)
        self.opt = optim.FlatOptimizer(optimizer, M.init_params(cfg, self.rng, dtype))
        self.params = self.opt.params
        self.t = 0

    def step(self, batch: Batch) -> float:
        state = M.init_state(self.cfg, len(batch.ids), self.params["W_out"].dtype)
        loss, _, ok = train_step(self.cfg, self.opt, batch, state, lr=self.lr, t=self.t + 1, clip_norm=self.clip_norm,
                                 clip_value=self.clip_value, rng=self.rng if self.cfg.dropout else None,
                                 check=self.t == 0)
        if not ok:
            raise FloatingPointError("non-finite loss or gradient norm in the benchmark")
        self.t += 1
        return loss


# ----- measuring ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Timing:
    """Interleaved measurement of several sides on the same work.

    rates: per side, one rate (units/s) per round; ratio(a, b): median over rounds of
    rate_a / rate_b (the rounds are adjacent in time, so load changes hit both alike)."""

    rates: dict[str, list[float]]
    units: dict[str, int]

    def median(self, side: str) -> float:
        return statistics.median(self.rates[side])

    def ratio(self, a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(self.rates[a], self.rates[b]))

    def spread(self, a: str, b: str) -> tuple[float, float]:
        r = [x / y for x, y in zip(self.rates[a], self.rates[b])]
        return min(r), max(r)


def interleave(sides: dict[str, Callable[[int], tuple[float, float]]], *, rounds: int = 3) -> Timing:
    """Run every side once per round, alternating (A B A B ...; the order flips every round
    so neither side always goes first). ``sides[name](round) -> (units, seconds)``."""
    names = list(sides)
    rates: dict[str, list[float]] = {k: [] for k in names}
    units: dict[str, int] = {k: 0 for k in names}
    for r in range(rounds):
        for k in (names if r % 2 == 0 else names[::-1]):
            u, s = sides[k](r)
            rates[k].append(u / max(s, 1e-12))
            units[k] += int(u)
    return Timing(rates, units)


def timed(fn: Callable[[], float]) -> tuple[float, float]:
    """``(fn(), seconds it took)``."""
    t0 = time.perf_counter()
    u = fn()
    return u, time.perf_counter() - t0


def calibrate(fn: Callable[[int], Any], seconds: float, *, first: int = 3, cap: int = 1_000_000) -> int:
    """How many calls of ``fn(i)`` take about ``seconds`` (after ``first`` warm-up calls)."""
    for i in range(first):
        fn(i)
    n, t = first, 0.0
    while True:
        t0 = time.perf_counter()
        for i in range(n):
            fn(i)
        t = time.perf_counter() - t0
        if t >= min(0.2, seconds) or n >= cap:
            break
        n *= 2
    return max(1, min(cap, int(n * seconds / max(t, 1e-9))))


# ----- the quick bench ----------------------------------------------------------------------
@contextlib.contextmanager
def _engine(threads: int | None) -> Iterator[None]:
    """The current engine, or the same with a budget of ``threads``."""
    be = backend.current()
    with backend.use(be if threads is None else be.with_threads(threads)):
        yield


def _row(case: str, unit: str, t: Timing) -> dict[str, Any]:
    lo, hi = t.spread("default", "one")
    return {"case": case, "unit": unit, "default": t.median("default"), "one_thread": t.median("one"),
            "ratio": t.ratio("default", "one"), "spread": [lo, hi]}


def quick_bench(seconds: float = 2.0, *, rounds: int = 3, hidden: int = 128, batch: int = 32,
                n_sample: int = 1000) -> dict[str, Any]:
    """Training chars/s and sampling names/s of a small GRU with the current engine, with its
    default thread budget and with one thread, interleaved over ``rounds`` rounds of about
    ``seconds`` per side (so about ``4 * rounds * seconds`` in all, plus calibration).

    Returns ``{"engine": ..., "threads": ..., "rows": [...]}``, a row per case: case, unit,
    default and one_thread (median rates), ratio (median over rounds of default / one
    thread) and spread (its min and max over the rounds).
    """
    names = synthetic_names(8_000)
    vocab, batches = make_batches(names, batch, seed=0)
    cfg = ModelConfig(cell="gru", vocab_size=vocab.size, hidden=hidden, embed=64)
    trainer = CharsmithTrainer(cfg)
    with _engine(1):
        k = calibrate(lambda i: trainer.step(batches[i % len(batches)]), seconds, cap=len(batches))

    def train(threads: int | None) -> Callable[[int], tuple[float, float]]:
        def steps(work: list[Batch]) -> float:  # -> characters trained on
            for b in work:
                trainer.step(b)
            return sum(b.n_chars for b in work)

        def run(r: int) -> tuple[float, float]:
            with _engine(threads):
                return timed(lambda: steps([batches[(r * k + i) % len(batches)] for i in range(k)]))
        return run

    stepper = Stepper(trainer.params, cfg)
    rng = np.random.default_rng(0)
    with _engine(1):
        reps = calibrate(lambda i: sample_items(stepper, vocab, n_sample, rng), seconds, first=1)

    def sample(threads: int | None) -> Callable[[int], tuple[float, float]]:
        def run(r: int) -> tuple[float, float]:
            with _engine(threads):
                return timed(lambda: sum(len(sample_items(stepper, vocab, n_sample, rng)) for _ in range(reps)))
        return run

    size = f"GRU E64 H{hidden}"
    rows = [_row(f"train {size} B{batch}", "chars/s", interleave({"default": train(None), "one": train(1)},
                                                                  rounds=rounds)),
            _row(f"sample {size}, {n_sample} names per call", "names/s",
                 interleave({"default": sample(None), "one": sample(1)}, rounds=rounds))]
    be = backend.current()
    return {"engine": be.status, "compiled": be.compiled, "threads": be.threads, "rows": rows}
