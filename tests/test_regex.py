"""The pattern language: within its subset a pattern matches exactly what Python's
``re.fullmatch`` matches; everything outside the subset is a one-line error naming it."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from charsmith.errors import ConstraintError
from charsmith.generation._automaton import DFA, compile_node, intersect
from charsmith.generation._regex import parse
from charsmith.vocab import Vocab

VOCAB = Vocab("\n-.abc")
ALPHABET = np.arange(1, VOCAB.size)  # a list item's characters: not the end token
STRINGS = [""] + ["".join(p) for n in range(1, 5) for p in itertools.product("ab.c-", repeat=n)]
STRINGS += ["".join(p) for p in itertools.product("abc", repeat=5)]

PATTERNS = [
    "a", "abc", "a*", "a+b?", "(ab|c)+", "[^a]b?", "a{2,3}c", "(a|b)*c(a|b){2}", ".*", "a|", "[a-b]{,2}",
    "^ab$", "a{0}", "(?:a|bc)*", "[]a]", "[^]]b", "(a*)*", "\\.", "[.]+", "a.c", "[a\\-c]", "[-a]", "[a-]",
    "(a|)(b|)", "a{2}", "a{2,}", "((a|b)c)?", "[^abc.-]", "c*", "((ab)*|c)+a",
]


def dfa(pattern: str) -> DFA:
    return compile_node(parse(pattern), VOCAB.chars, ALPHABET)


def assert_same_language(pattern: str) -> None:
    d = dfa(pattern)
    for s in STRINGS:
        assert d.matches(VOCAB.encode(s)) == bool(re.fullmatch(pattern, s)), (pattern, s)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_patterns_mean_what_python_means(pattern: str) -> None:
    assert_same_language(pattern)


def _random_pattern(rng: np.random.Generator, depth: int = 0) -> str:
    """A random pattern of the supported subset."""
    kind = rng.integers(0, 3 if depth < 3 else 1)
    if kind == 0:  # an atom
        return str(rng.choice(["a", "b", "c", ".", "[ab]", "[^a]", "[a-c]", "\\.", "[b.]"]))
    if kind == 1:  # a sequence or an alternation
        parts = [_random_pattern(rng, depth + 1) for _ in range(rng.integers(2, 4))]
        return "".join(parts) if rng.random() < 0.5 else "(" + "|".join(parts) + ")"
    inner = "(" + _random_pattern(rng, depth + 1) + ")"
    return inner + str(rng.choice(["?", "*", "+", "{2}", "{1,3}", "{,2}", "{2,}"]))


def test_random_patterns_mean_what_python_means() -> None:
    rng = np.random.default_rng(0)
    for _ in range(150):
        assert_same_language(_random_pattern(rng))


def test_automata_are_minimal_and_intersect() -> None:
    assert dfa("(a|b)*b").size == 2  # the minimal DFA: "ends in b" or not
    assert dfa("(a|b)*(a|b)*b").size == 2
    both = intersect([dfa("a.*"), dfa(".*c")])
    for s in STRINGS:
        assert both.matches(VOCAB.encode(s)) == bool(re.fullmatch("a.*", s) and re.fullmatch(".*c", s))
    assert dfa("[^abc.-]").size == 1 and not dfa("[^abc.-]").accept[0]  # nothing this vocabulary can write


@pytest.mark.parametrize(
    "pattern, fragments",
    [
        ("\\d+", ["'\\d'", "not supported", "write [0-9]"]),
        ("a\\w", ["'\\w'", "not supported"]),
        ("(a)\\1", ["'\\1'", "not supported"]),
        ("(?=a)b", ["group", "not supported"]),
        ("(?P<x>a)", ["group", "not supported"]),
        ("(?i)a", ["group", "not supported"]),
        ("a*?", ["lazy quantifier", "not supported"]),
        ("a**", ["repeated quantifier"]),
        ("*a", ["nothing to repeat"]),
        ("a{x}", ["'{'", "write \\{"]),
        ("a{3,2}", ["minimum is above its maximum"]),
        ("a{2000}", ["above 1000"]),
        ("a^b", ["anchor '^'", "not supported"]),
        ("a$b", ["anchor '$'", "not supported"]),
        ("(ab", ["unclosed '('"]),
        ("ab)", ["unmatched ')'"]),
        ("[ab", ["unclosed '['"]),
        ("[z-a]", ["reversed range"]),
        ("[[:alpha:]]", ["'[' inside a class", "not supported"]),
        ("ab\\", ["trailing backslash"]),
    ],
)
def test_unsupported_or_malformed_patterns_say_what_and_where(pattern: str, fragments: list[str]) -> None:
    with pytest.raises(ConstraintError) as info:
        parse(pattern)
    message = str(info.value)
    assert "\n" not in message and "position" in message
    for fragment in fragments:
        assert fragment in message, message
