"""What a generated item must satisfy, compiled into one automaton with a length window.

:class:`Constraints` is what a user asks for; :meth:`Constraints.plan` checks it against a
model's vocabulary and compiles it into a :class:`Plan`:

- every constraint becomes a DFA over the vocabulary ids (suffix ``S`` is ``.*S``,
  contains ``S`` is ``.*S.*``, exclude is ``[^chars]*``, the pattern as written), and the
  product construction makes one DFA accepting what all of them accept;
- the prefix is run through that DFA, so the pattern, suffix and contains see the whole
  item, prefix included;
- the length window ``min_len <= len(item) <= max_len`` becomes a table
  ``live[t, s]``: from state ``s`` with ``t`` characters written, can a match still end
  inside the window? A character is allowed exactly when it leads to a live state, and the
  end token exactly when the state accepts and ``t`` is in the window. So the mask never
  lets a row into a dead end, and never forbids a continuation that can still match.

Impossible constraints fail here, before any sampling, with a ConstraintError that names
a minimal set of constraints that cannot hold together (no constraint of it can be
dropped; found by deletion, one feasibility check per constraint, never by trying subsets).
All of this work counts against the ``deadline`` given to :meth:`Constraints.plan`.

Text models (running text) take a pattern and exclude only: the ``length`` characters
written after the prompt must *begin* with a match of the pattern (anything may follow it)
and contain none of the excluded characters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from charsmith._deadline import NEVER, Deadline
from charsmith.errors import ConstraintError
from charsmith.generation._automaton import DFA, compile_node, intersect, literal_dfa
from charsmith.generation._regex import ANY, Alt, CharSet, Node, Repeat, Seq, parse, shorten
from charsmith.limits import MAX_COMPLETION, MAX_LEN_LIMIT, MAX_TABLE, check_limit
from charsmith.vocab import END, Vocab, readable

__all__ = ["DEFAULT_MAX_LEN", "MAX_LEN_LIMIT", "Constraints", "Plan"]

DEFAULT_MAX_LEN = 50


@dataclass(frozen=True)
class Plan:
    """Constraints compiled for one vocabulary.

    dfa: the product automaton; prefix: the prefix (or text prompt), fed to the model before
    generating; start: the automaton's state after the prefix; t0: characters before the
    first generated one (the prefix in lines mode, 0 after a text prompt); ends: lines mode
    (an item ends with the end token) rather than text (exactly ``max_len`` characters).
    ``constrained`` is False when nothing but the default length limit applies.
    """

    dfa: DFA
    prefix: str
    prefix_ids: np.ndarray
    start: int
    t0: int
    min_len: int
    max_len: int
    ends: bool
    constrained: bool
    live: np.ndarray | None = field(default=None, repr=False)  # (max_len + 1, S) lines mode
    dist: np.ndarray | None = field(default=None, repr=False)  # (S,) text mode

    def can_match(self, t: int, states: np.ndarray) -> np.ndarray:
        """Whether each state (B,) reached after ``t`` characters can still end in a match."""
        if t > self.max_len:
            return np.zeros(states.shape, dtype=bool)
        if self.live is not None:
            return self.live[t][np.maximum(states, 0)] & (states >= 0)
        assert self.dist is not None  # text: accepting states stay accepting, so a match fits if it is near enough
        return (self.dist[np.maximum(states, 0)] <= self.max_len - t) & (states >= 0)

    def allowed(self, t: int, states: np.ndarray) -> np.ndarray:
        """(B, V) which ids may come next for rows in ``states`` (B,) after ``t`` characters."""
        nxt = self.dfa.trans[states]  # (B, V)
        ok = self.can_match(t + 1, nxt.ravel()).reshape(nxt.shape)
        if self.ends:
            ok[:, 0] = self.dfa.accept[states] & (self.min_len <= t <= self.max_len)
        return ok

    def permits(self, t: int, states: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """(B,) whether id ``ids[b]`` may follow row b: one column of :meth:`allowed`."""
        ok = self.can_match(t + 1, self.dfa.trans[states, ids])
        if self.ends:
            ok |= (ids == 0) & self.dfa.accept[states] & (self.min_len <= t <= self.max_len)
        return ok

    def advance(self, states: np.ndarray, ids: np.ndarray) -> np.ndarray:
        return self.dfa.trans[states, ids]


@dataclass(frozen=True)
class Constraints:
    """What every item must satisfy (all of it, together).

    prefix: starts with it; suffix: ends with it; contains: each string occurs (a str is one
    string); exclude: none of these characters occurs; pattern: the whole item matches this
    regular expression (``charsmith.generation._regex`` lists the subset); min_len/max_len:
    the item's length in characters, prefix included (None: at least 1, at most 50).
    """

    prefix: str = ""
    suffix: str = ""
    contains: Sequence[str] = ()
    exclude: str = ""
    pattern: str | None = None
    min_len: int | None = None
    max_len: int | None = None

    def __post_init__(self) -> None:
        contains = (self.contains,) if isinstance(self.contains, str) else tuple(self.contains)
        object.__setattr__(self, "contains", contains)
        for name in ("prefix", "suffix", "exclude"):
            if not isinstance(getattr(self, name), str):
                raise ConstraintError(f"{name} must be a string, got {getattr(self, name)!r}")
        if not all(isinstance(s, str) for s in contains):
            raise ConstraintError(f"contains must be strings, got {contains!r}")
        if "" in contains:
            raise ConstraintError("contains has an empty string; give at least one character")
        if self.pattern is not None and not isinstance(self.pattern, str):
            raise ConstraintError(f"pattern must be a string, got {self.pattern!r}")
        for name in ("min_len", "max_len"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, np.integer)) or value < 0):
                raise ConstraintError(f"{name} must be a whole number >= 0, got {value!r}")

    def lower(self) -> Constraints:
        """The same constraints lower-cased (for a model trained on lower-cased data)."""
        return replace(self, prefix=self.prefix.lower(), suffix=self.suffix.lower(),
                       contains=tuple(s.lower() for s in self.contains), exclude=self.exclude.lower(),
                       pattern=None if self.pattern is None else self.pattern.lower())

    def plan(self, vocab: Vocab, *, text_length: int | None = None, deadline: Deadline | None = None) -> Plan:
        """Compile for ``vocab``: for list items, or with ``text_length`` for a text model's
        completion of that many characters. ConstraintError if malformed, too large or
        impossible; TimeLimitError if compiling runs past ``deadline`` (default: none but an
        enclosing ``time_limit`` or ``stop_on``)."""
        return _Compiler(self, vocab, text_length, deadline or Deadline.after(None)).plan()


class _Compiler:
    """Checks constraints against a vocabulary and builds the Plan."""

    def __init__(self, c: Constraints, vocab: Vocab, text_length: int | None, deadline: Deadline = NEVER) -> None:
        self.c, self.vocab, self.text, self.deadline = c, vocab, text_length is not None, deadline
        first = 0 if self.text else 1  # the end token is not a character of a list item
        self.alphabet = np.arange(first, vocab.size)
        if self.text:
            if not isinstance(text_length, (int, np.integer)) or text_length < 0:
                raise ConstraintError(f"the length of a completion must be a whole number >= 0, got {text_length!r}")
            check_limit(int(text_length), MAX_COMPLETION, "MAX_COMPLETION", "`length`", param="length")
            self.min_len = self.max_len = int(text_length)
        else:
            self.min_len = max(c.min_len or 0, 1)
            self.max_len = DEFAULT_MAX_LEN if c.max_len is None else c.max_len

    def plan(self) -> Plan:
        self.check_strings()
        parts = self.parts()
        dfa = intersect([d for _, d in parts], self.deadline) if parts else self.compile(Repeat(ANY, 0, None))
        prefix_ids = self.vocab.encode(self.c.prefix)
        start = 0 if self.text else dfa.run(prefix_ids)  # a text prompt is context, not part of the match
        t0 = 0 if self.text else len(self.c.prefix)
        live, dist = self.reachability(dfa)
        plan = Plan(dfa, self.c.prefix, prefix_ids, start, t0, self.min_len, self.max_len, ends=not self.text,
                    constrained=bool(parts or self.c.min_len or self.c.max_len is not None), live=live, dist=dist)
        if not plan.can_match(t0, np.array([start]))[0]:
            raise self.impossible(parts)
        return plan

    def args(self) -> tuple[str, np.ndarray]:
        return self.vocab.chars, self.alphabet

    # ----- checks that need no automaton ----------------------------------------------
    def check_strings(self) -> None:
        c = self.c
        if self.text:
            given = [name for name, v in (("suffix", c.suffix), ("contains", c.contains), ("min_len", c.min_len),
                                          ("max_len", c.max_len)) if v]
            if given:
                verb = "applies" if len(given) == 1 else "apply"
                raise ConstraintError(f"{', '.join(given)} {verb} to list items, but this model writes running text "
                                      "(a completion of a given length); constrain it with a pattern or exclude",
                                      param=given[0])
        elif self.min_len > self.max_len:
            raise ConstraintError(f"the minimum length {self.min_len} is above the maximum length {self.max_len}; "
                                  "lower `min_len` or raise `max_len`", param="min_len")
        if self.max_len > MAX_LEN_LIMIT and not self.text:
            raise ConstraintError(f"`max_len` must be at most {MAX_LEN_LIMIT} (MAX_LEN_LIMIT), got {self.max_len:,}",
                                  param="max_len")
        named = [("prefix", c.prefix), ("suffix", c.suffix), ("exclude", c.exclude)]
        named += [("contains", s) for s in c.contains]
        for name, text in named:
            missing = self.vocab.unknown(text)
            if missing:
                raise ConstraintError(f"the `{name}` has characters the model never saw: {readable(missing)}; "
                                      f"use only the model's {len(self.vocab) - 1} characters: "
                                      f"{readable(self.vocab.chars[1:], most=12)}", param=name)
            if END in text and not self.text:
                raise ConstraintError(f"the {name} {shorten(text)!r} has a newline, which list items never contain", param=name)
            if name != "exclude" and len(text) > self.max_len and not self.text:  # no automaton needed
                raise ConstraintError(f"no item can {dict(prefix='start with', suffix='end with').get(name, 'contain')}"
                                      f" {shorten(text)!r} and {self.length_words()}", param=name)
        writable = {self.vocab.chars[i] for i in self.alphabet}
        if c.exclude and writable <= set(c.exclude):
            raise ConstraintError(f"exclude {c.exclude!r} removes every character the model writes", param="exclude")

    # ----- the automata -----------------------------------------------------------------
    def parts(self) -> list[tuple[str, DFA]]:
        """(what it asks, in words; its DFA) for each constraint given."""
        c, out = self.c, []
        if c.pattern is not None:
            words = f"match the pattern '{shorten(c.pattern)}'"
            node = parse(c.pattern)
            if min_length(node) > self.max_len:  # no match fits: known before anything is built
                raise ConstraintError(f"no {'completion' if self.text else 'item'} can {words} and "
                                      f"{self.length_words()}")
            node = within(node, self.max_len)  # the same matches up to max_len characters, in fewer states
            if self.text:  # the completion begins with a match; anything may follow
                node = Seq((node, Repeat(ANY, 0, None)))
            out.append((words, self.compile(node)))
        if c.suffix:
            out.append((f"end with {shorten(c.suffix)!r}", self.literal(c.suffix, anywhere=False)))
        for s in c.contains:
            out.append((f"contain {shorten(s)!r}", self.literal(s, anywhere=True)))
        if c.exclude:
            out.append((f"avoid {c.exclude!r}", self.compile(Repeat(CharSet(frozenset(c.exclude), True), 0, None))))
        return out

    def literal(self, text: str, *, anywhere: bool) -> DFA:
        self.deadline.check()
        return literal_dfa(self.vocab.encode(text), self.vocab.size, self.alphabet, anywhere=anywhere)

    def compile(self, node: Node) -> DFA:
        return compile_node(node, *self.args(), self.deadline)

    def reachability(self, dfa: DFA) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Lines: the table live (max_len + 1, S). Text: the distances (S,) to acceptance."""
        if self.text:
            return None, dfa.distances()
        S, L = dfa.size, self.max_len
        if S * (L + 1) > MAX_TABLE:
            raise ConstraintError(f"the constraints are too complex for items up to {L:,} characters "
                                  f"({S:,} automaton states, over {MAX_TABLE:,} states x positions: MAX_TABLE); "
                                  "lower the maximum length or simplify them")
        live = np.zeros((L + 1, S), dtype=bool)
        safe, moves = np.maximum(dfa.trans, 0), dfa.trans >= 0
        for t in range(L, -1, -1):
            if t % 64 == 0:
                self.deadline.check()
            can_end = dfa.accept & (t >= self.min_len)
            live[t] = can_end if t == L else can_end | (moves & live[t + 1][safe]).any(axis=1)
        return live, None

    # ----- why it is impossible -----------------------------------------------------------
    def impossible(self, parts: list[tuple[str, DFA]]) -> ConstraintError:
        """The error naming a minimal set of constraints that cannot hold together: each
        constraint in turn is dropped if the others are still impossible without it
        (deletion, as in QuickXplain: one feasibility check per constraint)."""
        items: list[tuple[str, DFA | str]] = [(f"start with {shorten(self.c.prefix)!r}", "prefix")]
        items = items if self.c.prefix and not self.text else []
        core = [*items, *parts, (self.length_words(), "length")]
        i = 0
        while i < len(core):
            rest = core[:i] + core[i + 1:]
            if rest and not self.feasible([kind for _, kind in rest]):
                core = rest  # impossible without core[i]: it is not needed in the explanation
            else:
                i += 1
        what = " and ".join(words for words, _ in core)
        unseen = self.unseen() if any(w.startswith("match") for w, _ in core) else ""
        hint = f" (the pattern names {unseen!r}, which the model never saw)" if unseen else ""
        return ConstraintError(f"no {'completion' if self.text else 'item'} can {what}{hint}")

    def length_words(self) -> str:
        lo, hi = self.min_len, self.max_len
        chars = "character" if hi == 1 else "characters"
        if self.text:
            return f"fit in {hi} {chars}"
        if lo == hi:
            return f"be {lo} {chars} long"
        return f"be {lo} to {hi} {chars} long" if lo > 1 else f"be at most {hi} {chars} long"

    def feasible(self, kinds: Sequence[DFA | str]) -> bool:
        """Whether these constraints alone can be met: DFAs, "prefix" and "length"."""
        self.deadline.check()
        dfas = [k for k in kinds if isinstance(k, DFA)]
        dfa = intersect(dfas, self.deadline) if dfas else self.compile(Repeat(ANY, 0, None))
        prefix = self.c.prefix if "prefix" in kinds and not self.text else ""
        state = dfa.run(self.vocab.encode(prefix))
        if state < 0:
            return False
        t0 = 0 if self.text else len(prefix)
        dist = dfa.distances()
        if "length" not in kinds:  # any length: a match exists (non-empty in lines mode)
            reachable = bool(dist[state] <= dfa.size)
            return reachable and (self.text or t0 >= 1 or dist[state] >= 1 or bool((dfa.trans[state] >= 0).any()))
        if self.text:
            return bool(dist[state] <= self.max_len)
        lo, hi = self.min_len, self.max_len
        if t0 > hi:
            return False
        live, _ = _Compiler(Constraints(min_len=lo, max_len=hi), self.vocab, None, self.deadline).reachability(dfa)
        assert live is not None
        return bool(live[t0, state])

    def unseen(self) -> str:
        """Characters the pattern names that the model never saw."""
        assert self.c.pattern is not None
        return "".join(sorted(ch for ch in _literal_chars(parse(self.c.pattern)) if ch not in self.vocab))


