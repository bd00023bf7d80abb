"""Fuzzing the faces with Hypothesis (derandomised, so CI sees the same cases every run):
patterns, constraint sets, CLI options and web requests. Each case must end in an answer or
a one-line CharsmithError (exit 2 / a 4xx), never a traceback or a 5xx, within a bounded
time and memory; constraint sets that can be met must give items that meet them."""

from __future__ import annotations

import contextlib
import io
import re
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import charsmith  # noqa: E402
from charsmith.cli import main  # noqa: E402
from charsmith.errors import CharsmithError  # noqa: E402
from charsmith.generation import Constraints  # noqa: E402

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
SECONDS = 20.0  # per case, far above what any case takes (the machine may be busy)
MEGABYTES = 300  # Python and NumPy allocations per case

NAMES = charsmith.load("names")
LOWER = "abcdefghijklmnopqrstuvwxyz"


@contextlib.contextmanager
def bounded() -> Iterator[None]:
    """Fail the case if it takes more than SECONDS or allocates more than MEGABYTES at once."""
    tracemalloc.start()
    start = time.monotonic()
    try:
        yield
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert time.monotonic() - start < SECONDS
    assert peak < MEGABYTES << 20, f"{peak >> 20} MB"


def one_line(e: BaseException) -> None:
    assert isinstance(e, CharsmithError) and "\n" not in str(e) and len(str(e)) < 1000, repr(e)


# ----- patterns ----------------------------------------------------------------------------
PATTERN_CHARS = "ab.()|*+?{}[]^$\\,-019²zé\n"


@FUZZ
@given(st.text(alphabet=PATTERN_CHARS, max_size=30) | st.sampled_from(
    ["(a{1000}){1000}", "((((a))))" * 50, "(" * 200, "a{1000}b{1000}", "[^a]{999}", "(a|b|ab){40}", "a{,}",
     "a{2,1}", "a**", "a*?", "(?=a)", "\\d", "[z-a]", "x{9999}", "a{0}", "()", "|", "^$"]))
def test_any_pattern_compiles_or_is_refused_in_one_line(pattern: str) -> None:
    with bounded():
        try:
            plan = Constraints(pattern=pattern).plan(NAMES.ckpt.vocab, deadline=None)
        except CharsmithError as e:
            one_line(e)
            return
    assert plan.dfa.size >= 1


# ----- constraint sets: refused in one line, or met by every item --------------------------------
pieces = st.text(alphabet="aeinorst", min_size=1, max_size=4)


@FUZZ
@given(prefix=st.text(alphabet="aeinrst", max_size=3), suffix=st.text(alphabet="aeinrst", max_size=3),
       contains=st.lists(pieces, max_size=3), exclude=st.text(alphabet="aeiouyz", max_size=3),
       pattern=st.sampled_from([None, "[a-z]*", "[^aeiou]*a[a-z]*", "(an|el|ri)[a-z]*", "[a-z]{3,6}", "a.*"]),
       min_len=st.none() | st.integers(0, 12), max_len=st.none() | st.integers(0, 14))
def test_constraint_sets_are_met_or_refused(prefix: str, suffix: str, contains: list[str], exclude: str,
                                            pattern: str | None, min_len: int | None, max_len: int | None) -> None:
    with bounded():
        try:
            r = NAMES.sample(3, prefix=prefix, suffix=suffix, contains=contains, exclude=exclude, pattern=pattern,
                             min_len=min_len, max_len=max_len, seed=0, max_draws=4000, timeout=SECONDS)
        except CharsmithError as e:
            one_line(e)
            return
    for item in r.samples:
        assert item.startswith(prefix) and item.endswith(suffix) and all(c in item for c in contains)
        assert not set(item) & set(exclude) and max(min_len or 0, 1) <= len(item) <= (50 if max_len is None else max_len)
        assert pattern is None or re.fullmatch(pattern, item), (pattern, item)


