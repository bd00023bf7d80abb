"""Constraints: the compiled mask is exact, every item meets every constraint, impossible
ones fail before sampling, nearly impossible ones stop after bounded effort."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest

import charsmith
from charsmith import model as M
from charsmith.errors import ConstraintError
from charsmith.generation import Constraints, Controls, generate
from charsmith.vocab import Vocab

TINY = Vocab("\nabc")


def matching(c: Constraints, L: int) -> set[str]:
    """Every item over 'abc' of at most L characters meeting ``c``, by brute force."""
    pattern = c.pattern or ".*"
    lo = max(c.min_len or 0, 1)
    hi = 50 if c.max_len is None else c.max_len
    return {s for n in range(1, L + 1) for s in map("".join, itertools.product("abc", repeat=n))
            if s.startswith(c.prefix) and s.endswith(c.suffix) and all(x in s for x in c.contains)
            and not set(s) & set(c.exclude) and re.fullmatch(pattern, s) and lo <= len(s) <= hi}


@pytest.mark.parametrize("c", [
    Constraints(suffix="ab", max_len=5),
    Constraints(prefix="b", contains=("ca", "aa"), max_len=6),
    Constraints(exclude="b", min_len=3, max_len=4),
    Constraints(pattern="(ab|c)+a?", min_len=2, max_len=6),
    Constraints(prefix="a", suffix="a", pattern="a[^c]*", min_len=3, max_len=5),
    Constraints(pattern="a{2,4}|bc*", max_len=3),
])
def test_the_mask_allows_exactly_the_characters_that_can_still_match(c: Constraints) -> None:
    """For every prefix of every length: an id is allowed iff some matching item continues
    it that way (the end token iff the prefix itself matches)."""
    plan = c.plan(TINY)
    items = matching(c, plan.max_len)
    assert items, "the brute force found nothing: a useless case"
    prefixes = {s[:k] for s in items for k in range(len(c.prefix), len(s) + 1)}
    for s in prefixes | {"a", "bb", "cab", "aaaa"}:
        if not s.startswith(c.prefix):
            continue
        state = plan.dfa.run(TINY.encode(s[len(c.prefix):]), plan.start)
        if state < 0:
            assert s not in prefixes
            continue
        allowed = plan.allowed(len(s), np.array([state]))[0]
        expect = [s in items] + [any(x.startswith(s + ch) for x in items) for ch in "abc"]
        assert allowed.tolist() == expect, (s, allowed, expect)


KINDS = [
    dict(prefix="ba"),
    dict(suffix="don"),
    dict(contains="ra"),
    dict(contains=["ra", "ku"]),
    dict(exclude="aeu"),
    dict(pattern="[bdgk][aeiou]+[^s].*(don|ops)"),
    dict(min_len=5, max_len=7),
    dict(prefix="d", suffix="ops", min_len=6, max_len=8),
]


def meets(item: str, c: Constraints) -> bool:
    lo, hi = max(c.min_len or 0, 1), c.max_len or 50
    return (item.startswith(c.prefix) and item.endswith(c.suffix) and all(s in item for s in c.contains)
            and not set(item) & set(c.exclude) and bool(re.fullmatch(c.pattern or ".*", item))
            and lo <= len(item) <= hi)


@pytest.mark.parametrize("method", ["rejection", "smc"])
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: ",".join(k))
def test_every_item_meets_every_constraint(trained: Path, kind: dict, method: str) -> None:
    m = charsmith.load(trained)
    c = Constraints(**kind)
    plan = c.plan(m.ckpt.vocab)
    n = 2000 if method == "rejection" else 1000
    result = generate(m.stepper(), m.ckpt.vocab, plan, Controls(temperature=1.5), n, np.random.default_rng(0),
                      method=method, particles=4)
    assert len(result.samples) == n and result.method == method
    bad = [s for s in result.samples if not meets(s, c)]
    assert not bad, bad[:5]


def test_the_api_samples_under_constraints(trained: Path) -> None:
    m = charsmith.load(trained)
    result = m.sample(300, suffix="on", contains="a", exclude="z", min_len=6, max_len=9, seed=0, allow_known=True)
    assert len(result.samples) == 300
    assert all(s.endswith("on") and "a" in s and "z" not in s and 6 <= len(s) <= 9 for s in result.samples)
    assert result.method in ("rejection", "smc") and 0 < result.acceptance < 1
    likely = m.most_likely(3, beam=16, suffix="ops", min_len=6, allow_known=True)
    assert len(likely) == 3 and all(s.endswith("ops") and len(s) >= 6 for s, _ in likely)


@pytest.mark.parametrize(
    "kind, fragments",
    [
        (dict(suffix="son7"), ["`suffix` has", "never saw: '7'"]),
        (dict(contains=["ra", "7!"]), ["`contains` has", "never saw: '7', '!'"]),
        (dict(exclude="7"), ["`exclude` has", "never saw"]),
        (dict(prefix="ka\n"), ["newline"]),
        (dict(min_len=9, max_len=5), ["minimum length 9 is above the maximum length 5"]),
        (dict(prefix="bakasaurus", max_len=5), ["start with 'bakasaurus'", "at most 5 characters"]),
        (dict(suffix="raptor", min_len=2, max_len=4), ["end with 'raptor'", "be 2 to 4 characters long"]),
        (dict(prefix="ba", suffix="don", pattern="ba(ku)+"), ["match the pattern 'ba(ku)+'", "end with 'don'"]),
        (dict(contains="ka", exclude="k"), ["contain 'ka'", "avoid 'k'"]),
        (dict(pattern="[0-9][a-z]+"), ["match the pattern", "never saw", "0"]),
        (dict(pattern="x+"), ["match the pattern 'x+'", "names 'x', which the model never saw"]),
        (dict(pattern="a\\d"), ["'\\d'", "not supported"]),
        (dict(exclude="ALL"), ["removes every character"]),
        (dict(contains=[""]), ["empty string"]),
        (dict(max_len=20_000), ["at most 10000"]),
    ],
)
def test_impossible_or_malformed_constraints_fail_before_sampling(trained: Path, kind: dict, fragments: list[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    m = charsmith.load(trained)
    if kind.get("exclude") == "ALL":
        kind = dict(exclude=m.ckpt.vocab.chars[1:])
    calls: list[object] = []
    monkeypatch.setattr(M, "step", lambda *a, **k: calls.append(a))  # any sampling would show here
    with pytest.raises(ConstraintError) as info:
        m.sample(5, seed=0, **kind)
    message = str(info.value)
    assert "\n" not in message and not calls
    for fragment in fragments:
        assert fragment in message, message


def test_nearly_impossible_constraints_stop_after_bounded_effort(trained: Path) -> None:
    """Possible for the automaton, but the greedy-only model (top_k=1) never writes it."""
    m = charsmith.load(trained)
    result = m.sample(10, suffix="zzz", top_k=1, seed=0, max_draws=3000, allow_known=True)
    assert result.samples == [] and result.drawn <= 3000 and result.short_by(10) == 10
    stream = m.stream(1000, suffix="don", prefix="zu", min_len=9, seed=0, max_draws=2000, allow_known=True)
    found = list(stream)
    assert 0 < len(found) < 1000 and stream.drawn <= 2000 and stream.exhausted


def test_text_models_take_a_pattern() -> None:
    bard = charsmith.load("shakespeare")
    texts = bard.complete("ROMEO:\nI will", 30, n=4, seed=0, pattern=" b[a-z]+,")
    assert len(texts) == 4 and all(re.match(r"ROMEO:\nI will b[a-z]+,", t) and len(t) == 43 for t in texts)
    greedy = bard.complete("ROMEO:", 20, greedy=True, pattern="\nJ", exclude="e")
    assert greedy[0].startswith("ROMEO:\nJ") and "e" not in greedy[0][6:] and len(greedy[0]) == 26
    for kind in (dict(suffix="a"), dict(contains="ab"), dict(min_len=3), dict(max_len=9)):
        with pytest.raises(ConstraintError, match=r"appl(y|ies) to list items.*running text"):
            bard.complete("ROMEO:", 20, **kind)
    with pytest.raises(ConstraintError, match="no completion can match the pattern 'abcdef' and fit in 3"):
        bard.complete("", 3, pattern="abcdef")


def test_an_automaton_too_large_is_refused(trained: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The subset construction can blow up (here to 2^10 states); it stops at a bound."""
    from charsmith.generation import _automaton

    monkeypatch.setattr(_automaton, "MAX_STATES", 200)
    with pytest.raises(ConstraintError, match=r"too complex: their automaton passes 200 states \(MAX_STATES\); simplify the pattern"):
        charsmith.load(trained).sample(3, pattern="[ab]*a[ab]{9}")


@pytest.mark.parametrize("method", ["rejection", "smc"])
def test_constraints_combine_with_top_k_and_top_p(trained: Path, method: str) -> None:
    m = charsmith.load(trained)
    c = Constraints(suffix="on", contains="a", max_len=10)
    result = generate(m.stepper(), m.ckpt.vocab, c.plan(m.ckpt.vocab), Controls(0.8, top_k=6, top_p=0.9), 300,
                      np.random.default_rng(1), method=method, particles=8)
    assert len(result.samples) == 300 and all(meets(s, c) for s in result.samples)
