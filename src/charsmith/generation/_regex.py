"""The pattern language of ``--pattern``: a small subset of regular expressions, parsed
by hand into a syntax tree (compiled to an automaton by ``charsmith.generation._automaton``).

The whole item must match, as with Python's ``re.fullmatch``; within the subset a pattern
means exactly what it means to Python's ``re``.

======================  ==========================================================
``abc``                 literal characters (anything but ``\\ . [ ( ) | * + ? { ^ $``)
``\\.`` ``\\*`` ``\\\\`` ...   a backslash before a punctuation character makes it literal
``\\n`` ``\\t``           newline, tab
``.``                   any character but a newline
``[abc]`` ``[a-z]``     a class: characters and ranges (backslash escapes inside too)
``[^aeiou]``            a negated class
``x?`` ``x*`` ``x+``    repetition: optional, any number, at least one
``x{m}`` ``x{m,}``      exactly m, at least m,
``x{,n}`` ``x{m,n}``    at most n, m to n (m, n <= 1000, ASCII digits)
``a|b``                 either
``(...)`` ``(?:...)``   groups
``^`` first, ``$`` last   allowed and ignored: the whole item always has to match
======================  ==========================================================

Not supported (an error names the construct): ``\\d \\w \\s`` and other letter escapes,
backreferences, lookaround, flags, named groups, lazy quantifiers, anchors inside the
pattern, and ``[`` inside a class.
"""

from __future__ import annotations

from dataclasses import dataclass

from charsmith.errors import ConstraintError
from charsmith.limits import MAX_PATTERN_CHARS, MAX_PATTERN_DEPTH, MAX_REPEAT

__all__ = ["Alt", "CharSet", "Node", "Repeat", "Seq", "literal", "parse", "shorten"]

SUPPORTED = "literals, \\-escapes of punctuation, \\n, \\t, ., [...] and [^...] classes, ? * + {m,n}, | and (...)"
_LETTER_HINTS = {"d": "write [0-9]", "w": "write [A-Za-z0-9_]", "s": "write [ \\t\\n]", "D": "write [^0-9]"}


@dataclass(frozen=True)
class CharSet:
    """One character from ``chars`` (or, ``negated``, one not in it)."""

    chars: frozenset[str]
    negated: bool = False


@dataclass(frozen=True)
class Seq:
    """The parts one after another; no parts is the empty string."""

    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Alt:
    options: tuple[Node, ...]


@dataclass(frozen=True)
class Repeat:
    """``node`` repeated ``low`` to ``high`` times (None: no upper bound)."""

    node: Node
    low: int
    high: int | None


Node = CharSet | Seq | Alt | Repeat

ANY = CharSet(frozenset(), negated=True)  # any character, newline included


def literal(text: str) -> Node:
    """The node matching exactly ``text``."""
    return Seq(tuple(CharSet(frozenset(ch)) for ch in text))