# ----- CLI options ------------------------------------------------------------------------------
VALUES = st.sampled_from(["0", "1", "-1", "3", "1e308", "nan", "inf", "-0", "99999999999999999999", "0.5", "",
                          "abc", "a{1000}", "(", "Japanese=1e308,Italian=1e308", "é", "\\", "%s", "--", "1,2"])
OPTIONS = ["-n", "--temperature", "--top-k", "--top-p", "--seed", "--prefix", "--suffix", "--contains", "--exclude",
           "--pattern", "--max-len", "--min-len", "--particles", "--max-draws", "--length", "--beam", "--category"]
FLAGS = ["--greedy", "--unique", "--allow-known", "--json"]


def run_cli(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):  # argparse writes to sys.stderr
        code = main(argv, out=out, err=err)
    return code, err.getvalue()


@FUZZ
@given(model=st.sampled_from(["names", "shakespeare", "languages"]),
       options=st.lists(st.tuples(st.sampled_from(OPTIONS), VALUES), max_size=4),
       flags=st.lists(st.sampled_from(FLAGS), max_size=2, unique=True))
def test_any_sample_options_end_cleanly(model: str, options: list[tuple[str, str]], flags: list[str]) -> None:
    argv = ["sample", model, "--timeout", "10", *[x for pair in options for x in pair], *flags]
    if not any(o in ("-n",) for o, _ in options):
        argv += ["-n", "3"]
    if not any(o == "--length" for o, _ in options):
        argv += ["--length", "40"]
    if not any(o == "--max-draws" for o, _ in options):
        argv += ["--max-draws", "5000"]
    with bounded():
        code, err = run_cli(argv)
    assert code in (0, 1, 2), (argv, code, err)
    assert "Traceback" not in err, (argv, err)
    if code == 2:
        assert "error:" in err and all(len(ln) < 1000 for ln in err.splitlines()), (argv, err)


@FUZZ
@given(command=st.sampled_from(["score", "classify"]), model=st.sampled_from(["names", "languages"]),
       items=st.lists(st.text(alphabet="abcXYZé -\t\u00a0", max_size=12), max_size=4),
       extra=st.lists(st.tuples(st.sampled_from(["--top", "--category", "--timeout"]), VALUES), max_size=2))
def test_any_score_or_classify_ends_cleanly(command: str, model: str, items: list[str],
                                           extra: list[tuple[str, str]]) -> None:
    argv = [command, model, *[x for pair in extra for x in pair], "--", *items]
    with bounded():
        code, err = run_cli(argv)
    assert code in (0, 2) and "Traceback" not in err, (argv, code, err)


# ----- web requests ----------------------------------------------------------------------------------
starlette = pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from charsmith.web import create_app  # noqa: E402
from charsmith.web.limits import Limits  # noqa: E402

JSON = st.recursive(st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(alphabet="ab(){}[]*|.é\\z", max_size=12),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=6)
FIELDS = ["model", "n", "temperature", "top_k", "top_p", "seed", "prefix", "suffix", "contains", "exclude", "pattern",
          "min_len", "max_len", "unique", "allow_known", "beam", "category", "items", "top", "uniform_prior",
          "prompt", "length", "greedy"]


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(limits=Limits(seconds=5.0)), raise_server_exceptions=False) as c:
        yield c


@FUZZ
@given(path=st.sampled_from(["/api/sample", "/api/score", "/api/classify", "/api/complete"]),
       model=st.sampled_from(["names", "languages", "shakespeare", "nope"]),
       body=st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=5))
def test_any_request_gets_an_answer_or_a_4xx(client: TestClient, path: str, model: str, body: dict[str, Any]) -> None:
    body = {"model": model, **body} if "model" not in body else body
    with bounded():
        r = client.post(path, json=body)
    assert r.status_code < 500, (path, body, r.text)
    if r.status_code >= 400:
        assert "error" in r.json()