def min_length(node: Node) -> int:
    """The length of the shortest string ``node`` matches."""
    if isinstance(node, CharSet):
        return 1
    if isinstance(node, Seq):
        return sum(min_length(part) for part in node.parts)
    if isinstance(node, Alt):
        return min(min_length(option) for option in node.options)
    return node.low * min_length(node.node)


def within(node: Node, limit: int) -> Node:
    """``node`` with every repetition of a part that cannot be empty capped at ``limit``
    copies: it matches the same strings of up to ``limit`` characters (each copy takes at
    least one), and its automaton is smaller (``a{1000}`` under max_len 50 is ``a{50}``)."""
    if isinstance(node, Seq):
        return Seq(tuple(within(part, limit) for part in node.parts))
    if isinstance(node, Alt):
        return Alt(tuple(within(option, limit) for option in node.options))
    if isinstance(node, Repeat):
        inner = within(node.node, limit)
        if min_length(inner) >= 1:
            low = min(node.low, limit + 1)  # more than limit copies cannot fit: keep it impossible
            high = None if node.high is None else min(node.high, max(limit, low))
            return Repeat(inner, low, high)
        return Repeat(inner, node.low, node.high)
    return node


def _literal_chars(node: Node) -> set[str]:
    """The characters a pattern names positively (in literals and non-negated classes)."""
    if isinstance(node, CharSet):
        return set() if node.negated else set(node.chars)
    children = node.parts if isinstance(node, Seq) else node.options if isinstance(node, Alt) else (node.node,)
    return set().union(*(_literal_chars(child) for child in children))
