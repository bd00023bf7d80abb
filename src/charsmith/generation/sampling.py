"""Writing items: exact rejection or SMC as the constraints require, the novelty filter,
streaming in chunks of bounded size, and text completions.

How items are drawn (see docs/constraints.md for the guarantees):

- With no constraint but the default length limit, items are plain draws from the model
  (an item that has not ended by ``max_len`` is drawn again, not cut).
- Otherwise a pilot batch of plain draws measures how often they match. If at least one
  draw in ``particles`` matches, charsmith keeps drawing and keeps the matches: exact
  rejection sampling (``plain.py``). Below that, rejection would cost more draws per item
  than SMC's particles, so the rest come from sequential Monte Carlo (``smc.py``):
  approximate, with a bias that shrinks as 1/particles. The pilot's matches are exact
  draws and are kept either way.
- Items of the input file (``known``, held-out ones included) and, with ``unique``, repeats are dropped
  and counted; the effort is bounded by ``max_draws`` plain draws plus particles, after
  which the stream ends with fewer items and says so. Without an explicit ``max_draws`` it
  also ends after ``STALL_DRAWS`` draws in a row gave no new item (``--unique --top-k 1``
  finds one item, then only repeats), and the caller's time limit bounds it too.

All randomness comes from the ``numpy.random.Generator`` passed in, so a seed gives the
same output every time.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from charsmith._checks import bad, optional_whole, whole
from charsmith._novelty import is_known, is_near_known
from charsmith.errors import InputError
from charsmith.generation._plain import END_ID, decode, draw_matches
from charsmith.generation._smc import smc_draws
from charsmith.generation._twist import Twist, bigram
from charsmith.generation.constraints import Constraints, Plan
from charsmith.generation.controls import Controls, draw
from charsmith.generation.stepper import Rows, Stepper
from charsmith.limits import MAX_GENERATED_CHARS, STALL_DRAWS, check_limit
from charsmith.vocab import Vocab

__all__ = ["PARTICLES", "SampleResult", "SampleStream", "complete", "complete_stream", "generate", "sample_items"]

CHUNK = 2048  # rows per model batch: bounds memory whatever n is (measured fastest of 1024-8192 on dinosaurs)
PARTICLES = 64
METHODS = ("auto", "rejection", "smc")


def default_max_draws(n: int, particles: int = PARTICLES) -> int:
    """The default effort bound for ``n`` items, in plain draws plus SMC particles: room for
    200 plain draws or four SMC runs per item, whichever is more, and a floor for small n."""
    return max(200, 4 * particles) * n + 20_000


@dataclass(frozen=True)
class SampleResult:
    """Accepted samples and what was dropped on the way.

    drawn: plain draws plus SMC particles used; dropped_known: items of the input file (with
    ``novel_edits``, also items one edit from one); dropped_duplicate: repeats (with ``unique``); method: "rejection" (exact), "smc",
    "beam" (a search for the likeliest), "text" (a text's sampled continuations) or "greedy"
    (its likeliest continuation);
    acceptance: the share of plain draws that matched the constraints (None if unmeasured);
    logprobs: each item's log-probability (beam search only).
    """

    samples: list[str]
    drawn: int
    dropped_known: int
    dropped_duplicate: int
    method: str = "rejection"
    acceptance: float | None = None
    logprobs: list[float] | None = None

    def short_by(self, n: int) -> int:
        return max(n - len(self.samples), 0)

    def to_json(self) -> dict[str, object]:
        """The result as a JSON object (the CLI's ``--json``), without the fields that do not apply."""
        out: dict[str, object] = {"samples": self.samples}
        if self.logprobs is not None:
            out["logprobs"] = self.logprobs
        if self.method in ("rejection", "smc"):  # the counts of sampled items
            out.update(_counts(self))
        return out


def _counts(found: SampleResult | SampleStream) -> dict[str, object]:
    """What sampling drew and dropped, as JSON fields."""
    return {"drawn": found.drawn, "dropped_known": found.dropped_known, "dropped_duplicate": found.dropped_duplicate,
            "method": found.method, "acceptance": found.acceptance}


class SampleStream:
    """An iterator over up to ``n`` items, found chunk by chunk (at most ``CHUNK`` rows in
    memory), with running counts. ``result()`` drains it into a SampleResult."""

    def __init__(
        self, stepper: Stepper, vocab: Vocab, plan: Plan, controls: Controls, n: int, rng: np.random.Generator, *,
        known: np.ndarray | None = None, unique: bool = False, max_draws: int | None = None,
        particles: int = PARTICLES, method: str = "auto", chunk: int = CHUNK, novel_edits: int = 0,
    ) -> None:
        n, particles, max_draws = whole("n", n, 1), whole("particles", particles, 1), optional_whole("max_draws", max_draws, 1)
        if novel_edits not in (0, 1) or isinstance(novel_edits, bool):
            raise bad("novel_edits", "0 (drop copies) or 1 (also items one edit from one)", novel_edits)
        if method not in METHODS:
            raise bad("method", f"one of {', '.join(METHODS)}", method)
        self.stepper, self.vocab, self.plan, self.controls, self.rng = stepper, vocab, plan, controls, rng
        self.n, self.known, self.unique, self.particles, self.chunk = int(n), known, unique, int(particles), chunk
        self.novel_edits = novel_edits
        self.max_draws = max_draws or default_max_draws(self.n, self.particles)
        self.stall = None if max_draws else STALL_DRAWS  # draws in a row without a new item before giving up
        self._drawn_at_new = 0  # self.drawn when the last new item was accepted
        self.method = method if plan.constrained or method != "auto" else "rejection"
        self.acceptance: float | None = None
        self.drawn = self.plain_draws = self.matched = self.accepted = 0
        self.dropped_known = self.dropped_duplicate = self._smc_groups = self._smc_found = 0
        self._seen: set[str] = set()
        self._twist: Twist | None = None
        self._lists = self._run()
        self._buffer: list[str] = []  # the current batch's accepted items, handed out from _pos on
        self._pos = 0

    def __iter__(self) -> SampleStream:
        return self

    def __next__(self) -> str:
        while self._pos == len(self._buffer):
            self._buffer, self._pos = next(self._lists), 0
        self._pos += 1
        return self._buffer[self._pos - 1]

    def batches(self) -> Iterator[list[str]]:
        """The items not yet handed out, as lists of one model batch each (for writers: one
        write per batch rather than per item)."""
        if self._pos < len(self._buffer):
            rest, self._buffer, self._pos = self._buffer[self._pos:], [], 0
            yield rest
        for items in self._lists:
            self._buffer, self._pos = items, len(items)
            yield items

    @property
    def delivered(self) -> int:
        """Items handed out so far."""
        return self.accepted - (len(self._buffer) - self._pos)

    @property
    def short_by(self) -> int:
        """Items asked for but not (yet) handed out: after the stream ends, how many it fell short."""
        return max(self.n - self.delivered, 0)

    @property
    def stalled(self) -> bool:
        """Whether ``STALL_DRAWS`` draws in a row gave no new item (and so the search ended)."""
        return self.stall is not None and self.drawn - self._drawn_at_new >= self.stall

    @property
    def exhausted(self) -> bool:
        """Whether the effort bound ran out before ``n`` items were found."""
        return self.accepted < self.n and (self.drawn >= self.max_draws or self.stalled)

    def counts(self) -> dict[str, object]:
        """The counts so far as :meth:`SampleResult.to_json` gives them (drawn, dropped_known,
        dropped_duplicate, method, acceptance)."""
        return _counts(self)

    def result(self) -> SampleResult:
        samples = list(self)
        return SampleResult(samples, self.drawn, self.dropped_known, self.dropped_duplicate, self.method,
                            self.acceptance)

    def _run(self) -> Iterator[list[str]]:
        """Lists of accepted items, one per model batch, n items in all at most. Drops are
        counted up to the n-th item, as if the items were examined one at a time."""
        for batch in self._batches():
            kept = self._unique(batch) if self.unique else self._novel(batch)
            self.accepted += len(kept)
            if kept:
                self._drawn_at_new = self.drawn
            if kept:
                yield kept
            if self.accepted == self.n:
                return

    def _known(self, batch: list[str]) -> np.ndarray:
        """Which items of ``batch`` count as known: copies, and with ``novel_edits`` near-copies."""
        assert self.known is not None
        if self.novel_edits:
            return is_near_known(batch, self.known, self.vocab.chars[1:])
        return is_known(batch, self.known)

    def _novel(self, batch: list[str]) -> list[str]:
        """The items of ``batch`` not in ``known``, up to the ones still needed."""
        need = self.n - self.accepted
        if self.known is None:
            return batch[:need]
        old = self._known(batch)
        found = np.cumsum(~old)  # items accepted up to each position
        end = int(np.searchsorted(found, need)) + 1  # examined up to the need-th, or all
        self.dropped_known += int(old[:end].sum())
        return [item for item, is_old in zip(batch[:end], old[:end].tolist()) if not is_old]

    def _unique(self, batch: list[str]) -> list[str]:
        """The items of ``batch`` neither known nor seen before, up to the ones still needed."""
        need = self.n - self.accepted
        old = self._known(batch).tolist() if self.known is not None else itertools.repeat(False)
        kept: list[str] = []
        for item, is_old in zip(batch, old):
            if is_old:
                self.dropped_known += 1
            elif item in self._seen:
                self.dropped_duplicate += 1
            else:
                self._seen.add(item)
                kept.append(item)
                if len(kept) == need:
                    break
        return kept

    def _batches(self) -> Iterator[list[str]]:
        """Lists of matching items, a model batch at a time, until n are delivered or the
        effort bound is reached."""
        auto = self.method == "auto"
        if auto:  # a pilot of plain draws measures the acceptance rate
            self.method = "rejection"
            self.acceptance = 0.0
            yield self._plain(self._afford(min(self.chunk, max(2 * self.n, 4 * self.particles))))
        while self.accepted < self.n and self.drawn < self.max_draws and not self.stalled:
            need = self.n - self.accepted
            if auto and self.method == "rejection" and (self.acceptance or 0.0) * self.particles < 1:
                self.method = "smc"  # rejection would now cost more draws per item than SMC's particles
            if self.method == "rejection":
                yield self._plain(self._afford(min(self.chunk, self._plain_round(need))))
            else:
                rate = self._smc_found / self._smc_groups if self._smc_found else 1.0
                groups = min(max(self.chunk // self.particles, 1), math.ceil(1.1 * need / rate) + 1)
                groups = self._afford(groups * self.particles) // self.particles
                if groups == 0:
                    return
                yield self._smc(groups)

    def _plain_round(self, need: int) -> int:
        """Plain draws for ``need`` more items: the expected number at the rate observed so
        far (items accepted per draw, after the constraints, the novelty filter and
        ``unique``) plus two standard deviations, so that one round usually suffices. Before
        any draw, the rate is the pilot's acceptance, else 1 (a plan without constraints
        keeps nearly every draw); after draws that found nothing, the next round doubles."""
        if self.accepted:
            rate = self.accepted / self.drawn
        elif self.drawn:
            return 2 * self.drawn
        else:
            rate = self.acceptance or 1.0
        expect = need / rate
        return math.ceil(expect + 2 * math.sqrt(expect * (1 - rate))) + 1

    def _afford(self, size: int) -> int:
        return max(min(size, self.max_draws - self.drawn), 0)

    def _plain(self, size: int) -> list[str]:
        if size == 0:
            return []
        ids, lengths = draw_matches(self.stepper, self.plan, self.controls, self.rng, size)
        self.drawn += size
        self.plain_draws += size
        self.matched += len(ids)
        if self.acceptance is not None:
            self.acceptance = self.matched / self.plain_draws
        return decode(self.vocab, self.plan.prefix, ids, lengths)

    def _smc(self, groups: int) -> list[str]:
        if self._twist is None:
            B = bigram(self.stepper, self.plan, self.controls, self.rng)
            self._twist = Twist.from_bigram(self.plan, B)
        ids, lengths = smc_draws(self.stepper, self.plan, self.controls, self.rng, groups, self.particles,
                                 twist=self._twist)
        self.drawn += groups * self.particles
        self._smc_groups += groups
        self._smc_found += len(ids)
        return decode(self.vocab, self.plan.prefix, ids, lengths)


def generate(
    stepper: Stepper, vocab: Vocab, plan: Plan, controls: Controls, n: int, rng: np.random.Generator,
    **options: object,
) -> SampleResult:
    """Up to ``n`` items at once (see SampleStream for the options)."""
    return SampleStream(stepper, vocab, plan, controls, n, rng, **options).result()  # type: ignore[arg-type]


def sample_items(
    stepper: Stepper, vocab: Vocab, n: int, rng: np.random.Generator | None, *, temperature: float = 1.0,
    top_k: int = 0, top_p: float = 1.0, prefix: str = "", max_len: int = 50,
) -> list[str]:
    """``n`` plain draws at once, each ending at its end token or cut at ``max_len``
    characters (prefix included), never empty: a quick look at a model, e.g. while it
    trains. ``rng=None`` decodes greedily. For exact lengths and constraints use
    ``generate``."""
    plan = Constraints(prefix=prefix, max_len=max_len).plan(vocab)
    ids, lengths = draw_matches(stepper, plan, Controls(temperature, top_k, top_p), rng, n, cut=True)
    return decode(vocab, prefix, ids, lengths)


def complete(
    stepper: Stepper, vocab: Vocab, plan: Plan, rng: np.random.Generator | None, *, n: int = 1,
    controls: Controls | None = None, particles: int = PARTICLES, max_draws: int | None = None,
) -> list[str]:
    """Text mode: up to ``n`` continuations of the plan's prompt (``plan.prefix``, included in
    the result), each ``plan.max_len`` new characters, meeting the plan (made with
    ``Constraints(prompt, ...).plan(vocab, text_length=length)``). ``rng=None`` decodes
    greedily (the likeliest allowed character at each step). Fewer than ``n`` come back only
    when the constraints are too unlikely for the effort bound."""
    if plan.ends:
        raise InputError("complete() needs a plan for text (made with text_length)", param="plan")
    controls = controls or Controls()
    check_limit(n * plan.max_len, MAX_GENERATED_CHARS, "MAX_GENERATED_CHARS", "`n` x `length` (characters written)",
                "ask for fewer or shorter completions", param="n")
    if plan.max_len == 0:
        return [plan.prefix] * n
    if rng is None:  # the masked argmax path, which has one answer: found once, given n times
        ids, lengths = smc_draws(stepper, plan, controls, None, 1, 1)
        return decode(vocab, plan.prefix, ids, lengths) * n
    return list(SampleStream(stepper, vocab, plan, controls, n, rng, particles=particles, max_draws=max_draws))


def complete_stream(
    stepper: Stepper, vocab: Vocab, plan: Plan, rng: np.random.Generator | None, controls: Controls,
) -> Iterator[str]:
    """Text mode, one continuation of the plan's prompt with no constraint: its
    ``plan.max_len`` characters one at a time as they are drawn (greedy when ``rng`` is
    None). The prompt is read before this returns."""
    if plan.ends or plan.constrained:
        raise InputError("complete_stream() takes a text plan without constraints; use complete()", param="plan")
    x, rows = stepper.prime(np.concatenate(([END_ID], plan.prefix_ids)), 1)

    def chars(x: np.ndarray, rows: Rows) -> Iterator[str]:
        for _ in range(plan.max_len):
            logits, rows = stepper.step(x, rows)
            p = controls.probs(logits)  # (1, V)
            x = p.argmax(axis=1) if rng is None else draw(p, rng)
            yield vocab.chars[int(x[0])]

    return chars(x, rows)
