"""Every bound on what one call may build or read, in one place.

Each is checked before the thing it bounds is built, and a breach is a one-line
CharsmithError that names the limit (docs/limits.md lists them). The CLI and the
web API map these; they never restate them. The web server's per-request limits
(``charsmith.web.limits``) are tighter, and its ``seconds`` is the time bound there.
"""

from __future__ import annotations

from charsmith.errors import InputError

__all__ = ["CLI_TIMEOUT", "MAX_BEAM", "MAX_CATEGORIES", "MAX_COMPLETION", "MAX_FILE_BYTES", "MAX_GENERATED_CHARS",
           "MAX_ITEMS", "MAX_SCORE_CHARS", "MAX_LEN_LIMIT", "MAX_NFA_STATES", "MAX_PATTERN_CHARS", "MAX_PATTERN_DEPTH",
           "MAX_REPEAT", "MAX_STATES", "MAX_TABLE", "SCORE_POSITIONS", "STALL_DRAWS", "STEP_POSITIONS"]

# ----- constraints and patterns -------------------------------------------------------
MAX_PATTERN_CHARS = 2_000  # characters of a pattern
MAX_PATTERN_DEPTH = 100  # groups nested in a pattern
MAX_REPEAT = 1_000  # one {m,n} count
MAX_NFA_STATES = 100_000  # the pattern's automaton before determinisation (repeats multiply)
MAX_STATES = 20_000  # states of any deterministic automaton (a constraint or their product)
MAX_TABLE = 50_000_000  # automaton states x positions in the length table
MAX_LEN_LIMIT = 10_000  # an item's max_len

# ----- generation and scoring -----------------------------------------------------------
MAX_BEAM = 10_000  # beam width
MAX_COMPLETION = 1_000_000  # characters of one text completion
MAX_GENERATED_CHARS = 100_000_000  # n x length of text completions in one call
MAX_SCORE_CHARS = 100_000  # characters of one item to score or classify
MAX_ITEMS = 10_000_000  # items to score or classify in one call
SCORE_POSITIONS = 1 << 18  # rows x characters of one scoring batch (bounds its memory, whatever the items)
STEP_POSITIONS = 1 << 13  # rows x characters of one forward call while scoring (between two time checks)
MAX_CATEGORIES = 100_000  # categories of a labelled data set
STALL_DRAWS = 200_000  # draws in a row without a new item after which sampling gives up (no max_draws given)

# ----- files and time ---------------------------------------------------------------------
MAX_FILE_BYTES = 2 << 30  # bytes of an input file (training, eval, score --file)
CLI_TIMEOUT = 600.0  # seconds a CLI sample, score, eval or classify may run (--timeout)


def check_sizes(items: list[str], what: str = "items") -> list[str]:
    """``items``, or InputError unless there are at most MAX_ITEMS, each of at most
    MAX_SCORE_CHARS characters."""
    if len(items) > MAX_ITEMS:
        raise InputError(limit_error(f"the number of `{what}`", len(items), MAX_ITEMS, "MAX_ITEMS", "give fewer"),
                         param=what)
    longest = max(map(len, items), default=0)
    if longest > MAX_SCORE_CHARS:
        raise InputError(limit_error(f"the longest of `{what}`", longest, MAX_SCORE_CHARS, "MAX_SCORE_CHARS",
                                     "split it, or evaluate running text with a text model"), param=what)
    return items


def check_limit(value: int, limit: int, name: str, what: str, fix: str = "", *, param: str | None = None) -> None:
    """InputError about ``param`` if ``value`` (``what`` it is) is over ``limit`` (the constant ``name``)."""
    if value > limit:
        raise InputError(limit_error(what, value, limit, name, fix), param=param)


def limit_error(what: str, value: int | float, limit: int | float, name: str, fix: str = "") -> str:
    """The one-line message for ``what`` (``value``) over ``limit``, naming the limit."""
    tail = f"; {fix}" if fix else ""
    return f"{what} is {value:,}, over the limit of {limit:,} ({name}){tail}"
