"""CharModel's handling of what it is given: InputError for mistakes, time limits,
lower-casing, per-character scores, novelty, and streamed completion."""

from __future__ import annotations

import math

import numpy as np
import pytest

import charsmith
from charsmith.errors import CharsmithError, InputError, TimeLimitError


@pytest.fixture(scope="module")
def names() -> charsmith.CharModel:
    return charsmith.load("dinosaurs")


@pytest.fixture(scope="module")
def bard() -> charsmith.CharModel:
    return charsmith.load("shakespeare")


@pytest.mark.parametrize("kwargs, message", [
    ({"n": 0}, "`n` must be a whole number >= 1"),
    ({"temperature": 0.0}, "`temperature` must be a finite number > 0"),
    ({"temperature": math.inf}, "`temperature` must be a finite number > 0"),
    ({"temperature": math.nan}, "`temperature` must be a finite number > 0"),
    ({"top_k": -1}, "`top_k` must be a whole number >= 0"),
    ({"top_p": 0.0}, r"`top_p` must be a probability in \(0, 1\]"),
    ({"top_p": 1.5}, r"`top_p` must be a probability in \(0, 1\]"),
    ({"prefix": "abc1"}, "never saw: '1'"),
    ({"prefix": "ab\ncd"}, "has a newline"),
    ({"max_len": 2, "prefix": "abc"}, "no item can start with 'abc' and be at most 2"),
    ({"min_len": 9, "max_len": 8}, "the minimum length 9 is above the maximum length 8"),
    ({"min_len": -1}, "`min_len` must be a whole number >= 0"),
    ({"seed": -3}, "`seed` must be a whole number >= 0"),
    ({"timeout": 0}, "`timeout` must be a positive number"),
])  # fmt: skip
def test_sampling_mistakes_are_charsmith_errors(names: charsmith.CharModel, kwargs: dict, message: str) -> None:
    with pytest.raises(CharsmithError, match=message):
        names.sample(**{"n": 3, **kwargs})


def test_other_mistakes_are_charsmith_errors(names: charsmith.CharModel, bard: charsmith.CharModel) -> None:
    with pytest.raises(CharsmithError, match="running text; use complete"):
        bard.sample(3)
    with pytest.raises(CharsmithError, match="`beam` must be a whole number >= 1"):
        names.most_likely(2, beam=0)
    unseen = names.score(["rex7"])[0]  # a character the model never saw: the unknown class, counted
    assert unseen.unknown_chars == 1 and math.isfinite(unseen.logprob)
    with pytest.raises(InputError, match="spans lines"):
        names.score(["rex\nosaurus"])
    with pytest.raises(CharsmithError, match="`length` must be a whole number >= 0"):
        bard.complete("ROMEO:", -1)
    with pytest.raises(CharsmithError, match="has characters the model never saw"):
        bard.complete_stream("ROMEO: \u00e9", 5)
    with pytest.raises(CharsmithError, match="this model writes list items; use sample"):
        names.complete_stream("a", 5)
    assert issubclass(InputError, CharsmithError) and issubclass(TimeLimitError, CharsmithError)


def test_timeout_stops_each_kind_of_work(names: charsmith.CharModel, bard: charsmith.CharModel) -> None:
    tiny = 1e-9  # already past when the first step checks it
    with pytest.raises(TimeLimitError, match="time limit of 1e-09 s"):
        names.sample(5, timeout=tiny)
    with pytest.raises(TimeLimitError):
        names.most_likely(3, timeout=tiny)
    with pytest.raises(TimeLimitError):
        names.score(["rex"], timeout=tiny)
    with pytest.raises(TimeLimitError):
        bard.complete("ROMEO:", 10, timeout=tiny)
    with pytest.raises(TimeLimitError):  # checked as the prompt is read and as the characters are drawn
        next(bard.complete_stream("ROMEO:", 10, timeout=tiny))
    with pytest.raises(TimeLimitError):
        charsmith.load("languages").classify(["Rossi"], timeout=tiny)
    assert len(names.sample(5, seed=0, timeout=30).samples) == 5  # a generous limit changes nothing
    assert names.sample(5, seed=0, timeout=30) == names.sample(5, seed=0)


def test_complete_stream_draws_a_continuation_as_it_goes(bard: charsmith.CharModel) -> None:
    pieces = list(bard.complete_stream("JULIET:", 60, seed=4, temperature=0.8, top_p=0.9))
    assert len(pieces) == 60 and all(len(p) == 1 for p in pieces)
    assert pieces == list(bard.complete_stream("JULIET:", 60, seed=4, temperature=0.8, top_p=0.9))  # reproducible
    assert pieces != list(bard.complete_stream("JULIET:", 60, seed=5, temperature=0.8, top_p=0.9))
    greedy = "".join(bard.complete_stream("JULIET:", 60, greedy=True))
    assert "JULIET:" + greedy == bard.complete("JULIET:", 60, greedy=True)[0]  # greedy: the same characters
    # with a pattern the continuation is found first (SMC), then given out: it matches
    matched = "".join(bard.complete_stream("ROMEO:\n", 40, pattern="[A-Z][a-z]+ ", seed=0))
    assert len(matched) == 40 and __import__("re").match("[A-Z][a-z]+ ", matched)


def test_char_logprobs_add_up_to_the_item(names: charsmith.CharModel) -> None:
    scores = names.score(["rex", "tyrannosaurus", ""])
    for s in scores:
        assert len(s.char_logprobs) == s.n_chars == len(s.item) + 1
        assert math.isclose(sum(s.char_logprobs), s.logprob, rel_tol=1e-9, abs_tol=1e-9)
        assert all(lp <= 0 for lp in s.char_logprobs)
    # the first term is log P(first character | start), which the model's step gives directly
    from charsmith import model as M
    from charsmith.scoring import log_softmax_at

    ck = names.ckpt
    logits, _ = M.step(ck.params, ck.model, np.array([0]), M.init_state(ck.model, 1, np.float32))
    expected = log_softmax_at(logits, np.array([ck.vocab.index("r")]))[0] + math.log1p(-ck.unknown)  # (1 - u) p
    assert scores[0].char_logprobs[0] == pytest.approx(expected, abs=1e-5)


def test_lowercase_models_lowercase_their_input(names: charsmith.CharModel) -> None:
    assert names.lowercase  # the dinosaurs model learned lower-cased names
    assert names.score(["Rex"])[0] == names.score(["rex"])[0]
    assert names.sample(4, prefix="Ty", seed=2) == names.sample(4, prefix="ty", seed=2)
    uncased = charsmith.load("names")  # trained without --lowercase on data with no capitals
    assert uncased.lowercase and uncased.score(["Emma"])[0] == uncased.score(["emma"])[0]
    assert not charsmith.load("shakespeare").lowercase  # capitals are its own characters
    assert uncased.score(["Emma7"])[0].unknown_chars == 1


def test_is_known(names: charsmith.CharModel, bard: charsmith.CharModel) -> None:
    assert names.is_known(["tyrannosaurus", "Tyrannosaurus", "zzqqx"]) == [True, True, False]
    assert bard.is_known(["ROMEO:"]) is None
    kept = names.sample(20, seed=1, allow_known=True, temperature=0.5).samples
    assert any(names.is_known(kept))  # at this temperature the model recalls some training names
    novel = names.sample(20, seed=1, temperature=0.5).samples
    assert len(novel) == 20 and not any(names.is_known(novel))  # the default drops them