def parse(pattern: str) -> Node:
    """The syntax tree of ``pattern``; ConstraintError naming the position of anything
    outside the supported subset, or beyond the limits on its length and nesting."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ConstraintError(f"the pattern has {len(pattern):,} characters, over the limit of {MAX_PATTERN_CHARS:,} "
                              "(MAX_PATTERN_CHARS); shorten it", param="pattern")
    return _Parser(pattern).parse()


class _Parser:
    """Recursive descent: alternation > sequence > repeated atom."""

    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self.pos = 0
        self.end = len(pattern)
        self.depth = 0  # groups open at self.pos

    def fail(self, what: str, hint: str = "", at: int | None = None, *, unsupported: bool = False) -> ConstraintError:
        at = self.pos if at is None else at
        why = ", which is not supported" if unsupported else ""
        tail = f"; {hint}" if hint else ""
        return ConstraintError(f"the pattern '{shorten(self.text)}' has {what} at position {at}{why}{tail}",
                               param="pattern")

    def unsupported(self, construct: str, hint: str = "", at: int | None = None) -> ConstraintError:
        return self.fail(construct, hint or f"supported: {SUPPORTED}", at, unsupported=True)

    def parse(self) -> Node:
        if self.text.startswith("^"):
            self.pos = 1
        if self.text.endswith("$") and not _escaped(self.text, len(self.text) - 1) and len(self.text) > self.pos:
            self.end -= 1
        node = self.alternation()
        if self.pos < self.end:  # only a stray ')' stops an alternation early
            raise self.fail("an unmatched ')'")
        return node

    def peek(self) -> str | None:
        return self.text[self.pos] if self.pos < self.end else None

    def alternation(self) -> Node:
        options = [self.sequence()]
        while self.peek() == "|":
            self.pos += 1
            options.append(self.sequence())
        return options[0] if len(options) == 1 else Alt(tuple(options))

    def sequence(self) -> Node:
        parts: list[Node] = []
        while (ch := self.peek()) is not None and ch not in "|)":
            parts.append(self.repeats(self.atom()))
        return parts[0] if len(parts) == 1 else Seq(tuple(parts))

    def atom(self) -> Node:
        ch, start = self.text[self.pos], self.pos
        if ch in "*+?{":
            raise self.fail(f"nothing to repeat before {ch!r}")
        if ch in "^$":
            raise self.unsupported(f"the anchor {ch!r} inside the pattern",
                                   "^ and $ may only stand first and last (the whole item always has to match)")
        self.pos += 1
        if ch == ".":
            return CharSet(frozenset("\n"), negated=True)
        if ch == "\\":
            return CharSet(frozenset(self.escape(in_class=False)))
        if ch == "[":
            return self.char_class()
        if ch == "(":
            if self.text.startswith("?:", self.pos):
                self.pos += 2
            elif self.peek() == "?":
                raise self.unsupported(f"the group {self.text[start:start + 3]!r}...",
                                       "only plain (...) and (?:...) groups are supported", at=start)
            self.depth += 1
            if self.depth > MAX_PATTERN_DEPTH:
                raise self.fail(f"groups nested over {MAX_PATTERN_DEPTH} deep (MAX_PATTERN_DEPTH)", at=start)
            node = self.alternation()
            self.depth -= 1
            if self.peek() != ")":
                raise self.fail("an unclosed '('", at=start)
            self.pos += 1
            return node
        return CharSet(frozenset(ch))

    def escape(self, *, in_class: bool) -> str:
        """The character after a backslash (self.pos is just past the backslash)."""
        if self.pos >= self.end:
            raise self.fail("a trailing backslash", "write \\\\ for a backslash", at=self.pos - 1)
        ch = self.text[self.pos]
        self.pos += 1
        if ch == "n":
            return "\n"
        if ch == "t":
            return "\t"
        if ch.isascii() and ch.isalnum():
            raise self.unsupported(f"the escape '\\{ch}'", _LETTER_HINTS.get(ch, ""), at=self.pos - 2)
        return ch

    def char_class(self) -> Node:
        start = self.pos - 1
        negated = self.peek() == "^"
        self.pos += negated
        chars: set[str] = set()
        first = True
        while True:
            if self.pos >= self.end:
                raise self.fail("an unclosed '['", at=start)
            ch = self.text[self.pos]
            if ch == "]" and not first:
                self.pos += 1
                return CharSet(frozenset(chars), negated)
            if ch == "[":
                raise self.unsupported("'[' inside a class", "write \\[ for a literal bracket")
            lo = self.class_char()
            if self.peek() == "-" and self.pos + 1 < self.end and self.text[self.pos + 1] != "]":
                self.pos += 1
                hi = self.class_char()
                if hi < lo:
                    raise self.fail(f"the reversed range {lo!r}-{hi!r}", at=self.pos - 3)
                chars.update(chr(c) for c in range(ord(lo), ord(hi) + 1))
            else:
                chars.add(lo)
            first = False

    def class_char(self) -> str:
        ch = self.text[self.pos]
        self.pos += 1
        return self.escape(in_class=True) if ch == "\\" else ch

    def repeats(self, node: Node) -> Node:
        quantified = False
        while (ch := self.peek()) is not None and ch in "*+?{":
            at = self.pos
            if quantified:
                if ch == "?":
                    raise self.unsupported("a lazy quantifier", "drop the '?': it does not change which items match")
                raise self.fail("a repeated quantifier", "wrap the repeated part in (...) first")
            low, high = self.quantifier()
            if high is not None and high < low:
                raise self.fail(f"the repetition {{{low},{high}}} whose minimum is above its maximum", at=at)
            if max(low, high or 0) > MAX_REPEAT:
                raise self.fail(f"a repetition count above {MAX_REPEAT} (MAX_REPEAT)", at=at)
            node = Repeat(node, low, high)
            quantified = True
        return node

    def quantifier(self) -> tuple[int, int | None]:
        ch = self.text[self.pos]
        self.pos += 1
        if ch != "{":
            return {"?": (0, 1), "*": (0, None), "+": (1, None)}[ch]
        close = self.text.find("}", self.pos, self.end)
        body = self.text[self.pos:close] if close >= 0 else ""
        low_text, comma, high_text = body.partition(",")
        numbers = (_digits(low_text) or (comma and not low_text)) and (_digits(high_text) or not high_text)
        if close < 0 or not numbers:
            raise self.fail("a '{' that does not start a repetition {m}, {m,}, {,n} or {m,n}",
                            "write \\{ for a literal brace", at=self.pos - 1)
        if not (low_text or high_text):
            raise self.fail("the empty repetition {,}", at=self.pos - 1)
        self.pos = close + 1
        low = _count(low_text or "0")
        if not comma:
            return low, low
        return low, _count(high_text) if high_text else None


def shorten(text: str, keep: int = 60) -> str:
    """``text`` for a one-line message: control characters escaped (a newline as \\n), its
    first ``keep`` characters, then how many more there are."""
    text = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
    return text if len(text) <= keep else f"{text[:keep]}... ({len(text) - keep:,} more)"


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _count(digits: str) -> int:
    """A repetition count; one too long to matter is MAX_REPEAT + 1 (refused by the caller)
    rather than a conversion of thousands of digits."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= len(str(MAX_REPEAT)) else MAX_REPEAT + 1


def _escaped(text: str, i: int) -> bool:
    """Whether text[i] follows an odd number of backslashes."""
    n = 0
    while i - n - 1 >= 0 and text[i - n - 1] == "\\":
        n += 1
    return n % 2 == 1
