"""Every bound on what one call may build or read, in one place.

Each is checked before the thing it bounds is built, and a breach is a one-line
CharsmithError that names the limit (the README's "Limits" lists them). The CLI and the
web API map these; they never restate them. The web server's per-request limits
(``charsmith.web.limits``) are tighter, and its ``seconds`` is the time bound there.
"""

from __future__ import annotations

__all__ = ["CLI_TIMEOUT", "MAX_BEAM", "MAX_CATEGORIES", "MAX_COMPLETION", "MAX_FILE_BYTES", "MAX_GENERATED_CHARS",
           "MAX_ITEMS", "MAX_ITEM_CHARS", "MAX_LEN_LIMIT", "MAX_NFA_STATES", "MAX_PATTERN_CHARS",
           "MAX_PATTERN_DEPTH", "MAX_REPEAT", "MAX_STATES", "MAX_TABLE", "limit_error"]

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
MAX_ITEM_CHARS = 100_000  # characters of one item to score or classify
MAX_ITEMS = 10_000_000  # items to score or classify in one call
MAX_CATEGORIES = 100_000  # categories of a labelled data set

# ----- files and time ---------------------------------------------------------------------
MAX_FILE_BYTES = 2 << 30  # bytes of an input file (training, eval, score --file)
CLI_TIMEOUT = 600.0  # seconds a CLI sample, score, eval or classify may run (--timeout)


def limit_error(what: str, value: int | float, limit: int | float, name: str, fix: str = "") -> str:
    """The one-line message for ``what`` (``value``) over ``limit``, naming the limit."""
    tail = f"; {fix}" if fix else ""
    return f"{what} is {value:,}, over the limit of {limit:,} ({name}){tail}"
